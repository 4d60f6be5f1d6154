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
