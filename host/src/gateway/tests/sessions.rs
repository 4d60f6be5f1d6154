//! A BGP session's connections through the core, on the fake clock.

use super::*;
use crate::bgp::message::{Notification, Update};

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

/// An UPDATE that withdraws a route and goes over `max_prefixes` (action
/// close): the session closes, and the withdrawn route leaves the FIB with
/// the others (its withdrawal was applied before the limit, and the Down
/// walks only what is left in the Adj-RIB-In).
#[test]
fn a_max_prefix_close_takes_the_tripping_updates_withdrawals_out_too() {
    let fx = Fixture::new();
    let mut h = Harness::new(config_with(&fx, "office", 3, ""), Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up();
    let p = prefixes(5);
    h.announce(&p[..3]);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]));
    let attrs = PathAttributes {
        as_path: vec![AsSegment {
            kind: SegmentKind::Sequence,
            asns: vec![PEER_ASN, 65010],
        }],
        next_hop: Some(Ipv4Addr::new(169, 254, 10, 2)),
        ..PathAttributes::default()
    };
    // Withdraws 11.0.0.0/24, announces 11.0.3.0/24 and 11.0.4.0/24 (4 > 3),
    // then a withdrawal of 11.0.1.0/24 in the same read.
    let mut bytes = wire(&Message::Update(Update {
        withdrawn: vec![p[0]],
        attributes: Some(attrs),
        mp_reach: None,
        mp_unreach: None,
        nlri: p[3..5].to_vec(),
        treat_as_withdraw: None,
        discarded: Vec::new(),
    }));
    bytes.extend(wire(&Message::Update(Update {
        withdrawn: vec![p[1]],
        attributes: None,
        mp_reach: None,
        mp_unreach: None,
        nlri: Vec::new(),
        treat_as_withdraw: None,
        discarded: Vec::new(),
    })));
    h.data(bytes);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_ne!(h.bgp_state(), "established", "closed for max_prefixes");
    for addr in ["11.0.0.1", "11.0.1.1", "11.0.2.1", "11.0.3.1", "11.0.4.1"] {
        assert_eq!(
            h.routed(addr),
            None,
            "{addr} still routed over the closed session"
        );
    }
}
