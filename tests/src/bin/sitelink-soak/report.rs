//! The soak's report, markdown for BENCHMARKS.md: the command, the
//! machine, the setup, a table of results with the two targets, the VGW's
//! resources, every loss next to its nearest events, the unplanned events
//! and errors, the gateway's WARN/ERROR lines (grouped) and the planned
//! events.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::process::Command;

use sitelink_lab::process::{run, SHORT};

use crate::churn::{max, median, Churn};
use crate::planned::Planned;
use crate::timeline::{at_planned, clock, describe_near, nearest, Event, Kind, Loss};
use crate::traffic::{PingResult, UdpResult, PING_INTERVAL};
use crate::watch::{LogLine, Resources, Sessions};
use crate::{Settings, WARMUP_CYCLES};

/// The RSS growth the issue allows, in percent.
const RSS_TARGET_PCT: f64 = 5.0;
/// An unplanned event this close to a loss is named next to it.
const UNPLANNED_NEAR_S: f64 = 5.0;

/// The environment variables that change what the soak does.
const KNOBS: [&str; 7] = [
    "SOAK_ROUTES",
    "SOAK_CHURN_S",
    "SOAK_SWAP_S",
    "SOAK_RELOAD_S",
    "SOAK_SAMPLE_S",
    "SOAK_UDP_RATE",
    "SOAK_SWAP_SLOT",
];

/// Everything the soak measured.
pub struct Outcome<'a> {
    pub settings: &'a Settings,
    pub machine: String,
    /// The soak's length as run, seconds.
    pub elapsed: f64,
    pub events: Vec<Event>,
    pub churn: Churn,
    pub planned: Planned,
    /// (soak time, VmRSS) every few seconds.
    pub rss: Vec<(f64, u64)>,
    pub start: Resources,
    pub end: Resources,
    /// VmHWM at the end.
    pub hwm: u64,
    pub ping: PingResult,
    pub udp: Option<UdpResult>,
    pub warnings: Vec<LogLine>,
    /// The BGP sessions at the start and the end.
    pub sessions: (Sessions, Sessions),
    /// Whether the sites still pinged each other both ways at the end.
    pub final_ping: Result<(), String>,
}

/// Bytes in MB (MiB).
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn growth(from: u64, to: u64) -> f64 {
    (to as f64 - from as f64) / (from.max(1) as f64) * 100.0
}

/// RSS like for like: the mean of every sample in the soak's first and
/// last windows, and the growth between them. A window is a whole number
/// of swap rounds (each plugin of the rota swapped in once; at least a
/// tenth of the soak), so both hold every phase of the rotation and of the
/// churn alike: RSS moves by a fifth between the phases, so two single
/// samples (or windows of different phases) compare unlike states.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windowed {
    /// The windows' length, seconds.
    pub window: f64,
    pub first: u64,
    pub last: u64,
    /// Samples in the smaller window.
    pub samples: usize,
    pub growth: f64,
}

/// The windows' length for a soak of `elapsed` seconds whose swap round
/// takes `round` seconds: whole rounds covering a tenth of the soak, or
/// half of it if it is shorter than that allows (then the phases may
/// differ; the windows never overlap).
fn window(elapsed: f64, round: f64) -> f64 {
    let round = round.max(1.0);
    let whole = ((elapsed / 10.0) / round).ceil().max(1.0) * round;
    whole.min(elapsed / 2.0)
}

/// [`Windowed`] over `samples`, or None when a window has no sample.
pub fn windowed(samples: &[(f64, u64)], elapsed: f64, round: f64) -> Option<Windowed> {
    let w = window(elapsed, round);
    let mean = |inside: &dyn Fn(f64) -> bool| -> Option<(u64, usize)> {
        let v: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| inside(*t))
            .map(|(_, b)| *b)
            .collect();
        let n = v.len();
        (n > 0).then(|| (v.iter().sum::<u64>() / n as u64, n))
    };
    let (first, n_first) = mean(&|t| (0.0..w).contains(&t))?;
    let (last, n_last) = mean(&|t| t > elapsed - w)?;
    Some(Windowed {
        window: w,
        first,
        last,
        samples: n_first.min(n_last),
        growth: growth(first, last),
    })
}

/// The swap round of `o`'s soak, seconds.
fn round(o: &Outcome) -> f64 {
    o.settings.swap_every.as_secs_f64() * o.settings.swap_rota.len() as f64
}

/// The growth the target is judged on, and how it was taken: like for like
/// ([`windowed`]), or start to end if a window has no sample.
fn judged_growth(o: &Outcome) -> (f64, &'static str) {
    windowed(&o.rss, o.elapsed, round(o))
        .map(|w| (w.growth, "like for like, below"))
        .unwrap_or_else(|| (growth(o.start.rss, o.end.rss), "start to end"))
}

/// The machine, in a line: cores, CPU, memory, kernel, BIRD, the load
/// average when the soak began (the machine may be shared).
pub fn machine() -> String {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            Some(
                l.strip_prefix("model name")?
                    .split_once(':')?
                    .1
                    .trim()
                    .to_string(),
            )
        })
        .unwrap_or_else(|| "?".into());
    let mem_kb: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let bird = run(Command::new("bird").arg("--version"), SHORT)
        .map(|o| format!("{}{}", o.stdout, o.stderr).trim().to_string())
        .unwrap_or_else(|_| "BIRD ?".into());
    let load: Vec<String> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .map(str::to_string)
        .collect();
    format!(
        "{cores} cores ({cpu}), {:.0} GiB, Linux {}, {bird}; load average {} when the soak began",
        mem_kb / 1_048_576.0,
        read("/proc/sys/kernel/osrelease").trim(),
        load.join(" ")
    )
}

/// A loss with the events around it: a table row.
fn loss_row(events: &[Event], l: &Loss) -> String {
    let planned = nearest(events, l.at, &[Kind::Swap, Kind::Reload]);
    let churn = nearest(events, l.at, &[Kind::Churn]);
    let unplanned = nearest(events, l.at, &[Kind::Unplanned, Kind::Error])
        .filter(|(_, o)| o.abs() <= UNPLANNED_NEAR_S);
    format!(
        "| {} | {} | {} | {} | {} | {} |",
        clock(l.at),
        l.what,
        l.count,
        describe_near(planned),
        describe_near(churn),
        describe_near(unplanned)
    )
}

fn secs_summary(v: &[f64]) -> String {
    format!("median {:.2} s, max {:.2} s", median(v), max(v))
}

/// The report.
pub fn render(o: &Outcome) -> String {
    let cfg = o.settings;
    let mut r = String::new();
    let (first_swap, first_reload) = cfg.first_events();
    let minutes = format!("{}", cfg.minutes);
    let _ = writeln!(
        r,
        "## Soak: {minutes} minutes of route churn, plugin swaps and reloads under traffic\n"
    );
    if let (Ok(date), Ok(rev)) = (std::env::var("SOAK_DATE"), std::env::var("SOAK_REVISION")) {
        let _ = writeln!(r, "Run {date}, revision {rev}.\n");
    }
    let _ = writeln!(r, "Machine: {}.\n", o.machine);
    // The knobs this run was given, so that the command repeats it.
    let knobs: String = KNOBS
        .iter()
        .filter_map(|k| Some(format!("{k}={} ", std::env::var(k).ok()?)))
        .collect();
    let _ = writeln!(
        r,
        "Command (as root, from the repository root): `{knobs}scripts/soak.sh {minutes}`. It \
         builds the release gateway, the plugins and the lab, then runs `SITELINK_BIN=target/\
         release/sitelink target/release/sitelink-soak {minutes}`.\n"
    );
    let rota = if cfg.swap_rota.len() == crate::planned::SWAPS.len() {
        String::new()
    } else {
        let slot = crate::planned::SWAPS[cfg.swap_rota[0]].slot;
        format!(" (SOAK_SWAP_SLOT: only the {slot} swaps)")
    };
    let udp = cfg.udp_rate.as_deref().map_or(String::new(), |rate| {
        format!(", and a {rate}bit/s UDP stream (iperf3, 1,200-byte datagrams)")
    });
    let _ = writeln!(
        r,
        "Setup: topology 4 (interop) of ARCHITECTURE.md. A sitelink VGW (release build; \
         default-bgp-filter and default-route-selection Wasm plugins; kernel routes on) and, as \
         the customer gateway, wireguard-go tunnels and BIRD 2 from `sitelink export` (BGP and \
         BFD over both tunnels). BIRD announces and withdraws {} IPv4 /24s every {:.0} s \
         (`birdc enable/disable` of a `protocol static`; each toggle is followed until the VGW's \
         FIB holds all or none of them). A `sitelink plugin swap` every {:.0} s from {}, in \
         turn bgp-filter to community-local-pref (local-pref 200 for the churn routes, which BIRD \
         tags 65000:999; every prefix keeps its tunnels), route-selection to \
         default-route-selection, bgp-filter back to default-bgp-filter, route-selection \
         again{rota}. A `sitelink reload` every {:.0} s from {}, \
         adding or removing a network in `[bgp] networks`. Traffic site A -> site B: a ping \
         every {:.0} ms{udp}. Before the clock starts (warm-up): each plugin compiled, \
         {WARMUP_CYCLES} churn cycles, one round of the swaps and a reload there and back with the \
         churn routes in. RSS \
         sampled every {:.0} s.\n",
        cfg.routes,
        cfg.churn_half.as_secs_f64(),
        cfg.swap_every.as_secs_f64(),
        clock(first_swap),
        cfg.reload_every.as_secs_f64(),
        clock(first_reload),
        PING_INTERVAL * 1000.0,
        cfg.sample_every.as_secs_f64(),
    );

    // Losses, each with the events around it.
    let mut losses: Vec<Loss> = o.ping.losses.runs.clone();
    if let Some(u) = &o.udp {
        losses.extend(u.seconds.iter().cloned());
    }
    losses.sort_by(|a, b| a.at.total_cmp(&b.at));
    let outside = |is_ping: bool| -> u64 {
        losses
            .iter()
            .filter(|l| l.what.starts_with("ping") == is_ping && !at_planned(&o.events, l.at))
            .map(|l| l.count)
            .sum()
    };
    let (ping_outside, udp_outside) = (outside(true), outside(false));
    let unplanned: Vec<&Event> = o
        .events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Unplanned | Kind::Error))
        .collect();
    let soak_warnings: Vec<&LogLine> = o
        .warnings
        .iter()
        .filter(|w| w.at.is_some_and(|t| t >= 0.0))
        .collect();
    let (rss_growth, judged) = judged_growth(o);

    let _ = writeln!(r, "| | |\n| --- | --- |");
    let _ = writeln!(r, "| duration | {} |", clock(o.elapsed));
    let c = &o.churn;
    let _ = writeln!(
        r,
        "| route churn | {} cycles of {} routes: in the FIB after {}, gone after {}; {} toggles not \
         followed within 60 s |",
        c.cycles,
        cfg.routes,
        secs_summary(&c.in_s),
        secs_summary(&c.out_s),
        c.failed
    );
    let p = &o.planned;
    let timed = |v: &[f64], what: &str| {
        if v.is_empty() {
            String::new()
        } else {
            format!(" ({} {what})", secs_summary(v))
        }
    };
    let gateway_ms = if p.swap_ms.is_empty() {
        String::new()
    } else {
        format!(", the gateway's swap_ms median {:.0}", median(&p.swap_ms))
    };
    let _ = writeln!(
        r,
        "| plugin swaps | {} done{}, {} failed |",
        p.swaps.len(),
        timed(&p.swaps, &format!("in the CLI{gateway_ms}")),
        p.swaps_failed
    );
    let _ = writeln!(
        r,
        "| reloads | {} done{}, {} failed |",
        p.reloads.len(),
        timed(&p.reloads, "in the CLI"),
        p.reloads_failed
    );
    let pg = &o.ping;
    let flight = match pg.losses.in_flight_at_end {
        0 => String::new(),
        n => format!(" (+{n} in flight when ping's deadline ended it)"),
    };
    let _ = writeln!(
        r,
        "| ping A -> B every 10 ms | {} sent (one every {:.1} ms on average), {} answered, {} \
         lost{flight}; outside swaps and reloads: {} |",
        pg.sent,
        cfg.duration.as_secs_f64() * 1000.0 / f64::from(pg.sent.max(1)),
        pg.received,
        pg.losses.runs.iter().map(|l| l.count).sum::<u64>(),
        ping_outside
    );
    if let Some(u) = &o.udp {
        let _ = writeln!(
            r,
            "| UDP {}bit/s A -> B | {} datagrams, {} lost in {} seconds; outside swaps and reloads: {} |",
            u.rate,
            u.packets,
            u.lost,
            u.seconds.len(),
            udp_outside
        );
    }
    let ups = |s: &Sessions| -> String {
        let v: Vec<String> = s.iter().map(|(t, (_, n))| format!("{t} {n}")).collect();
        v.join(", ")
    };
    let _ = writeln!(
        r,
        "| BGP sessions established (times) | start: {}; end: {} |",
        ups(&o.sessions.0),
        ups(&o.sessions.1)
    );
    let _ = writeln!(
        r,
        "| unplanned events (the tunnel log, BGP sessions) and errors | {} |",
        unplanned.len()
    );
    let _ = writeln!(
        r,
        "| gateway WARN/ERROR lines | {} during the soak, {} before it |",
        soak_warnings.len(),
        o.warnings.len() - soak_warnings.len()
    );
    let _ = writeln!(
        r,
        "| sites ping both ways at the end | {} |",
        match &o.final_ping {
            Ok(()) => "yes".to_string(),
            Err(e) => format!("NO: {}", e.lines().next().unwrap_or("")),
        }
    );
    let met = |ok: bool| if ok { "met" } else { "**NOT MET**" };
    let _ = writeln!(
        r,
        "\nTargets: RSS growth under {RSS_TARGET_PCT}% ({judged}): {:+.1}%, {}. Nothing lost outside \
         planned events: {} ping(s), {} datagram(s), {}.\n",
        rss_growth,
        met(rss_growth < RSS_TARGET_PCT),
        ping_outside,
        udp_outside,
        met(ping_outside + udp_outside == 0)
    );

    render_resources(&mut r, o);

    let _ = writeln!(r, "\n### Losses\n");
    if losses.is_empty() {
        let _ = writeln!(r, "None.");
    } else {
        let _ = writeln!(
            r,
            "Times are soak time (m:ss.s); an offset is from the event's span (0: during it). \
             A loss within {}s before to {}s after a swap or reload counts as at it.\n",
            crate::timeline::PLANNED_BEFORE_S,
            crate::timeline::PLANNED_AFTER_S
        );
        let _ = writeln!(
            r,
            "| time | what | lost | nearest swap/reload | nearest churn toggle | unplanned within {UNPLANNED_NEAR_S:.0} s |"
        );
        let _ = writeln!(r, "| ---: | --- | ---: | --- | --- | --- |");
        for l in &losses {
            let _ = writeln!(r, "{}", loss_row(&o.events, l));
        }
    }

    let _ = writeln!(r, "\n### Unplanned events and errors\n");
    if unplanned.is_empty() {
        let _ = writeln!(r, "None.");
    } else {
        let _ = writeln!(r, "| time | kind | what |\n| ---: | --- | --- |");
        for e in &unplanned {
            let _ = writeln!(
                r,
                "| {} | {} | {} |",
                clock(e.at),
                e.kind.name(),
                one_line(&e.text)
            );
        }
    }

    render_warnings(&mut r, &o.warnings);

    let _ = writeln!(r, "\n### Planned events\n");
    let _ = writeln!(r, "| time | event |\n| ---: | --- |");
    for e in o.events.iter().filter(|e| e.is_planned()) {
        let _ = writeln!(r, "| {} | {} |", clock(e.at), e.text);
    }
    r
}

/// Every event and RSS sample, one per line (soak seconds, kind, text), for
/// a closer look than the report's.
pub fn timeline_tsv(o: &Outcome) -> String {
    let mut rows: Vec<(f64, String)> = o
        .events
        .iter()
        .map(|e| {
            let text = one_line(&e.text);
            (
                e.at,
                format!("{:.3}\t{:.3}\t{}\t{text}", e.at, e.end, e.kind.name()),
            )
        })
        .collect();
    rows.extend(
        o.rss
            .iter()
            .map(|(t, b)| (*t, format!("{t:.3}\t{t:.3}\trss\t{:.2} MB", mb(*b)))),
    );
    let losses = o
        .ping
        .losses
        .runs
        .iter()
        .chain(o.udp.iter().flat_map(|u| &u.seconds));
    rows.extend(losses.map(|l| {
        let t = l.at;
        (
            t,
            format!("{t:.3}\t{t:.3}\tloss\t{} lost: {}", l.count, l.what),
        )
    }));
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = String::from("start_s\tend_s\tkind\twhat\n");
    for (_, row) in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// A multi-line message (an error with logs) cut to its first line.
fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let more = text.lines().count().saturating_sub(1);
    if more > 0 {
        format!("{first} (+{more} lines: see the log)")
    } else {
        first.to_string()
    }
}

fn render_resources(r: &mut String, o: &Outcome) {
    let max_rss = o.rss.iter().map(|(_, b)| *b).max().unwrap_or(o.end.rss);
    let _ = writeln!(r, "### The VGW's resources\n");
    let _ = writeln!(
        r,
        "| | start | end | max | growth |\n| --- | ---: | ---: | ---: | ---: |"
    );
    let _ = writeln!(
        r,
        "| RSS (MB) | {:.1} | {:.1} | {:.1} | {:+.1}% |",
        mb(o.start.rss),
        mb(o.end.rss),
        mb(max_rss),
        growth(o.start.rss, o.end.rss)
    );
    if let Some(w) = windowed(&o.rss, o.elapsed, round(o)) {
        // Shorter than a round, a window is half the soak.
        let span = if w.window >= round(o) {
            "whole swap rounds"
        } else {
            "half the soak each"
        };
        let _ = writeln!(
            r,
            "| RSS like for like (MB; mean of the first and the last {}, {span}, {}+ samples each) | {:.1} | {:.1} | | {:+.1}% |",
            clock(w.window),
            w.samples,
            mb(w.first),
            mb(w.last),
            w.growth
        );
    }
    let full = &o.churn.full_rss;
    if let (Some(first), Some(last)) = (full.first(), full.last()) {
        let peak = full.iter().map(|(_, b)| *b).max().unwrap_or(0);
        let _ = writeln!(
            r,
            "| RSS with the churn routes in (MB; first and last full table, at {} and {}) | {:.1} | {:.1} | {:.1} | {:+.1}% |",
            clock(first.0),
            clock(last.0),
            mb(first.1),
            mb(last.1),
            mb(peak),
            growth(first.1, last.1)
        );
    }
    // A leak keeps growing in the second half; an allocator settling down
    // after the first swaps does not.
    let mid = o.rss.iter().min_by(|a, b| {
        (a.0 - o.elapsed / 2.0)
            .abs()
            .total_cmp(&(b.0 - o.elapsed / 2.0).abs())
    });
    if let Some((t, b)) = mid {
        let _ = writeln!(
            r,
            "| RSS over the second half (MB; from {}) | {:.1} | {:.1} | | {:+.1}% |",
            clock(*t),
            mb(*b),
            mb(o.end.rss),
            growth(*b, o.end.rss)
        );
    }
    let _ = writeln!(r, "| peak RSS (VmHWM, MB) | | {:.1} | | |", mb(o.hwm));
    let _ = writeln!(
        r,
        "| threads | {} | {} | | {:+} |",
        o.start.threads,
        o.end.threads,
        o.end.threads as i64 - o.start.threads as i64
    );
    let _ = writeln!(
        r,
        "| open files | {} | {} | | {:+} |",
        o.start.fds,
        o.end.fds,
        o.end.fds as i64 - o.start.fds as i64
    );
    let cpu = o.end.cpu.saturating_sub(o.start.cpu).as_secs_f64();
    let _ = writeln!(
        r,
        "| CPU time during the soak | | {cpu:.0} s ({:.0}% of one core) | | |",
        cpu / o.elapsed.max(1.0) * 100.0
    );
    // One RSS reading per minute (the sample nearest each minute mark).
    let mut line = Vec::new();
    let mut mark = 0.0;
    while mark <= o.elapsed + 1.0 {
        if let Some((t, b)) = o
            .rss
            .iter()
            .min_by(|a, b| (a.0 - mark).abs().total_cmp(&(b.0 - mark).abs()))
        {
            line.push(format!("{} {:.1}", clock(*t), mb(*b)));
        }
        mark += 60.0;
    }
    line.dedup();
    let _ = writeln!(r, "\nRSS (MB) about every minute: {}.", line.join(" · "));
}

/// Lines of one message: how many, the first's and the last's time.
type Group = (u32, Option<f64>, Option<f64>);

fn render_warnings(r: &mut String, warnings: &[LogLine]) {
    let _ = writeln!(r, "\n### Gateway WARN/ERROR lines\n");
    if warnings.is_empty() {
        let _ = writeln!(r, "None.");
        return;
    }
    // Grouped by level and message (fields cut): count, first and last time.
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for w in warnings {
        let g = groups
            .entry((w.level.clone(), w.message()))
            .or_insert((0, w.at, w.at));
        g.0 += 1;
        g.2 = w.at;
    }
    let _ = writeln!(
        r,
        "Grouped by message (fields cut); times are soak time, negative before it began.\n"
    );
    let _ = writeln!(
        r,
        "| level | message | lines | first | last |\n| --- | --- | ---: | ---: | ---: |"
    );
    let t = |at: Option<f64>| at.map_or("?".into(), clock);
    for ((level, msg), (n, first, last)) in &groups {
        let _ = writeln!(
            r,
            "| {level} | {msg} | {n} | {} | {} |",
            t(*first),
            t(*last)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_and_lines() {
        assert!((growth(100, 105) - 5.0).abs() < 1e-9);
        assert!((growth(100, 90) + 10.0).abs() < 1e-9);
        assert_eq!(one_line("a\nb\nc"), "a (+2 lines: see the log)");
        assert_eq!(one_line("a"), "a");
        assert!(machine().contains("cores"));
    }

    /// Samples that alternate between two states a fifth apart give no
    /// growth like for like (a start-to-end pair would say +20% or -17% by
    /// chance); a rise in the last window shows.
    #[test]
    fn windowed_means_compare_like_with_like() {
        // 30 minutes, a sample every 5 s, a 4-minute round: 4-minute windows.
        let phase = |t: f64| {
            if ((t / 60.0) as u64).is_multiple_of(2) {
                100
            } else {
                120
            }
        };
        let flat: Vec<(f64, u64)> = (0..360)
            .map(|i| (i as f64 * 5.0, phase(i as f64 * 5.0)))
            .collect();
        let w = windowed(&flat, 1800.0, 240.0).expect("both windows have samples");
        assert_eq!(
            (w.window, w.first, w.last, w.samples),
            (240.0, 110, 110, 47)
        );
        assert!(w.growth.abs() < 1e-9);

        let rising: Vec<(f64, u64)> = flat
            .iter()
            .map(|&(t, b)| (t, if t > 1560.0 { b + 11 } else { b }))
            .collect();
        let w = windowed(&rising, 1800.0, 240.0).expect("both windows have samples");
        assert!((w.growth - 10.0).abs() < 1e-9, "{w:?}");

        // No sample in the first window: nothing to judge on.
        assert!(windowed(&[(1700.0, 1)], 1800.0, 240.0).is_none());
        // A 90-second soak: 45-second windows, not overlapping.
        assert_eq!(window(90.0, 240.0), 45.0);
        // An hour with a 4-minute round: 8-minute windows (whole rounds).
        assert_eq!(window(3600.0, 240.0), 480.0);
    }
}
