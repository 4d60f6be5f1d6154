//! Why a WireGuard message was refused or could not be produced. `Display` is
//! one terse line; a malformed message chains the parse error as `source()`.
//! No key bytes ever go into an error.

/// Why bytes are not a well-formed WireGuard message (before any crypto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty datagram")]
    Empty,
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("reserved bytes not zero")]
    Reserved,
    #[error("{kind} message of {len} bytes, expected {expected}")]
    Length {
        kind: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("data message of {0} bytes, shorter than its header and tag")]
    ShortData(usize),
}

/// Why a message was refused, or an operation could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("malformed message")]
    Wire(#[from] WireError),
    #[error("invalid mac1")]
    Mac1,
    #[error("decryption failed")]
    Decrypt,
    #[error("handshake from an unexpected static key")]
    WrongPeer,
    #[error("initiation timestamp not newer than the last one")]
    ReplayedTimestamp,
    #[error("initiations arriving too fast")]
    Flood,
    #[error(
        "handshakes from this source arriving too fast (over {} a second under load)",
        super::ratelimit::PER_SECOND
    )]
    SourceFlood,
    #[error("response or cookie for no handshake in progress")]
    UnexpectedMessage,
    #[error("no session for receiver index {0:#010x}")]
    UnknownIndex(u32),
    #[error("replayed or too old counter {0}")]
    Replay(u64),
    #[error("no valid session")]
    NoSession,
    #[error("session expired")]
    Expired,
    #[error("output buffer of {have} bytes, {need} needed")]
    BufferTooSmall { need: usize, have: usize },
    #[error("degenerate Diffie-Hellman result")]
    WeakKey,
    #[error("cipher refused the operation")]
    Crypto,
}
