//! The route table: the static routes of each connection and each tunnel's
//! inside /30, compiled with the failover decision into a FIB snapshot.
//!
//! This module owns which prefixes exist and which connection owns each; the
//! failover decision (which tunnels of a connection are active) comes in from
//! the liveness module. It never touches packets or sockets, and the FIB it
//! returns is immutable: the caller swaps it in. Routes learned by dynamic
//! connections (and route propagation) join here when BGP lands.

use ipnet::IpNet;

use crate::config::GatewayConfig;
use crate::dataplane::fib::{ConnectionId, Fib, NextHop, TunnelId};
use crate::dataplane::tunnel::Tunnel;

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

/// Builds the FIB: each connection's static routes go to its active tunnels,
/// each tunnel's inside /30 to that tunnel alone (liveness probes and, later,
/// BGP must use the tunnel they belong to, whatever is active).
pub fn build_fib(cfg: &GatewayConfig, tunnels: &[Tunnel], active: &[Vec<TunnelId>]) -> Fib {
    let mut fib = Fib::default();
    for (connection, conn) in cfg.connections.iter().enumerate() {
        let Some(active) = active.get(connection).filter(|a| !a.is_empty()) else {
            continue;
        };
        for prefix in &conn.static_routes {
            fib.insert(
                *prefix,
                NextHop {
                    connection,
                    tunnels: active.clone(),
                },
            );
        }
    }
    for tunnel in tunnels {
        fib.insert(
            IpNet::V4(tunnel.inside_cidr),
            NextHop {
                connection: tunnel.connection as ConnectionId,
                tunnels: vec![tunnel.id],
            },
        );
    }
    fib
}

/// Every prefix that should be routed into the TUN device by the kernel.
pub fn kernel_prefixes(cfg: &GatewayConfig) -> Vec<IpNet> {
    cfg.connections
        .iter()
        .flat_map(|c| c.static_routes.iter().copied())
        .collect()
}
