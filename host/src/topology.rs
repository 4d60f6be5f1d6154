//! The gateway's tunnels as the control plane sees them: plain data from the
//! config, numbered as the data path numbers its tunnels (through every
//! connection in order, then every tunnel of it in order). It lets the
//! control plane (the gateway core, routing) name tunnels, connections and
//! endpoints without a socket, a TUN device or WireGuard state, so it is
//! built and unit-tested from a config alone.
//!
//! Owns: the numbering. Must not: hold anything of the data path.

use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;

use crate::config::GatewayConfig;
use crate::dataplane::fib::{ConnectionId, TunnelId};

/// One tunnel: where it runs and which connection it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelInfo {
    pub id: TunnelId,
    pub connection: ConnectionId,
    /// Index of the local endpoint (UDP socket) the tunnel uses.
    pub endpoint: usize,
    /// The far endpoint, as configured.
    pub remote: SocketAddr,
    /// The /30 both ends share; the tunnel's name on both sides.
    pub inside_cidr: Ipv4Net,
    pub inside_local: Ipv4Addr,
    pub inside_remote: Ipv4Addr,
}

/// Every tunnel of `cfg`, by id.
pub fn tunnels(cfg: &GatewayConfig) -> Vec<TunnelInfo> {
    cfg.connections
        .iter()
        .enumerate()
        .flat_map(|(connection, c)| c.tunnels.iter().map(move |t| (connection, t)))
        .enumerate()
        .map(|(id, (connection, t))| TunnelInfo {
            id,
            connection,
            endpoint: t.endpoint,
            remote: t.remote,
            inside_cidr: t.inside_cidr,
            inside_local: t.inside_local,
            inside_remote: t.inside_remote,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnels_are_numbered_through_the_connections_in_order() {
        let fixture = crate::config::tests::Fixture::new();
        let cfg = fixture.parse(&fixture.base()).unwrap();
        let list = tunnels(&cfg);
        let expected: usize = cfg.connections.iter().map(|c| c.tunnels.len()).sum();
        assert_eq!(list.len(), expected);
        for (i, t) in list.iter().enumerate() {
            assert_eq!(t.id, i);
            let conn = &cfg.connections[t.connection];
            assert!(conn.tunnels.iter().any(|c| c.inside_cidr == t.inside_cidr));
        }
    }
}
