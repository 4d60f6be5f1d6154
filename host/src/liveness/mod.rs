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

/// A tunnel whose probe is up but loses this many of its latest
/// [`DEGRADED_OF`] round trips is degraded: it counts as down for failover
/// (a probe that still sees it up is not enough to carry traffic over a
/// path that loses a third of it).
pub const DEGRADED_LOST: u32 = 3;
/// The round trips [`DEGRADED_LOST`] counts in.
pub const DEGRADED_OF: u32 = 8;
/// Round trips answered in a row that make a degraded tunnel healthy again.
pub const RECOVERED_AFTER: u32 = 8;

impl ProbeStats {
    /// Lost requests among the latest `n` (or fewer, if fewer are known).
    pub fn lost_of_latest(&self, n: u32) -> u32 {
        let n = n.min(self.recent_len).min(32);
        let mask = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        (self.recent & mask).count_ones()
    }

    /// Whether the tunnel is degraded now, given whether it was: it becomes
    /// so at [`DEGRADED_LOST`] of the latest [`DEGRADED_OF`] lost, and stays
    /// so until the latest [`RECOVERED_AFTER`] are all answered.
    pub fn degraded(&self, was: bool) -> bool {
        if was {
            self.recent_len < RECOVERED_AFTER || self.lost_of_latest(RECOVERED_AFTER) > 0
        } else {
            self.lost_of_latest(DEGRADED_OF) >= DEGRADED_LOST
        }
    }
}

/// One tunnel's probe, of the kind its connection's `liveness.mode` says.
pub enum Probe {
    Bfd(bfd::Session),
    Echo(echo::EchoSession),
    /// None: the tunnel was retired (a reload removed its connection, and
    /// its BFD session has said AdminDown for the grace, `gateway/reload.rs`).
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
    pub fn set_timers(
        &mut self,
        interval: std::time::Duration,
        multiplier: u8,
        now: std::time::Instant,
    ) {
        match self {
            Probe::Bfd(s) => s.set_timers(interval, multiplier, now),
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

#[cfg(test)]
mod loss_tests {
    use super::*;
    use std::time::Duration;

    fn outcomes(stats: &mut ProbeStats, lost: &[bool]) {
        for &l in lost {
            if l {
                stats.lost();
            } else {
                stats.answered(Duration::from_millis(1));
            }
        }
    }

    #[test]
    fn three_of_eight_lost_degrade_and_eight_in_a_row_recover() {
        let mut s = ProbeStats::default();
        outcomes(&mut s, &[false; 10]);
        assert!(!s.degraded(false));
        outcomes(&mut s, &[true, false, false, true]);
        assert_eq!(s.lost_of_latest(DEGRADED_OF), 2);
        assert!(!s.degraded(false), "two of eight");
        outcomes(&mut s, &[true]);
        assert!(s.degraded(false), "three of eight");
        // Once degraded, seven answered in a row are not enough.
        outcomes(&mut s, &[false; 7]);
        assert!(s.degraded(true));
        outcomes(&mut s, &[false]);
        assert!(!s.degraded(true), "eight in a row");
        // Old losses beyond the window do not count.
        outcomes(&mut s, &[true, true]);
        assert!(!s.degraded(false));
        assert_eq!(ProbeStats::default().lost_of_latest(DEGRADED_OF), 0);
        assert!(
            ProbeStats::default().degraded(true),
            "nothing known: not yet recovered"
        );
    }
}
