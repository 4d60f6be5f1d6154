//! Planned drain end to end (`sitelink tunnel drain|undrain`): on a static
//! connection (topology 1, the far side told by BFD AdminDown) and a dynamic
//! one (topology 2, the far side moved by a longer AS path and a worse MED),
//! the VGW drains the tunnel that carries a 10 ms ping train and a TCP
//! stream between the sites, then undrains it. Nothing is lost (no ping, no
//! stalled second of the stream), both ends end up on the other
//! tunnel, and `status` shows the drain on the VGW; the VGW's tunnel log has
//! a JSON line for each step.
//!
//! Run with `cargo build -p sitelink && cargo test -p sitelink-lab --test
//! drain -- --nocapture --test-threads=1`.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::gateway::admin_json;
use sitelink_lab::measure::{self, PingTrain};
use sitelink_lab::topology::{SITE_B_NET_V4, SITE_B_V4, TUNNEL_1, TUNNEL_2};
use sitelink_lab::{Gw, SiteLab, SiteOptions, Topology};
use std::thread;
use std::time::Duration;

/// `sitelink tunnel ACTION TUNNEL` on the VGW.
fn tunnel(lab: &SiteLab, action: &str, cidr: &str) -> serde_json::Value {
    let bin = lab.bin().expect("bin").to_path_buf();
    let socket = lab.socket(Gw::Vgw).expect("socket");
    admin_json(&lab.vgw, &bin, &socket, &["tunnel", action, cidr])
        .unwrap_or_else(|e| panic!("tunnel {action} {cidr}: {e}\n{}", lab.gateway_logs()))
}

/// A tunnel's drain in `status --json` (absent: "none").
fn drain_of(lab: &SiteLab, cidr: &str) -> String {
    let status = lab.status(Gw::Vgw).expect("status");
    status
        .tunnel(cidr)
        .map(|t| t["drain"].as_str().unwrap_or("none"))
        .unwrap_or("no such tunnel")
        .to_string()
}

/// Drains TUNNEL_1 under a ping train and a 20 Mbit/s TCP stream, checks,
/// undrains it; returns the train's result, after checking that the stream
/// never stalled.
fn drain_under_traffic(lab: &SiteLab, test: &str) -> PingTrain {
    let _server = lab.iperf3_server(&lab.site_b, 5302).expect("iperf3 server");
    let (train, stream) = thread::scope(|s| {
        let train = s
            .spawn(|| measure::ping_train(&lab.site_a, SITE_B_V4, Duration::from_millis(10), 1200));
        let stream =
            s.spawn(|| measure::iperf3_client_at(&lab.site_a, SITE_B_V4, 5302, 11, Some("20M")));
        thread::sleep(Duration::from_secs(2));
        let drained = tunnel(lab, "drain", TUNNEL_1);
        println!("[{test}] drain: {drained}");
        assert_eq!(drained["drain"], "drained", "{test}: {drained}");
        assert_eq!(drain_of(lab, TUNNEL_1), "drained");
        // `sitelink tunnels`: one line per tunnel, the drained one at weight 0.
        let bin = lab.bin().expect("bin").to_path_buf();
        let sock = lab.socket(Gw::Vgw).expect("socket");
        let table = lab
            .vgw
            .exec_ok(
                bin.to_str().expect("utf-8"),
                &["tunnels", "--socket", sock.to_str().expect("utf-8")],
            )
            .expect("sitelink tunnels");
        println!("[{test}] sitelink tunnels:\n{table}");
        let line = table
            .lines()
            .find(|l| l.contains(TUNNEL_1))
            .unwrap_or_else(|| panic!("{test}: no line for {TUNNEL_1}:\n{table}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(
            cols.contains(&"drained") && cols.contains(&"0"),
            "{test}: {line}"
        );
        thread::sleep(Duration::from_secs(2));
        // Both ends send over the other tunnel now.
        for gw in [Gw::Vgw, Gw::Cgw] {
            let a = lab.tunnel_counters(gw, "tx_packets").expect("status");
            thread::sleep(Duration::from_millis(500));
            let b = lab.tunnel_counters(gw, "tx_packets").expect("status");
            let d = sitelink_lab::gateway::counter_delta(&a, &b);
            println!("[{test}] {} tx in 0.5 s while drained: {d:?}", gw.name());
            let on = |t: &str| d.get(t).copied().unwrap_or(0);
            assert!(
                on(TUNNEL_2) >= 20 && on(TUNNEL_1) <= 5,
                "{test}: {} still sends over the drained tunnel: {d:?}\n{}",
                gw.name(),
                lab.gateway_logs()
            );
        }
        let back = tunnel(lab, "undrain", TUNNEL_1);
        println!("[{test}] undrain: {back}");
        assert_eq!(back["drain"], "none", "{test}: {back}");
        assert_eq!(drain_of(lab, TUNNEL_1), "none");
        (
            train
                .join()
                .expect("ping train")
                .unwrap_or_else(|e| panic!("{test}: {e}")),
            stream
                .join()
                .expect("stream")
                .unwrap_or_else(|e| panic!("{test}: {}", lab.with_logs(e))),
        )
    });
    println!(
        "[{test}] TCP stream: {:?} Mbit/s, retransmits {:?}",
        stream.intervals_mbps(),
        stream.retransmits
    );
    assert!(
        stream.intervals_bps.iter().all(|b| *b > 1e6),
        "{test}: the stream stalled across drain and undrain: {:?}",
        stream.intervals_mbps()
    );
    train
}

#[test]
fn draining_a_static_tunnel_loses_nothing_and_both_ends_move() {
    let _wd = Watchdog::arm("static drain", Duration::from_secs(120));
    let test = "drain-static";
    let opts = SiteOptions::default().set(Gw::Vgw, "log", "tunnel_log", "\"tunnels.log\"");
    let lab = SiteLab::start_settled(Topology::Static, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the static lab: {e}"));
    lab.wait_active(TUNNEL_1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let train = drain_under_traffic(&lab, test);
    println!(
        "[{test}] ping train: {}/{} answered, loss window {:?}",
        train.received, train.sent, train.loss_window
    );
    assert_eq!(
        train.received,
        train.sent,
        "{test}: packets lost across drain and undrain\n{}",
        lab.gateway_logs()
    );
    // The tunnel log has a JSON line for each step, as AWS's tunnel logs.
    let log_path = lab
        .config_path(Gw::Vgw)
        .expect("config")
        .with_file_name("tunnels.log");
    let text = std::fs::read_to_string(&log_path).expect("tunnel log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let has = |event: &str, state: &str| {
        lines
            .iter()
            .any(|l| l["event"] == event && l["state"] == state && l["tunnel"] == TUNNEL_1)
    };
    for (event, state) in [
        ("handshake", "established"),
        ("liveness", "up"),
        ("drain", "drained"),
        ("liveness", "admin-down"),
        ("failover", "standby"),
        ("drain", "none"),
    ] {
        assert!(
            has(event, state),
            "{test}: no {event} {state} line in\n{text}"
        );
    }
    assert!(lines
        .iter()
        .all(|l| l["timestamp"].is_string() && l["outside"].is_string()));
}

#[test]
fn draining_a_dynamic_tunnel_loses_nothing_and_both_ends_move() {
    let _wd = Watchdog::arm("dynamic drain", Duration::from_secs(150));
    let test = "drain-dynamic";
    let lab = SiteLab::start_settled(Topology::Dynamic, SiteOptions::default())
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    lab.wait_until(
        "the cgw to route site B over both tunnels",
        Duration::from_secs(10),
        || {
            lab.routes(Gw::Cgw)
                .is_ok_and(|r| r.selected_tunnels(SITE_B_NET_V4).len() == 2)
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let before = lab.bgp(Gw::Vgw).expect("bgp");
    let train = drain_under_traffic(&lab, test);
    println!(
        "[{test}] ping train: {}/{} answered, loss window {:?}",
        train.received, train.sent, train.loss_window
    );
    let after = lab.bgp(Gw::Vgw).expect("bgp");
    for t in [TUNNEL_1, TUNNEL_2] {
        assert_eq!(
            after.peer_u64(t, "established_transitions"),
            before.peer_u64(t, "established_transitions"),
            "{test}: the session over {t} was reset"
        );
    }
    assert_eq!(
        train.received,
        train.sent,
        "{test}: packets lost across drain and undrain\n{}",
        lab.gateway_logs()
    );
}
