//! Packet order across a tunnel, as the hosts' own stacks see it (issue 14:
//! a parallel data path must keep each flow's packets in order).
//!
//! TCP: a namespace's `TcpExt` counters (`/proc/net/netstat`, per network
//! namespace). At the receiver, `TCPOFOQueue` counts segments queued out of
//! order: one that arrives beyond a hole, because a segment before it was
//! lost or overtaken. At the sender, `TCPSACKReorder`, `TCPTSReorder` and
//! `TCPRenoReorder` count reordering it detected (a hole filled by a
//! segment that was never retransmitted), which a loss alone does not move.
//! `Tcp: RetransSegs` tells a loss from a reorder when the first moves.
//!
//! UDP: iperf3 numbers its datagrams; the server counts one that arrives
//! with a lower number than one before it as out of order (a loss is counted
//! apart, as lost). [`iperf3_udp`] runs the server with `-J` and the client
//! with `--get-server-output`, so the client's report carries the server's
//! per-stream `out_of_order`.
//!
//! The lab's veths reorder by themselves, [`steer_by_flow`] says how and
//! what stops it. [`reorder_wireguard`] breaks the order on purpose, to show
//! that these counters see it: this kernel has no netem, so an HTB qdisc on a
//! link's egress sends the WireGuard datagrams with an odd counter through a
//! slow class, which holds them (a short queue) while the even ones pass.

use crate::error::{Error, Result};
use crate::measure::{self, parse_snmp};
use crate::netns::Netns;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A namespace's TCP counters that see order, or their change over a test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOrder {
    /// `TcpExt: TCPOFOQueue`: segments the receiver queued out of order.
    pub ofo_queued: u64,
    /// `TcpExt: TCPSACKReorder`: reordering a sender saw through SACK.
    pub sack_reorder: u64,
    /// `TcpExt: TCPTSReorder`: reordering a sender saw through timestamps.
    pub ts_reorder: u64,
    /// `TcpExt: TCPRenoReorder`: reordering a sender without SACK saw.
    pub reno_reorder: u64,
    /// `Tcp: RetransSegs`: segments sent again.
    pub retrans_segs: u64,
}

impl TcpOrder {
    /// The counters of `ns` now.
    pub fn read(ns: &Netns) -> Result<TcpOrder> {
        let netstat = ns.exec_ok("cat", &["/proc/net/netstat"])?;
        let snmp = ns.exec_ok("cat", &["/proc/net/snmp"])?;
        TcpOrder::parse(&netstat, &snmp).ok_or_else(|| {
            Error::msg(format!(
                "no TcpExt order counters or Tcp RetransSegs in {}:\n{netstat}\n{snmp}",
                ns.name()
            ))
        })
    }

    /// From `/proc/net/netstat` and `/proc/net/snmp` text.
    pub fn parse(netstat: &str, snmp: &str) -> Option<TcpOrder> {
        let ext = |field| parse_snmp(netstat, "TcpExt", field);
        Some(TcpOrder {
            ofo_queued: ext("TCPOFOQueue")?,
            sack_reorder: ext("TCPSACKReorder")?,
            ts_reorder: ext("TCPTSReorder")?,
            reno_reorder: ext("TCPRenoReorder")?,
            retrans_segs: parse_snmp(snmp, "Tcp", "RetransSegs")?,
        })
    }

    /// What moved since `before`.
    pub fn since(&self, before: &TcpOrder) -> TcpOrder {
        TcpOrder {
            ofo_queued: self.ofo_queued.saturating_sub(before.ofo_queued),
            sack_reorder: self.sack_reorder.saturating_sub(before.sack_reorder),
            ts_reorder: self.ts_reorder.saturating_sub(before.ts_reorder),
            reno_reorder: self.reno_reorder.saturating_sub(before.reno_reorder),
            retrans_segs: self.retrans_segs.saturating_sub(before.retrans_segs),
        }
    }

    /// Reordering a sender detected, by any of its three ways.
    pub fn reorder_seen(&self) -> u64 {
        self.sack_reorder + self.ts_reorder + self.reno_reorder
    }
}

impl std::fmt::Display for TcpOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TCPOFOQueue {}, reordering detected as a sender {} (SACK {}, TS {}, Reno {}), \
             RetransSegs {}",
            self.ofo_queued,
            self.reorder_seen(),
            self.sack_reorder,
            self.ts_reorder,
            self.reno_reorder,
            self.retrans_segs
        )
    }
}

/// What the server of a UDP test received, summed over its streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpOrder {
    /// Datagrams the client sent, by the numbers the server saw.
    pub packets: u64,
    /// Of them, never received.
    pub lost: u64,
    /// Received with a lower number than one received before.
    pub out_of_order: u64,
}

impl UdpOrder {
    /// Datagrams that arrived.
    pub fn delivered(&self) -> u64 {
        self.packets.saturating_sub(self.lost)
    }
}

impl std::fmt::Display for UdpOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} datagrams sent, {} lost, {} out of order",
            self.packets, self.lost, self.out_of_order
        )
    }
}

/// Reads the server's report from `iperf3 -u -J --get-server-output`
/// client output (the server ran with `-J`).
pub fn parse_udp_order(json: &str) -> Result<UdpOrder> {
    let v: Value = serde_json::from_str(json)
        .map_err(|e| Error::msg(format!("iperf3 printed bad JSON ({e}):\n{json}")))?;
    if let Some(err) = v["error"].as_str() {
        return Err(Error::msg(format!("iperf3 failed: {err}")));
    }
    let end = &v["server_output_json"]["end"];
    let streams = end["streams"]
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::msg(format!("no server streams in the iperf3 report:\n{json}")))?;
    let mut order = UdpOrder::default();
    for s in streams {
        let udp = &s["udp"];
        let count = |field: &str| {
            udp[field]
                .as_u64()
                .ok_or_else(|| Error::msg(format!("no {field} in a server stream of iperf3: {s}")))
        };
        order.packets += count("packets")?;
        order.lost += count("lost_packets")?;
        order.out_of_order += count("out_of_order")?;
    }
    Ok(order)
}

/// A UDP test for [`iperf3_udp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpLoad {
    /// Parallel streams (`-P`).
    pub streams: u32,
    /// For how long (`-t`).
    pub seconds: u32,
    /// Each stream's rate (`-b`), e.g. `"100M"`.
    pub bitrate: &'static str,
    /// Payload bytes per datagram (`-l`).
    pub len: u32,
}

/// A UDP test from `from` to an iperf3 server started in `to` for it
/// (`dst`:`port`, its log `log`), bounded at its length + 20 s; returns what
/// the server counted.
pub fn iperf3_udp(
    from: &Netns,
    to: &Netns,
    dst: &str,
    port: u16,
    log: &Path,
    load: UdpLoad,
) -> Result<UdpOrder> {
    let _server = measure::iperf3_server_with(to, port, log, &["-J"])?;
    let (p, t, n, l) = (
        port.to_string(),
        load.seconds.to_string(),
        load.streams.to_string(),
        load.len.to_string(),
    );
    let args = [
        "-c",
        dst,
        "-p",
        &p,
        "-u",
        "-b",
        load.bitrate,
        "-l",
        &l,
        "-t",
        &t,
        "-P",
        &n,
        "-J",
        "--get-server-output",
        "--connect-timeout",
        "3000",
    ];
    let out = from.exec(
        "iperf3",
        &args,
        Duration::from_secs(u64::from(load.seconds) + 20),
    )?;
    parse_udp_order(&out.stdout)
        .map_err(|e| e.context(format!("iperf3 stderr: {}", out.stderr.trim())))
}

/// Receive Packet Steering over every CPU on every device of `ns` (each
/// rx queue's `rps_cpus`), so that each flow's packets are handled on one
/// CPU, the one its hash picks, as a NIC's receive-side scaling does.
/// Returns the queues set.
///
/// Without it a veth reorders: a packet sent into one is queued on the
/// sending CPU's backlog, so a sender that moves to the other CPU while its
/// last packet still waits there (its softirq deferred to ksoftirqd, as on a
/// busy machine) can overtake it. Between plain namespaces (a, two routers,
/// b; no tunnel; 2 cores) 4 iperf3 streams of 2 Gbit/s each got about 1,000
/// segments queued out of order per 4-second run and the sender saw
/// reordering hundreds of times; with this, none in 3 runs. In the static
/// lab without it, 2 runs of 3 had a few (1 and 4 segments, no
/// retransmission), with today's data path, which sends and writes each
/// direction from one thread.
pub fn steer_by_flow(ns: &Netns) -> Result<Vec<String>> {
    let script = format!(
        "for q in /sys/class/net/*/queues/rx-*/rps_cpus; do \
         echo {} > \"$q\" || exit 1; echo \"$q\"; done",
        rps_mask(online_cpus())
    );
    let out = ns
        .exec_ok("sh", &["-c", &script])
        .map_err(|e| e.context(format!("setting rps_cpus in {}", ns.name())))?;
    Ok(out.lines().map(str::to_string).collect())
}

fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// The `rps_cpus` mask of CPUs 0..`cpus`: hex, in comma-separated groups of
/// 32 CPUs, the highest first (as sysfs writes a cpumask).
fn rps_mask(cpus: usize) -> String {
    let groups = cpus.div_ceil(32).max(1);
    (0..groups)
        .rev()
        .map(|g| {
            let n = (cpus - 32 * g).min(32);
            let bits: u32 = if n == 32 { u32::MAX } else { (1 << n) - 1 };
            format!("{bits:08x}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Breaks the order of the WireGuard datagrams leaving `dev` in `ns` (over
/// an IPv4 underlay): an HTB root whose default class is fast (10 Gbit/s)
/// and a slow class (`slow`, e.g. `"100mbit"`, a FIFO of `queue` packets)
/// that a u32 filter gives every datagram with an odd WireGuard counter
/// (byte 36: 20 of IPv4 without options, 8 of UDP, the counter's low byte at
/// 8 into a data message). The odd ones wait in the slow queue while the
/// even ones pass. A UDP GSO train crosses as one: its first datagram
/// decides. Undone by [`restore_order`].
pub fn reorder_wireguard(ns: &Netns, dev: &str, slow: &str, queue: u32) -> Result<()> {
    let queue = queue.to_string();
    let steps: [&[&str]; 5] = [
        &[
            "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10",
        ],
        &[
            "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit",
        ],
        &[
            "class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate", slow,
        ],
        &[
            "qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "pfifo", "limit", &queue,
        ],
        &[
            "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
            "match", "u8", "0x01", "0x01", "at", "36", "flowid", "1:20",
        ],
    ];
    for args in steps {
        ns.exec_ok("tc", args)
            .map_err(|e| e.context(format!("reordering {dev} in {}", ns.name())))?;
    }
    Ok(())
}

/// Removes what [`reorder_wireguard`] added to `dev`.
pub fn restore_order(ns: &Netns, dev: &str) -> Result<()> {
    ns.exec_ok("tc", &["qdisc", "del", "dev", dev, "root"])
        .map(drop)
}

/// `tc -s class show dev DEV` in `ns`: what each class sent and dropped.
pub fn class_stats(ns: &Netns, dev: &str) -> Result<String> {
    ns.exec_ok("tc", &["-s", "class", "show", "dev", dev])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_counters_and_their_change() {
        let netstat =
            "TcpExt: SyncookiesSent TCPSACKReorder TCPRenoReorder TCPTSReorder TCPOFOQueue\n\
                       TcpExt: 0 5 1 2 40\n\
                       IpExt: InNoRoutes\nIpExt: 0\n";
        let snmp = "Tcp: RtoAlgorithm RetransSegs InCsumErrors\nTcp: 1 9 0\n";
        let before = TcpOrder::parse(netstat, snmp).expect("counters");
        assert_eq!(
            before,
            TcpOrder {
                ofo_queued: 40,
                sack_reorder: 5,
                ts_reorder: 2,
                reno_reorder: 1,
                retrans_segs: 9
            }
        );
        assert_eq!(before.reorder_seen(), 8);
        let later = TcpOrder {
            ofo_queued: 43,
            retrans_segs: 10,
            ..before
        };
        let d = later.since(&before);
        assert_eq!((d.ofo_queued, d.reorder_seen(), d.retrans_segs), (3, 0, 1));
        assert!(TcpOrder::parse("TcpExt: TCPOFOQueue\nTcpExt: 1\n", snmp).is_none());
    }

    #[test]
    fn rps_masks() {
        assert_eq!(rps_mask(1), "00000001");
        assert_eq!(rps_mask(2), "00000003");
        assert_eq!(rps_mask(32), "ffffffff");
        assert_eq!(rps_mask(36), "0000000f,ffffffff");
    }

    #[test]
    fn udp_order_sums_the_server_streams() {
        let j = r#"{"end":{},"server_output_json":{"end":{"streams":[
            {"udp":{"packets":100,"lost_packets":3,"out_of_order":2}},
            {"udp":{"packets":50,"lost_packets":0,"out_of_order":0}}]}}}"#;
        let o = parse_udp_order(j).expect("parsed");
        assert_eq!(
            o,
            UdpOrder {
                packets: 150,
                lost: 3,
                out_of_order: 2
            }
        );
        assert_eq!(o.delivered(), 147);
        // A server run without -J gives text, not streams: an error.
        assert!(parse_udp_order(r#"{"end":{},"server_output_text":"..."}"#).is_err());
        assert!(parse_udp_order(r#"{"error":"unable to connect"}"#).is_err());
    }
}
