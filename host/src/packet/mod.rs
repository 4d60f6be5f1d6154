//! Pure functions over raw IP packet bytes for the data path: the IP version and
//! addresses of a packet (RFC 791 §3.1, RFC 8200 §3), TCP MSS clamping on SYNs
//! crossing a tunnel (RFC 9293 §3.7.1, checksum fixed incrementally per RFC 1624
//! eqn. 3), the IPv4/UDP and IPv6/UDP encapsulations of BFD probes over a
//! tunnel's inside addresses (RFC 5881 §4 and §5, UDP per RFC 768 and RFC
//! 8200 §8.1), and the ICMP echo probes
//! for far sides without BFD (RFC 792). This module owns byte layout
//! only: it does no I/O, keeps no state, allocates nothing and never panics on
//! untrusted input (every read is bounds-checked, malformed input yields `None`
//! or an untouched packet). It must not know about tunnels, routes or sessions:
//! the BFD state machine lives in `liveness::bfd`, the FIB in `dataplane`.

mod bfd;
mod bfd6;
pub mod echo;
mod mss;
#[cfg(test)]
pub(crate) mod test_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use bfd::{build_bfd_packet, parse_bfd_packet, BFD_PORT};
pub use bfd6::{build_bfd_packet_v6, parse_bfd_packet_v6};
pub use echo::{build_echo_request, parse_echo_reply};
pub use mss::clamp_mss;

/// A BFD control packet from `src` to `dst` (both of one family), as
/// [`build_bfd_packet`] or [`build_bfd_packet_v6`] builds it; `None` for
/// mixed families or a buffer too small.
pub fn build_bfd(
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    payload: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => build_bfd_packet(s, d, src_port, payload, out),
        (IpAddr::V6(s), IpAddr::V6(d)) => build_bfd_packet_v6(s, d, src_port, payload, out),
        _ => None,
    }
}

/// The BFD payload of `pkt` if it is a BFD control packet for `local`, of
/// `local`'s family ([`parse_bfd_packet`], [`parse_bfd_packet_v6`]).
pub fn parse_bfd(pkt: &[u8], local: IpAddr) -> Option<&[u8]> {
    match local {
        IpAddr::V4(a) => parse_bfd_packet(pkt, a),
        IpAddr::V6(a) => parse_bfd_packet_v6(pkt, a),
    }
}

/// Minimum IPv4 header length (IHL = 5).
const IPV4_MIN_HEADER: usize = 20;
/// Fixed IPv6 header length.
const IPV6_HEADER: usize = 40;

/// The IP version (4 or 6) of `pkt`, if it is long enough to hold that
/// version's fixed header (20 bytes for IPv4, 40 for IPv6).
pub fn ip_version(pkt: &[u8]) -> Option<u8> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= IPV4_MIN_HEADER => Some(4),
        6 if pkt.len() >= IPV6_HEADER => Some(6),
        _ => None,
    }
}

/// The length an IPv4 or IPv6 packet's header gives it (IPv4's total
/// length, IPv6's payload length plus its fixed header), if `pkt` holds at
/// least that much: a decrypted WireGuard payload is padded, and the padding
/// must not reach the TUN device. None for anything else, or a packet
/// claiming more bytes than it has.
pub fn ip_len(pkt: &[u8]) -> Option<usize> {
    let len = match ip_version(pkt)? {
        4 => usize::from(u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?])),
        _ => IPV6_HEADER + usize::from(u16::from_be_bytes([*pkt.get(4)?, *pkt.get(5)?])),
    };
    let min = if pkt.first()? >> 4 == 4 {
        IPV4_MIN_HEADER
    } else {
        IPV6_HEADER
    };
    (min..=pkt.len()).contains(&len).then_some(len)
}

/// The source address of an IPv4 or IPv6 packet.
pub fn src_addr(pkt: &[u8]) -> Option<IpAddr> {
    match ip_version(pkt)? {
        4 => v4_at(pkt, 12).map(IpAddr::V4),
        _ => v6_at(pkt, 8).map(IpAddr::V6),
    }
}

/// The destination address of an IPv4 or IPv6 packet.
pub fn dst_addr(pkt: &[u8]) -> Option<IpAddr> {
    match ip_version(pkt)? {
        4 => v4_at(pkt, 16).map(IpAddr::V4),
        _ => v6_at(pkt, 24).map(IpAddr::V6),
    }
}

fn v4_at(pkt: &[u8], off: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = pkt.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn v6_at(pkt: &[u8], off: usize) -> Option<Ipv6Addr> {
    let b: [u8; 16] = pkt.get(off..off.checked_add(16)?)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

/// Big-endian u16 at `off`, if in bounds.
/// A whole, unfragmented IPv4 packet with a valid header checksum, as the
/// probe parsers need it (RFC 791 §3.1).
struct Ipv4Packet<'a> {
    ttl: u8,
    protocol: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    /// What follows the header, up to the total length.
    payload: &'a [u8],
}

/// `pkt` as an [`Ipv4Packet`] whose payload holds at least `min_payload`
/// bytes: IHL at least 5, total length within the buffer (bytes past it
/// are ignored), valid header checksum, MF clear and offset 0.
fn unfragmented_ipv4(pkt: &[u8], min_payload: usize) -> Option<Ipv4Packet<'_>> {
    if ip_version(pkt)? != 4 {
        return None;
    }
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let total = usize::from(be16(pkt, 2)?);
    if ihl < IPV4_MIN_HEADER || total < ihl.checked_add(min_payload)? {
        return None;
    }
    let pkt = pkt.get(..total)?;
    if fold(sum16(pkt.get(..ihl)?, 0)) != 0xffff || be16(pkt, 6)? & 0x3fff != 0 {
        return None;
    }
    Some(Ipv4Packet {
        ttl: *pkt.get(8)?,
        protocol: *pkt.get(9)?,
        src: Ipv4Addr::from(<[u8; 4]>::try_from(pkt.get(12..16)?).ok()?),
        dst: Ipv4Addr::from(<[u8; 4]>::try_from(pkt.get(16..20)?).ok()?),
        payload: pkt.get(ihl..)?,
    })
}

fn be16(buf: &[u8], off: usize) -> Option<u16> {
    let b: [u8; 2] = buf.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

/// Adds `data` to a one's complement accumulator as big-endian 16-bit words
/// (an odd trailing byte is padded with zero), RFC 1071.
fn sum16(data: &[u8], acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut acc = acc;
    for c in &mut chunks {
        if let [hi, lo] = c {
            acc += u64::from(u16::from_be_bytes([*hi, *lo]));
        }
    }
    if let [b] = chunks.remainder() {
        acc += u64::from(*b) << 8;
    }
    acc
}

/// Folds the carries of a one's complement accumulator into 16 bits.
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves at most 16 significant bits.
    u16::try_from(acc).unwrap_or(0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_addresses() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(ip_version(&v4), Some(4));
        assert_eq!(src_addr(&v4), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(dst_addr(&v4), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(ip_version(&v4[..19]), None);
        assert_eq!(src_addr(&v4[..19]), None);

        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        let s: Ipv6Addr = "fd00::1".parse().unwrap();
        let d: Ipv6Addr = "fd00::2".parse().unwrap();
        v6[8..24].copy_from_slice(&s.octets());
        v6[24..40].copy_from_slice(&d.octets());
        assert_eq!(ip_version(&v6), Some(6));
        assert_eq!(src_addr(&v6), Some(IpAddr::V6(s)));
        assert_eq!(dst_addr(&v6), Some(IpAddr::V6(d)));
        assert_eq!(dst_addr(&v6[..39]), None);

        assert_eq!(ip_version(&[]), None);
        let mut junk = [0u8; 64];
        junk[0] = 0x50;
        assert_eq!(ip_version(&junk), None);
        assert_eq!(src_addr(&junk), None);
    }

    #[test]
    fn checksum_helpers() {
        // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum16(&data, 0)), 0xddf2);
        assert_eq!(fold(sum16(&[0xab], 0)), 0xab00);
        assert_eq!(be16(&[1, 2], 0), Some(0x0102));
        assert_eq!(be16(&[1, 2], 1), None);
        assert_eq!(be16(&[1, 2], usize::MAX), None);
    }
}
