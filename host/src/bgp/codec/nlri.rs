//! Prefixes on the wire: the `<length, prefix>` encoding shared by the
//! Withdrawn Routes and NLRI fields (RFC 4271 §4.3) and the prefixes inside
//! MP_REACH_NLRI / MP_UNREACH_NLRI for IPv4 and IPv6 unicast (RFC 4760 §5,
//! RFC 2545). It owns the syntax checks of RFC 7606 §5.3 (a length too long
//! for the family, or a prefix running past its field) and the
//! normalisation of host bits. It must not decide what a bad field means
//! for the session: each caller maps `None` to the NOTIFICATION for its
//! field.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::reader::Reader;

/// Address family of the prefixes in a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Afi {
    V4,
    V6,
}

impl Afi {
    /// The family of AFI `afi` (RFC 4760 §3), if sitelink carries it.
    pub(super) fn from_code(afi: u16) -> Option<Afi> {
        match afi {
            1 => Some(Afi::V4),
            2 => Some(Afi::V6),
            _ => None,
        }
    }

    /// Whether `net` is of this family.
    pub(super) fn holds(self, net: &IpNet) -> bool {
        matches!(
            (self, net),
            (Afi::V4, IpNet::V4(_)) | (Afi::V6, IpNet::V6(_))
        )
    }
}

/// Every prefix in `field`, or `None` if the field is syntactically
/// incorrect (RFC 7606 §5.3). Host bits past the prefix length are cleared
/// rather than refused.
pub(super) fn decode_prefixes(field: &[u8], afi: Afi) -> Option<Vec<IpNet>> {
    let mut r = Reader::new(field);
    // Room for a field of IPv4 /24s or IPv6 /48s at once (a full table's
    // common lengths), not grown a prefix at a time.
    let mut out = Vec::with_capacity(match afi {
        Afi::V4 => field.len() / 4,
        Afi::V6 => field.len() / 7,
    });
    while !r.is_empty() {
        out.push(decode_prefix(&mut r, afi)?);
    }
    Some(out)
}

/// One `<length, prefix>`: a length byte, then the fewest whole bytes that
/// hold that many bits.
fn decode_prefix(r: &mut Reader<'_>, afi: Afi) -> Option<IpNet> {
    let len = r.u8()?;
    let max = match afi {
        Afi::V4 => 32,
        Afi::V6 => 128,
    };
    if len > max {
        return None;
    }
    let bytes = r.take(usize::from(len).div_ceil(8))?;
    // The bytes as the address's high-order end, host bits cleared.
    let value = bytes.iter().fold(0u128, |v, b| (v << 8) | u128::from(*b));
    let high = |bits: u32| {
        // At most 16 bytes: the shift is within 0..=128 (128 shifts out all).
        let pad = bits.saturating_sub(8 * u32::try_from(bytes.len()).unwrap_or(0));
        let shifted = value.checked_shl(pad).unwrap_or(0);
        shifted & u128::MAX.checked_shl(bits - u32::from(len)).unwrap_or(0)
    };
    Some(match afi {
        Afi::V4 => IpNet::V4(Ipv4Net::new(Ipv4Addr::from(high(32) as u32), len).ok()?),
        Afi::V6 => IpNet::V6(Ipv6Net::new(Ipv6Addr::from(high(128)), len).ok()?),
    })
}

/// Bytes `net` takes on the wire.
pub(super) fn wire_len(net: &IpNet) -> usize {
    1 + usize::from(net.prefix_len()).div_ceil(8)
}

/// Appends `net` with the minimum number of bytes, host bits cleared.
pub(super) fn encode_prefix(net: &IpNet, out: &mut Vec<u8>) {
    let len = net.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match net.trunc() {
        IpNet::V4(v4) => out.extend(v4.network().octets().iter().take(n)),
        IpNet::V6(v6) => out.extend(v6.network().octets().iter().take(n)),
    }
}

/// Appends every prefix of `nets` that is of family `afi`.
pub(super) fn encode_prefixes(nets: &[IpNet], afi: Afi, out: &mut Vec<u8>) {
    for net in nets.iter().filter(|n| afi.holds(n)) {
        encode_prefix(net, out);
    }
}
