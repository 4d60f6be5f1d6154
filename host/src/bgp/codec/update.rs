//! UPDATE messages (RFC 4271 §4.3) as a whole: splitting the body into
//! Withdrawn Routes, Path Attributes and NLRI (RFC 4271 §6.3, RFC 7606
//! §3.b), the syntax of the two prefix fields (RFC 7606 §3.i, §5.3), and the
//! checks that need both attributes and routes: missing well-known
//! attributes (RFC 7606 §3.d), NEXT_HOP semantics (RFC 4271 §6.3) and the
//! escalation of RFC 7606 §5.2 when there are no routes to withdraw. The
//! attribute walk itself is `attr_decode`'s and writing attributes is
//! `attr_encode`'s; splitting routes over several messages is `split`'s.

use ipnet::IpNet;

use crate::bgp::message::{error_code, Notification, Update};

use super::attr::{self, Approach, Problem, Verdict};
use super::attr_decode::{self, Attributes};
use super::nlri::{self, Afi};
use super::reader::Reader;
use super::{attr_encode, patch_len16, Context};

/// The three variable fields of an UPDATE body.
struct Fields<'a> {
    withdrawn: &'a [u8],
    attributes: &'a [u8],
    nlri: &'a [u8],
}

/// Decodes an UPDATE body (the message after its header).
pub(super) fn decode_update(body: &[u8], ctx: &Context) -> Result<Update, Notification> {
    let fields = split_fields(body)?;
    // RFC 7606 §3.i and §5.3: a syntax error in either prefix field means
    // the routes cannot be located, so session reset (Invalid Network
    // Field, RFC 4271 §6.3).
    let withdrawn = prefixes(fields.withdrawn)?;
    let nlri = prefixes(fields.nlri)?;
    let mut verdict = Verdict::default();
    let attrs = attr_decode::decode(fields.attributes, ctx, &mut verdict)?;
    let has_nlri = !nlri.is_empty() || attrs.mp_reach_has_nlri;
    if has_nlri {
        missing_attributes(&attrs, !nlri.is_empty(), &mut verdict)?;
    }
    if !nlri.is_empty() {
        next_hop_semantics(&attrs, &mut verdict)?;
    }
    // RFC 7606 §5.2: with no reachable routes there is nothing to treat as
    // withdrawn and no assurance the routes were found, so any error but
    // attribute discard becomes a session reset.
    if !has_nlri {
        if let Some(n) = verdict.withdraw_notification() {
            return Err(n.clone());
        }
    }
    let (treat_as_withdraw, discarded) = verdict.finish();
    Ok(Update {
        withdrawn,
        attributes: attrs.any_path_attribute.then_some(attrs.path),
        mp_reach: attrs.mp_reach,
        mp_unreach: attrs.mp_unreach,
        nlri,
        treat_as_withdraw,
        discarded,
    })
}

/// Splits the body by its two length fields. Lengths that run past the
/// message (Withdrawn Routes Length + Total Attribute Length + 23 > Length)
/// are UPDATE Message Error / Malformed Attribute List (RFC 4271 §6.3, RFC
/// 7606 §3.b).
fn split_fields(body: &[u8]) -> Result<Fields<'_>, Notification> {
    let mut r = Reader::new(body);
    let withdrawn = r.u16().and_then(|len| r.take(usize::from(len)));
    let attributes = r.u16().and_then(|len| r.take(usize::from(len)));
    match (withdrawn, attributes) {
        (Some(withdrawn), Some(attributes)) => Ok(Fields {
            withdrawn,
            attributes,
            nlri: r.rest(),
        }),
        _ => Err(update_error(
            error_code::MALFORMED_ATTRIBUTE_LIST,
            Vec::new(),
        )),
    }
}

/// IPv4 prefixes of the Withdrawn Routes or NLRI field.
fn prefixes(field: &[u8]) -> Result<Vec<IpNet>, Notification> {
    nlri::decode_prefixes(field, Afi::V4)
        .ok_or_else(|| update_error(error_code::INVALID_NETWORK_FIELD, Vec::new()))
}

fn update_error(subcode: u8, data: Vec<u8>) -> Notification {
    Notification::new(error_code::UPDATE_MESSAGE, subcode, data)
}

/// RFC 7606 §3.d: a well-known mandatory attribute missing from an UPDATE
/// that announces routes is treat-as-withdraw. ORIGIN and AS_PATH are
/// always required; NEXT_HOP only for routes in the NLRI field (RFC 4760 §3
/// makes it irrelevant to MP_REACH_NLRI routes). The fallback NOTIFICATION
/// is Missing Well-known Attribute with the type code (RFC 4271 §6.3).
fn missing_attributes(
    attrs: &Attributes,
    ipv4_nlri: bool,
    verdict: &mut Verdict,
) -> Result<(), Notification> {
    let mut required = vec![attr::ORIGIN, attr::AS_PATH];
    if ipv4_nlri {
        required.push(attr::NEXT_HOP);
    }
    for code in required.into_iter().filter(|&c| !attrs.has(c)) {
        verdict.record(Problem::new(
            Approach::TreatAsWithdraw,
            error_code::MISSING_WELL_KNOWN_ATTRIBUTE,
            vec![code],
            format!("{}: missing", attr::name(code)),
        ))?;
    }
    Ok(())
}

/// RFC 4271 §6.3: a NEXT_HOP that is not a valid host address (0.0.0.0,
/// multicast, broadcast) means the routes are ignored without a
/// NOTIFICATION: treat-as-withdraw. (Whether it is the local address is
/// not checked: learned routes point at the tunnel they came over, never
/// at their NEXT_HOP.)
fn next_hop_semantics(attrs: &Attributes, verdict: &mut Verdict) -> Result<(), Notification> {
    let Some(nh) = attrs.path.next_hop else {
        return Ok(());
    };
    if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
        let mut data = vec![attr::WELL_KNOWN, attr::NEXT_HOP, 4];
        data.extend_from_slice(&nh.octets());
        verdict.record(Problem::new(
            Approach::TreatAsWithdraw,
            error_code::INVALID_NEXT_HOP_ATTRIBUTE,
            data,
            format!("NEXT_HOP: {nh} is not a valid next hop"),
        ))?;
    }
    Ok(())
}

/// Appends an UPDATE body. Prefixes that are not IPv4 are left out of the
/// Withdrawn Routes and NLRI fields (they cannot be written there).
pub(super) fn encode_update(update: &Update, ctx: &Context, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    nlri::encode_prefixes(&update.withdrawn, Afi::V4, out);
    let len = out.len() - at - 2;
    patch_len16(out, at, len);

    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    attr_encode::encode(update, ctx, out);
    let len = out.len() - at - 2;
    patch_len16(out, at, len);

    nlri::encode_prefixes(&update.nlri, Afi::V4, out);
}
