//! When the FIB is published, with the fake clock: a small change at once
//! after a quiet spell, but small changes in quick succession no more
//! often than every `SMALL_CHANGE_GAP` (each snapshot makes the next
//! writes copy the FIB's shards).

use super::*;
use crate::routing::loc_rib::SMALL_CHANGE_GAP;

/// A gateway with `n` routes learned over tunnel 0, then a quiet second.
fn quiet(fx: &Fixture, n: usize, max: u32) -> Harness {
    let mut h = Harness::new(config(fx, "office", max), Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up();
    h.announce(&prefixes(n));
    h.settle(Duration::from_millis(1), &[0, 1]);
    for _ in 0..10 {
        h.tick(Duration::from_millis(100));
        h.bfd(0, State::Up);
        h.bfd(1, State::Up);
    }
    assert!(!h.gw.publish_pending());
    h
}

#[test]
fn a_small_change_is_published_at_once_and_the_next_one_after_the_gap() {
    let fx = Fixture::new();
    let mut h = quiet(&fx, 3, 20);
    let more = prefixes(5);

    h.fib = None;
    h.announce(&more[3..4]);
    h.tick(Duration::from_millis(1));
    assert_eq!(h.routed("11.0.3.1"), Some(vec![0]), "published in the step");
    let first = h.now;

    // A millisecond later: selected, but the snapshot waits for the gap.
    h.fib = None;
    h.announce(&more[4..5]);
    h.tick(Duration::from_millis(1));
    assert_eq!(h.gw.rib.pending(), 0, "selected");
    assert!(h.fib.is_none(), "published again 1 ms after the last");
    while h.fib.is_none() {
        h.tick(Duration::from_millis(1));
        assert!(h.now - first <= SMALL_CHANGE_GAP + Duration::from_millis(1));
    }
    assert!(h.now - first >= SMALL_CHANGE_GAP, "{:?}", h.now - first);
    assert_eq!(h.routed("11.0.4.1"), Some(vec![0]));
}

/// A peer sending a route a millisecond, each selected in its own turn
/// (the queue empty after every turn), as a gateway keeping up with a feed
/// sees it: one snapshot per gap, not one per turn.
#[test]
fn a_trickle_of_small_changes_is_published_once_per_gap() {
    const TURNS: usize = 500;
    let fx = Fixture::new();
    let mut h = quiet(&fx, 3, (TURNS + 20) as u32);
    let feed = prefixes(3 + TURNS);
    let start = h.now;
    let mut published = 0;
    for (i, prefix) in feed[3..].iter().enumerate() {
        h.fib = None;
        h.announce(std::slice::from_ref(prefix));
        h.tick(Duration::from_millis(1));
        assert_eq!(h.gw.rib.pending(), 0, "selected in the turn");
        published += usize::from(h.fib.is_some());
        if i % 100 == 0 {
            h.bfd(0, State::Up);
            h.bfd(1, State::Up);
        }
    }
    let gaps = (h.now - start).as_millis() / SMALL_CHANGE_GAP.as_millis();
    assert!(
        published >= 2 && published as u128 <= gaps + 1,
        "{published} snapshots in {TURNS} turns ({gaps} gaps)"
    );
    h.settle(Duration::from_millis(1), &[0, 1]);
    let last = feed[2 + TURNS].addr().to_string();
    assert_eq!(h.routed(&last), Some(vec![0]), "the last route published");
}
