//! `sitelink-bench`: one WireGuard tunnel between two network namespaces, and
//! iperf3 over it, for sitelink, wireguard-go and boringtun-cli in turn
//! (rounds alternate A B C A B C, each system on a fresh pair of namespaces),
//! with the same MTU (1420), the same keys and the same addresses. Reports per
//! system the median (min-max) of: TCP throughput with 1 and 4 streams, UDP
//! packets per second delivered with 64-byte payloads, and CPU seconds per GB
//! (both tunnel processes, user + system, during the 1-stream TCP run) and
//! CPU microseconds per 64-byte packet delivered; and
//! the ratios sitelink/wireguard-go and sitelink/boringtun-cli. Then, per
//! round, a tunnel cut under a 10 ms ping train for each system, and once
//! failover-plugin swaps under load for sitelink ([`failover`]).
//!
//! Usage (as root): `scripts/bench-datapath.sh [ROUNDS] [SECONDS]`, which
//! builds sitelink in release and boringtun-cli from crates.io, installs
//! wireguard-go, and runs this. Environment: SITELINK_BIN, WIREGUARD_GO_BIN,
//! BORINGTUN_BIN, BENCH_SYSTEMS (a comma list of the systems to run) and
//! BENCH_CUTS=0 (throughput only: no tunnel cuts, no plugin swaps).

mod failover;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sitelink_lab::cleanup::install_signal_cleanup;
use sitelink_lab::gateway::make_key;
use sitelink_lab::measure;
use sitelink_lab::netns::veth;
use sitelink_lab::process::{wait_until, Spawned};
use sitelink_lab::{Error, Lab, Netns, Result};

const A_OUTER: &str = "198.18.0.1";
const B_OUTER: &str = "198.18.0.2";
const A_INNER: &str = "169.254.77.2";
const B_INNER: &str = "169.254.77.1";
const PORT: u16 = 51820;
const MTU: &str = "1420";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum System {
    Sitelink,
    WireguardGo,
    Boringtun,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Sitelink => "sitelink",
            System::WireguardGo => "wireguard-go",
            System::Boringtun => "boringtun-cli",
        }
    }
}

/// One round's numbers for one system.
#[derive(Debug, Default, Clone)]
struct Sample {
    tcp1_mbps: f64,
    tcp4_mbps: f64,
    udp64_kpps: f64,
    /// CPU time of both tunnel processes per 64-byte packet delivered.
    udp64_cpu_us: f64,
    cpu_s_per_gb: f64,
}

/// Two namespaces joined by a veth, with one tunnel between them.
struct Pair {
    lab: Lab,
    a: Netns,
    b: Netns,
    procs: Vec<Spawned>,
}

fn pair() -> Result<Pair> {
    let lab = Lab::new()?;
    let a = lab.netns("a")?;
    let b = lab.netns("b")?;
    veth(&a, "out", &b, "out")?;
    a.add_addr("out", &format!("{A_OUTER}/24"))?;
    b.add_addr("out", &format!("{B_OUTER}/24"))?;
    a.link_up("out")?;
    b.link_up("out")?;
    Ok(Pair {
        lab,
        a,
        b,
        procs: Vec::new(),
    })
}

fn env_bin(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Brings up the tunnel of `system` and waits until it carries a ping.
fn bring_up(system: System, p: &mut Pair, sitelink: &Path) -> Result<()> {
    let dir = p.lab.dir().to_path_buf();
    let (ka, kb) = (dir.join("a.key"), dir.join("b.key"));
    let pub_a = make_key(sitelink, &ka)?;
    let pub_b = make_key(sitelink, &kb)?;
    match system {
        System::Sitelink => {
            for (ns, role, key, peer, outer, remote, name) in [
                (&p.a, "cgw", &ka, &pub_b, A_OUTER, B_OUTER, "a"),
                (&p.b, "vgw", &kb, &pub_a, B_OUTER, A_OUTER, "b"),
            ] {
                let config = dir.join(format!("{name}.toml"));
                std::fs::write(
                    &config,
                    format!(
                        "[gateway]\nname = \"bench-{name}\"\nrole = \"{role}\"\nprivate_key_file = \"{}\"\n\
                         admin_socket = \"{}\"\n\n[tun]\nname = \"sl{name}\"\nmtu = {MTU}\n\n\
                         [[endpoint]]\nname = \"wan\"\nlisten = \"{outer}:{PORT}\"\n\n\
                         [route_table]\nkernel_routes = false\n\n[[connection]]\nname = \"bench\"\n\
                         routing = \"static\"\nstatic_routes = [\"10.77.0.0/24\"]\n\n\
                         [[connection.tunnel]]\nendpoint = \"wan\"\nremote = \"{remote}:{PORT}\"\n\
                         remote_public_key = \"{peer}\"\ninside_cidr = \"169.254.77.0/30\"\n",
                        key.display(),
                        dir.join(format!("{name}.sock")).display()
                    ),
                )
                .map_err(|e| Error::msg(format!("write config: {e}")))?;
                let cmd = ns.command(sitelink, &["run", "-c", &config.to_string_lossy()]);
                p.procs.push(Spawned::start(
                    &format!("sitelink-{name}"),
                    cmd,
                    &dir.join(format!("{name}.log")),
                )?);
            }
        }
        System::WireguardGo | System::Boringtun => {
            for (ns, key, peer, inner, remote, name) in [
                (&p.a, &ka, &pub_b, A_INNER, B_OUTER, "a"),
                (&p.b, &kb, &pub_a, B_INNER, A_OUTER, "b"),
            ] {
                // Interface names differ per side: the UAPI socket path
                // (/var/run/wireguard/IFACE.sock) is shared by all namespaces.
                let iface = format!("wg{}{name}", p.lab.short());
                let cmd = if system == System::WireguardGo {
                    let bin = env_bin("WIREGUARD_GO_BIN", "wireguard-go");
                    ns.command(bin, &["-f", &iface])
                } else {
                    let bin = env_bin("BORINGTUN_BIN", "target/bench-tools/bin/boringtun-cli");
                    let mut c = ns.command(bin, &["-f", "--disable-drop-privileges", &iface]);
                    c.env("WG_SUDO", "1");
                    c
                };
                p.procs.push(Spawned::start(
                    &format!("{}-{name}", system.name()),
                    cmd,
                    &dir.join(format!("{name}.log")),
                )?);
                let sock = PathBuf::from(format!("/var/run/wireguard/{iface}.sock"));
                wait_until(
                    &format!("{iface} to appear"),
                    Duration::from_secs(10),
                    Duration::from_millis(50),
                    || sock.exists(),
                )?;
                ns.exec_ok(
                    "wg",
                    &[
                        "set",
                        &iface,
                        "private-key",
                        &key.to_string_lossy(),
                        "listen-port",
                        &PORT.to_string(),
                        "peer",
                        peer,
                        "endpoint",
                        &format!("{remote}:{PORT}"),
                        "allowed-ips",
                        "169.254.77.0/30",
                    ],
                )?;
                ns.add_addr(&iface, &format!("{inner}/30"))?;
                ns.ip(&["link", "set", &iface, "mtu", MTU, "up"])?;
            }
        }
    }
    wait_until(
        "the tunnel to carry a ping",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            p.a.exec(
                "ping",
                &["-c", "1", "-W", "1", B_INNER],
                Duration::from_secs(3),
            )
            .is_ok_and(|o| o.status.success())
        },
    )?;
    Ok(())
}

fn iperf3(client: &Netns, args: &[&str], seconds: u32) -> Result<Value> {
    let t = seconds.to_string();
    let mut all = vec!["-c", B_INNER, "-t", &t, "-J", "--connect-timeout", "3000"];
    all.extend_from_slice(args);
    let out = client.exec("iperf3", &all, Duration::from_secs(u64::from(seconds) + 30))?;
    serde_json::from_str(&out.stdout)
        .map_err(|e| Error::msg(format!("iperf3 JSON: {e}: {}", out.stderr)))
}

/// CPU seconds (user + system) used so far by `pids`.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
            let rest = stat.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let user: f64 = f.get(11)?.parse().ok()?;
            let sys: f64 = f.get(12)?.parse().ok()?;
            Some((user + sys) / hz)
        })
        .sum()
}

/// The tunnel processes' pids (the daemons may fork: take every process in
/// the two namespaces except iperf3).
fn tunnel_pids(p: &Pair) -> Vec<u32> {
    p.a.pids()
        .into_iter()
        .chain(p.b.pids())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| !c.trim().starts_with("iperf3"))
                .unwrap_or(false)
        })
        .collect()
}

fn measure(system: System, sitelink: &Path, seconds: u32) -> Result<Sample> {
    let mut p = pair()?;
    bring_up(system, &mut p, sitelink)?;
    let server_log = p.lab.dir().join("iperf3.log");
    let server = p.b.command("iperf3", &["-s", "-B", B_INNER]);
    p.procs
        .push(Spawned::start("iperf3-server", server, &server_log)?);
    std::thread::sleep(Duration::from_millis(300));

    let pids = tunnel_pids(&p);
    let cpu_before = cpu_seconds(&pids);
    let tcp1 = iperf3(&p.a, &[], seconds)?;
    let cpu = cpu_seconds(&pids) - cpu_before;
    let bytes = tcp1["end"]["sum_received"]["bytes"].as_f64().unwrap_or(0.0);
    let tcp1_bps = tcp1["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let tcp4 = iperf3(&p.a, &["-P", "4"], seconds)?;
    let tcp4_bps = tcp4["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let drops_before = drops(&p);
    let udp_cpu_before = cpu_seconds(&pids);
    let udp = iperf3(&p.a, &["-u", "-l", "64", "-b", "0"], seconds)?;
    let udp_cpu = cpu_seconds(&pids) - udp_cpu_before;
    let sum = &udp["end"]["sum"];
    let delivered =
        sum["packets"].as_f64().unwrap_or(0.0) - sum["lost_packets"].as_f64().unwrap_or(0.0);
    // Where the 64-byte packets that did not arrive were lost.
    let after = drops(&p);
    eprintln!(
        "  UDP 64 B: sent {:.0}, lost {:.0}; UDP receive-buffer drops in a {} / b {}",
        sum["packets"].as_f64().unwrap_or(0.0),
        sum["lost_packets"].as_f64().unwrap_or(0.0),
        after.0.saturating_sub(drops_before.0),
        after.1.saturating_sub(drops_before.1)
    );
    let udp_seconds = sum["seconds"]
        .as_f64()
        .filter(|s| *s > 0.0)
        .unwrap_or(f64::from(seconds));
    Ok(Sample {
        tcp1_mbps: tcp1_bps / 1e6,
        tcp4_mbps: tcp4_bps / 1e6,
        udp64_kpps: delivered / udp_seconds / 1e3,
        udp64_cpu_us: if delivered > 0.0 {
            udp_cpu / delivered * 1e6
        } else {
            f64::NAN
        },
        cpu_s_per_gb: if bytes > 0.0 {
            cpu / (bytes / 1e9)
        } else {
            f64::NAN
        },
    })
}

/// UDP receive-buffer drops so far in namespaces a and b (the tunnel's
/// sockets and iperf3's).
fn drops(p: &Pair) -> (u64, u64) {
    let count = |ns: &Netns| measure::snmp_counter(ns, "Udp", "RcvbufErrors").unwrap_or(0);
    (count(&p.a), count(&p.b))
}

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn main() {
    install_signal_cleanup();
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let seconds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let sitelink = env_bin("SITELINK_BIN", "target/release/sitelink");
    // BENCH_SYSTEMS=sitelink,wireguard-go narrows a run (for profiling).
    let only = std::env::var("BENCH_SYSTEMS").ok();
    let systems: Vec<System> = [System::Sitelink, System::WireguardGo, System::Boringtun]
        .into_iter()
        .filter(|s| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == s.name()))
        })
        .collect();
    let mut samples: Vec<(System, Sample)> = Vec::new();
    let mut cuts: Vec<(System, failover::CutSample)> = Vec::new();
    // BENCH_CUTS=0 measures throughput only (to compare builds quickly).
    let with_cuts = std::env::var("BENCH_CUTS").map_or(true, |v| v != "0");
    for round in 1..=rounds {
        for &system in &systems {
            eprintln!("round {round}/{rounds}: {} ...", system.name());
            let sample = measure(system, &sitelink, seconds).and_then(|s| {
                let cut = match system {
                    _ if !with_cuts => None,
                    System::Sitelink => Some(failover::sitelink_cut()?),
                    _ => Some(failover::plain_cut(system, &sitelink)?),
                };
                Ok((s, cut))
            });
            match sample {
                Ok((s, cut)) => {
                    eprintln!("  {s:?}\n  {cut:?}");
                    samples.push((system, s));
                    cuts.extend(cut.map(|c| (system, c)));
                }
                Err(e) => {
                    eprintln!("  {} failed: {e}", system.name());
                    std::process::exit(1);
                }
            }
        }
    }
    let swaps = if with_cuts && systems.contains(&System::Sitelink) {
        eprintln!("sitelink: failover-plugin swaps under load ...");
        match failover::sitelink_swaps() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("  swaps failed: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    type Metric = (&'static str, fn(&Sample) -> f64);
    let metrics: [Metric; 5] = [
        ("TCP, 1 stream (Mbit/s)", |s| s.tcp1_mbps),
        ("TCP, 4 streams (Mbit/s)", |s| s.tcp4_mbps),
        ("UDP 64 B delivered (kpps)", |s| s.udp64_kpps),
        ("CPU µs per 64 B packet delivered", |s| s.udp64_cpu_us),
        ("CPU s per GB, TCP 1 stream", |s| s.cpu_s_per_gb),
    ];
    println!(
        "\n{} rounds of {seconds} s per test, MTU {MTU}, medians (min-max)\n",
        rounds
    );
    println!("| metric | sitelink | wireguard-go | boringtun-cli | sitelink/wireguard-go | sitelink/boringtun-cli |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, get) in metrics {
        let cell = |system: System| {
            let mut v: Vec<f64> = samples
                .iter()
                .filter(|(s, _)| *s == system)
                .map(|(_, x)| get(x))
                .collect();
            stats(&mut v)
        };
        let (sl, wg, bt) = (
            cell(System::Sitelink),
            cell(System::WireguardGo),
            cell(System::Boringtun),
        );
        let fmt = |(m, lo, hi): (f64, f64, f64)| format!("{m:.1} ({lo:.1}-{hi:.1})");
        println!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} |",
            fmt(sl),
            fmt(wg),
            fmt(bt),
            sl.0 / wg.0,
            sl.0 / bt.0
        );
    }
    if with_cuts {
        print_failover(&cuts, swaps);
    }
}

fn print_failover(cuts: &[(System, failover::CutSample)], swaps: Option<failover::SwapSample>) {
    let cell = |system: System, get: fn(&failover::CutSample) -> f64| {
        let mut v: Vec<f64> = cuts
            .iter()
            .filter(|(s, _)| *s == system)
            .map(|(_, c)| get(c))
            .collect();
        let (m, lo, hi) = stats(&mut v);
        format!("{m:.0} ({lo:.0}-{hi:.0})")
    };
    println!(
        "\nTunnel cut under a 10 ms ping train, medians (min-max). sitelink: the active \
         tunnel's link goes down for good, two tunnels, default failover. wireguard-go and \
         boringtun-cli: one peer, its only link down for {} ms, then up again (WireGuard \
         has no second path: traffic waits for the link).\n",
        failover::PLAIN_CUT.as_millis()
    );
    println!("| metric | sitelink | wireguard-go | boringtun-cli |");
    println!("|---|---:|---:|---:|");
    type Get = fn(&failover::CutSample) -> f64;
    let rows: [(&str, Get); 2] = [
        ("loss window (ms)", |c| c.loss_ms),
        ("longest silence between replies (ms)", |c| c.outage_ms),
    ];
    for (name, get) in rows {
        println!(
            "| {name} | {} | {} | {} |",
            cell(System::Sitelink, get),
            cell(System::WireguardGo, get),
            cell(System::Boringtun, get)
        );
    }
    if let Some(s) = swaps {
        println!(
            "\nsitelink, {} failover-plugin swaps (each moves the traffic to the other tunnel) \
             under a TCP stream capped at 1 Gbit/s: 10 ms ping train sent {}, lost {}; \
             stream {:.0} Mbit/s.",
            s.swaps, s.sent, s.lost, s.mbps
        );
    }
}
