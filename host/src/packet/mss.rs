//! TCP MSS clamping for SYN segments crossing a tunnel: locate the TCP header
//! behind an IPv4 header (RFC 791 §3.1, honouring IHL and fragments) or an IPv6
//! header and its hop-by-hop / routing / destination-options extension headers
//! (RFC 8200 §4), find the MSS option (RFC 9293 §3.1 and §3.7.1) and lower it to
//! the tunnel MTU minus 40 (IPv4) or 60 (IPv6) bytes, fixing the TCP checksum
//! incrementally with RFC 1624 eqn. 3. It owns only that rewrite: it never
//! touches any other byte of the packet, and malformed input leaves the packet
//! untouched.

use super::{be16, fold, ip_version, IPV6_HEADER};

const PROTO_TCP: u8 = 6;
const TCP_MIN_HEADER: usize = 20;
const TCP_FLAG_SYN: u8 = 0x02;
const TCP_CHECKSUM_OFFSET: usize = 16;
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

/// Clamps the MSS option of a TCP SYN (or SYN-ACK) in `pkt` to the largest
/// value that fits in `mtu`: `mtu - 40` for IPv4, `mtu - 60` for IPv6.
///
/// Returns `true` when it rewrote the option (and the TCP checksum). Anything
/// else (not TCP, not a SYN, a non-first IPv4 fragment, an IPv6 fragment or an
/// unknown extension header before TCP, no MSS option, an MSS already small
/// enough, malformed headers or options, an `mtu` no larger than the header
/// overhead) leaves the packet untouched and returns `false`.
pub fn clamp_mss(pkt: &mut [u8], mtu: u16) -> bool {
    let Some((start, end, inner_v6)) = locate_tcp(pkt) else {
        return false;
    };
    let limit = match crate::mtu::mss(mtu, inner_v6) {
        0 => return false,
        l => l,
    };
    match pkt.get_mut(start..end) {
        Some(tcp) => clamp_tcp(tcp, limit),
        None => false,
    }
}

/// The byte range of the TCP segment in `pkt` and whether it is IPv6, if
/// `pkt` is a well-formed IP packet carrying TCP.
fn locate_tcp(pkt: &[u8]) -> Option<(usize, usize, bool)> {
    match ip_version(pkt)? {
        4 => {
            let ihl = usize::from(pkt.first()? & 0x0f) * 4;
            let total = usize::from(be16(pkt, 2)?);
            if ihl < super::IPV4_MIN_HEADER || total < ihl || total > pkt.len() {
                return None;
            }
            let frag_offset = be16(pkt, 6)? & 0x1fff;
            if frag_offset != 0 || *pkt.get(9)? != PROTO_TCP {
                return None;
            }
            Some((ihl, total, false))
        }
        _ => {
            let payload = usize::from(be16(pkt, 4)?);
            // A zero payload length means a jumbogram (RFC 2675): not ours.
            let end = IPV6_HEADER.checked_add(payload)?;
            if payload == 0 || end > pkt.len() {
                return None;
            }
            let mut next = *pkt.get(6)?;
            let mut off = IPV6_HEADER;
            loop {
                match next {
                    PROTO_TCP => return Some((off, end, true)),
                    // Hop-by-hop, routing, destination options: length in
                    // 8-octet units, not counting the first 8 (RFC 8200 §4.3).
                    0 | 43 | 60 => {
                        next = *pkt.get(off)?;
                        let len = (usize::from(*pkt.get(off.checked_add(1)?)?) + 1) * 8;
                        off = off.checked_add(len)?;
                        if off > end {
                            return None;
                        }
                    }
                    _ => return None,
                }
            }
        }
    }
}

/// Clamps the MSS of the TCP segment `tcp` (header and payload) to `limit`.
fn clamp_tcp(tcp: &mut [u8], limit: u16) -> bool {
    let (Some(&doff_byte), Some(&flags)) = (tcp.get(12), tcp.get(13)) else {
        return false;
    };
    if flags & TCP_FLAG_SYN == 0 {
        return false;
    }
    let doff = usize::from(doff_byte >> 4) * 4;
    if doff < TCP_MIN_HEADER || doff > tcp.len() {
        return false;
    }
    let Some(opts) = tcp.get(TCP_MIN_HEADER..doff) else {
        return false;
    };
    let Some(Some(at)) = find_mss(opts) else {
        return false;
    };
    let pos = TCP_MIN_HEADER + at;
    let (Some(old), Some(csum)) = (be16(tcp, pos), be16(tcp, TCP_CHECKSUM_OFFSET)) else {
        return false;
    };
    if old <= limit {
        return false;
    }
    // The checksum sums 16-bit words aligned on the start of the TCP header: a
    // field at an odd offset straddles two words, and its contribution to the
    // one's complement sum is its byte-swapped value (RFC 1071 §2 (B)).
    let (m, m_new) = if pos & 1 == 0 {
        (old, limit)
    } else {
        (old.swap_bytes(), limit.swap_bytes())
    };
    let new_csum = incremental_update(csum, m, m_new);
    write16(tcp, pos, limit);
    write16(tcp, TCP_CHECKSUM_OFFSET, new_csum);
    true
}

/// Walks TCP options. `None`: malformed (length 0 or 1, an option running past
/// the header, an MSS option whose length is not 4, two MSS options).
/// `Some(None)`: well formed, no MSS. `Some(Some(i))`: the MSS value is at
/// `opts[i..i + 2]`.
fn find_mss(opts: &[u8]) -> Option<Option<usize>> {
    let mut i = 0usize;
    let mut found = None;
    while let Some(&kind) = opts.get(i) {
        match kind {
            OPT_EOL => break,
            OPT_NOP => i += 1,
            _ => {
                let len = usize::from(*opts.get(i.checked_add(1)?)?);
                let next = i.checked_add(len)?;
                if len < 2 || next > opts.len() {
                    return None;
                }
                if kind == OPT_MSS {
                    if len != 4 || found.is_some() {
                        return None;
                    }
                    found = Some(i + 2);
                }
                i = next;
            }
        }
    }
    Some(found)
}

/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`.
fn incremental_update(hc: u16, m: u16, m_new: u16) -> u16 {
    !fold(u64::from(!hc) + u64::from(!m) + u64::from(m_new))
}

fn write16(buf: &mut [u8], off: usize, v: u16) {
    if let Some(dst) = buf.get_mut(off..off.saturating_add(2)) {
        if dst.len() == 2 {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deliberately plain Internet checksum (RFC 1071), independent of the
    /// module's helpers.
    fn full_checksum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i < bytes.len() {
            let hi = bytes[i] as u32;
            let lo = if i + 1 < bytes.len() {
                bytes[i + 1] as u32
            } else {
                0
            };
            sum += (hi << 8) | lo;
            i += 2;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn tcp_segment(flags: u8, opts: &[u8]) -> Vec<u8> {
        assert_eq!(opts.len() % 4, 0);
        let mut t = vec![
            0x9c,
            0x40,
            0x01,
            0xbb, // ports 40000 -> 443
            0x12,
            0x34,
            0x56,
            0x78, // seq
            0,
            0,
            0,
            0, // ack
            (((20 + opts.len()) / 4) as u8) << 4,
            flags,
            0xfa,
            0xf0, // window
            0,
            0,
            0,
            0, // checksum, urgent
        ];
        t.extend_from_slice(opts);
        t.extend_from_slice(b"hi");
        t
    }

    fn v4_packet(tcp: &[u8]) -> Vec<u8> {
        let total = (20 + tcp.len()) as u16;
        let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[10, 0, 0, 1, 10, 1, 0, 1]);
        let hc = full_checksum(&p);
        p[10..12].copy_from_slice(&hc.to_be_bytes());
        p.extend_from_slice(tcp);
        let ck = full_checksum(&pseudo_v4(&p, 20));
        p[20 + 16..20 + 18].copy_from_slice(&ck.to_be_bytes());
        p
    }

    fn pseudo_v4(p: &[u8], tcp_off: usize) -> Vec<u8> {
        let tcp = &p[tcp_off..];
        let mut v = p[12..20].to_vec();
        v.extend_from_slice(&[0, 6]);
        v.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        v.extend_from_slice(tcp);
        v
    }

    /// `ext` holds the extension headers already chained; `first` is the
    /// Next Header value of the fixed header.
    fn v6_packet(first: u8, ext: &[u8], tcp: &[u8]) -> Vec<u8> {
        let payload = (ext.len() + tcp.len()) as u16;
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&payload.to_be_bytes());
        p.extend_from_slice(&[first, 64]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(ext);
        p.extend_from_slice(tcp);
        let off = 40 + ext.len();
        let ck = full_checksum(&pseudo_v6(&p, off));
        p[off + 16..off + 18].copy_from_slice(&ck.to_be_bytes());
        p
    }

    fn pseudo_v6(p: &[u8], tcp_off: usize) -> Vec<u8> {
        let tcp = &p[tcp_off..];
        let mut v = p[8..40].to_vec();
        v.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 6]);
        v.extend_from_slice(tcp);
        v
    }

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    /// MSS 1460, NOP, window scale 7, SACK permitted, NOP, NOP.
    const OPTS: [u8; 12] = [2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1];

    fn mss_at(p: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([p[at], p[at + 1]])
    }

    #[test]
    fn ipv4_syn_is_clamped() {
        let mut p = v4_packet(&tcp_segment(SYN, &OPTS));
        assert_eq!(full_checksum(&pseudo_v4(&p, 20)), 0);
        assert!(clamp_mss(&mut p, 1420));
        assert_eq!(mss_at(&p, 42), 1380);
        assert_eq!(full_checksum(&pseudo_v4(&p, 20)), 0);
        assert_eq!(full_checksum(&p[..20]), 0, "IP header untouched");
        // Idempotent: already small enough now.
        assert!(!clamp_mss(&mut p, 1420));
    }

    #[test]
    fn ipv4_syn_ack_and_header_options() {
        let tcp = tcp_segment(SYN | ACK, &OPTS);
        let mut p = v4_packet(&tcp);
        assert!(clamp_mss(&mut p, 1400));
        assert_eq!(mss_at(&p, 42), 1360);
        assert_eq!(full_checksum(&pseudo_v4(&p, 20)), 0);

        // IHL 6: one word of IP options (NOP NOP NOP EOL) before TCP.
        let mut q = v4_packet(&tcp);
        q.splice(20..20, [1, 1, 1, 0]);
        q[0] = 0x46;
        let total = q.len() as u16;
        q[2..4].copy_from_slice(&total.to_be_bytes());
        assert!(clamp_mss(&mut q, 1420));
        assert_eq!(mss_at(&q, 46), 1380);
        assert_eq!(full_checksum(&pseudo_v4(&q, 24)), 0);
    }

    #[test]
    fn odd_aligned_mss_checksum() {
        // NOP, MSS, NOP, NOP, NOP: the MSS value sits at an odd offset.
        let opts = [1, 2, 4, 0x05, 0xb4, 1, 1, 1];
        let mut p = v4_packet(&tcp_segment(SYN, &opts));
        assert!(clamp_mss(&mut p, 1420));
        assert_eq!(mss_at(&p, 43), 1380);
        assert_eq!(full_checksum(&pseudo_v4(&p, 20)), 0);
    }

    #[test]
    fn ipv6_syn_is_clamped() {
        let mut p = v6_packet(6, &[], &tcp_segment(SYN, &OPTS));
        assert_eq!(full_checksum(&pseudo_v6(&p, 40)), 0);
        assert!(clamp_mss(&mut p, 1420));
        assert_eq!(mss_at(&p, 62), 1360);
        assert_eq!(full_checksum(&pseudo_v6(&p, 40)), 0);
    }

    #[test]
    fn ipv6_extension_headers() {
        // Hop-by-hop (8 bytes, PadN) -> destination options (16 bytes) -> TCP.
        let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut p = v6_packet(0, &ext, &tcp_segment(SYN, &OPTS));
        assert!(clamp_mss(&mut p, 1420));
        assert_eq!(mss_at(&p, 40 + 24 + 22), 1360);
        assert_eq!(full_checksum(&pseudo_v6(&p, 64)), 0);

        // A fragment header (44) stops the walk.
        let frag = [6, 0, 0, 0, 0, 0, 0, 1];
        let mut f = v6_packet(44, &frag, &tcp_segment(SYN, &OPTS));
        let orig = f.clone();
        assert!(!clamp_mss(&mut f, 1420));
        assert_eq!(f, orig);
    }

    #[test]
    fn left_untouched() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("not SYN", v4_packet(&tcp_segment(ACK, &OPTS))),
            (
                "small MSS",
                v4_packet(&tcp_segment(SYN, &[2, 4, 0x04, 0xb0])),
            ),
            ("no MSS", v4_packet(&tcp_segment(SYN, &[1, 1, 1, 0]))),
            (
                "opt len 0",
                v4_packet(&tcp_segment(SYN, &[3, 0, 2, 4, 5, 0xb4, 0, 0])),
            ),
            (
                "opt len 1",
                v4_packet(&tcp_segment(SYN, &[1, 1, 3, 1, 2, 4, 5, 0xb4])),
            ),
            (
                "past header",
                v4_packet(&tcp_segment(SYN, &[2, 4, 5, 0xb4, 1, 1, 8, 10])),
            ),
            ("MSS len 3", v4_packet(&tcp_segment(SYN, &[2, 3, 5, 0xb4]))),
            (
                "two MSS",
                v4_packet(&tcp_segment(SYN, &[2, 4, 5, 0xb4, 2, 4, 5, 0xb4])),
            ),
            ("v6 not SYN", v6_packet(6, &[], &tcp_segment(ACK, &OPTS))),
            ("v6 UDP", v6_packet(17, &[], &tcp_segment(SYN, &OPTS))),
        ];
        for (name, mut p) in cases {
            let orig = p.clone();
            assert!(!clamp_mss(&mut p, 1420), "{name}");
            assert_eq!(p, orig, "{name}");
        }
        // Data offset below 5 and past the end of the packet.
        for doff in [0u8, 4, 15] {
            let mut p = v4_packet(&tcp_segment(SYN, &OPTS));
            p[32] = doff << 4;
            let orig = p.clone();
            assert!(!clamp_mss(&mut p, 1420), "doff {doff}");
            assert_eq!(p, orig);
        }
        // Non-first IPv4 fragment, and UDP.
        let mut p = v4_packet(&tcp_segment(SYN, &OPTS));
        p[7] = 1;
        assert!(!clamp_mss(&mut p, 1420));
        let mut p = v4_packet(&tcp_segment(SYN, &OPTS));
        p[9] = 17;
        assert!(!clamp_mss(&mut p, 1420));
        // MTU no larger than the overhead.
        let mut p = v4_packet(&tcp_segment(SYN, &OPTS));
        assert!(!clamp_mss(&mut p, 40));
        assert!(!clamp_mss(&mut p, 0));
    }

    #[test]
    fn every_truncation_is_safe() {
        let ext = [6, 0, 1, 4, 0, 0, 0, 0];
        let packets = [
            v4_packet(&tcp_segment(SYN, &OPTS)),
            v6_packet(6, &[], &tcp_segment(SYN, &OPTS)),
            v6_packet(0, &ext, &tcp_segment(SYN, &OPTS)),
        ];
        for full in packets {
            for n in 0..=full.len() {
                let mut p = full[..n].to_vec();
                let changed = clamp_mss(&mut p, 1420);
                // The length fields disagree with every strict prefix.
                assert_eq!(changed, n == full.len(), "len {n}");
                let _ = (ip_version(&p), super::super::src_addr(&p));
                let _ = super::super::dst_addr(&p);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000 {
            let len = i % 96;
            let mut p: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if let Some(b) = p.first_mut() {
                *b = if i % 2 == 0 { 0x45 } else { 0x60 };
            }
            if p.len() > 9 && i % 4 == 0 {
                p[9] = 6;
                p[6] = 6;
            }
            clamp_mss(&mut p, 1420);
        }
    }
}
