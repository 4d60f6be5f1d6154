//! A graceful restart's partial sweep at scale, through the whole core
//! with the fake clock: the stale routes an End-of-RIB leaves behind go a
//! map of the Adj-RIB-In at a time, not in the End-of-RIB's step.

use super::graceful::{announce_v6, gr_status, wait};
use super::*;
use crate::bgp::message::{GracefulRestart, Notification};

const ROUTES: usize = 200_000;
const HALF: usize = ROUTES / 2;

fn gr() -> Capability {
    Capability::GracefulRestart(GracefulRestart {
        restart_time: 120,
        families: vec![(Family::IPV4_UNICAST, true)],
        ..GracefulRestart::default()
    })
}

/// A peer with 200,000 routes drops, comes back, announces the first half
/// again; its End-of-RIB is next.
fn back_with_half(fx: &Fixture) -> Harness {
    back_with_half_offering(fx, vec![gr()])
}

/// [`back_with_half`] with the peer's OPEN offering `caps`.
fn back_with_half_offering(fx: &Fixture, caps: Vec<Capability>) -> Harness {
    back_with_half_configured(fx, caps, "")
}

/// [`back_with_half_offering`] with more `[connection.bgp]` lines.
fn back_with_half_configured(fx: &Fixture, caps: Vec<Capability>, bgp: &str) -> Harness {
    let cfg = config_with(fx, "office", ROUTES as u32 + 10, bgp);
    let mut h = Harness::new(cfg, ROUTE_TURNS);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up_with(caps.clone());
    h.announce(&prefixes(ROUTES));
    h.settle(Duration::from_millis(1), &[0, 1]);
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    wait(&mut h, Duration::from_secs(2));
    h.session_up_with(caps);
    h.announce(&prefixes(HALF));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.fib_v4(), Some(ROUTES + 2));
    h
}

fn end_of_rib(h: &mut Harness) {
    h.data(codec::encode_end_of_rib(Family::IPV4_UNICAST, &ctx()));
}

/// Settles the route work, never more than a chunk and a map of the table
/// queued for selection at once.
fn settle_bounded(h: &mut Harness) {
    let longest = h.settle_watching_queue(h.now);
    assert!(
        longest <= chunk_and_map(ROUTES),
        "{longest} prefixes queued at once"
    );
}

/// The idle hold after a drop (2 s) over in one turn, the tunnels still
/// up: little of any route work is done by then.
fn idle_hold_in_one_turn(h: &mut Harness) {
    h.now += Duration::from_secs(2);
    h.bfd(0, State::Up);
    h.bfd(1, State::Up);
    h.gw.handle_timeout(h.now);
}

#[test]
fn an_end_of_rib_leaving_100k_routes_stale_sweeps_them_a_map_at_a_time() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    assert_eq!(
        h.gw.rib.pending(),
        0,
        "the End-of-RIB's step removed nothing"
    );
    assert!(h.gw.backlog() >= HALF, "{} waiting", h.gw.backlog());
    settle_bounded(&mut h);
    let all = prefixes(ROUTES);
    let addr = |i: usize| all[i].addr().to_string();
    assert_eq!(h.routed(&addr(0)), Some(vec![0]), "announced again: kept");
    assert_eq!(h.routed(&addr(HALF - 1)), Some(vec![0]));
    assert_eq!(h.routed(&addr(HALF)), None, "stale: swept");
    assert_eq!(h.routed(&addr(ROUTES - 1)), None, "stale: swept");
    assert_eq!(h.fib_v4(), Some(HALF + 2));
    assert_eq!(h.gw.backlog(), 0);
}

#[test]
fn a_route_announced_again_while_its_sweep_is_under_way_stays() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    let last = prefixes(ROUTES)[ROUTES - 1];
    h.announce(&[last]);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed(&last.addr().to_string()), Some(vec![0]));
    assert_eq!(h.fib_v4(), Some(HALF + 3));
}

/// Routes on their way out do not count against max_prefixes: the peer
/// may announce new prefixes (100.0.0.0/24 on, outside the table) before
/// the sweep is done (the limit is the table's size plus 10 here).
#[test]
fn routes_being_swept_do_not_count_against_max_prefixes() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    let new: Vec<IpNet> = (0..1000u32)
        .map(|i| {
            IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x6400_0000 + (i << 8)), 24).unwrap())
        })
        .collect();
    h.announce(&new);
    assert_eq!(h.bgp_state(), "established", "not closed for max_prefixes");
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("100.0.0.1"), Some(vec![0]));
    assert_eq!(h.routed("100.3.231.1"), Some(vec![0]));
    assert_eq!(h.fib_v4(), Some(HALF + 1000 + 2));
}

/// The selection's queue is worked oldest first: a route announced while
/// 100,000 stale routes are being swept is selected in the next turns,
/// not after the sweep (the sweep queues a chunk whenever the queue runs
/// short, and newest first would take those ahead of it every time).
#[test]
fn a_route_announced_during_a_sweep_does_not_wait_for_the_sweep() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    let new = IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(100, 0, 0, 0), 24).unwrap());
    h.announce(&[new]);
    for _ in 0..3 {
        h.tick(Duration::from_millis(1));
    }
    assert!(
        h.gw.rib.selected(&new).is_some(),
        "still queued after three turns"
    );
    assert!(
        h.gw.backlog() > HALF / 2,
        "the sweep is mostly still to do ({} waiting)",
        h.gw.backlog()
    );
    settle_bounded(&mut h);
    assert_eq!(h.routed("100.0.0.1"), Some(vec![0]));
    assert_eq!(h.fib_v4(), Some(HALF + 3));
}

fn drop_connection(h: &mut Harness) {
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
}

/// A second drop while the End-of-RIB's sweep is under way: the swept
/// routes still go (RFC 4724 section 4.2), a map at a time as before, not
/// in the drop's step; only the half announced again is kept stale, and
/// it goes too when the peer stays away.
#[test]
fn a_drop_during_a_sweep_keeps_only_the_rest_stale_and_the_sweep_goes_on() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    drop_connection(&mut h);
    assert_eq!(gr_status(&mut h)["stale_routes"], HALF);
    settle_bounded(&mut h);
    assert_eq!(h.fib_v4(), Some(HALF + 2));
    assert_eq!(gr_status(&mut h)["stale_routes"], HALF);
    // Its restart time (120 s) runs out.
    wait(&mut h, Duration::from_secs(121));
    assert_eq!(h.fib_v4(), Some(2));
    assert_eq!(h.gw.backlog(), 0);
}

/// After a second drop, the peer comes back and announces a quarter of
/// the table: its End-of-RIB sweeps the other quarter it kept, whether the
/// first sweep had ended when it came back (`settled`) or not; if not, it
/// goes on a map at a time.
fn back_again_with_a_quarter(settled: bool) {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    drop_connection(&mut h);
    if settled {
        h.settle(Duration::from_millis(1), &[0, 1]);
        assert_eq!(h.fib_v4(), Some(HALF + 2));
        wait(&mut h, Duration::from_secs(2));
    } else {
        idle_hold_in_one_turn(&mut h);
        assert!(h.gw.backlog() > HALF / 2, "{} waiting", h.gw.backlog());
    }
    let queued = h.gw.rib.pending();
    h.session_up_with(vec![gr()]);
    if !settled {
        // Back before the sweep ended: the sweep goes on a map at a time
        // (the return's step removed nothing), and only the half announced
        // again counts as stale, not the routes on their way out.
        assert_eq!(
            h.gw.rib.pending(),
            queued,
            "the return's step swept nothing"
        );
        assert!(h.gw.backlog() > HALF / 2, "{} waiting", h.gw.backlog());
        assert_eq!(gr_status(&mut h)["stale_routes"], HALF);
    }
    let quarter = ROUTES / 4;
    h.announce(&prefixes(quarter));
    end_of_rib(&mut h);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let all = prefixes(ROUTES);
    let addr = |i: usize| all[i].addr().to_string();
    assert_eq!(
        h.routed(&addr(quarter - 1)),
        Some(vec![0]),
        "announced again"
    );
    assert_eq!(h.routed(&addr(quarter)), None, "stale twice: swept");
    assert_eq!(h.routed(&addr(HALF)), None, "swept before the drop");
    assert_eq!(h.fib_v4(), Some(quarter + 2));
    assert_eq!(gr_status(&mut h)["stale_routes"], 0);
    assert_eq!(h.gw.backlog(), 0);
}

#[test]
fn a_peer_back_after_a_second_drop_keeps_what_it_announces_again() {
    back_again_with_a_quarter(true);
}

#[test]
fn a_peer_back_before_the_first_sweep_ended_keeps_what_it_announces_again() {
    back_again_with_a_quarter(false);
}

/// The peer drops during the End-of-RIB's sweep and is back before it
/// ended: the routes on their way out are copied stale with the rest.
fn back_during_the_sweep(fx: &Fixture) -> Harness {
    back_during_the_sweep_configured(fx, "")
}

/// [`back_during_the_sweep`] with more `[connection.bgp]` lines.
fn back_during_the_sweep_configured(fx: &Fixture, bgp: &str) -> Harness {
    let mut h = back_with_half_configured(fx, vec![gr()], bgp);
    end_of_rib(&mut h);
    drop_connection(&mut h);
    idle_hold_in_one_turn(&mut h);
    h.session_up_with(vec![gr()]);
    assert!(h.gw.backlog() > HALF / 2, "{} waiting", h.gw.backlog());
    h
}

/// A route on its way out when the peer came back, announced again after
/// its return: it stays (out of the sweep and of the stale set), and the
/// stale count does not move (it was not counted as stale).
#[test]
fn a_leaving_route_announced_again_after_the_return_stays() {
    let fx = Fixture::new();
    let mut h = back_during_the_sweep(&fx);
    let all = prefixes(ROUTES);
    let leaving = (HALF..ROUTES)
        .rev()
        .map(|i| all[i])
        .find(|p| h.gw.rib.selected(p).is_some())
        .expect("most of the swept half is still to go");
    h.announce(&[leaving]);
    assert_eq!(gr_status(&mut h)["stale_routes"], HALF);
    settle_bounded(&mut h);
    let addr = leaving.addr().to_string();
    assert_eq!(h.routed(&addr), Some(vec![0]), "announced again: stays");
    assert_eq!(h.fib_v4(), Some(HALF + 3));
    end_of_rib(&mut h);
    settle_bounded(&mut h);
    assert_eq!(h.routed(&addr), Some(vec![0]), "not stale: stays");
    assert_eq!(h.fib_v4(), Some(3), "the stale half swept");
    assert_eq!(gr_status(&mut h)["stale_routes"], 0);
}

/// A third drop while the routes copied stale at the return are still
/// leaving: the half kept stale goes with them, a map at a time, once the
/// peer stays away.
#[test]
fn a_drop_while_the_copy_overlaps_the_sweep_keeps_the_half_and_the_sweep_goes_on() {
    let fx = Fixture::new();
    let mut h = back_during_the_sweep(&fx);
    let quarter = ROUTES / 4;
    h.announce(&prefixes(quarter));
    drop_connection(&mut h);
    assert_eq!(
        gr_status(&mut h)["stale_routes"],
        quarter,
        "announced since the return"
    );
    settle_bounded(&mut h);
    assert_eq!(h.fib_v4(), Some(quarter + 2));
    assert_eq!(gr_status(&mut h)["stale_routes"], quarter);
    wait(&mut h, Duration::from_secs(121));
    assert_eq!(h.fib_v4(), Some(2));
    assert_eq!(h.gw.backlog(), 0);
}

/// The stale-path timer runs out while the routes copied stale at the
/// return are still leaving, the peer having announced a quarter again:
/// the rest goes, the quarter stays.
#[test]
fn the_stale_path_timer_during_the_overlap_sweeps_all_but_what_came_again() {
    let fx = Fixture::new();
    let mut h = back_during_the_sweep_configured(&fx, "graceful_restart_stale_s = 10");
    let quarter = ROUTES / 4;
    h.announce(&prefixes(quarter));
    // The stale-path timer (10 s) over in one turn, the sweep under way.
    h.now += Duration::from_secs(11);
    h.bfd(0, State::Up);
    h.bfd(1, State::Up);
    h.gw.handle_timeout(h.now);
    assert!(gr_status(&mut h)["phase"].is_null(), "the restart ended");
    settle_bounded(&mut h);
    let all = prefixes(ROUTES);
    assert_eq!(
        h.routed(&all[quarter - 1].addr().to_string()),
        Some(vec![0])
    );
    assert_eq!(h.routed(&all[quarter].addr().to_string()), None);
    assert_eq!(h.fib_v4(), Some(quarter + 2));
    assert_eq!(h.gw.backlog(), 0);
}

/// The tunnel's probe fails while the routes copied stale at the return
/// are still leaving: every route of the peer goes.
#[test]
fn a_tunnel_down_while_the_copy_overlaps_the_sweep_sweeps_every_route() {
    let fx = Fixture::new();
    let mut h = back_during_the_sweep(&fx);
    tunnel_down_sweeps_every_route(&mut h);
}

/// The tunnel carrying the session stops answering (its far side's BFD
/// survives the restart): the restart ends and every route of the peer
/// goes, a map at a time.
fn tunnel_down_sweeps_every_route(h: &mut Harness) {
    h.far_bfd_independent = true;
    h.bfd(0, State::Down);
    assert_eq!(gr_status(h)["phase"], serde_json::Value::Null);
    settle_bounded(h);
    assert_eq!(h.fib_v4(), Some(2));
    assert_eq!(h.gw.backlog(), 0);
}

/// The sweep ends on its own after the return: the stale set is then the
/// half announced before the drop, which the End-of-RIB sweeps.
#[test]
fn the_sweep_ending_after_the_return_leaves_the_stale_set_exact() {
    let fx = Fixture::new();
    let mut h = back_during_the_sweep(&fx);
    settle_bounded(&mut h);
    assert_eq!(h.fib_v4(), Some(HALF + 2));
    assert_eq!(gr_status(&mut h)["stale_routes"], HALF);
    end_of_rib(&mut h);
    settle_bounded(&mut h);
    assert_eq!(h.fib_v4(), Some(2));
    assert_eq!(gr_status(&mut h)["stale_routes"], 0);
    assert_eq!(h.gw.backlog(), 0);
}

/// A peer whose graceful restart lists IPv4 only drops during a sweep:
/// its IPv6 route (a family it does not keep) goes with the sweep, and
/// only the IPv4 half it announced again is kept stale.
#[test]
fn a_drop_during_a_sweep_takes_the_unlisted_family_too() {
    let fx = Fixture::new();
    let caps = vec![Capability::Multiprotocol(Family::IPV6_UNICAST), gr()];
    let mut h = back_with_half_offering(&fx, caps);
    announce_v6(&mut h, "fd00:9::/64".parse().unwrap());
    assert_eq!(h.routed("fd00:9::1"), Some(vec![0]));
    end_of_rib(&mut h);
    drop_connection(&mut h);
    assert_eq!(gr_status(&mut h)["stale_routes"], HALF);
    settle_bounded(&mut h);
    assert_eq!(h.fib_v4(), Some(HALF + 2));
    assert_eq!(h.routed("fd00:9::1"), None, "a family not kept");
    assert_eq!(gr_status(&mut h)["stale_routes"], HALF);
}

/// The tunnel's probe fails while the stale set waits for a sweep:
/// failover beats graceful restart, and every route of the peer goes, a
/// map at a time.
#[test]
fn a_tunnel_down_while_the_stale_set_waits_sweeps_every_route() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    drop_connection(&mut h);
    tunnel_down_sweeps_every_route(&mut h);
}

/// The peer is back before the sweep ended, keeping no family (no
/// Forwarding State bit): every route goes, with no sweep in one step.
#[test]
fn a_peer_back_keeping_nothing_before_the_sweep_ended_loses_every_route() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    drop_connection(&mut h);
    idle_hold_in_one_turn(&mut h);
    let not_kept = Capability::GracefulRestart(GracefulRestart {
        restart_time: 120,
        families: vec![(Family::IPV4_UNICAST, false)],
        ..GracefulRestart::default()
    });
    h.session_up_with(vec![not_kept]);
    settle_bounded(&mut h);
    assert_eq!(h.fib_v4(), Some(2));
    assert_eq!(gr_status(&mut h)["stale_routes"], 0);
}

/// A session reset (a NOTIFICATION: no graceful restart) while a sweep is
/// under way drops the sweep with the table.
#[test]
fn a_reset_during_a_sweep_drops_it_with_the_table() {
    let fx = Fixture::new();
    let mut h = back_with_half(&fx);
    end_of_rib(&mut h);
    let cease = Notification::new(6, 2, Vec::new());
    h.data(wire(&Message::Notification(cease)));
    assert_ne!(h.bgp_state(), "established");
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.fib_v4(), Some(2));
    assert_eq!(h.gw.backlog(), 0);
    assert!(!h.gw.has_work());
}
