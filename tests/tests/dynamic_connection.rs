//! Topology 2 of ARCHITECTURE.md, end to end: a customer gateway and a VGW, one
//! dynamic VPN connection of two tunnels with a BGP session over each, real
//! sitelink processes in network namespaces (configs from
//! `examples/dynamic/`). Sessions come up on both tunnels and the sites'
//! prefixes are learned on both sides; flows are spread over both tunnels
//! (ECMP); cutting one tunnel's link takes its routes out of the FIB at once
//! (not after the 30 s hold time) and loses under a second of traffic; with
//! route propagation off, learned routes stay out of the table; sessions
//! run over the IPv6 inside addresses as well, IPv4 routes then carrying
//! IPv6 next hops (RFC 8950); a gateway stopped under traffic tells its
//! peer with a Cease on each session. Max-prefix
//! limits and BGP filter swaps are in `dynamic_policy.rs`.
//!
//! Run with `cargo build -p sitelink && cargo test -p sitelink-lab --test
//! dynamic_connection -- --nocapture --test-threads=1` to see the numbers.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::gateway::{counter_delta, shares};
use sitelink_lab::measure::{self, ping, snmp_counter, Flows};
use sitelink_lab::process;
use sitelink_lab::topology::{
    CGW_ASN, SITE_A_NET_V4, SITE_A_NET_V6, SITE_A_V4, SITE_B_NET_V4, SITE_B_NET_V6, SITE_B_V4,
    SITE_B_V6, TUNNEL_1, TUNNEL_2, VGW_ASN,
};
use sitelink_lab::{Gw, SiteLab, SiteOptions, Topology};
use std::time::{Duration, Instant};

/// Bound for both sessions on both gateways to reach established.
const ESTABLISH: Duration = Duration::from_secs(20);
const BOTH: [&str; 2] = [TUNNEL_1, TUNNEL_2];

/// Starts topology 2 with `opts`, waits for every tunnel up and every BGP
/// session established, and prints what each gateway reports.
fn dynamic_lab(test: &str, opts: SiteOptions) -> SiteLab {
    let lab = SiteLab::start_with(Topology::Dynamic, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    let up = lab
        .wait_all_tunnels_up(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] both gateways report all tunnels up after {up:?}");
    let est = lab
        .wait_all_established(ESTABLISH)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!(
        "[{test}] BGP established on both tunnels of both gateways {:?} after the tunnels were up",
        est
    );
    for gw in [Gw::Cgw, Gw::Vgw] {
        println!(
            "[{test}]   {} {}",
            gw.name(),
            lab.bgp(gw).expect("bgp").summary()
        );
    }
    lab
}

/// Waits until each side has the other's prefixes over both tunnels, selected.
fn wait_learned(lab: &SiteLab, test: &str) {
    let t = Duration::from_secs(10);
    let v = lab
        .wait_routes(
            Gw::Vgw,
            &[SITE_A_NET_V4, SITE_A_NET_V6],
            &BOTH,
            &[CGW_ASN],
            true,
            t,
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let c = lab
        .wait_routes(
            Gw::Cgw,
            &[SITE_B_NET_V4, SITE_B_NET_V6],
            &BOTH,
            &[VGW_ASN],
            true,
            t,
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] routes learned over both tunnels: vgw after {v:?}, cgw after {c:?}");
}

#[test]
fn sessions_establish_and_routes_appear_on_both_sides() {
    let _wd = Watchdog::arm("dynamic sessions_establish", Duration::from_secs(120));
    let test = "establish";
    let mut lab = dynamic_lab(test, SiteOptions::default());
    wait_learned(&lab, test);
    for (gw, asn, remote, learned) in [
        (Gw::Vgw, VGW_ASN, CGW_ASN, [SITE_A_NET_V4, SITE_A_NET_V6]),
        (Gw::Cgw, CGW_ASN, VGW_ASN, [SITE_B_NET_V4, SITE_B_NET_V6]),
    ] {
        let bgp = lab.bgp(gw).expect("bgp");
        let routes = lab.routes(gw).expect("routes");
        println!("[{test}] {}: {}", gw.name(), bgp.summary());
        println!("[{test}] {}: {}", gw.name(), routes.summary());
        assert_eq!(
            bgp["asn"].as_u64(),
            Some(asn),
            "{}: {}",
            gw.name(),
            bgp.summary()
        );
        assert_eq!(routes.propagation(), Some(true));
        for t in BOTH {
            let p = bgp
                .peer(t)
                .unwrap_or_else(|| panic!("{}: no peer over {t}", gw.name()));
            assert_eq!(p["local_asn"].as_u64(), Some(asn), "{}: {p}", gw.name());
            assert_eq!(p["remote_asn"].as_u64(), Some(remote), "{}: {p}", gw.name());
            assert_eq!(
                p["established_transitions"].as_u64(),
                Some(1),
                "{}: {p}",
                gw.name()
            );
            for field in [
                "prefixes_received",
                "prefixes_accepted",
                "prefixes_advertised",
            ] {
                assert_eq!(
                    p[field].as_u64(),
                    Some(2),
                    "{} {field} over {t}: {p}",
                    gw.name()
                );
            }
        }
        for prefix in learned {
            assert_eq!(
                routes.selected_tunnels(prefix),
                BOTH.to_vec(),
                "{}: {prefix} must be selected over both tunnels (ECMP): {}",
                gw.name(),
                routes.summary()
            );
        }
    }
    lab.assert_sites_ping(test, Duration::from_secs(5));
    // The IPv6 inside addresses (inside_ipv6_cidr) are on each TUN and
    // reach the far side over their tunnel: the VGW's ::1, the CGW's ::2.
    for far in ["fd00:0:0:10::2", "fd00:0:0:11::2"] {
        let p = ping(&lab.vgw, far).expect("ping");
        assert!(p.received > 0, "{test}: the VGW cannot ping {far}: {p:?}");
    }
    let p = ping(&lab.cgw, "fd00:0:0:10::1").expect("ping");
    assert!(
        p.received > 0,
        "{test}: the CGW cannot ping fd00:0:0:10::1: {p:?}"
    );

    // The VGW stops (SIGTERM) while traffic flows: each session's Cease
    // reaches the CGW through the tunnels before the data path stops, so
    // the CGW takes the routes out at once, knowing why.
    let pid = lab.gateway(Gw::Vgw).pid();
    std::thread::scope(|s| {
        s.spawn(|| measure::ping_train(&lab.site_a, SITE_B_V4, Duration::from_millis(5), 400));
        std::thread::sleep(Duration::from_millis(500));
        process::run_ok(
            std::process::Command::new("kill").args(["-TERM", &pid.to_string()]),
            Duration::from_secs(5),
        )
        .expect("kill -TERM");
        lab.wait_until(
            "the CGW told of the VGW's stop on both sessions",
            Duration::from_secs(5),
            || {
                lab.bgp(Gw::Cgw).is_ok_and(|b| {
                    BOTH.iter().all(|t| {
                        b.last_error(t).is_some_and(|e| {
                            e.contains("received NOTIFICATION: cease: administrative shutdown")
                        })
                    })
                })
            },
        )
        .unwrap_or_else(|e| {
            panic!(
                "{test}: {e}: {}",
                lab.bgp(Gw::Cgw).map(|b| b.summary()).unwrap_or_default()
            )
        });
    });
}

#[test]
fn sessions_over_the_ipv6_inside_addresses_carry_ipv4_routes_with_ipv6_next_hops() {
    let _wd = Watchdog::arm("dynamic ipv6 sessions", Duration::from_secs(120));
    let test = "ipv6-sessions";
    let opts = SiteOptions::default()
        .set(Gw::Vgw, "connection.bgp", "session", "\"ipv6\"")
        .set(Gw::Cgw, "connection.bgp", "session", "\"ipv6\"");
    let lab = dynamic_lab(test, opts);
    wait_learned(&lab, test);
    for (gw, local, remote) in [
        (
            Gw::Vgw,
            ["fd00:0:0:10::1", "fd00:0:0:11::1"],
            ["fd00:0:0:10::2", "fd00:0:0:11::2"],
        ),
        (
            Gw::Cgw,
            ["fd00:0:0:10::2", "fd00:0:0:11::2"],
            ["fd00:0:0:10::1", "fd00:0:0:11::1"],
        ),
    ] {
        let bgp = lab.bgp(gw).expect("bgp");
        for (i, t) in BOTH.iter().enumerate() {
            let p = bgp
                .peer(t)
                .unwrap_or_else(|| panic!("{}: no peer over {t}", gw.name()));
            assert_eq!(p["local_address"], local[i], "{}: {p}", gw.name());
            assert_eq!(p["remote_address"], remote[i], "{}: {p}", gw.name());
            assert_eq!(
                p["extended_next_hop"],
                true,
                "{}: RFC 8950 not negotiated: {p}",
                gw.name()
            );
            assert_eq!(
                p["prefixes_received"].as_u64(),
                Some(2),
                "{}: {p}",
                gw.name()
            );
        }
    }
    lab.assert_sites_ping(test, Duration::from_secs(5));
}

#[test]
fn flows_are_spread_over_both_tunnels() {
    let _wd = Watchdog::arm("dynamic ecmp", Duration::from_secs(120));
    let test = "ecmp";
    let lab = dynamic_lab(test, SiteOptions::default());
    wait_learned(&lab, test);
    let before =
        [Gw::Cgw, Gw::Vgw].map(|gw| lab.tunnel_counters(gw, "tx_packets").expect("status"));
    // 32 flows of 1 Mbit/s each: with a fair hash, a tunnel gets under 10%
    // of them (3 or fewer) a few times in a million runs.
    let flows = Flows {
        streams: 32,
        seconds: 4,
        bitrate: "1M",
    };
    let r = lab
        .iperf3_flows(&lab.site_a, &lab.site_b, SITE_B_V4, 5401, flows)
        .unwrap_or_else(|e| panic!("{test}: iperf3 A->B: {e}"));
    let after = [Gw::Cgw, Gw::Vgw].map(|gw| lab.tunnel_counters(gw, "tx_packets").expect("status"));
    let cgw = counter_delta(&before[0], &after[0]);
    let vgw = counter_delta(&before[1], &after[1]);
    let share = shares(&cgw);
    println!(
        "[{test}] 32 TCP flows A->B for 4 s: {:.1} Mbit/s received; cgw tx_packets per tunnel {cgw:?} \
         (shares {share:.2?}); vgw tx_packets (ACKs) {vgw:?} (shares {:.2?})",
        r.received_mbps(),
        shares(&vgw)
    );
    assert!(r.received_bps > 0.0, "no throughput: {r:?}");
    for t in BOTH {
        assert!(
            share.get(t).copied().unwrap_or(0.0) >= 0.10,
            "tunnel {t} carried {:.1}% of the cgw's packets (want >= 10% with 32 flows): {cgw:?}\n{}",
            share.get(t).copied().unwrap_or(0.0) * 100.0,
            lab.gateway_logs()
        );
    }
}

#[test]
fn cutting_a_tunnel_link_moves_its_flows_within_a_second() {
    let _wd = Watchdog::arm("dynamic failover", Duration::from_secs(150));
    let test = "failover";
    let lab = dynamic_lab(test, SiteOptions::default());
    wait_learned(&lab, test);
    lab.assert_sites_ping(test, Duration::from_secs(5));

    let cut = lab
        .cut_carrier_link(
            test,
            Duration::from_secs(8),
            &[(Gw::Cgw, SITE_B_NET_V4), (Gw::Vgw, SITE_A_NET_V4)],
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{test}: {}", lab.with_logs(e)));
    let (carrier, link, other) = (cut.carrier, cut.link, cut.other);
    let removed = cut.all_removed().unwrap_or_else(|| {
        panic!(
            "{test}: both gateways to take {carrier}'s routes out of the FIB: not within 10 s \
             ({:?})\n{}",
            cut.removed,
            lab.gateway_logs()
        )
    });
    println!(
        "[{test}] {carrier}'s routes left both FIBs {removed:?} after the cut (hold time 30 s)"
    );
    let train = cut
        .train
        .unwrap_or_else(|e| panic!("{test}: ping train: {}", lab.with_logs(e)));
    println!("[{test}] ping train A->B every 10 ms: {train}");
    assert!(train.received > 0, "the ping train got nothing back");
    assert!(
        train.outage() < Duration::from_secs(1),
        "loss window {:?} / outage {:?}: not under 1 s\n{}",
        train.loss_window,
        train.outage(),
        lab.gateway_logs()
    );
    assert!(
        removed < Duration::from_secs(3),
        "{carrier}'s routes took {removed:?} to leave the FIB: that is not at once"
    );
    let routes = lab.routes(Gw::Cgw).expect("routes");
    assert_eq!(
        routes.selected_tunnels(SITE_B_NET_V6),
        vec![other.to_string()],
        "the cut tunnel's IPv6 route is still selected: {}",
        routes.summary()
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));

    lab.restore_vgw_link(link).expect("restore link");
    let at = Instant::now();
    lab.wait_established(Gw::Cgw, &BOTH, Duration::from_secs(40))
        .and_then(|_| lab.wait_established(Gw::Vgw, &BOTH, Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{test}: after restoring link {link}: {e}"));
    wait_learned(&lab, test);
    println!(
        "[{test}] link {link} restored: sessions and routes over both tunnels again after {:?}",
        at.elapsed()
    );
}

#[test]
fn with_propagation_off_learned_routes_stay_out_of_the_table() {
    let _wd = Watchdog::arm("dynamic propagation off", Duration::from_secs(150));
    let test = "propagation";
    let opts = SiteOptions::default().set(Gw::Cgw, "route_table", "propagation", "false");
    let mut lab = dynamic_lab(test, opts);
    let t = Duration::from_secs(10);
    lab.wait_routes(
        Gw::Cgw,
        &[SITE_B_NET_V4, SITE_B_NET_V6],
        &BOTH,
        &[VGW_ASN],
        false,
        t,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    lab.wait_routes(
        Gw::Vgw,
        &[SITE_A_NET_V4, SITE_A_NET_V6],
        &BOTH,
        &[CGW_ASN],
        true,
        t,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let routes = lab.routes(Gw::Cgw).expect("routes");
    println!("[{test}] cgw {}", routes.summary());
    assert_eq!(routes.propagation(), Some(false), "{}", routes.summary());
    for prefix in [SITE_B_NET_V4, SITE_B_NET_V6] {
        assert_eq!(
            routes.candidates(prefix).len(),
            2,
            "{prefix}: {}",
            routes.summary()
        );
        assert!(
            routes.selected(prefix).is_empty(),
            "{prefix} selected with propagation off: {}",
            routes.summary()
        );
    }
    let kernel = lab
        .cgw
        .ip(&["route", "show", SITE_B_NET_V4])
        .expect("ip route");
    println!(
        "[{test}] cgw kernel route to {SITE_B_NET_V4}: {:?}",
        kernel.trim()
    );
    for dst in [SITE_B_V4, SITE_B_V6] {
        let p = ping(&lab.site_a, dst).expect("ping");
        println!(
            "[{test}] site A -> {dst}: {}/{} answered",
            p.received, p.sent
        );
        assert_eq!(
            p.received, 0,
            "site A reached {dst} with propagation off on the cgw"
        );
    }
    // The VGW's side works: it routes site B's echo requests into the
    // tunnels, and the cgw lets them in (site B's prefixes are the
    // connection's own, routed or not) and delivers them; only the replies
    // have no route back.
    let echos = || snmp_counter(&lab.site_a, "Icmp", "InEchos").expect("snmp");
    let counters =
        |gw: Gw, c: &str| -> u64 { lab.tunnel_counters(gw, c).expect("status").values().sum() };
    let before = (
        counters(Gw::Vgw, "tx_packets"),
        counters(Gw::Cgw, "rx_packets"),
        counters(Gw::Cgw, "rx_source_refused"),
        echos(),
    );
    let p = ping(&lab.site_b, SITE_A_V4).expect("ping");
    let sent_in = counters(Gw::Vgw, "tx_packets") - before.0;
    let (cgw_rx, refused, arrived) = (
        counters(Gw::Cgw, "rx_packets") - before.1,
        counters(Gw::Cgw, "rx_source_refused") - before.2,
        echos() - before.3,
    );
    println!(
        "[{test}] site B -> {SITE_A_V4}: {} requests; the vgw sent {sent_in} packets into the \
         tunnels; the cgw received {cgw_rx}, refused {refused} (source check); {arrived} reached \
         site A; {} answered",
        p.sent, p.received
    );
    assert!(
        sent_in >= u64::from(p.sent),
        "the vgw did not route site B's requests into the tunnels ({sent_in} packets for {})",
        p.sent
    );
    assert_eq!(
        p.received, 0,
        "replies went back without a route on the cgw"
    );
    assert_eq!(
        refused, 0,
        "the cgw's source check refused packets from the connection's own prefixes"
    );
    assert!(
        arrived >= u64::from(p.sent),
        "site B's requests did not reach site A ({arrived} of {})",
        p.sent
    );

    // The same gateway, propagation on (the example's value): routes selected.
    lab.restart_with(Gw::Cgw, Some(Vec::new()))
        .unwrap_or_else(|e| panic!("{test}: restart: {e}"));
    let at = Instant::now();
    lab.wait_all_established(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{test}: after the restart: {e}"));
    wait_learned(&lab, test);
    println!(
        "[{test}] cgw restarted with propagation on: sessions and selected routes after {:?}",
        at.elapsed()
    );
    assert_eq!(
        lab.routes(Gw::Cgw).expect("routes").propagation(),
        Some(true)
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));
}
