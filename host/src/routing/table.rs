//! The route table: the candidate routes of every prefix (the static routes
//! of each connection, and the BGP routes each dynamic connection's sessions
//! learned and the import filter accepted), and, once the route-selection
//! slot has chosen among them and the failover slot has weighted the
//! tunnels, the FIB snapshot they compile into.
//!
//! This module owns which prefixes exist and what offers each. The choices
//! themselves come from the policy slots; it never touches packets, sockets
//! or sessions, and the FIB it returns is immutable: the caller swaps it in.

use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;

use crate::bgp::message::PathAttributes;
use crate::config::GatewayConfig;
use crate::dataplane::fib::{ConnectionId, Fib, NextHop, TunnelId};
use crate::topology::TunnelInfo;

/// A candidate route for a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub connection: ConnectionId,
    /// For a BGP route, the tunnel whose session learned it; `None` for a
    /// static route (it uses every tunnel of its connection).
    pub tunnel: Option<TunnelId>,
    /// For a BGP route, its attributes after the import filter.
    pub attrs: Option<Arc<PathAttributes>>,
}

impl Candidate {
    pub fn is_static(&self) -> bool {
        self.tunnel.is_none()
    }
}

/// Every prefix with its candidates: static routes first, in configuration
/// order, then learned prefixes in the order given.
pub type Table = Vec<(IpNet, Vec<Candidate>)>;

/// Where an installed prefix goes: a connection (all its tunnels) or one
/// tunnel of it.
pub type Via = (ConnectionId, Option<TunnelId>);

/// A prefix with the candidates the route selection installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub prefix: IpNet,
    pub via: Vec<Via>,
}

impl Installed {
    /// The connections the prefix is installed over, each once, in order.
    pub fn connections(&self) -> Vec<ConnectionId> {
        connections(&self.via)
    }
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

/// The table of static routes and `learned` BGP routes (prefix, candidate).
pub fn table(cfg: &GatewayConfig, learned: impl IntoIterator<Item = (IpNet, Candidate)>) -> Table {
    let mut table: Table = Vec::new();
    let mut index: HashMap<IpNet, usize> = HashMap::new();
    let statics = cfg
        .connections
        .iter()
        .enumerate()
        .flat_map(|(connection, conn)| {
            conn.static_routes.iter().map(move |prefix| {
                (
                    *prefix,
                    Candidate {
                        connection: ConnectionId(connection),
                        tunnel: None,
                        attrs: None,
                    },
                )
            })
        });
    for (prefix, candidate) in statics.chain(learned) {
        match index.get(&prefix).and_then(|i| table.get_mut(*i)) {
            Some((_, list)) => list.push(candidate),
            None => {
                index.insert(prefix, table.len());
                table.push((prefix, vec![candidate]));
            }
        }
    }
    table
}

/// Builds the FIB: each installed prefix goes to its tunnels with a weight
/// above 0 (`weights` is indexed by tunnel id): every tunnel of the
/// connection for a static route, the learning tunnel for a BGP route. Each
/// tunnel's inside /30 goes to that tunnel alone, whatever its weight
/// (liveness probes and BGP must use the tunnel they belong to).
///
/// `sources` are the prefixes each connection may send from beyond the
/// installed ones (every candidate of the table, installed or not).
pub fn build_fib(
    installed: &[Installed],
    sources: &[(IpNet, ConnectionId)],
    tunnels: &[TunnelInfo],
    weights: &[u32],
) -> Fib {
    let mut fib = Fib::default();
    for (prefix, connection) in sources {
        fib.allow_source(*prefix, *connection);
    }
    for route in installed {
        fib.insert(route.prefix, next_hop(&route.via, tunnels, weights));
    }
    for tunnel in tunnels {
        fib.insert(
            IpNet::V4(tunnel.inside_cidr),
            NextHop::over(tunnel.connection, &[tunnel.id]),
        );
    }
    fib
}

/// Every installed prefix, for the kernel's routing table.
pub fn kernel_prefixes(installed: &[Installed]) -> Vec<IpNet> {
    installed.iter().map(|r| r.prefix).collect()
}
