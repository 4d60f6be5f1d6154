//! IPv4/UDP encapsulation of single-hop BFD control packets sent over a
//! tunnel's inside addresses (RFC 5881 §4: UDP destination port 3784; §5: TTL
//! 255 on send, and GTSM on receive, RFC 5082). It owns the outer IPv4 header
//! (RFC 791 §3.1) and UDP header (RFC 768) only: the BFD payload is opaque here
//! and is encoded and checked by `liveness::bfd`. No I/O, no allocation; a
//! packet that does not match every rule is refused, never panicked on.

use std::net::Ipv4Addr;

use super::{be16, fold, sum16, unfragmented_ipv4, IPV4_MIN_HEADER};

/// UDP destination port of single-hop BFD control packets (RFC 5881 §4).
pub const BFD_PORT: u16 = 3784;

const PROTO_UDP: u8 = 17;
const UDP_HEADER: usize = 8;
const TTL_GTSM: u8 = 255;

/// Writes an IPv4 header (TTL 255, DF, id 0, valid header checksum), a UDP
/// header (destination port [`BFD_PORT`], valid checksum) and `payload` into
/// `out`, and returns the total length. `None` if `out` is too small or the
/// packet would exceed 65535 bytes.
///
/// RFC 5881 §4 wants `src_port` in 49152..=65535, and the same one for the
/// life of a session; choosing it is the caller's job.
pub fn build_bfd_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    payload: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let udp_len = payload.len().checked_add(UDP_HEADER)?;
    let total = udp_len.checked_add(IPV4_MIN_HEADER)?;
    let total16 = u16::try_from(total).ok()?;
    let udp16 = u16::try_from(udp_len).ok()?;
    let out = out.get_mut(..total)?;
    let (ip, rest) = out.split_at_mut(IPV4_MIN_HEADER);
    let (udp, data) = rest.split_at_mut(UDP_HEADER);

    let [t0, t1] = total16.to_be_bytes();
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    let mut hdr = [
        0x45, 0, t0, t1, // version 4, IHL 5, TOS 0, total length
        0, 0, 0x40, 0, // id 0, DF, fragment offset 0
        TTL_GTSM, PROTO_UDP, 0, 0, // TTL, protocol, checksum (below)
        s0, s1, s2, s3, d0, d1, d2, d3,
    ];
    let hc = !fold(sum16(&hdr, 0));
    let [h0, h1] = hc.to_be_bytes();
    hdr[10] = h0;
    hdr[11] = h1;
    ip.copy_from_slice(&hdr);

    let [sp0, sp1] = src_port.to_be_bytes();
    let [dp0, dp1] = BFD_PORT.to_be_bytes();
    let [l0, l1] = udp16.to_be_bytes();
    udp.copy_from_slice(&[sp0, sp1, dp0, dp1, l0, l1, 0, 0]);
    data.copy_from_slice(payload);
    let mut ck = !fold(sum16(data, sum16(udp, pseudo_sum(src, dst, udp16))));
    if ck == 0 {
        ck = 0xffff; // RFC 768: a computed zero is sent as all ones.
    }
    if let [.., c0, c1] = udp {
        [*c0, *c1] = ck.to_be_bytes();
    }
    Some(total)
}

/// Returns the UDP payload of `pkt` if it is a BFD control packet for us: IPv4
/// with a valid header checksum, not a fragment, destination `local`, protocol
/// UDP, TTL 255 (RFC 5881 §5), destination port [`BFD_PORT`], IP and UDP
/// lengths consistent, and a UDP checksum that is either absent (zero) or
/// valid. Bytes past the IP total length are ignored.
pub fn parse_bfd_packet(pkt: &[u8], local: Ipv4Addr) -> Option<&[u8]> {
    // Never a fragment (checked by unfragmented_ipv4).
    let ip = unfragmented_ipv4(pkt, UDP_HEADER)?;
    if ip.ttl != TTL_GTSM || ip.protocol != PROTO_UDP || ip.dst != local {
        return None;
    }
    let (src, dst, udp) = (ip.src, ip.dst, ip.payload);
    let udp_len = be16(udp, 4)?;
    if usize::from(udp_len) != udp.len() || be16(udp, 2)? != BFD_PORT {
        return None;
    }
    if be16(udp, 6)? != 0 && fold(sum16(udp, pseudo_sum(src, dst, udp_len))) != 0xffff {
        return None;
    }
    udp.get(UDP_HEADER..)
}

/// One's complement sum of the IPv4 UDP pseudo-header (RFC 768).
fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u64 {
    let acc = sum16(&src.octets(), 0);
    let acc = sum16(&dst.octets(), acc);
    acc + u64::from(PROTO_UDP) + u64::from(udp_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(169, 254, 10, 1);
    const B: Ipv4Addr = Ipv4Addr::new(169, 254, 10, 2);

    use crate::packet::test_support::{fix_ipv4_checksum, plain_checksum};

    fn built(payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; 128];
        let n = build_bfd_packet(A, B, 49152, payload, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn round_trip() {
        let payload: Vec<u8> = (0u8..24).collect();
        let p = built(&payload);
        assert_eq!(p.len(), 20 + 8 + 24);
        assert_eq!(&p[..4], &[0x45, 0, 0, 52]);
        assert_eq!(&p[4..10], &[0, 0, 0x40, 0, 255, 17]);
        assert_eq!(plain_checksum(&p[..20]), 0);
        assert_eq!(&p[20..26], &[0xc0, 0x00, 0x0e, 0xc8, 0, 32]);
        let mut pseudo = p[12..20].to_vec();
        pseudo.extend_from_slice(&[0, 17, 0, 32]);
        pseudo.extend_from_slice(&p[20..]);
        assert_eq!(plain_checksum(&pseudo), 0);
        assert_eq!(parse_bfd_packet(&p, B), Some(&payload[..]));
        // Odd-length payload, and trailing bytes past the total length.
        let q = built(b"odd");
        assert_eq!(parse_bfd_packet(&q, B), Some(&b"odd"[..]));
        let mut r = q.clone();
        r.extend_from_slice(&[9, 9]);
        assert_eq!(parse_bfd_packet(&r, B), Some(&b"odd"[..]));
        // A zero UDP checksum means none was computed.
        let mut z = built(&payload);
        z[26] = 0;
        z[27] = 0;
        assert_eq!(parse_bfd_packet(&z, B), Some(&payload[..]));
    }

    #[test]
    fn out_too_small() {
        let mut out = [0u8; 51];
        assert_eq!(build_bfd_packet(A, B, 49152, &[0; 24], &mut out), None);
        let mut big = vec![0u8; 70_000];
        let payload = vec![0u8; 65_510];
        assert_eq!(build_bfd_packet(A, B, 49152, &payload, &mut big), None);
    }

    #[test]
    fn refused() {
        let good = built(&[1; 24]);
        let mut ttl = good.clone();
        ttl[8] = 254;
        fix_ipv4_checksum(&mut ttl);
        assert_eq!(parse_bfd_packet(&ttl, B), None, "TTL 254");
        let mut port = good.clone();
        port[23] = 0xc9; // 3785: echo port
        assert_eq!(parse_bfd_packet(&port, B), None, "port");
        assert_eq!(parse_bfd_packet(&good, A), None, "wrong dst");
        let mut ck = good.clone();
        ck[10] ^= 0x01;
        assert_eq!(parse_bfd_packet(&ck, B), None, "IP checksum");
        let mut udp_ck = good.clone();
        udp_ck[30] ^= 0x01;
        assert_eq!(parse_bfd_packet(&udp_ck, B), None, "UDP checksum");
        let mut proto = good.clone();
        proto[9] = 6;
        fix_ipv4_checksum(&mut proto);
        assert_eq!(parse_bfd_packet(&proto, B), None, "TCP");
        let mut ulen = good.clone();
        ulen[25] -= 1;
        assert_eq!(parse_bfd_packet(&ulen, B), None, "UDP length");
        let mut frag = good.clone();
        frag[6] |= 0x20;
        fix_ipv4_checksum(&mut frag);
        assert_eq!(parse_bfd_packet(&frag, B), None, "more fragments");
        let mut v6 = good.clone();
        v6[0] = 0x65;
        assert_eq!(parse_bfd_packet(&v6, B), None, "version");
        for n in 0..good.len() {
            assert_eq!(parse_bfd_packet(&good[..n], B), None, "prefix {n}");
        }
    }
}
