//! Topology 4 of ARCHITECTURE.md: a sitelink VGW and a customer site made only of
//! stock software, configured from `sitelink export` with the files
//! unedited: two WireGuard interfaces brought up by `wg-quick` (wireguard-go,
//! keys from `wg genkey`) and BIRD 2 (BGP and BFD over both tunnels), or
//! GoBGP, or FRR's bgpd without zebra (configured by hand). Run with
//! `cargo build -p sitelink && cargo test -p sitelink-lab --test interop --
//! --nocapture --test-threads=1` to see what each peer did.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::frr::{Frr, FrrConfig, FrrNeighbor};
use sitelink_lab::interop::{
    bird_conf, export, far_networks, interop_lab, start_bird, stock_tunnels, wait_site_a_routes, UP,
};
use sitelink_lab::measure;
use sitelink_lab::process;
use sitelink_lab::stock::{self, Gobgp};
use sitelink_lab::topology::{
    SiteOptions, GATEWAY_SIDE, INET_SIDE, SITE_A_NET_V4, SITE_A_NET_V6, SITE_A_V4, SITE_B_NET_V4,
    SITE_B_NET_V6, SITE_B_V4, TUNNEL_1, TUNNEL_2,
};
use sitelink_lab::{Gw, SiteLab};

/// `sitelink bgp refresh --tunnel TUNNEL_1`; the peer must send its routes
/// again (the session's UPDATE count grows).
fn refresh_is_answered(lab: &SiteLab, test: &str) {
    let count = || {
        lab.bgp(Gw::Vgw)
            .ok()
            .and_then(|b| b.peer_u64(TUNNEL_1, "updates_received"))
            .unwrap_or(0)
    };
    let before = count();
    let socket = lab.socket(Gw::Vgw).expect("socket");
    let mut cmd = Command::new(lab.bin().expect("bin"));
    cmd.args(["bgp", "refresh", "--tunnel", TUNNEL_1, "--socket"])
        .arg(&socket);
    let out = process::run_ok(&mut cmd, process::SHORT).expect("sitelink bgp refresh");
    assert!(out.contains(TUNNEL_1), "{test}: {out}");
    let took = lab
        .wait_until(
            "the peer to answer the ROUTE-REFRESH",
            Duration::from_secs(10),
            || count() > before,
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!(
        "[{test}] route refresh asked ({}): UPDATEs received {before} -> {} after {took:?}",
        out.trim(),
        count()
    );
}

#[test]
fn a_stock_site_of_wireguard_go_and_bird_routes_and_fails_over() {
    let _wd = Watchdog::arm("interop bird", Duration::from_secs(240));
    let test = "bird";
    let lab = interop_lab(test, SiteOptions::default());
    let ifaces = stock_tunnels(&lab, test);
    let bird = start_bird(&lab, &bird_conf(&lab), test);
    let started = Instant::now();
    let took = lab
        .wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
        .unwrap_or_else(|e| panic!("{test}: {e}\nbird: {}", bird.log()));
    println!("[{test}] BIRD's two sessions established on the VGW after {took:?}");
    println!(
        "[{test}] {}",
        bird.birdc(&["show", "protocols"]).unwrap_or_default()
    );
    println!(
        "[{test}] {}",
        bird.birdc(&["show", "bfd", "sessions"]).unwrap_or_default()
    );

    // Routes both ways, IPv4 and IPv6.
    wait_site_a_routes(&lab, test);
    let bird_routes = || {
        bird.birdc(&["show", "route", "protocol", "office_tunnel1"])
            .unwrap_or_default()
    };
    lab.wait_until("BIRD to learn site B's prefixes", UP, || {
        let r = bird_routes();
        r.contains(SITE_B_NET_V4) && r.contains(SITE_B_NET_V6)
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", bird.log()));
    println!("[{test}] BIRD learned: {}", bird_routes());
    // IPv6 routes come with the VGW's IPv6 inside address as next hop.
    let v6 = bird
        .birdc(&["show", "route", SITE_B_NET_V6, "protocol", "office_tunnel1"])
        .unwrap_or_default();
    assert!(
        v6.contains("via fd00:0:0:10::1 on"),
        "{test}: BIRD's next hop for {SITE_B_NET_V6}: {v6}"
    );
    lab.assert_sites_ping(test, Duration::from_secs(10));
    refresh_is_answered(&lab, test);
    // And BIRD asks (`reload in` sends ROUTE-REFRESH: BIRD keeps no
    // Adj-RIB-In by default); sitelink sends its routes again.
    let sent = || {
        lab.bgp(Gw::Vgw)
            .ok()
            .and_then(|b| b.peer_u64(TUNNEL_1, "updates_sent"))
            .unwrap_or(0)
    };
    let before = sent();
    bird.birdc(&["reload", "in", "office_tunnel1"])
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    lab.wait_until(
        "sitelink to answer BIRD's ROUTE-REFRESH",
        Duration::from_secs(10),
        || sent() > before,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", bird.log()));
    println!(
        "[{test}] BIRD's route refresh answered: UPDATEs sent {before} -> {}",
        sent()
    );

    // Liveness: BIRD's BFD speaks to sitelink's probes; a cut tunnel moves
    // the traffic within a second, on both sides.
    let train = thread::scope(|s| {
        let train = s.spawn(|| {
            measure::ping_train_for(
                &lab.site_b,
                SITE_A_V4,
                Duration::from_millis(10),
                Duration::from_secs(6),
            )
        });
        thread::sleep(Duration::from_millis(1500));
        let bfd = bird.birdc(&["show", "bfd", "sessions"]).unwrap_or_default();
        let cut_at = Instant::now();
        lab.cut_vgw_link(1).expect("cut link 1");
        let down = lab
            .wait_until(
                "BIRD to drop the session over tunnel 1",
                Duration::from_secs(5),
                || !bird.established("office_tunnel1"),
            )
            .map(|_| cut_at.elapsed());
        (train.join().expect("ping thread"), bfd, down)
    });
    let (train, bfd, down) = train;
    // BIRD's BFD was up with sitelink's probes on both tunnels, and took the
    // session down on its own when the tunnel died (not after the 30 s hold).
    let up_lines = bfd.lines().filter(|l| l.contains(" Up ")).count();
    assert_eq!(
        up_lines, 2,
        "{test}: BIRD's BFD sessions before the cut:\n{bfd}"
    );
    let down = down.unwrap_or_else(|e| panic!("{test}: {e}\n{}", bird.log()));
    println!("[{test}] cut VGW link 1; BIRD dropped the session after {down:?} (BFD)");
    assert!(
        down < Duration::from_secs(2),
        "{test}: BIRD took {down:?} to notice the dead tunnel"
    );
    let train = train.unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] ping train B->A every 10 ms across the cut: {train}");
    println!(
        "[{test}] {}",
        bird.birdc(&["show", "protocols"]).unwrap_or_default()
    );
    assert!(train.received > 0);
    assert!(
        train.outage() < Duration::from_secs(1),
        "{test}: outage {:?} with a stock site\n{}",
        train.outage(),
        lab.gateway_logs()
    );
    lab.restore_vgw_link(1).expect("restore");
    lab.wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
        .unwrap_or_else(|e| panic!("{test}: after restore: {e}"));

    // Keepalives and rekeying over a run longer than WireGuard's rekey
    // interval (REKEY_AFTER_TIME, 120 s; neither wireguard-go nor boringtun
    // lets it be shortened, so the test waits it out).
    let first: Vec<u64> = ifaces
        .iter()
        .map(|i| stock::latest_handshake(&lab.cgw, i).expect("wg show"))
        .collect();
    let rekey_by = started + Duration::from_secs(135);
    let long = measure::ping_train_for(
        &lab.site_a,
        SITE_B_V4,
        Duration::from_millis(200),
        rekey_by.saturating_duration_since(Instant::now()),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let after: Vec<u64> = ifaces
        .iter()
        .map(|i| stock::latest_handshake(&lab.cgw, i).expect("wg show"))
        .collect();
    println!(
        "[{test}] {} s of pings every 200 ms: sent {}, lost {}; wireguard-go latest handshakes {first:?} -> {after:?}",
        long.sent / 5,
        long.sent,
        long.lost()
    );
    let status = lab.status(Gw::Vgw).expect("status");
    for t in [TUNNEL_1, TUNNEL_2] {
        println!(
            "[{test}] vgw {t}: handshakes {}",
            status
                .tunnel(t)
                .map(|v| v["handshakes"].to_string())
                .unwrap_or_default()
        );
    }
    assert!(
        first.iter().zip(&after).all(|(a, b)| b > a),
        "{test}: no new handshake (rekey) on every tunnel: {first:?} -> {after:?}"
    );
    assert!(
        long.lost() <= 2,
        "{test}: {} pings lost across the rekeys",
        long.lost()
    );

    // sitelink initiates too: a restarted VGW has no session; wireguard-go
    // answers its handshake.
    let mut lab = lab;
    let back = lab.restart(Gw::Vgw).expect("restart vgw");
    lab.wait_all_tunnels_up(UP)
        .unwrap_or_else(|e| panic!("{test}: tunnels after the VGW restart: {e}"));
    lab.wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], Duration::from_secs(60))
        .unwrap_or_else(|e| {
            panic!(
                "{test}: sessions after the VGW restart: {e}\n{}",
                bird.log()
            )
        });
    println!("[{test}] VGW restarted ({back:?}): tunnels and sessions back up");
    lab.assert_sites_ping(test, Duration::from_secs(10));
}

#[test]
fn a_gobgp_peer_exchanges_routes_with_communities_and_sees_refresh_withdraw_and_max_prefix() {
    let _wd = Watchdog::arm("interop gobgp", Duration::from_secs(150));
    let test = "gobgp";
    // GoBGP has no BFD: the VGW probes the tunnels with ICMP echo, which
    // the far side's kernel answers on the wg-quick interfaces.
    let opts = SiteOptions::default()
        .set(Gw::Vgw, "connection.bgp", "max_prefixes", "10")
        .set(Gw::Vgw, "connection.bgp", "max_prefixes_restart_s", "2")
        .set(Gw::Vgw, "connection.liveness", "mode", "\"echo\"");
    let lab = interop_lab(test, opts);
    stock_tunnels(&lab, test);
    let dir = lab.lab().dir().join("gobgp");
    // The site's networks, and 12 more to push the VGW over its max_prefixes
    // later (the exported policy lets only these out).
    let extra: Vec<String> = (0..12).map(|i| format!("10.50.{i}.0/24")).collect();
    let mut networks = far_networks();
    for n in &extra {
        networks.extend(["--network", n.as_str()]);
    }
    let files = export(&lab, "gobgp", &dir, &networks);
    let conf = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "toml"))
        .expect("gobgpd.toml");
    let gobgp = Gobgp::start(&lab.cgw, conf, lab.lab().dir(), 50051)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let cli = |args: &[&str]| {
        gobgp
            .cli(&lab.cgw, args)
            .unwrap_or_else(|e| panic!("{test}: gobgp {args:?}: {e}\n{}", gobgp.log()))
    };
    cli(&[
        "global",
        "rib",
        "add",
        "-a",
        "ipv4",
        SITE_A_NET_V4,
        "community",
        "65000:100",
        "large-community",
        "65000:1:2",
    ]);
    cli(&[
        "global",
        "rib",
        "add",
        "-a",
        "ipv6",
        SITE_A_NET_V6,
        "community",
        "65000:200",
    ]);
    lab.wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", gobgp.log()));
    println!("[{test}] {}", cli(&["neighbor"]));

    wait_site_a_routes(&lab, test);
    let routes = lab.routes(Gw::Vgw).expect("routes");
    let v4 = routes.candidates(SITE_A_NET_V4);
    assert!(
        v4.iter()
            .all(|r| r["communities"] == serde_json::json!(["65000:100"])
                && r["large_communities"] == serde_json::json!(["65000:1:2"])),
        "{test}: communities not carried: {}",
        routes.summary()
    );
    let v6 = routes.candidates(SITE_A_NET_V6);
    assert!(
        v6.iter()
            .all(|r| r["communities"] == serde_json::json!(["65000:200"])),
        "{}",
        routes.summary()
    );
    let learned = |afi: &str| {
        gobgp
            .cli(&lab.cgw, &["global", "rib", "-a", afi])
            .unwrap_or_default()
    };
    lab.wait_until("GoBGP to learn site B's prefixes", UP, || {
        learned("ipv4").contains(SITE_B_NET_V4) && learned("ipv6").contains(SITE_B_NET_V6)
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}\n{}", learned("ipv4"), learned("ipv6")));
    println!(
        "[{test}] GoBGP learned:\n{}\n{}",
        learned("ipv4"),
        learned("ipv6")
    );
    assert!(
        learned("ipv6").contains("fd00:0:0:10::1") && learned("ipv6").contains("fd00:0:0:11::1"),
        "{test}: GoBGP's next hops for {SITE_B_NET_V6} are not the VGW's IPv6 inside addresses"
    );

    // Route refresh: sitelink asks, GoBGP sends its routes again. (GoBGP's
    // own `softresetin` re-reads its Adj-RIB-In and sends nothing.)
    refresh_is_answered(&lab, test);

    // Withdrawal.
    cli(&["global", "rib", "del", "-a", "ipv4", SITE_A_NET_V4]);
    lab.wait_until(
        "sitelink to honour the withdrawal",
        Duration::from_secs(10),
        || {
            lab.routes(Gw::Vgw)
                .is_ok_and(|r| r.candidates(SITE_A_NET_V4).is_empty())
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] withdrawal of {SITE_A_NET_V4} honoured");

    // Max prefixes: 10 accepted; the 11th closes the session with
    // Cease / Maximum Number of Prefixes Reached, which GoBGP reports.
    for n in &extra {
        cli(&["global", "rib", "add", "-a", "ipv4", n]);
    }
    let bgp_err = lab.wait_until(
        "the VGW to close the sessions over max_prefixes",
        Duration::from_secs(10),
        || {
            lab.bgp(Gw::Vgw).is_ok_and(|b| {
                b.last_error(TUNNEL_1)
                    .is_some_and(|e| e.contains("maximum number of prefixes"))
            })
        },
    );
    let neighbor = cli(&["neighbor", "169.254.10.1"]);
    println!(
        "[{test}] after 13 prefixes: vgw {}\n[{test}] gobgp: {neighbor}",
        lab.bgp(Gw::Vgw).map(|b| b.summary()).unwrap_or_default()
    );
    bgp_err.unwrap_or_else(|e| panic!("{test}: {e}"));
    let log = gobgp.log();
    assert!(
        log.contains("Maximum Number of Prefixes")
            || log.to_lowercase().contains("maximum number of prefixes"),
        "{test}: GoBGP did not report the Cease: {log}"
    );
    assert!(
        !neighbor.contains("BGP state = established"),
        "{test}: {neighbor}"
    );

    // A peer with an ASN other than the connection's remote_asn is refused
    // with OPEN Message Error / Bad Peer AS (RFC 4271 section 6.2).
    drop(gobgp);
    let text = std::fs::read_to_string(conf).expect("gobgpd.toml");
    let wrong = dir.join("wrong-as.toml");
    let edited = text.replacen("as = 65000", "as = 65099", 1);
    assert_ne!(
        edited, text,
        "{test}: the exported gobgpd.toml has no `as = 65000`"
    );
    std::fs::write(&wrong, edited).expect("write");
    let gobgp = Gobgp::start(&lab.cgw, &wrong, lab.lab().dir(), 50052)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let refused = lab.wait_until("the VGW to refuse AS 65099", UP, || {
        lab.bgp(Gw::Vgw).is_ok_and(|b| {
            b.last_error(TUNNEL_1)
                .is_some_and(|e| e.contains("bad peer AS"))
        })
    });
    println!(
        "[{test}] wrong AS: vgw {}",
        lab.bgp(Gw::Vgw).map(|b| b.summary()).unwrap_or_default()
    );
    refused.unwrap_or_else(|e| panic!("{test}: {e}"));
    // GoBGP counts the NOTIFICATION it received (its neighbor view:
    // "Notifications:  SENT  RCVD").
    let received = || {
        gobgp
            .cli(&lab.cgw, &["neighbor", "169.254.10.1"])
            .unwrap_or_default()
            .lines()
            .find(|l| l.trim_start().starts_with("Notifications:"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    lab.wait_until(
        "GoBGP to count the NOTIFICATION",
        Duration::from_secs(5),
        || received() > 0,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{test}: {e}\n{}",
            gobgp
                .cli(&lab.cgw, &["neighbor", "169.254.10.1"])
                .unwrap_or_default()
        )
    });
    println!("[{test}] GoBGP received {} NOTIFICATION(s)", received());
}

#[test]
fn a_bird_site_over_ipv6_sessions_takes_ipv4_routes_with_ipv6_next_hops_and_runs_bfd() {
    let _wd = Watchdog::arm("interop bird ipv6", Duration::from_secs(150));
    let test = "bird-ipv6";
    let opts = SiteOptions::default().set(Gw::Vgw, "connection.bgp", "session", "\"ipv6\"");
    let lab = interop_lab(test, opts);
    stock_tunnels(&lab, test);
    let bird = start_bird(&lab, &bird_conf(&lab), test);
    let took = lab
        .wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
        .unwrap_or_else(|e| panic!("{test}: {e}\nbird: {}", bird.log()));
    println!("[{test}] BIRD's two IPv6 sessions established on the VGW after {took:?}");
    let bgp = lab.bgp(Gw::Vgw).expect("bgp");
    let peer = bgp.peer(TUNNEL_1).expect("peer");
    assert_eq!(peer["remote_address"], "fd00:0:0:10::2", "{test}: {peer}");
    assert_eq!(peer["extended_next_hop"], true, "{test}: {peer}");
    // BFD runs over the sessions' addresses, BIRD's and sitelink's alike:
    // the tunnels stay up on it (BFD liveness, the default).
    let bfd = bird.birdc(&["show", "bfd", "sessions"]).unwrap_or_default();
    println!("[{test}] {bfd}");
    wait_site_a_routes(&lab, test);
    let v4 = || {
        bird.birdc(&["show", "route", SITE_B_NET_V4, "protocol", "office_tunnel1"])
            .unwrap_or_default()
    };
    lab.wait_until("BIRD to learn site B's IPv4 prefix", UP, || {
        v4().contains(SITE_B_NET_V4)
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", bird.log()));
    assert!(
        v4().contains("via fd00:0:0:10::1 on"),
        "{test}: BIRD's next hop for {SITE_B_NET_V4}: {}",
        v4()
    );
    println!("[{test}] BIRD: {}", v4());
    let status = lab.status(Gw::Vgw).expect("status");
    assert!(
        status.tunnels().iter().all(|t| t["liveness"] == "up"),
        "{test}: tunnels not up on BFD over IPv6: {}",
        status.summary()
    );
    lab.assert_sites_ping(test, Duration::from_secs(10));
}

/// The next hops of an FRR path (`nexthops[].ip`).
fn next_hops(path: &serde_json::Value) -> Vec<String> {
    path["nexthops"]
        .as_array()
        .map(|hops| {
            hops.iter()
                .filter_map(|h| h["ip"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_frr_peer_without_zebra_keeps_its_sessions_and_takes_ipv6_routes_with_standard_next_hops() {
    let _wd = Watchdog::arm("interop frr", Duration::from_secs(150));
    let test = "frr";
    assert!(
        Frr::installed(),
        "{test}: FRR's bgpd is missing: run scripts/install-deps.sh (Debian's frr)"
    );
    // No BFD daemon on the far side: the VGW probes with ICMP echo.
    let opts = SiteOptions::default().set(Gw::Vgw, "connection.liveness", "mode", "\"echo\"");
    let lab = interop_lab(test, opts);
    stock_tunnels(&lab, test);
    // The far side sends its IPv6 inside address as its IPv6 next hop, as an
    // operator configures FRR over IPv4 sessions.
    let conf = FrrConfig {
        asn: 65000,
        router_id: "169.254.10.2".into(),
        remote_asn: 64512,
        networks: vec![SITE_A_NET_V4.into(), SITE_A_NET_V6.into()],
        neighbors: vec![
            FrrNeighbor {
                address: "169.254.10.1".into(),
                ipv6_next_hop: Some("fd00:0:0:10::2".into()),
            },
            FrrNeighbor {
                address: "169.254.11.1".into(),
                ipv6_next_hop: Some("fd00:0:0:11::2".into()),
            },
        ],
    };
    let frr = Frr::start(&lab.cgw, &conf, &lab.lab().dir().join("frr"))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let took = lab
        .wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
        .unwrap_or_else(|e| panic!("{test}: {e}\nfrr: {}", frr.log()));
    println!("[{test}] FRR's two sessions established on the VGW after {took:?}");
    wait_site_a_routes(&lab, test);

    // FRR takes site B's prefixes over both sessions, IPv6 with the VGW's
    // IPv6 inside address as next hop (a link-local one, alone or after the
    // global one, FRR without zebra refuses as malformed).
    let paths = |afi: &str, prefix: &str| frr.paths(afi, prefix);
    lab.wait_until(
        "FRR to hold site B's prefixes over both tunnels",
        UP,
        || paths("ipv4", SITE_B_NET_V4).len() == 2 && paths("ipv6", SITE_B_NET_V6).len() == 2,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{test}: {e}\n{}\n{}",
            frr.vtysh("show bgp ipv6 unicast").unwrap_or_default(),
            frr.log()
        )
    });
    let mut v6_hops: Vec<Vec<String>> =
        paths("ipv6", SITE_B_NET_V6).iter().map(next_hops).collect();
    v6_hops.sort();
    assert_eq!(
        v6_hops,
        [["fd00:0:0:10::1"], ["fd00:0:0:11::1"]],
        "{test}: FRR's next hops for {SITE_B_NET_V6}"
    );
    let mut v4_hops: Vec<Vec<String>> =
        paths("ipv4", SITE_B_NET_V4).iter().map(next_hops).collect();
    v4_hops.sort();
    assert_eq!(v4_hops, [["169.254.10.1"], ["169.254.11.1"]]);
    println!("[{test}] FRR holds {SITE_B_NET_V6} via {v6_hops:?}, {SITE_B_NET_V4} via {v4_hops:?}");

    // The sessions stay up: a peer that found a next hop malformed would
    // reset them within seconds of each UPDATE.
    thread::sleep(Duration::from_secs(6));
    for (neighbor, tunnel) in [("169.254.10.1", TUNNEL_1), ("169.254.11.1", TUNNEL_2)] {
        let (ups, state) = frr
            .neighbor(neighbor)
            .unwrap_or_else(|| panic!("{test}: no neighbor {neighbor} in FRR"));
        assert_eq!(
            (ups, state.as_str()),
            (1, "Established"),
            "{test}: FRR's session with {neighbor} came up {ups} times\n{}",
            frr.log()
        );
        let bgp = lab.bgp(Gw::Vgw).expect("sitelink bgp");
        assert_eq!(
            bgp.last_error(tunnel),
            None,
            "{test}: the VGW's session over {tunnel} saw an error"
        );
    }
    println!("[{test}] both sessions up once, no error, 6 s after the routes arrived");
}

/// A VGW that advertises a default route to a stock site (wg-quick and
/// BIRD from the export, unedited) whose host reaches the VGW's endpoints
/// by its own default route at a metric BIRD's (32) beats: 1024, as
/// systemd-networkd gives. The learned default goes into table 21324,
/// WireGuard's marked datagrams keep the uplink, the sessions stay up, and
/// the last tunnel down takes the rules away.
#[test]
fn a_stock_site_that_learns_our_default_route_keeps_its_tunnels_out_of_it() {
    let _wd = Watchdog::arm("interop default route", Duration::from_secs(150));
    let test = "bird-default";
    let opts = SiteOptions::default().set(
        Gw::Vgw,
        "bgp",
        "networks",
        r#"["10.2.0.0/24", "fd00:2::/64", "0.0.0.0/0"]"#,
    );
    let lab = interop_lab(test, opts);
    let inet = lab.underlay().addr(10, INET_SIDE);
    let uplink = format!("via {inet}");
    lab.cgw
        .ip(&["-4", "route", "del", "default"])
        .and_then(|_| {
            lab.cgw.ip(&[
                "-4", "route", "add", "default", "via", &inet, "metric", "1024",
            ])
        })
        .unwrap_or_else(|e| panic!("{test}: the edge router's default route: {e}"));
    let ifaces = stock_tunnels(&lab, test);
    for iface in &ifaces {
        let mark = stock::wg_show(&lab.cgw, iface, "fwmark").unwrap_or_default();
        assert_eq!(mark.trim(), "0x534c", "{test}: {iface}'s fwmark");
    }
    let bird = start_bird(&lab, &bird_conf(&lab), test);
    lab.wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
        .unwrap_or_else(|e| panic!("{test}: {e}\nbird: {}", bird.log()));
    lab.wait_until(
        "BIRD to install the learned default in table 21324",
        UP,
        || {
            lab.cgw
                .ip(&["-4", "route", "show", "table", "21324"])
                .is_ok_and(|r| r.contains("default"))
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", bird.log()));
    let transitions = || {
        let bgp = lab.bgp(Gw::Vgw).expect("bgp");
        [TUNNEL_1, TUNNEL_2].map(|t| bgp.peer_u64(t, "established_transitions"))
    };
    let before = transitions();
    // Several BFD detection times, and long enough for a capture loop
    // (tunnels into themselves) to break the sessions.
    thread::sleep(Duration::from_secs(8));
    assert_eq!(
        transitions(),
        before,
        "{test}: a session was reset\n{}\n{}",
        lab.gateway_logs(),
        bird.log()
    );
    assert!(
        lab.status(Gw::Vgw).expect("status").all_tunnels_up(),
        "{test}: a tunnel is down"
    );
    for link in [1, 2] {
        let endpoint = lab.underlay().addr(link, GATEWAY_SIDE);
        let marked = lab
            .cgw
            .ip(&["-4", "route", "get", &endpoint, "mark", "0x534c"])
            .expect("ip route get");
        assert!(
            marked.contains(&uplink),
            "{test}: WireGuard's datagrams to {endpoint} do not take the uplink: {marked}"
        );
        let unmarked = lab
            .cgw
            .ip(&["-4", "route", "get", &endpoint])
            .expect("ip route get");
        assert!(
            ifaces
                .iter()
                .any(|i| unmarked.contains(&format!("dev {i}"))),
            "{test}: other traffic does not follow the learned default: {unmarked}"
        );
    }
    lab.assert_sites_ping(test, Duration::from_secs(10));
    // wg-quick down, one then the other, BIRD running: the first keeps
    // the rules (the other tunnel still carries the default), the last
    // one takes them away.
    let ours = |rules: &str| rules.contains("21324") || rules.contains("suppress_prefixlength");
    for (i, iface) in ifaces.iter().enumerate() {
        let conf = lab.lab().dir().join("wg").join(format!("{iface}.conf"));
        stock::wg_quick_down(&lab.cgw, &conf).unwrap_or_else(|e| panic!("{test}: {e}"));
        let rules = lab.cgw.ip(&["-4", "rule", "show"]).expect("ip rule");
        let last = i + 1 == ifaces.len();
        assert_eq!(
            ours(&rules),
            !last,
            "{test}: rules after {iface} went down: {rules}"
        );
    }
    drop(bird);
}
