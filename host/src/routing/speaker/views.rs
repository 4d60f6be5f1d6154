//! Read-only views of the routes the sessions learned: the candidates of a
//! prefix for the Loc-RIB (looked up one prefix at a time, so a change to
//! a few routes costs a few lookups), the prefixes a liveness change or a
//! swap touches, the dry run of an import filter (in chunks, through the
//! live path's `import::decide`), the received routes for `sitelink
//! routes`, and the sessions for `sitelink bgp`. Nothing here changes a
//! session or a RIB.

use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

use super::import::{self, ImportFilter};
use super::overlay::Overlay;
use super::{BgpPeer, SessionsWalk, Speaker, FILTER_CHUNK};
use crate::api;
use crate::bgp::fsm::State;
use crate::bgp::message::PathAttributes;
use crate::dataplane::fib::{ConnectionId, TunnelId};
use crate::policy::Plugin;
use crate::routing::table::Candidate;

/// The learned routes the Loc-RIB chooses from: the speaker's accepted
/// routes, or, for a dry run of an import filter, those under the overlay of
/// what the candidate would accept instead.
#[derive(Clone, Copy)]
pub struct Learned<'a> {
    speaker: &'a Speaker,
    overlay: Option<&'a Overlay>,
}

impl<'a> Learned<'a> {
    pub fn live(speaker: &'a Speaker) -> Learned<'a> {
        Learned {
            speaker,
            overlay: None,
        }
    }

    pub fn with(speaker: &'a Speaker, overlay: &'a Overlay) -> Learned<'a> {
        Learned {
            speaker,
            overlay: Some(overlay),
        }
    }

    fn accepted(&self, p: &'a BgpPeer, prefix: &IpNet) -> Option<&'a Arc<PathAttributes>> {
        if let Some(o) = self.overlay.and_then(|o| o.get(p.tunnel, prefix)) {
            return o.as_ref();
        }
        p.accepted.get(&p.adj_in, prefix)
    }

    /// Starts bringing the entries of `prefix` in the established
    /// sessions' Adj-RIBs-In (and their import filter's exceptions) into
    /// cache, for a [`Learned::routes_for`] soon.
    pub fn prefetch(&self, prefix: &IpNet) {
        for p in self.speaker.established() {
            p.adj_in.prefetch(prefix);
            p.accepted.prefetch(prefix);
        }
    }

    /// The routes for `prefix` accepted from established sessions, in
    /// session order: as candidates those of the tunnels `eligible` accepts
    /// (the others are left out), and the connection of every one of them
    /// to `connection` (they may send from the prefix). One lookup per
    /// session for both.
    pub fn routes_for(
        &self,
        prefix: &IpNet,
        eligible: impl Fn(TunnelId) -> bool,
        out: &mut Vec<Candidate<'a>>,
        mut connection: impl FnMut(ConnectionId),
    ) {
        for p in self.speaker.established() {
            if let Some(attrs) = self.accepted(p, prefix) {
                if eligible(p.tunnel) {
                    out.push(candidate(p, attrs));
                }
                connection(p.connection);
            }
        }
    }
}

/// A dry run of an import filter over every stored route, worked off in
/// chunks ([`Speaker::dry_run_step`]): the routes it would accept
/// differently from the filter in force. The sessions' Adj-RIBs-In are
/// walked a map at a time, so no step lists a million prefixes.
pub struct FilterDryRun {
    pub(super) sessions: SessionsWalk,
    /// The session the walk is at, and its prefixes the walk took and the
    /// plugin has not seen yet.
    pub(super) peer: usize,
    pub(super) todo: Vec<IpNet>,
    pub overlay: Overlay,
    /// Routes the plugin ran over.
    pub looked: usize,
    /// Each prefix decided for every session at once (`check.rs`).
    grouped: bool,
}

/// What a filter dry run is for, which decides how it keeps its overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunFor {
    /// A dry run: the selection over its overlay follows (keyed).
    Selection,
    /// A swap's check that only reports its verdicts (in order).
    Verdicts,
    /// A swap's check whose results the swap adopts (`adopt.rs`): in
    /// order, each prefix's entries side by side (`check.rs`). Only while
    /// the speaker tracks route changes ([`Speaker::track`]).
    Adoption,
}

impl FilterDryRun {
    /// Every route was looked at.
    pub fn is_done(&self) -> bool {
        self.sessions.is_done() && self.todo.is_empty()
    }

    /// How many sessions the walk is done with.
    #[cfg(test)]
    pub fn sessions_walked(&self) -> usize {
        self.sessions.walked().len()
    }
}

/// A route a session received, as `sitelink routes` lists it.
pub struct ReceivedRoute {
    pub prefix: IpNet,
    pub connection: ConnectionId,
    pub tunnel: TunnelId,
    /// After the import filter if accepted, else as received.
    pub attrs: Arc<PathAttributes>,
    pub accepted: bool,
    /// Not accepted because the filter plugin faulted.
    pub faulted: bool,
}

impl Speaker {
    /// A dry run over every route of the established sessions, which
    /// keeps the first `shown` changed routes in prefix order for its
    /// answer, its overlay kept as `purpose` needs (see [`Overlay`]).
    pub fn dry_run_start(&self, shown: usize, purpose: DryRunFor) -> FilterDryRun {
        let overlay = match purpose {
            DryRunFor::Selection => Overlay::keyed(shown),
            DryRunFor::Verdicts | DryRunFor::Adoption => Overlay::in_order(shown),
        };
        FilterDryRun {
            sessions: self.sessions_walk(),
            peer: 0,
            todo: Vec::new(),
            overlay,
            looked: 0,
            grouped: purpose == DryRunFor::Adoption && self.tracking,
        }
    }

    /// Runs `plugin` as the import filter over up to `max` routes of the
    /// dry run, a chunk per call, exactly as the live path would; a
    /// session that is down when its turn comes is skipped (one that went
    /// down and came back meanwhile is walked on over its new routes). Returns how many
    /// routes it looked at, or the plugin's fault.
    pub fn dry_run_step(
        &self,
        run: &mut FilterDryRun,
        plugin: &mut Plugin,
        max: usize,
    ) -> Result<usize, String> {
        if run.grouped {
            return self.check_step(run, plugin, max);
        }
        let mut done = 0;
        while done < max {
            if run.todo.is_empty() {
                match self.sessions_step(&mut run.sessions, FILTER_CHUNK, &mut run.todo) {
                    Some(id) => run.peer = id,
                    None => break,
                }
                continue;
            }
            let Some(p) = self.peers.get(run.peer).filter(|p| p.routes_in_force()) else {
                // Down since its prefixes were taken: the walk skips it.
                run.todo.clear();
                continue;
            };
            let take = run.todo.len().min(FILTER_CHUNK).min(max - done);
            let chunk = run.todo.split_off(run.todo.len() - take);
            done += chunk.len();
            run.looked += chunk.len();
            let mut filter = ImportFilter::Candidate(plugin);
            let (decided, _, failed) = import::decide(p, &chunk, &mut filter, &self.guard);
            if let Some(fault) = failed {
                return Err(self.named_fault(fault, p, &chunk, plugin));
            }
            for (prefix, _, kept) in decided {
                if kept.as_ref() != p.accepted.get(&p.adj_in, &prefix) {
                    let others = self.peers.iter().map(|q| q.tunnel);
                    run.overlay.insert(p.tunnel, prefix, kept, others);
                }
            }
        }
        Ok(done)
    }

    /// `fault`, naming the first route of `chunk` it happens on.
    pub(super) fn named_fault(
        &self,
        fault: String,
        p: &BgpPeer,
        chunk: &[IpNet],
        plugin: &mut Plugin,
    ) -> String {
        match self.first_failing(p, chunk, plugin) {
            Some(prefix) => format!(
                "{fault} (first on {prefix} received over tunnel {})",
                p.tunnel_name
            ),
            None => fault,
        }
    }

    /// The first route of `chunk` the plugin faults on, by halving the
    /// chunk (a few calls, not one per route); `None` if it faults only on
    /// routes together.
    fn first_failing(&self, p: &BgpPeer, chunk: &[IpNet], plugin: &mut Plugin) -> Option<IpNet> {
        let faults = |routes: &[IpNet], plugin: &mut Plugin| {
            let mut filter = ImportFilter::Candidate(plugin);
            import::decide(p, routes, &mut filter, &self.guard)
                .2
                .is_some()
        };
        let mut range = chunk;
        while range.len() > 1 {
            let (head, tail) = range.split_at(range.len() / 2);
            range = if faults(head, plugin) { head } else { tail };
        }
        let last = range.first()?;
        faults(range, plugin).then_some(*last)
    }

    /// The routes whose import verdict or attributes the dry run's
    /// `overlay` changes, for people: "PREFIX over TUNNEL: before ->
    /// after" (the first in prefix order, as many as the overlay kept:
    /// [`Speaker::dry_run_start`]), and how many in all.
    pub fn verdict_changes(&self, overlay: &Overlay) -> (Vec<String>, usize) {
        let shown = overlay
            .first()
            .filter_map(|(&(prefix, tunnel), kept)| {
                let p = self.peers.iter().find(|p| p.tunnel == tunnel)?;
                let received = p.adj_in.get(&prefix)?;
                let verdict = |kept: Option<&Arc<PathAttributes>>| match kept {
                    None => "reject".to_string(),
                    Some(a) if Arc::ptr_eq(a, received) || a == received => "accept".to_string(),
                    Some(a) => format!(
                        "modify ({})",
                        crate::policy::offline::diff(
                            &crate::routing::wit_route::to_route(prefix, received),
                            &crate::routing::wit_route::to_route(prefix, a)
                        )
                        .join("; ")
                    ),
                };
                let before = verdict(p.accepted.get(&p.adj_in, &prefix));
                let after = verdict(kept.as_ref());
                Some(format!(
                    "{prefix} over {}: {before} -> {after}",
                    p.tunnel_name
                ))
            })
            .collect();
        (shown, overlay.len())
    }

    /// The sessions whose routes count: established, or kept through a
    /// graceful restart.
    pub(super) fn established(&self) -> impl Iterator<Item = &BgpPeer> {
        self.peers.iter().filter(|p| p.routes_in_force())
    }

    /// The learned routes of every session, accepted or not by the import
    /// filter, for `sitelink routes`, in no order and lazily (a million
    /// routes are not copied to answer for a hundred): (prefix, connection,
    /// tunnel, attrs, accepted). With `prefixes`, only those prefixes are
    /// looked up, one by one.
    pub fn received_routes<'a>(
        &'a self,
        prefixes: Option<&'a [IpNet]>,
        connection: Option<ConnectionId>,
    ) -> impl Iterator<Item = ReceivedRoute> + 'a {
        let of_connection = move |p: &&BgpPeer| connection.is_none_or(|c| c == p.connection);
        self.peers.iter().filter(of_connection).flat_map(move |p| {
            let routes: Box<dyn Iterator<Item = (IpNet, &Arc<PathAttributes>)>> = match prefixes {
                Some(list) => Box::new(
                    list.iter()
                        .filter_map(move |n| p.adj_in.get(n).map(|a| (*n, a))),
                ),
                None => Box::new(p.adj_in.iter()),
            };
            routes.map(move |(prefix, attrs)| {
                let accepted = p.accepted.get(&p.adj_in, &prefix);
                ReceivedRoute {
                    prefix,
                    connection: p.connection,
                    tunnel: p.tunnel,
                    attrs: accepted.cloned().unwrap_or_else(|| attrs.clone()),
                    accepted: accepted.is_some(),
                    faulted: p.accepted.is_faulted(&prefix),
                }
            })
        })
    }

    /// Routes received per connection (the count `sitelink routes` reports
    /// when its list is cut).
    pub fn received_count(&self, connection: Option<ConnectionId>) -> usize {
        self.peers
            .iter()
            .filter(|p| connection.is_none_or(|c| c == p.connection))
            .map(|p| p.adj_in.len())
            .sum()
    }
}

/// A route of `p` as a candidate.
fn candidate<'a>(p: &BgpPeer, attrs: &'a Arc<PathAttributes>) -> Candidate<'a> {
    Candidate {
        connection: p.connection,
        tunnel: Some(p.tunnel),
        attrs: Some(attrs),
    }
}

impl Speaker {
    /// The `sitelink bgp` document.
    pub fn status(&self, now: Instant) -> api::BgpStatus {
        let peers = self
            .peers
            .iter()
            .filter(|p| !p.retired)
            .map(|p| {
                let stats = p.session.stats();
                let negotiated = p.session.negotiated();
                api::BgpPeer {
                    connection: p.connection_name.clone(),
                    tunnel: api::TunnelCidr(
                        p.tunnel_name
                            .parse()
                            .unwrap_or(IpNet::V4(ipnet::Ipv4Net::default())),
                    ),
                    local_address: p.addresses.0,
                    remote_address: p.addresses.1,
                    local_asn: p.settings.local_asn,
                    remote_asn: p.settings.remote_asn,
                    passive: p.settings.passive,
                    remote_router_id: negotiated.map(|n| n.remote_router_id),
                    hold_time_s: negotiated.map(|n| n.hold_time),
                    families: negotiated
                        .map(|n| n.families.iter().map(|f| f.to_string()).collect()),
                    extended_next_hop: negotiated.is_some_and(|n| n.extended_next_hop),
                    state: session_state(p.session.state()),
                    uptime_s: p
                        .session
                        .established_since()
                        .map(|s| now.saturating_duration_since(s).as_secs_f64()),
                    established_transitions: stats.established_transitions,
                    prefixes_received: p.adj_in.received() as u64,
                    prefixes_accepted: p.accepted.len(&p.adj_in) as u64,
                    prefixes_refused_for_fault: p.accepted.faulted_len() as u64,
                    fault_retry_in_s: p
                        .retry
                        .poll_timeout()
                        .map(|at| at.saturating_duration_since(now).as_secs_f64()),
                    prefixes_advertised: p.adj_out.len() as u64,
                    max_prefixes: p.settings.max_prefixes.limit,
                    updates_received: stats.updates_received,
                    updates_sent: stats.updates_sent,
                    messages_received: stats.messages_received,
                    messages_sent: stats.messages_sent,
                    notifications: stats
                        .notifications
                        .iter()
                        .map(|((sent, code, subcode), count)| api::NotificationCount {
                            direction: if *sent { "sent" } else { "received" }.into(),
                            code: *code,
                            subcode: *subcode,
                            count: *count,
                        })
                        .collect(),
                    last_error: p.last_error.clone().or_else(|| stats.last_error.clone()),
                    graceful_restart: p.settings.graceful_restart.map(|_| {
                        let r = p.restart.as_ref();
                        api::GracefulRestart {
                            peer_restart_time_s: p.peer_gr.as_ref().map(|g| g.restart_time),
                            phase: r.map(|r| r.phase()),
                            stale_routes: p.stale_count() as u64,
                            stale_sweep_in_s: r
                                .map(|r| r.deadline().saturating_duration_since(now).as_secs_f64()),
                        }
                    }),
                }
            })
            .collect();
        api::BgpStatus {
            asn: self.asn,
            router_id: self.router_id,
            peers,
        }
    }
}

/// The API's name of a session state.
fn session_state(state: State) -> api::SessionState {
    match state {
        State::Idle => api::SessionState::Idle,
        State::Connect => api::SessionState::Connect,
        State::Active => api::SessionState::Active,
        State::OpenSent => api::SessionState::OpenSent,
        State::OpenConfirm => api::SessionState::OpenConfirm,
        State::Established => api::SessionState::Established,
    }
}
