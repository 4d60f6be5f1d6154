//! The route table: the candidate routes of every prefix (today the static
//! routes of each connection; BGP routes join when dynamic connections land),
//! and, once the route-selection slot has chosen among them and the failover
//! slot has weighted the tunnels, the FIB snapshot they compile into.
//!
//! This module owns which prefixes exist and which connection offers each.
//! The choices themselves come from the policy slots; it never touches packets
//! or sockets, and the FIB it returns is immutable: the caller swaps it in.

use ipnet::IpNet;

use crate::config::GatewayConfig;
use crate::dataplane::fib::{ConnectionId, Fib, NextHop, TunnelId};
use crate::dataplane::tunnel::Tunnel;

/// A candidate route for a prefix: a static route of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub connection: ConnectionId,
}

/// A prefix with the connections the route selection installed it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub prefix: IpNet,
    pub connections: Vec<ConnectionId>,
}

/// The tunnels of each connection, in configuration order. Tunnels are
/// numbered through all connections in order.
pub fn tunnels_by_connection(cfg: &GatewayConfig) -> Vec<Vec<TunnelId>> {
    let mut next = 0;
    cfg.connections
        .iter()
        .map(|c| {
            let ids: Vec<TunnelId> = (next..next + c.tunnels.len()).collect();
            next += c.tunnels.len();
            ids
        })
        .collect()
}

/// Every prefix with its candidates, in a stable order (prefixes as the
/// config lists them).
pub fn candidates(cfg: &GatewayConfig) -> Vec<(IpNet, Vec<Candidate>)> {
    let mut table: Vec<(IpNet, Vec<Candidate>)> = Vec::new();
    for (connection, conn) in cfg.connections.iter().enumerate() {
        for prefix in &conn.static_routes {
            match table.iter_mut().find(|(p, _)| p == prefix) {
                Some((_, list)) => list.push(Candidate { connection }),
                None => table.push((*prefix, vec![Candidate { connection }])),
            }
        }
    }
    table
}

/// Builds the FIB: each installed prefix goes to the tunnels of its
/// connections with a weight above 0 (`weights` is indexed by tunnel id);
/// each tunnel's inside /30 goes to that tunnel alone, whatever its weight
/// (liveness probes and, later, BGP must use the tunnel they belong to).
pub fn build_fib(installed: &[Installed], tunnels: &[Tunnel], weights: &[u32]) -> Fib {
    let mut fib = Fib::default();
    for route in installed {
        let hops: Vec<(TunnelId, u32)> = tunnels
            .iter()
            .filter(|t| route.connections.contains(&t.connection))
            .filter_map(|t| weights.get(t.id).filter(|w| **w > 0).map(|w| (t.id, *w)))
            .collect();
        fib.insert(
            route.prefix,
            NextHop {
                connections: route.connections.clone(),
                tunnels: hops,
            },
        );
    }
    for tunnel in tunnels {
        fib.insert(
            IpNet::V4(tunnel.inside_cidr),
            NextHop::over(tunnel.connection, &[tunnel.id]),
        );
    }
    fib
}

/// Every prefix that should be routed into the TUN device by the kernel.
pub fn kernel_prefixes(cfg: &GatewayConfig) -> Vec<IpNet> {
    candidates(cfg).into_iter().map(|(p, _)| p).collect()
}
