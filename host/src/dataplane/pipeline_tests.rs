//! The pool's order guarantee: jobs that finish out of order are emitted in
//! the order the reader filled them, first with jobs made to finish
//! backwards, then with real packets sealed and opened by two gateways'
//! lanes on a pool of four workers (more threads than this machine's cores,
//! so workers overtake each other): the datagrams leave with increasing
//! counters and the far side's TUN device gets every packet in order.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::inbound::InJob;
use super::outbound::OutJob;
use super::pipeline::{next_job, Emitter, Job, Lane, Pool};
use super::tests::{handshake, ipv4_udp, pair, Recorder, Side, A_ADDR};
use super::Dataplane;

/// A job that takes `sleep` to work and emits its id.
struct Slow {
    id: u64,
    sleep: Duration,
}

impl Job for Slow {
    fn work(&mut self, _dp: &Dataplane) {
        std::thread::sleep(self.sleep);
    }
    fn discard(&mut self) {}
    fn emitted(&mut self) {}
    fn packets(&self) -> usize {
        // Never small enough to be done on the reader's thread.
        100
    }
}

struct Ids(Arc<Mutex<Vec<u64>>>);

impl Emitter for Ids {
    type Job = Slow;
    fn emit(&mut self, _dp: &Dataplane, job: &mut Slow) {
        self.0.lock().unwrap().push(job.id);
    }
    fn flush(&mut self, _dp: &Dataplane) {}
}

fn wait_idle<E: Emitter>(lane: &Lane<E>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lane.idle() {
        assert!(Instant::now() < deadline, "the lane never drained");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn pool(workers: usize) -> (Arc<Pool>, Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>) {
    let shutdown = Arc::new(AtomicBool::new(false));
    let (pool, threads) = Pool::spawn(workers, shutdown.clone()).expect("workers start");
    (pool, shutdown, threads)
}

fn stop(shutdown: &AtomicBool, threads: Vec<std::thread::JoinHandle<()>>) {
    shutdown.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().expect("worker exits");
    }
}

#[test]
fn jobs_finishing_backwards_are_emitted_in_order() {
    let (a, _b) = pair();
    let dp = Arc::new(a.dp);
    let (pool, shutdown, threads) = pool(4);
    let emitted = Arc::new(Mutex::new(Vec::new()));
    let jobs = (0..4)
        .map(|_| Slow {
            id: 0,
            sleep: Duration::ZERO,
        })
        .collect();
    let lane = Lane::new(dp, jobs, Ids(emitted.clone()));
    let never = AtomicBool::new(false);
    for id in 0..200u64 {
        let (seq, mut job) = next_job(&lane, Some(&pool), &never).expect("a free job");
        job.id = id;
        // Within each group of four, the first job takes longest.
        job.sleep = Duration::from_micros(200 * (4 - id % 4));
        drop(job);
        lane.submit(seq, 100, Some(&pool));
    }
    wait_idle(&lane);
    assert_eq!(*emitted.lock().unwrap(), (0..200).collect::<Vec<_>>());
    assert!(
        lane.overtaken() > 0,
        "the test must make jobs finish out of order"
    );
    stop(&shutdown, threads);
}

/// Sends what an outbound lane emits into a list.
struct Datagrams(Arc<Mutex<Vec<Vec<u8>>>>);

impl Emitter for Datagrams {
    type Job = OutJob;
    fn emit(&mut self, _dp: &Dataplane, job: &mut OutJob) {
        let mut r = Recorder::default();
        job.emit_to(&mut r);
        self.0
            .lock()
            .unwrap()
            .extend(r.net.into_iter().map(|n| n.2));
    }
    fn flush(&mut self, _dp: &Dataplane) {}
}

/// Writes what an inbound lane emits for the TUN device into a list.
struct TunPackets(Arc<Mutex<Vec<Vec<u8>>>>);

impl Emitter for TunPackets {
    type Job = InJob;
    fn emit(&mut self, dp: &Dataplane, job: &mut InJob) {
        let mut r = Recorder::default();
        dp.finish_in(job, &mut r);
        self.0.lock().unwrap().extend(r.tun);
    }
    fn flush(&mut self, _dp: &Dataplane) {}
}

/// Job sizes from 1 to 48, pseudo-random but the same every run.
fn sizes() -> impl Iterator<Item = usize> {
    let mut x: u32 = 0x2545_f491;
    std::iter::from_fn(move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        Some(1 + (x % 48) as usize)
    })
}

fn shared(side: Side) -> Arc<Dataplane> {
    side.dp.fib.store(side.fib);
    Arc::new(side.dp)
}

#[test]
fn real_packets_keep_their_order_through_both_lanes_on_four_workers() {
    let (a, b) = pair();
    let mut first = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], b"first");
    handshake(&a, &b, &mut first);
    let (a, b) = (shared(a), shared(b));
    // 3,000 packets of many lengths, each naming its place.
    let packets: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let mut payload = vec![(i % 251) as u8; 20 + (i as usize * 37) % 1300];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], &payload)
        })
        .collect();
    let (pool, shutdown, threads) = pool(4);
    let never = AtomicBool::new(false);

    // A's TUN reader, in jobs of 1 to 48 packets.
    let wire = Arc::new(Mutex::new(Vec::new()));
    let jobs = (0..8).map(|_| OutJob::new(48, 1500)).collect();
    let out = Lane::new(a.clone(), jobs, Datagrams(wire.clone()));
    let (mut at, mut sizes) = (0, sizes());
    while at < packets.len() {
        let n = sizes.next().unwrap_or(1).min(packets.len() - at);
        let (seq, mut job) = next_job(&out, Some(&pool), &never).expect("a free job");
        for (k, p) in packets[at..at + n].iter().enumerate() {
            job.bufs
                .get_mut(k, p.len())
                .expect("a segment")
                .copy_from_slice(p);
            job.sizes[k] = p.len();
        }
        job.count = n;
        let fib = a.fib.load();
        a.prepare_out(&fib, &mut job, Instant::now(), &mut Recorder::default());
        let len = job.packets();
        drop(job);
        out.submit(seq, len, Some(&pool));
        at += n;
    }
    wait_idle(&out);
    let wire = std::mem::take(&mut *wire.lock().unwrap());
    assert_eq!(wire.len(), packets.len(), "every packet sealed and sent");
    let counters: Vec<u64> = wire
        .iter()
        .map(|d| u64::from_le_bytes(d[8..16].try_into().unwrap()))
        .collect();
    assert!(
        counters.windows(2).all(|w| w[1] == w[0] + 1),
        "datagrams leave in counter order"
    );

    // B's endpoint reader, in jobs of 1 to 48 datagrams.
    let tun = Arc::new(Mutex::new(Vec::new()));
    let jobs = (0..8).map(|_| InJob::new(0, 48 * 1500)).collect();
    let inbound = Lane::new(b.clone(), jobs, TunPackets(tun.clone()));
    let from = A_ADDR.parse().unwrap();
    let mut at = 0;
    while at < wire.len() {
        let n = sizes.next().unwrap_or(1).min(wire.len() - at);
        let (seq, mut job) = next_job(&inbound, Some(&pool), &never).expect("a free job");
        job.datagrams.clear();
        let mut offset = 0;
        for d in &wire[at..at + n] {
            job.storage[offset..offset + d.len()].copy_from_slice(d);
            job.datagrams.push((offset..offset + d.len(), from));
            offset += d.len();
        }
        b.prepare_in(&mut job, Instant::now(), &mut Recorder::default());
        let len = job.packets();
        drop(job);
        inbound.submit(seq, len, Some(&pool));
        at += n;
    }
    wait_idle(&inbound);
    let delivered = tun.lock().unwrap();
    assert_eq!(delivered.len(), packets.len(), "every packet delivered");
    assert!(*delivered == packets, "in the order they were read");
    eprintln!(
        "jobs that finished ahead of an earlier one: {} out, {} in",
        out.overtaken(),
        inbound.overtaken()
    );
    stop(&shutdown, threads);
}
