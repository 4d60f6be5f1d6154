//! When the FIB is published, with the fake clock: small changes at once,
//! but past a burst of them no more often than every `SMALL_CHANGE_GAP`
//! (each snapshot makes the next writes copy the FIB's shards).

use super::*;
use crate::routing::loc_rib::{PUBLISH_INTERVAL, SMALL_CHANGE_BURST, SMALL_CHANGE_GAP};

/// A gateway with `n` routes learned over tunnel 0, then a quiet second.
fn quiet(fx: &Fixture, n: usize, max: u32) -> Harness {
    quiet_with(fx, n, max, Budget::DEFAULT)
}

/// [`quiet`] with `budget` for each turn's route work.
fn quiet_with(fx: &Fixture, n: usize, max: u32, budget: Budget) -> Harness {
    let mut h = Harness::new(config(fx, "office", max), budget);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up();
    h.announce(&prefixes(n));
    super::graceful::wait(&mut h, Duration::from_secs(1));
    assert!(!h.gw.publish_pending());
    h
}

#[test]
fn a_burst_of_small_changes_is_published_at_once_and_the_next_one_after_the_gap() {
    let fx = Fixture::new();
    let mut h = quiet(&fx, 3, 20);
    let more = prefixes(3 + SMALL_CHANGE_BURST + 1);
    let addr = |i: usize| more[i].addr().to_string();
    for i in 3..3 + SMALL_CHANGE_BURST {
        h.fib = None;
        h.announce(&more[i..=i]);
        h.tick(Duration::from_millis(1));
        assert_eq!(h.routed(&addr(i)), Some(vec![0]), "published in its step");
    }
    let last = h.now;

    // One more, a millisecond later: selected, but the snapshot waits for
    // the gap after the last one.
    let i = 3 + SMALL_CHANGE_BURST;
    h.fib = None;
    h.announce(&more[i..=i]);
    h.tick(Duration::from_millis(1));
    assert_eq!(h.gw.rib.pending(), 0, "selected");
    assert!(
        h.fib.is_none(),
        "a snapshot beyond the burst, 1 ms after the last"
    );
    while h.fib.is_none() {
        h.tick(Duration::from_millis(1));
        assert!(h.now - last <= SMALL_CHANGE_GAP + Duration::from_millis(1));
    }
    assert!(h.now - last >= SMALL_CHANGE_GAP, "{:?}", h.now - last);
    assert_eq!(h.routed(&addr(i)), Some(vec![0]));
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
    let gaps = ((h.now - start).as_millis() / SMALL_CHANGE_GAP.as_millis()) as usize;
    assert!(
        published >= gaps / 2 && published <= gaps + SMALL_CHANGE_BURST,
        "{published} snapshots in {TURNS} turns ({gaps} gaps)"
    );
    h.settle(Duration::from_millis(1), &[0, 1]);
    let last = feed[2 + TURNS].addr().to_string();
    assert_eq!(h.routed(&last), Some(vec![0]), "the last route published");
}

/// A large change is published at most every `PUBLISH_INTERVAL` while its
/// work goes on, but once it is over (nothing queued, nothing written for
/// `SMALL_CHANGE_GAP`) its last routes go out then, not when the interval
/// since the last snapshot has run out.
#[test]
fn a_large_change_goes_out_soon_after_its_last_write() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    // Counted in routes, not time, so that the change takes several turns
    // however fast the machine (20,000 routes fit the default 20 ms on an
    // idle one).
    let budget = Budget {
        time: None,
        routes: 2_000,
    };
    let mut h = quiet_with(&fx, 3, (ROUTES + 20) as u32, budget);
    let feed = prefixes(ROUTES);
    // The tunnels' inside addresses are in the FIB too.
    let all = Some(ROUTES + 2);
    h.fib = None;
    h.announce(&feed);
    while h.fib.is_none() {
        h.tick(Duration::from_millis(1));
    }
    let first = h.now;
    assert!(h.fib_v4() < all, "the first snapshot is partial");
    while h.gw.has_work() {
        h.tick(Duration::from_millis(1));
    }
    let done = h.now;
    assert!(
        done - first < PUBLISH_INTERVAL - SMALL_CHANGE_GAP,
        "{:?}",
        done - first
    );
    while h.fib_v4() < all {
        h.tick(Duration::from_millis(1));
        assert!(
            h.now - done <= SMALL_CHANGE_GAP + Duration::from_millis(1),
            "still not published {:?} after the last write",
            h.now - done
        );
    }
    assert!(h.now - first < PUBLISH_INTERVAL, "{:?}", h.now - first);
}

/// `sitelink routes` says when the selection it shows is behind queued
/// routes or ahead of the forwarding table in force, and says nothing once
/// everything is in force.
#[test]
fn the_routes_view_says_what_is_not_in_force_yet() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    let mut h = Harness::new(config(&fx, "office", (ROUTES + 20) as u32), ROUTE_TURNS);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up();
    h.settle(Duration::from_millis(1), &[0, 1]);
    let mut asked = 0;
    let mut settling = |h: &mut Harness| {
        asked += 1;
        super::plugins::routes_reply(h, asked, "11.0.0.0/24")["settling"].clone()
    };
    assert_eq!(
        settling(&mut h),
        serde_json::Value::Null,
        "nothing under way"
    );

    h.announce(&prefixes(ROUTES));
    let s = settling(&mut h);
    assert_eq!(
        s["queued"].as_u64(),
        Some(ROUTES as u64),
        "filtered, none selected: {s}"
    );
    h.tick(Duration::from_millis(1));
    let s = settling(&mut h);
    let queued = s["queued"].as_u64().unwrap_or(0);
    assert!(
        queued > 0 && queued < ROUTES as u64,
        "one turn's work done: {s}"
    );

    // Worked off: the last writes wait for their snapshot.
    while h.gw.has_work() {
        h.tick(Duration::from_millis(1));
    }
    assert!(h.gw.publish_pending(), "the last writes' snapshot waits");
    let s = settling(&mut h);
    let due = s["snapshot_due_ms"].as_u64();
    assert_eq!(s["queued"].as_u64(), Some(0), "{s}");
    assert!(
        due.is_some_and(|ms| ms <= SMALL_CHANGE_GAP.as_millis() as u64),
        "due at most the gap after the last write: {s}"
    );

    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.fib_v4(), Some(ROUTES + 2));
    assert_eq!(settling(&mut h), serde_json::Value::Null, "all in force");
}
