//! The routes a filter faults on, at a full table: a forced swap to
//! `fault-flaky-filter` with `poison=N` (every call holding a prefix whose
//! network number is a multiple of N faults, for ever), so that the whole
//! table goes through a filter that faults on about one call in ten. The
//! host refuses the routes of each faulted call (fail closed) and filters
//! them again, halving the calls, until each poisoned prefix is alone
//! (`routing/speaker/retry.rs`). Reported: how far the FIB fell, when every
//! route but the poisoned ones was back, whether the plugin was
//! quarantined or a session reset, and how long the swap back to the
//! default filter took to bring the poisoned ones in.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sitelink_lab::gateway::admin_json;
use sitelink_lab::plugins::plugin;
use sitelink_lab::process;
use sitelink_lab::{Error, Result, SiteLab};

use crate::control::{compare, health, swap_args};

/// One in this many network numbers is poisoned: about one filter call of
/// 1,024 routes in ten holds one, so five in a row (the default
/// quarantine) are rare.
pub const POISON: u64 = 10_000;

/// Bound on each wait for the FIB.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);

/// How often the FIB and the sessions are read.
const POLL: Duration = Duration::from_millis(100);

/// The FIB's route count and, per session that holds the feed, the routes
/// refused for a fault.
fn counts(
    lab: &SiteLab,
    bin: &std::path::Path,
    socket: &std::path::Path,
) -> Result<(u64, Vec<u64>)> {
    let status = admin_json(&lab.vgw, bin, socket, &["status"])?;
    let fib = &status["fib"];
    let routes = fib["routes_v4"].as_u64().unwrap_or(0) + fib["routes_v6"].as_u64().unwrap_or(0);
    let bgp = admin_json(&lab.vgw, bin, socket, &["bgp"])?;
    let refused = bgp["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["prefixes_received"].as_u64().unwrap_or(0) > 0)
        .map(|p| p["prefixes_refused_for_fault"].as_u64().unwrap_or(0))
        .collect();
    Ok((routes, refused))
}

/// `sitelink plugin swap [--force] bgp-filter FILE --param ...`: the
/// command line and its JSON answer.
fn swap(
    bin: &std::path::Path,
    socket: &str,
    name: &str,
    params: &[&str],
    force: bool,
) -> Result<(String, Value)> {
    let wasm = plugin(name)?.to_string_lossy().to_string();
    let args = swap_args(&wasm, params, force, socket);
    let cmdline = format!("sitelink {}", args.join(" "));
    let res = process::run(Command::new(bin).args(&args), Duration::from_secs(120))?;
    if !res.status.success() {
        return Err(Error::msg(format!(
            "`{cmdline}` failed ({}): {} {}",
            res.status,
            res.stdout.trim(),
            res.stderr.trim()
        )));
    }
    let answer = serde_json::from_str(&res.stdout)
        .map_err(|e| Error::msg(format!("`{cmdline}` printed bad JSON ({e})")))?;
    Ok((cmdline, answer))
}

/// The bgp-filter slot's entry of `sitelink plugin list`: calls, faults,
/// quarantined.
fn filter_slot(lab: &SiteLab, bin: &std::path::Path, socket: &std::path::Path) -> String {
    let Ok(list) = admin_json(&lab.vgw, bin, socket, &["plugin", "list"]) else {
        return "n/a".into();
    };
    let slot = list["slots"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["slot"] == "bgp-filter");
    match slot {
        Some(s) => format!(
            "{} calls, {} faults, quarantined {}",
            s["calls"], s["faults"], s["quarantined"]
        ),
        None => "n/a".into(),
    }
}

/// The phase, with `poisoned` of the feed's prefixes poisoned (each
/// session holding the feed holds them all). Failures become an "n/a" line.
pub fn retry_report(
    lab: &SiteLab,
    bin: &std::path::Path,
    socket: &std::path::Path,
    poisoned: u64,
) -> Vec<String> {
    match run(lab, bin, socket, poisoned) {
        Ok(lines) => lines,
        Err(e) => vec![format!("- filter faults at a full table: n/a ({e})")],
    }
}

fn run(
    lab: &SiteLab,
    bin: &std::path::Path,
    socket: &std::path::Path,
    poisoned: u64,
) -> Result<Vec<String>> {
    let sock = socket.to_string_lossy().to_string();
    let before = health(lab, bin, socket)?;
    // The feed and the tunnels' inside addresses.
    let (total, _) = counts(lab, bin, socket)?;
    let poison = format!("poison={POISON}");
    let start = Instant::now();
    let (cmdline, answer) = swap(
        bin,
        &sock,
        "fault_flaky_filter",
        &["faults=0", &poison],
        true,
    )?;
    let answered = start.elapsed();
    let expected = total.saturating_sub(poisoned);
    // The FIB falls as faulted calls' routes are refused, then climbs back
    // as the retries accept them; settled once every session holding the
    // feed refuses exactly the poisoned routes and the FIB holds the rest.
    let mut low = (total, Duration::ZERO);
    let mut most_refused = 0;
    let back = loop {
        let (routes, refused) = counts(lab, bin, socket)?;
        let at = start.elapsed();
        if routes < low.0 {
            low = (routes, at);
        }
        most_refused = most_refused.max(refused.iter().copied().max().unwrap_or(0));
        if routes == expected && !refused.is_empty() && refused.iter().all(|r| *r == poisoned) {
            break at;
        }
        if at > SETTLE_TIMEOUT {
            return Err(Error::msg(format!(
                "not settled after {at:?}: {routes} routes in the FIB (expected {expected}), \
                 refused for a fault per session {refused:?} (expected {poisoned}); {}",
                filter_slot(lab, bin, socket)
            )));
        }
        std::thread::sleep(POLL);
    };
    let slot = filter_slot(lab, bin, socket);
    let after = health(lab, bin, socket)?;
    let mut lines = vec![
        format!(
            "- filter faults at a full table: `{cmdline}` ({poisoned} of the {total} routes \
             in the FIB poisoned)"
        ),
        format!(
            "  - answered after {:.2} s ({} routes changed); the FIB fell to {} routes at \
             {:.1} s (at most {} refused for a fault on one session); every route but the \
             poisoned back at {:.1} s; the slot: {slot}",
            answered.as_secs_f64(),
            answer["changes"]["routes_changed"],
            low.0,
            low.1.as_secs_f64(),
            most_refused,
            back.as_secs_f64(),
        ),
    ];
    lines.extend(compare(&before, &after).into_iter().map(|l| {
        // The FIB is meant to change here: the poisoned routes left it.
        format!("    {l}")
    }));

    // Back to the default filter (checked): the poisoned routes come in.
    let start = Instant::now();
    let (cmdline, _) = swap(bin, &sock, "default_bgp_filter", &[], false)?;
    let answered = start.elapsed();
    let back = loop {
        let (routes, refused) = counts(lab, bin, socket)?;
        let at = start.elapsed();
        if routes == total && refused.iter().all(|r| *r == 0) {
            break at;
        }
        if at > SETTLE_TIMEOUT {
            return Err(Error::msg(format!(
                "after `{cmdline}`: {routes} routes in the FIB after {at:?} (expected {total}), \
                 refused for a fault {refused:?}"
            )));
        }
        std::thread::sleep(POLL);
    };
    lines.push(format!(
        "  - then `{cmdline}`: answered after {:.2} s, every route in at {:.1} s",
        answered.as_secs_f64(),
        back.as_secs_f64()
    ));
    Ok(lines)
}
