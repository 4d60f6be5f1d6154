//! Routing policy on topology 2 (dynamic) of ARCHITECTURE.md, end to end: the
//! VGW's max-prefix limit (AWS: at most 100 routes from a customer gateway)
//! with its two actions, "close" (Cease NOTIFICATION "maximum number of
//! prefixes reached", session down) and "drop" (session kept, excess routes
//! ignored), and a BGP filter plugin swapped at run time on the VGW
//! (`examples/plugins/bogon-filter`), which changes the route table with no
//! session reset; a filter whose first call faults (`plugins/faults/
//! flaky-filter`), whose refused routes come back when they are filtered
//! again a second later.
//!
//! Needs the binary (`cargo build -p sitelink`) and, for the swap, the
//! plugins (`scripts/build-plugins.sh`). Run with `--nocapture
//! --test-threads=1` to see the numbers.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::gateway::toml_strings;
use sitelink_lab::measure::ping_ok;
use sitelink_lab::plugins::{self, plugin};
use sitelink_lab::routing::ESTABLISHED;
use sitelink_lab::topology::{
    CGW_ASN, SITE_A_NET_V4, SITE_A_NET_V6, SITE_A_V4, SITE_A_V6, SITE_B_NET_V4, TUNNEL_1, TUNNEL_2,
    VGW_ASN,
};
use sitelink_lab::{Gw, SiteLab, SiteOptions, Topology};
use std::thread;
use std::time::{Duration, Instant};

const BOTH: [&str; 2] = [TUNNEL_1, TUNNEL_2];

/// The example's two networks and five more: seven prefixes.
const SEVEN: [&str; 7] = [
    SITE_A_NET_V4,
    SITE_A_NET_V6,
    "10.1.1.0/24",
    "10.1.2.0/24",
    "10.1.3.0/24",
    "10.1.4.0/24",
    "10.1.5.0/24",
];

/// The CGW advertises [`SEVEN`]; the VGW takes at most 3, with `action`.
fn over_the_limit(action: &str) -> SiteOptions {
    SiteOptions::default()
        .set(Gw::Cgw, "bgp", "networks", toml_strings(&SEVEN))
        .set(Gw::Vgw, "connection.bgp", "max_prefixes", "3")
        .set(
            Gw::Vgw,
            "connection.bgp",
            "max_prefixes_action",
            format!("{action:?}"),
        )
}

fn start(test: &str, opts: SiteOptions) -> SiteLab {
    let lab = SiteLab::start_with(Topology::Dynamic, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    let up = lab
        .wait_all_tunnels_up(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] both gateways report all tunnels up after {up:?}");
    lab
}

#[test]
fn max_prefixes_close_sends_cease_and_drops_the_session() {
    let _wd = Watchdog::arm("max_prefixes close", Duration::from_secs(120));
    let test = "maxpfx-close";
    let lab = start(test, over_the_limit("close"));
    let closed = |gw: Gw, t: &str, want: &[&str]| {
        lab.bgp(gw).is_ok_and(|b| {
            b.last_error(t)
                .map(str::to_lowercase)
                .is_some_and(|e| want.iter().all(|w| e.contains(w)))
        })
    };
    let took = lab
        .wait_until(
            "both sessions to be closed for maximum prefixes, as both sides tell",
            Duration::from_secs(20),
            || {
                BOTH.iter().all(|t| {
                    closed(Gw::Vgw, t, &["maximum", "prefix"])
                        && closed(Gw::Cgw, t, &["maximum number of prefixes reached"])
                })
            },
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let (vgw, cgw) = (
        lab.bgp(Gw::Vgw).expect("bgp"),
        lab.bgp(Gw::Cgw).expect("bgp"),
    );
    println!("[{test}] closed within {took:?} of the tunnels being up");
    println!("[{test}] vgw {}", vgw.summary());
    println!("[{test}] cgw {}", cgw.summary());
    for t in BOTH {
        println!(
            "[{test}] over {t}: vgw last_error {:?}; cgw last_error {:?}",
            vgw.last_error(t),
            cgw.last_error(t)
        );
    }
    // The VGW retries only after max_prefixes_restart_s (30 s): the sessions
    // stay down meanwhile, and none of the offending routes is used.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        let b = lab.bgp(Gw::Vgw).expect("bgp");
        for t in BOTH {
            assert_ne!(
                b.state(t),
                Some(ESTABLISHED),
                "{test}: the session over {t} is established again {:?} after the close: {}",
                watch.elapsed(),
                b.summary()
            );
        }
        let r = lab.routes(Gw::Vgw).expect("routes");
        for prefix in SEVEN {
            assert!(
                r.selected(prefix).is_empty(),
                "{test}: the vgw still routes {prefix} after closing the session: {}",
                r.summary()
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn max_prefixes_drop_keeps_the_session_and_the_first_routes() {
    let _wd = Watchdog::arm("max_prefixes drop", Duration::from_secs(120));
    let test = "maxpfx-drop";
    let lab = start(test, over_the_limit("drop"));
    let counts = |t: &str| {
        lab.bgp(Gw::Vgw).ok().map(|b| {
            (
                b.peer_u64(t, "prefixes_received"),
                b.peer_u64(t, "prefixes_accepted"),
            )
        })
    };
    let took = lab
        .wait_until(
            "the vgw to have received 7 and accepted 3 prefixes on both sessions",
            Duration::from_secs(20),
            || BOTH.iter().all(|t| counts(t) == Some((Some(7), Some(3)))),
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] 7 received / 3 accepted on both sessions after {took:?}");
    thread::sleep(Duration::from_secs(3));
    let b = lab.bgp(Gw::Vgw).expect("bgp");
    let r = lab.routes(Gw::Vgw).expect("routes");
    println!("[{test}] 3 s later: vgw {}", b.summary());
    println!("[{test}] vgw {}", r.summary());
    for t in BOTH {
        let p = b.peer(t).expect("peer");
        assert_eq!(p["state"], ESTABLISHED, "{test}: session over {t}: {p}");
        assert_eq!(
            p["established_transitions"].as_u64(),
            Some(1),
            "{test}: {p}"
        );
        assert_eq!(p["prefixes_received"].as_u64(), Some(7), "{test}: {p}");
        assert_eq!(p["prefixes_accepted"].as_u64(), Some(3), "{test}: {p}");
        let learned: Vec<&str> = r
            .learned_over(t)
            .iter()
            .filter_map(|x| x["prefix"].as_str())
            .collect();
        assert_eq!(
            learned.len(),
            3,
            "{test}: the vgw's table holds {learned:?} over {t}, not 3 routes"
        );
        assert!(learned.iter().all(|p| SEVEN.contains(p)), "{learned:?}");
    }
    assert!(
        lab.bgp(Gw::Cgw).expect("bgp").all_established(),
        "{test}: the cgw's sessions went down"
    );
}

/// `(tunnel, uptime_s, established_transitions)` of each of `gw`'s peers.
fn uptimes(lab: &SiteLab, gw: Gw) -> Vec<(String, f64, u64)> {
    let b = lab.bgp(gw).expect("bgp");
    BOTH.iter()
        .map(|t| {
            (
                t.to_string(),
                b.uptime(t).unwrap_or(f64::NAN),
                b.peer_u64(t, "established_transitions").unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn bgp_filter_swap_changes_routes_without_a_session_reset() {
    let _wd = Watchdog::arm("bgp filter swap", Duration::from_secs(150));
    let test = "filter-swap";
    let bogon = plugin("bogon_filter").expect("plugin");
    let lab = start(test, SiteOptions::default());
    lab.wait_all_established(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let t = Duration::from_secs(10);
    lab.wait_routes(
        Gw::Vgw,
        &[SITE_A_NET_V4, SITE_A_NET_V6],
        &BOTH,
        &[CGW_ASN],
        true,
        t,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    lab.wait_routes(Gw::Cgw, &[SITE_B_NET_V4], &BOTH, &[VGW_ASN], true, t)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    assert!(
        ping_ok(&lab.site_b, SITE_A_V4),
        "site B cannot reach site A before the swap"
    );
    let mut samples = vec![uptimes(&lab, Gw::Vgw)];
    let routed = |prefix: &str| {
        lab.routes(Gw::Vgw)
            .map(|r| !r.selected(prefix).is_empty())
            .unwrap_or(true)
    };

    // Strict: RFC 1918 and ULA prefixes are bogons.
    let answer = plugins::swap(&lab, Gw::Vgw, "bgp-filter", &bogon, &[])
        .unwrap_or_else(|e| panic!("{test}: swap: {e}"));
    let at = Instant::now();
    let took = lab
        .wait_until(
            "the vgw to drop site A's routes after the strict bogon filter",
            Duration::from_secs(10),
            || !routed(SITE_A_NET_V4) && !routed(SITE_A_NET_V6),
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!(
        "[{test}] swap to bogon-filter (strict): {answer}; site A's routes gone after {took:?}"
    );
    println!(
        "[{test}] vgw {}",
        lab.routes(Gw::Vgw).expect("routes").summary()
    );
    // `sitelink routes` shows the selection; the FIB in force follows it
    // within a snapshot's gap (`loc_rib::SMALL_CHANGE_GAP`, 50 ms).
    std::thread::sleep(Duration::from_millis(100));
    for dst in [SITE_A_V4, SITE_A_V6] {
        assert!(
            !ping_ok(&lab.site_b, dst),
            "{test}: site B still reaches {dst} with its routes filtered"
        );
    }
    samples.push(uptimes(&lab, Gw::Vgw));

    // allow_private: 10.1.0.0/24 is back. fd00:1::/64 is not: the plugin
    // also rejects IPv6 prefixes longer than /48, private or not.
    let answer = plugins::swap(&lab, Gw::Vgw, "bgp-filter", &bogon, &["allow_private=true"])
        .unwrap_or_else(|e| panic!("{test}: swap: {e}"));
    let took = lab
        .wait_routes(Gw::Vgw, &[SITE_A_NET_V4], &BOTH, &[CGW_ASN], true, t)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!(
        "[{test}] swap with allow_private=true: {answer}; {SITE_A_NET_V4} back after {took:?}"
    );
    println!(
        "[{test}] vgw {}",
        lab.routes(Gw::Vgw).expect("routes").summary()
    );
    assert!(
        ping_ok(&lab.site_b, SITE_A_V4),
        "{test}: site B cannot reach {SITE_A_V4} again"
    );
    assert!(
        !routed(SITE_A_NET_V6),
        "{test}: bogon-filter lets {SITE_A_NET_V6} (longer than /48) through"
    );
    samples.push(uptimes(&lab, Gw::Vgw));

    // Back to the built-in default: everything is accepted again.
    plugins::remove(&lab, Gw::Vgw, "bgp-filter").unwrap_or_else(|e| panic!("{test}: remove: {e}"));
    lab.wait_routes(
        Gw::Vgw,
        &[SITE_A_NET_V4, SITE_A_NET_V6],
        &BOTH,
        &[CGW_ASN],
        true,
        t,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    assert!(
        ping_ok(&lab.site_b, SITE_A_V6),
        "{test}: site B cannot reach {SITE_A_V6} again"
    );
    thread::sleep(Duration::from_millis(1100));
    samples.push(uptimes(&lab, Gw::Vgw));
    println!(
        "[{test}] vgw (tunnel, uptime_s, established_transitions) over {:?}: {samples:?}",
        at.elapsed()
    );
    for w in samples.windows(2) {
        for (a, b) in w[0].iter().zip(&w[1]) {
            assert!(
                b.1 > a.1,
                "{test}: the session over {} was reset: {samples:?}",
                a.0
            );
        }
    }
    for s in samples.iter().flatten() {
        assert_eq!(
            s.2, 1,
            "{test}: the session over {} went down: {samples:?}",
            s.0
        );
    }
    for (t, _, transitions) in uptimes(&lab, Gw::Cgw) {
        assert_eq!(
            transitions, 1,
            "{test}: the cgw's session over {t} went down"
        );
    }
}

#[test]
fn routes_a_filter_faulted_on_once_are_back_a_second_later() {
    let _wd = Watchdog::arm("filter fault retried", Duration::from_secs(120));
    let test = "fault-retry";
    // Its first import call with routes answers one verdict short.
    let flaky = plugin("fault_flaky_filter").expect("plugin");
    let lab = start(test, SiteOptions::default());
    lab.wait_all_established(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let t = Duration::from_secs(10);
    let site_a = [SITE_A_NET_V4, SITE_A_NET_V6];
    lab.wait_routes(Gw::Vgw, &site_a, &BOTH, &[CGW_ASN], true, t)
        .unwrap_or_else(|e| panic!("{test}: {e}"));

    // Forced: no check on the stored routes, which then go through it, a
    // session at a time: the first session's call faults.
    let answer = plugins::swap_forced(&lab, Gw::Vgw, "bgp-filter", &flaky)
        .unwrap_or_else(|e| panic!("{test}: swap: {e}"));
    let swapped = Instant::now();
    let refused: u64 = lab
        .bgp(Gw::Vgw)
        .map(|b| {
            BOTH.iter()
                .filter_map(|t| b.peer_u64(t, "prefixes_refused_for_fault"))
                .sum()
        })
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let back = lab
        .wait_routes(Gw::Vgw, &site_a, &BOTH, &[CGW_ASN], true, t)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", lab.gateway_logs()));
    println!(
        "[{test}] forced swap: {answer}; routes refused for the fault just after it: \
         {refused}; site A over both tunnels again {back:?} after it"
    );
    // The swap's answer, once its changes were in force: site A's two
    // prefixes over one tunnel, their routes over the other refused.
    assert_eq!(answer["changes"]["routes_changed"], 2, "{test}: {answer}");
    let log = lab.log_of(Gw::Vgw);
    let retries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("filtering again the routes the bgp-filter plugin faulted on"))
        .collect();
    assert_eq!(
        retries.len(),
        1,
        "{test}: one retry of the faulted routes, in the log: {retries:?}\n{}",
        lab.gateway_logs()
    );
    assert!(retries[0].contains("routes=2"), "{test}: {retries:?}");
    assert!(
        swapped.elapsed() < Duration::from_secs(5),
        "{test}: the retry took {back:?}"
    );
    let list = plugins::list(&lab, Gw::Vgw).unwrap_or_else(|e| panic!("{test}: {e}"));
    let slot = plugins::slot_entry(&list, "bgp-filter").expect("a bgp-filter slot");
    assert!(
        slot["faults"] == 1 && slot["quarantined"] == false,
        "{test}: one fault, not quarantined: {slot}"
    );
    let bgp = lab.bgp(Gw::Vgw).unwrap_or_else(|e| panic!("{test}: {e}"));
    for t in BOTH {
        assert_eq!(
            bgp.peer_u64(t, "prefixes_refused_for_fault"),
            Some(0),
            "{test}: {}",
            bgp.summary()
        );
        assert_eq!(
            bgp.peer_u64(t, "established_transitions"),
            Some(1),
            "{test}: {}",
            bgp.summary()
        );
    }
    for dst in [SITE_A_V4, SITE_A_V6] {
        assert!(
            ping_ok(&lab.site_b, dst),
            "{test}: site B cannot reach {dst}"
        );
    }
}

/// `sitelink bgp refresh` on `gw`: the peers send their routes again, which
/// go through the import filter (and a shadow) once more.
fn refresh(lab: &SiteLab, gw: Gw) {
    let bin = lab.bin().expect("bin").to_path_buf();
    let sock = lab.socket(gw).expect("socket");
    lab.ns(gw)
        .exec_ok(
            bin.to_str().expect("utf-8"),
            &["bgp", "refresh", "--socket", sock.to_str().expect("utf-8")],
        )
        .expect("sitelink bgp refresh");
}

#[test]
fn a_shadow_filter_is_compared_on_live_routes_then_promoted() {
    let _wd = Watchdog::arm("shadow filter", Duration::from_secs(150));
    let test = "shadow";
    let bogon = plugin("bogon_filter").expect("plugin");
    let bogon_path = bogon.to_string_lossy().to_string();
    let lab = start(test, SiteOptions::default());
    lab.wait_all_established(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    lab.wait_routes(
        Gw::Vgw,
        &[SITE_A_NET_V4],
        &BOTH,
        &[CGW_ASN],
        true,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let diff = || {
        plugins::plugin_cmd(&lab, Gw::Vgw, &["diff", "bgp-filter"])
            .ok()
            .and_then(|o| serde_json::from_str::<serde_json::Value>(&o.stdout).ok())
            .unwrap_or_default()
    };

    // A misspelt parameter: the swap is refused, naming it; nothing changes.
    let refused = plugins::swap(&lab, Gw::Vgw, "bgp-filter", &bogon, &["allow_privat=true"])
        .err()
        .unwrap_or_else(|| panic!("{test}: a swap with a misspelt parameter was accepted"));
    println!("[{test}] refused swap: {refused}");
    assert!(
        refused
            .to_string()
            .contains("swap refused, nothing changed")
            && refused
                .to_string()
                .contains("unknown parameter \"allow_privat\""),
        "{test}: {refused}"
    );

    // Strict, as a shadow: it would reject site A's private prefixes.
    let started = plugins::plugin_cmd(&lab, Gw::Vgw, &["shadow", "bgp-filter", &bogon_path])
        .expect("plugin shadow");
    println!(
        "[{test}] shadow: {} {}",
        started.stdout.trim(),
        started.stderr.trim()
    );
    refresh(&lab, Gw::Vgw);
    lab.wait_until(
        "the shadow to differ on site A's routes",
        Duration::from_secs(10),
        || diff()["differed"].as_u64().unwrap_or(0) >= 2,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let seen = diff();
    println!("[{test}] diff: {seen}");
    assert!(
        seen["examples"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x.as_str().is_some_and(|x| {
                x.contains(SITE_A_NET_V4) && x.contains("active accept, shadow reject")
            }))),
        "{test}: {seen}"
    );
    // Never acted on: the routes stay, traffic flows.
    assert!(
        !lab.routes(Gw::Vgw)
            .expect("routes")
            .selected(SITE_A_NET_V4)
            .is_empty(),
        "{test}: the shadow's rejection was acted on"
    );
    assert!(
        ping_ok(&lab.site_b, SITE_A_V4),
        "{test}: site A unreachable"
    );

    // Private prefixes allowed: it now differs only on site A's IPv6 /64
    // (the filter takes nothing longer than a /48), and is promoted.
    let path = bogon_path.as_str();
    plugins::plugin_cmd(
        &lab,
        Gw::Vgw,
        &[
            "shadow",
            "bgp-filter",
            path,
            "--param",
            "allow_private=true",
        ],
    )
    .expect("plugin shadow");
    refresh(&lab, Gw::Vgw);
    lab.wait_until(
        "the new shadow to see the routes",
        Duration::from_secs(10),
        || diff()["compared"].as_u64().unwrap_or(0) >= 4,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let second = diff();
    println!("[{test}] diff with allow_private: {second}");
    let examples: Vec<&str> = second["examples"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(
        !examples.is_empty()
            && examples
                .iter()
                .all(|x| x.contains(SITE_A_NET_V6) && !x.contains(SITE_A_NET_V4)),
        "{test}: {second}"
    );
    let promoted =
        plugins::plugin_cmd(&lab, Gw::Vgw, &["promote", "bgp-filter"]).expect("plugin promote");
    println!("[{test}] promote: {}", promoted.stdout.trim());
    let list = plugins::list(&lab, Gw::Vgw).expect("plugin list");
    let slot = plugins::slot_entry(&list, "bgp-filter").expect("slot");
    assert_eq!(slot["plugin"], "bogon-filter", "{test}: {list}");
    lab.wait_until(
        "the promoted filter to drop the /64",
        Duration::from_secs(10),
        || {
            lab.routes(Gw::Vgw).is_ok_and(|r| {
                r.selected(SITE_A_NET_V6).is_empty() && !r.selected(SITE_A_NET_V4).is_empty()
            })
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    assert!(
        ping_ok(&lab.site_b, SITE_A_V4),
        "{test}: site A unreachable"
    );
}
