//! Read-only views of the routes the sessions learned: the candidates of a
//! prefix for the Loc-RIB (looked up one prefix at a time, so a change to
//! a few routes costs a few lookups), the prefixes a liveness change or a
//! swap touches, the full tables for dry runs, and the received routes for
//! `sitelink routes`. Nothing here changes a session or a RIB.

use std::sync::Arc;

use ipnet::IpNet;

use super::{import, BgpPeer, Speaker};
use crate::bgp::fsm::State;
use crate::bgp::message::PathAttributes;
use crate::dataplane::fib::{ConnectionId, TunnelId};
use crate::policy::{Direction, Fault, Plugin, Route};
use crate::route_table::Candidate;
use crate::service::wit_route;

impl Speaker {
    /// The routes for `prefix` accepted from established sessions, in
    /// session order, as candidates; `eligible` says whether a tunnel's
    /// routes may be used (those of other tunnels are left out).
    pub fn candidates_for(
        &self,
        prefix: &IpNet,
        eligible: impl Fn(TunnelId) -> bool,
        out: &mut Vec<Candidate>,
    ) {
        for p in self.established() {
            if let Some(attrs) = p.accepted.get(&p.adj_in, prefix) {
                if eligible(p.tunnel) {
                    out.push(candidate(p, attrs.clone()));
                }
            }
        }
    }

    /// The connections whose established sessions accepted a route for
    /// `prefix` (each once): they may send from it.
    pub fn connections_for(&self, prefix: &IpNet, out: &mut Vec<ConnectionId>) {
        for p in self.established() {
            if p.accepted.get(&p.adj_in, prefix).is_some() && !out.contains(&p.connection) {
                out.push(p.connection);
            }
        }
    }

    /// Every prefix accepted over `tunnel` (its liveness changed).
    pub fn accepted_over(&self, tunnel: TunnelId) -> Vec<IpNet> {
        self.established()
            .filter(|p| p.tunnel == tunnel)
            .flat_map(|p| p.accepted.iter(&p.adj_in).map(|(prefix, _)| prefix))
            .collect()
    }

    /// Every prefix accepted from an established session (repeated when
    /// several sessions have it).
    pub fn accepted_prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.established()
            .flat_map(|p| p.accepted.iter(&p.adj_in).map(|(prefix, _)| prefix))
    }

    pub(super) fn established(&self) -> impl Iterator<Item = &BgpPeer> {
        self.peers
            .iter()
            .filter(|p| p.session.state() == State::Established)
    }

    /// Every route accepted from an established session, session by
    /// session, in prefix order.
    pub fn learned(&self) -> impl Iterator<Item = (IpNet, Candidate)> + '_ {
        self.established().flat_map(|p| {
            sorted(p.accepted.iter(&p.adj_in))
                .into_iter()
                .map(|(prefix, attrs)| (prefix, candidate(p, attrs.clone())))
        })
    }

    /// What [`Speaker::learned`] would be with `plugin` as the import
    /// filter (a dry run: nothing is stored). The plugin is asked a chunk
    /// of routes at a time, as for UPDATEs.
    pub fn learned_with(&self, plugin: &mut Plugin) -> Result<Vec<(IpNet, Candidate)>, Fault> {
        let mut out = Vec::new();
        for p in self.established() {
            let present = sorted(p.adj_in.iter());
            for chunk in present.chunks(FILTER_CHUNK) {
                let routes: Vec<Route> = chunk
                    .iter()
                    .map(|(prefix, attrs)| wit_route::to_route(*prefix, attrs))
                    .collect();
                let verdicts = plugin.filter(Direction::Import, &p.filter_peer, &routes)?;
                for ((prefix, attrs), verdict) in chunk.iter().zip(verdicts.iter()) {
                    if self.guard.refuses(prefix, p.connection).is_some() {
                        continue;
                    }
                    if let Some(attrs) = import::apply_verdict(attrs, verdict) {
                        out.push((*prefix, candidate(p, attrs)));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every learned route of every session, accepted or not by the import
    /// filter, for `sitelink routes`: (prefix, connection, tunnel, attrs,
    /// accepted).
    pub fn received_routes(
        &self,
    ) -> Vec<(IpNet, ConnectionId, TunnelId, Arc<PathAttributes>, bool)> {
        self.peers
            .iter()
            .flat_map(|p| {
                p.adj_in.iter().map(|(prefix, attrs)| {
                    let accepted = p.accepted.get(&p.adj_in, &prefix);
                    (
                        prefix,
                        p.connection,
                        p.tunnel,
                        accepted.cloned().unwrap_or_else(|| attrs.clone()),
                        accepted.is_some(),
                    )
                })
            })
            .collect()
    }
}

/// Routes per filter call in a dry run.
const FILTER_CHUNK: usize = 1024;

/// A route of `p` as a candidate.
fn candidate(p: &BgpPeer, attrs: Arc<PathAttributes>) -> Candidate {
    Candidate {
        connection: p.connection,
        tunnel: Some(p.tunnel),
        attrs: Some(attrs),
    }
}

/// Routes in prefix order.
fn sorted<'a>(
    routes: impl Iterator<Item = (IpNet, &'a Arc<PathAttributes>)>,
) -> Vec<(IpNet, &'a Arc<PathAttributes>)> {
    let mut list: Vec<_> = routes.collect();
    list.sort_unstable_by_key(|(prefix, _)| *prefix);
    list
}
