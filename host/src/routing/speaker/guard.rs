//! The host's own guard against learned routes that would hijack its
//! tunnels, its networks or another connection's prefixes: checked for
//! every received route before any filter plugin sees it. The check a
//! route passes is integer masks over the guard's few prefixes
//! ([`Quick`]); only a route it may refuse is looked at again to say why.
//! Owns no state beyond the config's prefixes; must not log or touch a
//! session.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::config::GatewayConfig;
use crate::dataplane::fib::ConnectionId;

/// The link-local ranges (169.254.0.0/16, fe80::/10).
const LINK_LOCAL: [IpNet; 2] = [
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16)),
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
    )),
];

/// Prefixes the host never learns, whatever the filter says.
pub struct Guard {
    /// The tunnels' inside addresses live here.
    link_local: [IpNet; 2],
    /// The tunnels' IPv6 inside /126s (`inside_ipv6_cidr`).
    inside_v6: Vec<IpNet>,
    /// This gateway's `[bgp] networks`.
    own: Vec<IpNet>,
    /// Static routes, by connection.
    statics: Vec<(IpNet, ConnectionId)>,
    /// Endpoint and far-endpoint addresses (the tunnels' outer addresses).
    outer: Vec<IpAddr>,
    /// The same, as integers.
    quick: Quick,
}

impl Guard {
    pub fn new(cfg: &GatewayConfig) -> Guard {
        Guard::of(
            cfg.connections
                .iter()
                .flat_map(|c| c.tunnels.iter().filter_map(|t| t.inside_ipv6))
                .map(|i| IpNet::V6(i.cidr))
                .collect(),
            cfg.bgp.networks.clone(),
            cfg.connections
                .iter()
                .enumerate()
                .flat_map(|(i, c)| c.static_routes.iter().map(move |p| (*p, ConnectionId(i))))
                .collect(),
            cfg.endpoints
                .iter()
                .map(|e| e.listen.ip())
                .chain(
                    cfg.connections
                        .iter()
                        .flat_map(|c| c.tunnels.iter().map(|t| t.remote.ip())),
                )
                .filter(|ip| !ip.is_unspecified())
                .collect(),
        )
    }

    /// A guard of these prefixes and addresses (and the link-local ranges).
    fn of(
        inside_v6: Vec<IpNet>,
        own: Vec<IpNet>,
        statics: Vec<(IpNet, ConnectionId)>,
        outer: Vec<IpAddr>,
    ) -> Guard {
        let unowned = LINK_LOCAL.iter().chain(&inside_v6).chain(&own);
        let within = unowned
            .map(|n| (*n, None))
            .chain(statics.iter().map(|(n, c)| (*n, Some(*c))));
        let quick = Quick::new(within, &outer);
        Guard {
            link_local: LINK_LOCAL,
            inside_v6,
            own,
            statics,
            outer,
            quick,
        }
    }

    /// Why a route for `prefix` learned over `connection` is refused, if it
    /// is: it lies within the link-local ranges of the inside addresses,
    /// within this gateway's networks or another connection's static routes,
    /// or (unless it is a default route) holds a tunnel's outer address, so
    /// the tunnel would be routed into itself.
    pub fn refuses(&self, prefix: &IpNet, connection: ConnectionId) -> Option<String> {
        if !self.quick.may_refuse(prefix, connection) {
            return None;
        }
        self.slow_refuses(prefix, connection)
    }

    /// [`Guard::refuses`] without the integer check: the reason, if any.
    fn slow_refuses(&self, prefix: &IpNet, connection: ConnectionId) -> Option<String> {
        // A default route (ours or another connection's) holds every
        // prefix without claiming them: more specific routes are normal.
        let within = |outer: &IpNet| outer.prefix_len() > 0 && outer.contains(prefix);
        if self.link_local.iter().any(within) {
            return Some(format!(
                "{prefix} lies within the tunnels' link-local inside addresses"
            ));
        }
        if let Some(inside) = self.inside_v6.iter().find(|n| within(n)) {
            return Some(format!(
                "{prefix} lies within the tunnel inside addresses {inside}"
            ));
        }
        if let Some(own) = self.own.iter().find(|n| within(n)) {
            return Some(format!("{prefix} lies within this gateway's network {own}"));
        }
        if let Some((p, _)) = self
            .statics
            .iter()
            .find(|(p, c)| *c != connection && within(p))
        {
            return Some(format!(
                "{prefix} lies within another connection's static route {p}"
            ));
        }
        if prefix.prefix_len() > 0 {
            if let Some(ip) = self.outer.iter().find(|ip| prefix.contains(*ip)) {
                return Some(format!(
                    "{prefix} holds the tunnel endpoint address {ip}: the tunnel would be routed into itself"
                ));
            }
        }
        None
    }
}

/// A network as an integer address (host bits cleared) and a length.
type Net<A> = (A, u8);

/// The guard's prefixes as integers: a route the guard refuses lies within
/// one of `within` (a network of length above 0; one with a connection is
/// that connection's static route, which it may announce) or holds one of
/// `outer` (the route's length above 0). Per family, so a check is a few
/// masks and compares.
#[derive(Debug, Default)]
struct Quick {
    within_v4: Vec<(Net<u32>, Option<ConnectionId>)>,
    within_v6: Vec<(Net<u128>, Option<ConnectionId>)>,
    outer_v4: Vec<u32>,
    outer_v6: Vec<u128>,
}

fn mask_v4(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask_v6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

impl Quick {
    fn new(within: impl Iterator<Item = (IpNet, Option<ConnectionId>)>, outer: &[IpAddr]) -> Quick {
        let mut q = Quick::default();
        for (net, owner) in within.filter(|(n, _)| n.prefix_len() > 0) {
            match net {
                IpNet::V4(n) => {
                    let l = n.prefix_len();
                    q.within_v4
                        .push(((u32::from(n.addr()) & mask_v4(l), l), owner));
                }
                IpNet::V6(n) => {
                    let l = n.prefix_len();
                    q.within_v6
                        .push(((u128::from(n.addr()) & mask_v6(l), l), owner));
                }
            }
        }
        for ip in outer {
            match ip {
                IpAddr::V4(a) => q.outer_v4.push(u32::from(*a)),
                IpAddr::V6(a) => q.outer_v6.push(u128::from(*a)),
            }
        }
        q
    }

    /// False when the guard lets `prefix` from `connection` through.
    fn may_refuse(&self, prefix: &IpNet, connection: ConnectionId) -> bool {
        let other = |owner: &Option<ConnectionId>| *owner != Some(connection);
        match prefix {
            IpNet::V4(p) => {
                let (a, l) = (u32::from(p.addr()), p.prefix_len());
                let within = |((n, nl), owner): &(Net<u32>, _)| {
                    l >= *nl && a & mask_v4(*nl) == *n && other(owner)
                };
                let holds = |ip: &u32| l > 0 && ip & mask_v4(l) == a & mask_v4(l);
                self.within_v4.iter().any(within) || self.outer_v4.iter().any(holds)
            }
            IpNet::V6(p) => {
                let (a, l) = (u128::from(p.addr()), p.prefix_len());
                let within = |((n, nl), owner): &(Net<u128>, _)| {
                    l >= *nl && a & mask_v6(*nl) == *n && other(owner)
                };
                let holds = |ip: &u128| l > 0 && ip & mask_v6(l) == a & mask_v6(l);
                self.within_v6.iter().any(within) || self.outer_v6.iter().any(holds)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        Guard::of(
            vec!["fd00:0:0:10::/126".parse().unwrap()],
            vec![net("10.2.0.0/24"), net("fd00:2::/64")],
            vec![(net("10.9.0.0/16"), ConnectionId(1))],
            vec![
                "198.18.1.2".parse().unwrap(),
                "198.18.10.2".parse().unwrap(),
            ],
        )
    }

    #[test]
    fn the_guard_refuses_hijacks_and_lets_the_rest_through() {
        let g = guard();
        let refused = |p: &str| g.refuses(&p.parse().unwrap(), ConnectionId(0));
        assert_eq!(
            refused("169.254.10.2/32").as_deref(),
            Some("169.254.10.2/32 lies within the tunnels' link-local inside addresses")
        );
        assert!(refused("fe80::/64").is_some());
        assert_eq!(
            refused("10.2.0.128/25").as_deref(),
            Some("10.2.0.128/25 lies within this gateway's network 10.2.0.0/24")
        );
        assert!(refused("10.2.0.0/24").is_some());
        assert!(
            refused("10.9.1.0/24").is_some(),
            "another connection's prefix"
        );
        assert!(
            g.refuses(&"10.9.1.0/24".parse().unwrap(), ConnectionId(1))
                .is_none(),
            "its own"
        );
        assert_eq!(
            refused("198.18.0.0/15").as_deref(),
            Some("198.18.0.0/15 holds the tunnel endpoint address 198.18.1.2: the tunnel would be routed into itself")
        );
        assert!(refused("0.0.0.0/0").is_none(), "a default route is allowed");
        assert!(
            refused("10.0.0.0/8").is_none(),
            "a covering route is allowed"
        );
        assert!(refused("10.1.0.0/24").is_none());
        assert!(refused("fd00:1::/64").is_none());
        assert_eq!(
            refused("fd00:0:0:10::2/128").as_deref(),
            Some("fd00:0:0:10::2/128 lies within the tunnel inside addresses fd00:0:0:10::/126")
        );
        assert!(refused("fd00:0:0:10::/126").is_some());
        assert!(
            refused("fd00::/8").is_none(),
            "a route covering the inside /126 is allowed: the /126 is longer"
        );
    }

    #[test]
    fn over_an_ipv6_underlay_prefixes_holding_the_endpoints_are_refused() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let g = Guard::of(
            vec![],
            vec![],
            vec![],
            vec![
                "2001:db8:1::2".parse().unwrap(),
                "2001:db8:10::2".parse().unwrap(),
            ],
        );
        let refused = |p: &str| g.refuses(&net(p), ConnectionId(0));
        assert_eq!(
            refused("2001:db8::/32").as_deref(),
            Some("2001:db8::/32 holds the tunnel endpoint address 2001:db8:1::2: the tunnel would be routed into itself")
        );
        assert!(refused("2001:db8:10::2/128").is_some());
        assert!(refused("::/1").is_some(), "half of the space holds them");
        assert!(refused("::/0").is_none(), "a default route is allowed");
        assert!(refused("0.0.0.0/0").is_none());
        assert!(refused("2001:db8:2::/48").is_none());
        assert!(refused("198.18.0.0/15").is_none(), "no IPv4 endpoint here");
    }

    #[test]
    fn a_default_route_of_ours_or_a_static_one_claims_nothing() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let g = Guard::of(
            vec!["fd00:0:0:10::/126".parse().unwrap()],
            vec![net("0.0.0.0/0"), net("::/0"), net("10.2.0.0/24")],
            vec![(net("0.0.0.0/0"), ConnectionId(1))],
            vec![],
        );
        assert!(g.refuses(&net("10.1.0.0/24"), ConnectionId(0)).is_none());
        assert!(g.refuses(&net("fd00:1::/64"), ConnectionId(0)).is_none());
        assert!(g.refuses(&net("10.2.0.0/25"), ConnectionId(0)).is_some());
    }

    /// The integer check lets through exactly what the guard lets
    /// through: random prefixes in and around the guard's ranges, both
    /// families, every length, host bits set or not.
    #[test]
    fn the_quick_check_agrees_with_the_guard() {
        let g = guard();
        let mut rng = crate::policy::gen::XorShift::new(13);
        let bases: [IpAddr; 6] = [
            "169.254.10.2",
            "10.2.0.130",
            "10.9.3.1",
            "198.18.1.2",
            "fd00:0:0:10::2",
            "fd00:2::9",
        ]
        .map(|a| a.parse().unwrap());
        let mut seen = [0; 2];
        for _ in 0..50_000 {
            let base = rng.pick(&bases);
            let flip = rng.next_u64();
            let (addr, max) = match base {
                IpAddr::V4(a) => (
                    IpAddr::V4(Ipv4Addr::from(
                        u32::from(a) ^ (flip as u32).checked_shr(rng.below(33) as u32).unwrap_or(0),
                    )),
                    32,
                ),
                IpAddr::V6(a) => (
                    IpAddr::V6(Ipv6Addr::from(
                        u128::from(a)
                            ^ u128::from(flip)
                                .checked_shr(rng.below(65) as u32)
                                .unwrap_or(0),
                    )),
                    128,
                ),
            };
            let prefix = IpNet::new(addr, rng.below(max + 1) as u8).unwrap();
            for c in [ConnectionId(0), ConnectionId(1)] {
                let refused = g.slow_refuses(&prefix, c).is_some();
                assert_eq!(
                    g.quick.may_refuse(&prefix, c),
                    refused,
                    "{prefix} from {c:?}"
                );
                seen[usize::from(refused)] += 1;
            }
        }
        assert!(seen.iter().all(|n| *n > 10_000), "both outcomes: {seen:?}");
    }
}
