//! The far side takes a tunnel's BFD session down administratively
//! (AdminDown: a drain, or a reload that removes the connection): traffic
//! leaves the tunnel at once, and the BGP session over it is kept (RFC 5882
//! section 3.2), so that the far side's own goodbye, or its probe coming
//! back, decides what happens to it.

use super::*;

#[test]
fn the_far_side_going_admin_down_moves_traffic_and_keeps_the_bgp_session() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]));

    h.bfd(0, State::AdminDown);
    h.settle(Duration::from_millis(1), &[1]);
    assert!(h.liveness.contains(&(0, State::Down)), "{:?}", h.liveness);
    assert_eq!(h.routed("11.0.0.1"), None, "no traffic over tunnel 0");
    assert_eq!(h.bgp_state(), "established", "no session reset");

    // Its probe comes back: the routes over it count again.
    h.bfd(0, State::Down);
    h.bfd(0, State::Init);
    h.bfd(0, State::Up);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]));
    assert_eq!(h.bgp_state(), "established");
}

#[test]
fn the_far_side_signalling_down_still_resets_the_bgp_session() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    // Down (not AdminDown) from the far side: a failure it saw.
    h.bfd(0, State::Down);
    h.settle(Duration::from_millis(1), &[1]);
    assert_eq!(h.routed("11.0.0.1"), None);
    assert_ne!(h.bgp_state(), "established", "its session was reset");
}
