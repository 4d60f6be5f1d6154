//! Many threads sealing on one session get distinct counters; the receiver
//! opens them in any order within the window and refuses duplicates and
//! counters too old, also when several threads open at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::{peer, TestRng};
use crate::wg::replay::WINDOW;
use crate::wg::{Error, Peer, Session};

/// Two of our peers with one session between them (sender, receiver).
fn pair(now: Instant) -> (Peer<TestRng>, Peer<TestRng>) {
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    super::handshake(&mut a, &mut b, now);
    (a, b)
}

const THREADS: usize = 4;
const PER_THREAD: usize = 500;

fn seal_in_threads(session: &Arc<Session>, now: Instant) -> Vec<(u64, Vec<u8>)> {
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = Arc::clone(session);
            thread::spawn(move || {
                let mut out = Vec::with_capacity(PER_THREAD);
                let mut last = None;
                for i in 0..PER_THREAD {
                    let payload = [t as u8, (i % 251) as u8, 0xaa];
                    let mut buf = vec![0u8; 64];
                    let (n, counter) = s.seal(&payload, &mut buf, now).expect("seal");
                    // Each thread sees its own counters increase.
                    assert!(last.is_none_or(|l| counter > l));
                    last = Some(counter);
                    buf.truncate(n);
                    out.push((counter, buf));
                }
                out
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("sealer thread"))
        .collect()
}

#[test]
fn parallel_sealing_gives_distinct_counters_opened_in_any_order() {
    let now = Instant::now();
    let (a, b) = pair(now);
    let sender = a.current().expect("sender session");
    let receiver = b.current().expect("receiver session");
    let mut sealed = seal_in_threads(&sender, now);
    let counters: HashSet<u64> = sealed.iter().map(|(c, _)| *c).collect();
    assert_eq!(counters.len(), THREADS * PER_THREAD, "distinct counters");
    // The keepalive that confirmed the session used counter 0.
    assert_eq!(
        counters.iter().max(),
        Some(&((THREADS * PER_THREAD) as u64))
    );

    // Reverse order, all within the window.
    sealed.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
    let mut out = vec![0u8; 64];
    for (c, d) in &sealed {
        assert_eq!(
            receiver.open_datagram(d, &mut out, now),
            Ok(16),
            "counter {c}"
        );
    }
    for (c, d) in sealed.iter().take(50) {
        assert_eq!(
            receiver.open_datagram(d, &mut out, now),
            Err(Error::Replay(*c))
        );
    }
}

#[test]
fn parallel_opening_accepts_each_counter_once() {
    let now = Instant::now();
    let (a, b) = pair(now);
    let sender = a.current().expect("sender session");
    let receiver = b.current().expect("receiver session");
    let sealed = Arc::new(seal_in_threads(&sender, now));
    // Every thread tries every datagram: each counter opens exactly once.
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let r = Arc::clone(&receiver);
            let all = Arc::clone(&sealed);
            thread::spawn(move || {
                let mut ok = Vec::new();
                let mut out = vec![0u8; 64];
                let n = all.len();
                for k in 0..n {
                    let (c, d) = &all[(k + t * 97) % n];
                    match r.open_datagram(d, &mut out, now) {
                        Ok(_) => ok.push(*c),
                        Err(Error::Replay(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let mut opened: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("opener thread"))
        .collect();
    let total = opened.len();
    opened.sort_unstable();
    opened.dedup();
    assert_eq!(total, opened.len(), "no counter opened twice");
    // All within the window of the highest: all opened.
    assert_eq!(opened.len(), THREADS * PER_THREAD);
}

#[test]
fn reserved_runs_sealed_out_of_order_and_too_old_refused() {
    let now = Instant::now();
    let (a, b) = pair(now);
    let sender = a.current().expect("sender session");
    let receiver = b.current().expect("receiver session");
    let run = sender.reserve(WINDOW + 200, now).expect("reserve");
    let first = run.start;
    let mut old = vec![0u8; 64];
    let n = sender.seal_at(first, b"old", &mut old).expect("seal");
    old.truncate(n);
    // The run's last counter first, then the first: too old by then.
    let mut newest = vec![0u8; 64];
    let n = sender
        .seal_at(run.end - 1, b"new", &mut newest)
        .expect("seal");
    let mut out = vec![0u8; 64];
    assert_eq!(receiver.open_datagram(&newest[..n], &mut out, now), Ok(16));
    assert_eq!(&out[..3], b"new");
    assert_eq!(
        receiver.open_datagram(&old, &mut out, now),
        Err(Error::Replay(first))
    );
    // One just inside the window still opens.
    let inside = run.end - 1 - WINDOW;
    let n = sender.seal_at(inside, b"in", &mut newest).expect("seal");
    assert_eq!(receiver.open_datagram(&newest[..n], &mut out, now), Ok(16));
}

#[test]
fn counters_stop_at_reject_after_messages() {
    use crate::wg::REJECT_AFTER_MESSAGES;
    let now = Instant::now();
    let (a, _) = pair(now);
    let s = a.current().expect("session");
    let used = s.sent();
    assert!(s.reserve(REJECT_AFTER_MESSAGES - used - 2, now).is_ok());
    assert_eq!(
        s.reserve(3, now),
        Err(Error::Expired),
        "would pass the limit"
    );
    assert_eq!(s.reserve(u64::MAX, now), Err(Error::Expired), "would wrap");
    let mut out = vec![0u8; 64];
    let (_, c) = s.seal(b"last", &mut out, now).expect("one left");
    assert_eq!(c, REJECT_AFTER_MESSAGES - 2);
    let (_, c) = s.seal(b"last", &mut out, now).expect("one left");
    assert_eq!(c, REJECT_AFTER_MESSAGES - 1);
    assert_eq!(s.seal(b"none", &mut out, now), Err(Error::Expired));
    assert_eq!(s.sent(), REJECT_AFTER_MESSAGES);
}
