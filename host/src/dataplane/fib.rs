//! The forwarding information base: longest-prefix match from a destination
//! address to the tunnels that carry it.
//!
//! A [`Fib`] is an immutable snapshot built by the control plane from the route
//! table and the failover decision; the data path reads the current snapshot
//! lock-free through [`FibCell`] and never mutates it. This module owns no
//! sockets and knows nothing of liveness or plugins: it only answers "which
//! next hop for this address" and, for the ingress source check, "may a
//! packet from this address arrive over this connection". The source table
//! is kept apart from the forwarding table: a connection may send from the
//! prefixes it owns even when they are not routed over it (a learned route
//! with propagation off, a tunnel on standby), as WireGuard's allowed IPs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

/// Index of a tunnel in the data plane's tunnel vector.
pub type TunnelId = usize;
/// Index of a connection in the configuration's connection vector.
pub type ConnectionId = usize;

/// Where traffic for a prefix goes: the connections the route selection
/// installed, and their tunnels that the failover decision gives a weight
/// above 0 (never empty), each with that weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    pub connections: Vec<ConnectionId>,
    pub tunnels: Vec<(TunnelId, u32)>,
}

impl NextHop {
    /// A next hop over one connection's tunnels, all of equal weight.
    pub fn over(connection: ConnectionId, tunnels: &[TunnelId]) -> NextHop {
        NextHop {
            connections: vec![connection],
            tunnels: tunnels.iter().map(|t| (*t, 1)).collect(),
        }
    }

    /// Picks the tunnel for a flow: the only one, or one chosen by `flow_hash`
    /// in proportion to the weights, so that a flow stays on one tunnel (ECMP).
    pub fn tunnel_for(&self, flow_hash: u64) -> Option<TunnelId> {
        if let [(only, _)] = self.tunnels.as_slice() {
            return Some(*only);
        }
        let total: u64 = self.tunnels.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let mut point = flow_hash % total;
        for (tunnel, weight) in &self.tunnels {
            let weight = u64::from(*weight);
            if point < weight {
                return Some(*tunnel);
            }
            point -= weight;
        }
        None
    }
}

/// An immutable longest-prefix-match table for IPv4 and IPv6, with the
/// source table of the ingress check.
#[derive(Default)]
pub struct Fib {
    v4: PrefixMap<Ipv4Net, NextHop>,
    v6: PrefixMap<Ipv6Net, NextHop>,
    len: usize,
    src_v4: PrefixMap<Ipv4Net, Vec<ConnectionId>>,
    src_v6: PrefixMap<Ipv6Net, Vec<ConnectionId>>,
}

impl Fib {
    /// Adds or replaces the next hop of `prefix` (host bits are cleared).
    /// Next hops without a tunnel of weight above 0 are refused: they would
    /// black-hole the prefix silently.
    /// The next hop's connections may send from `prefix` in any case.
    pub fn insert(&mut self, prefix: IpNet, next_hop: NextHop) -> bool {
        for c in &next_hop.connections {
            self.allow_source(prefix, *c);
        }
        if next_hop.tunnels.iter().all(|(_, w)| *w == 0) {
            return false;
        }
        let replaced = match prefix.trunc() {
            IpNet::V4(p) => self.v4.insert(p, next_hop).is_some(),
            IpNet::V6(p) => self.v6.insert(p, next_hop).is_some(),
        };
        if !replaced {
            self.len += 1;
        }
        true
    }

    /// Lets packets from `prefix` arrive over `connection`.
    pub fn allow_source(&mut self, prefix: IpNet, connection: ConnectionId) {
        let list = match prefix.trunc() {
            IpNet::V4(p) => self.src_v4.entry(p).or_default(),
            IpNet::V6(p) => self.src_v6.entry(p).or_default(),
        };
        if !list.contains(&connection) {
            list.push(connection);
        }
    }

    /// Whether a packet from `addr` may arrive over `connection`: the
    /// longest source prefix holding `addr` must list it.
    pub fn source_allowed(&self, addr: IpAddr, connection: ConnectionId) -> bool {
        let owners = match addr {
            IpAddr::V4(a) => self.src_v4.get_lpm(&Ipv4Net::from(a)).map(|(_, c)| c),
            IpAddr::V6(a) => self.src_v6.get_lpm(&Ipv6Net::from(a)).map(|(_, c)| c),
        };
        owners.is_some_and(|c| c.contains(&connection))
    }

    /// The next hop of the longest prefix that contains `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<&NextHop> {
        match addr {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    pub fn lookup_v4(&self, addr: Ipv4Addr) -> Option<&NextHop> {
        let host = Ipv4Net::from(addr);
        self.v4.get_lpm(&host).map(|(_, nh)| nh)
    }

    pub fn lookup_v6(&self, addr: Ipv6Addr) -> Option<&NextHop> {
        let host = Ipv6Net::from(addr);
        self.v6.get_lpm(&host).map(|(_, nh)| nh)
    }

    /// Number of prefixes in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The current FIB snapshot, read lock-free by the data path and replaced
/// atomically by the control plane.
pub struct FibCell(ArcSwap<Fib>);

impl FibCell {
    pub fn new(fib: Fib) -> Self {
        FibCell(ArcSwap::from_pointee(fib))
    }

    /// The snapshot in force now. Hold the guard only for one packet batch.
    pub fn load(&self) -> arc_swap::Guard<Arc<Fib>> {
        self.0.load()
    }

    pub fn store(&self, fib: Fib) {
        self.0.store(Arc::new(fib));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nh(connection: ConnectionId, tunnels: &[TunnelId]) -> NextHop {
        NextHop::over(connection, tunnels)
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_ipv4() {
        let mut fib = Fib::default();
        assert!(fib.insert(net("10.0.0.0/8"), nh(0, &[0])));
        assert!(fib.insert(net("10.2.0.0/16"), nh(1, &[2])));
        assert!(fib.insert(net("10.2.3.0/24"), nh(2, &[3])));
        assert_eq!(fib.lookup("10.2.3.4".parse().unwrap()), Some(&nh(2, &[3])));
        assert_eq!(fib.lookup("10.2.4.4".parse().unwrap()), Some(&nh(1, &[2])));
        assert_eq!(fib.lookup("10.9.9.9".parse().unwrap()), Some(&nh(0, &[0])));
        assert_eq!(fib.lookup("11.0.0.1".parse().unwrap()), None);
        assert_eq!(fib.len(), 3);
    }

    #[test]
    fn longest_prefix_wins_ipv6() {
        let mut fib = Fib::default();
        fib.insert(net("fd00::/8"), nh(0, &[0]));
        fib.insert(net("fd00:2::/64"), nh(1, &[1]));
        assert_eq!(
            fib.lookup("fd00:2::10".parse().unwrap()),
            Some(&nh(1, &[1]))
        );
        assert_eq!(
            fib.lookup("fd00:3::10".parse().unwrap()),
            Some(&nh(0, &[0]))
        );
        assert_eq!(fib.lookup("2001:db8::1".parse().unwrap()), None);
        // An IPv4 address never matches an IPv6 prefix and vice versa.
        assert_eq!(fib.lookup("10.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn host_routes_and_default_route() {
        let mut fib = Fib::default();
        fib.insert(net("0.0.0.0/0"), nh(0, &[0]));
        fib.insert(net("169.254.10.2/32"), nh(1, &[1]));
        assert_eq!(
            fib.lookup("169.254.10.2".parse().unwrap()),
            Some(&nh(1, &[1]))
        );
        assert_eq!(
            fib.lookup("169.254.10.1".parse().unwrap()),
            Some(&nh(0, &[0]))
        );
    }

    #[test]
    fn host_bits_are_cleared_and_replacing_keeps_len() {
        let mut fib = Fib::default();
        fib.insert(net("10.2.0.7/24"), nh(0, &[0]));
        fib.insert(net("10.2.0.0/24"), nh(0, &[1]));
        assert_eq!(fib.len(), 1);
        assert_eq!(
            fib.lookup("10.2.0.200".parse().unwrap()),
            Some(&nh(0, &[1]))
        );
    }

    #[test]
    fn empty_next_hop_is_refused() {
        let mut fib = Fib::default();
        assert!(!fib.insert(net("10.0.0.0/8"), nh(0, &[])));
        assert!(fib.is_empty());
    }

    #[test]
    fn weights_spread_flows_in_proportion() {
        let hop = NextHop {
            connections: vec![0, 1],
            tunnels: vec![(3, 300), (5, 100), (9, 0)],
        };
        let mut counts = [0u32; 10];
        for h in 0..4000u64 {
            counts[hop
                .tunnel_for(h.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .unwrap()] += 1;
        }
        assert_eq!(counts[9], 0, "weight 0 is standby");
        assert_eq!(counts[3] + counts[5], 4000);
        assert!((2800..3200).contains(&counts[3]), "{counts:?}");
    }

    #[test]
    fn a_next_hop_with_only_standby_tunnels_is_refused() {
        let mut fib = Fib::default();
        let standby = NextHop {
            connections: vec![0],
            tunnels: vec![(0, 0), (1, 0)],
        };
        assert!(!fib.insert(net("10.0.0.0/8"), standby));
        assert!(fib.lookup("10.1.2.3".parse().unwrap()).is_none());
        // Its connection may still send from the prefix.
        assert!(fib.source_allowed("10.1.2.3".parse().unwrap(), 0));
    }

    #[test]
    fn sources_are_checked_by_longest_prefix() {
        let mut fib = Fib::default();
        fib.allow_source(net("10.0.0.0/8"), 0);
        fib.allow_source(net("10.1.0.0/24"), 1);
        fib.allow_source(net("10.1.0.0/24"), 2);
        fib.allow_source(net("fd00:1::/64"), 1);
        let ok = |a: &str, c| fib.source_allowed(a.parse().unwrap(), c);
        assert!(ok("10.9.9.9", 0));
        assert!(!ok("10.1.0.5", 0), "the longer prefix belongs to 1 and 2");
        assert!(ok("10.1.0.5", 1) && ok("10.1.0.5", 2));
        assert!(ok("fd00:1::5", 1) && !ok("fd00:1::5", 0));
        assert!(!ok("192.0.2.1", 0), "no source prefix at all");
        assert!(fib.is_empty(), "sources are not routes");
    }

    #[test]
    fn ecmp_keeps_a_flow_on_one_tunnel_and_spreads_flows() {
        let hop = nh(0, &[4, 7]);
        assert_eq!(hop.tunnel_for(10), hop.tunnel_for(10));
        let picked: std::collections::HashSet<_> =
            (0..16u64).filter_map(|h| hop.tunnel_for(h)).collect();
        assert_eq!(picked.len(), 2);
    }

    #[test]
    fn swapping_a_snapshot_is_seen_by_readers() {
        let cell = FibCell::new(Fib::default());
        let before = cell.load();
        let mut next = Fib::default();
        next.insert(net("10.2.0.0/24"), nh(0, &[1]));
        cell.store(next);
        assert!(before.is_empty(), "an old snapshot stays as it was");
        assert!(cell.load().lookup("10.2.0.1".parse().unwrap()).is_some());
    }
}
