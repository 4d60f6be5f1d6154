//! Topology 1 of ARCHITECTURE.md, end to end: a customer gateway and a VGW, one
//! static VPN connection of two tunnels (one per VGW endpoint), real sitelink
//! processes in network namespaces. Site A reaches site B and back over IPv4
//! and IPv6; cutting the active tunnel's link moves traffic to the other
//! tunnel within a second (both sides agree) and back after the failback hold;
//! garbage UDP on an endpoint is dropped and counted. Run with
//! `cargo build -p sitelink && cargo test -p sitelink-lab --test static_connection
//! -- --nocapture --test-threads=1` to see the measured numbers.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::measure;
use sitelink_lab::topology::{SiteOptions, SITE_A_V4, SITE_B_V4, TUNNEL_1, TUNNEL_2, VGW_AZ1};
use sitelink_lab::{Gw, SiteLab, Topology};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

const UP_TIMEOUT: Duration = Duration::from_secs(15);

fn lab_with_tunnels_up(test: &str) -> SiteLab {
    let lab = SiteLab::start(Topology::Static)
        .unwrap_or_else(|e| panic!("{test}: starting the static lab: {e}"));
    let took = lab
        .wait_all_tunnels_up(UP_TIMEOUT)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] both gateways report all tunnels up after {took:?}");
    for gw in [Gw::Cgw, Gw::Vgw] {
        println!("[{test}]   {}", lab.status(gw).expect("status").summary());
    }
    lab
}

#[test]
fn site_a_reaches_site_b_and_back() {
    let _wd = Watchdog::arm("site_a_reaches_site_b_and_back", Duration::from_secs(90));
    let lab = lab_with_tunnels_up("reach");
    lab.assert_sites_ping("reach", Duration::from_secs(5));
    let r = lab
        .iperf3_a_to_b(SITE_B_V4, 5201, 3)
        .unwrap_or_else(|e| panic!("reach: iperf3 A->B: {e}"));
    println!(
        "[reach] iperf3 A->B over the tunnel: {:.1} Mbit/s received (per second: {:?}, retransmits {:?})",
        r.received_mbps(),
        r.intervals_mbps(),
        r.retransmits
    );
    assert!(r.received_bps > 0.0, "no throughput: {r:?}");
}

#[test]
fn a_gateway_without_tun_offloads_talks_to_one_with_them() {
    let _wd = Watchdog::arm("without_offloads", Duration::from_secs(90));
    // The CGW reads and writes plain packets; the VGW gets TCP super-packets
    // from its kernel and coalesces what it writes.
    let opts = SiteOptions::default().set(Gw::Cgw, "tun", "offload", "false");
    let lab = SiteLab::start_with(Topology::Static, opts)
        .unwrap_or_else(|e| panic!("without_offloads: starting the lab: {e}"));
    lab.wait_all_tunnels_up(UP_TIMEOUT)
        .unwrap_or_else(|e| panic!("without_offloads: {e}"));
    lab.assert_sites_ping("without_offloads", Duration::from_secs(5));
    let logs = lab.gateway_logs();
    assert!(
        logs.contains("offload=false") && logs.contains("offload=true"),
        "one gateway with offloads, one without:\n{logs}"
    );
    let port = 5203;
    let _server = lab.iperf3_server(&lab.site_a, port).expect("iperf3 server");
    // B -> A: the VGW's kernel hands it super-packets, the CGW writes plain.
    let b_to_a = measure::iperf3_client(&lab.site_b, SITE_A_V4, port, 3);
    assert_streams(&lab, "B->A", b_to_a);
    // A -> B: the CGW reads plain packets, the VGW coalesces its writes.
    assert_streams(&lab, "A->B", lab.iperf3_a_to_b(SITE_B_V4, 5204, 3));
}

/// Prints a TCP stream's rate and fails the test if it stalled in any second.
fn assert_streams(lab: &SiteLab, direction: &str, r: sitelink_lab::Result<measure::IperfResult>) {
    let r =
        r.unwrap_or_else(|e| panic!("without_offloads: iperf3 {direction}: {}", lab.with_logs(e)));
    println!(
        "[without_offloads] iperf3 {direction}: {:.1} Mbit/s (per second {:?})",
        r.received_mbps(),
        r.intervals_mbps()
    );
    assert!(
        r.intervals_bps.iter().all(|b| *b > 0.0),
        "the {direction} stream stalled: {:?}",
        r.intervals_mbps()
    );
}

#[test]
fn failover_when_active_tunnel_link_is_cut() {
    let _wd = Watchdog::arm(
        "failover_when_active_tunnel_link_is_cut",
        Duration::from_secs(90),
    );
    let lab = lab_with_tunnels_up("failover");
    lab.wait_until(
        "both gateways to agree on an active tunnel",
        Duration::from_secs(5),
        || lab.agreed_active_tunnel().is_ok(),
    )
    .unwrap_or_else(|e| panic!("failover: {e}"));
    let active = lab.agreed_active_tunnel().expect("agreed active tunnel");
    let cgw_active = lab.active_tunnel(Gw::Cgw).unwrap();
    let vgw_active = lab.active_tunnel(Gw::Vgw).unwrap();
    assert_eq!(
        cgw_active, vgw_active,
        "the two sides disagree on the active tunnel"
    );
    let link = lab.vgw_link_of_tunnel(&active).expect("link of tunnel");
    let other = if active == TUNNEL_1 {
        TUNNEL_2
    } else {
        TUNNEL_1
    };
    println!("[failover] active tunnel {active} (VGW link {link}); standby {other}");
    lab.assert_sites_ping("failover", Duration::from_secs(5));

    let port = 5202;
    let _server = lab.iperf3_server(&lab.site_b, port).expect("iperf3 server");
    let (train, stream, switched) = thread::scope(|s| {
        let train = s.spawn(|| {
            measure::ping_train_for(
                &lab.site_a,
                SITE_B_V4,
                Duration::from_millis(10),
                Duration::from_secs(6),
            )
        });
        let stream = s.spawn(|| measure::iperf3_client(&lab.site_a, SITE_B_V4, port, 8));
        thread::sleep(Duration::from_secs(2));
        let cut_at = Instant::now();
        lab.cut_vgw_link(link).expect("cut link");
        println!("[failover] cut VGW link {link}");
        let switched = lab
            .wait_active(other, Duration::from_secs(5))
            .map(|_| cut_at.elapsed());
        (
            train.join().expect("ping thread"),
            stream.join().expect("iperf3 thread"),
            switched,
        )
    });
    let switched = switched.unwrap_or_else(|e| panic!("failover: no switch to {other}: {e}"));
    println!("[failover] both gateways made {other} active {switched:?} after the cut");

    let train = train.unwrap_or_else(|e| panic!("failover: ping train: {}", lab.with_logs(e)));
    println!("[failover] ping train A->B every 10 ms: {train}");
    let stream =
        stream.unwrap_or_else(|e| panic!("failover: the TCP stream did not complete: {e}"));
    println!(
        "[failover] iperf3 A->B across the cut: {:.1} Mbit/s average, per second {:?} Mbit/s, retransmits {:?}",
        stream.received_mbps(),
        stream.intervals_mbps(),
        stream.retransmits
    );

    assert!(train.received > 0, "the ping train got nothing back");
    assert!(
        train.outage() < Duration::from_secs(1),
        "loss window {:?} / outage {:?}: not under 1 s",
        train.loss_window,
        train.outage()
    );
    let n = stream.intervals_bps.len();
    assert!(n >= 4, "too few iperf3 intervals: {stream:?}");
    assert!(
        stream.intervals_bps[n - 2..].iter().all(|b| *b > 0.0),
        "the stream is dead after the cut (last 2 s): {:?}",
        stream.intervals_mbps()
    );
    for gw in [Gw::Cgw, Gw::Vgw] {
        let now = lab.active_tunnel(gw).unwrap();
        assert!(
            now.as_deref() == Some(other),
            "{} moved away from {other} to {now:?} while link {link} is still cut\n{}",
            gw.name(),
            lab.gateway_logs()
        );
    }

    lab.restore_vgw_link(link).expect("restore link");
    let restored_at = Instant::now();
    let took = lab
        .wait_active(TUNNEL_1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("failover: no failback to {TUNNEL_1}: {e}"));
    println!(
        "[failover] link {link} restored; both gateways back on {TUNNEL_1} after {:?} (wait {took:?})",
        restored_at.elapsed()
    );
    lab.assert_sites_ping("failover", Duration::from_secs(5));
}

#[test]
fn garbage_udp_is_dropped_and_counted() {
    let _wd = Watchdog::arm(
        "garbage_udp_is_dropped_and_counted",
        Duration::from_secs(90),
    );
    let mut lab = lab_with_tunnels_up("garbage");
    let dropped = |lab: &SiteLab| {
        lab.status(Gw::Vgw)
            .ok()
            .and_then(|s| s.endpoint_counter("az1", "dropped_datagrams"))
    };
    let before = dropped(&lab).unwrap_or_else(|| {
        panic!(
            "vgw status has no endpoints[az1].dropped_datagrams: {:?}",
            lab.status(Gw::Vgw).map(|s| s.0)
        )
    });
    let bin = Path::new(env!("CARGO_BIN_EXE_udp-garbage"));
    let target = format!("{VGW_AZ1}:51820");
    let sent = measure::send_garbage(&lab.inet, bin, &target, 500, 0x5eed).expect("send garbage");
    println!(
        "[garbage] sent {sent} garbage datagrams from inet to {target}; dropped before: {before}"
    );
    let took = lab
        .wait_until(
            &format!("vgw az1 dropped_datagrams >= {before} + {sent}"),
            Duration::from_secs(5),
            || dropped(&lab).is_some_and(|d| d >= before + sent),
        )
        .unwrap_or_else(|e| panic!("garbage: {e}\ncounter now: {:?}", dropped(&lab)));
    println!(
        "[garbage] vgw az1 dropped_datagrams {before} -> {:?} (within {took:?})",
        dropped(&lab)
    );
    assert!(
        lab.gateway(Gw::Vgw).is_alive(),
        "vgw died:\n{}",
        lab.gateway_logs()
    );
    assert!(
        lab.gateway(Gw::Cgw).is_alive(),
        "cgw died:\n{}",
        lab.gateway_logs()
    );
    assert!(
        lab.status(Gw::Vgw).expect("status").all_tunnels_up(),
        "tunnels went down:\n{}",
        lab.gateway_logs()
    );
    lab.assert_sites_ping("garbage", Duration::from_secs(5));
}
