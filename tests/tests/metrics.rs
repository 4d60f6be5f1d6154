//! Prometheus metrics (`[metrics] listen`), end to end: the static lab of
//! ARCHITECTURE.md with metrics served by the VGW on 127.0.0.1:9464 in its
//! namespace. The test scrapes `/metrics` from inside that namespace (a
//! small HTTP GET on a thread that has entered it: no curl needed), runs
//! `promtool check metrics` on the text (Debian package `prometheus`,
//! installed by scripts/install-deps.sh), and holds the values against
//! `sitelink status --json` read just before and just after the scrape:
//! tunnel state 1 for the up tunnels, every counter between the two
//! readings, the packets of a ping train counted in and out of the active
//! tunnel. A gateway without `[metrics]` serves nothing, and a taken port
//! stops the start with the fix. Run with `cargo build -p sitelink && cargo
//! test -p sitelink-lab --test metrics -- --nocapture --test-threads=1`.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::gateway::TomlSet;
use sitelink_lab::measure;
use sitelink_lab::process;
use sitelink_lab::topology::{SiteOptions, SITE_B_V4};
use sitelink_lab::{Gw, Netns, SiteLab, Status, Topology};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

const UP_TIMEOUT: Duration = Duration::from_secs(15);
const METRICS: &str = "127.0.0.1:9464";

/// Runs `f` on a thread that has entered `ns`'s network namespace (sockets
/// it opens stay in that namespace after it returns).
fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{}", ns.name());
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns(2) on an open namespace file; it moves only this
            // thread, which ends when `f` returns.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("netns thread")
    })
}

/// `GET path` on `addr` inside `ns`: (status code, body).
fn http_get(ns: &Netns, addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let addr: SocketAddr = addr.parse().expect("address");
    in_netns(ns, || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((code, body.to_string()))
    })
}

/// One sample: metric name and labels.
type Series = (String, BTreeMap<String, String>);

/// The samples of a Prometheus text exposition (our label values hold no
/// commas or quotes).
fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("label");
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().expect("value"),
        };
        out.insert((name.to_string(), labels), value);
    }
    out
}

struct Scrape(BTreeMap<Series, f64>);

impl Scrape {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0.get(&(name.to_string(), labels)).copied()
    }

    fn tunnel(&self, name: &str, tunnel: &str) -> f64 {
        self.get(name, &[("connection", "office"), ("tunnel", tunnel)])
            .unwrap_or_else(|| panic!("no {name} for tunnel {tunnel}"))
    }

    fn has(&self, name: &str) -> bool {
        self.0.keys().any(|(n, _)| n == name)
    }
}

fn scrape(lab: &SiteLab) -> (String, Scrape) {
    let (code, body) =
        http_get(&lab.vgw, METRICS, "/metrics").unwrap_or_else(|e| panic!("scrape: {e}"));
    assert_eq!(code, 200, "GET /metrics:\n{body}");
    let parsed = Scrape(parse(&body));
    (body, parsed)
}

/// `promtool check metrics` on `text`; fails the test, saying how to
/// install it, when promtool is missing.
fn promtool_check(text: &str) {
    let found = Command::new("promtool").arg("--version").output();
    if found.is_err() {
        panic!(
            "promtool is not installed: it comes with the Debian package `prometheus` \
             (run scripts/install-deps.sh as root, or apt-get install prometheus)"
        );
    }
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    let out = process::run_with_input(&mut cmd, text.as_bytes(), Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("promtool: {e}"));
    assert!(
        out.status.success(),
        "promtool check metrics refused the text ({}):\n{}{}\n--- text ---\n{text}",
        out.status,
        out.stdout,
        out.stderr
    );
}

fn counter(s: &Status, tunnel: &str, name: &str) -> f64 {
    s.tunnel(tunnel)
        .and_then(|t| t[name].as_u64())
        .unwrap_or_else(|| panic!("status has no {name} for {tunnel}")) as f64
}

/// Asserts `before <= value <= after`.
fn between(what: &str, before: f64, value: f64, after: f64) {
    assert!(
        before <= value && value <= after,
        "{what}: metric {value} is not between status before ({before}) and after ({after})"
    );
}

fn metrics_lab(test: &str) -> SiteLab {
    let opts = SiteOptions::default().set(Gw::Vgw, "metrics", "listen", format!("{METRICS:?}"));
    let lab = SiteLab::start_with(Topology::Static, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the static lab: {e}"));
    lab.wait_all_tunnels_up(UP_TIMEOUT)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    lab
}

#[test]
fn metrics_scraped_checked_by_promtool_and_matching_status() {
    let _wd = Watchdog::arm("metrics_match_status", Duration::from_secs(120));
    let test = "metrics";
    let lab = metrics_lab(test);
    lab.assert_sites_ping(test, Duration::from_secs(5));
    lab.wait_until(
        "both gateways to agree on an active tunnel",
        Duration::from_secs(5),
        || lab.agreed_active_tunnel().is_ok(),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let active = lab.agreed_active_tunnel().expect("active tunnel");
    let (_, first) = scrape(&lab);

    // A ping train from site A to site B: its requests come in over the
    // active tunnel, its replies go out over it.
    let train = measure::ping_train(&lab.site_a, SITE_B_V4, Duration::from_millis(10), 200)
        .unwrap_or_else(|e| panic!("{test}: ping train: {e}"));
    println!("[{test}] ping train: {train}");
    assert!(train.received > 150, "the ping train got through: {train}");
    // Let the control thread publish a snapshot taken after the train.
    std::thread::sleep(Duration::from_millis(1200));

    let before = lab.status(Gw::Vgw).expect("status before");
    let (text, m) = scrape(&lab);
    let after = lab.status(Gw::Vgw).expect("status after");
    println!(
        "[{test}] scraped {} bytes, {} samples",
        text.len(),
        m.0.len()
    );
    promtool_check(&text);
    println!("[{test}] promtool check metrics: ok");

    for t in before.tunnels() {
        let cidr = t["inside_cidr"].as_str().expect("inside_cidr");
        assert_eq!(t["liveness"], "up", "{cidr} up in status");
        assert_eq!(m.tunnel("sitelink_tunnel_state", cidr), 1.0, "{cidr} state");
        let active_now = t["active"] == true;
        assert_eq!(
            m.tunnel("sitelink_tunnel_active", cidr),
            f64::from(u8::from(active_now)),
            "{cidr} active"
        );
        let weight = m.tunnel("sitelink_tunnel_weight", cidr);
        assert_eq!(weight > 0.0, active_now, "{cidr}: weight {weight}");
        assert!(m.tunnel("sitelink_tunnel_handshake_age_seconds", cidr) < 180.0);
        for (metric, field) in [
            ("sitelink_tunnel_data_in_packets_total", "rx_packets"),
            ("sitelink_tunnel_data_in_bytes_total", "rx_bytes"),
            ("sitelink_tunnel_data_out_packets_total", "tx_packets"),
            ("sitelink_tunnel_data_out_bytes_total", "tx_bytes"),
            ("sitelink_tunnel_handshakes_total", "handshakes"),
            ("sitelink_tunnel_probe_requests_total", "probe_requests"),
            ("sitelink_tunnel_probe_answers_total", "probe_answers"),
        ] {
            between(
                &format!("{metric} {cidr}"),
                counter(&before, cidr, field),
                m.tunnel(metric, cidr),
                counter(&after, cidr, field),
            );
        }
        assert_eq!(m.tunnel("sitelink_tunnel_failovers_total", cidr), 0.0);
        // BFD measures the round trip with a Poll once a second: answered,
        // within the lab's veths, none lost.
        let rtt = m.tunnel("sitelink_tunnel_probe_rtt_seconds", cidr);
        println!("[{test}] {cidr}: probe rtt {:.3} ms", rtt * 1e3);
        assert!(rtt > 0.0 && rtt < 0.1, "{cidr}: probe rtt {rtt}");
        assert_eq!(m.tunnel("sitelink_tunnel_probe_loss_ratio", cidr), 0.0);
        assert!(m.tunnel("sitelink_tunnel_probe_answers_total", cidr) >= 2.0);
    }
    // The train's packets, counted on the active tunnel.
    let received = f64::from(train.received);
    for metric in [
        "sitelink_tunnel_data_in_packets_total",
        "sitelink_tunnel_data_out_packets_total",
    ] {
        let grew = m.tunnel(metric, &active) - first.tunnel(metric, &active);
        println!("[{test}] {metric} on {active} grew by {grew} ({received} replies)");
        assert!(grew >= received, "{metric} grew by {grew} < {received}");
    }
    for (reason, field) in [
        ("no_route", "tun_no_route"),
        ("malformed", "tun_malformed"),
        ("tun_write_failed", "tun_write_failed"),
    ] {
        let v = m
            .get("sitelink_dropped_packets_total", &[("reason", reason)])
            .unwrap_or_else(|| panic!("no drops for {reason}"));
        let field = |s: &Status| s[field].as_u64().unwrap_or(0) as f64;
        between(reason, field(&before), v, field(&after));
    }
    for e in ["az1", "az2"] {
        let v = m
            .get(
                "sitelink_endpoint_received_datagrams_total",
                &[("endpoint", e)],
            )
            .unwrap_or_else(|| panic!("no datagrams for endpoint {e}"));
        let field = |s: &Status| s.endpoint_counter(e, "rx_datagrams").unwrap_or(0) as f64;
        between(e, field(&before), v, field(&after));
    }
    // The control plane's snapshot is fresh; a static lab has no BGP.
    assert!(
        m.get("sitelink_control_snapshot_age_seconds", &[])
            .expect("age")
            < 2.0
    );
    assert!(!m.has("sitelink_bgp_session_state"));
    for slot in ["failover", "route-selection", "bgp-filter"] {
        let labels = [("slot", slot), ("plugin", "built-in default")];
        assert_eq!(m.get("sitelink_plugin_faults_total", &labels), Some(0.0));
        assert_eq!(m.get("sitelink_plugin_quarantined", &labels), Some(0.0));
        let count = m
            .get("sitelink_plugin_call_seconds_count", &labels)
            .unwrap_or_else(|| panic!("no call-time histogram for {slot}"));
        let le_inf = [
            ("slot", slot),
            ("plugin", "built-in default"),
            ("le", "+Inf"),
        ];
        assert_eq!(
            m.get("sitelink_plugin_call_seconds_bucket", &le_inf),
            Some(count)
        );
    }
    let turns = m
        .get("sitelink_control_loop_turn_seconds_count", &[])
        .expect("turns");
    assert!(turns > 0.0);
    assert_eq!(
        m.get(
            "sitelink_control_loop_turn_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(turns)
    );
    assert_eq!(
        m.get("sitelink_fib_prefixes", &[("family", "ipv4")]),
        after["fib"]["routes_v4"].as_u64().map(|v| v as f64)
    );
    assert!(m.get("sitelink_routes_installed", &[]).expect("installed") >= 1.0);
    let info: Vec<_> =
        m.0.iter()
            .filter(|((name, _), _)| name == "sitelink_gateway_info")
            .collect();
    assert!(
        matches!(info.as_slice(), [((_, l), 1.0)]
            if l.get("gateway").map(String::as_str) == Some("vgw")
                && l.get("role").map(String::as_str) == Some("vgw")
                && l.contains_key("version")),
        "gateway info: {info:?}"
    );

    // Elsewhere: 404; the CGW has no [metrics] and serves nothing.
    let (code, _) = http_get(&lab.vgw, METRICS, "/").expect("GET /");
    assert_eq!(code, 404);
    let refused = http_get(&lab.cgw, METRICS, "/metrics");
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "the CGW has no [metrics]: {refused:?}"
    );
}

#[test]
fn a_taken_metrics_port_stops_the_start() {
    let _wd = Watchdog::arm("metrics_port_taken", Duration::from_secs(90));
    let test = "metrics_port_taken";
    let mut lab = metrics_lab(test);
    // Something else holds 127.0.0.1:9465 in the VGW's namespace.
    let taken = "127.0.0.1:9465";
    let _holder = in_netns(&lab.vgw, || TcpListener::bind(taken))
        .unwrap_or_else(|e| panic!("{test}: bind {taken}: {e}"));
    let set = vec![TomlSet::new("metrics", "listen", format!("{taken:?}"))];
    let restarted = lab.restart_with(Gw::Vgw, Some(set));
    assert!(restarted.is_err(), "the VGW started with its port taken");
    let log = lab.gateway(Gw::Vgw).log();
    let expected = format!(
        "metrics: {taken} is already in use\n  fix: stop the program holding it \
         (`ss -ltnp sport = :9465`) or choose another port in [metrics] listen"
    );
    assert!(log.contains(&expected), "{test}: log:\n{log}");
    let status = lab.gateway(Gw::Vgw).exit_status();
    println!("[{test}] the VGW stopped at start-up ({status:?}) with:\n{expected}");
    assert_eq!(status.and_then(|s| s.code()), Some(2), "exit code");
}
