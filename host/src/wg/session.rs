//! One transport session: the two keys a handshake derived, the send counter
//! and the receive replay window, and the type-4 data message (receiver
//! index, counter, ChaCha20-Poly1305 of the payload padded to 16 bytes; an
//! empty payload is a keepalive).
//!
//! Sealing and opening take `&self`: the send counter is an `AtomicU64`, so
//! threads sealing at once each get a unique, increasing nonce, and
//! [`Session::reserve`] hands out a run of counters for a caller that assigns
//! nonces in order and seals the run on several cores. The replay window is
//! safe under concurrent openers (see `replay`). It must not decide when to
//! rekey (that is `peer`'s), and reads no clock: `now` is passed in.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::crypto::DataKey;
use super::error::Error;
use super::handshake::TransportKeys;
use super::replay::ReplayWindow;
use super::timers::{REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME};
use super::wire::{data_header, Data, DATA_HEADER_LEN, DATA_OVERHEAD};

/// Payloads are padded to a multiple of this.
pub const PADDING: usize = 16;

/// The padded length of a payload of `len` bytes.
pub fn padded_len(len: usize) -> usize {
    len.div_ceil(PADDING) * PADDING
}

/// See the module documentation.
pub struct Session {
    local_index: u32,
    remote_index: u32,
    initiator: bool,
    created: Instant,
    sender: DataKey,
    receiver: DataKey,
    next_send: AtomicU64,
    replay: ReplayWindow,
    /// Highest counter opened plus one (for timers and statistics).
    received: AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("local_index", &self.local_index)
            .field("remote_index", &self.remote_index)
            .field("initiator", &self.initiator)
            .field("sent", &self.sent())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(keys: TransportKeys, now: Instant) -> Result<Session, Error> {
        Ok(Session {
            local_index: keys.local_index,
            remote_index: keys.remote_index,
            initiator: keys.initiator,
            created: now,
            sender: DataKey::new(&keys.send)?,
            receiver: DataKey::new(&keys.recv)?,
            next_send: AtomicU64::new(0),
            replay: ReplayWindow::default(),
            received: AtomicU64::new(0),
        })
    }

    /// Our index: the far side puts it in the messages it sends us.
    pub fn local_index(&self) -> u32 {
        self.local_index
    }

    /// The far side's index, which our data messages carry.
    pub fn remote_index(&self) -> u32 {
        self.remote_index
    }

    /// Whether we initiated the handshake that made it.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    pub fn created(&self) -> Instant {
        self.created
    }

    /// Counters handed out so far (the next one to be used).
    pub fn sent(&self) -> u64 {
        self.next_send.load(Ordering::Relaxed)
    }

    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.created) >= REJECT_AFTER_TIME
    }

    /// Reserves `n` consecutive counters for [`Session::seal_at`], in the
    /// order the caller will send them.
    pub fn reserve(&self, n: u64, now: Instant) -> Result<Range<u64>, Error> {
        if self.expired(now) {
            return Err(Error::Expired);
        }
        // A compare-and-swap rather than fetch_add: the counter must never
        // pass REJECT_AFTER_MESSAGES, let alone wrap to reuse a nonce,
        // whatever other threads do meanwhile.
        let start = self
            .next_send
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                c.checked_add(n).filter(|end| *end <= REJECT_AFTER_MESSAGES)
            })
            .map_err(|_| Error::Expired)?;
        Ok(start..start + n)
    }

    /// Seals `payload` as a data message into `out` with the next counter;
    /// returns the datagram's length and the counter used.
    pub fn seal(
        &self,
        payload: &[u8],
        out: &mut [u8],
        now: Instant,
    ) -> Result<(usize, u64), Error> {
        let need = DATA_OVERHEAD + padded_len(payload.len());
        if out.len() < need {
            return Err(Error::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        let counter = self.reserve(1, now)?.start;
        Ok((self.seal_at(counter, payload, out)?, counter))
    }

    /// Seals with a counter from [`Session::reserve`]. Each counter must be
    /// used once: a counter sealed twice with different payloads would
    /// reuse a nonce.
    pub fn seal_at(&self, counter: u64, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.seal_within(counter, payload, out, usize::MAX)
    }

    /// As [`Session::seal_at`], with the padding capped so that the padded
    /// payload does not pass `mtu` (the tunnel's MTU, as WireGuard pads: a
    /// full-size packet is sent unpadded, so its datagram still fits the
    /// uplink).
    pub fn seal_within(
        &self,
        counter: u64,
        payload: &[u8],
        out: &mut [u8],
        mtu: usize,
    ) -> Result<usize, Error> {
        let padded = padded_len(payload.len()).min(mtu.max(payload.len()));
        let need = DATA_OVERHEAD + padded;
        if out.len() < need {
            return Err(Error::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        out[..DATA_HEADER_LEN].copy_from_slice(&data_header(self.remote_index, counter));
        let body = &mut out[DATA_HEADER_LEN..need];
        let (text, tag) = body.split_at_mut(padded);
        text[..payload.len()].copy_from_slice(payload);
        text[payload.len()..].fill(0);
        self.sender.seal(counter, text, tag)?;
        Ok(need)
    }

    /// Opens a parsed data message addressed to this session into `out`
    /// (which must hold the ciphertext and tag: it is decrypted in place
    /// there); returns the plaintext's length (padding included; 0:
    /// keepalive).
    pub(crate) fn open(
        &self,
        msg: &Data<'_>,
        out: &mut [u8],
        now: Instant,
    ) -> Result<usize, Error> {
        self.checked(msg.counter, now, || {
            self.receiver.open(msg.counter, msg.sealed, out)
        })
    }

    /// Runs `decrypt` for a message with `counter` if the session is not
    /// expired and the counter is new, and takes the counter once the
    /// message proved authentic: the replay window sees only real ones.
    fn checked(
        &self,
        counter: u64,
        now: Instant,
        decrypt: impl FnOnce() -> Result<usize, Error>,
    ) -> Result<usize, Error> {
        if self.expired(now) {
            return Err(Error::Expired);
        }
        if counter >= REJECT_AFTER_MESSAGES || !self.replay.check(counter) {
            return Err(Error::Replay(counter));
        }
        let len = decrypt()?;
        if !self.replay.accept(counter) {
            return Err(Error::Replay(counter));
        }
        self.received.fetch_max(counter + 1, Ordering::Relaxed);
        Ok(len)
    }

    /// Opens a whole data message (type 4) addressed to this session in
    /// place: returns where in `datagram` the plaintext is (padding
    /// included; empty: a keepalive). The data path decrypts in its receive
    /// buffer this way, on any thread.
    pub fn open_in_place(&self, datagram: &mut [u8], now: Instant) -> Result<Range<usize>, Error> {
        let (receiver, counter, sealed) = match super::wire::parse(datagram)? {
            super::wire::Message::Data(d) => (d.receiver, d.counter, d.sealed.len()),
            _ => return Err(Error::UnexpectedMessage),
        };
        if receiver != self.local_index {
            return Err(Error::UnknownIndex(receiver));
        }
        let body = datagram
            .get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + sealed)
            .ok_or(Error::Decrypt)?;
        let len = self.checked(counter, now, || self.receiver.open_in_place(counter, body))?;
        Ok(DATA_HEADER_LEN..DATA_HEADER_LEN + len)
    }

    /// Opens a whole datagram (type 4) addressed to this session.
    pub fn open_datagram(
        &self,
        datagram: &[u8],
        out: &mut [u8],
        now: Instant,
    ) -> Result<usize, Error> {
        match super::wire::parse(datagram)? {
            super::wire::Message::Data(d) if d.receiver == self.local_index => {
                self.open(&d, out, now)
            }
            super::wire::Message::Data(d) => Err(Error::UnknownIndex(d.receiver)),
            _ => Err(Error::UnexpectedMessage),
        }
    }
}
