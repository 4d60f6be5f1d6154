//! WireGuard's four message formats (whitepaper section 5.4): their sizes and
//! field offsets, a bounds-checked reader, parsing into typed views and
//! writing. All integers are little-endian; the first byte is the type and
//! the next three are reserved zeros. It owns the bytes' layout only: no
//! keys, no MAC checks (those are `cookie`'s), no state.

use super::crypto::TAG_LEN;
use super::error::WireError;

pub const INITIATION_LEN: usize = 148;
pub const RESPONSE_LEN: usize = 92;
pub const COOKIE_REPLY_LEN: usize = 64;
/// Type, reserved, receiver index and counter.
pub const DATA_HEADER_LEN: usize = 16;
/// What a data message adds to its (padded) payload.
pub const DATA_OVERHEAD: usize = DATA_HEADER_LEN + TAG_LEN;

/// Where MAC1 starts in a handshake message of `len` bytes (MAC2 follows).
pub(crate) const fn mac1_offset(len: usize) -> usize {
    len - 32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Initiation = 1,
    Response = 2,
    CookieReply = 3,
    Data = 4,
}

/// A reader over untrusted bytes: every take is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.buf.split_first_chunk::<N>()?;
        self.buf = rest;
        Some(*head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array::<4>().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array::<8>().map(u64::from_le_bytes)
    }

    fn rest(self) -> &'a [u8] {
        self.buf
    }
}

/// A handshake initiation (type 1), as received.
#[derive(Debug, Clone)]
pub(crate) struct Initiation {
    pub sender: u32,
    pub ephemeral: [u8; 32],
    pub encrypted_static: [u8; 32 + TAG_LEN],
    pub encrypted_timestamp: [u8; 12 + TAG_LEN],
}

/// A handshake response (type 2), as received.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub sender: u32,
    pub receiver: u32,
    pub ephemeral: [u8; 32],
    pub encrypted_nothing: [u8; TAG_LEN],
}

/// A cookie reply (type 3), as received.
#[derive(Debug, Clone)]
pub(crate) struct CookieReply {
    pub receiver: u32,
    pub nonce: [u8; 24],
    pub encrypted_cookie: [u8; 16 + TAG_LEN],
}

/// A transport data message (type 4), borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Data<'a> {
    pub receiver: u32,
    pub counter: u64,
    /// Ciphertext and tag.
    pub sealed: &'a [u8],
}

#[derive(Debug, Clone)]
pub(crate) enum Message<'a> {
    Initiation(Initiation),
    Response(Response),
    CookieReply(CookieReply),
    Data(Data<'a>),
}

fn exact(kind: &'static str, len: usize, expected: usize) -> Result<(), WireError> {
    if len == expected {
        Ok(())
    } else {
        Err(WireError::Length {
            kind,
            len,
            expected,
        })
    }
}

/// The message type of a datagram, its reserved bytes checked.
pub(crate) fn message_type(buf: &[u8]) -> Result<MessageType, WireError> {
    let first = *buf.first().ok_or(WireError::Empty)?;
    let t = match first {
        1 => MessageType::Initiation,
        2 => MessageType::Response,
        3 => MessageType::CookieReply,
        4 => MessageType::Data,
        other => return Err(WireError::UnknownType(other)),
    };
    match buf.get(1..4) {
        Some([0, 0, 0]) => Ok(t),
        Some(_) => Err(WireError::Reserved),
        None => Err(WireError::Length {
            kind: kind_name(t),
            len: buf.len(),
            expected: min_len(t),
        }),
    }
}

fn kind_name(t: MessageType) -> &'static str {
    match t {
        MessageType::Initiation => "initiation",
        MessageType::Response => "response",
        MessageType::CookieReply => "cookie reply",
        MessageType::Data => "data",
    }
}

fn min_len(t: MessageType) -> usize {
    match t {
        MessageType::Initiation => INITIATION_LEN,
        MessageType::Response => RESPONSE_LEN,
        MessageType::CookieReply => COOKIE_REPLY_LEN,
        MessageType::Data => DATA_OVERHEAD,
    }
}

/// Parses a datagram. Sizes are exact for the handshake messages; a data
/// message must hold at least its header and a tag.
pub(crate) fn parse(buf: &[u8]) -> Result<Message<'_>, WireError> {
    let t = message_type(buf)?;
    let too_short = || WireError::Length {
        kind: kind_name(t),
        len: buf.len(),
        expected: min_len(t),
    };
    let mut r = Reader::new(buf.get(4..).ok_or_else(too_short)?);
    match t {
        MessageType::Initiation => {
            exact("initiation", buf.len(), INITIATION_LEN)?;
            Ok(Message::Initiation(Initiation {
                sender: r.u32().ok_or_else(too_short)?,
                ephemeral: r.array().ok_or_else(too_short)?,
                encrypted_static: r.array().ok_or_else(too_short)?,
                encrypted_timestamp: r.array().ok_or_else(too_short)?,
            }))
        }
        MessageType::Response => {
            exact("response", buf.len(), RESPONSE_LEN)?;
            Ok(Message::Response(Response {
                sender: r.u32().ok_or_else(too_short)?,
                receiver: r.u32().ok_or_else(too_short)?,
                ephemeral: r.array().ok_or_else(too_short)?,
                encrypted_nothing: r.array().ok_or_else(too_short)?,
            }))
        }
        MessageType::CookieReply => {
            exact("cookie reply", buf.len(), COOKIE_REPLY_LEN)?;
            Ok(Message::CookieReply(CookieReply {
                receiver: r.u32().ok_or_else(too_short)?,
                nonce: r.array().ok_or_else(too_short)?,
                encrypted_cookie: r.array().ok_or_else(too_short)?,
            }))
        }
        MessageType::Data => {
            if buf.len() < DATA_OVERHEAD {
                return Err(WireError::ShortData(buf.len()));
            }
            let receiver = r.u32().ok_or(WireError::ShortData(buf.len()))?;
            let counter = r.u64().ok_or(WireError::ShortData(buf.len()))?;
            Ok(Message::Data(Data {
                receiver,
                counter,
                sealed: r.rest(),
            }))
        }
    }
}

/// Writes the type and reserved bytes.
pub(crate) fn put_header(out: &mut [u8], t: MessageType) {
    out[0] = t as u8;
    out[1..4].fill(0);
}

/// The data message header for `receiver` and `counter` (16 bytes).
pub(crate) fn data_header(receiver: u32, counter: u64) -> [u8; DATA_HEADER_LEN] {
    let mut h = [0u8; DATA_HEADER_LEN];
    put_header(&mut h, MessageType::Data);
    h[4..8].copy_from_slice(&receiver.to_le_bytes());
    h[8..16].copy_from_slice(&counter.to_le_bytes());
    h
}

/// The receiver index of a response, cookie reply or data message, for
/// dispatch to the peer that owns it; `None` for an initiation.
pub fn receiver_index(buf: &[u8]) -> Result<Option<u32>, WireError> {
    match parse(buf)? {
        Message::Initiation(_) => Ok(None),
        Message::Response(m) => Ok(Some(m.receiver)),
        Message::CookieReply(m) => Ok(Some(m.receiver)),
        Message::Data(m) => Ok(Some(m.receiver)),
    }
}
