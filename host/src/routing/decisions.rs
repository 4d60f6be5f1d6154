//! The policy slots' view of the gateway: builds each slot's input from the
//! live state (tunnel liveness and weights, the route table's candidates) and
//! turns the answers into what the FIB is built from, with the diffs a dry
//! run or a swap reports.
//!
//! Pure functions over the gateway's state; they neither call plugins nor
//! publish a FIB (the control loop does both).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{RouteChange, WeightChange};
use ipnet::IpNet;

use super::wit_route;
use crate::config::{GatewayConfig, Routing as ConfigRouting};
use crate::dataplane::fib::TunnelId;
use crate::liveness::bfd::State;
use crate::net_map::FastHasher;
use crate::policy::{
    Candidate, CandidateSource, ConnectionHealth, PrefixCandidates, Routing, TunnelHealth,
};
use crate::routing::table::{self, Installed, Via};
use crate::topology::TunnelInfo;

/// What the control loop knows of one tunnel's liveness.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub state: State,
    pub up_since: Option<Instant>,
}

/// The failover slot's input: every connection with its tunnels' health and
/// the weights in force (`weights` is indexed by tunnel id).
pub fn connection_health(
    cfg: &GatewayConfig,
    all: &[TunnelInfo],
    tunnels_of: &[Vec<TunnelId>],
    liveness: &[Liveness],
    weights: &[u32],
    now: Instant,
) -> Vec<ConnectionHealth> {
    cfg.connections
        .iter()
        .zip(tunnels_of)
        .filter(|(conn, _)| conn.is_live())
        .map(|(conn, ids)| ConnectionHealth {
            name: conn.name.clone(),
            routing: match conn.routing {
                ConfigRouting::Static => Routing::StaticRouting,
                ConfigRouting::Dynamic => Routing::DynamicRouting,
            },
            detection_ms: millis_u32(conn.liveness.interval * u32::from(conn.liveness.multiplier)),
            failback_hold_ms: millis_u32(conn.failback_hold),
            tunnels: ids
                .iter()
                .filter_map(|id| all.get(id.index()))
                .map(|t| {
                    let live = liveness.get(t.id.index());
                    let up = live.is_some_and(|l| l.state == State::Up);
                    TunnelHealth {
                        tunnel: t.inside_cidr.to_string(),
                        endpoint: cfg
                            .endpoints
                            .get(t.endpoint)
                            .map(|e| e.name.clone())
                            .unwrap_or_default(),
                        up,
                        coming_up: live.is_some_and(|l| l.state == State::Init),
                        up_for_ms: live
                            .and_then(|l| l.up_since)
                            .filter(|_| up)
                            .map(|s| millis_u64(now.saturating_duration_since(s)))
                            .unwrap_or(0),
                        weight: weights.get(t.id.index()).copied().unwrap_or(0),
                    }
                })
                .collect(),
        })
        .collect()
}

fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn millis_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The weights per tunnel id from a failover answer (per running
/// connection, per tunnel in order: `tunnels_of` has the running
/// connections' tunnels); 0 for every other tunnel.
pub fn weights_by_tunnel<'a>(
    tunnels_of: impl IntoIterator<Item = &'a Vec<TunnelId>>,
    answer: &[Vec<u32>],
    n: usize,
) -> Vec<u32> {
    let mut weights = vec![0; n];
    for (ids, ws) in tunnels_of.into_iter().zip(answer) {
        for (id, w) in ids.iter().zip(ws) {
            if let Some(slot) = weights.get_mut(id.index()) {
                *slot = *w;
            }
        }
    }
    weights
}

/// The route-selection slot's input: every prefix of `table` with its
/// candidates.
pub fn prefix_candidates(
    cfg: &GatewayConfig,
    tunnels: &[TunnelInfo],
    table: &table::Table<'_>,
) -> Vec<PrefixCandidates> {
    let mut convert = wit_route::ToRoutes::default();
    // Names written once per call and shared, not once per candidate (formatting an
    // inside CIDR per candidate was 8% of the control thread's ingest).
    let connections: Vec<Arc<str>> = cfg
        .connections
        .iter()
        .map(|c| c.name.as_str().into())
        .collect();
    let tunnel_names: Vec<Arc<str>> = tunnels
        .iter()
        .map(|t| t.inside_cidr.to_string().into())
        .collect();
    table
        .iter()
        .map(|(prefix, candidates)| PrefixCandidates {
            prefix: wit_route::to_prefix(*prefix),
            candidates: candidates
                .iter()
                .map(|c| Candidate {
                    source: if c.is_static() {
                        CandidateSource::StaticRoute
                    } else {
                        CandidateSource::Bgp
                    },
                    connection: connections
                        .get(c.connection.index())
                        .cloned()
                        .unwrap_or_else(|| "".into()),
                    tunnel: c.tunnel.and_then(|t| tunnel_names.get(t.index())).cloned(),
                    route: match c.attrs {
                        Some(attrs) => convert.route(*prefix, attrs),
                        None => wit_route::static_route(*prefix),
                    },
                })
                .collect(),
        })
        .collect()
}

/// The routes a selection answer installs.
pub fn installed(table: &table::Table<'_>, answer: &[Vec<u32>]) -> Vec<Installed> {
    table
        .iter()
        .zip(answer)
        .filter_map(|((prefix, candidates), chosen)| {
            let via: Vec<Via> = chosen
                .iter()
                .filter_map(|i| {
                    candidates
                        .get(*i as usize)
                        .map(|c| (c.connection, c.tunnel))
                })
                .collect();
            (!via.is_empty()).then_some(Installed {
                prefix: *prefix,
                via,
            })
        })
        .collect()
}

/// The tunnel-weight changes between two decisions, for logs, dry runs and
/// swaps.
pub fn weight_diff(
    cfg: &GatewayConfig,
    tunnels: &[TunnelInfo],
    before: &[u32],
    after: &[u32],
) -> Vec<WeightChange> {
    tunnels
        .iter()
        .filter_map(|t| {
            let (from, to) = (*before.get(t.id.index())?, *after.get(t.id.index())?);
            (from != to).then(|| WeightChange {
                connection: cfg
                    .connections
                    .get(t.connection.index())
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                tunnel: t.inside_cidr.into(),
                from,
                to,
            })
        })
        .collect()
}

/// Where a prefix is installed, for people: connection names, with the
/// tunnel for BGP routes.
pub fn via_names(cfg: &GatewayConfig, tunnels: &[TunnelInfo], via: &[Via]) -> Vec<String> {
    via.iter()
        .filter_map(|(c, t)| {
            let name = &cfg.connections.get(c.index())?.name;
            Some(match t.and_then(|t| tunnels.get(t.index())) {
                Some(t) => format!("{name} via {}", t.inside_cidr),
                None => name.clone(),
            })
        })
        .collect()
}

/// One route change as the diffs report it (empty: not installed); `None`
/// when the names do not differ.
pub fn route_change(
    cfg: &GatewayConfig,
    tunnels: &[TunnelInfo],
    prefix: &IpNet,
    before: Option<&[Via]>,
    after: Option<&[Via]>,
) -> Option<RouteChange> {
    let mut namer = Namer::new(cfg, tunnels);
    namer
        .differs(before, after)
        .then(|| namer.change(prefix, before, after))
}

/// Names route changes for people, each distinct set of vias once: a swap
/// that moves a million prefixes formats a few names, not two million (and
/// a change past what an answer shows is counted, not named).
pub struct Namer<'a> {
    cfg: &'a GatewayConfig,
    tunnels: &'a [TunnelInfo],
    names: HashMap<Box<[Via]>, Vec<String>, BuildHasherDefault<FastHasher>>,
}

impl<'a> Namer<'a> {
    pub fn new(cfg: &'a GatewayConfig, tunnels: &'a [TunnelInfo]) -> Namer<'a> {
        Namer {
            cfg,
            tunnels,
            names: HashMap::default(),
        }
    }

    fn learn(&mut self, via: Option<&[Via]>) {
        if let Some(via) = via.filter(|v| !self.names.contains_key(*v)) {
            let names = via_names(self.cfg, self.tunnels, via);
            self.names.insert(via.into(), names);
        }
    }

    fn names(&self, via: Option<&[Via]>) -> &[String] {
        via.and_then(|v| self.names.get(v)).map_or(&[], |n| &n[..])
    }

    /// Whether a prefix moving from `before` to `after` is a change for
    /// people (the names differ; the same vias name the same).
    pub fn differs(&mut self, before: Option<&[Via]>, after: Option<&[Via]>) -> bool {
        if before == after {
            return false;
        }
        self.learn(before);
        self.learn(after);
        self.names(before) != self.names(after)
    }

    /// The change, named.
    pub fn change(
        &mut self,
        prefix: &IpNet,
        before: Option<&[Via]>,
        after: Option<&[Via]>,
    ) -> RouteChange {
        self.learn(before);
        self.learn(after);
        RouteChange {
            prefix: *prefix,
            from: self.names(before).to_vec(),
            to: self.names(after).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::ConnectionId;

    #[test]
    fn route_changes_name_connections_and_tunnels() {
        let fixture = crate::config::tests::Fixture::new();
        let cfg = fixture.parse(&fixture.base()).unwrap();
        let tunnels = crate::topology::tunnels(&cfg);
        let name = cfg.connections[0].name.clone();
        let prefix: IpNet = "10.1.0.0/24".parse().unwrap();
        let change = route_change(
            &cfg,
            &tunnels,
            &prefix,
            None,
            Some(&[(ConnectionId(0), Some(TunnelId(1)))]),
        )
        .unwrap();
        assert_eq!(change.from, Vec::<String>::new());
        assert_eq!(change.to, vec![format!("{name} via 169.254.11.0/30")]);
        let same: &[Via] = &[(ConnectionId(0), None)];
        assert!(route_change(&cfg, &tunnels, &prefix, Some(same), Some(same)).is_none());
        let diff = weight_diff(&cfg, &tunnels, &[100, 0], &[0, 100]);
        assert_eq!((diff[0].from, diff[0].to, diff[1].to), (100, 0, 100));
    }

    #[test]
    fn answers_map_back_to_tunnel_ids() {
        let tunnels_of = vec![vec![TunnelId(0), TunnelId(1)], vec![TunnelId(2)]];
        let answer = vec![vec![0, 100], vec![7]];
        assert_eq!(weights_by_tunnel(&tunnels_of, &answer, 3), vec![0, 100, 7]);
    }

    #[test]
    fn a_namer_names_each_set_of_vias_once() {
        let fixture = crate::config::tests::Fixture::new();
        let cfg = fixture.parse(&fixture.base()).unwrap();
        let tunnels = crate::topology::tunnels(&cfg);
        let a: &[Via] = &[(ConnectionId(0), Some(TunnelId(0)))];
        let b: &[Via] = &[(ConnectionId(0), Some(TunnelId(1)))];
        let mut namer = Namer::new(&cfg, &tunnels);
        for i in 0..1000u32 {
            let prefix = IpNet::new(std::net::Ipv4Addr::from(i << 8).into(), 24).unwrap();
            assert!(namer.differs(Some(a), Some(b)));
            assert!(!namer.differs(Some(a), Some(a)));
            if i == 0 {
                let change = namer.change(&prefix, Some(a), None);
                assert_eq!((change.from.len(), change.to.len()), (1, 0));
                assert_eq!(
                    Some(change),
                    route_change(&cfg, &tunnels, &prefix, Some(a), None)
                );
            }
        }
        assert_eq!(namer.names.len(), 2, "two sets of vias, two names");
    }
}
