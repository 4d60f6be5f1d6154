//! The `status` reply: the gateway, its VPN connections with their tunnels
//! (liveness, active flag, counters), its endpoints and the FIB's size.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ids::{display_as_str, TunnelCidr};

/// The gateway as `sitelink status --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The gateway's name.
    pub gateway: String,
    pub role: Role,
    /// The TUN device's name.
    pub tun: String,
    pub connections: Vec<ConnectionStatus>,
    pub endpoints: Vec<EndpointStatus>,
    /// Packets from the TUN device with no route in the FIB.
    pub tun_no_route: u64,
    /// Packets from the TUN device that are not IP.
    pub tun_malformed: u64,
    /// Packets the TUN device refused.
    pub tun_write_failed: u64,
    /// Liveness probes the data path dropped: over their tunnel's budget
    /// (each tunnel's `rx_probes_dropped`), or because the control thread's
    /// queue was full (it was behind).
    #[serde(default)]
    pub probes_dropped: u64,
    pub fib: FibCounts,
    /// How long the control thread's turns take (it runs the liveness
    /// probes: a long turn delays them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_loop: Option<TurnSummary>,
}

/// The control thread's turn times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnSummary {
    pub turns: u64,
    pub mean_ms: f64,
    pub max_ms: f64,
    /// (upper bound in ms, turns above the previous bound and at or below
    /// this one); the last bound is `null` (+Inf).
    pub histogram: Vec<(Option<f64>, u64)>,
}

/// Which side of the VPN the gateway plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The virtual private gateway (AWS's side).
    Vgw,
    /// The customer gateway.
    Cgw,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Vgw => "vgw",
            Role::Cgw => "cgw",
        }
    }
}

/// How a VPN connection learns the far site's prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// Static routes from the config.
    Static,
    /// BGP over each tunnel.
    Dynamic,
}

impl Routing {
    pub fn as_str(self) -> &'static str {
        match self {
            Routing::Static => "static",
            Routing::Dynamic => "dynamic",
        }
    }
}

/// One VPN connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    pub name: String,
    pub routing: Routing,
    /// The tunnel carrying traffic now; `null` when none does.
    pub active_tunnel: Option<TunnelCidr>,
    pub static_routes: Vec<IpNet>,
    pub tunnels: Vec<TunnelStatus>,
}

/// A tunnel's liveness (BFD states, RFC 5880, for echo probes too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    AdminDown,
    Down,
    Init,
    Up,
}

impl Liveness {
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::AdminDown => "admin-down",
            Liveness::Down => "down",
            Liveness::Init => "init",
            Liveness::Up => "up",
        }
    }
}

/// Where a planned drain of a tunnel stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Drain {
    /// Not drained: the failover decision says.
    #[default]
    None,
    /// The far side is being moved off it (a dynamic connection waits for
    /// its traffic to leave the tunnel).
    Draining,
    /// No traffic either way until `undrain`.
    Drained,
}

impl Drain {
    /// Not drained (left out of answers, as older gateways did).
    pub fn is_none(&self) -> bool {
        *self == Drain::None
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Drain::None => "none",
            Drain::Draining => "draining",
            Drain::Drained => "drained",
        }
    }
}

/// The `reload` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadResult {
    /// Only said what would change.
    pub dry_run: bool,
    /// The changes are in force.
    pub applied: bool,
    /// What changed (or would), one line each; empty: nothing to do.
    pub changes: Vec<String>,
}

/// The `tunnel-drain` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainResult {
    pub tunnel: TunnelCidr,
    pub connection: String,
    /// Where the drain stands now.
    pub drain: Drain,
    /// From the request to this answer.
    pub took_ms: f64,
    /// How the far side was moved, for people.
    pub detail: String,
}

impl From<crate::liveness::bfd::State> for Liveness {
    fn from(state: crate::liveness::bfd::State) -> Liveness {
        use crate::liveness::bfd::State;
        match state {
            State::AdminDown => Liveness::AdminDown,
            State::Down => Liveness::Down,
            State::Init => Liveness::Init,
            State::Up => Liveness::Up,
        }
    }
}

display_as_str!(Role, Routing, Liveness, Drain);

/// One tunnel of a VPN connection, with its counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStatus {
    pub inside_cidr: TunnelCidr,
    /// This gateway's address inside the tunnel.
    pub inside_local: IpAddr,
    /// Its IPv6 address inside the tunnel (`inside_ipv6_cidr`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside_ipv6_local: Option<IpAddr>,
    /// The endpoint (local UDP socket) the tunnel uses.
    pub endpoint: Option<String>,
    /// The far side's outside address.
    pub remote: SocketAddr,
    /// The largest inner packet the tunnel carries in one datagram over its
    /// uplink (TCP SYNs are clamped to it); absent from older gateways'
    /// answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    pub liveness: Liveness,
    /// Carries traffic (weight above 0).
    pub active: bool,
    /// The failover decision's weight (0: standby); absent from older
    /// gateways' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// A planned drain (`sitelink tunnel drain`); absent from older
    /// gateways' answers, which read as `none`.
    #[serde(default, skip_serializing_if = "Drain::is_none")]
    pub drain: Drain,
    /// Time since the latest WireGuard handshake; `null`: none yet.
    pub handshake_age_ms: Option<u64>,
    /// The liveness probe's latest round trip (an echo request and its
    /// reply; a BFD Poll and its Final), in µs; `null`: none yet.
    #[serde(default)]
    pub probe_rtt_us: Option<u64>,
    /// The probe's requests lost among the latest 32, in thousandths.
    #[serde(default)]
    pub probe_loss_permille: Option<u32>,
    /// The probe's requests whose outcome is known, and of those answered.
    #[serde(default)]
    pub probe_requests: u64,
    #[serde(default)]
    pub probe_answers: u64,
    pub handshakes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// `rx_invalid + rx_source_refused + rx_probes_dropped + tx_failed`.
    pub dropped_packets: u64,
    pub rx_invalid: u64,
    pub rx_source_refused: u64,
    /// Liveness probes over the tunnel's budget (250 a second), dropped
    /// before the control plane; also in the gateway's `probes_dropped`.
    #[serde(default)]
    pub rx_probes_dropped: u64,
    pub tx_failed: u64,
}

/// One endpoint: a local UDP socket that tunnels share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStatus {
    pub name: String,
    pub listen: SocketAddr,
    pub rx_datagrams: u64,
    pub dropped_datagrams: u64,
    /// Datagrams the kernel refused to send, the full socket buffer aside.
    pub tx_failed: u64,
    /// Datagrams dropped because the socket's send buffer stayed full.
    #[serde(default)]
    pub tx_queue_full: u64,
}

/// How many prefixes the FIB in force holds, per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibCounts {
    pub routes_v4: u64,
    pub routes_v6: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::round_trips;

    #[test]
    fn todays_status_document_round_trips() {
        let status: Status = round_trips(include_str!("testdata/status.json"));
        let office = &status.connections[0];
        assert_eq!(office.routing, Routing::Dynamic);
        assert_eq!(office.tunnels[1].liveness, Liveness::AdminDown);
        assert_eq!(office.tunnels[1].handshake_age_ms, None);
        assert_eq!(status.connections[1].active_tunnel, None);
        assert_eq!(status.fib.routes_v6, 1);
    }
}
