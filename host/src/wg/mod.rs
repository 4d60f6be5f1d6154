//! Our own WireGuard protocol core (issue 14: parallel sealing), sans-IO and
//! not yet wired into the data path, which still runs boringtun's `Tunn`.
//!
//! It exists because `Tunn` keeps its transport keys to itself and seals and
//! opens through `&mut self`, so one tunnel is serialised under a lock. Here a
//! [`Session`] seals through `&self` (its send counter is an `AtomicU64`) and
//! opens through `&self` (a replay window safe under concurrent callers), so
//! a later data path can seal one tunnel's packets on every core.
//!
//! It owns: the Noise_IKpsk2 handshake with WireGuard's construction
//! (`handshake`), the primitives (`crypto`), the message formats and their
//! bounds-checked parsing (`wire`), MAC1/MAC2 and cookie replies (`cookie`),
//! the transport sessions and replay window (`session`, `replay`), and the
//! timer state machine of the whitepaper's section 6 with current, previous
//! and next sessions (`peer`, `timers`).
//!
//! It must not touch sockets, threads or the clock: every input takes the
//! caller's `now` (and a wall-clock base for TAI64N timestamps, given once),
//! random values come from the caller's RNG, and outputs are bytes for the
//! caller to send. Untrusted input never panics: parsing returns [`Error`].

mod cookie;
mod crypto;
mod error;
mod gate;
mod handshake;
mod peer;
mod ratelimit;
mod replay;
mod session;
mod timers;
mod wire;

#[cfg(test)]
mod tests;

pub use cookie::CookieChecker;
pub use error::{Error, WireError};
pub use gate::{Admit, Gate};
pub use handshake::{StaticKeys, Tai64nClock};
pub use peer::{Outcome, Peer, PeerConfig};
pub use replay::ReplayWindow;
pub use session::Session;
pub use timers::{
    KEEPALIVE_TIMEOUT, REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME, REKEY_AFTER_MESSAGES,
    REKEY_AFTER_TIME, REKEY_ATTEMPT_TIME, REKEY_TIMEOUT,
};
pub use wire::{
    receiver_index, MessageType, COOKIE_REPLY_LEN, DATA_HEADER_LEN, DATA_OVERHEAD, INITIATION_LEN,
    RESPONSE_LEN,
};
