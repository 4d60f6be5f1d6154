//! BGP graceful restart, the helper side (RFC 4724 section 4.2), through
//! the whole core with the fake clock: which drops keep a peer's routes in
//! the FIB, and what sweeps them (restart timer, End-of-RIB, the F bit, the
//! stale-path timer, liveness).

use super::*;
use crate::bgp::message::{GracefulRestart, Notification};

/// The peer's capability: Restart Time `secs`, IPv4 unicast with the
/// Forwarding State bit `kept` (no family at all when `None`).
fn gr(secs: u16, kept: Option<bool>) -> Capability {
    Capability::GracefulRestart(GracefulRestart {
        restart_time: secs,
        families: kept
            .map(|f| vec![(Family::IPV4_UNICAST, f)])
            .unwrap_or_default(),
        ..GracefulRestart::default()
    })
}

/// A VGW that learned three routes over tunnel 0 from a peer offering
/// `caps`, with `bgp` lines in its `[connection.bgp]`.
fn learned_from(fx: &Fixture, bgp: &str, caps: Vec<Capability>) -> Harness {
    let mut h = Harness::new(config_with(fx, "office", 20, bgp), Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up_with(caps);
    h.announce(&prefixes(3));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed_all(&h), [true; 3], "learned over tunnel 0");
    h
}

/// Whether each of `prefixes(3)` is in the FIB.
fn routed_all(h: &Harness) -> [bool; 3] {
    ["11.0.0.1", "11.0.1.1", "11.0.2.1"].map(|a| h.routed(a) == Some(vec![0]))
}

/// The peer announces IPv6 route `v6` over tunnel 0 (its session offered
/// IPv6 unicast), settled.
pub(super) fn announce_v6(h: &mut Harness, v6: IpNet) {
    let hop = [IpAddr::V6(crate::bgp::link_local_next_hop(Ipv4Addr::new(
        169, 254, 10, 2,
    )))];
    let attrs = PathAttributes {
        as_path: vec![AsSegment {
            kind: SegmentKind::Sequence,
            asns: vec![PEER_ASN],
        }],
        ..PathAttributes::default()
    };
    for m in codec::encode_announcements(&attrs, Family::IPV6_UNICAST, &hop, &[v6], &ctx()) {
        h.data(m);
    }
    h.settle(Duration::from_millis(1), &[0, 1]);
}

/// The peer's TCP connection closes without a NOTIFICATION.
fn connection_lost(h: &mut Harness) {
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    h.settle(Duration::from_millis(1), &[0, 1]);
}

/// Lets `d` pass in 100 ms steps, the far side keeping both probes up,
/// then settles the route work.
pub(super) fn wait(h: &mut Harness, d: Duration) {
    let end = h.now + d;
    while h.now < end {
        h.tick(Duration::from_millis(100));
        h.bfd(0, State::Up);
        h.bfd(1, State::Up);
    }
    h.settle(Duration::from_millis(1), &[0, 1]);
}

/// The `graceful_restart` object of `sitelink bgp` for tunnel 0.
pub(super) fn gr_status(h: &mut Harness) -> serde_json::Value {
    let id = RequestId(u64::MAX - 1);
    h.event(Event::Admin {
        id,
        command: AdminCommand::Bgp,
    });
    h.reply(id)["peers"][0]["graceful_restart"].clone()
}

fn end_of_rib_v4() -> Vec<u8> {
    codec::encode_end_of_rib(Family::IPV4_UNICAST, &ctx())
}

#[test]
fn a_restarting_peer_keeps_its_routes_for_its_restart_time_then_loses_them() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(30, Some(true))]);
    assert_eq!(gr_status(&mut h)["peer_restart_time_s"], 30);
    connection_lost(&mut h);
    assert_ne!(h.bgp_state(), "established");
    assert_eq!(routed_all(&h), [true; 3], "kept, stale, still forwarding");
    let status = gr_status(&mut h);
    assert_eq!(status["phase"], "restarting", "{status}");
    assert_eq!(status["stale_routes"], 3, "{status}");
    wait(&mut h, Duration::from_secs(29));
    assert_eq!(routed_all(&h), [true; 3], "within the restart time");
    wait(&mut h, Duration::from_secs(2));
    assert_eq!(routed_all(&h), [false; 3], "swept when it expired");
    assert_eq!(gr_status(&mut h)["phase"], serde_json::Value::Null);
}

/// With 200,000 routes: the drop queues none of them (they are kept as
/// they are), and when the restart time runs out without the peer they
/// reach the route selection a chunk at a time, as a session's that went
/// down, and leave the FIB.
#[test]
fn a_restart_with_200k_routes_keeps_them_at_once_and_sweeps_them_a_chunk_at_a_time() {
    const ROUTES: usize = 200_000;
    let fx = Fixture::new();
    let cfg = config_with(&fx, "office", ROUTES as u32 + 10, "");
    let mut h = Harness::new(cfg, ROUTE_TURNS);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up_with(vec![gr(5, Some(true))]);
    h.announce(&prefixes(ROUTES));
    h.settle(Duration::from_millis(1), &[0, 1]);
    let last = prefixes(ROUTES)[ROUTES - 1].addr().to_string();
    assert_eq!(h.routed(&last), Some(vec![0]));
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    assert_eq!(h.gw.backlog(), 0, "the drop queued nothing");
    assert_eq!(gr_status(&mut h)["stale_routes"], ROUTES);
    assert_eq!(h.routed(&last), Some(vec![0]), "kept, still forwarding");
    // Past the restart time (5 s).
    let longest = h.settle_watching_queue(h.now + Duration::from_secs(6));
    assert!(
        longest <= chunk_and_map(ROUTES),
        "{longest} prefixes queued at once"
    );
    assert_eq!(h.routed("11.0.0.1"), None, "swept");
    assert_eq!(h.routed(&last), None, "swept");
    assert_eq!(gr_status(&mut h)["phase"], serde_json::Value::Null);
}

#[test]
fn the_restart_time_honoured_is_capped_by_the_config() {
    let fx = Fixture::new();
    let mut h = learned_from(
        &fx,
        "graceful_restart_max_s = 5",
        vec![gr(4095, Some(true))],
    );
    connection_lost(&mut h);
    assert_eq!(routed_all(&h), [true; 3]);
    wait(&mut h, Duration::from_secs(6));
    assert_eq!(routed_all(&h), [false; 3], "5 s, not the peer's 4095");
}

#[test]
fn back_with_a_partial_announcement_then_end_of_rib_sweeps_the_rest() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    connection_lost(&mut h);
    wait(&mut h, Duration::from_secs(2));
    h.writes.clear();
    h.session_up_with(vec![gr(120, Some(true))]);
    // We send our routes and End-of-RIB for IPv4, the one family.
    let eor = h.writes.iter().any(|w| {
        matches!(codec::decode(w, &ctx()), Ok(Message::Update(u))
            if u.is_end_of_rib() == Some(Family::IPV4_UNICAST))
    });
    assert!(eor, "End-of-RIB sent after our initial export");
    assert_eq!(gr_status(&mut h)["phase"], "refreshing");
    // Two of the three come back; the third is still stale and installed.
    h.announce(&prefixes(2));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed_all(&h), [true; 3]);
    assert_eq!(gr_status(&mut h)["stale_routes"], 1);
    h.data(end_of_rib_v4());
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed_all(&h), [true, true, false], "End-of-RIB swept it");
    assert_eq!(gr_status(&mut h)["phase"], serde_json::Value::Null);
}

#[test]
fn back_without_the_forwarding_bit_or_the_capability_sweeps_at_once() {
    let fx = Fixture::new();
    for (again, what) in [
        (vec![gr(120, Some(false))], "F bit clear"),
        (vec![gr(120, None)], "family not listed"),
        (vec![], "no capability"),
    ] {
        let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
        connection_lost(&mut h);
        assert_eq!(routed_all(&h), [true; 3], "{what}");
        wait(&mut h, Duration::from_secs(2));
        h.session_up_with(again);
        h.settle(Duration::from_millis(1), &[0, 1]);
        assert_eq!(routed_all(&h), [false; 3], "{what}: swept on OPEN");
    }
}

#[test]
fn the_stale_path_timer_sweeps_when_end_of_rib_never_comes() {
    let fx = Fixture::new();
    let mut h = learned_from(
        &fx,
        "graceful_restart_stale_s = 10",
        vec![gr(120, Some(true))],
    );
    connection_lost(&mut h);
    wait(&mut h, Duration::from_secs(2));
    h.session_up_with(vec![gr(120, Some(true))]);
    h.announce(&prefixes(1));
    wait(&mut h, Duration::from_secs(9));
    assert_eq!(routed_all(&h), [true; 3], "before the stale-path timer");
    wait(&mut h, Duration::from_secs(2));
    assert_eq!(
        routed_all(&h),
        [true, false, false],
        "announced again: kept"
    );
}

#[test]
fn without_graceful_restart_routes_go_at_once() {
    let fx = Fixture::new();
    // The peer does not offer it.
    let mut h = learned_from(&fx, "", vec![]);
    connection_lost(&mut h);
    assert_eq!(routed_all(&h), [false; 3], "peer without the capability");
    // We do not: we neither offer it nor keep anything.
    let mut h = learned_from(&fx, "graceful_restart = false", vec![gr(120, Some(true))]);
    assert_eq!(gr_status(&mut h), serde_json::Value::Null);
    connection_lost(&mut h);
    assert_eq!(routed_all(&h), [false; 3], "graceful_restart = false");
    // A helper-only peer keeps no forwarding: nothing to wait for.
    let mut h = learned_from(&fx, "", vec![gr(120, None)]);
    connection_lost(&mut h);
    assert_eq!(routed_all(&h), [false; 3], "peer lists no family");
}

#[test]
fn a_notification_or_a_hold_timer_expiry_takes_the_routes_at_once() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    let cease = Notification::new(6, 2, Vec::new());
    h.data(wire(&Message::Notification(cease)));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed_all(&h), [false; 3], "NOTIFICATION received");

    // Hold time 90 s: nothing from the peer for that long (our probes
    // stay up, so only BGP notices).
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    wait(&mut h, Duration::from_secs(91));
    assert_ne!(h.bgp_state(), "established");
    assert_eq!(routed_all(&h), [false; 3], "hold timer expired");
}

/// The peer's try to come back fails before the session is established
/// (it refuses in OpenSent): that is no new drop, so the restart goes on
/// and its routes stay stale until the restart time (RFC 4724 section
/// 4.2), as when it does not try at all.
#[test]
fn a_failed_try_to_come_back_keeps_the_restart_going() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(30, Some(true))]);
    connection_lost(&mut h);
    assert_eq!(routed_all(&h), [true; 3]);
    wait(&mut h, Duration::from_secs(10));
    h.conn += 1;
    h.event(Event::Transport(TransportEvent::Connected {
        peer: PeerId(0),
        conn: h.conn,
    }));
    // Cease, Connection Rejected: still loading, say.
    let rejected = Notification::new(6, 5, Vec::new());
    h.data(wire(&Message::Notification(rejected)));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_ne!(h.bgp_state(), "established");
    assert_eq!(routed_all(&h), [true; 3], "still kept, stale");
    assert_eq!(gr_status(&mut h)["phase"], "restarting");
    wait(&mut h, Duration::from_secs(19));
    assert_eq!(routed_all(&h), [true; 3], "within the restart time");
    wait(&mut h, Duration::from_secs(2));
    assert_eq!(routed_all(&h), [false; 3], "swept when it expired");
}

#[test]
fn a_dead_tunnel_beats_graceful_restart() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    // A peer whose BFD survives its control plane's restart (C bit set):
    // its BFD timing out is the path (a clear C bit is held, below).
    h.far_bfd_independent = true;
    h.bfd(0, State::Up);
    connection_lost(&mut h);
    assert_eq!(routed_all(&h), [true; 3]);
    // The far side stops answering tunnel 0's probe.
    for _ in 0..20 {
        h.tick(Duration::from_millis(50));
        h.bfd(1, State::Up);
    }
    assert!(h.liveness.contains(&(0, State::Down)));
    h.settle(Duration::from_millis(1), &[1]);
    assert_eq!(routed_all(&h), [false; 3], "failover, stale routes swept");
    assert_eq!(gr_status(&mut h)["stale_routes"], 0);
}

#[test]
fn a_peer_connecting_again_while_established_has_restarted() {
    let fx = Fixture::new();
    // Its host rebooted: no FIN, no NOTIFICATION, a new connection.
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    h.closed.clear();
    h.session_up_with(vec![gr(120, Some(true))]);
    assert!(h.closed.contains(&0), "the old connection is closed");
    assert_eq!(gr_status(&mut h)["phase"], "refreshing");
    assert_eq!(routed_all(&h), [true; 3], "kept as stale");
    h.announce(&prefixes(1));
    h.data(end_of_rib_v4());
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed_all(&h), [true, false, false]);

    // Without graceful restart the connection in place wins, as before.
    let mut h = learned_from(&fx, "", vec![]);
    h.conn += 1;
    h.event(Event::Transport(TransportEvent::Connected {
        peer: PeerId(0),
        conn: h.conn,
    }));
    assert_eq!(h.bgp_state(), "established");
    assert_eq!(routed_all(&h), [true; 3]);
}

#[test]
fn a_reload_turning_graceful_restart_off_sweeps_stale_routes() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    connection_lost(&mut h);
    assert_eq!(routed_all(&h), [true; 3]);
    h.event(Event::Admin {
        id: RequestId(7),
        command: AdminCommand::Reload {
            base: h.gw.config().clone(),
            cfg: config_with(&fx, "office", 20, "graceful_restart = false"),
            plugins: Vec::new(),
            dry_run: false,
        },
    });
    h.settle(Duration::from_millis(1), &[0, 1]);
    let reply = h.reply(RequestId(7));
    assert_eq!(reply["applied"], true, "{reply}");
    assert_eq!(
        reply["changes"][0],
        "connection office: graceful restart on (max 300 s, stale 360 s) -> off: offered \
         when each session next opens"
    );
    assert_eq!(routed_all(&h), [false; 3], "{reply}");
}

#[test]
fn end_of_rib_sweeps_only_its_own_family() {
    let fx = Fixture::new();
    let both = || {
        vec![
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::GracefulRestart(GracefulRestart {
                restart_time: 120,
                families: vec![(Family::IPV4_UNICAST, true), (Family::IPV6_UNICAST, true)],
                ..GracefulRestart::default()
            }),
        ]
    };
    let mut h = learned_from(&fx, "", both());
    announce_v6(&mut h, "fd00:9::/64".parse().unwrap());
    assert_eq!(h.routed("fd00:9::1"), Some(vec![0]));
    connection_lost(&mut h);
    assert_eq!(gr_status(&mut h)["stale_routes"], 4);
    wait(&mut h, Duration::from_secs(2));
    h.session_up_with(both());
    // IPv4's End-of-RIB: its three go, the IPv6 route stays stale.
    h.data(end_of_rib_v4());
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed_all(&h), [false; 3]);
    assert_eq!(h.routed("fd00:9::1"), Some(vec![0]), "other family kept");
    assert_eq!(gr_status(&mut h)["stale_routes"], 1);
    // IPv6's End-of-RIB (an empty MP_UNREACH_NLRI) sweeps it.
    h.data(codec::encode_end_of_rib(Family::IPV6_UNICAST, &ctx()));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("fd00:9::1"), None);
    assert_eq!(gr_status(&mut h)["phase"], serde_json::Value::Null);
}

#[test]
fn a_second_drop_before_end_of_rib_deletes_the_routes_still_stale() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(30, Some(true))]);
    connection_lost(&mut h);
    wait(&mut h, Duration::from_secs(20));
    h.session_up_with(vec![gr(30, Some(true))]);
    h.announce(&prefixes(1));
    h.settle(Duration::from_millis(1), &[0, 1]);
    connection_lost(&mut h);
    // RFC 4724 section 4.2: a route still stale from the first restart
    // MUST be deleted; the one sent again is kept as stale.
    let status = gr_status(&mut h);
    assert_eq!(status["phase"], "restarting", "{status}");
    assert_eq!(status["stale_routes"], 1, "{status}");
    assert_eq!(routed_all(&h), [true, false, false]);
    // A new restart timer: 20 s in, past the first drop's 30 s, still kept.
    wait(&mut h, Duration::from_secs(20));
    assert_eq!(routed_all(&h), [true, false, false]);
    wait(&mut h, Duration::from_secs(11));
    assert_eq!(routed_all(&h), [false; 3]);
}

/// The peer's TCP connection closes and then its BFD falls silent (BIRD
/// restarting gracefully: its sockets close, then its BFD is gone), for
/// `away` in 100 ms steps, tunnel 1's probe kept up.
fn restart_with_bfd_silent(h: &mut Harness, away: Duration) {
    connection_lost(h);
    let end = h.now + away;
    while h.now < end {
        h.tick(Duration::from_millis(100));
        h.bfd(1, State::Up);
    }
}

#[test]
fn a_bfd_timeout_during_the_restart_of_a_peer_whose_bfd_shares_fate_keeps_the_routes() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    restart_with_bfd_silent(&mut h, Duration::from_secs(3));
    assert!(
        h.liveness.iter().any(|&(t, s)| t == 0 && s == State::Down),
        "the probe went down (and is shown so)"
    );
    assert_eq!(
        routed_all(&h),
        [true; 3],
        "RFC 5882 4.3.2: still forwarding"
    );
    // Its BFD comes back with the restarted control plane: up again,
    // routes still there.
    h.bfd(0, State::Down);
    h.bfd(0, State::Up);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(routed_all(&h), [true; 3]);
}

#[test]
fn a_restart_that_ends_with_bfd_still_down_takes_the_tunnel_down_then() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(5, Some(true))]);
    restart_with_bfd_silent(&mut h, Duration::from_secs(3));
    assert_eq!(routed_all(&h), [true; 3], "held during the restart");
    restart_with_bfd_silent(&mut h, Duration::ZERO);
    let end = h.now + Duration::from_secs(3);
    while h.now < end {
        h.tick(Duration::from_millis(100));
        h.bfd(1, State::Up);
    }
    assert_eq!(routed_all(&h), [false; 3], "the restart time ran out");
}

#[test]
fn a_bfd_timeout_of_a_peer_whose_bfd_survives_restarts_fails_over_at_once() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    // C bit set: its BFD does not restart with its control plane, so a
    // timeout is a path failure.
    h.far_bfd_independent = true;
    h.bfd(0, State::Up);
    h.bfd(1, State::Up);
    restart_with_bfd_silent(&mut h, Duration::from_secs(3));
    assert_eq!(
        routed_all(&h),
        [false; 3],
        "failover beats graceful restart"
    );
}

#[test]
fn a_bfd_timeout_without_a_restart_fails_over_at_once() {
    let fx = Fixture::new();
    let mut h = learned_from(&fx, "", vec![gr(120, Some(true))]);
    // The path fails: BFD times out while the session still stands.
    let end = h.now + Duration::from_secs(3);
    while h.now < end {
        h.tick(Duration::from_millis(100));
        h.bfd(1, State::Up);
    }
    assert_eq!(routed_all(&h), [false; 3]);
}
