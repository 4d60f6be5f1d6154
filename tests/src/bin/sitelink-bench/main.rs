//! `sitelink-bench`: one WireGuard tunnel between two network namespaces, and
//! iperf3 over it, for sitelink, wireguard-go, boringtun-cli and GotaTun in
//! turn (rounds alternate A B C D A B C D, each system on a fresh pair of
//! namespaces; how each is started: [`systems`]), with the same MTU (1420),
//! the same keys and the same addresses. Reports per
//! system the median (min-max) of: TCP throughput with 1 and 4 streams, UDP
//! packets per second delivered with 64-byte payloads, and CPU seconds per GB
//! (both tunnel processes, user + system, during the 1-stream TCP run) and
//! CPU microseconds per 64-byte packet delivered; and the ratios of sitelink
//! to each. During the 1-stream TCP test, each thread's CPU over a steady
//! window ([`threads`]: the busiest thread's share of the data path is what
//! issue 14 bounds). Then, per round, a tunnel cut under a 10 ms ping train
//! for each system, and once failover-plugin swaps under load for sitelink
//! ([`failover`]). With BENCH_TUNNELS=N, per round and system also N
//! tunnels at once, one TCP flow each ([`tunnels`]): the aggregate with one
//! flow and with N, to show whether it grows with the tunnels.
//!
//! Usage (as root): `scripts/bench-datapath.sh [ROUNDS] [SECONDS]`, which
//! builds sitelink in release and boringtun-cli and gotatun-cli from
//! crates.io, installs wireguard-go, and runs this. Environment:
//! SITELINK_BIN, WIREGUARD_GO_BIN, BORINGTUN_BIN, GOTATUN_BIN, BENCH_SYSTEMS
//! (a comma list of the systems to run), BENCH_CUTS=0 (throughput only:
//! no tunnel cuts, no plugin swaps) and BENCH_TUNNELS=N (2 to 32: the
//! N-tunnel test too).

mod failover;
mod systems;
mod threads;
mod tunnels;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sitelink_lab::cleanup::install_signal_cleanup;
use sitelink_lab::netns::veth;
use sitelink_lab::process::Spawned;
use sitelink_lab::{measure, proc_stat};
use sitelink_lab::{Error, Lab, Netns, Result};

use systems::{bring_up, Side, System};
use threads::ThreadSample;

const A_OUTER: &str = "198.18.0.1";
const B_OUTER: &str = "198.18.0.2";
/// b's inside address in the (first) tunnel: `Side::B.inner(0)`.
const B_INNER: &str = "169.254.77.1";
/// The first tunnel's UDP port; tunnel `i` has `PORT + i`.
const PORT: u16 = 51820;
/// The most tunnels a pair carries (BENCH_TUNNELS).
const MAX_TUNNELS: usize = 32;
const MTU: &str = "1420";

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

/// Two namespaces joined by a veth, with `tunnels` tunnels between them
/// (see [`systems`]).
struct Pair {
    lab: Lab,
    a: Netns,
    b: Netns,
    tunnels: usize,
    procs: Vec<Spawned>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for side in [Side::A, Side::B] {
            for i in 0..self.tunnels {
                let _ = std::fs::remove_file(systems::uapi_socket(self, side, i));
            }
        }
    }
}

/// A pair for one tunnel.
fn pair() -> Result<Pair> {
    pair_with(1)
}

/// A pair for `tunnels` tunnels (1 to [`MAX_TUNNELS`]).
fn pair_with(tunnels: usize) -> Result<Pair> {
    if !(1..=MAX_TUNNELS).contains(&tunnels) {
        return Err(Error::msg(format!(
            "{tunnels} tunnels: the bench runs 1 to {MAX_TUNNELS}"
        )));
    }
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
        tunnels,
        procs: Vec::new(),
    })
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
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| proc_stat::busy_ticks(&stat))
        .sum();
    ticks as f64 / proc_stat::ticks_per_second()
}

/// The tunnel processes, by side (the daemons may fork: take every process
/// in the two namespaces except iperf3).
fn tunnel_procs(p: &Pair) -> Vec<(Side, u32)> {
    let not_iperf3 = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| !c.trim().starts_with("iperf3"))
            .unwrap_or(false)
    };
    let side = |s: Side| {
        s.ns(p)
            .pids()
            .into_iter()
            .filter(not_iperf3)
            .map(move |pid| (s, pid))
    };
    side(Side::A).chain(side(Side::B)).collect()
}

fn measure(system: System, sitelink: &Path, seconds: u32) -> Result<(Sample, ThreadSample)> {
    let mut p = pair()?;
    bring_up(system, &mut p, sitelink)?;
    let server_log = p.lab.dir().join("iperf3.log");
    let server = p.b.command("iperf3", &["-s", "-B", B_INNER]);
    p.procs
        .push(Spawned::start("iperf3-server", server, &server_log)?);
    std::thread::sleep(Duration::from_millis(300));

    let procs = tunnel_procs(&p);
    let pids: Vec<u32> = procs.iter().map(|(_, pid)| *pid).collect();
    let cpu_before = cpu_seconds(&pids);
    let (tcp1, threads) = threads::during(system, &procs, threads::window(seconds), || {
        iperf3(&p.a, &[], seconds)
    })?;
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
    let sample = Sample {
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
    };
    Ok((sample, threads))
}

/// UDP receive-buffer drops so far in namespaces a and b (the tunnel's
/// sockets and iperf3's).
fn drops(p: &Pair) -> (u64, u64) {
    let count = |ns: &Netns| measure::snmp_counter(ns, "Udp", "RcvbufErrors").unwrap_or(0);
    (count(&p.a), count(&p.b))
}

/// [`stats`] of one figure of `system`'s samples.
fn stats_of<T>(
    samples: &[(System, T)],
    system: System,
    get: impl Fn(&T) -> f64,
) -> (f64, f64, f64) {
    let mut v: Vec<f64> = samples
        .iter()
        .filter(|(s, _)| *s == system)
        .map(|(_, x)| get(x))
        .collect();
    stats(&mut v)
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
    let sitelink = System::Sitelink.bin();
    // BENCH_SYSTEMS=sitelink,wireguard-go narrows a run (for profiling).
    let only = std::env::var("BENCH_SYSTEMS").ok();
    let systems: Vec<System> = System::ALL
        .into_iter()
        .filter(|s| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == s.name()))
        })
        .collect();
    let versions: Vec<String> = systems
        .iter()
        .map(|s| format!("{}: {}", s.name(), systems::version(*s)))
        .collect();
    eprintln!("versions: {}", versions.join("; "));
    let mut samples: Vec<(System, Sample)> = Vec::new();
    let mut thread_samples: Vec<(System, ThreadSample)> = Vec::new();
    let mut cuts: Vec<(System, failover::CutSample)> = Vec::new();
    // BENCH_CUTS=0 measures throughput only (to compare builds quickly).
    let with_cuts = std::env::var("BENCH_CUTS").map_or(true, |v| v != "0");
    let tunnels = tunnels_from_env();
    let mut tunnel_samples: Vec<(System, tunnels::TunnelsSample)> = Vec::new();
    let mut tunnel_threads: Vec<(System, ThreadSample)> = Vec::new();
    let started = std::time::Instant::now();
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
                Ok(((s, t), cut)) => {
                    eprintln!("  {s:?}\n  {cut:?}");
                    if let Some(l) = t.largest() {
                        eprintln!(
                            "  largest data-path thread: {} {}, {:.0} % of its side's data path",
                            l.row.side.name(),
                            l.row.label,
                            l.of_side * 100.0
                        );
                    }
                    samples.push((system, s));
                    thread_samples.push((system, t));
                    cuts.extend(cut.map(|c| (system, c)));
                }
                Err(e) => {
                    eprintln!("  {} failed: {e}", system.name());
                    std::process::exit(1);
                }
            }
            if let Some(n) = tunnels {
                eprintln!("round {round}/{rounds}: {}, {n} tunnels ...", system.name());
                match tunnels::measure(system, &sitelink, n, seconds) {
                    Ok((s, t)) => {
                        eprintln!("  {s:?}");
                        tunnel_samples.push((system, s));
                        tunnel_threads.push((system, t));
                    }
                    Err(e) => {
                        eprintln!("  {} with {n} tunnels failed: {e}", system.name());
                        std::process::exit(1);
                    }
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
    println!("\nVersions:\n");
    for v in &versions {
        println!("- {v}");
    }
    print_throughput(&systems, &samples, rounds, seconds);
    threads::print_summary("the TCP 1-stream test", &thread_samples);
    for &system in &systems {
        let last = thread_samples.iter().rev().find(|(s, _)| *s == system);
        if let Some((_, t)) = last {
            threads::print_table(system, "TCP 1 stream", rounds, t);
        }
    }
    if let Some(n) = tunnels {
        tunnels::print(&systems, &tunnel_samples, n, rounds, seconds);
        threads::print_summary(&format!("the {n}-tunnel test"), &tunnel_threads);
        for &system in &systems {
            let last = tunnel_threads.iter().rev().find(|(s, _)| *s == system);
            if let Some((_, t)) = last {
                let test = format!("{n} tunnels, one TCP flow each");
                threads::print_table(system, &test, rounds, t);
            }
        }
    }
    if with_cuts {
        print_failover(&systems, &cuts, swaps);
    }
    println!(
        "\nThe benchmark took {:.0} s (without the builds).",
        started.elapsed().as_secs_f64()
    );
}

/// BENCH_TUNNELS=N: how many tunnels the N-tunnel test runs (2 to
/// [`MAX_TUNNELS`]), or none (unset, empty, 0 or 1). Anything else ends the
/// bench before it starts.
fn tunnels_from_env() -> Option<usize> {
    let text = std::env::var("BENCH_TUNNELS").unwrap_or_default();
    match text.trim().parse::<usize>() {
        _ if text.trim().is_empty() => None,
        Ok(0 | 1) => None,
        Ok(n) if n <= MAX_TUNNELS => Some(n),
        _ => {
            eprintln!("BENCH_TUNNELS={text:?}: give a number of tunnels, 2 to {MAX_TUNNELS}");
            std::process::exit(2);
        }
    }
}

/// The throughput table of the systems run (the ratios when sitelink was).
fn print_throughput(systems: &[System], samples: &[(System, Sample)], rounds: usize, seconds: u32) {
    type Metric = (&'static str, fn(&Sample) -> f64);
    let metrics: [Metric; 5] = [
        ("TCP, 1 stream (Mbit/s)", |s| s.tcp1_mbps),
        ("TCP, 4 streams (Mbit/s)", |s| s.tcp4_mbps),
        ("UDP 64 B delivered (kpps)", |s| s.udp64_kpps),
        ("CPU µs per 64 B packet delivered", |s| s.udp64_cpu_us),
        ("CPU s per GB, TCP 1 stream", |s| s.cpu_s_per_gb),
    ];
    println!("\n{rounds} rounds of {seconds} s per test, MTU {MTU}, medians (min-max)\n");
    let with_ratios = systems.first() == Some(&System::Sitelink);
    let others = if with_ratios { &systems[1..] } else { &[] };
    let mut head: Vec<String> = systems.iter().map(|s| s.name().to_string()).collect();
    head.extend(others.iter().map(|s| format!("sitelink/{}", s.name())));
    println!("| metric | {} |", head.join(" | "));
    println!("|---|{}", "---:|".repeat(head.len()));
    for (name, get) in metrics {
        let cell = |system: System| stats_of(samples, system, get);
        let cells: Vec<(f64, f64, f64)> = systems.iter().map(|s| cell(*s)).collect();
        let mut row: Vec<String> = cells
            .iter()
            .map(|(m, lo, hi)| format!("{m:.1} ({lo:.1}-{hi:.1})"))
            .collect();
        if with_ratios {
            row.extend(
                cells[1..]
                    .iter()
                    .map(|o| format!("{:.2}", cells[0].0 / o.0)),
            );
        }
        println!("| {name} | {} |", row.join(" | "));
    }
}

fn print_failover(
    systems: &[System],
    cuts: &[(System, failover::CutSample)],
    swaps: Option<failover::SwapSample>,
) {
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
         tunnel's link goes down for good, two tunnels, default failover. wireguard-go, \
         boringtun-cli and GotaTun: one peer, its only link down for {} ms, then up again \
         (WireGuard has no second path: traffic waits for the link).\n",
        failover::PLAIN_CUT.as_millis()
    );
    let names: Vec<&str> = systems.iter().map(|s| s.name()).collect();
    println!("| metric | {} |", names.join(" | "));
    println!("|---|{}", "---:|".repeat(names.len()));
    type Get = fn(&failover::CutSample) -> f64;
    let rows: [(&str, Get); 2] = [
        ("loss window (ms)", |c| c.loss_ms),
        ("longest silence between replies (ms)", |c| c.outage_ms),
    ];
    for (name, get) in rows {
        let cells: Vec<String> = systems.iter().map(|s| cell(*s, get)).collect();
        println!("| {name} | {} |", cells.join(" | "));
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
