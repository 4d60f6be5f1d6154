//! The `bgp` and `bgp-refresh` replies: the BGP sessions, one per tunnel of
//! each dynamic VPN connection, and which were asked for their routes again.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::ids::{display_as_str, TunnelCidr};

/// The BGP speaker as `sitelink bgp --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgpStatus {
    /// This gateway's AS number.
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub peers: Vec<BgpPeer>,
}

/// A BGP session's state (RFC 4271 section 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Idle => "idle",
            SessionState::Connect => "connect",
            SessionState::Active => "active",
            SessionState::OpenSent => "opensent",
            SessionState::OpenConfirm => "openconfirm",
            SessionState::Established => "established",
        }
    }
}

display_as_str!(SessionState);

/// How many NOTIFICATIONs of one code and subcode went one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationCount {
    /// "sent" or "received".
    pub direction: String,
    pub code: u8,
    pub subcode: u8,
    pub count: u64,
}

/// One BGP session, over one tunnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgpPeer {
    /// The VPN connection.
    pub connection: String,
    pub tunnel: TunnelCidr,
    /// This side's address inside the tunnel.
    pub local_address: IpAddr,
    /// The peer's address inside the tunnel.
    pub remote_address: IpAddr,
    pub local_asn: u32,
    pub remote_asn: u32,
    /// Waits for the peer to connect.
    pub passive: bool,
    /// From the peer's OPEN; `null` until one is received.
    pub remote_router_id: Option<Ipv4Addr>,
    /// Negotiated; `null` until the session is up.
    pub hold_time_s: Option<u16>,
    /// Negotiated address families ("ipv4-unicast"); `null` until the
    /// session is up.
    pub families: Option<Vec<String>>,
    /// Negotiated IPv4 routes over IPv6 next hops (RFC 8950); absent from
    /// older gateways' answers.
    #[serde(default)]
    pub extended_next_hop: bool,
    pub state: SessionState,
    /// Seconds since the session was established; `null` when it is not.
    pub uptime_s: Option<f64>,
    pub established_transitions: u64,
    pub prefixes_received: u64,
    /// Of which the import filter accepted.
    pub prefixes_accepted: u64,
    /// Of the received, refused because the bgp-filter plugin faulted on
    /// them: they go through it again after a wait; absent from older
    /// gateways' answers.
    #[serde(default)]
    pub prefixes_refused_for_fault: u64,
    /// Seconds until they go through the filter again; `null` when none
    /// wait or their retry is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_retry_in_s: Option<f64>,
    pub prefixes_advertised: u64,
    pub max_prefixes: u32,
    pub updates_received: u64,
    pub updates_sent: u64,
    /// BGP messages of every type; absent from older gateways' answers.
    #[serde(default)]
    pub messages_received: u64,
    #[serde(default)]
    pub messages_sent: u64,
    /// NOTIFICATIONs sent and received, by code; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationCount>,
    pub last_error: Option<String>,
    /// Graceful restart (RFC 4724, we help a restarting peer); absent when
    /// `graceful_restart = false`, and from older gateways' answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestart>,
}

/// A session's graceful restart as the helper sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GracefulRestart {
    /// The Restart Time the peer announced in its last session; `null`
    /// when it did not offer graceful restart.
    pub peer_restart_time_s: Option<u16>,
    /// A restart in progress; `null` when none.
    pub phase: Option<RestartPhase>,
    /// The peer's routes kept as stale (still installed).
    pub stale_routes: u64,
    /// Seconds until what is still stale is swept; `null` when nothing is.
    pub stale_sweep_in_s: Option<f64>,
}

/// Where a peer's graceful restart is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartPhase {
    /// The session dropped; its routes are kept for the restart time.
    Restarting,
    /// The session is back; stale routes wait for End-of-RIB.
    Refreshing,
}

impl RestartPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPhase::Restarting => "restarting",
            RestartPhase::Refreshing => "refreshing",
        }
    }
}

display_as_str!(RestartPhase);

/// The `bgp-refresh` reply: the tunnels whose peer was asked for its routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refreshed {
    pub refreshed: Vec<TunnelCidr>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::round_trips;

    #[test]
    fn todays_bgp_documents_round_trip() {
        let bgp: BgpStatus = round_trips(include_str!("testdata/bgp.json"));
        assert_eq!(bgp.peers[0].state, SessionState::Established);
        assert_eq!(bgp.peers[1].state, SessionState::OpenSent);
        assert_eq!(bgp.peers[1].families, None);
        assert_eq!(bgp.peers[1].remote_asn, 4_200_000_000);
        let gr = bgp.peers[0]
            .graceful_restart
            .as_ref()
            .expect("graceful_restart");
        assert_eq!(gr.phase, Some(RestartPhase::Refreshing));
        assert_eq!(gr.stale_routes, 1);
        assert_eq!(bgp.peers[1].graceful_restart, None);
        let empty: BgpStatus = round_trips(include_str!("testdata/bgp_empty.json"));
        assert!(empty.peers.is_empty());
        let asked: Refreshed = round_trips(include_str!("testdata/refreshed.json"));
        assert_eq!(asked.refreshed.len(), 2);
        let none: Refreshed = round_trips(include_str!("testdata/refreshed_none.json"));
        assert!(none.refreshed.is_empty());
    }
}
