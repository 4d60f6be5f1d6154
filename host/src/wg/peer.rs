//! One WireGuard peer as a sans-IO state machine, in the style of
//! `bgp::fsm`: the handshake in flight, the current, previous and next
//! sessions, session indexes, cookies, and the timers of the whitepaper's
//! section 6 (rekey after REKEY_AFTER_TIME or REKEY_AFTER_MESSAGES as the
//! initiator, retransmission every REKEY_TIMEOUT plus jitter for up to
//! REKEY_ATTEMPT_TIME, keepalives, persistent keepalive, key erasure).
//! Inputs take the caller's `now`; bytes to send come back in the caller's
//! buffer; the caller calls [`Peer::handle_timeout`] at [`Peer::poll_timeout`].
//!
//! The sessions are `Arc<Session>`: a data path may seal and open on them
//! from many threads ([`Peer::current`]) while this state machine, behind the
//! caller's lock, decides which session is current. It must not touch
//! sockets, threads or the clock; random values come from the injected RNG.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::CryptoRngCore;
use x25519_dalek::PublicKey;

use super::cookie::{self, CookieChecker, CookieJar};
use super::error::Error;
use super::handshake::{self, InitiatorState, Remote, StaticKeys, Tai64nClock};
use super::session::Session;
use super::timers::{
    due, Timers, INITIATION_MIN_INTERVAL, KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME,
    REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME, REKEY_ATTEMPT_TIME, REKEY_ON_RECEIVE_AGE,
    REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MS,
};
use super::wire::{self, Message, COOKIE_REPLY_LEN, DATA_OVERHEAD, INITIATION_LEN, RESPONSE_LEN};

/// What a peer is built from.
pub struct PeerConfig {
    pub remote_public: PublicKey,
    pub preshared_key: Option<[u8; 32]>,
    pub persistent_keepalive: Option<Duration>,
    /// The high 24 bits of our session indexes (the tunnel's number); the
    /// low 8 count sessions, so a receiver index names its peer.
    pub index_base: u32,
    pub clock: Tai64nClock,
}

/// What [`Peer::decapsulate`] made of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A data message's plaintext is in the buffer's first bytes (padding
    /// included: the inner packet's header gives its length).
    Data(usize),
    /// A keepalive (empty data message).
    Keepalive,
    /// The buffer's first bytes are a message to send back to the sender (a
    /// handshake response, a cookie reply, a keepalive after a response).
    Reply(usize),
    /// Consumed; nothing to do (a cookie reply we honoured).
    Done,
}

struct Pending {
    state: InitiatorState,
}

/// See the module documentation.
pub struct Peer<R> {
    local: Arc<StaticKeys>,
    remote: Remote,
    persistent_keepalive: Option<Duration>,
    index_base: u32,
    next_index: u8,
    clock: Tai64nClock,
    rng: R,
    pending: Option<Pending>,
    current: Option<Arc<Session>>,
    previous: Option<Arc<Session>>,
    next: Option<Arc<Session>>,
    timers: Timers,
    /// A handshake is owed since then (rekey, data with no session, silence).
    want_handshake: Option<Instant>,
    last_initiation_sent: Option<Instant>,
    /// The newest initiation timestamp accepted from the far side.
    last_timestamp: Option<[u8; 12]>,
    last_initiation_received: Option<Instant>,
    /// The timestamp of our latest initiation (ours must grow too).
    last_sent_timestamp: [u8; 12],
    jar: CookieJar,
    checker: CookieChecker,
    handshakes: u64,
    last_handshake: Option<Instant>,
    /// The handshake attempts gave up (REKEY_ATTEMPT_TIME) since the last
    /// [`Peer::take_gave_up`]: what waited for a session is stale.
    gave_up: bool,
}

impl<R: CryptoRngCore> Peer<R> {
    pub fn new(local: Arc<StaticKeys>, cfg: PeerConfig, rng: R) -> Result<Peer<R>, Error> {
        let remote = Remote::new(&local, cfg.remote_public, cfg.preshared_key)?;
        let checker = CookieChecker::new(local.cookie_key);
        Ok(Peer {
            local,
            remote,
            // WireGuard's interval is a u16 of seconds: no longer.
            persistent_keepalive: cfg
                .persistent_keepalive
                .filter(|d| !d.is_zero())
                .map(|d| d.min(Duration::from_secs(u64::from(u16::MAX)))),
            index_base: cfg.index_base & 0x00ff_ffff,
            next_index: 0,
            clock: cfg.clock,
            rng,
            pending: None,
            current: None,
            previous: None,
            next: None,
            timers: Timers::default(),
            want_handshake: None,
            last_initiation_sent: None,
            last_timestamp: None,
            last_initiation_received: None,
            last_sent_timestamp: [0; 12],
            jar: CookieJar::default(),
            checker,
            handshakes: 0,
            last_handshake: None,
            gave_up: false,
        })
    }

    /// Drops every session and a handshake in progress, and owes none: a
    /// retired tunnel keeps no keys (they go once the data path's last
    /// reference to a session does) and starts nothing.
    pub fn forget_sessions(&mut self) {
        self.pending = None;
        self.current = None;
        self.previous = None;
        self.next = None;
        self.want_handshake = None;
    }

    /// Whether the handshake attempts gave up since the last call (the
    /// packets queued for a session are then dropped, as wireguard-go
    /// does: a session minutes later must not send them in a burst).
    pub fn take_gave_up(&mut self) -> bool {
        std::mem::take(&mut self.gave_up)
    }

    /// The session to seal with, if any (shared with other threads).
    pub fn current(&self) -> Option<Arc<Session>> {
        self.current.clone()
    }

    /// Handshakes completed.
    pub fn handshakes(&self) -> u64 {
        self.handshakes
    }

    /// When the latest handshake completed (we answered one, or took the
    /// answer to ours).
    pub fn last_handshake(&self) -> Option<Instant> {
        self.last_handshake
    }

    /// Whether a handshake is in flight.
    pub fn handshake_pending(&self) -> bool {
        self.pending.is_some()
    }

    fn sessions(&self) -> impl Iterator<Item = &Arc<Session>> {
        [&self.current, &self.previous, &self.next]
            .into_iter()
            .flatten()
    }

    fn alloc_index(&mut self) -> u32 {
        loop {
            self.next_index = self.next_index.wrapping_add(1);
            let idx = (self.index_base << 8) | u32::from(self.next_index);
            let used = self.sessions().any(|s| s.local_index() == idx)
                || self
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.state.local_index == idx);
            if !used {
                return idx;
            }
        }
    }

    fn jitter(&mut self) -> Duration {
        Duration::from_millis(u64::from(self.rng.next_u32() % REKEY_TIMEOUT_JITTER_MS))
    }

    /// After any authenticated packet sent (data, keepalive, handshake).
    fn on_sent(&mut self, now: Instant) {
        self.timers.keepalive = None;
        if let Some(every) = self.persistent_keepalive {
            self.timers.persistent_keepalive = Some(now + every);
        }
    }

    /// After any authenticated packet received.
    fn on_received(&mut self, now: Instant) {
        self.timers.new_handshake = None;
        if let Some(every) = self.persistent_keepalive {
            self.timers.persistent_keepalive = Some(now + every);
        }
    }

    /// Starts a handshake now (the caller's own decision, e.g. at start).
    pub fn initiate(&mut self, now: Instant, out: &mut [u8]) -> Result<usize, Error> {
        self.timers.attempts_since.get_or_insert(now);
        self.send_initiation(now, out)
    }

    fn send_initiation(&mut self, now: Instant, out: &mut [u8]) -> Result<usize, Error> {
        let have = out.len();
        let buf: &mut [u8; INITIATION_LEN] = out
            .get_mut(..INITIATION_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::BufferTooSmall {
                need: INITIATION_LEN,
                have,
            })?;
        let mut ts = self.clock.timestamp(now);
        if ts <= self.last_sent_timestamp {
            // Same whitened instant as the previous one: one nanosecond on.
            ts = self.last_sent_timestamp;
            let nanos = u32::from_be_bytes([ts[8], ts[9], ts[10], ts[11]]).wrapping_add(1);
            ts[8..].copy_from_slice(&nanos.to_be_bytes());
        }
        self.last_sent_timestamp = ts;
        let index = self.alloc_index();
        let eph = handshake::ephemeral(&mut self.rng);
        let state = handshake::create_initiation(&self.local, &self.remote, index, ts, eph, buf)?;
        let mac1 = cookie::stamp(buf, &self.remote.mac1_key, self.jar.cookie(now));
        self.jar.sent(mac1);
        self.pending = Some(Pending { state });
        self.want_handshake = None;
        self.last_initiation_sent = Some(now);
        self.timers.retransmit = Some(now + REKEY_TIMEOUT + self.jitter());
        self.timers.attempts_since.get_or_insert(now);
        self.on_sent(now);
        Ok(INITIATION_LEN)
    }

    /// Seals `payload` with the current session into `out`; returns the
    /// datagram's length. Without a usable session it asks for a handshake
    /// (see [`Peer::poll_timeout`]) and fails with [`Error::NoSession`].
    pub fn encapsulate(
        &mut self,
        payload: &[u8],
        out: &mut [u8],
        now: Instant,
    ) -> Result<usize, Error> {
        let (session, counters) = self.reserve_send(1, !payload.is_empty(), now)?;
        session.seal_at(counters.start, payload, out)
    }

    /// Reserves `n` consecutive counters of the current session for packets
    /// the caller seals itself ([`Session::seal_at`], on any thread, sent in
    /// counter order), and does the timer bookkeeping of sending them
    /// (`data`: they carry data, not only keepalives). Without a usable
    /// session it asks for a handshake and fails with [`Error::NoSession`].
    pub fn reserve_send(
        &mut self,
        n: u64,
        data: bool,
        now: Instant,
    ) -> Result<(Arc<Session>, Range<u64>), Error> {
        let Some(session) = self.current.clone() else {
            self.want_handshake.get_or_insert(now);
            return Err(Error::NoSession);
        };
        let counters = match session.reserve(n, now) {
            Ok(counters) => counters,
            Err(Error::Expired) => {
                self.want_handshake.get_or_insert(now);
                return Err(Error::NoSession);
            }
            Err(e) => return Err(e),
        };
        if session.is_initiator()
            && (now.saturating_duration_since(session.created()) >= REKEY_AFTER_TIME
                || session.sent() >= REKEY_AFTER_MESSAGES)
        {
            self.want_handshake.get_or_insert(now);
        }
        self.on_sent(now);
        if data && self.timers.new_handshake.is_none() {
            let j = self.jitter();
            self.timers.new_handshake = Some(now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + j);
        }
        Ok((session, counters))
    }

    /// Processes one datagram from `src`. With `under_load`, handshake
    /// messages without a valid MAC2 for `src` are answered with a cookie
    /// reply instead of being processed.
    pub fn decapsulate(
        &mut self,
        src: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
        now: Instant,
        under_load: bool,
    ) -> Result<Outcome, Error> {
        let msg = wire::parse(datagram)?;
        let sender = match &msg {
            Message::Initiation(m) => Some(m.sender),
            Message::Response(m) => Some(m.sender),
            _ => None,
        };
        if let Some(sender) = sender {
            cookie::check_mac1(datagram, &self.local.mac1_key)?;
            if under_load && !self.checker.check_mac2(datagram, src, now) {
                let reply = self
                    .checker
                    .reply(datagram, sender, src, now, &mut self.rng);
                return put(out, &reply).map(Outcome::Reply);
            }
        }
        match msg {
            Message::Initiation(m) => self.on_initiation(&m, out, now),
            Message::Response(m) => self.on_response(&m, out, now),
            Message::CookieReply(m) => {
                // A reply to our initiation, or to our response (its
                // session still waits in `next`).
                let ours = self.pending.as_ref().map(|p| p.state.local_index);
                let answered = self.next.as_ref().map(|s| s.local_index());
                if ours != Some(m.receiver) && answered != Some(m.receiver) {
                    return Err(Error::UnexpectedMessage);
                }
                self.jar.consume(&m, &self.remote.cookie_key, now)?;
                Ok(Outcome::Done)
            }
            Message::Data(m) => self.on_data(&m, out, now),
        }
    }

    fn on_initiation(
        &mut self,
        m: &wire::Initiation,
        out: &mut [u8],
        now: Instant,
    ) -> Result<Outcome, Error> {
        if out.len() < RESPONSE_LEN {
            return Err(Error::BufferTooSmall {
                need: RESPONSE_LEN,
                have: out.len(),
            });
        }
        let seen = handshake::consume_initiation(&self.local, m, &self.remote)?;
        if self.last_timestamp.is_some_and(|t| seen.timestamp <= t) {
            return Err(Error::ReplayedTimestamp);
        }
        if self
            .last_initiation_received
            .is_some_and(|t| now.saturating_duration_since(t) < INITIATION_MIN_INTERVAL)
        {
            return Err(Error::Flood);
        }
        self.last_timestamp = Some(seen.timestamp);
        self.last_initiation_received = Some(now);
        let index = self.alloc_index();
        let eph = handshake::ephemeral(&mut self.rng);
        let mut buf = [0u8; RESPONSE_LEN];
        let keys = handshake::create_response(&self.remote, seen, index, eph, &mut buf)?;
        let mac1 = cookie::stamp(&mut buf, &self.remote.mac1_key, self.jar.cookie(now));
        self.jar.sent(mac1);
        // The new session waits in `next` until the initiator's first data
        // message confirms it; the previous one is dropped.
        self.next = Some(Arc::new(Session::new(keys, now)?));
        self.previous = None;
        self.session_derived(now);
        self.on_sent(now);
        put(out, &buf).map(Outcome::Reply)
    }

    fn on_response(
        &mut self,
        m: &wire::Response,
        out: &mut [u8],
        now: Instant,
    ) -> Result<Outcome, Error> {
        // Room for the confirming keepalive, before any state changes.
        if out.len() < DATA_OVERHEAD {
            return Err(Error::BufferTooSmall {
                need: DATA_OVERHEAD,
                have: out.len(),
            });
        }
        let pending = self.pending.as_ref().ok_or(Error::UnexpectedMessage)?;
        if pending.state.local_index != m.receiver {
            return Err(Error::UnknownIndex(m.receiver));
        }
        let keys = handshake::consume_response(&self.local, &self.remote, &pending.state, m)?;
        self.pending = None;
        let session = Arc::new(Session::new(keys, now)?);
        // An unconfirmed responder session is dropped in favour of ours.
        self.previous = self.next.take().or_else(|| self.current.take());
        self.current = Some(session);
        self.timers.retransmit = None;
        self.timers.attempts_since = None;
        // A handshake wished for while there was no session is had.
        self.want_handshake = None;
        self.session_derived(now);
        self.on_received(now);
        // Confirm the session to the responder at once.
        let len = self.encapsulate(&[], out, now)?;
        Ok(Outcome::Reply(len))
    }

    fn session_derived(&mut self, now: Instant) {
        self.handshakes += 1;
        self.last_handshake = Some(now);
        self.timers.zero_keys = Some(now + REJECT_AFTER_TIME * 3);
    }

    fn on_data(
        &mut self,
        m: &wire::Data<'_>,
        out: &mut [u8],
        now: Instant,
    ) -> Result<Outcome, Error> {
        let session = self
            .session(m.receiver)
            .ok_or(Error::UnknownIndex(m.receiver))?;
        let len = session.open(m, out, now)?;
        self.opened(&session, len > 0, now);
        if len == 0 {
            return Ok(Outcome::Keepalive);
        }
        Ok(Outcome::Data(len))
    }

    /// The session a data message's receiver index names (the current, the
    /// previous or the one waiting for confirmation), for a caller that
    /// opens data messages itself ([`Session::open_in_place`]).
    pub fn session(&self, receiver: u32) -> Option<Arc<Session>> {
        self.sessions()
            .find(|s| s.local_index() == receiver)
            .cloned()
    }

    /// The bookkeeping after the caller opened data messages of `session`
    /// (`data`: at least one carried data, not only keepalives): the first
    /// one on a session we answered confirms it; timers restart.
    pub fn opened(&mut self, session: &Arc<Session>, data: bool, now: Instant) {
        if self.next.as_ref().is_some_and(|n| Arc::ptr_eq(n, session)) {
            // The initiator used the session we answered: it is confirmed,
            // and a handshake wished for meanwhile is had.
            self.previous = self.current.take();
            self.current = self.next.take();
            self.timers.retransmit = None;
            self.timers.attempts_since = None;
            self.pending = None;
            self.want_handshake = None;
        }
        self.on_received(now);
        if session.is_initiator()
            && now.saturating_duration_since(session.created()) >= REKEY_ON_RECEIVE_AGE
            && self
                .current
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, session))
        {
            self.want_handshake.get_or_insert(now);
        }
        if data {
            self.timers.keepalive.get_or_insert(now + KEEPALIVE_TIMEOUT);
        }
    }

    /// When [`Peer::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let handshake = self
            .want_handshake
            .filter(|_| self.pending.is_none())
            .map(|since| {
                self.last_initiation_sent
                    .map_or(since, |t| since.max(t + REKEY_TIMEOUT))
            });
        let expiry = self
            .sessions()
            .map(|s| s.created() + REJECT_AFTER_TIME)
            .min();
        [self.timers.earliest(), handshake, expiry]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires what is due at `now`; returns the length of a message written
    /// into `out` to send, if any. Call again while it returns one.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut [u8]) -> Result<Option<usize>, Error> {
        let too_old = |s: &Option<Arc<Session>>| {
            s.as_ref()
                .is_some_and(|s| now.saturating_duration_since(s.created()) >= REJECT_AFTER_TIME)
        };
        for slot in [&mut self.current, &mut self.previous, &mut self.next] {
            if too_old(slot) {
                *slot = None;
            }
        }
        if due(self.timers.zero_keys, now) {
            self.current = None;
            self.previous = None;
            self.next = None;
            self.pending = None;
            self.want_handshake = None;
            self.timers = Timers::default();
            return Ok(None);
        }
        if due(self.timers.retransmit, now) {
            let started = self.timers.attempts_since.unwrap_or(now);
            if now.saturating_duration_since(started) >= REKEY_ATTEMPT_TIME {
                // Give up until new data asks again.
                self.gave_up = true;
                self.pending = None;
                self.want_handshake = None;
                self.timers.retransmit = None;
                self.timers.attempts_since = None;
                self.timers.new_handshake = None;
                return Ok(None);
            }
            return self.send_initiation(now, out).map(Some);
        }
        if due(self.timers.new_handshake, now) {
            self.timers.new_handshake = None;
            self.want_handshake.get_or_insert(now);
        }
        if due(self.timers.persistent_keepalive, now) && self.current.is_none() {
            // A persistent keepalive with no session to carry it: the
            // handshake is what keeps the path open.
            self.timers.persistent_keepalive = None;
            self.want_handshake.get_or_insert(now);
        }
        if self.want_handshake.is_some()
            && self.pending.is_none()
            && self
                .last_initiation_sent
                .is_none_or(|t| now.saturating_duration_since(t) >= REKEY_TIMEOUT)
        {
            self.timers.attempts_since = Some(now);
            return self.send_initiation(now, out).map(Some);
        }
        if due(self.timers.keepalive, now) || due(self.timers.persistent_keepalive, now) {
            self.timers.keepalive = None;
            self.timers.persistent_keepalive = None;
            if self.current.is_some() {
                return self.encapsulate(&[], out, now).map(Some);
            }
        }
        Ok(None)
    }

    /// The keepalive or any datagram's worst-case size for a payload.
    pub fn max_datagram(payload: usize) -> usize {
        DATA_OVERHEAD + super::session::padded_len(payload)
    }
}

fn put(out: &mut [u8], bytes: &[u8]) -> Result<usize, Error> {
    let have = out.len();
    let dst = out.get_mut(..bytes.len()).ok_or(Error::BufferTooSmall {
        need: bytes.len(),
        have,
    })?;
    dst.copy_from_slice(bytes);
    Ok(bytes.len())
}

const _: () = assert!(COOKIE_REPLY_LEN <= RESPONSE_LEN);
