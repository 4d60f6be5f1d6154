//! Policy plugins in a running static connection (topology 1 of ARCHITECTURE.md):
//! hot swaps under traffic lose nothing and reset no tunnel; plugins that are
//! not components, export the wrong world or hang at start are refused; plugins
//! that trap, spin, exhaust memory or answer wrongly are refused by a swap
//! (it tries them first), and, forced in, contained and quarantined while
//! the gateway keeps forwarding; plugins that try to read a
//! file, the environment or open a socket get nothing.
//!
//! Needs the plugins built (`scripts/build-plugins.sh`) and the binary
//! (`cargo build -p sitelink`). Run with `--nocapture` to see the numbers.

use std::thread;
use std::time::{Duration, Instant};

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::measure::{self, ping_ok};
use sitelink_lab::plugins::{self, plugin, slot_entry};
use sitelink_lab::topology::{SITE_B_V4, TUNNEL_1, TUNNEL_2};
use sitelink_lab::{Gw, SiteLab, Topology};

fn lab_on_tunnel_1(test: &str) -> SiteLab {
    let lab = SiteLab::start(Topology::Static)
        .unwrap_or_else(|e| panic!("{test}: starting the lab: {e}"));
    lab.wait_all_tunnels_up(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    lab.wait_active(TUNNEL_1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    lab
}

/// Handshakes seen so far on each tunnel of `gw`.
fn handshakes(lab: &SiteLab, gw: Gw) -> Vec<(String, u64)> {
    let status = lab.status(gw).expect("status");
    status
        .tunnels()
        .iter()
        .map(|t| {
            (
                t["inside_cidr"].as_str().unwrap_or("?").to_string(),
                t["handshakes"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn tx_packets(lab: &SiteLab, gw: Gw, tunnel: &str) -> u64 {
    lab.status(gw)
        .expect("status")
        .tunnel(tunnel)
        .and_then(|t| t["tx_packets"].as_u64())
        .unwrap_or(0)
}

#[test]
fn twenty_swaps_under_traffic_lose_nothing_and_reset_no_tunnel() {
    let _wd = Watchdog::arm("twenty_swaps", Duration::from_secs(120));
    let prefer = plugin("prefer_zone").expect("plugin");
    let default = plugin("default_failover").expect("plugin");
    let lab = lab_on_tunnel_1("swaps");
    let prefer_2 = format!("prefer={TUNNEL_2}");
    // Compile once (cached), so the swaps below measure installs.
    plugins::compile_ahead(&lab, "failover", &[&prefer, &default]).expect("dry run");
    let before: Vec<_> = [Gw::Cgw, Gw::Vgw].map(|gw| handshakes(&lab, gw)).to_vec();
    let t2_before = tx_packets(&lab, Gw::Cgw, TUNNEL_2);

    let port = 5301;
    let _server = lab.iperf3_server(&lab.site_b, port).expect("iperf3 server");
    let mut swap_ms = Vec::new();
    let (train, stream) = thread::scope(|s| {
        let train = s.spawn(|| {
            measure::ping_train_for(
                &lab.site_a,
                SITE_B_V4,
                Duration::from_millis(10),
                Duration::from_secs(9),
            )
        });
        // Capped so that the tunnel's queues never overflow: any loss is the swaps'.
        let stream =
            s.spawn(|| measure::iperf3_client_at(&lab.site_a, SITE_B_V4, port, 8, Some("50M")));
        thread::sleep(Duration::from_millis(1500));
        for i in 0..20 {
            // Odd swaps move traffic to tunnel 2 at once, even swaps put the
            // default back, which fails back to tunnel 1 at once (it has been
            // up for longer than the hold): every swap moves the traffic.
            for gw in [Gw::Cgw, Gw::Vgw] {
                let answer = if i % 2 == 0 {
                    plugins::swap(&lab, gw, "failover", &prefer, &[&prefer_2])
                } else {
                    plugins::swap(&lab, gw, "failover", &default, &[])
                };
                let answer = answer.unwrap_or_else(|e| panic!("swap {i} on {}: {e}", gw.name()));
                swap_ms.push(answer["swap_ms"].as_f64().unwrap_or(f64::NAN));
            }
            thread::sleep(Duration::from_millis(200));
        }
        (
            train.join().expect("ping thread"),
            stream.join().expect("iperf3 thread"),
        )
    });
    let train = train.unwrap_or_else(|e| panic!("ping train: {}", lab.with_logs(e)));
    let stream = stream.unwrap_or_else(|e| panic!("iperf3: {e}"));
    swap_ms.sort_by(f64::total_cmp);
    println!(
        "[swaps] 40 swaps (20 per gateway): ping train sent {}, received {}, lost {}; \
         iperf3 {:.1} Mbit/s per second {:?}; swap time median {:.2} ms, max {:.2} ms",
        train.sent,
        train.received,
        train.lost(),
        stream.received_mbps(),
        stream.intervals_mbps(),
        swap_ms[swap_ms.len() / 2],
        swap_ms[swap_ms.len() - 1]
    );
    assert_eq!(
        train.lost(),
        0,
        "pings lost during the swaps\n{}",
        lab.gateway_logs()
    );
    assert!(
        stream.intervals_bps.iter().all(|b| *b > 0.0),
        "the TCP stream stalled: {:?}",
        stream.intervals_mbps()
    );
    assert!(
        tx_packets(&lab, Gw::Cgw, TUNNEL_2) > t2_before + 100,
        "the swaps never moved traffic to {TUNNEL_2}"
    );
    let after: Vec<_> = [Gw::Cgw, Gw::Vgw].map(|gw| handshakes(&lab, gw)).to_vec();
    assert_eq!(before, after, "a swap caused a WireGuard handshake");
    lab.wait_active(TUNNEL_1, Duration::from_secs(5))
        .expect("back on tunnel 1 with the default");
}

#[test]
fn plugins_that_are_not_failover_components_are_refused_at_load() {
    let _wd = Watchdog::arm("refused_at_load", Duration::from_secs(90));
    let lab = lab_on_tunnel_1("refused");
    let text = lab.lab().dir().join("not-a-plugin.wasm");
    std::fs::write(&text, "this is not WebAssembly\n").expect("write");
    let cases = [
        (text, "not a WebAssembly"),
        // Not a file: the gateway, which opens it, says so.
        (
            lab.lab().dir().to_path_buf(),
            "the gateway cannot read plugin",
        ),
        (plugin("default_route_selection").expect("plugin"), "world"),
        (plugin("fault_start_spin").expect("plugin"), "deadline"),
    ];
    for (file, expected) in &cases {
        let err = plugins::swap(&lab, Gw::Cgw, "failover", file, &[])
            .err()
            .unwrap_or_else(|| panic!("{} was accepted in the failover slot", file.display()));
        println!("[refused] {}: {err}", file.display());
        assert!(
            err.to_string().contains(expected),
            "{}: expected {expected:?} in: {err}",
            file.display()
        );
        assert!(ping_ok(&lab.site_a, SITE_B_V4), "forwarding stopped");
    }
    // A file the client sees and the gateway does not (the shipped unit
    // gives it a /tmp of its own and no /home): the fix says where to put
    // it. The CLI checks the file first, so the request is sent raw.
    let err = raw_swap(&lab, "/nonexistent/prefer_zone.wasm");
    assert!(
        err.contains("the gateway cannot read plugin /nonexistent/prefer_zone.wasm")
            && err.contains("put plugins under /etc/sitelink/plugins"),
        "{err}"
    );
    let list = plugins::list(&lab, Gw::Cgw).expect("plugin list");
    assert_eq!(
        slot_entry(&list, "failover").expect("failover slot")["plugin"],
        "built-in default",
        "a refused plugin must not be installed"
    );
}

/// The CGW's answer to a `plugin-swap` of `path` into the failover slot,
/// sent as a client other than the CLI would.
fn raw_swap(lab: &SiteLab, path: &str) -> String {
    use std::io::BufRead;
    let socket = lab.socket(Gw::Cgw).expect("admin socket");
    let stream =
        sitelink_lab::unix_socket::connect(&socket, Duration::from_secs(5)).expect("connect");
    let mut io = sitelink_lab::unix_socket::Deadline::new(&stream, Duration::from_secs(30));
    let request = serde_json::json!({
        "version": 1, "cmd": "plugin-swap", "slot": "failover", "path": path
    });
    io.write_all(format!("{request}\n").as_bytes())
        .expect("request sent");
    let mut line = String::new();
    std::io::BufReader::new(io)
        .read_line(&mut line)
        .expect("answer");
    line
}

#[test]
fn plugins_that_fault_at_run_time_are_contained_and_quarantined() {
    let _wd = Watchdog::arm("contained", Duration::from_secs(120));
    let lab = lab_on_tunnel_1("contained");
    let default = plugin("default_failover").expect("plugin");
    for name in [
        "fault_trap",
        "fault_spin",
        "fault_alloc",
        "fault_wrong_answer",
    ] {
        let file = plugin(name).expect("plugin");
        // A swap tries it on the current tunnel health first: refused.
        let refused = plugins::swap(&lab, Gw::Cgw, "failover", &file, &[])
            .err()
            .unwrap_or_else(|| panic!("{name} was swapped in although it faults"));
        println!("[contained] {name}: {refused}");
        assert!(
            refused
                .to_string()
                .contains("swap refused, nothing changed"),
            "{name}: {refused}"
        );
        plugins::swap_forced(&lab, Gw::Cgw, "failover", &file)
            .unwrap_or_else(|e| panic!("{name} should load with --force: {e}"));
        let started = Instant::now();
        let entry = lab
            .wait_until(
                &format!("{name} to be quarantined"),
                Duration::from_secs(15),
                || {
                    plugins::list(&lab, Gw::Cgw)
                        .ok()
                        .and_then(|l| slot_entry(&l, "failover"))
                        .is_some_and(|s| s["quarantined"] == true)
                },
            )
            .map(|_| slot_entry(&plugins::list(&lab, Gw::Cgw).expect("list"), "failover"))
            .unwrap_or_else(|e| panic!("{e}"));
        let entry = entry.expect("failover slot");
        println!(
            "[contained] {name}: quarantined after {:?}, {} faults; last: {}",
            started.elapsed(),
            entry["faults"],
            entry["last_fault"]
        );
        assert!(entry["faults"].as_u64().unwrap_or(0) >= 1);
        assert!(
            ping_ok(&lab.site_a, SITE_B_V4),
            "{name}: forwarding stopped"
        );
        assert_eq!(
            lab.active_tunnel(Gw::Cgw).expect("status").as_deref(),
            Some(TUNNEL_1),
            "{name}: the default's decision must hold"
        );
        plugins::swap(&lab, Gw::Cgw, "failover", &default, &[]).expect("back to default");
    }
    assert!(lab.status(Gw::Cgw).is_ok(), "the gateway must still answer");
}

#[test]
fn plugins_get_no_files_no_environment_no_sockets() {
    let _wd = Watchdog::arm("sandbox", Duration::from_secs(90));
    let lab = lab_on_tunnel_1("sandbox");
    for (name, says) in [
        (
            "fault_read_file",
            "fault-read-file: read /etc/passwd failed",
        ),
        ("fault_socket", "fault-socket: connect 127.0.0.1:22 failed"),
        ("fault_env", "fault-env"),
    ] {
        let file = plugin(name).expect("plugin");
        plugins::swap(&lab, Gw::Cgw, "failover", &file, &[])
            .unwrap_or_else(|e| panic!("{name} should load: {e}"));
        lab.wait_until(
            &format!("{name} to log its attempt"),
            Duration::from_secs(10),
            || lab.gateway_logs().contains(says),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            ping_ok(&lab.site_a, SITE_B_V4),
            "{name}: forwarding stopped"
        );
    }
    let log = lab.gateway_logs();
    let env_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("fault-env: HOME"))
        .collect();
    println!("[sandbox] {}", env_lines.join("\n[sandbox] "));
    assert!(!log.contains("root:x:0:0"), "a plugin read /etc/passwd");
    assert!(
        !log.contains("fault-socket: connected"),
        "a plugin opened a socket"
    );
    assert!(
        !env_lines.is_empty()
            && env_lines
                .iter()
                .all(|l| l.contains("HOME: Err(NotPresent)") && l.contains("0 variables")),
        "a plugin saw the environment: {env_lines:?}"
    );
}
