//! Graceful restart at its edges, through the whole core with the fake
//! clock: the max-prefix limit while routes are stale, a peer that stops
//! reading (wedged, not restarting), and a reload that moves a
//! connection's sessions to the IPv6 inside addresses.

use super::*;
use crate::bgp::message::GracefulRestart;

fn gr(secs: u16) -> Capability {
    Capability::GracefulRestart(GracefulRestart {
        restart_time: secs,
        families: vec![(Family::IPV4_UNICAST, true)],
        ..GracefulRestart::default()
    })
}

/// Whether 11.0.0.0/24 .. 11.0.3.0/24 are routed over tunnel 0.
fn routed4(h: &Harness) -> [bool; 4] {
    ["11.0.0.1", "11.0.1.1", "11.0.2.1", "11.0.3.1"].map(|a| h.routed(a) == Some(vec![0]))
}

/// A VGW with `max_prefixes` that learned 11.0.0-2.0/24 over tunnel 0 from
/// a peer offering graceful restart.
fn learned(fx: &Fixture, max_prefixes: u32) -> Harness {
    let mut h = Harness::new(config_with(fx, "office", max_prefixes, ""), Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up_with(vec![gr(120)]);
    h.announce(&prefixes(3));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed4(&h), [true, true, true, false]);
    h
}

#[test]
fn stale_routes_do_not_count_against_max_prefixes() {
    let fx = Fixture::new();
    let mut h = learned(&fx, 3);
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    super::graceful::wait(&mut h, Duration::from_secs(2));
    h.session_up_with(vec![gr(120)]);
    // Its new table is 11.0.1-3.0/24, within the limit of 3; the new
    // prefix comes first, while the three old ones are still stale.
    h.announce(&prefixes(4)[3..]);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.bgp_state(), "established", "not closed by max-prefix");
    assert_eq!(routed4(&h), [true; 4]);
    h.announce(&prefixes(4)[1..3]);
    h.event(Event::Transport(TransportEvent::Data {
        peer: PeerId(0),
        conn: h.conn,
        bytes: codec::encode_end_of_rib(Family::IPV4_UNICAST, &ctx()),
    }));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(
        routed4(&h),
        [false, true, true, true],
        "End-of-RIB swept 11.0.0.0/24"
    );
}

#[test]
fn a_peer_that_stops_reading_is_dropped_with_its_routes() {
    let fx = Fixture::new();
    let mut h = learned(&fx, 20);
    h.event(Event::Transport(TransportEvent::WriteFailed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(
        routed4(&h),
        [false; 4],
        "wedged, not restarting: nothing stale"
    );
}

#[test]
fn a_reload_lowering_the_restart_limit_caps_a_restart_under_way() {
    let fx = Fixture::new();
    let mut h = learned(&fx, 20);
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    let step = |h: &mut Harness, n: usize| {
        for _ in 0..n {
            h.tick(Duration::from_millis(100));
            h.bfd(0, State::Up);
            h.bfd(1, State::Up);
        }
    };
    step(&mut h, 20);
    assert_eq!(routed4(&h), [true, true, true, false], "kept for 120 s");
    let new = config_with(&fx, "office", 20, "graceful_restart_max_s = 5");
    let aligned = crate::gateway::reload::align(&h.gw.cfg, (*new).clone());
    h.event(Event::Admin {
        id: RequestId(9),
        command: AdminCommand::Reload {
            base: h.gw.config().clone(),
            cfg: Arc::new(aligned),
            plugins: Vec::new(),
            dry_run: false,
        },
    });
    step(&mut h, 20);
    assert_eq!(routed4(&h), [true, true, true, false], "4 s after the drop");
    step(&mut h, 20);
    assert_eq!(
        routed4(&h),
        [false; 4],
        "5 s after the drop, as the reload says"
    );
}
