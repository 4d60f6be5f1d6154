//! Loss and jitter on one path of the lab, without netem (this kernel has
//! none, nor nft or iptables). The `impair` helper binary (`src/bin/impair.rs`)
//! makes a TUN device in a router namespace (the lab's "internet") and drops
//! or delays what the kernel routes into it; [`Impairment::start`] starts it
//! and steers chosen traffic into it with policy rules: `ip rule add iif DEV
//! [to ADDR] lookup T` for each [`Steer`], and table T routing everything
//! into the TUN device. What the tool writes back arrives with `iif` the
//! TUN device, which no rule names, so it follows the main table onward:
//! each packet crosses the tool once. [`Impairment::stop`] removes the rules
//! first (new packets pass untouched at once), then stops the tool, whose
//! last stats line it returns. On drop, the same happens (best effort);
//! the tool is a [`Spawned`] process, so it also dies with the lab.
//!
//! [`probe_path`] pings through a path and reads loss and round trips, to
//! show that an impairment does what it says.

use crate::error::{Error, Result};
use crate::measure::{self, PingTrain};
use crate::netns::{self, Netns};
use crate::process::{self, Spawned};
use std::path::Path;
use std::time::Duration;

/// What the tool does to each packet it gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Probability of a drop (0..=1).
    pub loss: f64,
    /// Fixed delay of every packet kept.
    pub delay: Duration,
    /// A further delay, uniform from 0 to this (packets reorder).
    pub jitter: Duration,
    /// The tool's random seed (`None`: from the clock).
    pub seed: Option<u64>,
}

/// Traffic steered into the tool: what arrives on `iif` (and, if given, is
/// addressed to `to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steer {
    /// The interface it arrives on, in the router namespace.
    pub iif: String,
    /// Only packets to this address (IPv4 or IPv6).
    pub to: Option<String>,
}

impl Steer {
    /// Everything that arrives on `iif`.
    pub fn arriving_on(iif: &str) -> Steer {
        Steer {
            iif: iif.to_string(),
            to: None,
        }
    }

    /// What arrives on `iif` addressed to `to`.
    pub fn arriving_on_to(iif: &str, to: &str) -> Steer {
        Steer {
            iif: iif.to_string(),
            to: Some(to.to_string()),
        }
    }

    /// The `ip rule` arguments, one list per family: the family flag, then
    /// the selector and action (`ip FAMILY rule add|del REST`).
    fn rules(&self, table: u32, pref: u32) -> Vec<Vec<String>> {
        let families: &[&str] = match &self.to {
            Some(a) if a.contains(':') => &["-6"],
            Some(_) => &["-4"],
            None => &["-4", "-6"],
        };
        families
            .iter()
            .map(|f| {
                let mut r = vec![f.to_string(), "iif".into(), self.iif.clone()];
                if let Some(to) = &self.to {
                    r.extend(["to".into(), to.clone()]);
                }
                r.extend([
                    "lookup".into(),
                    table.to_string(),
                    "pref".into(),
                    pref.to_string(),
                ]);
                r
            })
            .collect()
    }
}

/// Where the tool sits and what goes through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steering {
    /// The TUN device the tool makes (at most 15 bytes).
    pub dev: String,
    /// The routing table that sends everything into it.
    pub table: u32,
    /// The preference of the rules (below main's 32766).
    pub pref: u32,
    /// The traffic steered in.
    pub steer: Vec<Steer>,
}

/// The tool's counters (its stats line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets it got.
    pub read: u64,
    /// Dropped on purpose (the loss).
    pub dropped: u64,
    /// Dropped because too many waited.
    pub overflow: u64,
    /// Written back after their delay.
    pub written: u64,
    /// Writes the kernel refused.
    pub write_errors: u64,
    /// Waiting when the line was printed.
    pub queued: u64,
    /// Mean time from read to write, measured.
    pub mean_delay_us: u64,
    /// Longest time from read to write, measured.
    pub max_delay_us: u64,
}

impl ImpairStats {
    /// Dropped on purpose, as a share of what it got.
    pub fn loss(&self) -> f64 {
        self.dropped as f64 / self.read.max(1) as f64
    }
}

impl std::fmt::Display for ImpairStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} packets in, {} dropped ({:.1}%), {} overflowed, {} written back ({} refused), \
             {} waiting; delay mean {:.1} ms, max {:.1} ms",
            self.read,
            self.dropped,
            self.loss() * 100.0,
            self.overflow,
            self.written,
            self.write_errors,
            self.queued,
            self.mean_delay_us as f64 / 1000.0,
            self.max_delay_us as f64 / 1000.0
        )
    }
}

/// The last `impair stats:` line of the tool's output.
pub fn parse_stats(log: &str) -> Option<ImpairStats> {
    let line = log
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("impair stats:"))?;
    let field = |name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some(ImpairStats {
        read: field("read")?,
        dropped: field("dropped")?,
        overflow: field("overflow")?,
        written: field("written")?,
        write_errors: field("write_errors")?,
        queued: field("queued")?,
        mean_delay_us: field("mean_delay_us")?,
        max_delay_us: field("max_delay_us")?,
    })
}

/// A running impairment: the tool, its device, table and rules.
pub struct Impairment {
    ns: String,
    dev: String,
    rules: Vec<Vec<String>>,
    /// How many of `rules` are in place (the first ones).
    added: usize,
    tool: Spawned,
}

impl Impairment {
    /// Starts the tool (`bin`, the `impair` binary) in `ns` as `at` says:
    /// its TUN device, a table routing into it, the rules steering traffic
    /// there. The tool logs to `log`. Returns once the rules are in place.
    pub fn start(
        ns: &Netns,
        bin: &Path,
        at: &Steering,
        spec: Spec,
        log: &Path,
    ) -> Result<Impairment> {
        let dev = at.dev.as_str();
        let mut args = vec![
            "--dev".to_string(),
            dev.to_string(),
            "--loss".into(),
            spec.loss.to_string(),
            "--delay-ms".into(),
            spec.delay.as_millis().to_string(),
            "--jitter-ms".into(),
            spec.jitter.as_millis().to_string(),
        ];
        if let Some(seed) = spec.seed {
            args.extend(["--seed".into(), seed.to_string()]);
        }
        let mut tool = Spawned::start(
            &format!("impair {dev} in {}", ns.name()),
            ns.command(bin, &args),
            log,
        )?;
        let mut alive = true;
        process::wait_until(
            &format!("impair to create {dev} in {}", ns.name()),
            Duration::from_secs(5),
            Duration::from_millis(20),
            || {
                alive = tool.is_alive();
                !alive || tool.log().contains("impair ready")
            },
        )
        .map_err(|e| e.context(tool.log()))?;
        if !alive {
            return Err(Error::msg(format!(
                "impair exited at start:\n{}",
                tool.log()
            )));
        }
        let mut me = Impairment {
            ns: ns.name().to_string(),
            dev: dev.to_string(),
            rules: at
                .steer
                .iter()
                .flat_map(|s| s.rules(at.table, at.pref))
                .collect(),
            added: 0,
            tool,
        };
        let t = at.table.to_string();
        ns.link_up(dev)?;
        ns.ip(&["-4", "route", "add", "default", "dev", dev, "table", &t])?;
        ns.ip(&["-6", "route", "add", "default", "dev", dev, "table", &t])?;
        for i in 0..me.rules.len() {
            me.rule("add", &me.rules[i])?;
            me.added = i + 1;
        }
        Ok(me)
    }

    fn rule(&self, action: &str, rule: &[String]) -> Result<()> {
        let Some((family, rest)) = rule.split_first() else {
            return Ok(());
        };
        let mut args: Vec<&str> = vec!["-n", &self.ns, family, "rule", action];
        args.extend(rest.iter().map(String::as_str));
        netns::ip(&args).map(drop)
    }

    /// The tool's counters as of its latest stats line (every 500 ms).
    pub fn stats(&self) -> Result<ImpairStats> {
        let log = self.tool.log();
        parse_stats(&log).ok_or_else(|| {
            Error::msg(format!(
                "impair on {} has printed no stats yet:\n{log}",
                self.dev
            ))
        })
    }

    /// Removes the rules (traffic passes untouched from now on), stops the
    /// tool and returns its final counters.
    pub fn stop(mut self) -> Result<ImpairStats> {
        let unsteered = self.unsteer();
        self.tool.terminate(Duration::from_secs(2));
        unsteered?;
        let log = self.tool.log();
        if !log.contains("impair stopped") {
            return Err(Error::msg(format!(
                "impair on {} did not stop cleanly:\n{log}",
                self.dev
            )));
        }
        self.stats()
    }

    fn unsteer(&mut self) -> Result<()> {
        let added = std::mem::take(&mut self.added);
        let mut first = Ok(());
        for rule in &self.rules[..added] {
            if let Err(e) = self.rule("del", rule) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

impl Drop for Impairment {
    fn drop(&mut self) {
        let _ = self.unsteer();
        // The tool's own guard stops it next; its TUN device and the
        // table's routes go with it.
    }
}

/// What a ping through a path saw: loss and round trips.
#[derive(Debug, Clone, PartialEq)]
pub struct PathProbe {
    /// Requests and replies.
    pub train: PingTrain,
    /// Round trips (min, avg, max) of the replies, if any came.
    pub rtt: Option<(Duration, Duration, Duration)>,
}

impl PathProbe {
    /// Unanswered requests, as a share.
    pub fn loss(&self) -> f64 {
        f64::from(self.train.lost()) / f64::from(self.train.sent.max(1))
    }
}

impl std::fmt::Display for PathProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} answered ({:.1}% lost)",
            self.train.received,
            self.train.sent,
            self.loss() * 100.0
        )?;
        if let Some((min, avg, max)) = self.rtt {
            write!(f, ", rtt min {min:.1?} avg {avg:.1?} max {max:.1?}")?;
        }
        Ok(())
    }
}

/// `ping -c COUNT -i INTERVAL [-I SRC] DST` from `ns`, replies awaited up
/// to 2 s; bounded.
pub fn probe_path(
    ns: &Netns,
    src: Option<&str>,
    dst: &str,
    interval: Duration,
    count: u32,
) -> Result<PathProbe> {
    let (i, c) = (format!("{:.3}", interval.as_secs_f64()), count.to_string());
    let mut args = vec!["-n", "-D", "-i", &i, "-c", &c, "-W", "2"];
    if let Some(src) = src {
        args.extend(["-I", src]);
    }
    args.push(dst);
    let out = ns.exec(
        "ping",
        &args,
        interval * count * 2 + Duration::from_secs(10),
    )?;
    let train = measure::parse_ping(&out.stdout, interval);
    if train.sent == 0 {
        return Err(Error::msg(format!(
            "ping {dst} from {} sent nothing: {}",
            ns.name(),
            out.stderr.trim()
        )));
    }
    Ok(PathProbe {
        train,
        rtt: parse_rtt(&out.stdout),
    })
}

/// Min, avg and max of ping's `rtt min/avg/max/mdev = a/b/c/d ms` line.
pub fn parse_rtt(out: &str) -> Option<(Duration, Duration, Duration)> {
    let line = out.lines().find(|l| l.starts_with("rtt "))?;
    let values = line.split('=').nth(1)?.split_whitespace().next()?;
    let ms: Vec<f64> = values
        .split('/')
        .map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0))
        .collect::<Option<_>>()?;
    let d = |x: f64| Duration::from_secs_f64(x / 1000.0);
    match ms[..] {
        [min, avg, max, _] => Some((d(min), d(avg), d(max))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_come_from_the_last_line() {
        let log = "impair ready dev=imp1 loss=0.3\n\
                   impair stats: read=10 dropped=3 overflow=0 written=7 write_errors=0 queued=0 \
                   mean_delay_us=100 max_delay_us=200\n\
                   impair stats: read=402 dropped=129 overflow=1 written=272 write_errors=2 \
                   queued=0 mean_delay_us=103590 max_delay_us=200222\nimpair stopped\n";
        let s = parse_stats(log).expect("stats");
        assert_eq!(
            s,
            ImpairStats {
                read: 402,
                dropped: 129,
                overflow: 1,
                written: 272,
                write_errors: 2,
                queued: 0,
                mean_delay_us: 103_590,
                max_delay_us: 200_222
            }
        );
        assert!((s.loss() - 129.0 / 402.0).abs() < 1e-9);
        assert_eq!(parse_stats("impair ready\n"), None);
        assert_eq!(parse_stats("impair stats: read=1 dropped=x\n"), None);
    }

    #[test]
    fn rules_per_family() {
        let r = Steer::arriving_on_to("inet10", "198.18.1.2").rules(201, 150);
        assert_eq!(
            r,
            vec![[
                "-4",
                "iif",
                "inet10",
                "to",
                "198.18.1.2",
                "lookup",
                "201",
                "pref",
                "150"
            ]
            .map(String::from)
            .to_vec()]
        );
        let r = Steer::arriving_on("inet1").rules(201, 150);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0][0].as_str(), r[1][0].as_str()), ("-4", "-6"));
        assert_eq!(
            Steer::arriving_on_to("x", "2001:db8::1").rules(1, 1)[0][0],
            "-6"
        );
    }

    #[test]
    fn rtt_summary() {
        let out = "--- 10.9.2.2 ping statistics ---\n\
                   200 packets transmitted, 128 received, 36% packet loss, time 2923ms\n\
                   rtt min/avg/max/mdev = 3.245/103.059/196.468/58.281 ms, pipe 14\n";
        let (min, avg, max) = parse_rtt(out).expect("rtt");
        assert_eq!(min, Duration::from_micros(3245));
        assert_eq!(avg, Duration::from_micros(103_059));
        assert_eq!(max, Duration::from_micros(196_468));
        assert_eq!(parse_rtt("100% packet loss\n"), None);
        assert_eq!(parse_rtt("rtt min/avg/max/mdev = 1/2 ms\n"), None);
    }
}
