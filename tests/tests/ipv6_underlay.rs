//! Topologies 1 and 2 of ARCHITECTURE.md over an IPv6-only internet
//! (`Underlay::V6`, configs from `examples/ipv6-underlay/`): every endpoint
//! and remote is in 2001:db8::/32, the public links carry no IPv4, the sites
//! stay dual-stack and both families cross the tunnels. A static connection
//! and a dynamic (BGP) one come up and each site's IPv4 and IPv6 host pings
//! the other's; cutting the link of the tunnel that carries a 10 ms ping
//! train loses under a second of it (the bound of the IPv4 failover tests)
//! and both gateways move to the other tunnel; the TUN MTU is 1420 by
//! default (1500 less 80 bytes of IPv6, UDP and WireGuard headers), packets
//! of exactly that size cross both ways with DF set and one byte more is
//! refused with that MTU, TCP streams run both ways, and no gateway
//! fragments or reassembles an IPv6 datagram nor does the internet send a
//! Packet Too Big; over a path narrower than the config says (the uplinks
//! claimed 1520) each tunnel is fitted to the route's MTU at start, TCP is
//! clamped to it and bursts of larger packets are fragmented, never lost; a
//! far side announcing ::/0 and 0.0.0.0/0 never captures
//! the gateway's own IPv6 WireGuard datagrams (the scenario of
//! `default_route.rs`, shared through `sitelink_lab::default_route`).
//!
//! Run with `cargo build -p sitelink && cargo test -p sitelink-lab --test
//! ipv6_underlay -- --nocapture --test-threads=1` to see the numbers.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::measure::{self, snmp6_counter};
use sitelink_lab::topology::{
    Underlay, CGW_ASN, SITE_A_NET_V4, SITE_A_NET_V6, SITE_A_V4, SITE_A_V6, SITE_B_NET_V4,
    SITE_B_NET_V6, SITE_B_V4, SITE_B_V6, TUNNEL_1, TUNNEL_2, VGW_ASN,
};
use sitelink_lab::{Gw, Netns, SiteLab, SiteOptions, Topology};
use std::time::{Duration, Instant};

/// The TUN MTU the IPv6-underlay examples get by default on 1500-byte links.
const MTU: u32 = 1420;
const BOTH: [&str; 2] = [TUNNEL_1, TUNNEL_2];

/// Starts `topology` over the IPv6 underlay, settled (tunnels up, sessions
/// established), and checks that every endpoint and remote is IPv6 and
/// every tunnel carries [`MTU`].
fn v6_lab(test: &str, topology: Topology) -> SiteLab {
    let opts = SiteOptions::default().underlay(Underlay::V6);
    let at = Instant::now();
    let lab = SiteLab::start_settled(topology, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the {topology:?} lab over IPv6: {e}"));
    println!(
        "[{test}] {topology:?} over IPv6: settled after {:?}",
        at.elapsed()
    );
    for gw in [Gw::Cgw, Gw::Vgw] {
        let status = lab.status(gw).expect("status");
        println!("[{test}]   {}", status.summary());
        let listens: Vec<&str> = status["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["listen"].as_str())
            .collect();
        assert!(
            !listens.is_empty() && listens.iter().all(|l| l.starts_with("[2001:db8:")),
            "{test}: {} listens on {listens:?}",
            gw.name()
        );
        for t in status.tunnels() {
            let remote = t["remote"].as_str().unwrap_or("?");
            assert!(
                remote.starts_with("[2001:db8:"),
                "{test}: {} tunnel {} goes to {remote}",
                gw.name(),
                t["inside_cidr"]
            );
            assert_eq!(
                t["mtu"].as_u64(),
                Some(u64::from(MTU)),
                "{test}: {} tunnel {t}",
                gw.name()
            );
        }
    }
    // Nothing IPv4 on the internet's links.
    let inet_v4 = lab
        .inet
        .ip(&["-4", "-o", "addr", "show", "scope", "global"])
        .expect("ip addr");
    assert!(
        inet_v4.trim().is_empty(),
        "{test}: inet has IPv4: {inet_v4}"
    );
    lab
}

/// Cuts the VGW link of the tunnel carrying a ping train from site A and
/// asserts the train's outage is under a second; returns the cut.
fn cut_under_a_ping_train(
    lab: &SiteLab,
    test: &str,
    watch: &[(Gw, &str)],
) -> sitelink_lab::topology::LinkCut {
    let cut = lab
        .cut_carrier_link(test, Duration::from_secs(8), watch, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{test}: {}", lab.with_logs(e)));
    let train = cut
        .train
        .as_ref()
        .unwrap_or_else(|e| panic!("{test}: ping train: {e}\n{}", lab.gateway_logs()));
    println!("[{test}] ping train A->B every 10 ms across the cut: {train}");
    assert!(
        train.received > 0,
        "{test}: the ping train got nothing back"
    );
    assert!(
        train.outage() < Duration::from_secs(1),
        "{test}: loss window {:?} / outage {:?}: not under 1 s\n{}",
        train.loss_window,
        train.outage(),
        lab.gateway_logs()
    );
    cut
}

#[test]
fn a_static_connection_over_ipv6_carries_both_families_and_fails_over_within_a_second() {
    let _wd = Watchdog::arm("ipv6 static", Duration::from_secs(120));
    let test = "v6-static";
    let lab = v6_lab(test, Topology::Static);
    lab.assert_sites_ping(test, Duration::from_secs(5));
    lab.wait_until(
        "both gateways to agree on an active tunnel",
        Duration::from_secs(5),
        || lab.agreed_active_tunnel().is_ok(),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));

    let cut = cut_under_a_ping_train(&lab, test, &[]);
    let took = lab
        .wait_active(cut.other, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{test}: no switch to {}: {e}", cut.other));
    println!(
        "[{test}] both gateways on {} (checked {took:?} after the train ended)",
        cut.other
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));

    lab.restore_vgw_link(cut.link).expect("restore link");
    let at = Instant::now();
    lab.wait_active(TUNNEL_1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{test}: no failback to {TUNNEL_1}: {e}"));
    println!(
        "[{test}] link {} restored: both gateways back on {TUNNEL_1} after {:?} (failback hold 3 s)",
        cut.link,
        at.elapsed()
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));
}

#[test]
fn a_dynamic_connection_over_ipv6_learns_both_families_and_fails_over_within_a_second() {
    let _wd = Watchdog::arm("ipv6 dynamic", Duration::from_secs(150));
    let test = "v6-dynamic";
    let lab = v6_lab(test, Topology::Dynamic);
    let t = Duration::from_secs(10);
    let learned = [
        (Gw::Vgw, [SITE_A_NET_V4, SITE_A_NET_V6], CGW_ASN),
        (Gw::Cgw, [SITE_B_NET_V4, SITE_B_NET_V6], VGW_ASN),
    ];
    for (gw, prefixes, asn) in learned {
        let took = lab
            .wait_routes(gw, &prefixes, &BOTH, &[asn], true, t)
            .unwrap_or_else(|e| panic!("{test}: {e}"));
        println!(
            "[{test}] {} selected {prefixes:?} over both tunnels after {took:?}",
            gw.name()
        );
    }
    lab.assert_sites_ping(test, Duration::from_secs(5));

    let watch = [
        (Gw::Cgw, SITE_B_NET_V4),
        (Gw::Cgw, SITE_B_NET_V6),
        (Gw::Vgw, SITE_A_NET_V4),
        (Gw::Vgw, SITE_A_NET_V6),
    ];
    let cut = cut_under_a_ping_train(&lab, test, &watch);
    let removed = cut.all_removed().unwrap_or_else(|| {
        panic!(
            "{test}: {}'s routes still selected 10 s after the cut: {:?}\n{}",
            cut.carrier,
            cut.removed,
            lab.gateway_logs()
        )
    });
    println!(
        "[{test}] {}'s routes (both families, both gateways) left the FIB {removed:?} after the cut",
        cut.carrier
    );
    assert!(
        removed < Duration::from_secs(3),
        "{test}: {removed:?} for the routes to leave the cut tunnel: not at once"
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));
}

/// IPv6 fragmentation and Packet Too Big counters of the namespaces the
/// outer datagrams cross: (gateways' fragments made, gateways'
/// reassemblies, inet's Packet Too Big sent).
fn fragment_counters(lab: &SiteLab) -> [u64; 3] {
    let sum = |field: &str, nss: &[&Netns]| -> u64 {
        nss.iter()
            .map(|ns| snmp6_counter(ns, field).expect("snmp6"))
            .sum()
    };
    [
        sum("Ip6FragCreates", &[&lab.cgw, &lab.vgw]),
        sum("Ip6ReasmReqds", &[&lab.cgw, &lab.vgw]),
        sum("Icmp6OutPktTooBigs", &[&lab.inet]),
    ]
}

#[test]
fn full_size_packets_cross_the_ipv6_underlay_in_one_piece() {
    let _wd = Watchdog::arm("ipv6 full size", Duration::from_secs(120));
    let test = "v6-mtu";
    let lab = v6_lab(test, Topology::Static);
    lab.assert_sites_ping(test, Duration::from_secs(5));
    for gw in [Gw::Cgw, Gw::Vgw] {
        let status = lab.status(gw).expect("status");
        let tun = status["tun"].as_str().expect("the status names the TUN");
        let link = lab
            .ns(gw)
            .ip(&["-o", "link", "show", "dev", tun])
            .expect("ip link");
        println!("[{test}] {} {tun}: {}", gw.name(), link.trim());
        assert!(
            link.contains(&format!(" mtu {MTU} ")),
            "{test}: {}'s TUN is not {MTU}: {link}",
            gw.name()
        );
    }
    let before = fragment_counters(&lab);

    // Exactly the TUN MTU, DF set, both families, both ways: 1420 inside,
    // 1500 on the wire.
    for (from, to) in [
        (&lab.site_a, SITE_B_V4),
        (&lab.site_a, SITE_B_V6),
        (&lab.site_b, SITE_A_V4),
        (&lab.site_b, SITE_A_V6),
    ] {
        let headers = if to.contains(':') { 48 } else { 28 };
        let full = measure::ping_dont_fragment(from, to, MTU - headers).expect("ping");
        println!(
            "[{test}] {} -> {to}, {} bytes with DF: {}/{} answered",
            from.name(),
            MTU,
            full.count.received,
            full.count.sent
        );
        assert!(
            full.count.sent > 0 && full.count.received == full.count.sent,
            "{test}: full-size pings {} -> {to} lost: {full:?}\n{}",
            from.name(),
            lab.gateway_logs()
        );
        let over = measure::ping_dont_fragment(from, to, MTU - headers + 1).expect("ping");
        println!(
            "[{test}] {} -> {to}, {} bytes with DF: {}/{} answered, refused with mtu {:?}",
            from.name(),
            MTU + 1,
            over.count.received,
            over.count.sent,
            over.refused_mtu
        );
        assert_eq!(
            over.count.received, 0,
            "{test}: {over:?} passed the TUN MTU"
        );
        assert_eq!(
            over.refused_mtu,
            Some(MTU),
            "{test}: one byte over the MTU is not refused with the MTU: {over:?}"
        );
    }

    // TCP both ways (each gateway clamps the SYNs to the tunnel's MSS).
    for (from, to, dst, port) in [
        (&lab.site_a, &lab.site_b, SITE_B_V4, 5601),
        (&lab.site_b, &lab.site_a, SITE_A_V6, 5602),
    ] {
        let _server = lab.iperf3_server(to, port).expect("iperf3 server");
        let r = measure::iperf3_client(from, dst, port, 3)
            .unwrap_or_else(|e| panic!("{test}: iperf3 -> {dst}: {}", lab.with_logs(e)));
        println!(
            "[{test}] TCP {} -> {dst}: {:.1} Mbit/s (per second {:?}, retransmits {:?})",
            from.name(),
            r.received_mbps(),
            r.intervals_mbps(),
            r.retransmits
        );
        assert!(
            !r.intervals_bps.is_empty() && r.intervals_bps.iter().all(|b| *b > 0.0),
            "{test}: the TCP stream to {dst} stalled: {:?}",
            r.intervals_mbps()
        );
    }

    let after = fragment_counters(&lab);
    let grew: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    println!(
        "[{test}] during the pings and streams: IPv6 fragments made {}, reassembled {} (cgw + vgw), \
         Packet Too Big sent by inet {}",
        grew[0], grew[1], grew[2]
    );
    assert_eq!(
        grew,
        vec![0, 0, 0],
        "{test}: outer datagrams were fragmented or too big for the path"
    );
}

#[test]
fn a_path_narrower_than_configured_clamps_tcp_to_it_and_never_black_holes() {
    let _wd = Watchdog::arm("ipv6 narrow path", Duration::from_secs(90));
    let test = "v6-narrow";
    // Both gateways told their uplinks carry 1520 bytes (they carry 1500):
    // 1440 + 80 = 1520 passes the config check, and every full-size
    // datagram would be 20 bytes too big for the path.
    let mut opts = SiteOptions::default().underlay(Underlay::V6);
    for gw in [Gw::Cgw, Gw::Vgw] {
        opts = opts
            .set(gw, "tun", "mtu", "1440")
            .set(gw, "endpoint", "mtu", "1520");
    }
    let lab = SiteLab::start_settled(Topology::Static, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the lab: {e}"));
    // At start each gateway read the route's MTU (1500) and fitted its
    // tunnels to it, saying so.
    for gw in [Gw::Cgw, Gw::Vgw] {
        let mtus: Vec<_> = lab
            .status(gw)
            .expect("status")
            .tunnels()
            .iter()
            .map(|t| t["mtu"].as_u64())
            .collect();
        println!("[{test}] {} tunnels' mtu {mtus:?} (TUN 1440)", gw.name());
        assert_eq!(
            mtus,
            vec![Some(1420), Some(1420)],
            "{test}: {} not fitted to the route",
            gw.name()
        );
    }
    let logs = lab.gateway_logs();
    assert!(
        logs.contains("the route to the far endpoint carries less than the endpoint's mtu says"),
        "{test}: no warning in the logs:\n{logs}"
    );
    lab.assert_sites_ping(test, Duration::from_secs(5));

    // TCP: clamped to the path (MSS 1380), it needs no fragment.
    let before = fragment_counters(&lab);
    let r = lab
        .iperf3_a_to_b(SITE_B_V4, 5603, 3)
        .unwrap_or_else(|e| panic!("{test}: iperf3: {e}"));
    let tcp_frags = fragment_counters(&lab)[0] - before[0];
    println!(
        "[{test}] TCP A->B: {:.1} Mbit/s (per second {:?}); IPv6 fragments made {tcp_frags}",
        r.received_mbps(),
        r.intervals_mbps()
    );
    assert!(
        !r.intervals_bps.is_empty() && r.intervals_bps.iter().all(|b| *b > 0.0),
        "{test}: the stream stalled: {:?}\n{}",
        r.intervals_mbps(),
        lab.gateway_logs()
    );
    assert_eq!(tcp_frags, 0, "{test}: TCP was not clamped to the path");

    // Packets of the full TUN MTU (1440) in bursts of 20: GSO runs whose
    // segments the path cannot carry. Sent again one by one, the kernel
    // fragments them; none is lost.
    let before = fragment_counters(&lab);
    let p = measure::ping_bursts(&lab.site_a, SITE_B_V4, 1440 - 28, 200, 20).expect("ping");
    let frags = fragment_counters(&lab)[0] - before[0];
    let failed = lab
        .status(Gw::Cgw)
        .ok()
        .and_then(|s| s.endpoint_counter("wan", "tx_failed"));
    println!(
        "[{test}] 1440-byte pings in bursts of 20: {}/{} answered; IPv6 fragments made {frags}; \
         cgw sends failed {failed:?}",
        p.received, p.sent
    );
    assert!(
        frags > 0,
        "{test}: the path was not too narrow (no fragments)"
    );
    assert!(
        p.sent > 0 && p.received == p.sent,
        "{test}: full-size bursts lost on a narrow path: {p:?}\n{}",
        lab.gateway_logs()
    );
    assert_eq!(failed, Some(0), "{test}: datagrams dropped at the socket");
}

#[test]
fn a_learned_default_route_never_captures_the_ipv6_tunnels() {
    let _wd = Watchdog::arm("ipv6 default route", Duration::from_secs(120));
    sitelink_lab::default_route::learned_default_never_captures_the_tunnels(
        "v6-default-route",
        Underlay::V6,
    );
}
