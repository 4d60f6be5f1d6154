//! The Path Attributes field of an UPDATE to send (RFC 4271 §4.3, §5):
//! MP_REACH_NLRI / MP_UNREACH_NLRI first (RFC 7606 §5.1), then the other
//! attributes in type-code order with the flags their definitions give
//! them, the Extended Length bit when a value exceeds 255 bytes, AS_TRANS
//! plus AS4_PATH/AS4_AGGREGATOR toward a 2-octet speaker (RFC 6793 §4.2.2),
//! and unrecognised attributes passed on with their flags (Partial set on
//! optional transitive ones, RFC 4271 §5). It must not decide which routes
//! go in a message (`split`) nor touch the other UPDATE fields (`update`).

use crate::bgp::message::{PathAttributes, Update};

use super::attr::{
    self, EXTENDED_LENGTH, OPTIONAL, OPTIONAL_NON_TRANSITIVE, OPTIONAL_TRANSITIVE, PARTIAL,
    TRANSITIVE, WELL_KNOWN,
};
use super::{aspath, mp, Context};

/// One attribute to write: flags (Extended Length is decided when written),
/// type code, value.
type Attr = (u8, u8, Vec<u8>);

/// Appends the Path Attributes field of `update` (without its length).
pub(super) fn encode(update: &Update, ctx: &Context, out: &mut Vec<u8>) {
    if let Some(reach) = &update.mp_reach {
        write(
            out,
            OPTIONAL_NON_TRANSITIVE,
            attr::MP_REACH_NLRI,
            &mp::encode_reach(reach),
        );
    }
    if let Some(unreach) = &update.mp_unreach {
        let value = mp::encode_unreach(unreach);
        write(out, OPTIONAL_NON_TRANSITIVE, attr::MP_UNREACH_NLRI, &value);
    }
    if let Some(path) = &update.attributes {
        for (flags, code, value) in path_attributes(path, ctx) {
            write(out, flags, code, &value);
        }
    }
}

/// The attributes of `p`, sorted by type code.
fn path_attributes(p: &PathAttributes, ctx: &Context) -> Vec<Attr> {
    let four = ctx.four_octet_as;
    let mut v: Vec<Attr> = vec![
        (WELL_KNOWN, attr::ORIGIN, vec![p.origin as u8]),
        (WELL_KNOWN, attr::AS_PATH, aspath::encode(&p.as_path, four)),
    ];
    if let Some(nh) = p.next_hop {
        v.push((WELL_KNOWN, attr::NEXT_HOP, nh.octets().to_vec()));
    }
    if let Some(med) = p.med {
        v.push((
            OPTIONAL_NON_TRANSITIVE,
            attr::MULTI_EXIT_DISC,
            med.to_be_bytes().to_vec(),
        ));
    }
    if let Some(pref) = p.local_pref {
        v.push((WELL_KNOWN, attr::LOCAL_PREF, pref.to_be_bytes().to_vec()));
    }
    if p.atomic_aggregate {
        v.push((WELL_KNOWN, attr::ATOMIC_AGGREGATE, Vec::new()));
    }
    if let Some((asn, addr)) = p.aggregator {
        let mut value = if four {
            asn.to_be_bytes().to_vec()
        } else {
            aspath::two_octet(asn).to_be_bytes().to_vec()
        };
        value.extend_from_slice(&addr.octets());
        v.push((OPTIONAL_TRANSITIVE, attr::AGGREGATOR, value));
        if !four && asn > 0xffff {
            let mut value = asn.to_be_bytes().to_vec();
            value.extend_from_slice(&addr.octets());
            v.push((OPTIONAL_TRANSITIVE, attr::AS4_AGGREGATOR, value));
        }
    }
    if !p.communities.is_empty() {
        let value = p.communities.iter().flat_map(|c| c.to_be_bytes()).collect();
        v.push((OPTIONAL_TRANSITIVE, attr::COMMUNITIES, value));
    }
    if !four {
        if let Some(as4) = aspath::as4_path_for(&p.as_path) {
            v.push((
                OPTIONAL_TRANSITIVE,
                attr::AS4_PATH,
                aspath::encode(&as4, true),
            ));
        }
    }
    if !p.large_communities.is_empty() {
        let value = p
            .large_communities
            .iter()
            .flat_map(|c| [c.global_admin, c.local_data1, c.local_data2])
            .flat_map(u32::to_be_bytes)
            .collect();
        v.push((OPTIONAL_TRANSITIVE, attr::LARGE_COMMUNITIES, value));
    }
    for raw in p.unknown.iter().filter(|r| !attr::is_owned(r.type_code)) {
        v.push((passed_on_flags(raw.flags), raw.type_code, raw.value.clone()));
    }
    v.sort_by_key(|(_, code, _)| *code);
    v
}

/// Flags of an attribute passed on unchanged: Partial set when it is
/// optional transitive (RFC 4271 §5), unused bits cleared.
fn passed_on_flags(flags: u8) -> u8 {
    let flags = flags & (OPTIONAL | TRANSITIVE | PARTIAL);
    if flags & OPTIONAL_TRANSITIVE == OPTIONAL_TRANSITIVE {
        flags | PARTIAL
    } else {
        flags
    }
}

/// Appends one attribute: flags, type, length (2 bytes with Extended
/// Length when the value exceeds 255 bytes, RFC 4271 §4.3), value.
pub(super) fn write(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) {
    let flags = flags & (OPTIONAL | TRANSITIVE | PARTIAL);
    match u8::try_from(value.len()) {
        Ok(len) => {
            out.extend_from_slice(&[flags, code, len]);
        }
        Err(_) => {
            // Over 65535 only in a message already far over 4096 bytes,
            // which `encode` refuses.
            let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&[flags | EXTENDED_LENGTH, code]);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(value);
}
