//! Issue 15, "failover independent of the table size", end to end: topology 2
//! (dynamic, configs from `examples/dynamic/`) with the VGW advertising
//! 100,000 extra IPv4 /24s (20.0.0.0/24 upward) besides site B's networks.
//! Once the customer gateway has learned them all over both tunnels (FIB,
//! kernel routes), a 10 ms ping train runs from site A to site B and the
//! VGW link of the tunnel carrying it is cut. It proves that the train's
//! outage stays under 1 s, the bound of the small-table test
//! (`cutting_a_tunnel_link_moves_its_flows_within_a_second` in
//! `dynamic_connection.rs`, two prefixes a side): traffic moves with the
//! FIB's next-hop groups, not prefix by prefix. And the cut tunnel leaves
//! the selected tunnels of site B's prefix and of the first and last extra
//! prefixes. It prints the ingest time, the loss window, the outage and when
//! the routes left.
//!
//! The customer gateway's `max_prefixes` (100 by default, as AWS) is raised
//! for the table; nothing else changes. The lab runs the debug build, so
//! the ingest is slower than in release. Run with `cargo build -p sitelink &&
//! cargo test -p sitelink-lab --test large_table_failover -- --nocapture`
//! (about 40 s).

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::gateway::toml_strings;
use sitelink_lab::process;
use sitelink_lab::topology::{SITE_B_NET_V4, SITE_B_NET_V6, TUNNEL_1, TUNNEL_2};
use sitelink_lab::{Gw, SiteLab, SiteOptions, Topology};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Extra prefixes the VGW advertises.
const EXTRA: u32 = 100_000;
const BOTH: [&str; 2] = [TUNNEL_1, TUNNEL_2];

/// The first extra prefix's address.
const BASE: Ipv4Addr = Ipv4Addr::new(20, 0, 0, 0);

/// The `i`th extra prefix: the /24s from 20.0.0.0 upward (to 21.134.159.0/24).
fn extra(i: u32) -> String {
    format!("{}/24", Ipv4Addr::from(u32::from(BASE) + (i << 8)))
}

/// True for one of the extra prefixes as `ip route` starts its line.
fn is_extra(route: &str) -> bool {
    let Some(addr) = route
        .split_whitespace()
        .next()
        .and_then(|p| p.strip_suffix("/24"))
        .and_then(|a| a.parse::<Ipv4Addr>().ok())
    else {
        return false;
    };
    let i = u32::from(addr).wrapping_sub(u32::from(BASE));
    i.trailing_zeros() >= 8 && i >> 8 < EXTRA
}

#[test]
fn cutting_a_tunnel_carrying_100k_routes_moves_its_flows_within_a_second() {
    let _wd = Watchdog::arm("large-table failover", Duration::from_secs(180));
    let test = "large-table";
    let mut networks = vec![SITE_B_NET_V4.to_string(), SITE_B_NET_V6.to_string()];
    networks.extend((0..EXTRA).map(extra));
    let opts = SiteOptions::default()
        .set(Gw::Vgw, "bgp", "networks", toml_strings(&networks))
        .set(Gw::Cgw, "connection.bgp", "max_prefixes", "150000");
    let start = Instant::now();
    let lab = SiteLab::start_settled(Topology::Dynamic, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    println!(
        "[{test}] gateways started, tunnels up, BGP established after {:?}",
        start.elapsed()
    );

    // Ingest: every route accepted over both tunnels, then in the FIB.
    let per_session = u64::from(EXTRA) + 2;
    let fib_v4 = u64::from(EXTRA) + 1 + 2; // + site B, + the tunnels' /30s
    let ingest = Instant::now();
    let poll = Duration::from_millis(500);
    let accepted = process::wait_until(
        "the cgw to accept every route over both tunnels",
        Duration::from_secs(45),
        poll,
        || {
            lab.bgp(Gw::Cgw).is_ok_and(|b| {
                BOTH.iter()
                    .all(|t| b.peer_u64(t, "prefixes_accepted") == Some(per_session))
            })
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {}", lab.with_logs(e)));
    process::wait_until(
        "the cgw's FIB to hold every route",
        Duration::from_secs(15),
        poll,
        || {
            lab.status(Gw::Cgw)
                .is_ok_and(|s| s.fib_routes().is_some_and(|(v4, _)| v4 == fib_v4))
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {}", lab.with_logs(e)));
    let first = extra(0);
    let last = extra(EXTRA - 1);
    lab.wait_until(
        "the sample prefixes to be selected over both tunnels",
        Duration::from_secs(15),
        || {
            [SITE_B_NET_V4, &first, &last].iter().all(|p| {
                lab.routes_of(Gw::Cgw, p)
                    .is_ok_and(|r| r.selected_tunnels(p) == BOTH.to_vec())
            })
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let learned = ingest.elapsed();
    // A session that came up more than once was reset on the way (by its
    // liveness probe, while the VGW sent the table).
    let ups = lab.bgp(Gw::Cgw).map_or_else(
        |e| format!("? ({e})"),
        |b| {
            format!(
                "{:?}",
                BOTH.map(|t| b.peer_u64(t, "established_transitions"))
            )
        },
    );
    println!(
        "[{test}] cgw: {per_session} routes accepted over each tunnel after {accepted:?}, FIB of \
         {fib_v4} IPv4 prefixes and the samples over both tunnels after {learned:?} (sessions \
         established {ups} times)"
    );
    let tun = lab
        .status(Gw::Cgw)
        .ok()
        .and_then(|s| s["tun"].as_str().map(str::to_string))
        .expect("the cgw's status names its TUN device");
    let kernel_routes = || {
        lab.cgw
            .ip(&["-4", "route", "show", "dev", &tun])
            .map_or(0, |out| {
                out.lines()
                    .filter(|l| is_extra(l) || l.starts_with(SITE_B_NET_V4))
                    .count()
            })
    };
    process::wait_until(
        "the cgw's kernel to route every prefix into the TUN",
        Duration::from_secs(30),
        Duration::from_secs(1),
        || kernel_routes() as u64 == u64::from(EXTRA) + 1,
    )
    .unwrap_or_else(|e| panic!("{test}: {} ({} routes)", lab.with_logs(e), kernel_routes()));
    println!(
        "[{test}] cgw kernel routes into {tun} complete after {:?}",
        ingest.elapsed()
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));

    let cut = lab
        .cut_carrier_link(
            test,
            Duration::from_secs(8),
            &[
                (Gw::Cgw, SITE_B_NET_V4),
                (Gw::Cgw, &first),
                (Gw::Cgw, &last),
            ],
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{test}: {}", lab.with_logs(e)));
    let train = cut
        .train
        .as_ref()
        .unwrap_or_else(|e| panic!("{test}: ping train: {e}\n{}", lab.gateway_logs()));
    println!("[{test}] ping train A->B every 10 ms: {train}");
    println!(
        "[{test}] {} left the selected tunnels after: {SITE_B_NET_V4} {:?}, {first} {:?}, {last} {:?}",
        cut.carrier, cut.removed[0], cut.removed[1], cut.removed[2]
    );
    let ms = |d: Duration| d.as_millis();
    println!(
        "[{test}] 100k routes: loss window {} ms, outage {} ms; routes off the cut tunnel after {}",
        ms(train.loss_window),
        ms(train.outage()),
        cut.all_removed()
            .map_or("(not all within 10 s)".into(), |d| format!("{} ms", ms(d)))
    );
    assert!(train.received > 0, "the ping train got nothing back");
    assert!(
        train.outage() < Duration::from_secs(1),
        "with {EXTRA} extra routes: loss window {:?} / outage {:?}: not under 1 s\n{}",
        train.loss_window,
        train.outage(),
        lab.gateway_logs()
    );
    assert!(
        cut.all_removed().is_some(),
        "{} still selected for {:?} of [{SITE_B_NET_V4}, {first}, {last}] 10 s after the cut\n{}",
        cut.carrier,
        cut.removed,
        lab.gateway_logs()
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));
    println!("[{test}] whole test {:?}", start.elapsed());
}

#[test]
fn the_extra_prefixes_are_recognised_in_ip_route_lines() {
    assert_eq!(extra(0), "20.0.0.0/24");
    assert_eq!(extra(EXTRA - 1), "21.134.159.0/24");
    assert!(is_extra("20.0.0.0/24 proto 83 metric 100"));
    assert!(is_extra("21.134.159.0/24 proto 83 metric 100"));
    assert!(!is_extra("21.134.160.0/24 proto 83 metric 100"));
    assert!(!is_extra("19.255.255.0/24 proto 83"));
    assert!(!is_extra("20.0.0.128/25 proto 83"));
    assert!(!is_extra("10.2.0.0/24 proto 83"));
}
