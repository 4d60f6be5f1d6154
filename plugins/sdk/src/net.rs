//! Prefix and address helpers: parsing inside CIDRs, converting to and from
//! `std::net`, formatting, containment, and a table of bogon ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::types::{IpAddress, Prefix};

/// Parses an IPv4 CIDR such as a tunnel's inside CIDR `"169.254.10.0/30"`
/// into its network address (host bits cleared) and prefix length. The
/// syntax is ipnet's `Ipv4Net`, as on the host; `None` if it does not parse.
pub fn parse_ipv4_cidr(s: &str) -> Option<(u32, u8)> {
    let net: Ipv4Net = s.parse().ok()?;
    Some((u32::from(net.network()), net.prefix_len()))
}

/// Parses `"10.1.0.0/16"` or `"2001:db8::/32"` into a [`Prefix`] in network
/// form (host bits cleared).
pub fn parse_prefix(s: &str) -> Option<Prefix> {
    let net: IpNet = s.parse().ok()?;
    Some(Prefix {
        address: from_std(net.network()),
        length: net.prefix_len(),
    })
}

/// The address as a `std::net::IpAddr`.
pub fn to_std(a: &IpAddress) -> IpAddr {
    match *a {
        IpAddress::V4(v) => IpAddr::V4(Ipv4Addr::from(v)),
        IpAddress::V6((hi, lo)) => IpAddr::V6(Ipv6Addr::from(u128_of(hi, lo))),
    }
}

/// A `std::net::IpAddr` as an [`IpAddress`].
pub fn from_std(a: IpAddr) -> IpAddress {
    match a {
        IpAddr::V4(v) => IpAddress::V4(u32::from(v)),
        IpAddr::V6(v) => {
            let n = u128::from(v);
            IpAddress::V6(((n >> 64) as u64, n as u64))
        }
    }
}

/// `10.0.0.1` or `2001:db8::1`.
pub fn format_ip(a: &IpAddress) -> String {
    to_std(a).to_string()
}

/// `10.0.0.0/8` or `2001:db8::/32`.
pub fn format_prefix(p: &Prefix) -> String {
    format!("{}/{}", format_ip(&p.address), p.length)
}

/// Whether `inner` lies within `outer` (same family, at least as long, same
/// leading `outer.length` bits). A prefix lies within itself.
pub fn contains(outer: &Prefix, inner: &Prefix) -> bool {
    if inner.length < outer.length {
        return false;
    }
    match (outer.address, inner.address) {
        (IpAddress::V4(o), IpAddress::V4(i)) => within_v4(i, o, outer.length),
        (IpAddress::V6((oh, ol)), IpAddress::V6((ih, il))) => {
            within_v6(u128_of(ih, il), u128_of(oh, ol), outer.length)
        }
        _ => false,
    }
}

/// `0.0.0.0/0` or `::/0`.
pub fn is_default(p: &Prefix) -> bool {
    p.length == 0
}

/// Within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918).
pub fn is_rfc1918(p: &Prefix) -> bool {
    match p.address {
        IpAddress::V4(a) => [(0x0a00_0000, 8), (0xac10_0000, 12), (0xc0a8_0000, 16)]
            .iter()
            .any(|&(net, len)| p.length >= len && within_v4(a, net, len)),
        IpAddress::V6(_) => false,
    }
}

/// A range that should not appear in the global routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bogon {
    /// The range, e.g. `"10.0.0.0/8"`.
    pub cidr: &'static str,
    /// What it is, e.g. `"private (RFC 1918)"`.
    pub what: &'static str,
    /// Address space that private networks legitimately route: RFC 1918,
    /// RFC 6598 shared space and IPv6 ULA. A site-to-site VPN usually
    /// carries such prefixes, so filters may want to let them through.
    pub private: bool,
}

const fn b(cidr: &'static str, what: &'static str, private: bool) -> Bogon {
    Bogon {
        cidr,
        what,
        private,
    }
}

/// IPv4 bogons (as in bgpfilterguide.net / RFC 6890), with their network
/// address and length.
#[rustfmt::skip]
pub const BOGONS_V4: &[(u32, u8, Bogon)] = &[
    (0x0000_0000,  8, b("0.0.0.0/8",       "\"this\" network (RFC 1122)", false)),
    (0x0a00_0000,  8, b("10.0.0.0/8",      "private (RFC 1918)", true)),
    (0x6440_0000, 10, b("100.64.0.0/10",   "shared CGN space (RFC 6598)", true)),
    (0x7f00_0000,  8, b("127.0.0.0/8",     "loopback (RFC 1122)", false)),
    (0xa9fe_0000, 16, b("169.254.0.0/16",  "link-local (RFC 3927)", false)),
    (0xac10_0000, 12, b("172.16.0.0/12",   "private (RFC 1918)", true)),
    (0xc000_0000, 24, b("192.0.0.0/24",    "IETF protocol assignments (RFC 6890)", false)),
    (0xc000_0200, 24, b("192.0.2.0/24",    "documentation TEST-NET-1 (RFC 5737)", false)),
    (0xc058_6300, 24, b("192.88.99.0/24",  "6to4 relay anycast (RFC 7526)", false)),
    (0xc0a8_0000, 16, b("192.168.0.0/16",  "private (RFC 1918)", true)),
    (0xc612_0000, 15, b("198.18.0.0/15",   "benchmarking (RFC 2544)", false)),
    (0xc633_6400, 24, b("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)", false)),
    (0xcb00_7100, 24, b("203.0.113.0/24",  "documentation TEST-NET-3 (RFC 5737)", false)),
    (0xe000_0000,  4, b("224.0.0.0/4",     "multicast (RFC 5771)", false)),
    (0xf000_0000,  4, b("240.0.0.0/4",     "reserved (RFC 1112)", false)),
];

/// IPv6 bogons (as in bgpfilterguide.net), with their network address and
/// length.
#[rustfmt::skip]
pub const BOGONS_V6: &[(u128, u8, Bogon)] = &[
    (0,                  8, b("::/8",          "loopback, unspecified, IPv4-mapped (RFC 4291)", false)),
    (0x0100 << 112,     64, b("100::/64",      "discard-only (RFC 6666)", false)),
    (0x2001_0002 << 96, 48, b("2001:2::/48",   "benchmarking (RFC 5180)", false)),
    (0x2001_0010 << 96, 28, b("2001:10::/28",  "ORCHID (RFC 4843)", false)),
    (0x2001_0db8 << 96, 32, b("2001:db8::/32", "documentation (RFC 3849)", false)),
    (0x2002 << 112,     16, b("2002::/16",     "6to4 (RFC 7526)", false)),
    (0x3ffe << 112,     16, b("3ffe::/16",     "old 6bone (RFC 3701)", false)),
    (0x3fff << 112,     20, b("3fff::/20",     "documentation (RFC 9637)", false)),
    (0x5f00 << 112,     16, b("5f00::/16",     "SRv6 SIDs (RFC 9602)", false)),
    (0xfc00 << 112,      7, b("fc00::/7",      "unique local (RFC 4193)", true)),
    (0xfe80 << 112,     10, b("fe80::/10",     "link-local (RFC 4291)", false)),
    (0xfec0 << 112,     10, b("fec0::/10",     "old site-local (RFC 3879)", false)),
    (0xff00 << 112,      8, b("ff00::/8",      "multicast (RFC 4291)", false)),
];

/// The bogon range `p` lies within, if any. The default route lies within
/// none (check it with [`is_default`]).
pub fn bogon(p: &Prefix) -> Option<&'static Bogon> {
    match p.address {
        IpAddress::V4(a) => BOGONS_V4
            .iter()
            .find(|(net, len, _)| p.length >= *len && within_v4(a, *net, *len))
            .map(|(_, _, b)| b),
        IpAddress::V6((hi, lo)) => BOGONS_V6
            .iter()
            .find(|(net, len, _)| p.length >= *len && within_v6(u128_of(hi, lo), *net, *len))
            .map(|(_, _, b)| b),
    }
}

fn u128_of(hi: u64, lo: u64) -> u128 {
    (u128::from(hi) << 64) | u128::from(lo)
}

fn within_v4(addr: u32, net: u32, len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0);
    addr & mask == net & mask
}

fn within_v6(addr: u128, net: u128, len: u8) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0);
    addr & mask == net & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        parse_prefix(s).unwrap()
    }

    #[test]
    fn parse_and_format() {
        assert_eq!(parse_ipv4_cidr("169.254.10.0/30"), Some((0xa9fe_0a00, 30)));
        assert_eq!(parse_ipv4_cidr("169.254.10.1/30"), Some((0xa9fe_0a00, 30)));
        assert_eq!(parse_ipv4_cidr("169.254.10.0/33"), None);
        assert_eq!(parse_ipv4_cidr("tunnel-a"), None);
        assert_eq!(parse_ipv4_cidr("2001:db8::/32"), None);
        assert_eq!(format_prefix(&p("10.1.2.3/16")), "10.1.0.0/16");
        assert_eq!(format_prefix(&p("2001:db8:1::5/48")), "2001:db8:1::/48");
        assert_eq!(format_ip(&IpAddress::V4(0x0a00_0001)), "10.0.0.1");
        let v6 = "2001:db8::1".parse::<IpAddr>().unwrap();
        assert_eq!(to_std(&from_std(v6)), v6);
    }

    #[test]
    fn containment() {
        assert!(contains(&p("10.0.0.0/8"), &p("10.1.0.0/16")));
        assert!(contains(&p("10.0.0.0/8"), &p("10.0.0.0/8")));
        assert!(!contains(&p("10.1.0.0/16"), &p("10.0.0.0/8")));
        assert!(!contains(&p("10.0.0.0/8"), &p("11.0.0.0/16")));
        assert!(contains(&p("0.0.0.0/0"), &p("11.0.0.0/16")));
        assert!(!contains(&p("::/0"), &p("11.0.0.0/16")));
        assert!(contains(&p("2001:db8::/32"), &p("2001:db8:ff::/48")));
        assert!(is_rfc1918(&p("172.31.0.0/16")));
        assert!(!is_rfc1918(&p("172.32.0.0/16")));
        assert!(!is_rfc1918(&p("8.0.0.0/5")));
    }

    #[test]
    fn bogon_table_matches_its_cidrs() {
        for (net, len, b) in BOGONS_V4 {
            assert_eq!(parse_ipv4_cidr(b.cidr), Some((*net, *len)), "{}", b.cidr);
        }
        for (net, len, b) in BOGONS_V6 {
            let want = p(b.cidr);
            let IpAddress::V6((hi, lo)) = want.address else {
                panic!("{}", b.cidr)
            };
            assert_eq!((u128_of(hi, lo), want.length), (*net, *len), "{}", b.cidr);
        }
    }

    #[test]
    fn bogons() {
        let what = |s: &str| bogon(&p(s)).map(|b| b.cidr);
        assert_eq!(what("10.20.0.0/16"), Some("10.0.0.0/8"));
        assert_eq!(what("100.127.0.0/16"), Some("100.64.0.0/10"));
        assert_eq!(what("255.255.255.255/32"), Some("240.0.0.0/4"));
        assert_eq!(what("8.8.8.0/24"), None);
        assert_eq!(what("0.0.0.0/0"), None);
        assert_eq!(what("::1/128"), Some("::/8"));
        assert_eq!(what("fd00:1::/48"), Some("fc00::/7"));
        assert_eq!(what("2001:db8:5::/48"), Some("2001:db8::/32"));
        assert_eq!(what("2600::/12"), None);
        assert!(bogon(&p("fd00::/8")).unwrap().private);
    }
}
