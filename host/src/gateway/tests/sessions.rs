//! A BGP session's connections through the core, on the fake clock.

use super::*;
use crate::bgp::message::Notification;

/// The peer of our passive session connects, and connects again before it
/// sent its OPEN (its host restarted once the first connection was up):
/// only the peer connects to a passive session, so the new connection is
/// taken and the old one closed, rather than the old one holding for the
/// OpenSent hold time (240 s) with every retry refused.
#[test]
fn a_passive_sessions_peer_connecting_again_before_its_open_is_taken() {
    let fx = Fixture::new();
    let mut h = Harness::new(config(&fx, "office", 20), Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.conn += 1;
    h.event(Event::Transport(TransportEvent::Connected {
        peer: PeerId(0),
        conn: h.conn,
    }));
    assert_eq!(h.bgp_state(), "opensent");
    h.closed.clear();
    // The peer's new connection; it opens the session over it.
    h.session_up();
    assert!(h.closed.contains(&0), "the old connection is closed");
    h.announce(&prefixes(2));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(
        h.routed("11.0.1.1"),
        Some(vec![0]),
        "learned over the new one"
    );
}

/// Stopping says goodbye: a Cease on the session and AdminDown on each
/// tunnel's BFD, so the far side takes the routes and the tunnels out at
/// once, knowing why.
#[test]
fn stopping_sends_a_cease_and_bfd_admin_down() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 2, Budget::DEFAULT);
    h.sent_bfd.clear();
    h.writes.clear();
    h.gw.stop(h.now);
    h.drain();
    let cease = wire(&Message::Notification(Notification::new(6, 2, Vec::new())));
    assert!(h.writes.contains(&cease), "a Cease: {:?}", h.writes);
    for tunnel in [0, 1] {
        assert!(
            h.sent_bfd.contains(&(tunnel, State::AdminDown)),
            "AdminDown on tunnel {tunnel}: {:?}",
            h.sent_bfd
        );
    }
}
