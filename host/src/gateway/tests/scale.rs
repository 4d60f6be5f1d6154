//! A large table through the whole core with the fake clock: work that
//! touches every route of a session is spread over turns.

use super::*;

/// A session that goes down with 200,000 routes hands its prefixes to the
/// route selection a chunk at a time: the event itself lists none of them,
/// the selection's queue stays short, and every route leaves the FIB.
#[test]
fn a_session_down_with_200k_routes_withdraws_them_a_chunk_at_a_time() {
    const ROUTES: usize = 200_000;
    let budget = ROUTE_TURNS;
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", ROUTES, budget);
    assert_eq!(h.fib_v4(), Some(ROUTES + 2));
    h.max_turn = 0;
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    assert_eq!(h.gw.rib.pending(), 0, "the down event listed no prefix");
    assert!(h.gw.backlog() >= ROUTES, "{} waiting", h.gw.backlog());
    let longest = h.settle_watching_queue(h.now);
    assert!(
        longest <= chunk_and_map(ROUTES),
        "{longest} prefixes queued at once"
    );
    assert!(
        h.max_turn <= budget.routes + 1024,
        "a turn did {}",
        h.max_turn
    );
    assert_eq!(h.routed("11.0.0.1"), None, "withdrawn");
    assert_eq!(h.routed("11.3.13.1"), None, "withdrawn");
    assert_eq!(h.fib_v4(), Some(2), "the tunnels' /30s left");
}

#[test]
fn a_tunnel_down_moves_100k_routes_in_one_step_without_rewriting_them() {
    const ROUTES: usize = 100_000;
    let budget = ROUTE_TURNS;
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", ROUTES, budget);
    let last = prefixes(ROUTES)[ROUTES - 1].addr().to_string();
    assert_eq!(h.routed(&last), Some(vec![0]));
    loop {
        h.fib = None;
        let writes = h.gw.fib_writes();
        h.tick(Duration::from_millis(50));
        h.bfd(1, State::Up);
        if h.liveness.contains(&(0, State::Down)) {
            // The step that saw the probe fail: every learned route is out
            // of the published FIB (its next-hop group has no tunnel left),
            // and the FIB took at most a budget's worth of prefix writes.
            assert_eq!(h.routed("11.0.0.1"), None);
            assert_eq!(h.routed(&last), None);
            let written = h.gw.fib_writes() - writes;
            assert!(
                written <= (budget.routes + 1024) as u64,
                "{written} FIB writes"
            );
            // Its routes reach the selection's queue a chunk at a time:
            // no step lists them all.
            let queued = h.gw.rib.pending();
            assert!(queued <= chunk_and_map(ROUTES), "{queued} queued at once");
            break;
        }
        assert!(
            h.now.elapsed() < Duration::from_secs(60),
            "the probe never went down"
        );
    }
    // Re-selection follows in the background and takes them out for good.
    h.settle(Duration::from_millis(1), &[1]);
    assert_eq!(h.routed(&last), None);
}
