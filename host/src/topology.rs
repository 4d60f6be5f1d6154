//! The gateway's tunnels as the control plane sees them: plain data from the
//! config, numbered as the data path numbers its tunnels (through every
//! connection in order, then every tunnel of it in order). It lets the
//! control plane (the gateway core, routing) name tunnels, connections and
//! endpoints without a socket, a TUN device or WireGuard state, so it is
//! built and unit-tested from a config alone.
//!
//! Owns: the numbering. Must not: hold anything of the data path.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;

use crate::config::{GatewayConfig, InsideV6};

/// A tunnel: its place in the numbering through every connection in order
/// (the data path's tunnel list, the WireGuard receiver index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TunnelId(pub usize);

/// A VPN connection: its place in the configuration's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub usize);

impl TunnelId {
    /// The index into per-tunnel lists.
    pub fn index(self) -> usize {
        self.0
    }
}

impl ConnectionId {
    /// The index into per-connection lists.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for TunnelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tunnel #{}", self.0)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection #{}", self.0)
    }
}

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
    pub inside_ipv6: Option<InsideV6>,
    /// Its connection was removed by a reload: the id stays taken, nothing
    /// of it runs.
    pub retired: bool,
}

/// Every tunnel of `cfg`, by id.
pub fn tunnels(cfg: &GatewayConfig) -> Vec<TunnelInfo> {
    cfg.connections
        .iter()
        .enumerate()
        .flat_map(|(connection, c)| c.tunnels.iter().map(move |t| (connection, c.retired, t)))
        .enumerate()
        .map(|(id, (connection, retired, t))| TunnelInfo {
            retired,
            id: TunnelId(id),
            connection: ConnectionId(connection),
            endpoint: t.endpoint,
            remote: t.remote,
            inside_cidr: t.inside_cidr,
            inside_local: t.inside_local,
            inside_remote: t.inside_remote,
            inside_ipv6: t.inside_ipv6,
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
            assert_eq!(t.id, TunnelId(i));
            let conn = &cfg.connections[t.connection.index()];
            assert!(conn.tunnels.iter().any(|c| c.inside_cidr == t.inside_cidr));
        }
    }
}
