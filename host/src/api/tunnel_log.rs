//! A line of the tunnel log (`[log] tunnel_log`): one JSON object per
//! tunnel event, as AWS's Site-to-Site VPN tunnel logs give them. The core
//! emits the events; the driver writes each with a timestamp.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::ids::{display_as_str, TunnelCidr};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelEventKind {
    /// The WireGuard session appeared or lapsed.
    Handshake,
    /// The liveness probe's state changed.
    Liveness,
    /// The tunnel's BGP session changed state.
    Bgp,
    /// Traffic moved onto or off the tunnel (its weight crossed 0).
    Failover,
    /// A planned drain began, completed or ended.
    Drain,
}

impl TunnelEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelEventKind::Handshake => "handshake",
            TunnelEventKind::Liveness => "liveness",
            TunnelEventKind::Bgp => "bgp",
            TunnelEventKind::Failover => "failover",
            TunnelEventKind::Drain => "drain",
        }
    }
}

display_as_str!(TunnelEventKind);

/// One tunnel event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelEvent {
    /// The VPN connection.
    pub connection: String,
    pub tunnel: TunnelCidr,
    /// The far endpoint (the tunnel's outside address).
    pub outside: SocketAddr,
    pub event: TunnelEventKind,
    /// The new state ("up", "established", "active", "drained", ...).
    pub state: String,
    /// Why, for people ("Control Detection Time Expired", ...).
    pub detail: String,
}
