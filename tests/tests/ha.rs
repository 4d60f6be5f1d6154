//! Topology 3 of ARCHITECTURE.md (HA), end to end: site A's edge router has two
//! uplinks and runs two customer gateways (`examples/ha/cgw1.toml` on uplink
//! 1, `cgw2.toml` on uplink 2, kernel route metrics 100 and 200), each with a
//! dynamic connection of two tunnels to the VGW: four tunnels, four BGP
//! sessions. Traffic from site B is spread over all four; `kill -9` of CGW1
//! loses under a second of a 10 ms ping train and the VGW stops using CGW1's
//! tunnels; CGW1 restarted (same config, same keys) gets its sessions back
//! and carries flows again.
//!
//! Run with `cargo build -p sitelink && cargo test -p sitelink-lab --test ha
//! -- --nocapture --test-threads=1` to see the numbers.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::gateway::{counter_delta, shares};
use sitelink_lab::measure::{self, Flows};
use sitelink_lab::topology::{
    CGW_ASN, SITE_A_NET_V4, SITE_A_NET_V6, SITE_A_V4, SITE_B_NET_V4, SITE_B_NET_V6, TUNNEL_1,
    TUNNEL_2, TUNNEL_3, TUNNEL_4, VGW_ASN,
};
use sitelink_lab::{Gw, SiteLab, Topology};
use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

const CGW1_TUNNELS: [&str; 2] = [TUNNEL_1, TUNNEL_2];
const CGW2_TUNNELS: [&str; 2] = [TUNNEL_3, TUNNEL_4];
const ALL: [&str; 4] = [TUNNEL_1, TUNNEL_2, TUNNEL_3, TUNNEL_4];

fn ha_lab(test: &str) -> SiteLab {
    let lab =
        SiteLab::start(Topology::Ha).unwrap_or_else(|e| panic!("{test}: starting the HA lab: {e}"));
    let up = lab
        .wait_all_tunnels_up(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] all three gateways report all tunnels up after {up:?}");
    let est = lab
        .wait_all_established(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] 4 BGP sessions established on the vgw (2 per cgw) {est:?} later");
    for gw in [Gw::Vgw, Gw::Cgw, Gw::Cgw2] {
        println!(
            "[{test}]   {} {}",
            lab.gw_name(gw),
            lab.bgp(gw).expect("bgp").summary()
        );
    }
    lab
}

/// The kernel routes of site A's edge router toward `prefix` (one line each).
fn kernel_routes(lab: &SiteLab, prefix: &str) -> Vec<String> {
    let family = if prefix.contains(':') { "-6" } else { "-4" };
    lab.cgw
        .ip(&[family, "route", "show", prefix])
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn sum(delta: &BTreeMap<String, u64>, tunnels: &[&str]) -> u64 {
    tunnels
        .iter()
        .map(|t| delta.get(*t).copied().unwrap_or(0))
        .sum()
}

#[test]
fn a_cgw_crash_loses_under_a_second_and_its_restart_takes_flows_back() {
    let _wd = Watchdog::arm("ha crash and restart", Duration::from_secs(200));
    let test = "ha";
    let mut lab = ha_lab(test);
    let t = Duration::from_secs(10);
    lab.wait_routes(
        Gw::Vgw,
        &[SITE_A_NET_V4, SITE_A_NET_V6],
        &ALL,
        &[CGW_ASN],
        true,
        t,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    for (gw, tunnels) in [(Gw::Cgw, CGW1_TUNNELS), (Gw::Cgw2, CGW2_TUNNELS)] {
        lab.wait_routes(
            gw,
            &[SITE_B_NET_V4, SITE_B_NET_V6],
            &tunnels,
            &[VGW_ASN],
            true,
            t,
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    }
    println!(
        "[{test}] vgw {}",
        lab.routes(Gw::Vgw).expect("routes").summary()
    );
    // Both gateways put site B into the edge router's kernel table, CGW1's
    // route preferred (metric 100 against 200).
    let metrics = ["metric 100", "metric 200"];
    lab.wait_until(
        "the edge router's kernel to route site B through both cgws (metrics 100, 200)",
        Duration::from_secs(5),
        || {
            let r = kernel_routes(&lab, SITE_B_NET_V4);
            metrics.iter().all(|m| r.iter().any(|l| l.contains(m)))
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{test}: {e}\nkernel: {:?}",
            kernel_routes(&lab, SITE_B_NET_V4)
        )
    });
    println!(
        "[{test}] edge router kernel: {:?}",
        kernel_routes(&lab, SITE_B_NET_V4)
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));

    // Phase 1: a ping train and 16 flows from site B to site A; kill -9
    // CGW1 2.5 s in; measure which tunnels the VGW uses once it noticed.
    let port = 5501;
    let _server = lab.iperf3_server(&lab.site_a, port).expect("iperf3 server");
    let flows = Flows {
        streams: 16,
        seconds: 8,
        bitrate: "2M",
    };
    let (train, stream, noticed, after_kill) = thread::scope(|s| {
        let lab = &lab;
        let train = s.spawn(move || {
            measure::ping_train_for(
                &lab.site_b,
                SITE_A_V4,
                Duration::from_millis(10),
                Duration::from_secs(7),
            )
        });
        let stream = s.spawn(move || measure::iperf3_flows(&lab.site_b, SITE_A_V4, port, flows));
        thread::sleep(Duration::from_millis(2500));
        let killed_at = Instant::now();
        lab.kill9(Gw::Cgw).expect("kill -9 cgw1");
        println!("[{test}] kill -9 cgw1");
        let noticed = lab
            .wait_until(
                "the vgw to see cgw1's tunnels down",
                Duration::from_secs(5),
                || {
                    lab.status(Gw::Vgw).is_ok_and(|st| {
                        CGW1_TUNNELS
                            .iter()
                            .all(|t| st.tunnel(t).is_some_and(|x| x["liveness"] != "up"))
                    })
                },
            )
            .map(|_| killed_at.elapsed());
        // Once noticed, 1.5 s of the flows: which tunnels carry them?
        thread::sleep(Duration::from_millis(300));
        let a = lab.tunnel_counters(Gw::Vgw, "tx_packets").expect("status");
        thread::sleep(Duration::from_millis(1500));
        let b = lab.tunnel_counters(Gw::Vgw, "tx_packets").expect("status");
        (
            train.join().expect("ping thread"),
            stream.join().expect("iperf3 thread"),
            noticed,
            counter_delta(&a, &b),
        )
    });
    let noticed = noticed.unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] the vgw saw cgw1's tunnels down {noticed:?} after the kill");
    let train = train.unwrap_or_else(|e| panic!("{test}: ping train: {}", lab.with_logs(e)));
    println!("[{test}] ping train B->A every 10 ms across the crash: {train}");
    let stream = stream.unwrap_or_else(|e| panic!("{test}: the flows did not complete: {e}"));
    println!(
        "[{test}] 16 flows B->A across the crash: {:.1} Mbit/s, per second {:?}, retransmits {:?}",
        stream.received_mbps(),
        stream.intervals_mbps(),
        stream.retransmits
    );
    println!(
        "[{test}] vgw tx_packets per tunnel in 1.5 s after it noticed: {after_kill:?} (shares {:.2?})",
        shares(&after_kill)
    );
    assert!(train.received > 0, "the ping train got nothing back");
    assert!(
        train.outage() < Duration::from_secs(1),
        "loss window {:?} / outage {:?}: not under 1 s\n{}",
        train.loss_window,
        train.outage(),
        lab.gateway_logs()
    );
    let n = stream.intervals_bps.len();
    assert!(
        n >= 4 && stream.intervals_bps[n - 2..].iter().all(|b| *b > 0.0),
        "the flows are dead after the crash: {:?}",
        stream.intervals_mbps()
    );
    let (dead, live) = (
        sum(&after_kill, &CGW1_TUNNELS),
        sum(&after_kill, &CGW2_TUNNELS),
    );
    assert!(
        live >= 100 && dead * 50 <= dead + live,
        "{test}: the vgw still sends over cgw1's tunnels ({dead} packets against {live} over cgw2's)"
    );
    lab.wait_until(
        "the vgw to route site A over cgw2's tunnels only",
        Duration::from_secs(5),
        || {
            lab.routes(Gw::Vgw)
                .is_ok_and(|r| r.selected_tunnels(SITE_A_NET_V4) == CGW2_TUNNELS)
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!(
        "[{test}] edge router kernel without cgw1: {:?}",
        kernel_routes(&lab, SITE_B_NET_V4)
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));

    // Phase 2: CGW1 again, same config and keys.
    let restarted = Instant::now();
    lab.restart(Gw::Cgw)
        .unwrap_or_else(|e| panic!("{test}: restart cgw1: {e}"));
    lab.wait_established(Gw::Vgw, &CGW1_TUNNELS, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{test}: after the restart: {e}"));
    let est = restarted.elapsed();
    lab.wait_routes(Gw::Vgw, &[SITE_A_NET_V4], &ALL, &[CGW_ASN], true, t)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!(
        "[{test}] cgw1 restarted: its sessions established on the vgw {est:?} later; routes over all 4 tunnels {:?} later",
        restarted.elapsed()
    );
    println!("[{test}] vgw {}", lab.bgp(Gw::Vgw).expect("bgp").summary());
    let before = lab.tunnel_counters(Gw::Vgw, "tx_packets").expect("status");
    let flows = Flows {
        streams: 32,
        seconds: 4,
        bitrate: "1M",
    };
    let r = lab
        .iperf3_flows(&lab.site_b, &lab.site_a, SITE_A_V4, port + 1, flows)
        .unwrap_or_else(|e| panic!("{test}: iperf3 B->A: {e}"));
    let after = lab.tunnel_counters(Gw::Vgw, "tx_packets").expect("status");
    let delta = counter_delta(&before, &after);
    let share = shares(&delta);
    println!(
        "[{test}] 32 flows B->A after the restart: {:.1} Mbit/s; vgw tx_packets per tunnel {delta:?} (shares {share:.2?})",
        r.received_mbps()
    );
    let cgw1_share: f64 = CGW1_TUNNELS
        .iter()
        .map(|t| share.get(*t).copied().unwrap_or(0.0))
        .sum();
    assert!(
        cgw1_share >= 0.10,
        "{test}: cgw1's tunnels carry {:.1}% of the vgw's packets after its restart: {delta:?}",
        cgw1_share * 100.0
    );
    for t in CGW1_TUNNELS {
        assert!(
            share.get(t).copied().unwrap_or(0.0) >= 0.01,
            "{test}: {t} carries no flow after cgw1's restart: {delta:?}"
        );
    }
    lab.assert_sites_ping(test, Duration::from_secs(5));
}
