//! Watching the VGW: its resources (VmRSS, threads, open files, CPU time)
//! sampled every few seconds, its BGP sessions (`sitelink bgp`: a session
//! that left Established or came up again is an unplanned event), and
//! afterwards its log (every WARN and ERROR line, on the soak's clock) and
//! its tunnel log (every event in it is unplanned: a handshake, liveness,
//! BGP or failover change; WireGuard's rekeys are not logged there).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sitelink_lab::proc_stat::{proc_status_bytes, proc_status_value, process_cpu};
use sitelink_lab::tunnel_log::{self, parse_timestamp};
use sitelink_lab::{Gw, Result};

use crate::churn::pause_until;
use crate::setup::Soaked;
use crate::timeline::{Event, Kind, Timeline};

/// The VGW's resources at one time.
#[derive(Clone, Copy, Debug)]
pub struct Resources {
    pub rss: u64,
    pub threads: u64,
    pub fds: usize,
    pub cpu: Duration,
}

impl Resources {
    /// Reads them from /proc (an error once the process is gone).
    pub fn read(pid: u32) -> Result<Resources> {
        Ok(Resources {
            rss: proc_status_bytes(pid, "VmRSS")?,
            threads: proc_status_value(pid, "Threads")?,
            fds: fs::read_dir(format!("/proc/{pid}/fd"))?.count(),
            cpu: process_cpu(pid).unwrap_or_default(),
        })
    }
}

/// A BGP peer as the sampler last saw it: state and established transitions.
pub type Sessions = BTreeMap<String, (String, u64)>;

/// The VGW's sessions now (tunnel -> (state, transitions)).
pub fn sessions(s: &Soaked) -> Result<Sessions> {
    let bgp = s.lab.bgp(Gw::Vgw)?;
    Ok(bgp
        .peers()
        .iter()
        .map(|p| {
            (
                p["tunnel"].as_str().unwrap_or("?").to_string(),
                (
                    p["state"].as_str().unwrap_or("?").to_string(),
                    p["established_transitions"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect())
}

/// Samples the VGW every `every` until soak time `until` (or `stop`; a
/// vanished process sets `stop`); returns (soak time, VmRSS) samples.
/// Session changes against `before` go into the timeline.
pub fn sample(
    s: &Soaked,
    t: &Timeline,
    every: Duration,
    until: f64,
    mut before: Sessions,
    stop: &AtomicBool,
) -> Vec<(f64, u64)> {
    let mut rss = Vec::new();
    loop {
        let at = t.now();
        match proc_status_bytes(s.pid, "VmRSS") {
            Ok(b) => rss.push((at, b)),
            Err(e) => {
                t.note(Kind::Error, format!("the VGW process is gone: {e}"));
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        match sessions(s) {
            Ok(now) => {
                for (tunnel, (state, ups)) in &now {
                    let (was, ups_before) = before
                        .get(tunnel)
                        .cloned()
                        .unwrap_or_else(|| ("?".into(), 0));
                    if *ups > ups_before {
                        t.note(
                            Kind::Unplanned,
                            format!(
                                "BGP session over {tunnel} established again \
                                 ({ups_before} -> {ups} establishments; now {state})"
                            ),
                        );
                    } else if *state != was {
                        t.note(
                            Kind::Unplanned,
                            format!("BGP session over {tunnel}: {was} -> {state}"),
                        );
                    }
                }
                before = now;
            }
            Err(e) => t.note(Kind::Error, format!("sitelink bgp: {e}")),
        }
        if t.now() >= until || stop.load(Ordering::Relaxed) {
            break;
        }
        pause_until(t, (at + every.as_secs_f64()).min(until), stop);
    }
    rss
}

/// A WARN or ERROR line of the gateway's log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// Soak time (None: no timestamp on the line).
    pub at: Option<f64>,
    pub level: String,
    /// The line after its timestamp and level.
    pub text: String,
}

impl LogLine {
    /// The message without its `key=value` fields, to group alike lines.
    pub fn message(&self) -> String {
        let words: Vec<&str> = self
            .text
            .split_whitespace()
            .take_while(|w| !w.contains('='))
            .collect();
        words.join(" ")
    }
}

/// The WARN and ERROR lines of a `tracing` log (`TIMESTAMP  LEVEL target:
/// message fields`), on `t`'s clock.
pub fn warnings(log: &str, t: &Timeline) -> Vec<LogLine> {
    log.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let stamp = words.next()?;
            let level = words.next()?;
            if level != "WARN" && level != "ERROR" {
                return None;
            }
            let text = l.split_once(level)?.1.trim().to_string();
            Some(LogLine {
                at: parse_timestamp(stamp).map(|ms| t.of_epoch_ms(ms)),
                level: level.to_string(),
                text,
            })
        })
        .collect()
}

/// The tunnel log's events on `t`'s clock from `from` on, as unplanned
/// events.
pub fn tunnel_events(path: &Path, t: &Timeline, from: f64) -> Result<Vec<Event>> {
    Ok(tunnel_log::read(path)?
        .into_iter()
        .map(|e| Event {
            at: t.of_epoch_ms(e.at_ms),
            end: t.of_epoch_ms(e.at_ms),
            kind: Kind::Unplanned,
            text: format!("tunnel {} {} {} ({})", e.tunnel, e.event, e.state, e.detail),
        })
        .filter(|e| e.at >= from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_read_with_their_time() {
        let t = Timeline::start();
        let log = "2026-12-05T15:05:04.492020Z  INFO sitelink::x: fine\n\
                   2026-12-05T15:05:05.334066Z  WARN sitelink::driver::control: slow turn of the control loop: liveness probes waited total_ms=102.5\n\
                   garbage\n\
                   2026-12-05T15:05:15.5Z ERROR sitelink::routing::speaker: BGP session down: connection closed tunnel=169.254.10.0/30 connection=office\n";
        let w = warnings(log, &t);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].level, "WARN");
        assert_eq!(
            w[0].message(),
            "sitelink::driver::control: slow turn of the control loop: liveness probes waited"
        );
        let gap = w[1].at.unwrap() - w[0].at.unwrap();
        assert!((gap - 10.165934).abs() < 1e-3, "{gap}");
        assert_eq!(
            w[1].message(),
            "sitelink::routing::speaker: BGP session down: connection closed"
        );
    }
}
