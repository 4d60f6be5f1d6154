//! The BGP wire codec: bytes to [`Message`] values and back. This file owns
//! the public API, framing a TCP byte stream into messages and the message
//! header (RFC 4271 §4.1), the header and per-type length checks of RFC 4271
//! §6.1, and the three small messages (NOTIFICATION §4.5, KEEPALIVE §4.4,
//! ROUTE-REFRESH RFC 2918 §3); OPEN lives in `open`, UPDATE in `update` and
//! the modules it uses. The codec is pure: it keeps no session state, does no
//! I/O and decides no protocol action. What RFC 7606 says to do about a bad
//! UPDATE is reported (a NOTIFICATION in `Err`, or the treat-as-withdraw and
//! attribute-discard marks on [`Update`]) and the FSM acts on it. Nothing here
//! panics on received bytes: every read goes through `reader::Reader`.

mod aspath;
mod attr;
mod attr_decode;
mod attr_encode;
mod mp;
mod nlri;
mod open;
mod reader;
mod split;
mod update;

#[cfg(test)]
mod tests;

use crate::bgp::message::{error_code, Family, Message, Notification, HEADER_LEN, MAX_MESSAGE_LEN};

use reader::Reader;

pub use split::{encode_announcements, encode_end_of_rib, encode_withdrawals};

/// What was negotiated on the session and changes how bytes are read/written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Both speakers sent the 4-octet AS capability (RFC 6793 §3): AS_PATH
    /// and AGGREGATOR carry 4-octet ASNs and AS4_PATH/AS4_AGGREGATOR are
    /// neither sent nor used.
    pub four_octet_as: bool,
}

impl Default for Context {
    /// Before the OPEN exchange nothing is negotiated (RFC 6793).
    fn default() -> Self {
        Context {
            four_octet_as: false,
        }
    }
}

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The message would exceed 4096 bytes (RFC 4271 §4.1), or one of its
    /// fields its own limit (an OPEN's optional parameters or one
    /// capability: 255 bytes, RFC 4271 §4.2 and RFC 5492 §4). `len` is the
    /// length that did not fit.
    #[error("BGP message too long: {len} bytes does not fit")]
    TooLong { len: usize },
}

/// Message type codes (RFC 4271 §4.1; ROUTE-REFRESH: RFC 2918 §3).
const TYPE_OPEN: u8 = 1;
const TYPE_UPDATE: u8 = 2;
const TYPE_NOTIFICATION: u8 = 3;
const TYPE_KEEPALIVE: u8 = 4;
const TYPE_ROUTE_REFRESH: u8 = 5;

const MARKER_LEN: usize = 16;
/// Offset of the 2-byte Length field in the header.
const LENGTH_AT: usize = MARKER_LEN;

/// Minimum lengths, header included (RFC 4271 §4.2, §4.3, §4.5; RFC 2918 §3).
const OPEN_MIN_LEN: usize = 29;
const UPDATE_MIN_LEN: usize = 23;
const NOTIFICATION_MIN_LEN: usize = 21;
const ROUTE_REFRESH_LEN: usize = 23;

/// Splits a TCP stream: `Ok(None)` = need more bytes; `Ok(Some(len))` = a
/// whole message of `len` bytes is at the start of `buf`; `Err` = the marker
/// is not all ones (Message Header Error / Connection Not Synchronized) or
/// the length is below 19 or above 4096 (Bad Message Length, data = the
/// 2-byte Length field), RFC 4271 §6.1.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, Notification> {
    let marker = buf.get(..MARKER_LEN.min(buf.len())).unwrap_or(&[]);
    if marker.iter().any(|&b| b != 0xff) {
        return Err(not_synchronized());
    }
    let Some(field) = buf.get(LENGTH_AT..LENGTH_AT + 2) else {
        return Ok(None);
    };
    let len = field
        .try_into()
        .map_or(0, |b: [u8; 2]| usize::from(u16::from_be_bytes(b)));
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(bad_length(field));
    }
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(len))
}

/// Decodes exactly one message (a frame from [`frame_len`]). `Err` is the
/// NOTIFICATION to send before closing the session (RFC 4271 §6, RFC 7606).
/// UPDATE errors for which RFC 7606 prescribes treat-as-withdraw or
/// attribute-discard do not return `Err`: they return the [`Update`] with
/// `treat_as_withdraw: Some(reason)` or entries in `discarded`.
///
/// [`Update`]: crate::bgp::message::Update
pub fn decode(frame: &[u8], ctx: &Context) -> Result<Message, Notification> {
    let (kind, body) = decode_header(frame)?;
    match kind {
        TYPE_OPEN => open::decode_open(body).map(Message::Open),
        TYPE_UPDATE => update::decode_update(body, ctx).map(Message::Update),
        TYPE_NOTIFICATION => Ok(Message::Notification(decode_notification(body))),
        TYPE_KEEPALIVE => Ok(Message::Keepalive),
        _ => Ok(Message::RouteRefresh(decode_route_refresh(body))),
    }
}

/// Encodes one message, appended to `out`. `Err` only if it would exceed
/// 4096 bytes (or an OPEN field its limit, see [`EncodeError`]); `out` is
/// then left as it was.
pub fn encode(msg: &Message, ctx: &Context, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&[0xff; MARKER_LEN]);
    m.extend_from_slice(&[0, 0]);
    match msg {
        Message::Open(o) => {
            m.push(TYPE_OPEN);
            open::encode_open(o, &mut m)?;
        }
        Message::Update(u) => {
            m.push(TYPE_UPDATE);
            update::encode_update(u, ctx, &mut m);
        }
        Message::Notification(n) => {
            m.push(TYPE_NOTIFICATION);
            m.push(n.code);
            m.push(n.subcode);
            m.extend_from_slice(&n.data);
        }
        Message::Keepalive => m.push(TYPE_KEEPALIVE),
        Message::RouteRefresh(f) => {
            m.push(TYPE_ROUTE_REFRESH);
            // RFC 2918 §3: AFI (2), Reserved (1, sent as 0), SAFI (1).
            m.extend_from_slice(&f.afi.to_be_bytes());
            m.push(0);
            m.push(f.safi);
        }
    }
    if m.len() > MAX_MESSAGE_LEN {
        return Err(EncodeError::TooLong { len: m.len() });
    }
    let len = m.len();
    patch_len16(&mut m, LENGTH_AT, len);
    out.extend_from_slice(&m);
    Ok(())
}

/// Checks the header of one frame (RFC 4271 §4.1, §6.1) and returns the
/// message type and the body after the header.
fn decode_header(frame: &[u8]) -> Result<(u8, &[u8]), Notification> {
    let mut r = Reader::new(frame);
    let marker = frame.get(..MARKER_LEN.min(frame.len())).unwrap_or(&[]);
    if marker.iter().any(|&b| b != 0xff) {
        return Err(not_synchronized());
    }
    let field = r.take(MARKER_LEN).and_then(|_| r.take(2)).unwrap_or(&[]);
    let len = field
        .try_into()
        .map(|b: [u8; 2]| usize::from(u16::from_be_bytes(b)));
    let kind = r.u8();
    let (Ok(len), Some(kind)) = (len, kind) else {
        return Err(bad_length(field));
    };
    // The Length field must be within 19..=4096 and describe this frame.
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) || len != frame.len() {
        return Err(bad_length(field));
    }
    check_type_length(kind, len, field)?;
    Ok((kind, r.rest()))
}

/// The per-type checks of RFC 4271 §6.1: an unknown type is Bad Message
/// Type (data = the type byte), a length below the type's minimum (or not
/// exactly 19 for KEEPALIVE, 23 for ROUTE-REFRESH) is Bad Message Length.
fn check_type_length(kind: u8, len: usize, field: &[u8]) -> Result<(), Notification> {
    let ok = match kind {
        TYPE_OPEN => len >= OPEN_MIN_LEN,
        TYPE_UPDATE => len >= UPDATE_MIN_LEN,
        TYPE_NOTIFICATION => len >= NOTIFICATION_MIN_LEN,
        TYPE_KEEPALIVE => len == HEADER_LEN,
        // RFC 2918 §3 fixes the body at 4 bytes. (RFC 7313 §5 has its own
        // error for this, but only once Enhanced Route Refresh, which
        // sitelink does not offer, is negotiated.)
        TYPE_ROUTE_REFRESH => len == ROUTE_REFRESH_LEN,
        _ => {
            return Err(Notification::new(
                error_code::MESSAGE_HEADER,
                error_code::BAD_MESSAGE_TYPE,
                vec![kind],
            ))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(bad_length(field))
    }
}

/// NOTIFICATION body (RFC 4271 §4.5): code, subcode, data. The length
/// check guarantees the two fixed bytes.
fn decode_notification(body: &[u8]) -> Notification {
    let mut r = Reader::new(body);
    let code = r.u8().unwrap_or(0);
    let subcode = r.u8().unwrap_or(0);
    Notification::new(code, subcode, r.rest().to_vec())
}

/// ROUTE-REFRESH body (RFC 2918 §3): AFI, reserved, SAFI; the length check
/// guarantees the 4 bytes. The reserved byte is ignored on receipt (RFC 2918
/// §3; RFC 7313 gives it a meaning only once Enhanced Route Refresh is
/// negotiated).
fn decode_route_refresh(body: &[u8]) -> Family {
    let mut r = Reader::new(body);
    let afi = r.u16().unwrap_or(0);
    let _reserved = r.u8();
    let safi = r.u8().unwrap_or(0);
    Family { afi, safi }
}

/// Message Header Error / Connection Not Synchronized (RFC 4271 §6.1).
fn not_synchronized() -> Notification {
    Notification::new(
        error_code::MESSAGE_HEADER,
        error_code::CONNECTION_NOT_SYNCHRONIZED,
        Vec::new(),
    )
}

/// Message Header Error / Bad Message Length, with the erroneous Length
/// field as data (RFC 4271 §6.1).
fn bad_length(field: &[u8]) -> Notification {
    Notification::new(
        error_code::MESSAGE_HEADER,
        error_code::BAD_MESSAGE_LENGTH,
        field.to_vec(),
    )
}

/// Writes `value` as a big-endian u16 at `at` (a length field reserved
/// earlier). A value above 65535 is written as 65535: such a message is
/// over 4096 bytes and [`encode`] refuses it anyway.
fn patch_len16(out: &mut [u8], at: usize, value: usize) {
    let v = u16::try_from(value).unwrap_or(u16::MAX);
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&v.to_be_bytes());
    }
}
