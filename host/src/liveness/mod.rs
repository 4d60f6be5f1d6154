//! Tunnel liveness: a probe per tunnel over its inside addresses, either
//! BFD (`bfd`, RFC 5880 asynchronous mode, carried as RFC 5881 single-hop
//! packets built by `crate::packet`) or, for a far side that does not speak
//! BFD, ICMP echo (`echo`). Sans-IO: it takes bytes, events and a
//! caller-supplied `now: Instant`, and returns packets and transitions. This
//! module must not open sockets, spawn tasks, read the clock or touch the FIB:
//! the service shell does the I/O, and the failover slot (a plugin or
//! `policy::defaults`) turns liveness into tunnel weights.

use std::time::Instant;

pub mod bfd;
pub mod echo;

use bfd::{State, Transition};

/// Requests whose outcome the loss ratio looks at: the latest this many.
pub const LOSS_WINDOW: u32 = 32;

/// What a probe measured: round trips of its requests (an echo request and
/// its reply; a BFD Poll and the peer's Final) and how many were answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// The latest round trip.
    pub rtt: Option<std::time::Duration>,
    /// Requests whose outcome is known (answered or given up on).
    pub requests: u64,
    /// Of which answered.
    pub answers: u64,
    /// The latest outcomes, newest in bit 0 (1: lost), `recent_len` of them.
    recent: u32,
    recent_len: u32,
}

impl ProbeStats {
    pub fn answered(&mut self, rtt: std::time::Duration) {
        self.rtt = Some(rtt);
        self.answers += 1;
        self.record(false);
    }

    pub fn lost(&mut self) {
        self.record(true);
    }

    fn record(&mut self, lost: bool) {
        self.requests += 1;
        self.recent = (self.recent << 1) | u32::from(lost);
        self.recent_len = (self.recent_len + 1).min(LOSS_WINDOW);
    }

    /// Lost requests among the latest [`LOSS_WINDOW`], in thousandths
    /// (none before the first outcome).
    pub fn loss_permille(&self) -> Option<u32> {
        if self.recent_len == 0 {
            return None;
        }
        let mask = if self.recent_len >= 32 {
            u32::MAX
        } else {
            (1u32 << self.recent_len) - 1
        };
        Some((self.recent & mask).count_ones() * 1000 / self.recent_len)
    }
}

/// One tunnel's probe, of the kind its connection's `liveness.mode` says.
pub enum Probe {
    Bfd(bfd::Session),
    Echo(echo::EchoSession),
    /// None: the tunnel was retired (a reload removed its connection).
    Off,
}

impl Probe {
    pub fn state(&self) -> State {
        match self {
            Probe::Bfd(s) => s.state(),
            Probe::Echo(s) => s.state(),
            Probe::Off => State::AdminDown,
        }
    }

    /// When [`Probe::handle_timeout`] or a transmit is next due (never
    /// for a probe that is off).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Probe::Bfd(s) => Some(s.poll_timeout()),
            Probe::Echo(s) => Some(s.poll_timeout()),
            Probe::Off => None,
        }
    }

    /// What it measured (nothing for a probe that is off).
    pub fn stats(&self) -> ProbeStats {
        match self {
            Probe::Bfd(s) => s.stats(),
            Probe::Echo(s) => s.stats(),
            Probe::Off => ProbeStats::default(),
        }
    }

    /// New timers (a reload); see the sessions' `set_timers`.
    pub fn set_timers(&mut self, interval: std::time::Duration, multiplier: u8) {
        match self {
            Probe::Bfd(s) => s.set_timers(interval, multiplier),
            Probe::Echo(s) => s.set_timers(interval, multiplier),
            Probe::Off => {}
        }
    }

    /// Runs due timers; a transition when the state changed.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Transition> {
        match self {
            Probe::Bfd(s) => s.handle_timeout(now),
            Probe::Echo(s) => s.handle_timeout(now),
            Probe::Off => None,
        }
    }
}
