//! IPv4 ICMP echo request/reply ("ping") over a tunnel's inside addresses, the
//! liveness probe for far sides that do not speak BFD (`liveness::echo`). It
//! owns the IPv4 header (RFC 791 §3.1) and the ICMP echo message (RFC 792,
//! "Echo or Echo Reply Message": type 8 request / 0 reply, code 0, checksum,
//! identifier, sequence number, data). No I/O, no allocation; a packet that
//! does not match every rule is refused, never panicked on.

use std::net::Ipv4Addr;

use super::{be16, fold, sum16, unfragmented_ipv4, IPV4_MIN_HEADER};

const PROTO_ICMP: u8 = 1;
const TTL: u8 = 64;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
/// Type, code, checksum, identifier, sequence number (RFC 792).
const ICMP_HEADER: usize = 8;
/// Echo data, so our probes are recognisable in a capture.
const PAYLOAD: &[u8; 8] = b"sitelink";
/// Length of a request built by [`build_echo_request`].
const REQUEST_LEN: usize = IPV4_MIN_HEADER + ICMP_HEADER + PAYLOAD.len();

/// Writes an IPv4 packet (version 4, IHL 5, TTL 64, DF, id 0, protocol ICMP,
/// valid header checksum) carrying an ICMP echo request (type 8, code 0,
/// `ident`, `seq`, data `"sitelink"`, valid checksum) into `out`, and returns
/// its length (36). `None` if `out` is too small.
pub fn build_echo_request(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    out: &mut [u8],
) -> Option<usize> {
    let out = out.get_mut(..REQUEST_LEN)?;
    let (ip, icmp) = out.split_at_mut(IPV4_MIN_HEADER);

    let [t0, t1] = u16::try_from(REQUEST_LEN).ok()?.to_be_bytes();
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    let mut hdr = [
        0x45, 0, t0, t1, // version 4, IHL 5, TOS 0, total length
        0, 0, 0x40, 0, // id 0, DF, fragment offset 0
        TTL, PROTO_ICMP, 0, 0, // TTL, protocol, checksum (below)
        s0, s1, s2, s3, d0, d1, d2, d3,
    ];
    let [h0, h1] = (!fold(sum16(&hdr, 0))).to_be_bytes();
    hdr[10] = h0;
    hdr[11] = h1;
    ip.copy_from_slice(&hdr);

    let [i0, i1] = ident.to_be_bytes();
    let [q0, q1] = seq.to_be_bytes();
    let (head, data) = icmp.split_at_mut(ICMP_HEADER);
    head.copy_from_slice(&[ICMP_ECHO_REQUEST, 0, 0, 0, i0, i1, q0, q1]);
    data.copy_from_slice(PAYLOAD);
    // RFC 792: the checksum covers the ICMP message, starting with the type.
    let [c0, c1] = (!fold(sum16(data, sum16(head, 0)))).to_be_bytes();
    head[2] = c0;
    head[3] = c1;
    Some(REQUEST_LEN)
}

/// The sequence number of `pkt` if it is an echo reply to one of our
/// requests: IPv4 with a valid header checksum, IHL at least 5, total length
/// within the buffer and covering an ICMP header, not a fragment (MF clear,
/// offset 0), protocol ICMP, destination `local`, ICMP type 0 code 0 with a
/// valid checksum and identifier `ident`. The echo data is not checked; bytes
/// past the IP total length are ignored.
pub fn parse_echo_reply(pkt: &[u8], local: Ipv4Addr, remote: Ipv4Addr, ident: u16) -> Option<u16> {
    let ip = unfragmented_ipv4(pkt, ICMP_HEADER)?;
    // From the far inside address itself: a host behind the far router
    // cannot use that source (Linux drops forwarded packets from its own
    // addresses), so it cannot fake our probe's answers.
    if ip.protocol != PROTO_ICMP || ip.dst != local || ip.src != remote {
        return None;
    }
    let icmp = ip.payload;
    if *icmp.first()? != ICMP_ECHO_REPLY || *icmp.get(1)? != 0 || be16(icmp, 4)? != ident {
        return None;
    }
    if fold(sum16(icmp, 0)) != 0xffff {
        return None;
    }
    be16(icmp, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::packet::test_support::{fix_ipv4_checksum, plain_checksum};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const ID: u16 = 0x1234;

    fn fix_icmp(p: &mut [u8]) {
        let ihl = usize::from(p[0] & 0x0f) * 4;
        p[ihl + 2..ihl + 4].fill(0);
        let c = plain_checksum(&p[ihl..]);
        p[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
    }

    fn request(src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
        let mut out = [0u8; 64];
        let n = build_echo_request(src, dst, ID, seq, &mut out).unwrap();
        out[..n].to_vec()
    }

    /// What the far kernel does to a request (Linux `icmp_echo`): the same
    /// ICMP message with type 0 and a new checksum, in a new IP header from
    /// the request's destination back to its source.
    fn turn_around(req: &[u8]) -> Vec<u8> {
        let mut p = req.to_vec();
        p[12..16].copy_from_slice(&req[16..20]);
        p[16..20].copy_from_slice(&req[12..16]);
        p[4..6].copy_from_slice(&[0xbe, 0xef]); // the reply's own IP id
        p[20] = 0;
        fix_ipv4_checksum(&mut p);
        fix_icmp(&mut p);
        p
    }

    #[test]
    fn request_layout_and_known_vector() {
        let p = request(A, B, 1);
        // Hand-computed: IP words 4500+0024+0000+4000+4001+0a00+0001+0a00+0002
        // = d928, checksum 26d7; ICMP words 0800+1234+0001+7369+7465+6c69+6e6b
        // = 1dcd7, folded dcd8, checksum 2327.
        let expect: [u8; 36] = [
            0x45, 0x00, 0x00, 0x24, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0x26, 0xd7, 10, 0, 0, 1,
            10, 0, 0, 2, 0x08, 0x00, 0x23, 0x27, 0x12, 0x34, 0x00, 0x01, b's', b'i', b't', b'e',
            b'l', b'i', b'n', b'k',
        ];
        assert_eq!(p, expect);
        for seq in [0, 1, 0x7fff, 0xfffe, u16::MAX] {
            let p = request(B, A, seq);
            assert_eq!(plain_checksum(&p[..20]), 0, "IP checksum, seq {seq}");
            assert_eq!(plain_checksum(&p[20..]), 0, "ICMP checksum, seq {seq}");
            assert_eq!(&p[26..28], &seq.to_be_bytes());
        }
        let mut small = [0u8; 35];
        assert_eq!(build_echo_request(A, B, ID, 1, &mut small), None);
        assert_eq!(build_echo_request(A, B, ID, 1, &mut []), None);
        let mut exact = [0u8; 36];
        assert_eq!(build_echo_request(A, B, ID, 1, &mut exact), Some(36));
    }

    #[test]
    fn reply_parses_to_its_seq() {
        for seq in [0, 1, 4242, u16::MAX] {
            let reply = turn_around(&request(A, B, seq));
            assert_eq!(parse_echo_reply(&reply, A, B, ID), Some(seq));
        }
        // Trailing bytes past the total length, and IP options (IHL 6).
        let mut trail = turn_around(&request(A, B, 7));
        trail.extend_from_slice(&[0xaa; 5]);
        assert_eq!(parse_echo_reply(&trail, A, B, ID), Some(7));
        let mut opt = turn_around(&request(A, B, 8));
        opt.splice(20..20, [1, 1, 1, 1]); // four NOP options
        opt[0] = 0x46;
        opt[3] += 4;
        fix_ipv4_checksum(&mut opt);
        assert_eq!(parse_echo_reply(&opt, A, B, ID), Some(8));
    }

    #[test]
    fn refused() {
        let good = turn_around(&request(A, B, 9));
        assert_eq!(parse_echo_reply(&good, A, B, ID), Some(9));
        assert_eq!(parse_echo_reply(&good, A, B, ID ^ 1), None, "identifier");
        assert_eq!(parse_echo_reply(&good, B, B, ID), None, "destination");
        assert_eq!(parse_echo_reply(&good, A, A, ID), None, "source");
        assert_eq!(
            parse_echo_reply(&request(B, A, 9), A, B, ID),
            None,
            "a request"
        );
        let mut unreach = good.clone();
        unreach[20] = 3;
        fix_icmp(&mut unreach);
        assert_eq!(parse_echo_reply(&unreach, A, B, ID), None, "type 3");
        let mut code = good.clone();
        code[21] = 1;
        fix_icmp(&mut code);
        assert_eq!(parse_echo_reply(&code, A, B, ID), None, "code 1");
        let mut ip_ck = good.clone();
        ip_ck[11] ^= 0x01;
        assert_eq!(parse_echo_reply(&ip_ck, A, B, ID), None, "IP checksum");
        let mut icmp_ck = good.clone();
        icmp_ck[35] ^= 0x01;
        assert_eq!(parse_echo_reply(&icmp_ck, A, B, ID), None, "ICMP checksum");
        let mut proto = good.clone();
        proto[9] = 17;
        fix_ipv4_checksum(&mut proto);
        assert_eq!(parse_echo_reply(&proto, A, B, ID), None, "UDP");
        for (flags, what) in [([0x20, 0], "more fragments"), ([0, 0x01], "offset")] {
            let mut frag = good.clone();
            frag[6..8].copy_from_slice(&flags);
            fix_ipv4_checksum(&mut frag);
            assert_eq!(parse_echo_reply(&frag, A, B, ID), None, "{what}");
        }
        let mut short = good.clone();
        short[3] = 27; // total length below IP + ICMP headers
        fix_ipv4_checksum(&mut short);
        assert_eq!(parse_echo_reply(&short, A, B, ID), None, "total length");
        let mut long = good.clone();
        long[3] = 37; // total length beyond the buffer
        fix_ipv4_checksum(&mut long);
        assert_eq!(parse_echo_reply(&long, A, B, ID), None, "past the end");
        let mut ihl4 = good.clone();
        ihl4[0] = 0x44;
        assert_eq!(parse_echo_reply(&ihl4, A, B, ID), None, "IHL 4");
        let mut v6 = [0u8; 64];
        v6[0] = 0x60;
        v6[6] = 58; // next header ICMPv6
        assert_eq!(parse_echo_reply(&v6, A, B, ID), None, "IPv6");
        let mut v6ish = good.clone();
        v6ish[0] = 0x65;
        assert_eq!(parse_echo_reply(&v6ish, A, B, ID), None, "version 6");
        for n in 0..good.len() {
            assert_eq!(parse_echo_reply(&good[..n], A, B, ID), None, "prefix {n}");
        }
    }

    #[test]
    fn random_bytes() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let good = turn_around(&request(A, B, 3));
        for i in 0..4000 {
            let len = (next() % 80) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 1 && len >= 28 {
                // Plausible IPv4 to us, so the ICMP checks are reached.
                buf[0] = 0x45;
                buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                buf[6..8].fill(0);
                buf[9] = PROTO_ICMP;
                buf[16..20].copy_from_slice(&A.octets());
                fix_ipv4_checksum(&mut buf);
            }
            assert_eq!(
                parse_echo_reply(&buf, A, B, ID),
                None,
                "buffer {i}: {buf:02x?}"
            );
            // A good reply with one byte changed: every byte is under a
            // checksum, so it parses only if the byte kept its value.
            let mut m = good.clone();
            let at = (next() % m.len() as u64) as usize;
            m[at] = next() as u8;
            let want = (m == good).then_some(3);
            assert_eq!(
                parse_echo_reply(&m, A, B, ID),
                want,
                "byte {at} of {m:02x?}"
            );
        }
    }
}
