//! Tests of the metrics text, the HTTP handling and the dashboard.
use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;

fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn status() -> api::Status {
    let mut s: api::Status =
        serde_json::from_str(include_str!("../../api/testdata/status.json")).unwrap();
    s.control_loop = Some(api::TurnSummary {
        turns: 4,
        mean_ms: 6.5,
        max_ms: 20.0,
        histogram: vec![
            (Some(1.0), 1),
            (Some(2.0), 0),
            (Some(5.0), 1),
            (Some(15.0), 1),
            (Some(20.0), 1),
            (None, 0),
        ],
    });
    s
}

fn snapshot() -> Snapshot {
    let plugins: api::PluginList =
        serde_json::from_str(include_str!("../../api/testdata/plugin_list.json")).unwrap();
    Snapshot {
        bgp: serde_json::from_str(include_str!("../../api/testdata/bgp.json")).unwrap(),
        plugins: plugins.slots,
        weights: vec![100, 0],
        failovers: vec![0, 2],
        routes_queued: 7,
        routes_installed: 3,
    }
}

fn office(tunnel: &str) -> TunnelLabels {
    TunnelLabels {
        connection: "office".into(),
        tunnel: tunnel.into(),
    }
}

fn render(snapshot: Option<&Snapshot>, floors: &mut Floors) -> String {
    let status = status();
    let tunnels = [
        Some(office("169.254.10.0/30")),
        Some(office("169.254.11.0/30")),
    ];
    let reading = Reading {
        status: &status,
        tunnels: &tunnels,
        snapshot: snapshot.map(|s| (s, Duration::from_millis(400))),
        version: "0.1.0",
    };
    encode(&reading, floors).unwrap()
}

/// The sample line of `name` with exactly these labels, its value.
fn value(text: &str, series: &str) -> f64 {
    let found: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .collect();
    assert_eq!(found.len(), 1, "{series} once in:\n{text}");
    found[0].parse().unwrap()
}

const T1: &str = "{connection=\"office\",tunnel=\"169.254.10.0/30\"}";
const T2: &str = "{connection=\"office\",tunnel=\"169.254.11.0/30\"}";

#[test]
fn tunnel_metrics_follow_status_and_bgp() {
    let snap = snapshot();
    let text = render(Some(&snap), &mut Floors::default());
    // Dynamic: tunnel 1 is up and its session established; tunnel 2 is
    // admin-down and its session in opensent.
    assert_eq!(value(&text, &format!("sitelink_tunnel_state{T1}")), 1.0);
    assert_eq!(value(&text, &format!("sitelink_tunnel_state{T2}")), 0.0);
    assert_eq!(
        value(&text, &format!("sitelink_tunnel_data_in_bytes_total{T1}")),
        150_000.0
    );
    assert_eq!(
        value(
            &text,
            &format!("sitelink_tunnel_data_out_packets_total{T1}")
        ),
        1200.0
    );
    assert_eq!(
        value(&text, &format!("sitelink_tunnel_handshake_age_seconds{T1}")),
        42.1
    );
    assert!(!text.contains(&format!("sitelink_tunnel_handshake_age_seconds{T2}")));
    assert_eq!(
        value(&text, &format!("sitelink_tunnel_probe_rtt_seconds{T1}")),
        0.00125
    );
    assert_eq!(
        value(&text, &format!("sitelink_tunnel_probe_loss_ratio{T1}")),
        0.031
    );
    assert_eq!(
        value(&text, &format!("sitelink_tunnel_probe_answers_total{T1}")),
        62.0
    );
    assert!(!text.contains(&format!("sitelink_tunnel_probe_rtt_seconds{T2}")));
    assert_eq!(value(&text, &format!("sitelink_tunnel_active{T1}")), 1.0);
    assert_eq!(value(&text, &format!("sitelink_tunnel_weight{T2}")), 0.0);
    assert_eq!(
        value(&text, &format!("sitelink_tunnel_failovers_total{T2}")),
        2.0
    );
    assert!(text.contains("# TYPE sitelink_tunnel_data_in_bytes_total counter\n"));
    assert!(text.contains("# HELP sitelink_tunnel_state AWS TunnelState: 1 up, 0 down."));
}

#[test]
fn a_dynamic_tunnel_is_down_until_a_snapshot_shows_bgp() {
    let text = render(None, &mut Floors::default());
    assert_eq!(value(&text, &format!("sitelink_tunnel_state{T1}")), 0.0);
    // Without a snapshot, nothing from the control plane is shown.
    assert!(lines_with(&text, "sitelink_bgp_").is_empty(), "{text}");
    assert!(lines_with(&text, "sitelink_tunnel_weight").is_empty());
    assert!(lines_with(&text, "sitelink_routes_").is_empty());
    assert!(text.contains("sitelink_control_loop_turn_seconds_count 4\n"));
}

#[test]
fn bgp_and_plugin_metrics() {
    let snap = snapshot();
    let text = render(Some(&snap), &mut Floors::default());
    assert_eq!(
        value(&text, &format!("sitelink_bgp_session_state{T1}")),
        6.0
    );
    assert_eq!(
        value(&text, &format!("sitelink_bgp_session_state{T2}")),
        4.0
    );
    assert_eq!(
        value(&text, &format!("sitelink_bgp_session_uptime_seconds{T1}")),
        3723.2
    );
    assert_eq!(
        value(&text, &format!("sitelink_bgp_prefixes_advertised{T1}")),
        3.0
    );
    assert_eq!(value(&text, &format!("sitelink_bgp_stale_routes{T1}")), 1.0);
    assert_eq!(value(&text, &format!("sitelink_bgp_stale_routes{T2}")), 0.0);
    assert_eq!(
        value(&text, &format!("sitelink_bgp_updates_sent_total{T1}")),
        5.0
    );
    assert_eq!(
        value(&text, &format!("sitelink_bgp_messages_received_total{T1}")),
        40.0
    );
    assert_eq!(
        value(
            &text,
            "sitelink_bgp_notifications_total{connection=\"office\",tunnel=\"169.254.10.0/30\",\
             direction=\"received\",code=\"6\",subcode=\"2\"}"
        ),
        1.0,
        "{text}"
    );
    let rs = "{slot=\"route-selection\",plugin=\"shortest-path\"}";
    assert_eq!(
        value(&text, &format!("sitelink_plugin_calls_total{rs}")),
        120.0
    );
    assert_eq!(
        value(&text, &format!("sitelink_plugin_faults_total{rs}")),
        1.0
    );
    assert_eq!(
        value(&text, &format!("sitelink_plugin_call_mean_seconds{rs}")),
        35.25e-6
    );
    // The call-time histogram, cumulative: 30 calls up to 25 µs, 110 up
    // to 50 µs, all 120 up to 100 µs.
    let bucket = |le: &str| {
        value(
            &text,
            &format!(
                "sitelink_plugin_call_seconds_bucket{{slot=\"route-selection\",\
                 plugin=\"shortest-path\",le=\"{le}\"}}"
            ),
        )
    };
    assert_eq!(
        (
            bucket("2.5e-05"),
            bucket("5e-05"),
            bucket("0.0001"),
            bucket("+Inf")
        ),
        (30.0, 110.0, 120.0, 120.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("sitelink_plugin_call_seconds_count{rs}")),
        120.0
    );
    assert_eq!(value(&text, "sitelink_routes_installed"), 3.0);
    assert_eq!(value(&text, "sitelink_routes_queued"), 7.0);
    assert_eq!(value(&text, "sitelink_control_snapshot_age_seconds"), 0.4);
    assert_eq!(value(&text, "sitelink_fib_prefixes{family=\"ipv4\"}"), 3.0);
    assert_eq!(
        value(
            &text,
            "sitelink_gateway_info{gateway=\"cgw-office\",role=\"cgw\",version=\"0.1.0\"}"
        ),
        1.0
    );
}

#[test]
fn drops_add_up_by_reason() {
    let mut floors = Floors::default();
    let text = render(None, &mut floors);
    let drop = |reason: &str| {
        value(
            &text,
            &format!("sitelink_dropped_packets_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(drop("no_route"), 7.0);
    assert_eq!(drop("source_check"), 1.0);
    assert_eq!(drop("invalid"), 2.0);
    // Endpoints dropped 4 datagrams, 2 of them the tunnel's invalid ones.
    assert_eq!(drop("endpoint_dropped"), 2.0);
    assert_eq!(drop("tx_failed"), 2.0);
    assert_eq!(drop("send_failed"), 1.0);
    assert_eq!(drop("tun_write_failed"), 1.0);
    // 3 datagrams on a full socket buffer, 2 probes on a full control queue.
    assert_eq!(drop("queue_full"), 5.0);
    // A floor above what the counters give now holds.
    floors.endpoint_dropped = 9;
    let text = render(None, &mut floors);
    assert_eq!(
        value(
            &text,
            "sitelink_dropped_packets_total{reason=\"endpoint_dropped\"}"
        ),
        9.0
    );
}

#[test]
fn turn_histogram_in_seconds_and_cumulative() {
    let text = render(None, &mut Floors::default());
    let expected = "sitelink_control_loop_turn_seconds_bucket{le=\"0.001\"} 1\n\
                    sitelink_control_loop_turn_seconds_bucket{le=\"0.002\"} 1\n\
                    sitelink_control_loop_turn_seconds_bucket{le=\"0.005\"} 2\n\
                    sitelink_control_loop_turn_seconds_bucket{le=\"0.015\"} 3\n\
                    sitelink_control_loop_turn_seconds_bucket{le=\"0.02\"} 4\n\
                    sitelink_control_loop_turn_seconds_bucket{le=\"+Inf\"} 4\n\
                    sitelink_control_loop_turn_seconds_sum 0.026\n\
                    sitelink_control_loop_turn_seconds_count 4\n";
    assert!(text.contains(expected), "{text}");
    assert!(text.contains("# TYPE sitelink_control_loop_turn_seconds histogram\n"));
}

#[test]
fn every_family_has_help_and_type_once() {
    let snap = snapshot();
    let text = render(Some(&snap), &mut Floors::default());
    let helps = lines_with(&text, "# HELP ");
    let types = lines_with(&text, "# TYPE ");
    assert_eq!(helps.len(), types.len());
    let mut names: Vec<&str> = types.iter().filter_map(|l| l.split(' ').nth(2)).collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "a family twice:\n{text}");
    for name in names {
        assert!(name.starts_with("sitelink_"), "{name}");
    }
    assert!(!text.contains("# EOF"));
}

#[test]
fn the_dashboard_shows_metrics_that_exist() {
    let snap = snapshot();
    let text = render(Some(&snap), &mut Floors::default());
    let dashboard = include_str!("../../../../examples/grafana-dashboard.json");
    let mut names: Vec<&str> = dashboard
        .match_indices("sitelink_")
        .filter_map(|(at, _)| {
            let rest = dashboard.get(at..)?;
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest.get(..end)
        })
        .filter(|n| *n != "sitelink_")
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "the dashboard queries {name}, which is not served"
        );
    }
}

/// A fake renderer behind the real HTTP loop.
fn server() -> SocketAddr {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr();
    spawn(listener, || "sitelink_up 1\n".to_string()).unwrap();
    addr
}

fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn http_get_metrics_and_refusals() {
    let addr = server();
    let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(ok.contains("Content-Length: 14\r\n"), "{ok}");
    assert!(ok.ends_with("\r\n\r\nsitelink_up 1\n"), "{ok}");
    let query = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert!(query.starts_with("HTTP/1.1 200 OK\r\n"), "{query}");
    let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(head.contains("Content-Length: 14\r\n") && head.ends_with("\r\n\r\n"));
    let other = exchange(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n"), "{other}");
    let post = exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(post.contains("Allow: GET, HEAD\r\n"));
    let junk = exchange(addr, b"\x16\x03\x01 hello\r\n\r\n");
    assert!(junk.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{junk}");
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', MAX_REQUEST + 10));
    let big = exchange(addr, &big);
    assert!(big.starts_with("HTTP/1.1 431 "), "{big}");
    // A client that says nothing is dropped after the timeout; the
    // next one is answered.
    let _silent = TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    let after = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(after.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(t.elapsed() < CLIENT_TIMEOUT + Duration::from_secs(2));
    // Nor does one that trickles its request a byte at a time, each well
    // within the timeout: its time is the whole exchange's.
    let trickler = TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    let trickle = std::thread::spawn(move || {
        for b in b"GET /metrics HTTP/1.1\r\nX-Slow: "
            .iter()
            .cycle()
            .take(200)
        {
            if (&trickler).write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let after = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(after.starts_with("HTTP/1.1 200 OK\r\n"), "{after}");
    assert!(
        t.elapsed() < CLIENT_TIMEOUT + Duration::from_secs(2),
        "the next client waited {:?} behind a trickling one",
        t.elapsed()
    );
    drop(trickle.join());
}

#[test]
fn a_taken_port_names_the_fix() {
    let first = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = first.local_addr();
    let e = bind(addr).err().expect("in use");
    assert_eq!(
        e.to_string(),
        format!(
            "metrics: {addr} is already in use\n  fix: stop the program holding it \
             (`ss -ltnp sport = :{}`) or choose another port in [metrics] listen",
            addr.port()
        )
    );
    let e = bind("192.0.2.1:9464".parse().unwrap())
        .err()
        .expect("not local");
    assert!(
        e.to_string().contains("is not an address of this machine"),
        "{e}"
    );
}
