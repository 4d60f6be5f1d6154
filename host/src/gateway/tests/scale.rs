//! A large table through the whole core with the fake clock: work that
//! touches every route of a session is spread over turns.

use super::*;

/// A session that goes down with 200,000 routes hands its prefixes to the
/// route selection a chunk at a time: the event itself lists none of them,
/// the selection's queue stays short, and every route leaves the FIB.
#[test]
fn a_session_down_with_200k_routes_withdraws_them_a_chunk_at_a_time() {
    const ROUTES: usize = 200_000;
    let budget = Budget {
        time: None,
        routes: 4096,
    };
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", ROUTES, budget);
    assert_eq!(h.fib.as_ref().map(|f| f.counts().0), Some(ROUTES + 2));
    h.max_turn = 0;
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    assert_eq!(h.gw.rib.pending(), 0, "the down event listed no prefix");
    assert!(h.gw.backlog() >= ROUTES, "{} waiting", h.gw.backlog());
    let mut longest = 0;
    let mut turns = 0;
    while h.gw.has_work() || h.gw.publish_pending() {
        h.tick(Duration::from_millis(1));
        if turns % 100 == 0 {
            h.bfd(0, State::Up);
            h.bfd(1, State::Up);
        }
        longest = longest.max(h.gw.rib.pending());
        turns += 1;
        assert!(turns < 100_000, "the withdrawal never finished");
    }
    // At most a chunk waiting and one of the Adj-RIB-In's maps
    // (200,000 / 64 routes) walked on top of it.
    assert!(
        longest <= 1024 + 2 * ROUTES / 64,
        "{longest} prefixes queued at once"
    );
    assert!(
        h.max_turn <= budget.routes + 1024,
        "a turn did {}",
        h.max_turn
    );
    assert_eq!(h.routed("11.0.0.1"), None, "withdrawn");
    assert_eq!(h.routed("11.3.13.1"), None, "withdrawn");
    assert_eq!(
        h.fib.as_ref().map(|f| f.counts().0),
        Some(2),
        "the tunnels' /30s left"
    );
}
