//! How long the control thread's turns take: a histogram of atomics the
//! control thread adds to and the admin thread reads (for `sitelink status`
//! and the benchmarks), so a stall of the thread that runs the liveness
//! probes is visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use crate::api::TurnSummary;

/// Upper bounds of the buckets, in milliseconds (the last one is +Inf).
pub const BOUNDS_MS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
];

/// The turn-time histogram.
#[derive(Default)]
pub struct TurnStats {
    /// Per bucket (one more than `BOUNDS_MS`: the overflow).
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl TurnStats {
    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let ms = took.as_secs_f64() * 1e3;
        let index = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        if let Some(b) = self.buckets.get(index) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn summary(&self) -> TurnSummary {
        let turns = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e3;
        TurnSummary {
            turns,
            mean_ms: if turns == 0 { 0.0 } else { sum / turns as f64 },
            max_ms: self.max_us.load(Ordering::Relaxed) as f64 / 1e3,
            histogram: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, b)| (BOUNDS_MS.get(i).copied(), b.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

/// The parts of a turn, in the order the control loop runs them.
#[derive(Clone, Copy)]
pub enum Phase {
    /// Probes and admin requests (a reload or a swap's start is here).
    Inputs,
    /// BGP transport reports: reads decoded, filtered, queued.
    BgpInput,
    /// Handshakes and drain counters told to the core.
    Observe,
    /// The core's timers and the probes they send.
    Timers,
    /// Route work within the turn's budget.
    RouteWork,
    /// The actions left over: FIB snapshots, writes, replies.
    Actions,
    /// The metrics snapshot, systemd's notifications, WireGuard's timers.
    Housekeeping,
}

/// Where one turn's time went, for the slow-turn warning: an operator
/// seeing a slow turn learns which part of the loop held the probes, and
/// what the turn handled.
pub struct TurnSplit {
    last: Instant,
    /// The thread's CPU clock at the turn's start: a slow turn that spent
    /// little of its time on the CPU waited for a core (another process, a
    /// virtual machine's host), not for the gateway's own work.
    cpu: Option<Duration>,
    took: [Duration; 7],
    /// BGP transport reports handled.
    pub reports: u32,
    /// The admin request handled, if any (the last of them).
    pub admin: Option<&'static str>,
}

impl TurnSplit {
    pub fn start(at: Instant) -> TurnSplit {
        TurnSplit {
            last: at,
            cpu: crate::thread_clock::thread_cpu_time(),
            took: [Duration::ZERO; 7],
            reports: 0,
            admin: None,
        }
    }

    /// Counts the time since the last mark to `phase`.
    pub fn mark(&mut self, phase: Phase) {
        let now = Instant::now();
        if let Some(t) = self.took.get_mut(phase as usize) {
            *t += now.saturating_duration_since(self.last);
        }
        self.last = now;
    }

    /// The CPU time the thread used since the start, in milliseconds
    /// (`None`: the clock could not be read).
    pub fn cpu_ms(&self) -> Option<f64> {
        let now = crate::thread_clock::thread_cpu_time()?;
        Some(now.saturating_sub(self.cpu?).as_secs_f64() * 1e3)
    }

    /// The time counted to `phase`, in milliseconds.
    pub fn ms(&self, phase: Phase) -> f64 {
        self.took
            .get(phase as usize)
            .map_or(0.0, |t| t.as_secs_f64() * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_land_in_their_buckets() {
        let s = TurnStats::default();
        s.record(Duration::from_micros(500));
        s.record(Duration::from_millis(15));
        s.record(Duration::from_secs(3));
        let sum = s.summary();
        assert_eq!(sum.turns, 3);
        assert_eq!(sum.max_ms, 3000.0);
        assert_eq!(sum.histogram[0], (Some(1.0), 1));
        assert_eq!(sum.histogram[4], (Some(15.0), 1));
        assert_eq!(sum.histogram[14], (None, 1));
    }

    #[test]
    fn a_split_counts_each_span_to_its_phase() {
        let mut split = TurnSplit::start(Instant::now());
        std::thread::sleep(Duration::from_millis(3));
        split.mark(Phase::BgpInput);
        std::thread::sleep(Duration::from_millis(5));
        split.mark(Phase::Housekeeping);
        split.mark(Phase::BgpInput);
        let (bgp, housekeeping) = (split.ms(Phase::BgpInput), split.ms(Phase::Housekeeping));
        assert!(bgp >= 3.0, "{bgp}");
        assert!(housekeeping >= 5.0, "{housekeeping}");
        assert_eq!(split.ms(Phase::Inputs), 0.0);
        assert_eq!(split.ms(Phase::Actions), 0.0);
        let cpu = split.cpu_ms().expect("the thread's CPU clock");
        assert!(cpu < 5.0, "{cpu} ms of CPU in 8 ms of sleep");
    }
}
