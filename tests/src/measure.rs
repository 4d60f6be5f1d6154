//! Measurements across the lab, by shelling out to the usual tools inside a
//! namespace: a plain reachability check (`ping -c 3 -W 2`), a ping train
//! (`ping -D -i 0.01`) whose replies give the loss window of a failover (the
//! longest run of missing sequence numbers times the interval), an iperf3
//! server/client pair whose `-J` output gives the throughput per second and in
//! total, and a burst of garbage UDP datagrams (the `udp-garbage` helper
//! binary). The parsers are pure functions with unit tests.

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::{self, Spawned};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

fn family_flag(addr: &str) -> &'static str {
    if addr.contains(':') {
        "-6"
    } else {
        "-4"
    }
}

/// Result of a plain ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingCount {
    /// Echo requests sent.
    pub sent: u32,
    /// Distinct replies received.
    pub received: u32,
}

/// `ping -c 3 -W 2 DST` from `ns` (about 1 s, bounded at 15 s).
pub fn ping(ns: &Netns, dst: &str) -> Result<PingCount> {
    ping_src(ns, None, dst)
}

/// Like [`ping`], with the source address set (`-I SRC`) if given.
pub fn ping_src(ns: &Netns, src: Option<&str>, dst: &str) -> Result<PingCount> {
    let mut args = vec![family_flag(dst), "-n", "-c", "3", "-i", "0.3", "-W", "2"];
    if let Some(src) = src {
        args.extend(["-I", src]);
    }
    args.push(dst);
    let out = ns.exec("ping", &args, Duration::from_secs(15))?;
    let t = parse_ping(&out.stdout, Duration::from_millis(300));
    Ok(PingCount {
        sent: t.sent,
        received: t.received,
    })
}

/// True if at least one of 3 pings from `ns` to `dst` is answered.
pub fn ping_ok(ns: &Netns, dst: &str) -> bool {
    ping(ns, dst).is_ok_and(|p| p.received > 0)
}

/// What a ping train saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingTrain {
    /// Echo requests sent (from ping's summary).
    pub sent: u32,
    /// Distinct sequence numbers answered.
    pub received: u32,
    /// Interval between requests.
    pub interval: Duration,
    /// Longest run of consecutive unanswered sequence numbers.
    pub longest_missing_run: u32,
    /// First sequence number of that run.
    pub run_start_seq: Option<u32>,
    /// `longest_missing_run` x `interval`.
    pub loss_window: Duration,
    /// Largest gap between the receive timestamps (`-D`) of consecutive replies.
    pub max_reply_gap: Option<Duration>,
}

impl PingTrain {
    /// Requests not answered.
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.received)
    }

    /// The outage as the receiver saw it: the larger of `loss_window` and
    /// (`max_reply_gap` - `interval`). iputils ping sends more slowly while
    /// replies are missing (about 16 ms instead of 10 ms apart), so the
    /// missing-run count alone understates a long outage; the reply
    /// timestamps do not.
    pub fn outage(&self) -> Duration {
        let gap = self
            .max_reply_gap
            .map(|g| g.saturating_sub(self.interval))
            .unwrap_or_default();
        self.loss_window.max(gap)
    }
}

impl std::fmt::Display for PingTrain {
    /// What the tests print: counts, the loss window and the outage.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {}, received {}, lost {}; LOSS WINDOW {:?} (longest run of {} missing from \
             seq {:?}); max gap between replies {:?}; outage {:?}",
            self.sent,
            self.received,
            self.lost(),
            self.loss_window,
            self.longest_missing_run,
            self.run_start_seq,
            self.max_reply_gap,
            self.outage()
        )
    }
}

/// One reply line of iputils ping: its `icmp_seq` and, with `-D`, the
/// Unix time it arrived (`[1700000000.123456] 64 bytes from ...`). A
/// duplicate reply parses too: count each seq once.
pub fn ping_reply(line: &str) -> Option<(u32, Option<f64>)> {
    if !line.contains(" bytes from ") {
        return None;
    }
    let seq = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("icmp_seq="))?
        .parse::<u32>()
        .ok()?;
    let ts = line
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|t| t.parse::<f64>().ok());
    Some((seq, ts))
}

/// ping's `icmp_seq` is 16 bits: after 65,535 it starts again at 0. This
/// numbers the replies of a long train on from 1 as the requests were
/// sent (a late reply from before a wrap keeps its place).
#[derive(Debug, Default)]
pub struct SeqUnwrap {
    /// 65,536 times the wraps seen.
    base: u32,
    last: Option<u32>,
}

impl SeqUnwrap {
    /// The request number of a reply with `icmp_seq` `seq`.
    pub fn next(&mut self, seq: u32) -> u32 {
        const HALF: u32 = 1 << 15;
        match self.last {
            Some(last) if seq + HALF < last => {
                self.base += 1 << 16;
                self.last = Some(seq);
            }
            Some(last) if seq > last + HALF && self.base > 0 => {
                return self.base - (1 << 16) + seq;
            }
            _ => self.last = Some(seq),
        }
        self.base + seq
    }
}

/// The requests sent, from ping's summary line (`N packets transmitted, ...`).
pub fn ping_transmitted(line: &str) -> Option<u32> {
    let i = line.find(" packets transmitted")?;
    line[..i].trim().parse().ok()
}

/// Parses `ping -D` output (iputils) taken at `interval`.
pub fn parse_ping(out: &str, interval: Duration) -> PingTrain {
    let mut seqs = BTreeSet::new();
    let mut stamps = Vec::new();
    let mut sent = None;
    let mut unwrap = SeqUnwrap::default();
    for line in out.lines() {
        if let Some((seq, ts)) = ping_reply(line) {
            if seqs.insert(unwrap.next(seq)) {
                stamps.extend(ts);
            }
        } else if let Some(n) = ping_transmitted(line) {
            sent = Some(n);
        }
    }
    let sent = sent.unwrap_or_else(|| seqs.last().copied().unwrap_or(0));
    let (mut best, mut best_start, mut run, mut run_start) = (0u32, None, 0u32, 0u32);
    for seq in 1..=sent {
        if seqs.contains(&seq) {
            run = 0;
        } else {
            if run == 0 {
                run_start = seq;
            }
            run += 1;
            if run > best {
                best = run;
                best_start = Some(run_start);
            }
        }
    }
    stamps.sort_by(f64::total_cmp);
    let max_reply_gap = stamps
        .windows(2)
        .map(|w| w[1] - w[0])
        .max_by(f64::total_cmp)
        .map(|g| Duration::from_secs_f64(g.max(0.0)));
    PingTrain {
        sent,
        received: seqs.range(1..=sent.max(1)).count() as u32,
        interval,
        longest_missing_run: best,
        run_start_seq: best_start,
        loss_window: interval * best,
        max_reply_gap,
    }
}

/// Sends `count` echo requests from `ns` to `dst`, one every `interval`
/// (`ping -D -i`), waits up to 1 s for late replies, and reports the loss.
/// Blocks for about `count x interval + 1 s`.
pub fn ping_train(ns: &Netns, dst: &str, interval: Duration, count: u32) -> Result<PingTrain> {
    let bound = interval * count * 2 + Duration::from_secs(10);
    run_train(ns, dst, interval, &["-c", &count.to_string()], bound)
}

/// Sends echo requests from `ns` to `dst`, one every `interval`, until
/// `duration` (whole seconds, rounded up) has passed (`ping -D -i -w`):
/// unlike [`ping_train_for`], it ends on time however slowly ping sends
/// (it slows down while replies are missing). A request still in flight
/// at the end counts as lost. ping stops early at the first ICMP error
/// (e.g. "network unreachable" from a router whose link is down): where
/// that may come, use [`ping_train`].
pub fn ping_train_within(
    ns: &Netns,
    dst: &str,
    interval: Duration,
    duration: Duration,
) -> Result<PingTrain> {
    let w = duration.as_secs_f64().ceil().max(1.0).to_string();
    run_train(
        ns,
        dst,
        interval,
        &["-w", &w],
        duration + Duration::from_secs(10),
    )
}

/// `ping -n -D -i INTERVAL -W 1 END... DST` in `ns`, bounded by `bound`,
/// read as a train (`end`: `-c COUNT` or `-w SECONDS`).
fn run_train(
    ns: &Netns,
    dst: &str,
    interval: Duration,
    end: &[&str],
    bound: Duration,
) -> Result<PingTrain> {
    let i = format!("{:.3}", interval.as_secs_f64());
    let mut args = vec![family_flag(dst), "-n", "-D", "-i", &i, "-W", "1"];
    args.extend_from_slice(end);
    args.push(dst);
    let out = ns.exec("ping", &args, bound)?;
    let t = parse_ping(&out.stdout, interval);
    if t.sent == 0 {
        return Err(Error::msg(format!(
            "ping train to {dst} sent nothing ({}): {}",
            out.status,
            out.stderr.trim()
        )));
    }
    Ok(t)
}

/// [`ping_train`] for `duration` (count = duration / interval).
pub fn ping_train_for(
    ns: &Netns,
    dst: &str,
    interval: Duration,
    duration: Duration,
) -> Result<PingTrain> {
    let count = (duration.as_secs_f64() / interval.as_secs_f64())
        .ceil()
        .max(1.0) as u32;
    ping_train(ns, dst, interval, count)
}

/// Throughput of one iperf3 TCP test.
#[derive(Debug, Clone, PartialEq)]
pub struct IperfResult {
    /// bits/s of each reporting interval (1 s each), in order.
    pub intervals_bps: Vec<f64>,
    /// Sender's average bits/s.
    pub sent_bps: f64,
    /// Receiver's average bits/s.
    pub received_bps: f64,
    /// Bytes the receiver got.
    pub received_bytes: u64,
    /// TCP retransmissions seen by the sender, if reported.
    pub retransmits: Option<u64>,
}

impl IperfResult {
    /// Receiver's average in Mbit/s.
    pub fn received_mbps(&self) -> f64 {
        self.received_bps / 1e6
    }

    /// Per-interval Mbit/s, rounded to 0.1, for printing.
    pub fn intervals_mbps(&self) -> Vec<f64> {
        self.intervals_bps
            .iter()
            .map(|b| (b / 1e5).round() / 10.0)
            .collect()
    }
}

/// Parses `iperf3 -J` client output. An `"error"` in it is an error.
pub fn parse_iperf3(json: &str) -> Result<IperfResult> {
    let v: Value = serde_json::from_str(json)
        .map_err(|e| Error::msg(format!("iperf3 printed bad JSON ({e}):\n{json}")))?;
    let intervals_bps: Vec<f64> = v["intervals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["sum"]["bits_per_second"].as_f64())
        .collect();
    if let Some(err) = v["error"].as_str() {
        return Err(Error::msg(format!(
            "iperf3 failed: {err} (intervals so far, bit/s: {intervals_bps:?})"
        )));
    }
    let end = &v["end"];
    Ok(IperfResult {
        sent_bps: end["sum_sent"]["bits_per_second"].as_f64().unwrap_or(0.0),
        received_bps: end["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0),
        received_bytes: end["sum_received"]["bytes"].as_u64().unwrap_or(0),
        retransmits: end["sum_sent"]["retransmits"].as_u64(),
        intervals_bps,
    })
}

/// Starts `iperf3 -s -1 -p PORT` (one test, then exit) in `ns`, logging to
/// `log`, and waits (5 s) until it listens.
pub fn iperf3_server(ns: &Netns, port: u16, log: &Path) -> Result<Spawned> {
    iperf3_server_with(ns, port, log, &[])
}

/// [`iperf3_server`] with `extra` arguments (e.g. `-J`, whose report a
/// client's `--get-server-output` then carries as JSON).
pub fn iperf3_server_with(ns: &Netns, port: u16, log: &Path, extra: &[&str]) -> Result<Spawned> {
    let p = port.to_string();
    let mut args = vec!["-s", "-1", "-p", &p];
    args.extend_from_slice(extra);
    let mut server = Spawned::start(
        &format!("iperf3 server {}:{port}", ns.name()),
        ns.command("iperf3", &args),
        log,
    )?;
    let filter = format!("sport = :{port}");
    let mut alive = true;
    process::wait_until(
        &format!("iperf3 server to listen on port {port} in {}", ns.name()),
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            alive = server.is_alive();
            !alive
                || ns
                    .exec_ok("ss", &["-Hltn", &filter])
                    .is_ok_and(|o| !o.trim().is_empty())
        },
    )
    .map_err(|e| e.context(server.log()))?;
    if !alive {
        return Err(Error::msg(format!(
            "iperf3 server exited:\n{}",
            server.log()
        )));
    }
    Ok(server)
}

/// `iperf3 -c DST -p PORT -t SECONDS -i 1 -J` from `ns` (a TCP stream),
/// bounded at SECONDS + 20 s.
pub fn iperf3_client(ns: &Netns, dst: &str, port: u16, seconds: u32) -> Result<IperfResult> {
    iperf3_client_at(ns, dst, port, seconds, None)
}

/// Like [`iperf3_client`], with the sending rate capped at `bitrate` (iperf3's
/// `-b`, e.g. `"50M"`), for a stream that must not fill the tunnel's queues.
pub fn iperf3_client_at(
    ns: &Netns,
    dst: &str,
    port: u16,
    seconds: u32,
    bitrate: Option<&str>,
) -> Result<IperfResult> {
    run_iperf3(ns, dst, port, seconds, 1, bitrate)
}

/// Parallel TCP flows for [`iperf3_flows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flows {
    /// How many streams (iperf3's `-P`: one source port each, so as many
    /// distinct 5-tuples for an ECMP hash).
    pub streams: u32,
    /// For how long.
    pub seconds: u32,
    /// Each stream's cap (iperf3's `-b` applies per stream, which keeps the
    /// flows' packet counts alike), e.g. `"2M"`.
    pub bitrate: &'static str,
}

/// `flows` from `ns` to an iperf3 server at `dst`:`port`. The result sums
/// the streams.
pub fn iperf3_flows(ns: &Netns, dst: &str, port: u16, flows: Flows) -> Result<IperfResult> {
    run_iperf3(
        ns,
        dst,
        port,
        flows.seconds,
        flows.streams,
        Some(flows.bitrate),
    )
}

fn run_iperf3(
    ns: &Netns,
    dst: &str,
    port: u16,
    seconds: u32,
    streams: u32,
    bitrate: Option<&str>,
) -> Result<IperfResult> {
    let (p, t, n) = (port.to_string(), seconds.to_string(), streams.to_string());
    let mut args = vec![
        "-c",
        dst,
        "-p",
        &p,
        "-t",
        &t,
        "-i",
        "1",
        "-J",
        "--connect-timeout",
        "3000",
    ];
    if streams > 1 {
        args.extend(["-P", &n]);
    }
    if let Some(rate) = bitrate {
        args.extend(["-b", rate]);
    }
    let out = ns.exec(
        "iperf3",
        &args,
        Duration::from_secs(u64::from(seconds) + 20),
    )?;
    parse_iperf3(&out.stdout)
        .map_err(|e| e.context(format!("iperf3 stderr: {}", out.stderr.trim())))
}

/// A counter of `/proc/net/snmp` inside `ns` (per namespace), e.g.
/// (`"Icmp"`, `"InEchos"`): echo requests that reached the namespace.
pub fn snmp_counter(ns: &Netns, group: &str, field: &str) -> Result<u64> {
    let text = ns.exec_ok("cat", &["/proc/net/snmp"])?;
    parse_snmp(&text, group, field).ok_or_else(|| {
        Error::msg(format!(
            "no {group} {field} in /proc/net/snmp of {}",
            ns.name()
        ))
    })
}

/// Reads one counter from `/proc/net/snmp` text (a header line and a value
/// line per group).
pub fn parse_snmp(text: &str, group: &str, field: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names.split_whitespace().position(|n| n == field)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// A counter of `/proc/net/snmp6` inside `ns`, e.g. `Ip6FragCreates`
/// (IPv6 packets this namespace fragmented) or `Icmp6OutPktTooBigs`.
pub fn snmp6_counter(ns: &Netns, field: &str) -> Result<u64> {
    let text = ns.exec_ok("cat", &["/proc/net/snmp6"])?;
    parse_snmp6(&text, field)
        .ok_or_else(|| Error::msg(format!("no {field} in /proc/net/snmp6 of {}", ns.name())))
}

/// Reads one counter from `/proc/net/snmp6` text (`Name value` lines).
pub fn parse_snmp6(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next()? == field).then_some(())?;
        words.next()?.parse().ok()
    })
}

/// What a ping that must not be fragmented saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfPing {
    /// Payload bytes per request (`-s`).
    pub payload: u32,
    /// Requests sent and replies received.
    pub count: PingCount,
    /// The MTU a router or the local stack named when it refused the
    /// packet ("Frag needed and DF set (mtu = N)", "Packet too big:
    /// mtu=N", "message too long, mtu=N"), if any.
    pub refused_mtu: Option<u32>,
}

/// `ping -M do -s PAYLOAD -c 3` from `ns` to `dst`: packets of PAYLOAD + 28
/// (IPv4) or + 48 (IPv6) bytes that no one may fragment.
pub fn ping_dont_fragment(ns: &Netns, dst: &str, payload: u32) -> Result<DfPing> {
    let size = payload.to_string();
    let args = [
        family_flag(dst),
        "-n",
        "-M",
        "do",
        "-s",
        &size,
        "-c",
        "3",
        "-i",
        "0.3",
        "-W",
        "2",
        dst,
    ];
    let out = ns.exec("ping", &args, Duration::from_secs(15))?;
    let text = format!("{}\n{}", out.stdout, out.stderr);
    let t = parse_ping(&out.stdout, Duration::from_millis(300));
    Ok(DfPing {
        payload,
        count: PingCount {
            sent: t.sent,
            received: t.received,
        },
        refused_mtu: parse_refused_mtu(&text),
    })
}

/// `ping -M do -s PAYLOAD -c COUNT -l PRELOAD -i 0.05` from `ns`: requests
/// that no one may fragment, sent PRELOAD at a time (bursts of equal-sized
/// packets, which a gateway sends as one GSO run).
pub fn ping_bursts(
    ns: &Netns,
    dst: &str,
    payload: u32,
    count: u32,
    preload: u32,
) -> Result<PingCount> {
    let (size, c, l) = (payload.to_string(), count.to_string(), preload.to_string());
    let args = [
        family_flag(dst),
        "-n",
        "-M",
        "do",
        "-s",
        &size,
        "-c",
        &c,
        "-l",
        &l,
        "-i",
        "0.05",
        "-W",
        "2",
        dst,
    ];
    let bound = Duration::from_millis(50) * count + Duration::from_secs(15);
    let out = ns.exec("ping", &args, bound)?;
    let t = parse_ping(&out.stdout, Duration::from_millis(50));
    Ok(PingCount {
        sent: t.sent,
        received: t.received,
    })
}

/// The MTU named in ping's "too big" messages (see [`DfPing::refused_mtu`]).
pub fn parse_refused_mtu(out: &str) -> Option<u32> {
    out.lines().find_map(|l| {
        let at = l.find("mtu")? + 3;
        let digits: String = l[at..]
            .trim_start_matches([' ', '='])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// Runs the `udp-garbage` helper (`bin`) in `ns`: `count` garbage datagrams
/// to `target` (`ADDR:PORT`). Returns how many it sent.
pub fn send_garbage(ns: &Netns, bin: &Path, target: &str, count: u32, seed: u64) -> Result<u64> {
    let (c, s) = (count.to_string(), seed.to_string());
    let out = process::run_ok(
        &mut ns.command(bin, &[target, &c, &s]),
        Duration::from_secs(30),
    )?;
    out.split_whitespace()
        .skip_while(|w| *w != "sent")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::msg(format!("udp-garbage printed no count: {out}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_train_longer_than_ping_s_16_bit_sequence_is_counted_whole() {
        let mut u = super::SeqUnwrap::default();
        let got: Vec<u32> = [65534, 65535, 0, 1, 65535, 2]
            .into_iter()
            .map(|s| u.next(s))
            .collect();
        assert_eq!(got, [65534, 65535, 65536, 65537, 65535, 65538]);
        let mut out = String::new();
        for i in 1..=70_000u32 {
            out += &format!(
                "[1000.0] 64 bytes from 10.2.0.10: icmp_seq={} ttl=62 time=0.4 ms\n",
                i % 65536
            );
        }
        out += "70000 packets transmitted, 70000 received, 0% packet loss, time 1ms\n";
        let t = super::parse_ping(&out, std::time::Duration::from_millis(10));
        assert_eq!((t.sent, t.received), (70_000, 70_000));
    }

    use super::*;

    #[test]
    fn ping_train_loss_window() {
        let mut out = String::from("PING 10.2.0.10 (10.2.0.10) 56(84) bytes of data.\n");
        for seq in (1..=100).filter(|s| !(40..=52).contains(s) && *s != 70) {
            let ts = 1000.0 + f64::from(seq) * 0.01;
            out.push_str(&format!(
                "[{ts:.6}] 64 bytes from 10.2.0.10: icmp_seq={seq} ttl=62 time=0.4 ms\n"
            ));
        }
        out.push_str("[1000.1] 64 bytes from 10.2.0.10: icmp_seq=3 ttl=62 time=0.4 ms (DUP!)\n");
        out.push_str("[1000.5] From 10.1.0.1 icmp_seq=70 Destination Host Unreachable\n");
        out.push_str("\n--- 10.2.0.10 ping statistics ---\n");
        out.push_str(
            "100 packets transmitted, 86 received, +1 duplicates, 14% packet loss, time 990ms\n",
        );
        let t = parse_ping(&out, Duration::from_millis(10));
        assert_eq!(t.sent, 100);
        assert_eq!(t.received, 86);
        assert_eq!(t.lost(), 14);
        assert_eq!(t.longest_missing_run, 13);
        assert_eq!(t.run_start_seq, Some(40));
        assert_eq!(t.loss_window, Duration::from_millis(130));
        let gap = t.max_reply_gap.unwrap().as_secs_f64();
        assert!((gap - 0.14).abs() < 1e-6, "{gap}");
        assert_eq!(t.outage(), Duration::from_millis(130));
    }

    #[test]
    fn trailing_loss_counts() {
        let out = "[1.0] 64 bytes from x: icmp_seq=1 ttl=1 time=1 ms\n5 packets transmitted, 1 received, 80% packet loss\n";
        let t = parse_ping(out, Duration::from_millis(10));
        assert_eq!((t.sent, t.received, t.longest_missing_run), (5, 1, 4));
    }

    #[test]
    fn reply_lines_and_the_summary() {
        let line = "[1000.25] 64 bytes from 10.2.0.10: icmp_seq=7 ttl=62 time=0.4 ms";
        assert_eq!(ping_reply(line), Some((7, Some(1000.25))));
        assert_eq!(
            ping_reply("64 bytes from x: icmp_seq=3 ttl=1 time=1 ms"),
            Some((3, None))
        );
        assert_eq!(
            ping_reply("[1.0] From 10.1.0.1 icmp_seq=70 Destination Host Unreachable"),
            None
        );
        assert_eq!(
            ping_transmitted("5 packets transmitted, 1 received, 80% packet loss"),
            Some(5)
        );
        assert_eq!(ping_transmitted("--- x ping statistics ---"), None);
    }

    #[test]
    fn snmp_counters() {
        let t = "Ip: Forwarding DefaultTTL\nIp: 1 64\nIcmp: InMsgs InErrors InEchos\nIcmp: 12 0 7\nIcmpMsg: InType8\nIcmpMsg: 7\n";
        assert_eq!(parse_snmp(t, "Icmp", "InEchos"), Some(7));
        assert_eq!(parse_snmp(t, "Ip", "DefaultTTL"), Some(64));
        assert_eq!(parse_snmp(t, "Icmp", "OutEchos"), None);
    }

    #[test]
    fn snmp6_counters_and_refused_mtus() {
        let t = "Ip6InTooBigErrors               \t0\nIp6FragCreates                  \t12\n";
        assert_eq!(parse_snmp6(t, "Ip6FragCreates"), Some(12));
        assert_eq!(parse_snmp6(t, "Ip6Frag"), None);
        for (line, mtu) in [
            (
                "From 10.1.0.1 icmp_seq=1 Frag needed and DF set (mtu = 1420)",
                Some(1420),
            ),
            (
                "From fd00:1::1 icmp_seq=1 Packet too big: mtu=1420",
                Some(1420),
            ),
            ("ping: local error: message too long, mtu=1420", Some(1420)),
            (
                "64 bytes from 10.2.0.10: icmp_seq=1 ttl=62 time=0.4 ms",
                None,
            ),
        ] {
            assert_eq!(parse_refused_mtu(line), mtu, "{line}");
        }
    }

    #[test]
    fn iperf3_json() {
        let j = r#"{"intervals":[{"sum":{"bits_per_second":1e9}},{"sum":{"bits_per_second":0}}],
            "end":{"sum_sent":{"bits_per_second":5e8,"retransmits":3},
                   "sum_received":{"bits_per_second":4.9e8,"bytes":12345}}}"#;
        let r = parse_iperf3(j).unwrap();
        assert_eq!(r.intervals_bps, vec![1e9, 0.0]);
        assert_eq!(r.retransmits, Some(3));
        assert_eq!(r.received_bytes, 12345);
        assert!(parse_iperf3(r#"{"intervals":[],"error":"unable to connect"}"#).is_err());
    }
}
