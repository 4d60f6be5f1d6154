//! The core's plugin requests with a fake clock: safe swaps, quarantine,
//! dry runs, shadow mode (the chaos test plugin misbehaves as its peer's
//! connection name asks).

use super::*;

pub(super) fn chaos(slot: Slot) -> Plugin {
    chaos_with(slot, &[])
}

/// The chaos plugin with parameters.
fn chaos_with(slot: Slot, params: &[(&str, &str)]) -> Plugin {
    let dir = std::env::temp_dir().join(format!("sitelink-core-cache-{}", std::process::id()));
    let engine = PolicyEngine::new(EngineSettings {
        deadline: Duration::from_secs(5),
        memory_limit_bytes: 64 << 20,
        max_faults: 3,
        cache_dir: Some(dir),
    })
    .unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy/testdata/chaos.wasm");
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    engine.load(slot, &path, params).unwrap()
}

/// The `plugin-list` entry of `slot`.
pub(super) fn slot_status(h: &mut Harness, id: u64, slot: &str) -> serde_json::Value {
    h.event(Event::Admin {
        id: RequestId(id),
        command: AdminCommand::PluginList,
    });
    let list = h.reply(RequestId(id));
    list["slots"]
        .as_array()
        .and_then(|slots| slots.iter().find(|s| s["slot"] == slot))
        .cloned()
        .unwrap_or_else(|| panic!("no {slot} slot in {list}"))
}

#[test]
fn a_selection_plugin_that_installs_lone_candidates_is_asked_only_about_the_others() {
    let fx = Fixture::new();
    // Every prefix has one candidate, over connection "trap": the chaos
    // selection traps on any call about them.
    let mut h = learned(&fx, "trap", 1000, Budget::DEFAULT);
    let lone = chaos_with(Slot::RouteSelection, &[("lone", "install")]);
    assert!(lone.info().installs_lone_candidate);
    let reply = swap(&mut h, 1, lone, false);
    assert_eq!(reply["dry_run"], false, "never asked, so no fault: {reply}");
    h.announce(&["12.0.0.0/24".parse().unwrap()]);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("11.0.3.1"), Some(vec![0]));
    assert_eq!(
        h.routed("12.0.0.1"),
        Some(vec![0]),
        "a new route, installed"
    );
    let status = slot_status(&mut h, 2, "route-selection");
    assert_eq!(status["plugin"], "chaos", "{status}");
    assert_eq!(
        (status["calls"].as_u64(), status["faults"].as_u64()),
        (Some(0), Some(0)),
        "{status}"
    );
    assert_eq!(status["installs_lone_candidate"], true, "{status}");

    // A shadow that does not say so is compared on every prefix, so both
    // are asked again: the slot no longer skips lone candidates.
    h.event(Event::Admin {
        id: RequestId(10),
        command: AdminCommand::PluginShadow {
            plugin: Box::new(chaos(Slot::RouteSelection)),
        },
    });
    h.settle(Duration::from_millis(1), &[0, 1]);
    let status = slot_status(&mut h, 11, "route-selection");
    assert_eq!(status["installs_lone_candidate"], false, "{status}");
    h.event(Event::Admin {
        id: RequestId(12),
        command: AdminCommand::PluginUnshadow {
            slot: Slot::RouteSelection,
        },
    });
    let status = slot_status(&mut h, 13, "route-selection");
    assert_eq!(status["installs_lone_candidate"], true, "{status}");

    // A plugin that does not say so is asked about every prefix (and traps).
    let asked = chaos(Slot::RouteSelection);
    assert!(!asked.info().installs_lone_candidate);
    let reply = swap(&mut h, 3, asked, false);
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("swap refused, nothing changed"),
        "{reply}"
    );
}

/// The `routes` reply for `prefix` (and the prefixes that hold it), asked
/// as request `id`.
pub(super) fn routes_reply(h: &mut Harness, id: u64, prefix: &str) -> serde_json::Value {
    h.event(Event::Admin {
        id: RequestId(id),
        command: AdminCommand::Routes(crate::routing::view::RoutesQuery {
            prefix: Some(prefix.parse().expect("a prefix")),
            connection: None,
            limit: None,
        }),
    });
    h.reply(RequestId(id))
}

/// Route changes in prefix order (their order in an answer is no promise).
fn sorted(changes: &serde_json::Value) -> Vec<String> {
    let mut list: Vec<String> = changes
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c.to_string())
        .collect();
    list.sort();
    list
}

fn swap(h: &mut Harness, id: u64, plugin: Plugin, dry_run: bool) -> serde_json::Value {
    swap_with(h, id, plugin, dry_run, false)
}

/// A swap (`force`: installed even if it faults on the stored state),
/// settled, and its answer.
pub(super) fn swap_with(
    h: &mut Harness,
    id: u64,
    plugin: Plugin,
    dry_run: bool,
    force: bool,
) -> serde_json::Value {
    send_swap(h, id, plugin, dry_run, force);
    h.settle(Duration::from_millis(1), &[0, 1]);
    h.reply(RequestId(id))
}

/// Asks for a swap (`force`: installed even if it faults on the stored
/// state), answered later.
pub(super) fn send_swap(h: &mut Harness, id: u64, plugin: Plugin, dry_run: bool, force: bool) {
    h.event(Event::Admin {
        id: RequestId(id),
        command: AdminCommand::PluginSwap {
            plugin: Box::new(plugin),
            dry_run,
            force,
            received: h.now,
        },
    });
}

#[test]
fn a_filter_swap_over_200k_routes_stays_in_budget_and_matches_its_dry_run() {
    const ROUTES: usize = 200_000;
    let budget = ROUTE_TURNS;
    let fx = Fixture::new();
    // The chaos plugin rejects every route of a connection named "reject".
    let mut h = learned(&fx, "reject", ROUTES, budget);
    assert_eq!(h.fib_v4(), Some(ROUTES + 2));
    h.max_turn = 0;
    let dry = swap(&mut h, 1, chaos(Slot::BgpFilter), true);
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(
        dry["changes"]["routes_changed"], ROUTES,
        "{}",
        dry["changes"]["routes_changed"]
    );
    assert_eq!(
        h.routed("11.0.0.1"),
        Some(vec![0]),
        "a dry run changes nothing"
    );
    let live = swap(&mut h, 2, chaos(Slot::BgpFilter), false);
    assert_eq!(live["dry_run"], false, "{live}");
    assert_eq!(live["changes"]["routes_changed"], ROUTES);
    assert!(
        sorted(&live["changes"]["routes"]) == sorted(&dry["changes"]["routes"]),
        "the swap did what its dry run said"
    );
    assert_eq!(h.routed("11.0.0.1"), None, "every route rejected");
    // Each turn did at most its budget (and one chunk beyond), the probes
    // never went down, and the session was never reset.
    assert!(
        h.max_turn <= budget.routes + 1024,
        "a turn did {} routes",
        h.max_turn
    );
    assert!(
        !h.liveness.iter().any(|(_, s)| *s == State::Down),
        "{:?}",
        h.liveness
    );
    assert_eq!(h.bgp_state(), "established");
}

/// A route-selection swap over 200,000 learned routes: the dry run counts
/// each prefix once, and the swap queues the table a map of the
/// Adj-RIB-In at a time (no turn lists every prefix), within each turn's
/// budget, and does what its dry run said.
#[test]
fn a_selection_swap_over_200k_routes_walks_the_table_and_matches_its_dry_run() {
    const ROUTES: usize = 200_000;
    let budget = ROUTE_TURNS;
    let fx = Fixture::new();
    // The chaos selection installs nothing for a connection named "refuse"
    // (the default one installed every lone candidate).
    let mut h = learned(&fx, "refuse", ROUTES, budget);
    h.max_turn = 0;
    let dry = swap(&mut h, 1, chaos(Slot::RouteSelection), true);
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(
        dry["changes"]["routes_changed"], ROUTES,
        "each prefix counted once"
    );
    assert_eq!(
        h.routed("11.0.0.1"),
        Some(vec![0]),
        "a dry run changes nothing"
    );
    send_swap(&mut h, 2, chaos(Slot::RouteSelection), false, true);
    assert!(
        h.gw.rib.pending() <= 1024,
        "the swap listed {} prefixes at once",
        h.gw.rib.pending()
    );
    // A second swap before the first is done walks the table again from
    // the start, once: no second walk queued beside the first.
    send_swap(&mut h, 3, chaos(Slot::RouteSelection), false, true);
    assert!(
        h.gw.backlog() <= ROUTES + 1024,
        "{} prefixes to select again",
        h.gw.backlog()
    );
    let longest = h.settle_watching_queue(h.now);
    assert!(
        longest <= chunk_and_map(ROUTES),
        "{longest} prefixes queued at once"
    );
    let live = h.reply(RequestId(2));
    assert_eq!(live["dry_run"], false, "{live}");
    assert_eq!(live["changes"]["routes_changed"], ROUTES);
    assert_eq!(h.reply(RequestId(3))["dry_run"], false);
    assert!(
        sorted(&live["changes"]["routes"]) == sorted(&dry["changes"]["routes"]),
        "the swap did what its dry run said"
    );
    assert_eq!(h.routed("11.0.0.1"), None, "nothing installed");
    let last = prefixes(ROUTES)[ROUTES - 1].addr().to_string();
    assert_eq!(h.routed(&last), None, "nothing installed");
    assert!(
        h.max_turn <= budget.routes + 1024,
        "a turn did {} routes",
        h.max_turn
    );
    assert_eq!(h.bgp_state(), "established");
}

/// A swap is answered once its changes are in the forwarding table in
/// force, not when the selection is done: the last writes of a large
/// change wait for their snapshot (`SMALL_CHANGE_GAP` after them).
#[test]
fn a_swap_is_answered_when_its_changes_are_in_force() {
    const ROUTES: usize = 20_000;
    let fx = Fixture::new();
    let mut h = learned(&fx, "refuse", ROUTES, ROUTE_TURNS);
    assert_eq!(h.fib_v4(), Some(ROUTES + 2));
    send_swap(&mut h, 1, chaos(Slot::RouteSelection), false, true);
    let answered = |h: &Harness| h.replies.iter().any(|(id, _)| *id == RequestId(1));
    for turn in 0.. {
        h.tick(Duration::from_millis(1));
        if answered(&h) {
            break;
        }
        assert!(turn < 10_000, "never answered");
    }
    assert!(!h.gw.publish_pending(), "answered before its snapshot");
    assert_eq!(h.fib_v4(), Some(2), "the answer's changes are in force");
    assert_eq!(h.reply(RequestId(1))["changes"]["routes_changed"], ROUTES);
}

#[test]
fn a_swap_that_faults_on_the_stored_routes_is_refused_unless_forced() {
    let fx = Fixture::new();
    // The chaos plugin traps on every call for a peer of connection "trap".
    let mut h = learned(&fx, "trap", 10, Budget::DEFAULT);
    let reply = swap(&mut h, 1, chaos(Slot::BgpFilter), false);
    let error = reply["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.starts_with("swap refused, nothing changed"),
        "{reply}"
    );
    assert!(
        error.contains("first on 11.0.") && error.contains("over tunnel 169.254.10.0/30"),
        "names the first failing route: {error}"
    );
    assert!(error.contains("--force"), "{error}");
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]), "nothing changed");
    let id = RequestId(2);
    h.event(Event::Admin {
        id,
        command: AdminCommand::PluginList,
    });
    let list = h.reply(id);
    assert_eq!(list["slots"][0]["plugin"], "built-in default", "{list}");

    // Forced: installed; what it faults on is not accepted (fail closed).
    let reply = swap_with(&mut h, 3, chaos(Slot::BgpFilter), false, true);
    assert_eq!(reply["dry_run"], false, "{reply}");
    h.bfd(0, State::Up);
    h.bfd(1, State::Up);
    h.tick(Duration::from_millis(300));
    assert_eq!(h.routed("11.0.0.1"), None, "fail closed");
    // `routes` tells a fault's rejection from the filter's own.
    let routes = routes_reply(&mut h, 30, "11.0.0.0/24");
    assert_eq!(routes["routes"][0]["accepted"], false, "{routes}");
    assert_eq!(routes["routes"][0]["rejected_by_fault"], true, "{routes}");
    // More faults quarantine it: the native default takes over, and the
    // stored routes are accepted again.
    for i in 0..3 {
        h.announce(&[format!("12.0.{i}.0/24").parse().unwrap()]);
        h.settle(Duration::from_millis(1), &[0, 1]);
    }
    h.bfd(0, State::Up);
    h.bfd(1, State::Up);
    h.tick(Duration::from_millis(300));
    let id = RequestId(4);
    h.event(Event::Admin {
        id,
        command: AdminCommand::PluginList,
    });
    let list = h.reply(id);
    assert_eq!(list["slots"][0]["quarantined"], true, "{list}");
    assert_eq!(
        h.routed("11.0.0.1"),
        Some(vec![0]),
        "the default accepts what the quarantined plugin failed on"
    );
    assert_eq!(h.routed("12.0.2.1"), Some(vec![0]));
}

#[test]
fn a_shadow_sees_live_routes_differently_and_is_promoted() {
    let fx = Fixture::new();
    // For connection "prepend", the chaos filter puts the peer's AS in front.
    let mut h = learned_within(&fx, "prepend", 10, 100, Budget::DEFAULT);
    let ask = |h: &mut Harness, id: u64, command: AdminCommand| {
        h.event(Event::Admin {
            id: RequestId(id),
            command,
        });
        h.settle(Duration::from_millis(1), &[0, 1]);
        h.reply(RequestId(id))
    };
    let none = ask(
        &mut h,
        1,
        AdminCommand::PluginDiff {
            slot: Slot::BgpFilter,
        },
    );
    assert!(
        none["error"]
            .as_str()
            .is_some_and(|e| e.contains("plugin shadow bgp-filter")),
        "{none}"
    );
    let started = ask(
        &mut h,
        2,
        AdminCommand::PluginShadow {
            plugin: Box::new(chaos(Slot::BgpFilter)),
        },
    );
    assert_eq!(started["plugin"], "chaos 0.0.1", "{started}");
    // Live events: three new routes go through both filters.
    h.announce(&prefixes(13)[10..]);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let diff = ask(
        &mut h,
        3,
        AdminCommand::PluginDiff {
            slot: Slot::BgpFilter,
        },
    );
    assert_eq!(diff["compared"], 3, "{diff}");
    assert_eq!(diff["differed"], 3, "{diff}");
    let example = diff["examples"][0].as_str().unwrap_or_default().to_string();
    assert!(
        example.starts_with("import 11.0.1")
            && example.contains(
                "active accept, shadow modify (as_path: [65000, 65010] -> [65000, 65000, 65010])"
            ),
        "{example}"
    );
    // Past the examples kept, differences are counted, not kept.
    h.announce(&prefixes(53)[13..]);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let diff = ask(
        &mut h,
        30,
        AdminCommand::PluginDiff {
            slot: Slot::BgpFilter,
        },
    );
    assert_eq!(diff["compared"], 43, "{diff}");
    assert_eq!(diff["differed"], 43, "{diff}");
    assert_eq!(
        diff["examples"].as_array().map(Vec::len),
        Some(crate::policy::shadow::EXAMPLES),
        "{diff}"
    );
    // Nothing acted on it: the learned path is as received.
    let routes = ask(
        &mut h,
        4,
        AdminCommand::Routes(crate::routing::view::RoutesQuery {
            prefix: Some("11.0.0.0/24".parse().unwrap()),
            connection: None,
            limit: None,
        }),
    );
    assert_eq!(
        routes["routes"][0]["as_path"],
        serde_json::json!([65000, 65010])
    );
    // Promoted: the stored routes go through it.
    let promoted = ask(
        &mut h,
        5,
        AdminCommand::PluginPromote {
            slot: Slot::BgpFilter,
        },
    );
    assert_eq!(promoted["plugin"], "chaos 0.0.1", "{promoted}");
    let routes = ask(
        &mut h,
        6,
        AdminCommand::Routes(crate::routing::view::RoutesQuery {
            prefix: Some("11.0.0.0/24".parse().unwrap()),
            connection: None,
            limit: None,
        }),
    );
    assert_eq!(
        routes["routes"][0]["as_path"],
        serde_json::json!([65000, 65000, 65010]),
        "{routes}"
    );
    let gone = ask(
        &mut h,
        7,
        AdminCommand::PluginUnshadow {
            slot: Slot::BgpFilter,
        },
    );
    assert!(
        gone["error"].is_string(),
        "the promoted shadow is no shadow: {gone}"
    );
}

#[test]
fn a_filter_dry_run_lists_verdict_and_attribute_changes() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "prepend", 3, Budget::DEFAULT);
    let dry = swap(&mut h, 1, chaos(Slot::BgpFilter), true);
    let changes = &dry["changes"];
    assert_eq!(changes["verdicts_changed"], 3, "{dry}");
    assert_eq!(
        changes["verdicts"][0],
        "11.0.0.0/24 over 169.254.10.0/30: accept -> modify (as_path: [65000, 65010] -> [65000, 65000, 65010])",
        "{dry}"
    );
    // The FIB does not change (same next hop): only the verdicts say so.
    assert_eq!(changes["routes_changed"], 0, "{dry}");
    // The swap answers with the verdicts its check found.
    let done = swap(&mut h, 2, chaos(Slot::BgpFilter), false);
    assert_eq!(done["changes"]["verdicts"], changes["verdicts"], "{done}");
}

/// A filter dry run's scratch state (the overlay of what the candidate
/// would change) is not freed in the turn that answers: one of a swap that
/// rewrote two million routes took 837 ms to free. It goes a shard per
/// turn after the answer, and the gateway keeps turning until it is gone.
#[test]
fn a_filter_dry_run_frees_its_overlay_over_turns() {
    const ROUTES: usize = 5_000;
    let fx = Fixture::new();
    let mut h = learned(&fx, "prepend", ROUTES, Budget::DEFAULT);
    send_swap(&mut h, 1, chaos(Slot::BgpFilter), true, false);
    for turn in 0.. {
        if h.replies.iter().any(|(id, _)| *id == RequestId(1)) {
            break;
        }
        assert!(turn < 10_000, "never answered");
        h.tick(Duration::from_millis(1));
    }
    let dry = h.reply(RequestId(1));
    assert_eq!(dry["changes"]["verdicts_changed"], ROUTES, "{dry}");
    assert_eq!(h.gw.retired.len(), 1, "kept to be freed after the answer");
    assert!(h.gw.has_work(), "the gateway turns on to free it");
    let mut turns = 0;
    while !h.gw.retired.is_empty() {
        h.tick(Duration::from_millis(1));
        turns += 1;
        assert!(turns <= 64, "a shard per turn, 64 shards");
    }
    assert!(turns > 1, "freed over several turns, not at once");
}

/// UPDATEs that arrive in one read cross the import filter together, and
/// one that names a prefix already waiting in that batch is applied after
/// the batch is recorded: what is accepted is what the last UPDATE said,
/// through the filter.
#[test]
fn updates_read_together_are_filtered_together_and_in_order() {
    let fx = Fixture::new();
    // For connection "prepend", the chaos filter puts the peer's AS in front.
    let mut h = learned(&fx, "prepend", 3, Budget::DEFAULT);
    let swapped = swap(&mut h, 1, chaos(Slot::BgpFilter), false);
    assert_eq!(swapped["dry_run"], false, "{swapped}");
    let path = |asns: Vec<u32>| PathAttributes {
        as_path: vec![AsSegment {
            kind: SegmentKind::Sequence,
            asns,
        }],
        ..PathAttributes::default()
    };
    let net = |s: &str| -> IpNet { s.parse().unwrap() };
    let hop = [IpAddr::V4(Ipv4Addr::new(169, 254, 10, 2))];
    let announce = |attrs: &PathAttributes, nets: &[IpNet]| {
        codec::encode_announcements(attrs, Family::IPV4_UNICAST, &hop, nets, &ctx())
    };
    let mut read: Vec<u8> = Vec::new();
    for msg in announce(
        &path(vec![PEER_ASN, 65010]),
        &[net("12.0.0.0/24"), net("12.0.1.0/24")],
    )
    .into_iter()
    .chain(codec::encode_withdrawals(
        Family::IPV4_UNICAST,
        &[net("12.0.0.0/24"), net("11.0.0.0/24")],
        &ctx(),
    ))
    .chain(announce(
        &path(vec![PEER_ASN, 65020]),
        &[net("12.0.1.0/24"), net("12.0.2.0/24")],
    )) {
        read.extend(msg);
    }
    h.data(read);
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("12.0.0.1"), None, "announced, then withdrawn");
    assert_eq!(h.routed("11.0.0.1"), None, "withdrawn");
    assert_eq!(h.routed("12.0.1.1"), Some(vec![0]));
    assert_eq!(h.routed("12.0.2.1"), Some(vec![0]));
    let routes = routes_reply(&mut h, 2, "12.0.1.0/24");
    assert_eq!(
        routes["routes"][0]["as_path"],
        serde_json::json!([PEER_ASN, PEER_ASN, 65020]),
        "the second UPDATE's path, through the filter: {routes}"
    );
}

/// A session that goes down and comes back while a filter swap walks its
/// routes (the dry run's walk, then the refilter's): the swap is answered,
/// and every route the peer sends again goes through the new filter.
#[test]
fn a_session_that_bounces_during_a_filter_swap_leaves_the_swap_whole() {
    const ROUTES: usize = 100_000;
    let budget = ROUTE_TURNS;
    let fx = Fixture::new();
    // The chaos plugin rejects every route of a connection named "reject".
    let mut h = learned(&fx, "reject", ROUTES, budget);
    for (id, dry_run) in [(21, true), (22, false)] {
        h.event(Event::Admin {
            id: RequestId(id),
            command: AdminCommand::PluginSwap {
                plugin: Box::new(chaos(Slot::BgpFilter)),
                dry_run,
                force: false,
                received: h.now,
            },
        });
        // Part of the way through the walk, the session bounces.
        for _ in 0..3 {
            h.tick(Duration::from_millis(1));
        }
        assert!(!h.gw.jobs.is_empty(), "the swap is still under way");
        h.event(Event::Transport(TransportEvent::Closed {
            peer: PeerId(0),
            conn: h.conn,
        }));
        // It comes back after its idle hold.
        h.idle_with_probes_up(30);
        h.session_up();
        h.announce(&prefixes(ROUTES));
        h.settle(Duration::from_millis(1), &[0, 1]);
        let reply = h.reply(RequestId(id));
        assert_eq!(reply["dry_run"], dry_run, "answered: {reply}");
    }
    assert_eq!(h.routed("11.0.0.1"), None, "the new filter rejects them");
    let last = prefixes(ROUTES)[ROUTES - 1].addr().to_string();
    assert_eq!(h.routed(&last), None, "the new filter rejects them");
    assert_eq!(h.bgp_state(), "established");
}

/// A quarantined filter hands the exports to the native default too: a
/// session that comes up after the quarantine gets our networks (it used
/// to get nothing, not even End-of-RIB).
#[test]
fn after_a_filter_is_quarantined_a_new_session_gets_our_networks() {
    let fx = Fixture::new();
    // The chaos plugin traps on every call for a peer of connection "trap".
    let mut h = learned(&fx, "trap", 10, Budget::DEFAULT);
    swap_with(&mut h, 1, chaos(Slot::BgpFilter), false, true);
    for i in 0..3 {
        h.announce(&[format!("12.0.{i}.0/24").parse().unwrap()]);
        h.settle(Duration::from_millis(1), &[0, 1]);
    }
    let id = RequestId(2);
    h.event(Event::Admin {
        id,
        command: AdminCommand::PluginList,
    });
    let list = h.reply(id);
    assert_eq!(list["slots"][0]["quarantined"], true, "{list}");
    // The session drops (a broken marker) and comes back after its idle hold.
    let mut bad = wire(&Message::Keepalive);
    bad[0] = 0;
    h.data(bad);
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    h.idle_with_probes_up(100);
    h.writes.clear();
    h.session_up();
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert!(
        h.announced("10.2.0.0/24"),
        "our network is advertised after the quarantine"
    );
}
