//! The values a [`Session`](super::Session) takes and returns: its
//! configuration, states, outputs, negotiated parameters, down reasons and
//! counters.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::bgp::message::{Family, GracefulRestart, Notification, Update};

/// Hold time we offer by default, in seconds (keepalive every 10 s).
pub const DEFAULT_HOLD_TIME: u16 = 30;
/// Default ConnectRetryTime. RFC 4271 section 10 suggests 120 s; a session
/// runs point to point over a tunnel, so we retry sooner.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(5);
/// Default wait before an automatic restart after an error or a close.
pub const DEFAULT_IDLE_HOLD: Duration = Duration::from_secs(1);
/// The HoldTimer while waiting for the peer's OPEN: "a large value", 4
/// minutes suggested (RFC 4271 section 8.2.2, Connect state, Event 17).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// What one session is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_asn: u32,
    pub remote_asn: u32,
    pub router_id: Ipv4Addr,
    /// Hold time we offer, in seconds: 0 (no keepalives, no hold timer) or
    /// at least 3 (1 and 2 are raised to 3, RFC 4271 section 4.2).
    pub hold_time: u16,
    pub connect_retry: Duration,
    /// Wait before an automatic restart after an error or a close.
    pub idle_hold: Duration,
    /// True: never connect, wait for the peer in Active. False: connect out.
    pub passive: bool,
    /// Offered in Multiprotocol capabilities (RFC 4760 section 8); none
    /// offered means IPv4 unicast only.
    pub families: Vec<Family>,
    /// Offer Extended Next Hop Encoding for IPv4 unicast over IPv6 next
    /// hops (RFC 8950): a session over IPv6 addresses.
    pub extended_next_hop: bool,
    /// Offer Graceful Restart (RFC 4724) as a helper with this Restart
    /// Time: no families listed, since we keep no forwarding state across
    /// our own restart, but we keep a restarting peer's routes.
    pub graceful_restart: Option<u16>,
}

impl SessionConfig {
    /// A configuration with the defaults: hold time 30 s, ConnectRetry 5 s,
    /// IdleHold 1 s, active, IPv4 and IPv6 unicast.
    pub fn new(local_asn: u32, remote_asn: u32, router_id: Ipv4Addr) -> SessionConfig {
        SessionConfig {
            local_asn,
            remote_asn,
            router_id,
            hold_time: DEFAULT_HOLD_TIME,
            connect_retry: DEFAULT_CONNECT_RETRY,
            idle_hold: DEFAULT_IDLE_HOLD,
            passive: false,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            graceful_restart: None,
            extended_next_hop: false,
        }
    }

    pub(super) fn offered_hold_time(&self) -> u16 {
        match self.hold_time {
            1 | 2 => 3,
            h => h,
        }
    }

    pub(super) fn offered_families(&self) -> Vec<Family> {
        if self.families.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            self.families.clone()
        }
    }
}

/// The session states (RFC 4271 section 8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// Whether a TCP connection is up (the states after Events 16/17).
    pub(super) fn connected(self) -> bool {
        matches!(
            self,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "idle",
            State::Connect => "connect",
            State::Active => "active",
            State::OpenSent => "opensent",
            State::OpenConfirm => "openconfirm",
            State::Established => "established",
        })
    }
}

/// What the shell must do, or what happened, in order.
// `Update` is by far the largest variant, and the one most outputs carry:
// boxing it would only add an allocation per UPDATE.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer (active side only). Abandons any
    /// attempt still in progress (the ConnectRetry timer expired).
    Connect,
    /// Write these bytes on the current TCP connection.
    Send(Vec<u8>),
    /// Close the current TCP connection after writing the pending `Send`s,
    /// or abandon the connection attempt in progress (Connect state). After
    /// `tcp_connected` in Idle: refuse the connection just handed over.
    Close,
    /// The session reached Established.
    Established(Negotiated),
    /// An UPDATE received in Established, for the RIB (including those the
    /// codec marked treat-as-withdraw).
    Update(Update),
    /// The peer asked for our Adj-RIB-Out of this family again (RFC 2918).
    RouteRefresh(Family),
    /// The session left Established (the RIB must drop the peer's routes),
    /// or a connection failed in OpenSent/OpenConfirm with a NOTIFICATION or
    /// a hold timer expiry. Not emitted for a plain close before Established.
    Down { reason: DownReason },
}

/// What both OPENs agreed on (RFC 4271 section 4.2, RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub remote_asn: u32,
    pub remote_router_id: Ipv4Addr,
    /// Seconds; 0: no keepalives and no hold timer.
    pub hold_time: u16,
    /// A third of the hold time; zero when the hold time is 0.
    pub keepalive: Duration,
    /// Families offered by both, in our configured order.
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    /// The peer's Graceful Restart capability, when both offered it.
    pub graceful_restart: Option<GracefulRestart>,
    /// Both offered IPv4 unicast with IPv6 next hops (RFC 8950): our IPv4
    /// routes may go out in MP_REACH_NLRI with an IPv6 next hop.
    pub extended_next_hop: bool,
}

/// Why a session went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    NotificationSent(Notification),
    NotificationReceived(Notification),
    HoldTimerExpired,
    ConnectionClosed,
    /// `stop` without a NOTIFICATION of the caller's (a Cease/Administrative
    /// Shutdown went out if a connection was open).
    Stopped,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::NotificationSent(n) => write!(f, "sent NOTIFICATION: {n}"),
            DownReason::NotificationReceived(n) => write!(f, "received NOTIFICATION: {n}"),
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::ConnectionClosed => f.write_str("connection closed"),
            DownReason::Stopped => f.write_str("stopped"),
        }
    }
}

/// The (code, subcode) a received NOTIFICATION is counted under: its own
/// for the error codes defined (1 to 7) and subcodes up to 15, else (0, 0),
/// "other", so that a peer cannot grow the counters, and the metrics'
/// series, without bound.
pub(crate) fn counted_as(code: u8, subcode: u8) -> (u8, u8) {
    if (1..=7).contains(&code) && subcode <= 15 {
        (code, subcode)
    } else {
        (0, 0)
    }
}

/// Counters for the admin interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub messages_received: u64,
    pub messages_sent: u64,
    pub updates_received: u64,
    pub updates_sent: u64,
    pub notifications_received: u64,
    pub notifications_sent: u64,
    /// NOTIFICATIONs by (sent, error code, subcode): how many of each.
    pub notifications: std::collections::BTreeMap<(bool, u8, u8), u64>,
    /// Transitions into Established: more than one means the session flapped.
    pub established_transitions: u64,
    /// The last error, for the log and the admin interface.
    pub last_error: Option<String>,
}
