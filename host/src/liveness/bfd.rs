//! A BFD-like liveness probe for one tunnel: RFC 5880 asynchronous mode with
//! the mandatory 24-byte control packet (§4.1) and no authentication section
//! (WireGuard already authenticates everything inside the tunnel). It owns the
//! control packet codec with the reception checks of §6.8.6 (`packet.rs`),
//! and a sans-IO [`Session`] state machine (§6.2, §6.8.6) with its transmit timer and jitter
//! (§6.8.7) and detection timer (§6.8.4). It must not do I/O, read the clock or
//! know about UDP/IP: the caller wraps packets with `crate::packet`'s BFD
//! functions (RFC 5881), passes `now`, and calls back at [`Session::poll_timeout`].
//! Not implemented: our own demand mode (a peer's is honoured: while both
//! are Up we stop periodic packets and still answer its Polls, §6.6), the
//! echo function and the passive role.
//!
//! Local policy beyond the RFC: the detection time the peer's timers give
//! is capped at [`MAX_DETECT_FACTOR`] times our own, so a peer cannot make
//! its failure go unnoticed for long by announcing slow timers.
//!
//! Deviation from §6.8.3: the RFC advises a transmit interval of at least one
//! second while the session is not Up. We use the configured interval (default
//! 200 ms) in every state, so a tunnel comes Up within about two intervals: the
//! session runs over an authenticated point-to-point tunnel, and the extra
//! packets cost nothing worth saving.
//!
//! Deviation from §6.8.16: a session taken down administratively because a
//! reload removed its tunnel says AdminDown for the far side's detection
//! time ([`Session::peer_detection_time`]) only up to a cap
//! (`gateway::reload::MAX_RETIRE_GRACE`, 3 s): one AdminDown that arrives
//! is enough, and a connection replacing the removed one waits for it.

use super::ProbeStats;
use std::fmt;
use std::time::{Duration, Instant};

mod packet;
pub use packet::{BfdError, ControlPacket, Diag, State, CONTROL_LEN};

/// Initial value of bfd.RemoteMinRxInterval (§6.8.1).
const INITIAL_REMOTE_MIN_RX: Duration = Duration::from_micros(1);
/// How often an Up session measures the round trip with a Poll.
pub const MEASURE_EVERY: Duration = Duration::from_secs(1);
/// The least time between two warnings of malformed packets on a session.
pub const MALFORMED_WARN_EVERY: Duration = Duration::from_secs(60);
/// How long a measuring Poll waits for its Final before it counts as lost.
pub const MEASURE_TIMEOUT: Duration = Duration::from_secs(1);
/// The detection time the peer's timers may give us, as a multiple of our
/// own (interval × multiplier): a local cap on §6.8.4, so that a peer
/// announcing a slow Desired Min TX or a large Detect Mult (up to an hour
/// × 255) cannot make a failure of its path go unnoticed for that long.
/// A peer that really sends slower than the cap sees its session go Down
/// at the cap; a peer on common timers (BIRD's 100 ms × 5, FRR's
/// 300 ms × 3, up to 1 s × 5) is well inside it at our defaults (6 s).
pub const MAX_DETECT_FACTOR: u32 = 10;

/// A change of the local session state, for logs and failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub diag: Diag,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} ({})", self.from, self.to, self.diag)
    }
}

/// One BFD session (one per tunnel), asynchronous mode, active role.
///
/// Drive it with [`handle_packet`](Self::handle_packet) for each decoded
/// packet, and at [`poll_timeout`](Self::poll_timeout) with
/// [`handle_timeout`](Self::handle_timeout) then
/// [`poll_transmit`](Self::poll_transmit) until it returns `None`.
#[derive(Debug, Clone)]
pub struct Session {
    local_discr: u32,
    remote_discr: u32,
    state: State,
    local_diag: Diag,
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval alike.
    interval: Duration,
    /// The transmit interval in force: `interval`, except that a smaller
    /// one announced in a Poll Sequence applies at once (§6.8.3 holds back
    /// only an increase; the peer shortens its detection time as soon as it
    /// reads the announcement), while `interval` (our detection time) waits
    /// for the Final.
    tx_interval: Duration,
    /// When the last periodic packet was scheduled from: a shorter
    /// transmit interval brings the next one forward from there.
    last_tx: Instant,
    detect_mult: u8,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    remote_detect_mult: u8,
    next_tx: Instant,
    final_due: Option<Instant>,
    detect_deadline: Option<Instant>,
    /// New timers announced in a Poll Sequence (§6.8.3), in force once the
    /// peer answers with Final.
    polling: Option<Duration>,
    /// A Poll sent to measure the round trip (§6.5: the peer answers with
    /// Final at once), when; the next is due at `measure_at`.
    measuring: Option<Instant>,
    measure_at: Instant,
    stats: ProbeStats,
    rng: u64,
    /// The peer's C bit in its latest packet: `Some(false)` means its BFD
    /// goes down with its control plane (RFC 5882 section 4.3.2).
    remote_cpi: Option<bool>,
    /// The state in the peer's latest packet (bfd.RemoteSessionState,
    /// RFC 5880 section 6.8.1).
    remote_state: State,
    /// The D bit in the peer's latest packet (bfd.RemoteDemandMode).
    remote_demand: bool,
    /// Malformed packets dropped since the last warning, and when that
    /// warning was (`malformed`).
    malformed: u64,
    malformed_told: Option<Instant>,
    /// Whether the peer's timers were found past the cap (and said so, once
    /// for the session's life: a peer cannot make it say so again and again).
    capped_told: bool,
}

impl Session {
    /// A new session in state Down whose first packet is due at `now`.
    /// `local_discr` must be unique per session on this host; 0 is reserved on
    /// the wire and is replaced by 1. `interval` is used as both our desired
    /// min TX and required min RX, clamped to 1 µs..=u32::MAX µs; `multiplier`
    /// 0 is taken as 1. `jitter_seed` seeds the transmit jitter.
    pub fn new(
        local_discr: u32,
        interval: Duration,
        multiplier: u8,
        now: Instant,
        jitter_seed: u64,
    ) -> Session {
        let us = u32::try_from(interval.as_micros())
            .unwrap_or(u32::MAX)
            .max(1);
        Session {
            local_discr: local_discr.max(1),
            remote_discr: 0,
            state: State::Down,
            local_diag: Diag::None,
            interval: Duration::from_micros(u64::from(us)),
            tx_interval: Duration::from_micros(u64::from(us)),
            last_tx: now,
            detect_mult: multiplier.max(1),
            remote_min_rx: INITIAL_REMOTE_MIN_RX,
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            next_tx: now,
            final_due: None,
            detect_deadline: None,
            polling: None,
            measuring: None,
            measure_at: now,
            stats: ProbeStats::default(),
            // xorshift must not start at 0; splitmix-style constant otherwise.
            rng: if jitter_seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                jitter_seed
            },
            remote_cpi: None,
            remote_state: State::Down,
            remote_demand: false,
            malformed: 0,
            malformed_told: None,
            capped_told: false,
        }
    }

    /// Whether the peer's BFD shares fate with its control plane (its C
    /// bit was clear in the latest packet): then a detection timeout while
    /// its control plane restarts gracefully is that restart, not a path
    /// failure (RFC 5882 section 4.3.2).
    pub fn remote_shares_fate(&self) -> bool {
        self.remote_cpi == Some(false)
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the peer's latest packet said AdminDown: it took the session
    /// down administratively (RFC 5880 section 6.8.16: a drain, BFD
    /// switched off), which is no sign that the path failed (RFC 5882
    /// section 3.2).
    pub fn remote_admin_down(&self) -> bool {
        self.remote_state == State::AdminDown
    }

    /// Whether demand mode is active on the peer (§6.8.7): its D bit set
    /// and both sessions Up. Our periodic packets then cease but for a
    /// Poll Sequence of ours; the peer's keep our detection running.
    pub fn remote_demands(&self) -> bool {
        self.remote_demand && self.state == State::Up && self.remote_state == State::Up
    }

    /// Counts a packet that did not decode, and says whether to warn of it
    /// now, with how many went unwarned (this one included): the first at
    /// once, then at most once per [`MALFORMED_WARN_EVERY`], so that a peer
    /// sending garbage at the probe rate does not flood the log.
    pub fn malformed(&mut self, now: Instant) -> Option<u64> {
        self.malformed = self.malformed.saturating_add(1);
        if self
            .malformed_told
            .is_some_and(|t| now.saturating_duration_since(t) < MALFORMED_WARN_EVERY)
        {
            return None;
        }
        self.malformed_told = Some(now);
        Some(std::mem::take(&mut self.malformed))
    }

    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// The peer's discriminator, 0 until learned or after detection expiry.
    pub fn remote_discr(&self) -> u32 {
        self.remote_discr
    }

    /// The interval in force (a new one announced in a Poll Sequence is
    /// not, until the peer answers).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Processes a received control packet (§6.8.6). Packets failing the
    /// field checks, or whose Your Discriminator is set and is not ours, are
    /// discarded. A packet with P set makes the next `poll_transmit` return
    /// a packet with F set at once.
    pub fn handle_packet(&mut self, pkt: &ControlPacket, now: Instant) -> Option<Transition> {
        self.handle_received(pkt, now, now)
    }

    /// [`Session::handle_packet`] for a packet the data path read at
    /// `received`: a Final's round trip ends there, so the control loop's
    /// queue in front of it (a busy turn) is not counted as path delay.
    pub fn handle_received(
        &mut self,
        pkt: &ControlPacket,
        received: Instant,
        now: Instant,
    ) -> Option<Transition> {
        if pkt.check().is_err() || (pkt.your_discr != 0 && pkt.your_discr != self.local_discr) {
            return None;
        }
        self.remote_discr = pkt.my_discr;
        self.remote_cpi = Some(pkt.control_plane_independent);
        self.remote_state = pkt.state;
        self.remote_demand = pkt.demand;
        let remote_min_rx = Duration::from_micros(u64::from(pkt.required_min_rx_us));
        let sooner = remote_min_rx < self.remote_min_rx;
        self.remote_min_rx = remote_min_rx;
        if sooner {
            // The peer asks for packets more often: from now on, not after
            // the next one at the old pace.
            self.bring_next_tx_forward(now);
        }
        self.remote_desired_min_tx = Duration::from_micros(u64::from(pkt.desired_min_tx_us));
        self.remote_detect_mult = pkt.detect_mult;
        self.detect_deadline = now.checked_add(self.detection_time());
        // §6.8.6 discards the packet here in AdminDown, before the answer
        // to a Poll: an administratively down session answers nothing.
        if pkt.poll && self.state != State::AdminDown {
            self.final_due = Some(now);
        }
        if pkt.final_ {
            if let Some(interval) = self.polling.take() {
                self.interval = interval;
                self.tx_interval = interval;
                self.detect_deadline = now.checked_add(self.detection_time());
            }
            // A Final read before our Poll went out answers an earlier one.
            if let Some(sent) = self.measuring.filter(|sent| received >= *sent) {
                self.measuring = None;
                self.stats
                    .answered(received.saturating_duration_since(sent));
                self.measure_at = now.checked_add(MEASURE_EVERY).unwrap_or(now);
            }
        }
        let (to, diag) = match (self.state, pkt.state) {
            (State::AdminDown, _) => return None,
            (State::Down, State::AdminDown) => return None,
            (_, State::AdminDown) => (State::Down, Diag::NeighborSignaledSessionDown),
            (State::Down, State::Down) => (State::Init, Diag::None),
            (State::Down, State::Init) => (State::Up, Diag::None),
            (State::Init, State::Init | State::Up) => (State::Up, Diag::None),
            (State::Up, State::Down) => (State::Down, Diag::NeighborSignaledSessionDown),
            _ => return None,
        };
        self.transition(to, diag)
    }

    /// Handles the detection timer (§6.8.4): when it has expired, the remote
    /// is forgotten (discriminator and timers back to their initial values,
    /// §6.8.1) and an Init or Up session goes Down with diag 1.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Transition> {
        let deadline = self.detect_deadline?;
        if now < deadline {
            return None;
        }
        self.detect_deadline = None;
        self.remote_discr = 0;
        self.remote_min_rx = INITIAL_REMOTE_MIN_RX;
        self.remote_desired_min_tx = Duration::ZERO;
        self.remote_detect_mult = 0;
        match self.state {
            State::Init | State::Up => {
                self.transition(State::Down, Diag::ControlDetectionTimeExpired)
            }
            State::Down | State::AdminDown => None,
        }
    }

    /// The next packet to send, if one is due: a Final answer to a Poll at
    /// once, otherwise the periodic packet, after which the next one is
    /// scheduled `max(our desired min TX, remote required min RX)` later,
    /// reduced by a random 0-25% (10-25% when our detect mult is 1), §6.8.7.
    /// Nothing is sent periodically while the remote asks for a min RX of 0.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.final_due.is_some_and(|t| now >= t) {
            self.final_due = None;
            return Some(self.control(true));
        }
        if now < self.next_tx {
            return None;
        }
        let tx_interval = self.tx_interval.max(self.remote_min_rx);
        let wait = self.jittered(tx_interval);
        self.last_tx = now;
        self.next_tx = now.checked_add(wait).unwrap_or(now);
        if self.remote_min_rx.is_zero() || (self.remote_demands() && self.polling.is_none()) {
            return None;
        }
        let mut packet = self.control(false);
        if self.state == State::Up {
            packet.poll |= self.measure(now);
        } else {
            self.measuring = None;
        }
        Some(packet)
    }

    /// Whether this periodic packet carries a Poll to measure the round
    /// trip; a Poll left unanswered for [`MEASURE_TIMEOUT`] counts as lost.
    fn measure(&mut self, now: Instant) -> bool {
        if let Some(sent) = self.measuring {
            if now.saturating_duration_since(sent) < MEASURE_TIMEOUT {
                return false;
            }
            self.measuring = None;
            self.stats.lost();
        }
        if now < self.measure_at {
            return false;
        }
        self.measuring = Some(now);
        self.measure_at = now.checked_add(MEASURE_EVERY).unwrap_or(now);
        true
    }

    /// Round trips (Poll to Final) and answered Polls so far.
    pub fn stats(&self) -> ProbeStats {
        self.stats
    }

    /// When to call `handle_timeout` / `poll_transmit` next: the earliest of
    /// the next transmission, a pending Final and the detection deadline.
    pub fn poll_timeout(&self) -> Instant {
        [self.final_due, self.detect_deadline]
            .into_iter()
            .flatten()
            .fold(self.next_tx, Instant::min)
    }

    /// New timers (a reload). The multiplier applies at once (the peer
    /// reads it from our next packet). A new interval applies at once
    /// unless the session is Up; then our packets announce it with Poll set
    /// until the peer answers with Final, and only then do our transmit
    /// interval and detection time change (§6.8.3), so neither side
    /// expires the session meanwhile.
    pub fn set_timers(&mut self, interval: Duration, multiplier: u8, now: Instant) {
        self.detect_mult = multiplier.max(1);
        let us = u32::try_from(interval.as_micros())
            .unwrap_or(u32::MAX)
            .max(1);
        let interval = Duration::from_micros(u64::from(us));
        if interval == self.interval {
            self.polling = None;
            self.tx_interval = interval;
        } else if self.state == State::Up {
            self.polling = Some(interval);
            // A shorter interval is sent at once; a longer one waits for
            // the Final (`tx_interval`).
            if interval < self.tx_interval {
                self.tx_interval = interval;
                self.bring_next_tx_forward(now);
            }
        } else {
            // Not Up: in force at once, and no Poll Sequence of an earlier
            // change left to override it when the peer answers.
            self.polling = None;
            self.interval = interval;
            self.tx_interval = interval;
            self.bring_next_tx_forward(now);
        }
    }

    /// Schedules the next periodic packet no later than the transmit
    /// interval in force allows from the last one (at once, if that is
    /// past).
    fn bring_next_tx_forward(&mut self, now: Instant) {
        let base = self.tx_interval.max(self.remote_min_rx);
        let wait = self.jittered(base);
        if let Some(t) = self.last_tx.checked_add(wait) {
            self.next_tx = self.next_tx.min(t.max(now));
        }
    }

    /// Puts the session in AdminDown (diag 7), or back to Down (§6.8.16).
    /// Packets keep flowing so the peer learns it.
    pub fn set_admin_down(&mut self, admin_down: bool) -> Option<Transition> {
        match (admin_down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => None,
            (true, _) => {
                // A round trip under way is not measured: an answer would
                // count for a session that is over.
                self.measuring = None;
                self.transition(State::AdminDown, Diag::AdministrativelyDown)
            }
            (false, State::AdminDown) => self.transition(State::Down, Diag::None),
        }
    }

    /// Takes the session down administratively (the gateway is stopping)
    /// and returns the packet that says so at once (§6.8.16: the far side
    /// learns the end was administrative, not a failure).
    pub fn admin_down_now(&mut self) -> ControlPacket {
        let _ = self.set_admin_down(true);
        self.control(false)
    }

    /// The far side's detection time as our packets set it (§6.8.4 from
    /// its side): our Detect Mult times our transmit interval, the larger
    /// of our desired min TX and its required min RX.
    pub fn peer_detection_time(&self) -> Duration {
        self.interval
            .max(self.remote_min_rx)
            .saturating_mul(u32::from(self.detect_mult))
    }

    /// Detection time in asynchronous mode (§6.8.4), at most
    /// [`Session::max_detection_time`].
    fn detection_time(&self) -> Duration {
        self.uncapped_detection_time()
            .min(self.max_detection_time())
    }

    /// The longest detection time the peer's timers may give us:
    /// [`MAX_DETECT_FACTOR`] times our own interval × multiplier.
    pub fn max_detection_time(&self) -> Duration {
        self.interval
            .saturating_mul(u32::from(self.detect_mult))
            .saturating_mul(MAX_DETECT_FACTOR)
    }

    /// Whether the peer's timers, as it last announced them, ask for a
    /// detection time beyond [`Session::max_detection_time`].
    pub fn remote_timers_capped(&self) -> bool {
        self.uncapped_detection_time() > self.max_detection_time()
    }

    /// True the first time in the session's life the peer's timers are
    /// found past the cap (to say so once).
    pub fn newly_capped(&mut self) -> bool {
        let first = self.remote_timers_capped() && !self.capped_told;
        self.capped_told |= first;
        first
    }

    /// Detection time in asynchronous mode as §6.8.4 gives it.
    fn uncapped_detection_time(&self) -> Duration {
        self.interval
            .max(self.remote_desired_min_tx)
            .saturating_mul(u32::from(self.remote_detect_mult))
    }

    fn transition(&mut self, to: State, diag: Diag) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        match to {
            State::Down | State::AdminDown => self.local_diag = diag,
            State::Up => self.local_diag = Diag::None,
            State::Init => {}
        }
        Some(Transition { from, to, diag })
    }

    fn control(&self, final_: bool) -> ControlPacket {
        let announced = self.polling.unwrap_or(self.interval);
        let us = u32::try_from(announced.as_micros()).unwrap_or(u32::MAX);
        ControlPacket {
            diag: self.local_diag.code(),
            state: self.state,
            // A packet may not carry both (§6.8.7): a Final goes alone.
            poll: self.polling.is_some() && !final_,
            final_,
            detect_mult: self.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx_us: us,
            required_min_rx_us: us,
            required_min_echo_rx_us: 0,
            control_plane_independent: false,
            demand: false,
        }
    }

    /// `base` reduced by a random fraction (§6.8.7), from a xorshift64.
    fn jittered(&mut self, base: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let base_us = u64::try_from(base.as_micros()).unwrap_or(u64::MAX);
        let max_cut = base_us / 4;
        let min_cut = if self.detect_mult == 1 {
            base_us.div_ceil(10).min(max_cut)
        } else {
            0
        };
        let cut = min_cut + self.rng % (max_cut - min_cut + 1);
        Duration::from_micros(base_us - cut)
    }
}

#[cfg(test)]
mod tests;
