//! The control-plane part of the routes benchmark: after convergence, the
//! control loop's turn times (`control_loop` in `sitelink status --json`),
//! a bgp-filter swap over the full table and its effect on sessions and
//! probes, and `sitelink routes --prefix` latency.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sitelink_lab::gateway::admin_json;
use sitelink_lab::plugins::plugin;
use sitelink_lab::process;
use sitelink_lab::{Error, Result, SiteLab};

/// Bound on the `bgp-filter` swap over the full table (the CLI itself waits
/// at most 60 s for the gateway's answer).
const SWAP_TIMEOUT: Duration = Duration::from_secs(300);

/// Bound on one `sitelink routes` call.
const ROUTES_TIMEOUT: Duration = Duration::from_secs(30);

/// How many `sitelink routes --prefix` calls the latency median is over.
const ROUTES_RUNS: usize = 20;

/// A snapshot of `control_loop` in `sitelink status --json`: the control
/// thread's turn count, mean, lifetime maximum and histogram
/// ((upper bound in ms or None for +Inf, turns)).
#[derive(Clone, Debug)]
pub struct Turns {
    turns: u64,
    mean_ms: f64,
    max_ms: f64,
    histogram: Vec<(Option<f64>, u64)>,
}

impl Turns {
    pub fn from_status(status: &Value) -> Option<Turns> {
        let c = status.get("control_loop")?;
        let histogram = c["histogram"]
            .as_array()?
            .iter()
            .map(|b| Some((b.get(0)?.as_f64(), b.get(1)?.as_u64()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Turns {
            turns: c["turns"].as_u64()?,
            mean_ms: c["mean_ms"].as_f64()?,
            max_ms: c["max_ms"].as_f64()?,
            histogram,
        })
    }

    /// The turns between `earlier` and `self`. The maximum is a lifetime
    /// maximum: exact for the phase if it grew, else the phase's is at most
    /// the bound of its highest non-empty bucket (returned as `max_exact`
    /// false).
    fn since(&self, earlier: &Turns) -> (Turns, bool) {
        let turns = self.turns.saturating_sub(earlier.turns);
        let sum = self.mean_ms * self.turns as f64 - earlier.mean_ms * earlier.turns as f64;
        let histogram: Vec<(Option<f64>, u64)> = self
            .histogram
            .iter()
            .enumerate()
            .map(|(i, (le, n))| {
                let before = earlier.histogram.get(i).map_or(0, |b| b.1);
                (*le, n.saturating_sub(before))
            })
            .collect();
        let exact = self.max_ms > earlier.max_ms;
        let max_ms = if exact {
            self.max_ms
        } else {
            histogram
                .iter()
                .rev()
                .find(|(_, n)| *n > 0)
                .map_or(0.0, |(le, _)| le.unwrap_or(f64::INFINITY))
        };
        let mean_ms = if turns == 0 { 0.0 } else { sum / turns as f64 };
        (
            Turns {
                turns,
                mean_ms,
                max_ms,
                histogram,
            },
            exact,
        )
    }

    /// One markdown table row: phase, turns, mean, max, then each bucket.
    fn row(&self, phase: &str, max_exact: bool) -> String {
        let max = if max_exact {
            format!("{:.1}", self.max_ms)
        } else {
            format!("<= {}", self.max_ms)
        };
        let buckets: Vec<String> = self.histogram.iter().map(|(_, n)| n.to_string()).collect();
        format!(
            "| {phase} | {} | {:.2} | {max} | {} |",
            self.turns,
            self.mean_ms,
            buckets.join(" | ")
        )
    }

    fn header(&self) -> [String; 2] {
        let names: Vec<String> = self
            .histogram
            .iter()
            .map(|(le, _)| match le {
                Some(le) => format!("<= {le} ms"),
                None => "more".to_string(),
            })
            .collect();
        [
            format!(
                "| phase | turns | mean (ms) | max (ms) | {} |",
                names.join(" | ")
            ),
            format!(
                "| --- | ---: | ---: | ---: |{}",
                " ---: |".repeat(names.len())
            ),
        ]
    }
}

/// What the swap must leave alone: per BGP peer (by tunnel) its state,
/// `established_transitions` and `uptime_s`; per tunnel its liveness and
/// any probe-loss-like counter; the FIB counts.
/// A tunnel's name, liveness and probe-loss-like counters.
type TunnelHealth = (String, String, Vec<(String, u64)>);

#[derive(Debug, Default)]
pub struct Health {
    peers: Vec<(String, String, u64, f64)>,
    tunnels: Vec<TunnelHealth>,
    fib: (u64, u64),
}

pub fn health(lab: &SiteLab, bin: &std::path::Path, socket: &std::path::Path) -> Result<Health> {
    let bgp = admin_json(&lab.vgw, bin, socket, &["bgp"])?;
    let status = admin_json(&lab.vgw, bin, socket, &["status"])?;
    let mut h = Health::default();
    for p in bgp["peers"].as_array().into_iter().flatten() {
        h.peers.push((
            p["tunnel"].as_str().unwrap_or("?").to_string(),
            p["state"].as_str().unwrap_or("?").to_string(),
            p["established_transitions"].as_u64().unwrap_or(0),
            p["uptime_s"].as_f64().unwrap_or(-1.0),
        ));
    }
    for c in status["connections"].as_array().into_iter().flatten() {
        for t in c["tunnels"].as_array().into_iter().flatten() {
            let counters = t
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| {
                    [
                        "probe",
                        "loss",
                        "lost",
                        "missed",
                        "expir",
                        "transition",
                        "flap",
                    ]
                    .iter()
                    .any(|w| k.contains(w))
                })
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect();
            h.tunnels.push((
                t["inside_cidr"].as_str().unwrap_or("?").to_string(),
                t["liveness"].as_str().unwrap_or("?").to_string(),
                counters,
            ));
        }
    }
    h.fib = (
        status["fib"]["routes_v4"].as_u64().unwrap_or(0),
        status["fib"]["routes_v6"].as_u64().unwrap_or(0),
    );
    Ok(h)
}

/// Lines comparing health before and after the swap.
pub fn compare(before: &Health, after: &Health) -> Vec<String> {
    let mut out = Vec::new();
    for (tunnel, state, trans, up) in &before.peers {
        let line = match after.peers.iter().find(|p| &p.0 == tunnel) {
            Some((_, s2, t2, u2)) => format!(
                "- BGP peer over {tunnel}: state {state} -> {s2}, established_transitions \
                 {trans} -> {t2}, uptime_s {up:.1} -> {u2:.1} ({})",
                if state != "established" {
                    "not established before the swap"
                } else if t2 == trans && u2 > up {
                    "not reset"
                } else {
                    "RESET or not up"
                }
            ),
            None => format!("- BGP peer over {tunnel}: gone after the swap"),
        };
        out.push(line);
    }
    for (tunnel, live, counters) in &before.tunnels {
        let Some((_, l2, c2)) = after.tunnels.iter().find(|t| &t.0 == tunnel) else {
            out.push(format!("- tunnel {tunnel}: gone after the swap"));
            continue;
        };
        let mut line = format!("- tunnel {tunnel}: liveness {live} -> {l2}");
        if counters.is_empty() {
            line.push_str(" (no per-tunnel probe-loss counter in the status)");
        }
        for (k, v) in counters {
            let v2 = c2.iter().find(|c| &c.0 == k).map_or(0, |c| c.1);
            let _ = write!(line, ", {k} {v} -> {v2}");
        }
        out.push(line);
    }
    out.push(format!(
        "- FIB: {} IPv4 + {} IPv6 -> {} IPv4 + {} IPv6 ({})",
        before.fib.0,
        before.fib.1,
        after.fib.0,
        after.fib.1,
        if before.fib == after.fib {
            "unchanged"
        } else {
            "CHANGED"
        }
    ));
    out
}

/// After convergence: the ingest phase's control-loop turns, a bgp-filter
/// swap (the bogon-filter example with `allow_private=true`, which accepts
/// every route of the feed) over the full table and its effect, and
/// `sitelink routes --prefix` latency. Failures become "n/a" lines: the
/// ingest figures stand without them.
pub fn control_report(
    lab: &SiteLab,
    bin: &std::path::Path,
    socket: &std::path::Path,
    before_feed: Option<Turns>,
) -> Vec<String> {
    let mut out = Vec::new();
    let status = |what: &str| -> Option<Turns> {
        let t = admin_json(&lab.vgw, bin, socket, &["status"])
            .ok()
            .and_then(|s| Turns::from_status(&s));
        if t.is_none() {
            eprintln!("[sitelink] no control_loop in `sitelink status --json` ({what})");
        }
        t
    };
    let after_feed = status("after the feed");
    // The turn table.
    let mut rows = Vec::new();
    match (&before_feed, &after_feed) {
        (Some(b), Some(a)) => {
            rows.extend(a.header());
            rows.push(b.row("start-up (until the feed)", true));
            let (ingest, exact) = a.since(b);
            rows.push(ingest.row("ingest (feed enabled -> converged)", exact));
        }
        _ => out.push("- control-loop turns, ingest: n/a (no `control_loop` in the status)".into()),
    }

    // The swap.
    let sock = socket.to_string_lossy().to_string();
    // The swaps: to the bogon filter (compiled on the admin thread, as
    // part of `swap_ms`), then back to the default filter (compiled at
    // start-up: cached).
    let mut last_turns = after_feed.clone();
    for (label, name, params) in [
        (
            "bgp-filter swap to bogon-filter",
            "bogon_filter",
            &["allow_private=true"][..],
        ),
        (
            "bgp-filter swap back to the default filter",
            "default_bgp_filter",
            &[][..],
        ),
    ] {
        let report = (|| -> Result<Vec<String>> {
            let wasm = plugin(name)?.to_string_lossy().to_string();
            let before = health(lab, bin, socket)?;
            std::thread::sleep(Duration::from_secs(1));
            let args = swap_args(&wasm, params, false, &sock);
            let cmdline = format!("sitelink {}", args.join(" "));
            let start = Instant::now();
            let res = process::run(Command::new(bin).args(&args), SWAP_TIMEOUT)?;
            let wall = start.elapsed();
            let turns_after = status("after a swap");
            let after = health(lab, bin, socket)?;
            // Probe expiry shows a detection time later: look again.
            std::thread::sleep(Duration::from_secs(3));
            let later = health(lab, bin, socket)?;
            let mut lines = vec![format!("- {label}: `{cmdline}`")];
            if !res.status.success() {
                lines.push(format!(
                    "  - FAILED ({}) after {:.2} s: {} {}",
                    res.status,
                    wall.as_secs_f64(),
                    res.stdout.trim(),
                    res.stderr.trim()
                ));
                return Ok(lines);
            }
            let reply: Value = serde_json::from_str(&res.stdout)
                .map_err(|e| Error::msg(format!("swap printed bad JSON ({e}): {}", res.stdout)))?;
            let changes = &reply["changes"];
            lines.push(format!(
                "  - wall time {:.2} s (CLI), `swap_ms` {:.1}, `changes.routes_changed` {}",
                wall.as_secs_f64(),
                reply["swap_ms"].as_f64().unwrap_or(f64::NAN),
                match (changes.get("routes_changed"), changes["routes"].as_array()) {
                    (Some(v), _) => v.to_string(),
                    (None, Some(r)) if r.len() <= 10 => format!(
                        "absent; `changes.routes` has {} entries: {}",
                        r.len(),
                        Value::Array(r.clone())
                    ),
                    (None, Some(r)) => format!("absent; `changes.routes` has {} entries", r.len()),
                    (None, None) => {
                        format!("n/a (changes: {})", truncate(&changes.to_string(), 200))
                    }
                },
            ));
            lines.push("  - right after the answer:".into());
            lines.extend(
                compare(&before, &after)
                    .into_iter()
                    .map(|l| format!("    {l}")),
            );
            lines.push("  - 3 s later:".into());
            lines.extend(
                compare(&before, &later)
                    .into_iter()
                    .map(|l| format!("    {l}")),
            );
            if let (Some(a), Some(s)) = (&last_turns, &turns_after) {
                let (swap, exact) = s.since(a);
                rows.push(swap.row(&format!("{label} (answer included)"), exact));
            } else {
                lines.push("  - control-loop turns: n/a".into());
            }
            // The 3 s wait and health reads are not part of the next phase.
            last_turns = status("after a swap's checks");
            Ok(lines)
        })();
        match report {
            Ok(l) => out.extend(l),
            Err(e) => out.push(format!(
                "- {label}: n/a ({})",
                truncate(&e.to_string(), 400)
            )),
        }
    }
    if let Some(s) = status("at the end") {
        rows.push(s.row("whole run", true));
    }

    // `sitelink routes --prefix` latency.
    let probe = SITE_PROBE_PREFIX;
    let tries: [Vec<&str>; 2] = [
        vec!["routes", "--prefix", probe, "--socket", &sock, "--json"],
        vec!["routes", "--limit", "100", "--socket", &sock, "--json"],
    ];
    for args in tries {
        let cmdline = format!("sitelink {}", args.join(" "));
        let mut times = Vec::new();
        let mut failure = None;
        let mut routes_seen = 0;
        for _ in 0..ROUTES_RUNS {
            let start = Instant::now();
            match process::run(Command::new(bin).args(&args), ROUTES_TIMEOUT) {
                Ok(r) if r.status.success() => {
                    times.push(start.elapsed());
                    routes_seen = serde_json::from_str::<Value>(&r.stdout)
                        .ok()
                        .and_then(|v| v["routes"].as_array().map(Vec::len))
                        .unwrap_or(0);
                }
                Ok(r) => {
                    failure = Some(format!(
                        "exit {}: {}",
                        r.status,
                        truncate(r.stderr.trim(), 300)
                    ));
                    break;
                }
                Err(e) => {
                    failure = Some(truncate(&e.to_string(), 300));
                    break;
                }
            }
        }
        if let Some(f) = failure {
            out.push(format!("- `{cmdline}`: FAILED ({f})"));
            continue;
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        out.push(format!(
            "- `{cmdline}`: median {:.1} ms over {} runs (min {:.1}, max {:.1}), {} routes in the answer",
            ms(times[times.len() / 2]),
            times.len(),
            ms(times[0]),
            ms(times[times.len() - 1]),
            routes_seen
        ));
        break;
    }
    if !rows.is_empty() {
        out.push(String::new());
        out.push("Control-loop turns (histogram: turns per bucket):".into());
        out.push(String::new());
        out.extend(rows);
    }
    out
}

/// The arguments of `sitelink plugin swap [--force] bgp-filter WASM
/// [--param P]... --socket SOCKET --json`.
pub fn swap_args(wasm: &str, params: &[&str], force: bool, socket: &str) -> Vec<String> {
    let mut args = vec!["plugin", "swap"];
    if force {
        args.push("--force");
    }
    args.extend(["bgp-filter", wasm]);
    for p in params {
        args.extend(["--param", p]);
    }
    args.extend(["--socket", socket, "--json"]);
    args.into_iter().map(String::from).collect()
}

/// A prefix of the feed, for `sitelink routes --prefix`.
const SITE_PROBE_PREFIX: &str = "20.1.2.0/24";

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}
