//! The Path Attributes field of a received UPDATE (RFC 4271 §4.3, §5, §6.3)
//! under the revised error handling of RFC 7606: the attribute walk and its
//! length conflicts (§4), duplicates (§3.g), flag checks (§3.c), the value
//! checks of each attribute (§7, RFC 8092 §6, RFC 6793 §6) and unrecognised
//! attributes (RFC 4271 §5 and §6.3), plus the RFC 6793 §4.2.3 reconciliation
//! of AS4_PATH/AS4_AGGREGATOR. Each error becomes a [`Problem`] recorded in
//! the UPDATE's [`Verdict`]. It must not look at the Withdrawn Routes or
//! NLRI fields: `update` owns them and the checks that need them (missing
//! attributes, NEXT_HOP semantics, RFC 7606 §5.2).

use std::net::Ipv4Addr;

use crate::bgp::message::{
    error_code, AsSegment, LargeCommunity, MpReach, MpUnreach, Notification, Origin,
    PathAttributes, RawAttribute, AS_TRANS,
};

use super::attr::{
    self, Approach, Problem, Verdict, CATEGORY, EXTENDED_LENGTH, OPTIONAL, OPTIONAL_NON_TRANSITIVE,
    OPTIONAL_TRANSITIVE, PARTIAL, TRANSITIVE, WELL_KNOWN,
};
use super::reader::Reader;
use super::{aspath, mp, Context};

/// What the attribute walk found.
#[derive(Debug, Default)]
pub(super) struct Attributes {
    pub(super) path: PathAttributes,
    /// Any attribute other than MP_REACH_NLRI/MP_UNREACH_NLRI was present.
    pub(super) any_path_attribute: bool,
    pub(super) mp_reach: Option<MpReach>,
    /// MP_REACH_NLRI's NLRI field was not empty.
    pub(super) mp_reach_has_nlri: bool,
    pub(super) mp_unreach: Option<MpUnreach>,
    seen: Seen,
    as4_path: Option<Vec<AsSegment>>,
    as4_aggregator: Option<(u32, Ipv4Addr)>,
}

impl Attributes {
    /// Whether attribute `code` appeared (even if malformed).
    pub(super) fn has(&self, code: u8) -> bool {
        self.seen.has(code)
    }
}

/// Which type codes have appeared.
#[derive(Debug, Default)]
struct Seen([u64; 4]);

impl Seen {
    fn has(&self, code: u8) -> bool {
        let (word, bit) = (usize::from(code / 64), code % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Marks `code`; false if it was already marked.
    fn insert(&mut self, code: u8) -> bool {
        let fresh = !self.has(code);
        if let Some(w) = self.0.get_mut(usize::from(code / 64)) {
            *w |= 1 << (code % 64);
        }
        fresh
    }
}

/// One attribute as it came off the wire.
struct Raw<'a> {
    flags: u8,
    code: u8,
    value: &'a [u8],
    /// The whole attribute (flags, type, length, value): the data of most
    /// attribute NOTIFICATIONs (RFC 4271 §6.3).
    raw: &'a [u8],
}

impl Raw<'_> {
    fn problem(&self, approach: Approach, subcode: u8, why: &str) -> Problem {
        Problem::new(
            approach,
            subcode,
            self.raw.to_vec(),
            format!("{}: {why}", attr::name(self.code)),
        )
    }

    /// RFC 7606 §3.c: Optional or Transitive bits in conflict with the
    /// attribute's definition make it malformed, handled by treat-as-withdraw
    /// unless its own rules say otherwise (`approach`).
    fn expect_category(&self, category: u8, approach: Approach) -> Result<(), Problem> {
        if self.flags & CATEGORY == category {
            return Ok(());
        }
        let why = format!(
            "flags 0x{:02x} conflict with the attribute type",
            self.flags
        );
        Err(self.problem(approach, error_code::ATTRIBUTE_FLAGS_ERROR, &why))
    }

    fn length_error(&self, approach: Approach) -> Problem {
        let why = format!("bad length {}", self.value.len());
        self.problem(approach, error_code::ATTRIBUTE_LENGTH_ERROR, &why)
    }

    /// The value as a 4-byte integer, else an Attribute Length Error.
    fn u32_value(&self, approach: Approach) -> Result<u32, Problem> {
        let bytes: [u8; 4] = self
            .value
            .try_into()
            .map_err(|_| self.length_error(approach))?;
        Ok(u32::from_be_bytes(bytes))
    }
}

/// Walks the Path Attributes field. `Err` is a session reset; everything
/// else is recorded in `verdict`.
pub(super) fn decode(
    field: &[u8],
    ctx: &Context,
    verdict: &mut Verdict,
) -> Result<Attributes, Notification> {
    let mut out = Attributes::default();
    let mut r = Reader::new(field);
    while !r.is_empty() {
        let Some(a) = next_attribute(&mut r) else {
            // RFC 7606 §4: an attribute running past the field, or too few
            // bytes left for an attribute header. Treat-as-withdraw, with
            // the Total Attribute Length locating the NLRI (or session
            // reset if `update` finds no NLRI to withdraw, §5.2).
            verdict.record(Problem::new(
                Approach::TreatAsWithdraw,
                error_code::MALFORMED_ATTRIBUTE_LIST,
                Vec::new(),
                "path attribute lengths overrun the attribute field",
            ))?;
            break;
        };
        if !out.seen.insert(a.code) {
            duplicate(&a, verdict)?;
            continue;
        }
        if !matches!(a.code, attr::MP_REACH_NLRI | attr::MP_UNREACH_NLRI) {
            out.any_path_attribute = true;
        }
        if let Err(p) = apply(&a, ctx, &mut out) {
            verdict.record(p)?;
        }
    }
    if !ctx.four_octet_as {
        reconcile_as4(&mut out);
    }
    Ok(out)
}

/// Reads one attribute header and value; `None` if it does not fit.
fn next_attribute<'a>(r: &mut Reader<'a>) -> Option<Raw<'a>> {
    let start = r.pos();
    let flags = r.u8()?;
    let code = r.u8()?;
    let len = if flags & EXTENDED_LENGTH != 0 {
        usize::from(r.u16()?)
    } else {
        usize::from(r.u8()?)
    };
    let value = r.take(len)?;
    Some(Raw {
        flags,
        code,
        value,
        raw: r.since(start),
    })
}

/// RFC 7606 §3.g: a second MP_REACH_NLRI or MP_UNREACH_NLRI is a session
/// reset (Malformed Attribute List); any other repeat is discarded and the
/// first occurrence stands.
fn duplicate(a: &Raw<'_>, verdict: &mut Verdict) -> Result<(), Notification> {
    if matches!(a.code, attr::MP_REACH_NLRI | attr::MP_UNREACH_NLRI) {
        return Err(Notification::new(
            error_code::UPDATE_MESSAGE,
            error_code::MALFORMED_ATTRIBUTE_LIST,
            Vec::new(),
        ));
    }
    verdict.note_discarded(format!(
        "{}: repeated, all but the first discarded",
        attr::name(a.code)
    ));
    Ok(())
}

/// Checks and stores one attribute.
fn apply(a: &Raw<'_>, ctx: &Context, out: &mut Attributes) -> Result<(), Problem> {
    use Approach::{AttributeDiscard, SessionReset, TreatAsWithdraw};
    let path = &mut out.path;
    match a.code {
        attr::ORIGIN => {
            a.expect_category(WELL_KNOWN, TreatAsWithdraw)?;
            path.origin = origin(a)?;
        }
        attr::AS_PATH => {
            a.expect_category(WELL_KNOWN, TreatAsWithdraw)?;
            path.as_path = as_path(a, ctx.four_octet_as)?;
        }
        attr::NEXT_HOP => {
            // RFC 7606 §7.3: length not 4 is treat-as-withdraw.
            a.expect_category(WELL_KNOWN, TreatAsWithdraw)?;
            path.next_hop = Some(Ipv4Addr::from(a.u32_value(TreatAsWithdraw)?));
        }
        attr::MULTI_EXIT_DISC => {
            // RFC 7606 §7.4.
            a.expect_category(OPTIONAL_NON_TRANSITIVE, TreatAsWithdraw)?;
            path.med = Some(a.u32_value(TreatAsWithdraw)?);
        }
        attr::LOCAL_PREF => {
            // RFC 7606 §7.5: from an external neighbour it is discarded,
            // malformed or not, and every session here is external (the
            // config refuses internal BGP): a malformed one is attribute
            // discard, a well-formed one is dropped by the import.
            a.expect_category(WELL_KNOWN, AttributeDiscard)?;
            path.local_pref = Some(a.u32_value(AttributeDiscard)?);
        }
        attr::ATOMIC_AGGREGATE => {
            // RFC 7606 §7.6: length not 0 is attribute discard.
            a.expect_category(WELL_KNOWN, TreatAsWithdraw)?;
            if !a.value.is_empty() {
                return Err(a.length_error(AttributeDiscard));
            }
            path.atomic_aggregate = true;
        }
        attr::AGGREGATOR => {
            a.expect_category(OPTIONAL_TRANSITIVE, TreatAsWithdraw)?;
            path.aggregator = Some(aggregator(a, ctx.four_octet_as, AttributeDiscard)?);
        }
        attr::COMMUNITIES => {
            a.expect_category(OPTIONAL_TRANSITIVE, TreatAsWithdraw)?;
            path.communities = communities(a)?;
        }
        attr::LARGE_COMMUNITIES => {
            a.expect_category(OPTIONAL_TRANSITIVE, TreatAsWithdraw)?;
            path.large_communities = large_communities(a)?;
        }
        attr::MP_REACH_NLRI => {
            // RFC 7606 §5.3: flags inconsistent with RFC 4760 make the
            // attribute incorrect, and §3.j makes that a session reset.
            a.expect_category(OPTIONAL_NON_TRANSITIVE, SessionReset)?;
            let (reach, has_nlri) = mp::decode_reach(a.value, a.raw)?;
            out.mp_reach = Some(reach);
            out.mp_reach_has_nlri = has_nlri;
        }
        attr::MP_UNREACH_NLRI => {
            a.expect_category(OPTIONAL_NON_TRANSITIVE, SessionReset)?;
            out.mp_unreach = Some(mp::decode_unreach(a.value, a.raw)?);
        }
        // RFC 6793 §4.1: between two 4-octet speakers these are discarded.
        attr::AS4_PATH | attr::AS4_AGGREGATOR if ctx.four_octet_as => {}
        attr::AS4_PATH => {
            a.expect_category(OPTIONAL_TRANSITIVE, TreatAsWithdraw)?;
            // RFC 6793 §6: a malformed AS4_PATH is discarded.
            let segments = aspath::decode_as4(a.value).ok_or_else(|| {
                a.problem(AttributeDiscard, error_code::MALFORMED_AS_PATH, "malformed")
            })?;
            out.as4_path = Some(segments);
        }
        attr::AS4_AGGREGATOR => {
            a.expect_category(OPTIONAL_TRANSITIVE, TreatAsWithdraw)?;
            // RFC 6793 §6: length not 8 is discarded.
            out.as4_aggregator = Some(aggregator(a, true, AttributeDiscard)?);
        }
        _ => unrecognized(a, path)?,
    }
    Ok(())
}

/// RFC 7606 §7.1: length not 1 or an undefined value is treat-as-withdraw.
fn origin(a: &Raw<'_>) -> Result<Origin, Problem> {
    let [value] = a.value else {
        return Err(a.length_error(Approach::TreatAsWithdraw));
    };
    match value {
        0 => Ok(Origin::Igp),
        1 => Ok(Origin::Egp),
        2 => Ok(Origin::Incomplete),
        _ => Err(a.problem(
            Approach::TreatAsWithdraw,
            error_code::INVALID_ORIGIN_ATTRIBUTE,
            "undefined value",
        )),
    }
}

/// RFC 7606 §7.2: a malformed AS_PATH is treat-as-withdraw.
fn as_path(a: &Raw<'_>, four_octet: bool) -> Result<Vec<AsSegment>, Problem> {
    aspath::decode(a.value, four_octet).ok_or_else(|| {
        Problem::new(
            Approach::TreatAsWithdraw,
            error_code::MALFORMED_AS_PATH,
            Vec::new(),
            "AS_PATH: malformed segment",
        )
    })
}

/// AGGREGATOR (RFC 7606 §7.7: length not 6, or 8 between 4-octet speakers)
/// or AS4_AGGREGATOR (always 8, RFC 6793 §6): ASN and address.
fn aggregator(
    a: &Raw<'_>,
    four_octet: bool,
    approach: Approach,
) -> Result<(u32, Ipv4Addr), Problem> {
    let mut r = Reader::new(a.value);
    let expected = if four_octet { 8 } else { 6 };
    if a.value.len() != expected {
        return Err(a.length_error(approach));
    }
    let asn = if four_octet {
        r.u32()
    } else {
        r.u16().map(u32::from)
    };
    match (asn, r.ipv4()) {
        (Some(asn), Some(addr)) => Ok((asn, addr)),
        _ => Err(a.length_error(approach)),
    }
}

/// RFC 7606 §7.8: a length that is not a non-zero multiple of 4 is
/// treat-as-withdraw.
fn communities(a: &Raw<'_>) -> Result<Vec<u32>, Problem> {
    if a.value.is_empty() || !a.value.len().is_multiple_of(4) {
        return Err(a.length_error(Approach::TreatAsWithdraw));
    }
    let mut r = Reader::new(a.value);
    Ok(std::iter::from_fn(|| r.u32()).collect())
}

/// RFC 8092 §6: a length that is not a non-zero multiple of 12 is
/// treat-as-withdraw. Repeated values are dropped silently (RFC 8092 §5).
fn large_communities(a: &Raw<'_>) -> Result<Vec<LargeCommunity>, Problem> {
    if a.value.is_empty() || !a.value.len().is_multiple_of(12) {
        return Err(a.length_error(Approach::TreatAsWithdraw));
    }
    let mut r = Reader::new(a.value);
    let mut out: Vec<LargeCommunity> = Vec::new();
    while let (Some(global_admin), Some(local_data1), Some(local_data2)) =
        (r.u32(), r.u32(), r.u32())
    {
        let c = LargeCommunity {
            global_admin,
            local_data1,
            local_data2,
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// An attribute sitelink does not recognise (RFC 4271 §5 and §6.3): a
/// well-known one is a session reset (Unrecognized Well-known Attribute,
/// data = the attribute); an optional transitive one is kept with the
/// Partial bit set; an optional non-transitive one is quietly ignored.
fn unrecognized(a: &Raw<'_>, path: &mut PathAttributes) -> Result<(), Problem> {
    if a.flags & OPTIONAL == 0 {
        return Err(a.problem(
            Approach::SessionReset,
            error_code::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
            "unrecognized well-known attribute",
        ));
    }
    if a.flags & TRANSITIVE != 0 {
        path.unknown.push(RawAttribute {
            flags: (a.flags & (CATEGORY | PARTIAL)) | PARTIAL,
            type_code: a.code,
            value: a.value.to_vec(),
        });
    }
    Ok(())
}

/// RFC 6793 §4.2.3, for an UPDATE from a 2-octet speaker: an AGGREGATOR
/// with an ASN other than AS_TRANS means AS4_AGGREGATOR and AS4_PATH are
/// ignored; otherwise AS4_AGGREGATOR names the aggregator and AS4_PATH is
/// merged into AS_PATH.
fn reconcile_as4(out: &mut Attributes) {
    let as4_path = out.as4_path.take();
    let as4_aggregator = out.as4_aggregator.take();
    match out.path.aggregator {
        Some((asn, _)) if asn != AS_TRANS => return,
        Some(_) => {
            if let Some(real) = as4_aggregator {
                out.path.aggregator = Some(real);
            }
        }
        None => {}
    }
    if let Some(as4) = as4_path {
        if out.seen.has(attr::AS_PATH) {
            out.path.as_path = aspath::merge(&out.path.as_path, &as4);
        }
    }
}
