//! `sitelink-bench-routes`: the control-plane benchmark of issue 6. A BIRD 2
//! feeder, loaded from a generated config of N IPv4 and M IPv6 static routes,
//! sends them over one BGP session to a receiver; the benchmark reports per
//! receiver the time from enabling the feeder's session to all routes in the
//! receiver's table (sitelink: its FIB, from `sitelink status --json`; BIRD:
//! the channel's imported count), its peak RSS (VmHWM), its RSS once
//! every route is in, and the bytes per route ((RSS - RSS before the feed)
//! / routes) for each.
//!
//! Three receivers, one after the other in the same run, each on fresh
//! namespaces:
//! - BIRD 2 (no kernel protocol), fed over a veth by a BIRD feeder;
//! - BIRD 2 behind wireguard-go, fed by the same kind of feeder through a
//!   wireguard-go tunnel over the veth: a VPN gateway built from stock
//!   parts, which pays for the tunnel at both ends as sitelink does (its
//!   CPU and memory are BIRD's and wireguard-go's together);
//! - a sitelink VGW (topology 4, `examples/interop/vgw.toml`) with kernel
//!   routes off, max-prefix raised, and the default Wasm plugins in the
//!   `bgp-filter` and `route-selection` slots, fed by the same kind of
//!   feeder: BIRD from `sitelink export --format bird` over wireguard-go
//!   tunnels from `sitelink export --format wg-quick` (as tests/interop.rs).
//!
//! The feeder's session starts disabled and is enabled once its static
//! routes are loaded, so its own start-up is not timed.
//!
//! Feeder and receiver share the machine's cores. A second table gives,
//! per receiver, the feeder's CPU time to 99% (its BIRD, and the
//! wireguard-go it sends through) beside the receiver's, how busy the
//! machine was, and the floor: both CPU times over the cores, the time to
//! 99% with no core ever idle. On two cores the BIRD receiver's run has a
//! lower floor than a tunnelled one, whatever the tunnelled receiver does.
//! A third says, over the same span, how long the receiver's busiest thread,
//! the rest of the receiver, the feeder's BIRD and its wireguard-go each ran
//! and each waited runnable for a core (`waits.rs`).
//!
//! Then, on sitelink with the full table (the control-plane issue's
//! measurements; each is reported "n/a" with the reason if it fails, and the
//! ingest figures stand):
//! - the control loop's turns (`control_loop` in `sitelink status --json`:
//!   count, mean, lifetime maximum, histogram) for the ingest phase (enable
//!   -> converged) and the swap phase, each the difference of two snapshots;
//! - `sitelink plugin swap bgp-filter bogon_filter.wasm --param
//!   allow_private=true` (accepts every route of the feed): CLI wall time,
//!   the reply's `swap_ms` and changes, and whether BGP sessions were reset,
//!   tunnel liveness changed or the FIB counts moved (checked right after the
//!   answer and 3 s later);
//! - `sitelink routes --prefix 20.1.2.0/24 --json`: median of 20 CLI runs
//!   (falls back to `--limit 100` if `--prefix` is refused);
//! - a forced swap to `fault-flaky-filter` with `poison=10000`, which faults
//!   on every call holding one of the feed's 120 poisoned prefixes: how far
//!   the FIB falls and when every other route is back (`retries.rs`).
//!
//! Usage (as root): `scripts/bench-routes.sh [ROUTES_V4] [ROUTES_V6]`.
//! Environment: SITELINK_BIN, SITELINK_PLUGIN_DIR, BENCH_TIMEOUT_S (bound on
//! each convergence, default 900), BENCH_RECEIVERS (`sitelink` alone),
//! BENCH_CONTROL (`0`: none of the phases after the ingest; `faults`: only
//! the filter faults).

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::Value;
use sitelink_lab::cleanup::{install_signal_cleanup, Watchdog};
use sitelink_lab::gateway::{admin_json, sitelink_bin, status_timed, STATUS_TIMEOUT};
use sitelink_lab::netns::veth;
use sitelink_lab::proc_stat::{machine_cpu, proc_status_bytes, process_cpu};
use sitelink_lab::process::wait_until;
use sitelink_lab::stock::{self, Bird};
use sitelink_lab::topology::{SiteOptions, Topology, SITE_A_NET_V4, SITE_A_NET_V6};
use sitelink_lab::{Error, Gw, Lab, Result, SiteLab};

mod budget;
mod control;
mod retries;
mod waits;

use control::{control_report, Turns};

/// How often a receiver's route count is read.
const POLL: Duration = Duration::from_millis(100);

/// One receiver's numbers.
struct Outcome {
    receiver: &'static str,
    converge: Duration,
    /// When 99% of the routes were in (the feeder sends its last few dozen
    /// routes seconds after the rest, to either receiver).
    most: Option<Duration>,
    rss_before: u64,
    peak_rss: u64,
    /// RSS once every route is in: what holding the table costs, apart
    /// from the peaks of growing it.
    rss_after: u64,
    /// (seconds since enable, routes) every second or so.
    curve: Vec<(f64, u64)>,
    /// The receiver's CPU time (all its threads, user + system) from the
    /// session's establishment to 99% of the routes, and to all of them:
    /// the work, apart from the waits the wall times include.
    cpu_to_most: Option<Duration>,
    cpu_to_all: Option<Duration>,
    /// The feeder's CPU time (its BIRD, and its wireguard-go if it sends
    /// through a tunnel) over the same span as `cpu_to_most`.
    feeder_cpu_to_most: Option<Duration>,
    /// The share of the machine's CPU time (every core) that was busy over
    /// that span, whoever used it.
    busy_to_most: Option<f64>,
    /// Who ran and who waited for a core over that span.
    waits: Option<waits::Waits>,
    /// sitelink only: control-loop turns, the bgp-filter swap over the full
    /// table, `sitelink routes --prefix` latency (markdown lines).
    report: Vec<String>,
}

/// The feed: `v4` IPv4 /24s from 20.0.0.0 up, `v6` IPv6 /48s in fd10::/16.
#[derive(Clone, Copy)]
struct Feed {
    v4: u64,
    v6: u64,
}

impl Feed {
    fn total(self) -> u64 {
        self.v4 + self.v6
    }

    /// How many of the feed's prefixes `fault-flaky-filter` with
    /// `poison=n` faults on: those whose network number (20.0.1.0/24 is
    /// 0x140001, fd10:0:1::/48 is 0xfd10_0000_0001) is a multiple of `n`.
    fn poisoned(self, n: u64) -> u64 {
        let multiples =
            |first: u64, count: u64| (0..count).filter(|i| (first + i).is_multiple_of(n)).count();
        (multiples(0x14_0000, self.v4) + multiples(0xfd10_0000_0000, self.v6)) as u64
    }

    /// BIRD `protocol static` blocks holding the feed (blackhole routes:
    /// advertised, never installed anywhere).
    fn bird_statics(self) -> String {
        let mut s = String::with_capacity((self.v4 * 34 + self.v6 * 40) as usize + 256);
        s.push_str("protocol static feed4 {\n  ipv4;\n");
        for i in 0..self.v4 {
            let (a, b, c) = (20 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
            let _ = writeln!(s, "  route {a}.{b}.{c}.0/24 blackhole;");
        }
        s.push_str("}\nprotocol static feed6 {\n  ipv6;\n");
        for i in 0..self.v6 {
            let _ = writeln!(
                s,
                "  route fd10:{:x}:{:x}::/48 blackhole;",
                i >> 16,
                i & 0xffff
            );
        }
        s.push_str("}\n");
        s
    }
}

/// The feeder of one receiver: its BIRD (already started), the BGP
/// protocol that sends the feed (disabled until the routes are loaded),
/// and its processes (that BIRD, and the wireguard-go it sends through).
struct Feeder<'a> {
    bird: &'a Bird,
    proto: &'a str,
    pids: &'a [u32],
}

/// Runs `feeder`: waits for its static routes, enables its session, and
/// polls `count` until it reaches the feed. `pids` are the receiver's
/// processes (BIRD and its wireguard-go count together): their CPU times
/// and memory are summed. The feeder's CPU time is summed too: on a
/// machine with few cores the two share them, and the feeder's share is
/// what a receiver's time to 99% cannot go below.
fn feed_and_measure(
    receiver: &'static str,
    feeder: Feeder<'_>,
    feed: Feed,
    pids: &[u32],
    mut count: impl FnMut() -> Option<u64>,
) -> Result<Outcome> {
    let Feeder {
        bird: feeder,
        proto,
        pids: feeder_pids,
    } = feeder;
    let timeout = Duration::from_secs(
        std::env::var("BENCH_TIMEOUT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(900),
    );
    let loaded = wait_until("the feeder to load its routes", timeout, POLL * 5, || {
        bird_total(feeder).is_some_and(|n| n >= feed.total())
    })?;
    eprintln!(
        "[{receiver}] feeder loaded {} routes in {loaded:?}",
        feed.total()
    );
    let before = count().unwrap_or(0);
    let rss_before = status_sum(pids, "VmRSS")?;
    feeder.birdc(&["enable", proto])?;
    // BIRD connects after its `connect delay time`: time from Established.
    let established = wait_until(
        "the feeder's session",
        timeout,
        Duration::from_millis(10),
        || feeder.established(proto),
    )?;
    eprintln!("[{receiver}] session established {established:?} after enable");
    let start = Instant::now();
    let cpu_start = cpu_sum(pids);
    let feeder_start = cpu_sum(feeder_pids);
    let machine_start = machine_cpu();
    let everyone: Vec<u32> = pids.iter().chain(feeder_pids).copied().collect();
    let threads_start = waits::Snapshot::take(&everyone);
    let mut threads_to_most = None;
    let mut cpu_to_most = None;
    let mut feeder_to_most = None;
    let mut machine_to_most = None;
    let mut curve = Vec::new();
    let mut next_mark = 1.0;
    let mut last = 0;
    let mut most = None;
    let converged = wait_until(
        &format!("{receiver} to hold {} routes", feed.total()),
        timeout,
        POLL,
        || {
            let n = count().map_or(last, |n| n.saturating_sub(before));
            last = n;
            if most.is_none() && n * 100 >= feed.total() * 99 {
                most = Some(start.elapsed());
                cpu_to_most = cpu_sum(pids);
                feeder_to_most = cpu_sum(feeder_pids);
                machine_to_most = machine_cpu();
                threads_to_most = Some(waits::Snapshot::take(&everyone));
            }
            let t = start.elapsed().as_secs_f64();
            if t >= next_mark {
                curve.push((t, n));
                eprintln!("[{receiver}] {t:5.1} s: {n} routes");
                next_mark += 1.0;
            }
            n >= feed.total()
        },
    )?;
    let cpu_to_all = cpu_sum(pids);
    let busy_to_most = match (machine_start, machine_to_most) {
        (Some((b0, a0)), Some((b1, a1))) if a1 > a0 => {
            Some(b1.saturating_sub(b0) as f64 / (a1 - a0) as f64)
        }
        _ => None,
    };
    Ok(Outcome {
        receiver,
        converge: converged,
        most,
        cpu_to_most: between(cpu_start, cpu_to_most),
        cpu_to_all: between(cpu_start, cpu_to_all),
        feeder_cpu_to_most: between(feeder_start, feeder_to_most),
        busy_to_most,
        rss_before,
        peak_rss: status_sum(pids, "VmHWM")?,
        rss_after: status_sum(pids, "VmRSS")?,
        curve,
        report: Vec::new(),
        waits: threads_to_most
            .map(|end| waits::Waits::between(&threads_start, &end, pids, feeder_pids)),
    })
}

/// The CPU time from reading `start` to reading `end`, if both were read.
fn between(start: Option<Duration>, end: Option<Duration>) -> Option<Duration> {
    Some(end?.saturating_sub(start?))
}

/// CPU time of `pids` together (user + system).
fn cpu_sum(pids: &[u32]) -> Option<Duration> {
    pids.iter().map(|p| process_cpu(*p)).sum()
}

/// A size field of `/proc/PID/status` summed over `pids` (a sum of peaks
/// is at least the peak of the sum).
fn status_sum(pids: &[u32], field: &str) -> Result<u64> {
    pids.iter().map(|p| proc_status_bytes(*p, field)).sum()
}

/// The feeder's route count over all tables (`show route count`).
fn bird_total(bird: &Bird) -> Option<u64> {
    let text = bird.query("show route count").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Total:"))
        .find_map(|r| r.split_whitespace().next()?.parse().ok())
}

/// Routes imported by BGP protocol `proto` (both channels), from
/// `show protocols all`: a counter, cheap however many routes.
fn bird_imported(bird: &Bird, proto: &str) -> Option<u64> {
    let text = bird.query(&format!("show protocols all {proto}")).ok()?;
    let mut sum = 0;
    let mut any = false;
    for l in text.lines() {
        if let Some(r) = l.trim().strip_prefix("Routes:") {
            sum += r.split_whitespace().next()?.parse::<u64>().ok()?;
            any = true;
        }
    }
    any.then_some(sum)
}

/// BIRD receiving the feed from a BIRD feeder over a veth.
fn bird_receiver(feed: Feed, statics: &str) -> Result<Outcome> {
    bird_pair("BIRD 2", feed, statics, false)
}

/// BIRD receiving the feed over a wireguard-go tunnel, the feeder sending
/// through one as it does to sitelink: a VPN gateway built from stock
/// parts, paying for the tunnel at both ends as sitelink does.
fn bird_wg_receiver(feed: Feed, statics: &str) -> Result<Outcome> {
    bird_pair("BIRD 2 + wireguard-go", feed, statics, true)
}

/// A BIRD feeder and a BIRD receiver on fresh namespaces joined by a veth;
/// with `tunnel`, their session runs over wireguard-go tunnels across it.
fn bird_pair(label: &'static str, feed: Feed, statics: &str, tunnel: bool) -> Result<Outcome> {
    let lab = Lab::new()?;
    let f = lab.netns("feed")?;
    let r = lab.netns("recv")?;
    veth(&f, "out", &r, "out")?;
    for (ns, v4, v6) in [
        (&f, "10.200.0.1/30", "fd99::1/64"),
        (&r, "10.200.0.2/30", "fd99::2/64"),
    ] {
        ns.add_addr("out", v4)?;
        ns.add_addr("out", v6)?;
        ns.link_up("out")?;
    }
    let dir = lab.dir();
    // The session's addresses: the veth's, or the tunnel's inside ones.
    let (feed_v4, recv_v4, feed_v6) = match tunnel {
        false => ("10.200.0.1", "10.200.0.2", "fd99::1"),
        true => {
            wg_tunnel(dir, &f, &r)?;
            ("10.201.0.1", "10.201.0.2", "fd98::1")
        }
    };
    let recv_conf = dir.join("recv.conf");
    fs::write(
        &recv_conf,
        format!(
            "router id {recv_v4};\nprotocol device {{\n}}\n\
             protocol bgp feed {{\n  local {recv_v4} as 64512;\n  neighbor {feed_v4} as 65000;\n  \
             ipv4 {{ import all; export none; }};\n  ipv6 {{ import all; export none; }};\n}}\n"
        ),
    )?;
    let feed_conf = dir.join("feed.conf");
    fs::write(
        &feed_conf,
        format!(
            "router id {feed_v4};\nprotocol device {{\n}}\n{statics}\
             protocol bgp feed {{\n  disabled;\n  local {feed_v4} as 65000;\n  \
             neighbor {recv_v4} as 64512;\n  ipv4 {{ import none; export all; }};\n  \
             ipv6 {{ import none; export all; next hop address {feed_v6}; }};\n}}\n"
        ),
    )?;
    let rdir = dir.join("r");
    let fdir = dir.join("f");
    fs::create_dir_all(&rdir)?;
    fs::create_dir_all(&fdir)?;
    let receiver = Bird::start(&r, &recv_conf, &rdir)?;
    let feeder = Bird::start(&f, &feed_conf, &fdir)?;
    let mut pids = vec![bird_pid(&r)?];
    if tunnel {
        // wg-quick uses the kernel's WireGuard when it has one: that
        // tunnel's work would go uncounted, in kernel threads.
        let wg = r.pids().into_iter().find(|p| comm_is(*p, "wireguard-go"));
        pids.push(wg.ok_or_else(|| {
            Error::msg(
                "no wireguard-go in the receiver's namespace: wg-quick used the kernel's \
                 WireGuard module; unload it (modprobe -r wireguard) or leave this receiver \
                 out (BENCH_RECEIVERS=bird,sitelink)",
            )
        })?);
    }
    let feeder = Feeder {
        bird: &feeder,
        proto: "feed",
        pids: &feeder_pids(&f)?,
    };
    feed_and_measure(label, feeder, feed, &pids, || {
        bird_imported(&receiver, "feed")
    })
}

/// A wireguard-go tunnel between `f` (10.201.0.1, fd98::1) and `r`
/// (10.201.0.2, fd98::2) over the veth, brought up by `wg-quick` from
/// files with fresh keys.
fn wg_tunnel(
    dir: &std::path::Path,
    f: &sitelink_lab::Netns,
    r: &sitelink_lab::Netns,
) -> Result<()> {
    let wg = dir.join("wg");
    fs::create_dir_all(&wg)?;
    let keys = [wg.join("feed.key"), wg.join("recv.key")];
    let public = [stock::wg_genkey(&keys[0])?, stock::wg_genkey(&keys[1])?];
    let ends = [(f, 0, 1, "wgf"), (r, 1, 0, "wgr")];
    for (ns, me, peer, name) in ends {
        let private = fs::read_to_string(&keys[me])?;
        let conf = wg.join(format!("{name}.conf"));
        fs::write(
            &conf,
            format!(
                "[Interface]\nPrivateKey = {}\nAddress = 10.201.0.{}/30, fd98::{}/64\nListenPort = 51820\n\n\
                 [Peer]\nPublicKey = {}\nEndpoint = 10.200.0.{}:51820\nAllowedIPs = 10.201.0.0/30, fd98::/64\n",
                private.trim(),
                me + 1,
                me + 1,
                public[peer],
                peer + 1,
            ),
        )?;
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o600))?;
        stock::wg_quick_up(ns, &conf)?;
    }
    Ok(())
}

/// The pid of the `bird` process in a namespace.
fn bird_pid(ns: &sitelink_lab::Netns) -> Result<u32> {
    ns.pids()
        .into_iter()
        .find(|p| comm_is(*p, "bird"))
        .ok_or_else(|| Error::msg(format!("no bird process in {}", ns.name())))
}

/// The feeder's processes in `ns`: its BIRD, and the wireguard-go it
/// sends through, if any.
fn feeder_pids(ns: &sitelink_lab::Netns) -> Result<Vec<u32>> {
    let mut pids = vec![bird_pid(ns)?];
    pids.extend(
        ns.pids()
            .into_iter()
            .filter(|p| comm_is(*p, "wireguard-go")),
    );
    Ok(pids)
}

/// Whether process `pid`'s command name is `name`.
fn comm_is(pid: u32, name: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
}

/// The exported BIRD config turned into the feeder: the feed's static
/// routes added and exported (the export filter allowed only the site's
/// networks), the first session disabled until the routes are loaded, and
/// the second tunnel's session off (one session carries the feed, as for
/// the BIRD receiver), and BFD off (the VGW probes with ICMP echo).
fn feeder_config(exported: &str, statics: &str) -> Result<String> {
    let mut text = exported.to_string();
    for (from, to) in [
        ("export filter office_export4;", "export all;"),
        ("export filter office_export6;", "export all;"),
        (
            "protocol bgp office_tunnel1 {\n",
            "protocol bgp office_tunnel1 {\n  disabled;\n",
        ),
        (
            "protocol bgp office_tunnel2 {\n",
            "protocol bgp office_tunnel2 {\n  disabled;\n",
        ),
        ("  bfd on;\n", ""),
    ] {
        if !text.contains(from) {
            return Err(Error::msg(format!(
                "the exported BIRD config has no `{}`: update the benchmark",
                from.trim()
            )));
        }
        text = text.replace(from, to);
    }
    text.push_str(statics);
    Ok(text)
}

/// A sitelink VGW receiving the feed from BIRD over wireguard-go tunnels.
fn sitelink_receiver(feed: Feed, statics: &str) -> Result<Outcome> {
    let bin = sitelink_bin()?;
    let opts = SiteOptions {
        bin: Some(bin.clone()),
        ..SiteOptions::default()
    }
    .set(Gw::Vgw, "route_table", "kernel_routes", "false")
    // The feeder's sessions start disabled, so BIRD's BFD would not answer
    // yet: probe with ICMP echo, which its kernel answers.
    .set(Gw::Vgw, "connection.liveness", "mode", "\"echo\"")
    .set(
        Gw::Vgw,
        "connection.bgp",
        "max_prefixes",
        (feed.total() + 1000).to_string(),
    )
    .with_default_plugins(Gw::Vgw)?;
    let mut lab = SiteLab::start_with(Topology::Interop, opts)?;
    let wg_dir = lab.lab().dir().join("wg");
    for f in stock::export_office(&lab, "wg-quick", &wg_dir, &[])? {
        stock::wg_quick_up(&lab.cgw, &f)?;
    }
    let bird_dir = lab.lab().dir().join("bird");
    let nets = ["--network", SITE_A_NET_V4, "--network", SITE_A_NET_V6];
    let files = stock::export_office(&lab, "bird", &bird_dir, &nets)?;
    let conf = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "conf"))
        .ok_or_else(|| Error::msg("sitelink export wrote no bird .conf"))?;
    let feeder_conf = bird_dir.join("feeder.conf");
    fs::write(
        &feeder_conf,
        feeder_config(&fs::read_to_string(conf)?, statics)?,
    )?;
    let feeder = Bird::start(&lab.cgw, &feeder_conf, lab.lab().dir())?;
    lab.wait_all_tunnels_up(Duration::from_secs(30))?;
    let pid = lab.gateway(Gw::Vgw).pid();
    let ns = lab.vgw.name().to_string();
    let socket = lab.socket(Gw::Vgw)?;
    let turns_before_feed = admin_json(&lab.vgw, &bin, &socket, &["status"])
        .ok()
        .and_then(|s| Turns::from_status(&s));
    let feeder_pids = feeder_pids(&lab.cgw)?;
    let feeder = Feeder {
        bird: &feeder,
        proto: "office_tunnel1",
        pids: &feeder_pids,
    };
    let outcome = feed_and_measure("sitelink", feeder, feed, &[pid], || {
        // The socket itself, not the CLI: no process per poll.
        let (status, _) = status_timed(&socket, STATUS_TIMEOUT).ok()?;
        let fib = status.get("fib")?;
        Some(fib["routes_v4"].as_u64()? + fib["routes_v6"].as_u64()?)
    });
    if outcome.is_err() {
        eprintln!("[sitelink] {ns}: {}", lab.gateway_logs());
    } else if let Ok(bgp) = admin_json(&lab.vgw, &bin, &socket, &["bgp"]) {
        let peer: Option<&Value> = bgp["peers"].as_array().and_then(|p| p.first());
        if let Some(p) = peer {
            eprintln!(
                "[sitelink] peer: state {}, {} received, {} accepted, {} UPDATEs, {} advertised",
                p["state"],
                p["prefixes_received"],
                p["prefixes_accepted"],
                p["updates_received"],
                p["prefixes_advertised"]
            );
        }
    }
    let mut outcome = outcome;
    // BENCH_CONTROL=0 skips the swaps, latencies and filter faults (a
    // quick comparison); BENCH_CONTROL=faults runs only the faults.
    let control = std::env::var("BENCH_CONTROL").unwrap_or_default();
    if let (Ok(o), false) = (outcome.as_mut(), control == "0") {
        if control != "faults" {
            o.report = control_report(&lab, &bin, &socket, turns_before_feed);
        }
        let poisoned = feed.poisoned(retries::POISON);
        o.report
            .extend(retries::retry_report(&lab, &bin, &socket, poisoned));
    }
    outcome
}

/// How the receiver and its feeder shared the machine's cores until 99% of
/// the routes were in. The feeder (BIRD, single-threaded, and the
/// wireguard-go it sends through) never waits for the receiver: the
/// receiver's CPU time is taken from its. With no idle core, the time to
/// 99% can go no lower than both CPU times over the cores (the floor).
fn print_sharing(outcomes: &[Outcome]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\nSharing the {cores} cores until 99% in (the floor: both CPU times over the cores):\n"
    );
    println!(
        "| receiver | 99% in (s) | receiver CPU (s) | feeder CPU (s) | machine busy | floor (s) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for o in outcomes {
        let (Some(r), Some(f)) = (o.cpu_to_most, o.feeder_cpu_to_most) else {
            continue;
        };
        let busy = o
            .busy_to_most
            .map_or("-".to_string(), |b| format!("{:.0}%", b * 100.0));
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {busy} | {:.2} |",
            o.receiver,
            o.most.unwrap_or(o.converge).as_secs_f64(),
            r.as_secs_f64(),
            f.as_secs_f64(),
            (r + f).as_secs_f64() / cores as f64,
        );
    }
}

/// A receiver's run of the benchmark.
type Receiver = fn(Feed, &str) -> Result<Outcome>;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    install_signal_cleanup();
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let feed = Feed {
        v4: arg(1, 1_000_000),
        v6: arg(2, 200_000),
    };
    let _watchdog = Watchdog::arm("sitelink-bench-routes", Duration::from_secs(3600));
    let statics = feed.bird_statics();
    let mut outcomes = Vec::new();
    // BENCH_RECEIVERS=sitelink skips BIRD (a quick comparison of builds);
    // a comma-separated list of bird, bird-wg, sitelink picks receivers.
    let only = std::env::var("BENCH_RECEIVERS").ok();
    let receivers: [(&str, Receiver); 3] = [
        ("bird", bird_receiver),
        ("bird-wg", bird_wg_receiver),
        ("sitelink", sitelink_receiver),
    ];
    for (name, run) in receivers {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|r| r == name))
        {
            continue;
        }
        match run(feed, &statics) {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                eprintln!("sitelink-bench-routes: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "\nFeed: {} IPv4 + {} IPv6 routes over one BGP session from BIRD 2.\n",
        feed.v4, feed.v6
    );
    println!(
        "| receiver | all routes in (s) | 99% in (s) | CPU to 99% (s) | CPU to all (s) | RSS before (MB) | peak RSS (MB) | RSS after (MB) | bytes/route (peak) | bytes/route (after) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for o in &outcomes {
        let per_route =
            |rss: u64| rss.saturating_sub(o.rss_before) as f64 / feed.total().max(1) as f64;
        let secs =
            |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64()));
        println!(
            "| {} | {:.2} | {:.2} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
            o.receiver,
            o.converge.as_secs_f64(),
            o.most.unwrap_or(o.converge).as_secs_f64(),
            secs(o.cpu_to_most),
            secs(o.cpu_to_all),
            mb(o.rss_before),
            mb(o.peak_rss),
            mb(o.rss_after),
            per_route(o.peak_rss),
            per_route(o.rss_after),
        );
    }
    print_sharing(&outcomes);
    let rows: Vec<_> = outcomes
        .iter()
        .filter_map(|o| {
            let w = o.waits.as_ref()?;
            Some((o.receiver, o.most.unwrap_or(o.converge).as_secs_f64(), w))
        })
        .collect();
    waits::print(&rows);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    budget::print(&outcomes, cores);
    // sitelink's ratios to each other receiver of the run.
    let sitelink = outcomes.iter().find(|o| o.receiver == "sitelink");
    for (sitelink, other) in sitelink.into_iter().flat_map(|s| {
        outcomes
            .iter()
            .filter(|o| o.receiver != "sitelink")
            .map(move |o| (s, o))
    }) {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let most = |o: &Outcome| o.most.unwrap_or(o.converge);
        let cpu = match (sitelink.cpu_to_most, other.cpu_to_most) {
            (Some(s), Some(b)) => format!(", CPU to 99% {:.2}x", ratio(s, b)),
            _ => String::new(),
        };
        println!(
            "\nsitelink/{}: time {:.2}x (99%: {:.2}x){cpu}, peak RSS {:.2}x",
            other.receiver,
            ratio(sitelink.converge, other.converge),
            ratio(most(sitelink), most(other)),
            sitelink.peak_rss as f64 / other.peak_rss.max(1) as f64
        );
    }
    for o in &outcomes {
        if !o.report.is_empty() {
            println!("\n{} control plane after convergence:\n", o.receiver);
            for line in &o.report {
                println!("{line}");
            }
        }
    }
    for o in &outcomes {
        let points: Vec<String> = o
            .curve
            .iter()
            .map(|(t, n)| format!("{t:.0}s:{n}"))
            .collect();
        if !points.is_empty() {
            println!("{} progress: {}", o.receiver, points.join(" "));
        }
    }
}
