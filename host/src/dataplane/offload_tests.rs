//! Tests of the TUN offload logic the data path relies on, with real packet
//! bytes: a TSO/USO super-packet from the kernel split into segments
//! (`tun_rs::gso_split`, what `recv_multiple` does), and decrypted segments
//! queued in a [`TunBatch`] coalesced into one super-packet (`GROTable`,
//! what `send_multiple` does on flush). IPv4 and IPv6, TCP and UDP. Every
//! checksum is checked with the independent RFC 1071 helper.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tun_rs::{
    gso_split, GROTable, VirtioNetHdr, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
    VIRTIO_NET_HDR_GSO_UDP_L4,
};

use super::batch::{TunBatch, TUN_HEADROOM};
use crate::packet::test_support::plain_checksum;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 77, 0, last))
}

fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, last))
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The transport checksum over the pseudo-header and `l4` (0 when `l4`
/// carries a correct one).
fn l4_checksum(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> u16 {
    let mut bytes = octets(src);
    bytes.extend(octets(dst));
    bytes.extend([0, proto]);
    bytes.extend((l4.len() as u16).to_be_bytes());
    bytes.extend_from_slice(l4);
    plain_checksum(&bytes)
}

/// An IP packet around transport header + payload `l4`, checksums right.
fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, id: u16, mut l4: Vec<u8>) -> Vec<u8> {
    let csum_at = if proto == TCP { 16 } else { 6 };
    l4[csum_at..csum_at + 2].fill(0);
    let c = l4_checksum(src, dst, proto, &l4);
    let c = if proto == UDP && c == 0 { 0xffff } else { c };
    l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    let mut p = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
            h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            h.extend(s.octets());
            h.extend(d.octets());
            let c = plain_checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h
        }
        _ => {
            let mut h = vec![0x60, 0, 0, 0, 0, 0, proto, 64];
            h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
            h.extend(octets(src));
            h.extend(octets(dst));
            h
        }
    };
    p.extend(l4);
    p
}

fn tcp(src: IpAddr, dst: IpAddr, seq: u32, id: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&40000u16.to_be_bytes());
    l4[2..4].copy_from_slice(&5201u16.to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..12].copy_from_slice(&7u32.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&512u16.to_be_bytes());
    l4.extend_from_slice(payload);
    ip_packet(src, dst, TCP, id, l4)
}

fn udp(src: IpAddr, dst: IpAddr, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 8];
    l4[0..2].copy_from_slice(&40000u16.to_be_bytes());
    l4[2..4].copy_from_slice(&5201u16.to_be_bytes());
    l4[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    l4.extend_from_slice(payload);
    ip_packet(src, dst, UDP, id, l4)
}

fn ip_header_len(p: &[u8]) -> usize {
    if p[0] >> 4 == 4 {
        usize::from(p[0] & 0x0f) * 4
    } else {
        40
    }
}

/// Checks the IP length field and every checksum of `p`.
fn assert_valid(p: &[u8], src: IpAddr, dst: IpAddr, proto: u8) {
    let ihl = ip_header_len(p);
    if p[0] >> 4 == 4 {
        assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
        assert_eq!(plain_checksum(&p[..ihl]), 0, "IPv4 header checksum");
    } else {
        assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), p.len() - 40);
    }
    assert_eq!(
        l4_checksum(src, dst, proto, &p[ihl..]),
        0,
        "transport checksum"
    );
}

/// The payload bytes of segment `i`, distinct for every segment.
fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|b| (i * 31 + b) as u8).collect()
}

/// A super-packet as the kernel hands it over with offloads: headers of the
/// first segment, all payloads behind, the transport checksum field holding
/// the pseudo-header sum (CHECKSUM_PARTIAL), and its virtio-net header.
fn super_packet(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payloads: &[Vec<u8>],
) -> (Vec<u8>, VirtioNetHdr) {
    let all: Vec<u8> = payloads.concat();
    let mut p = if proto == TCP {
        tcp(src, dst, 1000, 1, ACK | PSH, &all)
    } else {
        udp(src, dst, 1, &all)
    };
    let ihl = ip_header_len(&p);
    let l4_header = if proto == TCP { 20 } else { 8 };
    let csum_offset: u16 = if proto == TCP { 16 } else { 6 };
    let at = ihl + usize::from(csum_offset);
    p[at..at + 2].fill(0);
    let v6 = matches!(src, IpAddr::V6(_));
    let hdr = VirtioNetHdr {
        flags: 1, // VIRTIO_NET_HDR_F_NEEDS_CSUM
        gso_type: gso_type(proto, v6),
        hdr_len: (ihl + l4_header) as u16,
        gso_size: payloads[0].len() as u16,
        csum_start: ihl as u16,
        csum_offset,
    };
    (p, hdr)
}

/// The virtio-net GSO type of a super-packet of `proto` over IPv4 or IPv6.
fn gso_type(proto: u8, v6: bool) -> u8 {
    match (proto, v6) {
        (TCP, false) => VIRTIO_NET_HDR_GSO_TCPV4,
        (TCP, true) => VIRTIO_NET_HDR_GSO_TCPV6,
        _ => VIRTIO_NET_HDR_GSO_UDP_L4,
    }
}

fn split(mut input: Vec<u8>, hdr: VirtioNetHdr, v6: bool) -> Vec<Vec<u8>> {
    let mut out = vec![vec![0u8; 1500]; 8];
    let mut sizes = vec![0usize; 8];
    let n = gso_split(&mut input, hdr, &mut out, &mut sizes, 0, v6).expect("split");
    out.iter()
        .zip(&sizes)
        .take(n)
        .map(|(b, len)| b[..*len].to_vec())
        .collect()
}

fn check_split(src: IpAddr, dst: IpAddr, proto: u8) {
    let payloads = [payload(0, 1000), payload(1, 1000), payload(2, 300)];
    let (input, hdr) = super_packet(src, dst, proto, &payloads);
    let segments = split(input, hdr, matches!(src, IpAddr::V6(_)));
    assert_eq!(segments.len(), 3);
    for (i, seg) in segments.iter().enumerate() {
        assert_valid(seg, src, dst, proto);
        let ihl = ip_header_len(seg);
        let l4 = &seg[ihl..];
        if proto == TCP {
            let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
            assert_eq!(
                seq,
                1000 + 1000 * i as u32,
                "sequence number of segment {i}"
            );
            let psh = l4[13] & PSH != 0;
            assert_eq!(psh, i == 2, "PSH only on the last segment");
            assert_eq!(&l4[20..], &payloads[i][..]);
        } else {
            assert_eq!(usize::from(u16::from_be_bytes([l4[4], l4[5]])), l4.len());
            assert_eq!(&l4[8..], &payloads[i][..]);
        }
    }
}

#[test]
fn tso_super_packets_split_into_valid_segments() {
    check_split(v4(1), v4(2), TCP);
    check_split(v6(1), v6(2), TCP);
}

#[test]
fn uso_super_packets_split_into_valid_datagrams() {
    check_split(v4(1), v4(2), UDP);
    check_split(v6(1), v6(2), UDP);
}

#[test]
fn a_super_packet_with_a_lying_header_is_refused_not_panicking() {
    let (input, mut hdr) = super_packet(v4(1), v4(2), TCP, &[payload(0, 100)]);
    hdr.csum_offset = 6; // a UDP offset on a TCP packet
    let mut out = vec![vec![0u8; 1500]; 4];
    let mut sizes = vec![0usize; 4];
    assert!(gso_split(&mut input.clone(), hdr, &mut out, &mut sizes, 0, false).is_err());
    hdr.csum_offset = 16;
    hdr.hdr_len = 2000; // beyond the packet
    assert!(gso_split(&mut input.clone(), hdr, &mut out, &mut sizes, 0, false).is_err());
    // More segments than output buffers.
    hdr.hdr_len = 40;
    hdr.gso_size = 10;
    assert!(gso_split(&mut input.clone(), hdr, &mut out, &mut sizes, 0, false).is_err());
}

/// Queues `packets` in a TunBatch, coalesces them as a flush does, and
/// returns the buffers with their virtio-net headers.
fn coalesce(packets: &[Vec<u8>], udp_gro: bool) -> Vec<Vec<u8>> {
    let mut batch = TunBatch::new(packets.len());
    for p in packets {
        assert!(batch.push(p));
    }
    let mut gro = GROTable::default();
    gro.apply_gro(batch.queued(), TUN_HEADROOM, udp_gro)
        .expect("coalesce");
    batch.queued().to_vec()
}

fn check_coalesce(src: IpAddr, dst: IpAddr, proto: u8) {
    let v6 = matches!(src, IpAddr::V6(_));
    let payloads: Vec<Vec<u8>> = (0..3).map(|i| payload(i, 1000)).collect();
    let segments: Vec<Vec<u8>> = payloads
        .iter()
        .enumerate()
        .map(|(i, pl)| {
            let flags = if i == 2 { ACK | PSH } else { ACK };
            if proto == TCP {
                tcp(src, dst, 1000 + 1000 * i as u32, 1 + i as u16, flags, pl)
            } else {
                udp(src, dst, 1 + i as u16, pl)
            }
        })
        .collect();
    let bufs = coalesce(&segments, true);
    // The first buffer became the super-packet: its header says how to cut
    // it, its length field covers all three payloads.
    let head = &bufs[0];
    let hdr = VirtioNetHdr::decode(&head[..TUN_HEADROOM]).expect("header");
    assert_eq!(hdr.gso_type, gso_type(proto, v6));
    assert_eq!(hdr.gso_size, 1000);
    let packet = head[TUN_HEADROOM..].to_vec();
    let l4_header = if proto == TCP { 20 } else { 8 };
    assert_eq!(packet.len(), ip_header_len(&packet) + l4_header + 3000);
    // What the kernel would do with it: split it again. The segments that
    // come out are the ones that went in, byte for byte.
    let again = split(packet, hdr, v6);
    assert_eq!(again.len(), 3);
    for (i, (got, sent)) in again.iter().zip(&segments).enumerate() {
        assert_valid(got, src, dst, proto);
        let ihl = ip_header_len(sent);
        assert_eq!(&got[ihl..], &sent[ihl..], "segment {i} transport bytes");
    }
}

#[test]
fn consecutive_tcp_segments_coalesce_into_one_super_packet() {
    check_coalesce(v4(1), v4(2), TCP);
    check_coalesce(v6(1), v6(2), TCP);
}

#[test]
fn udp_datagrams_of_one_flow_coalesce_when_the_device_allows() {
    check_coalesce(v4(1), v4(2), UDP);
    check_coalesce(v6(1), v6(2), UDP);
}

#[test]
fn segments_out_of_order_or_of_other_flows_stay_apart() {
    let (src, dst) = (v4(1), v4(2));
    let a = tcp(src, dst, 1000, 1, ACK, &payload(0, 1000));
    let gap = tcp(src, dst, 5000, 2, ACK, &payload(1, 1000));
    let other = tcp(v4(3), dst, 2000, 3, ACK, &payload(2, 1000));
    let bufs = coalesce(&[a.clone(), gap.clone(), other.clone()], true);
    for (buf, sent) in bufs.iter().zip([&a, &gap, &other]) {
        let hdr = VirtioNetHdr::decode(&buf[..TUN_HEADROOM]).expect("header");
        assert_eq!(hdr.gso_type, 0, "not coalesced");
        let ihl = ip_header_len(sent);
        assert_eq!(&buf[TUN_HEADROOM + ihl..], &sent[ihl..]);
    }
}
