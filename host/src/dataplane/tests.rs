//! Data path tests with byte vectors: two gateways' data planes wired back to
//! back through a recording sink, no TUN and no traffic on the wire (the
//! endpoints' sockets are bound on loopback but never used).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;

use boringtun::x25519::{PublicKey, StaticSecret};
use ipnet::IpNet;

use super::endpoint::Endpoint;
use super::fib::{Fib, NextHop};
use super::tunnel::TunnelSpec;
use super::{Dataplane, ProbeKind, Sink, SCRATCH_LEN};
use crate::packet::test_support::plain_checksum;
use crate::topology::{ConnectionId, TunnelId};

#[derive(Default)]
pub(super) struct Recorder {
    pub tun: Vec<Vec<u8>>,
    pub net: Vec<(usize, SocketAddr, Vec<u8>)>,
    probes: Vec<(usize, Vec<u8>)>,
    echo_replies: Vec<(usize, u16)>,
}

impl Sink for Recorder {
    fn to_tun(&mut self, packet: &[u8]) {
        self.tun.push(packet.to_vec());
    }
    fn to_network(&mut self, endpoint: usize, to: SocketAddr, datagram: &[u8]) {
        self.net.push((endpoint, to, datagram.to_vec()));
    }
    fn probe(&mut self, tunnel: TunnelId, kind: ProbeKind, payload: &[u8]) {
        match kind {
            ProbeKind::Bfd => self.probes.push((tunnel.index(), payload.to_vec())),
            ProbeKind::EchoReply { seq } => self.echo_replies.push((tunnel.index(), seq)),
        }
    }
}

pub(super) const A_ADDR: &str = "198.18.10.2:51820";
pub(super) const B_ADDR: &str = "198.18.1.2:51820";

/// One side of a test link: its data plane and the FIB it uses.
pub(super) struct Side {
    pub dp: Dataplane,
    pub fib: Fib,
}

fn side(
    own: &StaticSecret,
    peer: PublicKey,
    remote: &str,
    local_inside: u8,
    far_prefix: &str,
    bfd_over_ipv6: bool,
) -> Side {
    let endpoint = Endpoint::bind("test", "127.0.0.1:0".parse().unwrap()).unwrap();
    let spec = TunnelSpec {
        connection: ConnectionId(0),
        endpoint: 0,
        remote: remote.parse().unwrap(),
        remote_public_key: peer,
        inside_cidr: "169.254.10.0/30".parse().unwrap(),
        inside_local: Ipv4Addr::new(169, 254, 10, local_inside),
        inside_remote: Ipv4Addr::new(169, 254, 10, 3 - local_inside),
        inside_ipv6: Some(crate::config::InsideV6::new(
            "fd00:0:0:10::/126".parse().unwrap(),
            if local_inside == 1 {
                crate::config::Role::Vgw
            } else {
                crate::config::Role::Cgw
            },
        )),
        bfd_over_ipv6,
        mtu: 1420,
    };
    let dp = Dataplane::new(own.clone(), vec![endpoint], vec![spec]).unwrap();
    let mut fib = Fib::default();
    for prefix in [far_prefix, "169.254.10.0/30", "fd00:0:0:10::/126"] {
        let prefix: IpNet = prefix.parse().unwrap();
        fib.insert(prefix, NextHop::over(ConnectionId(0), &[TunnelId(0)]));
    }
    Side { dp, fib }
}

/// Site A (10.1.0.0/24, customer side) and site B (10.2.0.0/24, VGW side).
pub(super) fn pair() -> (Side, Side) {
    pair_with(false)
}

/// [`pair`], with BFD over the IPv6 inside addresses (fd00:0:0:10::/126)
/// if `bfd_over_ipv6`.
fn pair_with(bfd_over_ipv6: bool) -> (Side, Side) {
    let a_key = StaticSecret::from([7u8; 32]);
    let b_key = StaticSecret::from([9u8; 32]);
    let a = side(
        &a_key,
        PublicKey::from(&b_key),
        B_ADDR,
        2,
        "10.2.0.0/24",
        bfd_over_ipv6,
    );
    let b = side(
        &b_key,
        PublicKey::from(&a_key),
        A_ADDR,
        1,
        "10.1.0.0/24",
        bfd_over_ipv6,
    );
    (a, b)
}

/// A minimal IPv4/UDP packet with a correct total length.
pub(super) fn ipv4_udp(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5000u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

/// Delivers every datagram `from` sent to `to`, as arriving from `from_addr`;
/// returns what `to` produced.
pub(super) fn carry(from: &mut Recorder, to: &Side, from_addr: &str) -> Recorder {
    let mut out = Recorder::default();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    for (_, _, datagram) in from.net.drain(..) {
        to.dp.handle_datagram(
            &to.fib,
            0,
            from_addr.parse().unwrap(),
            &datagram,
            &mut scratch,
            &mut out,
        );
    }
    out
}

/// Runs the handshake A -> B -> A and returns A's output after it (the
/// packets WireGuard queued during the handshake).
pub(super) fn handshake(a: &Side, b: &Side, first: &mut [u8]) -> Recorder {
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut a_out = Recorder::default();
    a.dp.handle_tun_packet(&a.fib, first, &mut scratch, &mut a_out);
    assert_eq!(a_out.net.len(), 1, "a handshake initiation goes out");
    assert_eq!(a_out.net[0].1, B_ADDR.parse().unwrap());
    let mut b_out = carry(&mut a_out, b, A_ADDR);
    assert_eq!(b_out.net.len(), 1, "B answers with a handshake response");
    carry(&mut b_out, a, B_ADDR)
}

#[test]
fn packets_cross_the_tunnel_both_ways_after_a_handshake() {
    let (a, b) = pair();
    let ping = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], b"hello");
    let mut a_out = handshake(&a, &b, &mut ping.clone());
    // The queued packet (or a keepalive) reaches B and the packet comes out of B's TUN.
    let b_out = carry(&mut a_out, &b, A_ADDR);
    assert_eq!(b_out.tun, vec![ping.clone()]);
    assert_eq!(
        b.dp.tunnels()[0]
            .counters
            .rx_packets
            .load(Ordering::Relaxed),
        1
    );
    assert_eq!(
        b.dp.tunnels()[0]
            .counters
            .handshakes
            .load(Ordering::Relaxed),
        1
    );

    // And back, with an established session: no new handshake.
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut reply = ipv4_udp([10, 2, 0, 10], [10, 1, 0, 10], b"world");
    let mut b_out = Recorder::default();
    b.dp.handle_tun_packet(&b.fib, &mut reply, &mut scratch, &mut b_out);
    let a_in = carry(&mut b_out, &a, B_ADDR);
    assert_eq!(a_in.tun, vec![reply]);
    assert_eq!(
        a.dp.tunnels()[0]
            .counters
            .tx_packets
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn a_full_size_packet_grows_by_32_bytes_and_fits_an_ipv6_uplink() {
    use crate::mtu::{Outer, WIREGUARD_OVERHEAD};
    let (a, b) = pair();
    let mut a_out = handshake(&a, &b, &mut ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], b"hi"));
    carry(&mut a_out, &b, A_ADDR);
    // 1420 bytes: the TUN MTU the IPv6 examples get by default.
    let mut full = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], &[0x5a; 1420 - 28]);
    assert_eq!(full.len(), 1420);
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut out = Recorder::default();
    a.dp.handle_tun_packet(&a.fib, &mut full, &mut scratch, &mut out);
    assert_eq!(out.net.len(), 1);
    let datagram = out.net[0].2.len();
    // Header 16 + tag 16, no padding: the UDP payload is the packet + 32.
    assert_eq!(datagram, 1420 + usize::from(WIREGUARD_OVERHEAD));
    assert_eq!(
        datagram + 8 + 40,
        1500,
        "UDP + IPv6: one 1500-byte datagram"
    );
    assert_eq!(usize::from(Outer::V6.outer_len(1420)), datagram + 8 + 40);
    let b_in = carry(&mut out, &b, A_ADDR);
    assert_eq!(b_in.tun, vec![full]);
}

#[test]
fn a_replayed_datagram_is_dropped_and_counted() {
    let (a, b) = pair();
    let ping = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], b"once");
    let mut a_out = handshake(&a, &b, &mut ping.clone());
    let replay = a_out.net.clone();
    let first = carry(&mut a_out, &b, A_ADDR);
    assert_eq!(first.tun.len(), 1);
    let mut again = Recorder {
        net: replay,
        ..Recorder::default()
    };
    let second = carry(&mut again, &b, A_ADDR);
    assert!(second.tun.is_empty(), "a replay must not reach the TUN");
    assert!(
        b.dp.tunnels()[0]
            .counters
            .rx_invalid
            .load(Ordering::Relaxed)
            >= 1
    );
    assert!(
        b.dp.endpoints[0]
            .counters
            .dropped_datagrams
            .load(Ordering::Relaxed)
            >= 1
    );
}

#[test]
fn garbage_datagrams_are_dropped_and_counted_without_panic() {
    let (_, b) = pair();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut out = Recorder::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut sent = 0u64;
    for len in 0..300usize {
        let mut datagram: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        // Every few, make it look like each WireGuard message type.
        if let Some(first) = datagram.first_mut() {
            *first = (len % 5) as u8;
        }
        if datagram.len() >= 4 {
            datagram[1..4].fill(0);
        }
        b.dp.handle_datagram(
            &b.fib,
            0,
            A_ADDR.parse().unwrap(),
            &datagram,
            &mut scratch,
            &mut out,
        );
        sent += 1;
    }
    let counters = &b.dp.endpoints[0].counters;
    assert_eq!(counters.rx_datagrams.load(Ordering::Relaxed), sent);
    assert_eq!(counters.dropped_datagrams.load(Ordering::Relaxed), sent);
    assert!(out.tun.is_empty() && out.probes.is_empty());
}

#[test]
fn an_inner_source_not_routed_over_the_connection_is_refused() {
    let (a, b) = pair();
    // 192.0.2.10 is not in site A's prefix: B must not accept it from A's tunnel.
    let spoofed = ipv4_udp([192, 0, 2, 10], [10, 2, 0, 10], b"spoof");
    let mut a_out = handshake(&a, &b, &mut spoofed.clone());
    let b_out = carry(&mut a_out, &b, A_ADDR);
    assert!(b_out.tun.is_empty());
    assert_eq!(
        b.dp.tunnels()[0]
            .counters
            .rx_source_refused
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn liveness_probes_go_to_the_control_plane_not_the_tun() {
    for bfd_over_ipv6 in [false, true] {
        liveness_probes_reach_the_far_control_plane(bfd_over_ipv6);
    }
}

/// A [`pair_with`] whose tunnel has a session, both ways (a first packet
/// from A made the handshake and reached B).
fn with_session(bfd_over_ipv6: bool) -> (Side, Side) {
    let (a, b) = pair_with(bfd_over_ipv6);
    let warmup = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], b"warm");
    let mut a_out = handshake(&a, &b, &mut warmup.clone());
    carry(&mut a_out, &b, A_ADDR);
    (a, b)
}

/// A probe sent by one side arrives at the other's control plane (BFD over
/// the IPv4 or the IPv6 inside addresses, as both sides run it), and a
/// probe of the other family is not taken for one.
fn liveness_probes_reach_the_far_control_plane(bfd_over_ipv6: bool) {
    let (a, b) = with_session(bfd_over_ipv6);
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut probe_out = Recorder::default();
    a.dp.send_probe(TunnelId(0), &[0x20; 24], &mut scratch, &mut probe_out);
    let b_in = carry(&mut probe_out, &b, A_ADDR);
    assert!(b_in.tun.is_empty());
    assert_eq!(
        b_in.probes,
        vec![(0, vec![0x20; 24])],
        "over IPv6: {bfd_over_ipv6}"
    );
    let (other, _) = pair_with(!bfd_over_ipv6);
    let (src, dst) = other.dp.tunnels()[0].bfd_addresses();
    let mut raw = [0u8; 128];
    let n = crate::packet::build_bfd(src, dst, 50000, &[0x21; 24], &mut raw).unwrap();
    let ours = b.dp.tunnels()[0].bfd_addresses().0;
    assert_eq!(crate::packet::parse_bfd(&raw[..n], ours), None);
}

/// A peer flooding probes on its tunnel hands the far control plane no
/// more than the tunnel's budget a second; the rest are dropped and counted.
#[test]
fn a_probe_flood_on_one_tunnel_is_held_to_its_budget() {
    use super::tunnel::PROBES_PER_SECOND;
    let (a, b) = with_session(false);
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let flood = 4 * PROBES_PER_SECOND as usize;
    let mut probe_out = Recorder::default();
    for _ in 0..flood {
        a.dp.send_probe(TunnelId(0), &[0x20; 24], &mut scratch, &mut probe_out);
    }
    let b_in = carry(&mut probe_out, &b, A_ADDR);
    // All arrive within a second (a debug build sends thousands a second).
    assert_eq!(b_in.probes.len(), PROBES_PER_SECOND as usize);
    let over = (flood - PROBES_PER_SECOND as usize) as u64;
    assert_eq!(b.dp.counters.probes_dropped.load(Ordering::Relaxed), over);
    // And counted on the tunnel that carried the flood.
    assert_eq!(
        b.dp.tunnels()[0]
            .counters
            .rx_probes_dropped
            .load(Ordering::Relaxed),
        over
    );
}

/// An echo request turned into its reply, as the far kernel does.
fn echo_reply_to(request: &[u8], src: [u8; 4]) -> Vec<u8> {
    let mut p = request.to_vec();
    let dst: [u8; 4] = p[12..16].try_into().unwrap();
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[10..12].fill(0);
    let ip = plain_checksum(&p[..20]);
    p[10..12].copy_from_slice(&ip.to_be_bytes());
    p[20] = 0; // echo reply
    p[22..24].fill(0);
    let icmp = plain_checksum(&p[20..]);
    p[22..24].copy_from_slice(&icmp.to_be_bytes());
    p
}

#[test]
fn echo_replies_from_the_far_inside_address_go_to_the_control_plane() {
    let (a, b) = with_session(false);
    let mut scratch = vec![0u8; SCRATCH_LEN];
    // A probes B: the request reaches B's TUN (B's kernel answers it).
    let mut probe_out = Recorder::default();
    a.dp.send_echo(TunnelId(0), 4242, &mut scratch, &mut probe_out);
    let b_in = carry(&mut probe_out, &b, A_ADDR);
    assert_eq!(b_in.tun.len(), 1, "the request is for the far kernel");
    let request = b_in.tun[0].clone();
    // The far kernel's reply comes back to A's control plane, not its TUN.
    let mut reply = echo_reply_to(&request, [169, 254, 10, 1]);
    let mut b_out = Recorder::default();
    b.dp.handle_tun_packet(&b.fib, &mut reply, &mut scratch, &mut b_out);
    let a_in = carry(&mut b_out, &a, B_ADDR);
    assert_eq!(a_in.echo_replies, vec![(0, 4242)]);
    assert!(a_in.tun.is_empty());
    // The same reply from another address behind B is not taken for ours.
    let mut forged = echo_reply_to(&request, [10, 2, 0, 10]);
    let mut b_out = Recorder::default();
    b.dp.handle_tun_packet(&b.fib, &mut forged, &mut scratch, &mut b_out);
    let a_in = carry(&mut b_out, &a, B_ADDR);
    assert!(
        a_in.echo_replies.is_empty(),
        "a forged source is not a probe answer"
    );
    assert_eq!(a_in.tun.len(), 1, "it is ordinary traffic");
}

#[test]
fn a_packet_without_route_is_counted() {
    let (a, _) = pair();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut out = Recorder::default();
    let mut pkt = ipv4_udp([10, 1, 0, 10], [172, 16, 0, 1], b"nowhere");
    a.dp.handle_tun_packet(&a.fib, &mut pkt, &mut scratch, &mut out);
    let mut junk = vec![0x00, 0x01, 0x02];
    a.dp.handle_tun_packet(&a.fib, &mut junk, &mut scratch, &mut out);
    assert!(out.net.is_empty());
    assert_eq!(a.dp.counters.tun_no_route.load(Ordering::Relaxed), 1);
    assert_eq!(a.dp.counters.tun_malformed.load(Ordering::Relaxed), 1);
}

#[test]
fn under_a_handshake_flood_a_replayed_init_does_not_move_the_peer() {
    use boringtun::noise::{Tunn, TunnResult};
    let (a, b) = pair();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut sink = Recorder::default();
    let b_public = PublicKey::from(&StaticSecret::from([9u8; 32]));
    // 150 initiations from strangers (valid mac1: only B's public key is
    // needed) exhaust the handshake rate limit.
    for i in 0..150u8 {
        let stranger = StaticSecret::from([i.wrapping_add(100); 32]);
        let mut t = Tunn::new(stranger, b_public, None, None, 1, None).unwrap();
        let mut buf = [0u8; 256];
        if let TunnResult::WriteToNetwork(init) = t.format_handshake_initiation(&mut buf, false) {
            let from: SocketAddr = format!("203.0.113.{}:4000", i % 250).parse().unwrap();
            b.dp.handle_datagram(&b.fib, 0, from, init, &mut scratch, &mut sink);
        }
    }
    // Then A's real initiation, replayed by an attacker from elsewhere.
    let mut a_out = Recorder::default();
    let mut ping = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], b"x");
    a.dp.handle_tun_packet(&a.fib, &mut ping, &mut scratch, &mut a_out);
    let attacker: SocketAddr = "203.0.113.66:6666".parse().unwrap();
    let mut out = Recorder::default();
    b.dp.handle_datagram(&b.fib, 0, attacker, &a_out.net[0].2, &mut scratch, &mut out);
    assert_eq!(
        b.dp.tunnels()[0].remote(),
        A_ADDR.parse::<SocketAddr>().unwrap(),
        "a cookie reply or a refused init must not move the tunnel"
    );
    assert_eq!(
        b.dp.tunnels()[0]
            .counters
            .handshakes
            .load(Ordering::Relaxed),
        0
    );
    assert!(
        out.net.iter().all(|(_, _, d)| d.first() == Some(&3)),
        "only cookie replies go out"
    );
}

#[test]
fn a_local_process_cannot_forge_our_liveness_probes() {
    let (a, _) = pair();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut out = Recorder::default();
    // UDP to the far side's inside address, port 3784, TTL 255: a probe.
    let mut forged = [0u8; 128];
    let len = crate::packet::build_bfd_packet(
        Ipv4Addr::new(169, 254, 10, 2),
        Ipv4Addr::new(169, 254, 10, 1),
        50000,
        &[0x08; 24],
        &mut forged,
    )
    .unwrap();
    a.dp.handle_tun_packet(&a.fib, &mut forged[..len], &mut scratch, &mut out);
    assert!(out.net.is_empty(), "a forged probe must not be sent");
    assert_eq!(a.dp.counters.tun_malformed.load(Ordering::Relaxed), 1);
    // Nor over the IPv6 inside addresses.
    let len = crate::packet::build_bfd_packet_v6(
        "fd00:0:0:10::2".parse().unwrap(),
        "fd00:0:0:10::1".parse().unwrap(),
        50000,
        &[0x08; 24],
        &mut forged,
    )
    .unwrap();
    a.dp.handle_tun_packet(&a.fib, &mut forged[..len], &mut scratch, &mut out);
    assert!(out.net.is_empty(), "a forged IPv6 probe must not be sent");
    assert_eq!(a.dp.counters.tun_malformed.load(Ordering::Relaxed), 2);
}

#[test]
fn fragments_of_one_datagram_hash_alike() {
    let mut first = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], &[1; 64]);
    first[6] = 0x20; // MF
    let mut later = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], &[2; 64]);
    later[6] = 0x00;
    later[7] = 0x09; // offset 72
    later[20..24].copy_from_slice(&[9, 9, 9, 9]); // payload bytes where ports would be
    assert_eq!(super::flow_hash(&first), super::flow_hash(&later));
}

#[test]
fn a_batch_keeps_order_counts_once_and_survives_junk_and_a_handshake_inside() {
    let (a, b) = pair();
    let first = ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], b"first");
    let mut a_out = handshake(&a, &b, &mut first.clone());
    carry(&mut a_out, &b, A_ADDR);

    // Ten packets read from A's TUN in one batch.
    let mut packets: Vec<Vec<u8>> = (0..10u8)
        .map(|i| ipv4_udp([10, 1, 0, 10], [10, 2, 0, 10], &[i; 40]))
        .collect();
    let sent = packets.clone();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut a_out = Recorder::default();
    let tx_before = a.dp.tunnels()[0]
        .counters
        .tx_packets
        .load(Ordering::Relaxed);
    a.dp.handle_tun_batch(
        &a.fib,
        packets.iter_mut().map(|p| p.as_mut_slice()),
        &mut scratch,
        &mut a_out,
    );
    assert_eq!(a_out.net.len(), 10);
    assert_eq!(
        a.dp.tunnels()[0]
            .counters
            .tx_packets
            .load(Ordering::Relaxed)
            - tx_before,
        10
    );

    // B gets them as one GRO train, with junk and a fresh handshake
    // initiation from A in the middle.
    let mut init = Recorder::default();
    // A responder takes at most one initiation per 20 ms from a peer (as
    // wireguard-go does); the one of the handshake above was just now.
    std::thread::sleep(std::time::Duration::from_millis(25));
    {
        let tunnels = a.dp.tunnels();
        let mut state = tunnels[0].lock();
        let remote = state.remote;
        if let Ok(len) = state.peer.initiate(std::time::Instant::now(), &mut scratch) {
            init.net.push((0, remote, scratch[..len].to_vec()));
        }
    }
    assert_eq!(init.net.len(), 1, "A makes a new initiation");
    let mut train: Vec<Vec<u8>> = a_out.net.iter().map(|n| n.2.clone()).collect();
    train.insert(3, vec![0xff; 60]);
    train.insert(6, init.net[0].2.clone());
    let rx_before = b.dp.tunnels()[0]
        .counters
        .rx_packets
        .load(Ordering::Relaxed);
    let dropped_before = b.dp.endpoints[0]
        .counters
        .dropped_datagrams
        .load(Ordering::Relaxed);
    let mut b_out = Recorder::default();
    b.dp.handle_datagrams(
        &b.fib,
        0,
        A_ADDR.parse().unwrap(),
        train.iter().map(|d| d.as_slice()),
        &mut scratch,
        &mut b_out,
    );
    assert_eq!(b_out.tun, sent, "all ten, in order");
    assert_eq!(
        b.dp.tunnels()[0]
            .counters
            .rx_packets
            .load(Ordering::Relaxed)
            - rx_before,
        10
    );
    assert_eq!(
        b.dp.endpoints[0]
            .counters
            .dropped_datagrams
            .load(Ordering::Relaxed)
            - dropped_before,
        1,
        "the junk is counted"
    );
    assert_eq!(b_out.net.len(), 1, "B answers the initiation");
}

#[test]
fn both_directions_of_a_flow_take_the_same_tun_queue_and_flows_spread() {
    use super::flow_queue;
    let tcp = |src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16| {
        let mut p = ipv4_udp(src, dst, b"x");
        p[9] = 6;
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    };
    let mut used = std::collections::HashSet::new();
    for port in 40000..40064u16 {
        let there = tcp([10, 1, 0, 10], [10, 2, 0, 10], port, 5201);
        let back = tcp([10, 2, 0, 10], [10, 1, 0, 10], 5201, port);
        assert_eq!(flow_queue(&there, 4), flow_queue(&back, 4));
        used.insert(flow_queue(&there, 4));
    }
    assert_eq!(used.len(), 4, "64 flows use every one of 4 queues");
    assert_eq!(flow_queue(&tcp([10, 1, 0, 10], [10, 2, 0, 10], 1, 2), 1), 0);
    assert_eq!(flow_queue(&[0x45], 4), 0, "too short: queue 0, no panic");
    assert_eq!(flow_queue(&[], 4), 0);
}

#[test]
fn junk_does_not_put_the_gateway_under_load_but_a_handshake_flood_does() {
    let (a, b) = pair();
    let from: SocketAddr = A_ADDR.parse().unwrap();
    // A fresh initiation from A.
    let initiation = || {
        let mut buf = [0u8; 256];
        let tunnels = a.dp.tunnels();
        let mut state = tunnels[0].lock();
        let len = state
            .peer
            .initiate(std::time::Instant::now(), &mut buf)
            .expect("initiation");
        buf[..len].to_vec()
    };
    // What B sends back to `datagram`: the first message's type, if any.
    let answer = |datagram: &[u8]| {
        let mut out = Recorder::default();
        let mut scratch = vec![0u8; SCRATCH_LEN];
        b.dp.handle_datagram(&b.fib, 0, from, datagram, &mut scratch, &mut out);
        out.net.first().map(|n| n.2[0])
    };
    // 500 one-byte "initiations": no valid MAC1, not counted.
    for _ in 0..500 {
        answer(&[1]);
    }
    let init = initiation();
    assert_eq!(
        answer(&init),
        Some(2),
        "a handshake response, not a cookie reply"
    );
    // The same initiation again and again: valid MAC1, counted (and
    // refused by the peer as a replay); past the limit, cookies.
    for _ in 0..super::HANDSHAKE_RATE_LIMIT {
        answer(&init);
    }
    assert_eq!(answer(&initiation()), Some(3), "under load: a cookie reply");
    // A second later (the count reset), handshakes are answered again.
    b.dp.reset_rate_limiter();
    std::thread::sleep(std::time::Duration::from_millis(25));
    assert_eq!(answer(&initiation()), Some(2));
}

#[test]
fn a_retired_tunnel_lets_go_of_its_sessions_and_queue() {
    let (a, b) = with_session(false);
    let tunnel = &a.dp.tunnels()[0];
    assert!(tunnel.lock().peer.current().is_some());
    tunnel.lock().queue(&[0u8; 1400]);
    a.dp.retire_tunnels(&[TunnelId(0)]);
    let state = tunnel.lock();
    assert!(state.peer.current().is_none(), "its keys are gone");
    assert_eq!(state.queued.capacity(), 0, "its queue is freed");
    drop(state);
    // Nothing goes out for it any more, and what the far side still sends
    // is not opened.
    let mut out = Recorder::default();
    a.dp.tick_timers(&mut out);
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut ping = ipv4_udp([10, 2, 0, 10], [10, 1, 0, 10], b"late");
    let mut b_out = Recorder::default();
    b.dp.handle_tun_packet(&b.fib, &mut ping, &mut scratch, &mut b_out);
    let a_in = carry(&mut b_out, &a, B_ADDR);
    assert!(out.net.is_empty() && a_in.tun.is_empty());
}
