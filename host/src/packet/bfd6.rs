//! IPv6/UDP encapsulation of single-hop BFD control packets over a tunnel's
//! IPv6 inside addresses, for connections whose BGP sessions run over them
//! (a far side such as BIRD runs BFD over the session's addresses): RFC 5881
//! §4 (UDP destination port 3784) and §5 (Hop Limit 255 on send, checked on
//! receive), the IPv6 header of RFC 8200 §3 with no extension header, and
//! the UDP checksum that IPv6 makes mandatory (RFC 8200 §8.1). The BFD
//! payload is opaque here, as in `bfd`. No I/O, no allocation; a packet that
//! does not match every rule is refused, never panicked on.

use std::net::Ipv6Addr;

use super::bfd::BFD_PORT;
use super::{be16, fold, sum16, IPV6_HEADER};

const NEXT_UDP: u8 = 17;
const UDP_HEADER: usize = 8;
const HOP_LIMIT_GTSM: u8 = 255;

/// Writes an IPv6 header (Hop Limit 255, no flow label), a UDP header
/// (destination port [`BFD_PORT`], valid checksum) and `payload` into `out`,
/// and returns the total length. `None` if `out` is too small or the UDP
/// datagram would exceed 65535 bytes. `src_port` as for IPv4 (RFC 5881 §4).
pub fn build_bfd_packet_v6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    src_port: u16,
    payload: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let udp_len = payload.len().checked_add(UDP_HEADER)?;
    let udp16 = u16::try_from(udp_len).ok()?;
    let total = udp_len.checked_add(IPV6_HEADER)?;
    let out = out.get_mut(..total)?;
    let (ip, rest) = out.split_at_mut(IPV6_HEADER);
    let (udp, data) = rest.split_at_mut(UDP_HEADER);

    let [l0, l1] = udp16.to_be_bytes();
    let (head, addrs) = ip.split_at_mut(8);
    head.copy_from_slice(&[0x60, 0, 0, 0, l0, l1, NEXT_UDP, HOP_LIMIT_GTSM]);
    let (s, d) = addrs.split_at_mut(16);
    s.copy_from_slice(&src.octets());
    d.copy_from_slice(&dst.octets());

    let [sp0, sp1] = src_port.to_be_bytes();
    let [dp0, dp1] = BFD_PORT.to_be_bytes();
    udp.copy_from_slice(&[sp0, sp1, dp0, dp1, l0, l1, 0, 0]);
    data.copy_from_slice(payload);
    let mut ck = !fold(sum16(data, sum16(udp, pseudo_sum(src, dst, udp16))));
    if ck == 0 {
        ck = 0xffff; // A computed zero is sent as all ones.
    }
    if let [.., c0, c1] = udp {
        [*c0, *c1] = ck.to_be_bytes();
    }
    Some(total)
}

/// Returns the UDP payload of `pkt` if it is a BFD control packet for us:
/// IPv6 with UDP as the next header (no extension header), destination
/// `local`, Hop Limit 255 (RFC 5881 §5), destination port [`BFD_PORT`],
/// payload and UDP lengths consistent, and a valid UDP checksum (a zero one
/// is refused: IPv6 has no checksum-less UDP). Bytes past the payload
/// length are ignored.
pub fn parse_bfd_packet_v6(pkt: &[u8], local: Ipv6Addr) -> Option<&[u8]> {
    if pkt.first()? >> 4 != 6
        || *pkt.get(6)? != NEXT_UDP
        || *pkt.get(7)? != HOP_LIMIT_GTSM
        || super::v6_at(pkt, 24)? != local
    {
        return None;
    }
    let payload_len = be16(pkt, 4)?;
    let udp = pkt.get(IPV6_HEADER..IPV6_HEADER.checked_add(usize::from(payload_len))?)?;
    if udp.len() < UDP_HEADER
        || be16(udp, 4)? != payload_len
        || be16(udp, 2)? != BFD_PORT
        || be16(udp, 6)? == 0
    {
        return None;
    }
    let src = super::v6_at(pkt, 8)?;
    if fold(sum16(udp, pseudo_sum(src, local, payload_len))) != 0xffff {
        return None;
    }
    udp.get(UDP_HEADER..)
}

/// One's complement sum of the IPv6 pseudo-header (RFC 8200 §8.1).
fn pseudo_sum(src: Ipv6Addr, dst: Ipv6Addr, udp_len: u16) -> u64 {
    let acc = sum16(&src.octets(), 0);
    let acc = sum16(&dst.octets(), acc);
    acc + u64::from(NEXT_UDP) + u64::from(udp_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0x10, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0x10, 0, 0, 0, 2);

    fn built(payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; 128];
        let n = build_bfd_packet_v6(A, B, 49152, payload, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn the_bytes_as_rfc_8200_and_5881_lay_them_out() {
        let payload: Vec<u8> = (0u8..24).collect();
        let p = built(&payload);
        assert_eq!(p.len(), 40 + 8 + 24);
        // Version 6, no class or label, payload length 32, UDP, hop limit 255.
        assert_eq!(&p[..8], &[0x60, 0, 0, 0, 0, 32, 17, 255]);
        assert_eq!(&p[8..24], &A.octets());
        assert_eq!(&p[24..40], &B.octets());
        // Ports 49152 -> 3784, length 32.
        assert_eq!(&p[40..46], &[0xc0, 0x00, 0x0e, 0xc8, 0, 32]);
        // The checksum over pseudo-header and datagram verifies.
        assert_eq!(fold(sum16(&p[40..], pseudo_sum(A, B, 32))), 0xffff);
        assert_eq!(parse_bfd_packet_v6(&p, B), Some(&payload[..]));
    }

    #[test]
    fn anything_else_is_refused() {
        let payload = [7u8; 24];
        let good = built(&payload);
        assert_eq!(parse_bfd_packet_v6(&good, A), None, "not for us");
        let mut hop = good.clone();
        hop[7] = 254;
        assert_eq!(parse_bfd_packet_v6(&hop, B), None, "hop limit below 255");
        let mut port = good.clone();
        port[43] ^= 1;
        assert_eq!(parse_bfd_packet_v6(&port, B), None, "another port");
        let mut ck = good.clone();
        ck[60] ^= 0xff;
        assert_eq!(parse_bfd_packet_v6(&ck, B), None, "bad checksum");
        let mut zero = good.clone();
        zero[46] = 0;
        zero[47] = 0;
        assert_eq!(parse_bfd_packet_v6(&zero, B), None, "no checksum");
        let mut ext = good.clone();
        ext[6] = 0; // Hop-by-hop options header.
        assert_eq!(parse_bfd_packet_v6(&ext, B), None, "an extension header");
        let mut v4 = good.clone();
        v4[0] = 0x45;
        assert_eq!(parse_bfd_packet_v6(&v4, B), None, "IPv4");
        // Truncated at every length: refused, never a panic.
        for n in 0..good.len() {
            assert_eq!(parse_bfd_packet_v6(&good[..n], B), None, "{n} bytes");
        }
        // Bytes past the payload length are ignored.
        let mut long = good.clone();
        long.extend_from_slice(&[0xaa; 5]);
        assert_eq!(parse_bfd_packet_v6(&long, B), Some(&payload[..]));
    }

    #[test]
    fn a_buffer_too_small_builds_nothing() {
        let mut out = [0u8; 40 + 8 + 23];
        assert_eq!(build_bfd_packet_v6(A, B, 49152, &[0; 24], &mut out), None);
    }
}
