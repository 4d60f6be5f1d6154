//! What a tunnel's probe going down does to its learned routes and its BGP
//! session: a failure takes the routes out in the same step and resets the
//! session (RFC 5882 section 4.3); the far side taking its BFD session down
//! administratively (AdminDown: a drain, BFD switched off) takes the routes
//! out too but keeps the session (RFC 5882 sections 3.2 and 4.2), so that
//! the far side's own goodbye, its probe's return or the hold timer decides
//! what happens to it.

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

#[test]
fn a_tunnel_going_down_takes_its_routes_out_of_the_fib_in_the_same_step() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    // No more probes from the far side on tunnel 0: after the detection
    // time (200 ms x 3) the step that notices it publishes the FIB.
    let mut steps = 0;
    loop {
        h.fib = None;
        h.tick(Duration::from_millis(50));
        h.bfd(1, State::Up);
        steps += 1;
        if h.liveness.contains(&(0, State::Down)) {
            break;
        }
        assert!(steps < 40, "the probe never went down");
    }
    assert!(h.fib.is_some(), "a FIB was published in the step");
    assert_eq!(h.routed("11.0.0.1"), None, "the learned route left with it");
    assert_ne!(h.bgp_state(), "established", "its session was reset");
}
