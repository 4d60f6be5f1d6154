//! MP_REACH_NLRI and MP_UNREACH_NLRI values (RFC 4760 §3 and §4): AFI,
//! SAFI, next hops (RFC 2545 §3: an IPv6 global address, optionally
//! followed by a link-local one) and the prefixes of IPv4 and IPv6 unicast.
//! Other families are kept by AFI/SAFI with their routes skipped. Any
//! malformation is a session reset (RFC 7606 §7.11, §7.12 and §5.3: the NLRI
//! cannot be located or parsed, so treat-as-withdraw is impossible),
//! reported as Optional Attribute Error with the attribute as data (RFC 4760
//! §7). It owns the attribute values only: flags and duplicates are
//! `attr_decode`'s, and it must not look at the rest of the UPDATE.

use std::net::{IpAddr, Ipv6Addr};

use crate::bgp::message::{error_code, Family, MpReach, MpUnreach};

use super::attr::{self, Approach, Problem};
use super::nlri::{self, Afi};
use super::reader::Reader;

/// The family's AFI, if sitelink decodes its routes (unicast only).
fn supported(family: Family) -> Option<Afi> {
    if family.safi == 1 {
        Afi::from_code(family.afi)
    } else {
        None
    }
}

/// A session reset for a malformed MP attribute (`raw`: the whole
/// attribute, flags to value).
fn malformed(code: u8, raw: &[u8], why: &str) -> Problem {
    Problem::new(
        Approach::SessionReset,
        error_code::OPTIONAL_ATTRIBUTE_ERROR,
        raw.to_vec(),
        format!("{}: {why}", attr::name(code)),
    )
}

/// Decodes an MP_REACH_NLRI value. Also returns whether its NLRI field
/// holds any bytes (reachable routes, even of a family not decoded).
pub(super) fn decode_reach(value: &[u8], raw: &[u8]) -> Result<(MpReach, bool), Problem> {
    let bad = |why: &str| malformed(attr::MP_REACH_NLRI, raw, why);
    let mut r = Reader::new(value);
    let (Some(afi), Some(safi), Some(nh_len)) = (r.u16(), r.u8(), r.u8()) else {
        return Err(bad("shorter than 5 bytes"));
    };
    let family = Family { afi, safi };
    let next_hop = r
        .take(usize::from(nh_len))
        .ok_or_else(|| bad("next hop runs past the attribute"))?;
    // Reserved (formerly the SNPA count), ignored on receipt (RFC 4760 §3).
    r.u8().ok_or_else(|| bad("no reserved byte"))?;
    let field = r.rest();
    let Some(afi) = supported(family) else {
        let next_hops = decode_next_hops(next_hop).unwrap_or_default();
        return Ok((mp_reach(family, next_hops, Vec::new()), !field.is_empty()));
    };
    // RFC 7606 §7.11: a next hop length other than expected is malformed.
    let next_hops =
        decode_next_hops(next_hop).ok_or_else(|| bad("next hop length not 4, 16 or 32"))?;
    let nlri = nlri::decode_prefixes(field, afi).ok_or_else(|| bad("malformed NLRI"))?;
    Ok((mp_reach(family, next_hops, nlri), !field.is_empty()))
}

fn mp_reach(family: Family, next_hops: Vec<IpAddr>, nlri: Vec<ipnet::IpNet>) -> MpReach {
    MpReach {
        family,
        next_hops,
        nlri,
    }
}

/// Next hops by length: 4 (IPv4), 16 (IPv6, possibly IPv4-mapped) or 32
/// (IPv6 global then link-local, RFC 2545 §3; an all-zero link-local is
/// left out).
fn decode_next_hops(bytes: &[u8]) -> Option<Vec<IpAddr>> {
    let mut r = Reader::new(bytes);
    match bytes.len() {
        4 => Some(vec![IpAddr::V4(r.ipv4()?)]),
        16 => Some(vec![IpAddr::V6(r.ipv6()?)]),
        32 => {
            let global = r.ipv6()?;
            let link_local = r.ipv6()?;
            let mut hops = vec![IpAddr::V6(global)];
            if link_local != Ipv6Addr::UNSPECIFIED {
                hops.push(IpAddr::V6(link_local));
            }
            Some(hops)
        }
        _ => None,
    }
}

/// Decodes an MP_UNREACH_NLRI value.
pub(super) fn decode_unreach(value: &[u8], raw: &[u8]) -> Result<MpUnreach, Problem> {
    let bad = |why: &str| malformed(attr::MP_UNREACH_NLRI, raw, why);
    let mut r = Reader::new(value);
    let (Some(afi), Some(safi)) = (r.u16(), r.u8()) else {
        return Err(bad("shorter than 3 bytes"));
    };
    let family = Family { afi, safi };
    let field = r.rest();
    let withdrawn = match supported(family) {
        Some(afi) => nlri::decode_prefixes(field, afi).ok_or_else(|| bad("malformed NLRI"))?,
        None => Vec::new(),
    };
    Ok(MpUnreach { family, withdrawn })
}

/// The MP_REACH_NLRI value for `reach`: at most two next hops (RFC 2545
/// §3), each IPv4 one as 4 bytes and IPv6 one as 16, and the prefixes of the
/// family's AFI.
pub(super) fn encode_reach(reach: &MpReach) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&reach.family.afi.to_be_bytes());
    out.push(reach.family.safi);
    let mut hops = Vec::new();
    for hop in reach.next_hops.iter().take(2) {
        match hop {
            IpAddr::V4(a) => hops.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => hops.extend_from_slice(&a.octets()),
        }
    }
    out.push(u8::try_from(hops.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&hops);
    out.push(0); // Reserved.
    if let Some(afi) = Afi::from_code(reach.family.afi) {
        nlri::encode_prefixes(&reach.nlri, afi, &mut out);
    }
    out
}

/// The MP_UNREACH_NLRI value for `unreach`.
pub(super) fn encode_unreach(unreach: &MpUnreach) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&unreach.family.afi.to_be_bytes());
    out.push(unreach.family.safi);
    if let Some(afi) = Afi::from_code(unreach.family.afi) {
        nlri::encode_prefixes(&unreach.withdrawn, afi, &mut out);
    }
    out
}
