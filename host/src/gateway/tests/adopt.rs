//! A checked filter swap records what its dry run found instead of running
//! every stored route through the plugin again (`routing/speaker/adopt.rs`);
//! routes that changed while it ran go through the new filter.

use super::plugins::{chaos, routes_reply, send_swap, slot_status};
use super::*;

/// The AS path `sitelink routes` shows for `prefix` after the filter.
fn as_path(h: &mut Harness, id: u64, prefix: &str) -> serde_json::Value {
    let routes = routes_reply(h, id, prefix);
    routes["routes"][0]["as_path"].clone()
}

/// The peer announces `prefixes` with the path `asns`.
fn announce_path(h: &mut Harness, asns: &[u32], prefixes: &[IpNet]) {
    let conn = h.conn;
    announce_over(h, 0, conn, asns, prefixes);
}

/// The peer over tunnel `tunnel`, connected as `conn`, announces
/// `prefixes` with the path `asns`.
fn announce_over(h: &mut Harness, tunnel: u8, conn: u64, asns: &[u32], prefixes: &[IpNet]) {
    let attrs = PathAttributes {
        as_path: vec![AsSegment {
            kind: SegmentKind::Sequence,
            asns: asns.to_vec(),
        }],
        ..PathAttributes::default()
    };
    let hop = [IpAddr::V4(Ipv4Addr::new(169, 254, 10 + tunnel, 2))];
    let msgs = codec::encode_announcements(&attrs, Family::IPV4_UNICAST, &hop, prefixes, &ctx());
    h.event(Event::Transport(TransportEvent::Data {
        peer: PeerId(usize::from(tunnel)),
        conn,
        bytes: msgs.concat(),
    }));
}

/// Asks for a checked swap to the chaos filter (request 1) and runs
/// `turns` turns of it: the check is then under way.
fn check_under_way(h: &mut Harness, turns: usize) {
    send_swap(h, 1, chaos(Slot::BgpFilter), false, false);
    for _ in 0..turns {
        h.tick(Duration::from_millis(1));
    }
    assert!(!h.gw.jobs.is_empty(), "the check is under way");
}

/// The AS paths `sitelink routes` shows for `prefix`, one per session.
fn paths(h: &mut Harness, id: u64, prefix: &IpNet) -> Vec<serde_json::Value> {
    let routes = routes_reply(h, id, &prefix.to_string());
    routes["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["as_path"].clone())
        .collect()
}

#[test]
fn a_checked_filter_swap_runs_each_stored_route_through_the_plugin_once() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    // For connection "prepend", the chaos filter puts the peer's AS in front.
    let mut h = learned(&fx, "prepend", ROUTES, ROUTE_TURNS);
    send_swap(&mut h, 1, chaos(Slot::BgpFilter), false, false);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let reply = h.reply(RequestId(1));
    assert_eq!(reply["dry_run"], false, "{reply}");
    assert_eq!(reply["changes"]["verdicts_changed"], ROUTES, "{reply}");
    assert_eq!(reply["changes"]["routes_checked"], ROUTES, "{reply}");
    // The check called the candidate about every route; installed, the
    // slot was called only for the export filter, not 20 chunks again.
    let status = slot_status(&mut h, 2, "bgp-filter");
    assert_eq!(status["plugin"], "chaos", "{status}");
    let calls = status["calls"].as_u64().unwrap_or(u64::MAX);
    assert!(calls <= 2, "{calls} calls after the install: {status}");
    let last = prefixes(ROUTES)[ROUTES - 1].to_string();
    for (id, prefix) in [(3, "11.0.0.0/24"), (4, last.as_str())] {
        assert_eq!(
            as_path(&mut h, id, prefix),
            serde_json::json!([PEER_ASN, PEER_ASN, 65010]),
            "{prefix} through the new filter"
        );
    }
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]));
    assert!(h.gw.speaker.filter_backlog() == 0 && !h.gw.has_work());
    assert!(
        !h.gw.speaker.is_tracking(),
        "tracking ends with the adoption"
    );

    // A second checked swap tracks again (the first one's tracking ended).
    send_swap(&mut h, 5, chaos(Slot::BgpFilter), false, false);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let status = slot_status(&mut h, 6, "bgp-filter");
    let calls = status["calls"].as_u64().unwrap_or(u64::MAX);
    assert!(
        calls <= 2,
        "{calls} calls after the second install: {status}"
    );
}

/// Routes the peer changes while the check walks the table: every one of
/// them (those the walk had seen and those it had not) ends up through
/// the new filter with its new path, and a withdrawn one stays gone.
#[test]
fn routes_that_change_during_a_checked_swap_go_through_the_new_filter() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    let mut h = learned(&fx, "prepend", ROUTES, ROUTE_TURNS);
    // Part of the way through the check's walk.
    check_under_way(&mut h, 2);
    let all = prefixes(ROUTES);
    announce_path(&mut h, &[PEER_ASN, 65020], &all[..ROUTES - 100]);
    h.data(codec::encode_withdrawals(Family::IPV4_UNICAST, &all[ROUTES - 100..], &ctx()).concat());
    announce_path(
        &mut h,
        &[PEER_ASN, 65030],
        &["12.0.0.0/24".parse().unwrap()],
    );
    h.settle(Duration::from_millis(1), &[0, 1]);
    let reply = h.reply(RequestId(1));
    assert_eq!(reply["dry_run"], false, "answered: {reply}");
    let status = slot_status(&mut h, 2, "bgp-filter");
    assert_eq!(status["plugin"], "chaos", "{status}");
    for (id, prefix) in all[..ROUTES - 100].iter().enumerate() {
        // Every 997th is enough to cover the table's maps.
        if id % 997 != 0 {
            continue;
        }
        assert_eq!(
            as_path(&mut h, 10 + id as u64, &prefix.to_string()),
            serde_json::json!([PEER_ASN, PEER_ASN, 65020]),
            "{prefix}: its new path, through the new filter"
        );
    }
    assert_eq!(
        as_path(&mut h, 3, "12.0.0.0/24"),
        serde_json::json!([PEER_ASN, PEER_ASN, 65030])
    );
    let withdrawn = all[ROUTES - 1].addr().to_string();
    assert_eq!(h.routed(&withdrawn), None, "withdrawn during the check");
    assert_eq!(
        routes_reply(&mut h, 4, &all[ROUTES - 1].to_string())["routes"],
        serde_json::json!([])
    );
    assert_eq!(h.bgp_state(), "established");
}

/// The peer over tunnel 1 (the harness plays tunnel 0's) connects and
/// announces `prefixes` (path 65000 65010); its connection id.
fn second_session(h: &mut Harness, prefixes: &[IpNet]) -> u64 {
    let conn = h.conn + 1_000;
    h.event(Event::Transport(TransportEvent::Connected {
        peer: PeerId(1),
        conn,
    }));
    let open = Open {
        asn: PEER_ASN,
        hold_time: 90,
        router_id: Ipv4Addr::new(10, 255, 0, 3),
        capabilities: vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(PEER_ASN),
        ],
    };
    let mut bytes = wire(&Message::Open(open));
    bytes.extend(wire(&Message::Keepalive));
    h.event(Event::Transport(TransportEvent::Data {
        peer: PeerId(1),
        conn,
        bytes,
    }));
    announce_over(h, 1, conn, &[PEER_ASN, 65010], prefixes);
    h.settle(Duration::from_millis(1), &[0, 1]);
    conn
}

/// A table learned over both tunnels, swapped to a filter that changes
/// every route over both alike: each prefix's two routes are recorded
/// together, so it is selected once and its traffic never moves (selected
/// after each session's change, every prefix went over one tunnel, then
/// back over both).
#[test]
fn a_checked_swap_that_changes_both_sessions_alike_moves_no_traffic() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    let mut h = learned(&fx, "prepend", ROUTES, ROUTE_TURNS);
    second_session(&mut h, &prefixes(ROUTES));
    let last = prefixes(ROUTES)[ROUTES - 1].addr().to_string();
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0, 1]), "over both tunnels");
    send_swap(&mut h, 1, chaos(Slot::BgpFilter), false, false);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let reply = h.reply(RequestId(1));
    assert_eq!(reply["dry_run"], false, "{reply}");
    assert_eq!(reply["changes"]["verdicts_changed"], 2 * ROUTES, "{reply}");
    assert_eq!(reply["changes"]["routes_checked"], 2 * ROUTES, "{reply}");
    assert_eq!(
        reply["changes"]["routes_changed"], 0,
        "no prefix moved, even for a while: {}",
        reply["changes"]["routes"]
    );
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0, 1]));
    assert_eq!(h.routed(&last), Some(vec![0, 1]));
    assert_eq!(
        as_path(&mut h, 2, "11.0.0.0/24"),
        serde_json::json!([PEER_ASN, PEER_ASN, 65010])
    );
}

/// Over two sessions, routes that change while the check walks: those the
/// second session re-announces (decided during the first session's walk,
/// before they changed) and those the first withdraws (so the second's walk
/// meets them itself). Each session's routes end up through the new filter.
#[test]
fn routes_of_either_session_that_change_during_a_checked_swap_are_filtered_again() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    let mut h = learned(&fx, "prepend", ROUTES, ROUTE_TURNS);
    let conn = second_session(&mut h, &prefixes(ROUTES));
    check_under_way(&mut h, 2);
    let all = prefixes(ROUTES);
    // The second session re-announces every route with another path; the
    // first withdraws its last 1,000.
    announce_over(&mut h, 1, conn, &[PEER_ASN, 65020], &all);
    h.data(codec::encode_withdrawals(Family::IPV4_UNICAST, &all[ROUTES - 1000..], &ctx()).concat());
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.reply(RequestId(1))["dry_run"], false);
    let second = serde_json::json!([PEER_ASN, PEER_ASN, 65020]);
    let first = serde_json::json!([PEER_ASN, PEER_ASN, 65010]);
    for (i, prefix) in all.iter().enumerate().step_by(997) {
        let paths = paths(&mut h, 10 + i as u64, prefix);
        match i < ROUTES - 1000 {
            true => assert!(
                paths.contains(&first) && paths.contains(&second),
                "{prefix}: {paths:?}"
            ),
            false => assert_eq!(paths, std::slice::from_ref(&second), "{prefix}"),
        }
    }
}

/// A prefix the first session announces again after its walk passed it
/// (it had withdrawn it before the swap), while the second session held it
/// all along: the second session's walk still decides its route, since the
/// first one's walk never met the prefix.
#[test]
fn a_prefix_back_on_the_first_session_after_its_walk_is_still_decided_for_the_second() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    let mut h = learned(&fx, "prepend", ROUTES, ROUTE_TURNS);
    second_session(&mut h, &prefixes(ROUTES));
    let all = prefixes(ROUTES);
    let back = &all[..1000];
    h.data(codec::encode_withdrawals(Family::IPV4_UNICAST, back, &ctx()).concat());
    h.settle(Duration::from_millis(1), &[0, 1]);
    // Until the first session's walk is over (the second one's begins).
    check_under_way(&mut h, 1);
    let walked = |h: &Harness| {
        h.gw.jobs.iter().find_map(|j| match j {
            crate::gateway::admin::Job::DryFilter { run, .. } => Some(run.sessions_walked()),
            _ => None,
        })
    };
    while walked(&h) == Some(0) {
        h.tick(Duration::from_millis(1));
    }
    assert_eq!(walked(&h), Some(1), "the check is on the second session");
    h.announce(back);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.reply(RequestId(1))["dry_run"], false);
    let prepended = serde_json::json!([PEER_ASN, PEER_ASN, 65010]);
    for (i, prefix) in back.iter().enumerate() {
        let paths = paths(&mut h, 10 + i as u64, prefix);
        assert_eq!(paths, [prepended.clone(), prepended.clone()], "{prefix}");
    }
}

/// A check that faults lets go of the tracking, so the next swap adopts.
#[test]
fn a_check_that_faults_lets_go_of_the_tracking() {
    let fx = Fixture::new();
    // The chaos plugin traps on every call for a peer of connection "trap".
    let mut h = learned(&fx, "trap", 10, Budget::DEFAULT);
    send_swap(&mut h, 1, chaos(Slot::BgpFilter), false, false);
    assert!(h.gw.speaker.is_tracking(), "the check tracks");
    h.settle(Duration::from_millis(1), &[0, 1]);
    let reply = h.reply(RequestId(1));
    assert!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("swap refused")),
        "{reply}"
    );
    assert!(!h.gw.speaker.is_tracking(), "released by the refusal");
}

/// Every route goes through the slot again (here the plugin is removed)
/// while a swap's results are being recorded: the rest of them are
/// dropped, not recorded over the default filter's, and freed over turns.
#[test]
fn a_removal_during_the_adoption_leaves_the_default_filters_results() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    let mut h = learned(&fx, "prepend", ROUTES, ROUTE_TURNS);
    send_swap(&mut h, 1, chaos(Slot::BgpFilter), false, false);
    let adopting = |h: &Harness| {
        h.gw.jobs
            .iter()
            .any(|j| matches!(j, crate::gateway::admin::Job::Apply { .. }))
    };
    for turn in 0.. {
        if adopting(&h) {
            break;
        }
        assert!(turn < 1000, "never installed");
        h.tick(Duration::from_millis(1));
    }
    assert!(
        h.gw.speaker.filter_backlog() > 0,
        "the adoption is under way"
    );
    h.event(Event::Admin {
        id: RequestId(2),
        command: AdminCommand::PluginRemove {
            slot: Slot::BgpFilter,
        },
    });
    assert!(!h.gw.speaker.is_tracking(), "the adoption is abandoned");
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert!(h.gw.retired.is_empty(), "what it left is freed");
    let received = serde_json::json!([PEER_ASN, 65010]);
    for (i, prefix) in prefixes(ROUTES).iter().enumerate().step_by(997) {
        assert_eq!(
            paths(&mut h, 10 + i as u64, prefix),
            std::slice::from_ref(&received),
            "{prefix}"
        );
    }
}
