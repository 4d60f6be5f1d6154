//! The route table's vocabulary: a prefix's candidate routes (a
//! connection's static route, or a BGP route a session learned and the
//! import filter accepted), what the route selection installed, and the
//! next hop an installed set makes under the failover slot's weights (the
//! FIB's next-hop group; `loc_rib` builds the FIB from them).
//!
//! Plain data and pure functions: the choices come from the policy slots,
//! and nothing here touches packets, sockets or sessions.

use std::sync::Arc;

use ipnet::IpNet;

use crate::bgp::message::PathAttributes;
use crate::config::GatewayConfig;
use crate::dataplane::fib::{ConnectionId, NextHop, TunnelId};
use crate::topology::TunnelInfo;

/// A candidate route for a prefix, borrowing the attributes from the
/// session's Adj-RIB-In (no reference count touched per route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub connection: ConnectionId,
    /// For a BGP route, the tunnel whose session learned it; `None` for a
    /// static route (it uses every tunnel of its connection).
    pub tunnel: Option<TunnelId>,
    /// For a BGP route, its attributes after the import filter.
    pub attrs: Option<&'a Arc<PathAttributes>>,
}

impl Candidate<'_> {
    pub fn is_static(&self) -> bool {
        self.tunnel.is_none()
    }
}

/// Every prefix with its candidates: static routes first, in configuration
/// order, then learned prefixes in the order given.
pub type Table<'a> = Vec<(IpNet, Vec<Candidate<'a>>)>;

/// Where an installed prefix goes: a connection (all its tunnels) or one
/// tunnel of it.
pub type Via = (ConnectionId, Option<TunnelId>);

/// A prefix's selected next hops, inline up to two (a connection, or the
/// two tunnels of one): decided for every received route on the ingest
/// path, where a heap allocation each cost more than the selection.
pub type ViaList = smallvec::SmallVec<[Via; 2]>;

/// A prefix with the candidates the route selection installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub prefix: IpNet,
    pub via: Vec<Via>,
}

/// The connections of `via`, each once, in order.
pub fn connections(via: &[Via]) -> Vec<ConnectionId> {
    let mut out: Vec<ConnectionId> = Vec::new();
    for (c, _) in via {
        if !out.contains(c) {
            out.push(*c);
        }
    }
    out
}

/// Where a prefix installed over `via` goes: its tunnels with a weight
/// above 0 (`weights` is indexed by tunnel id), every tunnel of the
/// connection for a static route, the learning tunnel for a BGP route. The
/// FIB refuses the result when no tunnel is left.
pub fn next_hop(via: &[Via], tunnels: &[TunnelInfo], weights: &[u32]) -> NextHop {
    let mut hops: Vec<(TunnelId, u32)> = Vec::new();
    for t in tunnels {
        let used = via
            .iter()
            .any(|(c, tunnel)| *c == t.connection && tunnel.is_none_or(|id| id == t.id));
        if let Some(w) = weights.get(t.id.index()).filter(|w| used && **w > 0) {
            hops.push((t.id, *w));
        }
    }
    NextHop {
        connections: connections(via),
        tunnels: hops,
    }
}

/// The tunnels of each connection, in configuration order. Tunnels are
/// numbered through all connections in order.
pub fn tunnels_by_connection(cfg: &GatewayConfig) -> Vec<Vec<TunnelId>> {
    let mut next = 0;
    cfg.connections
        .iter()
        .map(|c| {
            let ids: Vec<TunnelId> = (next..next + c.tunnels.len()).map(TunnelId).collect();
            next += c.tunnels.len();
            ids
        })
        .collect()
}
