//! The protocol's time and message limits (whitepaper section 6) and the
//! deadlines a peer keeps: handshake retransmission, the keepalive owed after
//! receiving data, the handshake owed after sending into silence, persistent
//! keepalive and the erasure of old keys. It owns deadlines only: `peer`
//! arms and fires them at the caller's `now`. It must not read the clock.

use std::time::{Duration, Instant};

pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);
pub const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
pub const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Up to this much random delay is added to REKEY_TIMEOUT.
pub const REKEY_TIMEOUT_JITTER_MS: u32 = 334;
/// An initiator that received data on a session this old rekeys (REJECT
/// less KEEPALIVE less REKEY_TIMEOUT: the session must not die first).
pub const REKEY_ON_RECEIVE_AGE: Duration = Duration::from_secs(180 - 10 - 5);
/// At most one initiation accepted from a peer per this much time.
pub const INITIATION_MIN_INTERVAL: Duration = Duration::from_millis(20);

/// The armed deadlines of one peer.
#[derive(Debug, Default, Clone)]
pub(crate) struct Timers {
    /// Resend the initiation in flight (REKEY_TIMEOUT + jitter after sending).
    pub retransmit: Option<Instant>,
    /// When the current run of handshake attempts started.
    pub attempts_since: Option<Instant>,
    /// Data was received and nothing sent since: a keepalive is owed.
    pub keepalive: Option<Instant>,
    /// Data was sent and nothing received since: start a handshake.
    pub new_handshake: Option<Instant>,
    /// Erase every key (3 × REJECT_AFTER_TIME after the latest session).
    pub zero_keys: Option<Instant>,
    pub persistent_keepalive: Option<Instant>,
}

pub(crate) fn due(t: Option<Instant>, now: Instant) -> bool {
    t.is_some_and(|t| t <= now)
}

impl Timers {
    pub fn earliest(&self) -> Option<Instant> {
        [
            self.retransmit,
            self.keepalive,
            self.new_handshake,
            self.zero_keys,
            self.persistent_keepalive,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
