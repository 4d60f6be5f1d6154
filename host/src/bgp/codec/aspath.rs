//! AS_PATH and AS4_PATH values: path segments with 2- or 4-octet ASNs
//! (RFC 4271 §4.3 and §5.1.2, RFC 5065 confederation segments, RFC 6793),
//! the segment checks of RFC 7606 §7.2, the AS4_PATH checks of RFC 6793 §6,
//! the AS_TRANS substitution and AS4_PATH of RFC 6793 §4.2.2 on send, and
//! the AS_PATH/AS4_PATH merge of RFC 6793 §4.2.3 on receipt. It owns the
//! attribute values only: flags, lengths of the attribute itself and what an
//! error means for the UPDATE belong to `attr_decode` and `attr_encode`.

use crate::bgp::message::{AsSegment, SegmentKind, AS_TRANS};

use super::reader::Reader;

/// Most ASNs a segment can hold (its length is one byte).
const MAX_SEGMENT_ASNS: usize = 255;

/// Decodes an AS_PATH value; `None` if it is malformed per RFC 7606 §7.2:
/// an unknown segment type, a segment length of zero, a segment overrunning
/// the attribute, or a single octet left over where a segment header
/// should be.
pub(super) fn decode(value: &[u8], four_octet: bool) -> Option<Vec<AsSegment>> {
    let mut r = Reader::new(value);
    let mut segments = Vec::new();
    while !r.is_empty() {
        let kind = segment_kind(r.u8()?)?;
        let count = usize::from(r.u8()?);
        if count == 0 {
            return None;
        }
        let mut asns = Vec::with_capacity(count);
        for _ in 0..count {
            let asn = if four_octet {
                r.u32()?
            } else {
                u32::from(r.u16()?)
            };
            asns.push(asn);
        }
        segments.push(AsSegment { kind, asns });
    }
    Some(segments)
}

/// Decodes an AS4_PATH value (always 4-octet ASNs); `None` if malformed per
/// RFC 6793 §6: a length below 6 or not even, a confederation segment, or
/// any of the segment errors of [`decode`]; or holding AS 0 (RFC 7607 §2:
/// the attribute is discarded and AS_PATH used).
pub(super) fn decode_as4(value: &[u8]) -> Option<Vec<AsSegment>> {
    if value.len() < 6 || !value.len().is_multiple_of(2) {
        return None;
    }
    let segments = decode(value, true)?;
    let confed = segments.iter().any(|s| is_confed(s.kind));
    let as0 = segments.iter().any(|s| s.asns.contains(&0));
    (!confed && !as0).then_some(segments)
}

fn segment_kind(code: u8) -> Option<SegmentKind> {
    match code {
        1 => Some(SegmentKind::Set),
        2 => Some(SegmentKind::Sequence),
        3 => Some(SegmentKind::ConfedSequence),
        4 => Some(SegmentKind::ConfedSet),
        _ => None,
    }
}

fn is_confed(kind: SegmentKind) -> bool {
    matches!(kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet)
}

/// Encodes `segments` as an AS_PATH (or AS4_PATH) value. Segments longer
/// than 255 ASNs are split into consecutive segments of the same type;
/// empty segments are left out (a zero-length segment is malformed, RFC
/// 7606 §7.2). With 2-octet ASNs an ASN above 65535 is written as AS_TRANS
/// (RFC 6793 §4.2.2).
pub(super) fn encode(segments: &[AsSegment], four_octet: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for seg in segments {
        for chunk in seg.asns.chunks(MAX_SEGMENT_ASNS) {
            out.push(seg.kind as u8);
            out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
            for &asn in chunk {
                if four_octet {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    out.extend_from_slice(&two_octet(asn).to_be_bytes());
                }
            }
        }
    }
    out
}

/// `asn` in a 2-octet field: itself if it fits, else AS_TRANS (RFC 6793 §9).
pub(super) fn two_octet(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS as u16)
}

/// The AS4_PATH to send to a 2-octet speaker alongside `segments`, if one
/// is needed: the path without its confederation segments (RFC 6793 §4.2.2
/// forbids them in AS4_PATH), when that path holds an ASN above 65535.
pub(super) fn as4_path_for(segments: &[AsSegment]) -> Option<Vec<AsSegment>> {
    let plain: Vec<AsSegment> = segments
        .iter()
        .filter(|s| !is_confed(s.kind) && !s.asns.is_empty())
        .cloned()
        .collect();
    let needed = plain.iter().flat_map(|s| &s.asns).any(|&a| a > 0xffff);
    needed.then_some(plain)
}

/// The number of ASes in a path as RFC 4271 §9.1.2.2 and RFC 5065 count
/// them: a sequence counts each ASN, a set counts one, confederation
/// segments count none.
fn count(segments: &[AsSegment]) -> usize {
    segments
        .iter()
        .map(|s| match s.kind {
            SegmentKind::Sequence => s.asns.len(),
            SegmentKind::Set => 1,
            SegmentKind::ConfedSequence | SegmentKind::ConfedSet => 0,
        })
        .sum()
}

/// Rebuilds the path of an UPDATE from a 2-octet speaker (RFC 6793 §4.2.3).
/// If AS_PATH counts fewer ASes than AS4_PATH, AS4_PATH is ignored.
/// Otherwise the leading ASes of AS_PATH (as many as it counts more than
/// AS4_PATH, with any confederation segments among or right after them)
/// are prepended to AS4_PATH.
pub(super) fn merge(as_path: &[AsSegment], as4_path: &[AsSegment]) -> Vec<AsSegment> {
    let (have, have4) = (count(as_path), count(as4_path));
    if have < have4 {
        return as_path.to_vec();
    }
    let mut need = have - have4;
    let mut out: Vec<AsSegment> = Vec::new();
    for seg in as_path {
        match seg.kind {
            SegmentKind::ConfedSequence | SegmentKind::ConfedSet => out.push(seg.clone()),
            _ if need == 0 => break,
            SegmentKind::Set => {
                out.push(seg.clone());
                need -= 1;
            }
            SegmentKind::Sequence => {
                let take = need.min(seg.asns.len());
                out.push(AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: seg.asns.iter().take(take).copied().collect(),
                });
                need -= take;
                if take < seg.asns.len() {
                    break;
                }
            }
        }
    }
    for seg in as4_path {
        append(&mut out, seg.clone());
    }
    out
}

/// Pushes `seg`, joining it to the last segment when both are sequences.
fn append(out: &mut Vec<AsSegment>, seg: AsSegment) {
    if let Some(last) = out.last_mut() {
        if last.kind == SegmentKind::Sequence && seg.kind == SegmentKind::Sequence {
            last.asns.extend(seg.asns);
            return;
        }
    }
    out.push(seg);
}
