//! The soak's traffic from site A to site B, through the wireguard-go
//! tunnels and the VGW (and back through the VGW for the replies): a ping
//! train, one request every 10 ms, numbered, each reply stamped (`ping -D`),
//! so that every loss has a sequence number and a time; and optionally an
//! iperf3 UDP stream at a modest rate, whose server reports the datagrams
//! lost in each second.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sitelink_lab::measure::{iperf3_server_with, ping_reply, ping_transmitted, SeqUnwrap};
use sitelink_lab::topology::SITE_B_V4;
use sitelink_lab::{Error, Result, Spawned};

use crate::setup::Soaked;
use crate::timeline::{ping_losses, Loss, PingLosses};

/// The ping train's interval.
pub const PING_INTERVAL: f64 = 0.01;
/// The UDP stream's port on site B.
const UDP_PORT: u16 = 5301;
/// The UDP stream's datagram payload.
const UDP_LENGTH: &str = "1200";
/// Bound on the traffic ending after the soak did.
const END_TIMEOUT: Duration = Duration::from_secs(30);

/// The running traffic (started from the main thread: the processes die
/// with the thread that started them).
pub struct Traffic {
    ping: Spawned,
    /// The UDP stream's server and client.
    udp: Option<(Spawned, Spawned)>,
}

/// What the ping train saw.
#[derive(Debug)]
pub struct PingResult {
    pub sent: u32,
    pub received: u32,
    pub losses: PingLosses,
}

/// What the UDP stream's receiver saw.
#[derive(Debug, PartialEq)]
pub struct UdpResult {
    pub rate: String,
    pub packets: u64,
    pub lost: u64,
    /// Each second that lost datagrams.
    pub seconds: Vec<Loss>,
}

impl Traffic {
    /// Starts the ping train for `seconds`, and the UDP stream at `rate`
    /// (iperf3's `-b`, e.g. `5M`) if given.
    pub fn start(s: &Soaked, seconds: u64, rate: Option<&str>) -> Result<Traffic> {
        let dir = s.lab.lab().dir();
        let secs = seconds.to_string();
        let udp = match rate {
            Some(rate) => {
                let server = iperf3_server_with(
                    &s.lab.site_b,
                    UDP_PORT,
                    &dir.join("udp-server.log"),
                    &["-J"],
                )?;
                let port = UDP_PORT.to_string();
                let args = [
                    "-c",
                    SITE_B_V4,
                    "-p",
                    &port,
                    "-u",
                    "-b",
                    rate,
                    "-l",
                    UDP_LENGTH,
                    "-t",
                    &secs,
                    "--connect-timeout",
                    "3000",
                ];
                let client = Spawned::start(
                    "iperf3 UDP client",
                    s.lab.site_a.command("iperf3", &args),
                    &dir.join("udp-client.log"),
                )?;
                Some((server, client))
            }
            None => None,
        };
        let interval = format!("{PING_INTERVAL:.3}");
        let args = [
            "-4", "-n", "-D", "-i", &interval, "-W", "1", "-w", &secs, SITE_B_V4,
        ];
        let ping = Spawned::start(
            "ping train",
            s.lab.site_a.command("ping", &args),
            &dir.join("ping.log"),
        )?;
        Ok(Traffic { ping, udp })
    }

    /// Waits for the traffic to end and reads what it saw, on the clock
    /// whose zero is `zero` (Unix seconds).
    pub fn finish(mut self, zero: f64, rate: &str) -> Result<(PingResult, Option<UdpResult>)> {
        self.ping.wait_exit(END_TIMEOUT)?;
        let ping = read_ping(&self.ping.log(), zero)?;
        let udp = match self.udp.as_mut() {
            Some((server, client)) => {
                let status = client.wait_exit(END_TIMEOUT)?;
                if !status.success() {
                    return Err(Error::msg(format!(
                        "the iperf3 UDP client failed ({status}):\n{}",
                        client.log()
                    )));
                }
                server.wait_exit(END_TIMEOUT)?;
                Some(parse_udp_server(&server.log(), zero, rate)?)
            }
            None => None,
        };
        Ok((ping, udp))
    }
}

/// A `ping -D` log read back.
fn read_ping(log: &str, zero: f64) -> Result<PingResult> {
    let mut replies = BTreeMap::new();
    let mut sent = None;
    let mut unwrap = SeqUnwrap::default();
    for line in log.lines() {
        if let Some((seq, Some(at))) = ping_reply(line) {
            replies.entry(unwrap.next(seq)).or_insert(at);
        } else if let Some(n) = ping_transmitted(line) {
            sent = Some(n);
        }
    }
    let sent = sent.ok_or_else(|| {
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        Error::msg(format!("ping printed no summary; its log ends: {tail:?}"))
    })?;
    let received = replies.range(1..=sent).count() as u32;
    Ok(PingResult {
        sent,
        received,
        losses: ping_losses(&replies, sent, PING_INTERVAL, zero),
    })
}

/// The UDP server's `iperf3 -s -J` report: totals and each second that
/// lost datagrams, on the clock whose zero is `zero` (Unix seconds; the
/// report's start is to the second). The server counts a gap when the next
/// datagram arrives, so a loss is placed at the start of the seconds in
/// which nothing arrived before it.
pub fn parse_udp_server(json: &str, zero: f64, rate: &str) -> Result<UdpResult> {
    let v: Value = serde_json::from_str(json.trim()).map_err(|e| {
        Error::msg(format!(
            "the iperf3 UDP server printed bad JSON ({e}):\n{json}"
        ))
    })?;
    if let Some(err) = v["error"].as_str() {
        return Err(Error::msg(format!("the iperf3 UDP server failed: {err}")));
    }
    let began = v["start"]["timestamp"]["timesecs"]
        .as_f64()
        .ok_or_else(|| Error::msg("the iperf3 UDP server's report has no start time"))?;
    let end = &v["end"]["sum"];
    let (packets, lost) = (
        end["packets"].as_u64().unwrap_or(0),
        end["lost_packets"].as_u64().unwrap_or(0),
    );
    let mut seconds = Vec::new();
    let mut silent_since = None;
    for i in v["intervals"].as_array().into_iter().flatten() {
        let sum = &i["sum"];
        let (Some(from), Some(to)) = (sum["start"].as_f64(), sum["end"].as_f64()) else {
            continue;
        };
        if sum["packets"].as_u64() == Some(0) {
            silent_since.get_or_insert(from);
            continue;
        }
        let since = silent_since.take().unwrap_or(from);
        if let Some(n) = sum["lost_packets"].as_u64().filter(|n| *n > 0) {
            seconds.push(Loss {
                at: began + since - zero,
                count: n,
                what: format!("UDP {since:.0}-{to:.0} s into the stream"),
            });
        }
    }
    let counted: u64 = seconds.iter().map(|l| l.count).sum();
    if let (Some(since), true) = (silent_since, lost > counted) {
        seconds.push(Loss {
            at: began + since - zero,
            count: lost - counted,
            what: format!("UDP from {since:.0} s into the stream: nothing arrived after"),
        });
    }
    Ok(UdpResult {
        rate: rate.to_string(),
        packets,
        lost,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_server_reports() {
        let json = r#"{"start":{"timestamp":{"timesecs":1000}},
            "intervals":[{"sum":{"start":0,"end":1.0,"packets":500,"lost_packets":0}},
                         {"sum":{"start":1.0,"end":2.0,"packets":500,"lost_packets":7}}],
            "end":{"sum":{"packets":1000,"lost_packets":7}}}"#;
        let r = parse_udp_server(json, 990.0, "5M").expect("report");
        assert_eq!((r.packets, r.lost), (1000, 7));
        assert_eq!(r.seconds.len(), 1);
        assert_eq!(r.seconds[0].at, 11.0);
        assert_eq!(r.seconds[0].what, "UDP 1-2 s into the stream");
        // Nothing arrived in seconds 2-4: the loss counted at 4-5 began at 2.
        let json = r#"{"start":{"timestamp":{"timesecs":1000}},
            "intervals":[{"sum":{"start":1.0,"end":2.0,"packets":500,"lost_packets":0}},
                         {"sum":{"start":2.0,"end":3.0,"packets":0,"lost_packets":0}},
                         {"sum":{"start":3.0,"end":4.0,"packets":0,"lost_packets":0}},
                         {"sum":{"start":4.0,"end":5.0,"packets":400,"lost_packets":1100}},
                         {"sum":{"start":5.0,"end":6.0,"packets":0,"lost_packets":0}}],
            "end":{"sum":{"packets":900,"lost_packets":1600}}}"#;
        let r = parse_udp_server(json, 1000.0, "5M").expect("report");
        assert_eq!(r.seconds.len(), 2);
        assert_eq!((r.seconds[0].at, r.seconds[0].count), (2.0, 1100));
        assert_eq!(r.seconds[0].what, "UDP 2-5 s into the stream");
        assert_eq!((r.seconds[1].at, r.seconds[1].count), (5.0, 500));
        assert!(parse_udp_server(r#"{"error":"unable to connect"}"#, 0.0, "5M").is_err());
        assert!(parse_udp_server("not json", 0.0, "5M").is_err());
    }

    #[test]
    fn ping_logs() {
        let log = "PING 10.2.0.10 (10.2.0.10) 56(84) bytes of data.\n\
                   [1000.01] 64 bytes from 10.2.0.10: icmp_seq=1 ttl=62 time=0.4 ms\n\
                   [1000.04] 64 bytes from 10.2.0.10: icmp_seq=4 ttl=62 time=0.4 ms\n\
                   [1000.05] 64 bytes from 10.2.0.10: icmp_seq=5 ttl=62 time=0.4 ms\n\
                   \n--- 10.2.0.10 ping statistics ---\n\
                   5 packets transmitted, 3 received, 40% packet loss, time 40ms\n";
        let r = read_ping(log, 1000.0).expect("ping");
        assert_eq!((r.sent, r.received), (5, 3));
        assert_eq!(r.losses.runs.len(), 1);
        assert_eq!(r.losses.runs[0].what, "ping seq 2-3");
        assert!(read_ping("PING x\n", 0.0).is_err());
    }
}
