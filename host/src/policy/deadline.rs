//! Plugin call deadlines: how long a call may run, how that is measured,
//! and the thread that makes wasmtime look.
//!
//! A call's deadline counts the CPU time the calling thread spends in it,
//! not the time on the wall, up to twice the deadline on the wall. On a
//! loaded machine (a table arriving, a plugin compiling on the admin
//! thread, the peer's BGP daemon and tunnel on the same two cores), the
//! control thread can wait tens of milliseconds for a core in the middle
//! of a call. (Time a virtual machine's host takes away is left out only
//! where the guest kernel accounts steal time; interrupts served on the
//! core count unless it accounts IRQ time.) With a wall-clock deadline such a call faulted,
//! and its routes with it: a soak at a million routes logged a 50 ms
//! timeout of the default filter, which accepts everything in
//! microseconds, in a 164 ms turn of the control thread. A plugin that
//! spins still uses its CPU time and is cut. The wall-clock cap keeps the
//! promise the config checks (`config::plugins::deadline_fits_liveness`):
//! a call holds the control loop, and so the liveness probes, for at most
//! twice the deadline, however little of a core its thread gets.
//!
//! How: wasmtime's epoch interruption. A ticker thread advances the
//! engine's epoch every tick while calls run ([`Ticker`]); a call starts
//! with a deadline of `deadline / tick + 1` ticks; when they have passed,
//! wasmtime asks the store's callback ([`Deadline::on_epoch`]), which cuts
//! the call if its thread has used the deadline in CPU time (the thread's
//! clock, `thread_clock`, read at the call's start) or twice it on the
//! wall, and otherwise gives it the ticks it has left. So a call is cut
//! within a tick of either (plus scheduling delay). Only guest
//! code is interrupted; the host functions plugins can reach never block
//! (see `host.rs`).
//!
//! Owns: the tick, the ticker thread, the CPU clock, the deadline rule.
//! Must not: know about slots, faults or what a call computes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Engine, UpdateDeadline};

pub(crate) use crate::thread_clock::thread_cpu_time;

/// The shortest epoch tick. The tick is the resolution of call deadlines:
/// a tenth of the deadline (5 ms for the default 50 ms), at least this. A
/// 1 ms tick for every deadline woke the ticker a thousand times a second
/// while a table arrived.
pub const MIN_TICK: Duration = Duration::from_millis(1);

/// The epoch tick for calls under `deadline` (see [`MIN_TICK`]).
pub fn tick_for(deadline: Duration) -> Duration {
    (deadline / 10).max(MIN_TICK)
}

/// A call's deadline in CPU time, and the tick it is checked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    pub limit: Duration,
    pub tick: Duration,
}

impl Deadline {
    pub(crate) fn new(limit: Duration) -> Deadline {
        Deadline {
            limit,
            tick: tick_for(limit),
        }
    }

    /// The longest a call may take on the wall: twice its deadline.
    pub(crate) fn wall_limit(&self) -> Duration {
        self.limit.saturating_mul(2)
    }

    /// The ticks a call starts with, or is given for `left` more time (the
    /// first tick may be partial: the callback reads the clocks again).
    pub(crate) fn ticks(&self, left: Duration) -> u64 {
        let ticks = left.as_micros() / self.tick.as_micros().max(1) + 1;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// wasmtime's question when a call's ticks have passed: the call has
    /// used `cpu` of CPU time so far (`None`: unknown) in `wall`.
    pub(crate) fn on_epoch(&self, cpu: Option<Duration>, wall: Duration) -> UpdateDeadline {
        let wall_left = self.wall_limit().saturating_sub(wall);
        match cpu {
            Some(cpu) if cpu < self.limit && !wall_left.is_zero() => {
                UpdateDeadline::Continue(self.ticks((self.limit - cpu).min(wall_left)))
            }
            _ => UpdateDeadline::Interrupt,
        }
    }
}

/// Ticks in which no call started or ran after which the ticker parks. A
/// call that starts while the ticker is parked wakes it: a syscall on the
/// caller's thread and a wake-up on another core. While a table arrives
/// the filter is called every few hundred microseconds, and the ticker
/// parked and was woken again for nearly every call (with its 1 ms ticks,
/// about 1.5% of the gateway's CPU in the routes benchmark). A tick with
/// no call running advances the epoch harmlessly: each call's deadline
/// counts from the epoch at its start.
const IDLE_TICKS: u32 = 20;

/// Advances the engine's epoch every tick ([`tick_for`]) while a call
/// runs, and for [`IDLE_TICKS`] after.
pub(crate) struct Ticker {
    state: Arc<TickerState>,
    thread: Option<JoinHandle<()>>,
}

struct TickerState {
    stop: AtomicBool,
    /// Calls running.
    busy: AtomicUsize,
    /// Calls started, ever: a call of a few microseconds is seldom running
    /// when the ticker looks, but it moves this.
    calls: AtomicU64,
    /// The ticker is parked for want of calls: only then does a call's
    /// start wake it (a wake-up per call while it waits out a tick cost
    /// more than the 1 ms ticks did).
    asleep: AtomicBool,
}

/// A running call: keeps the ticker ticking while alive.
pub(crate) struct Busy<'a>(&'a Ticker);

impl Ticker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Ticker> {
        let state = Arc::new(TickerState {
            stop: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            asleep: AtomicBool::new(false),
        });
        let s = state.clone();
        let thread = std::thread::Builder::new()
            .name("policy-epoch".into())
            .spawn(move || s.run(&engine, tick))?;
        Ok(Ticker {
            state,
            thread: Some(thread),
        })
    }

    pub(crate) fn busy(&self) -> Busy<'_> {
        // SeqCst with the ticker's `asleep` then `calls`: either it sees
        // this call and stays awake, or this sees it asleep and wakes it.
        self.state.calls.fetch_add(1, Ordering::SeqCst);
        self.state.busy.fetch_add(1, Ordering::SeqCst);
        if self.state.asleep.load(Ordering::SeqCst) {
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        Busy(self)
    }
}

impl TickerState {
    /// The ticker thread: an epoch increment every `tick` while calls
    /// start or run, parked after [`IDLE_TICKS`] ticks without one.
    fn run(&self, engine: &Engine, tick: Duration) {
        let mut seen = self.calls.load(Ordering::Acquire);
        let mut idle = 0;
        while !self.stop.load(Ordering::Acquire) {
            let calls = self.calls.load(Ordering::Acquire);
            if calls != seen || self.busy.load(Ordering::Acquire) != 0 {
                seen = calls;
                idle = 0;
            } else if idle >= IDLE_TICKS {
                // A call that starts from here on unparks this thread (a
                // wake-up left from an earlier call only loops back here).
                self.asleep.store(true, Ordering::SeqCst);
                if self.calls.load(Ordering::SeqCst) == seen
                    && self.busy.load(Ordering::SeqCst) == 0
                {
                    std::thread::park();
                }
                self.asleep.store(false, Ordering::SeqCst);
                continue;
            } else {
                idle += 1;
            }
            // Woken early (by the drop, or a wake-up left from a call),
            // wait out the tick: an early increment would cut a running
            // call short.
            let due = Instant::now() + tick;
            loop {
                let now = Instant::now();
                if now >= due || self.stop.load(Ordering::Acquire) {
                    break;
                }
                std::thread::park_timeout(due - now);
            }
            engine.increment_epoch();
        }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.state.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_call_goes_on_while_its_cpu_time_is_under_the_deadline() {
        let d = Deadline::new(50 * MS);
        assert_eq!(d.tick, 5 * MS);
        assert_eq!(d.ticks(d.limit), 11, "a call starts with 50 ms of ticks");
        let go_on = |cpu, wall| match d.on_epoch(cpu, wall) {
            UpdateDeadline::Continue(ticks) => Some(ticks),
            _ => None,
        };
        // Kept waiting: 60 ms on the wall, 12 ms of CPU: 38 ms left.
        assert_eq!(go_on(Some(12 * MS), 60 * MS), Some(8));
        assert_eq!(go_on(Some(49 * MS), 60 * MS), Some(1));
        // The wall's 100 ms come first: 20 ms left.
        assert_eq!(go_on(Some(10 * MS), 80 * MS), Some(5));
        // Cut: the deadline in CPU time, twice it on the wall, no clock.
        assert_eq!(go_on(Some(50 * MS), 55 * MS), None);
        assert_eq!(go_on(Some(3 * d.limit), 55 * MS), None);
        assert_eq!(go_on(Some(10 * MS), 100 * MS), None);
        assert_eq!(go_on(None, 55 * MS), None);
    }
}
