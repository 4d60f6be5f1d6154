//! The data path's worker pool and its in-order hand-off.
//!
//! A reader thread (the TUN reader, an endpoint's reader) fills jobs in
//! order; each job is a batch it has read and prepared (routed, counters
//! reserved, sessions looked up), which is the part that must be sequential.
//! The expensive part, sealing or opening every packet, runs on any worker
//! of the [`Pool`], several jobs at once. Then each lane emits its jobs
//! (sends the datagrams, writes the TUN packets) strictly in the order the
//! reader filled them, whichever worker finished first: a worker that
//! completes the job at the head of the lane emits it and every finished job
//! behind it, under the lane's emit lock (one emitter at a time, never a
//! wait: a worker that finds the lock taken leaves its finished job to the
//! holder, which looks at the head again after it lets go). So one tunnel's packets
//! leave on the wire and reach the TUN device in the order they were read,
//! while its crypto runs on every core, as wireguard-go does with its
//! per-peer queues.
//!
//! It owns the lanes' job slots (allocated once, reused), their states and
//! the workers. It knows nothing of packets: [`Job::work`] and
//! [`Emitter::emit`] are the data path's.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use tracing::error;

use super::Dataplane;

/// The parallel part of a job: any thread, any order.
pub trait Job: Send + 'static {
    fn work(&mut self, dp: &Dataplane);
    /// Leaves nothing to emit (its work panicked: better lost than wrong).
    fn discard(&mut self);
    /// After it was emitted: lets go of what it holds on to (sessions,
    /// tunnels), so that keys the peer erased are not kept alive by an idle
    /// lane.
    fn emitted(&mut self);
    /// How many packets it holds (a small job on an idle lane is done on
    /// the reader's thread: a hand-off would cost more than it saves).
    fn packets(&self) -> usize;
}

/// Emits a lane's finished jobs in order, one job at a time.
pub trait Emitter: Send + 'static {
    type Job: Job;
    fn emit(&mut self, dp: &Dataplane, job: &mut Self::Job);
    /// After a run of consecutive jobs (for example one coalesced TUN write).
    fn flush(&mut self, dp: &Dataplane);
}

/// A job no larger than this, on a lane with nothing in flight, is done by
/// the reader itself.
pub const INLINE_MAX: usize = 4;

const FREE: u8 = 0;
const QUEUED: u8 = 1;
const DONE: u8 = 2;

struct Slot<J> {
    job: Mutex<J>,
    state: AtomicU8,
}

/// A job of some lane, for a worker to run.
trait Run: Send + Sync {
    fn run(&self, seq: u64);
}

type Task = (Arc<dyn Run>, u64);

/// One reader's ordered stream of jobs.
pub struct Lane<E: Emitter> {
    dp: Arc<Dataplane>,
    slots: Box<[Slot<E::Job>]>,
    /// The next sequence number the reader fills (only the reader writes it).
    submitted: AtomicU64,
    /// The next sequence number to emit.
    emitted: AtomicU64,
    /// Jobs that finished while an earlier one of the lane was still being
    /// worked: the reordering the in-order hand-off absorbed.
    overtaken: AtomicU64,
    emitter: Mutex<E>,
}

impl<E: Emitter> Lane<E> {
    /// A lane with one slot per job in `jobs` (at least one).
    pub fn new(dp: Arc<Dataplane>, jobs: Vec<E::Job>, emitter: E) -> Arc<Lane<E>> {
        let slots = jobs
            .into_iter()
            .map(|job| Slot {
                job: Mutex::new(job),
                state: AtomicU8::new(FREE),
            })
            .collect();
        Arc::new(Lane {
            dp,
            slots,
            submitted: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            overtaken: AtomicU64::new(0),
            emitter: Mutex::new(emitter),
        })
    }

    fn slot(&self, seq: u64) -> Option<&Slot<E::Job>> {
        let n = self.slots.len() as u64;
        self.slots.get(usize::try_from(seq % n.max(1)).ok()?)
    }

    /// The reader's next job to fill, with its sequence number; None while
    /// every slot is in flight (help the pool, or wait, and ask again).
    pub fn next(&self) -> Option<(u64, MutexGuard<'_, E::Job>)> {
        let seq = self.submitted.load(Ordering::Relaxed);
        let slot = self.slot(seq)?;
        if slot.state.load(Ordering::SeqCst) != FREE {
            return None;
        }
        Some((seq, lock(&slot.job)))
    }

    /// Whether nothing is in flight.
    pub fn idle(&self) -> bool {
        self.emitted.load(Ordering::SeqCst) == self.submitted.load(Ordering::Relaxed)
    }

    /// Jobs that finished before an earlier job of the lane (and waited to
    /// be emitted after it).
    pub fn overtaken(&self) -> u64 {
        self.overtaken.load(Ordering::Relaxed)
    }

    /// Hands job `seq` (just filled; its guard dropped) on: to the pool, or
    /// done here when there is no pool or it is small and nothing is ahead
    /// of it.
    pub fn submit(self: &Arc<Self>, seq: u64, len: usize, pool: Option<&Pool>) {
        let Some(slot) = self.slot(seq) else {
            return;
        };
        let inline = pool.is_none() || (len <= INLINE_MAX && self.idle());
        slot.state.store(QUEUED, Ordering::SeqCst);
        self.submitted.store(seq + 1, Ordering::Relaxed);
        match pool {
            Some(pool) if !inline => pool.send((self.clone(), seq)),
            _ => self.run_job(seq),
        }
    }

    fn run_job(&self, seq: u64) {
        let Some(slot) = self.slot(seq) else {
            return;
        };
        {
            let mut job = lock(&slot.job);
            let worked = catch_unwind(AssertUnwindSafe(|| job.work(&self.dp)));
            if worked.is_err() {
                error!("a data-path job panicked; its packets are dropped");
                job.discard();
            }
        }
        slot.state.store(DONE, Ordering::SeqCst);
        // Orders the store before the emit lock's try (whose failure is a
        // relaxed read): the holder's look after unlocking sees DONE.
        fence(Ordering::SeqCst);
        if seq > self.emitted.load(Ordering::SeqCst) {
            self.overtaken.fetch_add(1, Ordering::Relaxed);
        }
        self.emit_ready();
    }

    /// Emits every finished job at the head of the lane, in order. Whoever
    /// holds the emit lock does it; the others leave, and the holder looks
    /// at the head again after letting go.
    fn emit_ready(&self) {
        loop {
            let mut emitter = match self.emitter.try_lock() {
                Ok(emitter) => emitter,
                // A panic elsewhere while emitting: the emitter's state is
                // still usable (at worst a batch is lost).
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            loop {
                let head = self.emitted.load(Ordering::SeqCst);
                let Some(slot) = self.slot(head) else {
                    break;
                };
                if slot.state.load(Ordering::SeqCst) != DONE {
                    break;
                }
                {
                    let mut job = lock(&slot.job);
                    let emitted = catch_unwind(AssertUnwindSafe(|| {
                        emitter.emit(&self.dp, &mut job);
                    }));
                    if emitted.is_err() {
                        error!("emitting a data-path job panicked; its packets are dropped");
                    }
                    job.emitted();
                }
                slot.state.store(FREE, Ordering::SeqCst);
                self.emitted.store(head + 1, Ordering::SeqCst);
            }
            if catch_unwind(AssertUnwindSafe(|| emitter.flush(&self.dp))).is_err() {
                error!("flushing a data-path lane panicked; its queued packets are dropped");
            }
            drop(emitter);
            fence(Ordering::SeqCst);
            // A job finished while we held the lock is ours to emit.
            let head = self.emitted.load(Ordering::SeqCst);
            let ready = self
                .slot(head)
                .is_some_and(|s| s.state.load(Ordering::SeqCst) == DONE);
            if !ready {
                return;
            }
        }
    }
}

impl<E: Emitter> Run for Lane<E> {
    fn run(&self, seq: u64) {
        self.run_job(seq);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long a reader whose lane is full naps when there is nothing to help
/// with (every job of it is on a worker).
const FULL_NAP: Duration = Duration::from_micros(50);
/// How often an idle worker looks at the shutdown flag.
const WORKER_POLL: Duration = Duration::from_millis(250);

/// The workers that seal and open for every lane.
pub struct Pool {
    tx: Sender<Task>,
    rx: Receiver<Task>,
}

impl Pool {
    /// Starts `workers` threads (named `dp-worker-N`); they stop when
    /// `shutdown` is set.
    pub fn spawn(
        workers: usize,
        shutdown: Arc<AtomicBool>,
    ) -> io::Result<(Arc<Pool>, Vec<JoinHandle<()>>)> {
        let (tx, rx) = crossbeam_channel::unbounded::<Task>();
        let mut threads = Vec::with_capacity(workers);
        for n in 0..workers {
            let (rx, shutdown) = (rx.clone(), shutdown.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("dp-worker-{n}"))
                    .spawn(move || {
                        while !shutdown.load(Ordering::Relaxed) {
                            if let Ok((lane, seq)) = rx.recv_timeout(WORKER_POLL) {
                                // run() catches a job's panics; this keeps
                                // the worker whatever else unwinds.
                                let ran = catch_unwind(AssertUnwindSafe(|| lane.run(seq)));
                                if ran.is_err() {
                                    error!("a data-path worker caught a panic");
                                }
                            }
                        }
                    })?,
            );
        }
        Ok((Arc::new(Pool { tx, rx }), threads))
    }

    fn send(&self, task: Task) {
        // The pool owns a receiver: the channel cannot be disconnected.
        if let Err(e) = self.tx.send(task) {
            let (lane, seq) = e.into_inner();
            lane.run(seq);
        }
    }

    /// For a reader whose lane is full: runs one queued job (of any lane)
    /// on the caller's thread, or naps briefly if there is none.
    pub fn help(&self) {
        match self.rx.try_recv() {
            Ok((lane, seq)) => lane.run(seq),
            Err(_) => std::thread::sleep(FULL_NAP),
        }
    }
}

/// Waits for the next free job of `lane`, helping `pool` meanwhile (or,
/// without a pool, napping: the reader emits its own jobs then, so a slot
/// is free at once but for a panic).
pub fn next_job<'l, E: Emitter>(
    lane: &'l Lane<E>,
    pool: Option<&Pool>,
    shutdown: &AtomicBool,
) -> Option<(u64, MutexGuard<'l, E::Job>)> {
    loop {
        if let Some(next) = lane.next() {
            return Some(next);
        }
        if shutdown.load(Ordering::Relaxed) {
            return None;
        }
        match pool {
            Some(pool) => pool.help(),
            None => std::thread::sleep(FULL_NAP),
        }
    }
}
