//! Re-selection of whole tables, a chunk at a time: the routes of a
//! session that went down, of the sessions over a tunnel whose liveness
//! changed, or of every session (a new route selection), reach the route
//! selection as prefixes made dirty a map of the Adj-RIB-In at a time
//! ([`AdjRibIn::walk`]), so that no control-loop turn lists a million of
//! them. Also the walk over every session that dry runs step through
//! ([`SessionsWalk`]). (The stale routes a graceful restart sweeps leave
//! the Adj-RIB-In beside these walks, in `graceful`.) Owns the queue of
//! such walks; must not select, filter or touch a session.

use std::collections::VecDeque;

use ipnet::IpNet;

use super::{BgpPeer, Speaker};
use crate::bgp::rib::{AdjRibIn, Walk};
use crate::dataplane::fib::TunnelId;

/// A walk over the Adj-RIB-In of every session whose routes are in force,
/// a map at a time ([`Speaker::sessions_step`]): a session that is out of
/// force when its turn comes is skipped, one that went down and came back
/// meanwhile is walked over its new routes.
#[derive(Debug, Default)]
pub struct SessionsWalk {
    /// Sessions still to walk, the current one last.
    todo: Vec<usize>,
    /// Sessions walked before the current one.
    walked: Vec<usize>,
    walk: Walk,
}

impl SessionsWalk {
    /// Every session was walked.
    pub fn is_done(&self) -> bool {
        self.todo.is_empty()
    }

    /// The sessions to walk after the current one.
    pub(super) fn later(&self) -> &[usize] {
        self.todo.split_last().map_or(&[], |(_, rest)| rest)
    }

    /// The sessions walked before the current one.
    pub(super) fn walked(&self) -> &[usize] {
        &self.walked
    }
}

/// A table whose prefixes the route selection looks at again.
pub(super) enum Reselect {
    /// The Adj-RIB-In of a session that went down (its routes are gone).
    Gone(AdjRibIn),
    /// A session's Adj-RIB-In as it is (its tunnel's liveness changed).
    Peer(usize),
}

/// Queues `table`, whose routes are gone, for re-selection ahead of the
/// walks over live tables: routes that must leave the FIB do not wait
/// behind a pass over a million that stay.
pub(super) fn queue_gone(queue: &mut VecDeque<(Reselect, Walk)>, table: AdjRibIn) {
    if table.is_empty() {
        return;
    }
    let at = queue
        .iter()
        .position(|(t, _)| matches!(t, Reselect::Peer(_)))
        .unwrap_or(queue.len());
    queue.insert(at, (Reselect::Gone(table), Walk::default()));
}

impl Speaker {
    /// Every learned prefix is to be selected again (the route selection
    /// changed), walked a chunk at a time ([`Speaker::reselect_step`]).
    pub fn reselect_all(&mut self) {
        for id in 0..self.peers.len() {
            if self.peers.get(id).is_some_and(|p| p.routes_in_force()) {
                self.reselect_peer(id);
            }
        }
    }

    /// Session `id`'s table is walked for re-selection from its start: a
    /// walk of it already queued is dropped (the new one covers it).
    fn reselect_peer(&mut self, id: usize) {
        if self.peers.get(id).is_some_and(|p| !p.adj_in.is_empty()) {
            self.reselect
                .retain(|(t, _)| !matches!(t, Reselect::Peer(p) if *p == id));
            self.reselect
                .push_back((Reselect::Peer(id), Walk::default()));
        }
    }

    /// A walk over every session whose routes are in force, in session
    /// order.
    pub fn sessions_walk(&self) -> SessionsWalk {
        SessionsWalk {
            todo: (0..self.peers.len())
                .rev()
                .filter(|id| self.peers.get(*id).is_some_and(|p| p.routes_in_force()))
                .collect(),
            ..SessionsWalk::default()
        }
    }

    /// Appends to `out` the prefixes of the next maps of the session `w`
    /// is at, at least `min` unless its table runs out: that session's id,
    /// or `None` once every session was walked.
    pub fn sessions_step(
        &self,
        w: &mut SessionsWalk,
        min: usize,
        out: &mut Vec<IpNet>,
    ) -> Option<usize> {
        loop {
            let id = *w.todo.last()?;
            let p = self.peers.get(id).filter(|p| p.routes_in_force());
            match p {
                Some(p) if !w.walk.is_over() => {
                    p.adj_in.walk(&mut w.walk, min, out);
                    return Some(id);
                }
                _ => {
                    w.todo.pop();
                    // A session skipped (out of force) hides nothing from
                    // the later ones.
                    if w.walk.is_over() {
                        w.walked.push(id);
                    }
                    w.walk = Walk::default();
                }
            }
        }
    }

    /// [`Speaker::sessions_step`], keeping in `out` only the prefixes seen
    /// first: not held by a session walked before (and still in force),
    /// nor named by `skip`. Returns how many it walked (`None`: every
    /// session was walked), so that the caller can bound a step whose
    /// prefixes were all seen before.
    pub fn sessions_step_first(
        &self,
        w: &mut SessionsWalk,
        min: usize,
        skip: impl Fn(&IpNet) -> bool,
        out: &mut Vec<IpNet>,
    ) -> Option<usize> {
        let mut walked = Vec::new();
        self.sessions_step(w, min, &mut walked)?;
        let count = walked.len();
        out.extend(
            walked
                .into_iter()
                .filter(|p| !skip(p) && !self.walked_before(w, p, |_| true)),
        );
        Some(count)
    }

    /// Whether a session `w` walked before the current one, and still in
    /// force, has `prefix` (a dry run looks at each prefix once; a session
    /// that changed meanwhile may hide a prefix or show it twice).
    /// `also` narrows which of those sessions count (a checked swap's
    /// walk: only one whose route for the prefix did not change since).
    pub(super) fn walked_before(
        &self,
        w: &SessionsWalk,
        prefix: &IpNet,
        also: impl Fn(&BgpPeer) -> bool,
    ) -> bool {
        w.walked.iter().any(|id| {
            self.peers
                .get(*id)
                .is_some_and(|p| p.routes_in_force() && also(p) && p.adj_in.get(prefix).is_some())
        })
    }

    /// Every prefix learned over `tunnel` is to be selected again (its
    /// liveness changed: its routes count only while its probe is up),
    /// walked a chunk at a time ([`Speaker::reselect_step`]).
    pub fn reselect_over(&mut self, tunnel: TunnelId) {
        for id in 0..self.peers.len() {
            if self.peers.get(id).is_some_and(|p| p.tunnel == tunnel) {
                self.reselect_peer(id);
            }
        }
    }

    /// Prefixes still to be handed to the route selection by
    /// [`Speaker::reselect_step`] (counted as [`Speaker::filter_backlog`]
    /// counts a walk).
    pub fn reselect_backlog(&self) -> usize {
        let walks: usize = self
            .reselect
            .iter()
            .map(|(table, walk)| {
                let len = match table {
                    Reselect::Gone(adj) => adj.len(),
                    Reselect::Peer(id) => self.peers.get(*id).map_or(0, |p| p.adj_in.len()),
                };
                walk.left(len)
            })
            .sum();
        let sweeps: usize = self.peers.iter().map(|p| p.leaving()).sum();
        walks + sweeps
    }

    /// Makes the next prefixes of the tables queued for re-selection dirty
    /// (the routes of a session that went down, those over a tunnel whose
    /// probe changed), at least `min` unless none are left, a map of an
    /// Adj-RIB-In at a time; how many. A walked old table is dropped.
    pub fn reselect_step(&mut self, min: usize) -> usize {
        let mut n = 0;
        while n < min {
            let Some((table, walk)) = self.reselect.front_mut() else {
                break;
            };
            let adj = match table {
                Reselect::Gone(adj) => Some(&*adj),
                Reselect::Peer(id) => self.peers.get(*id).map(|p| &p.adj_in),
            };
            let got = adj.map_or(0, |adj| adj.walk(walk, min - n, &mut self.dirty));
            n += got;
            if adj.is_none() || walk.is_over() {
                self.reselect.pop_front();
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::message::{PathAttributes, Update};
    use crate::config::{MaxPrefixAction, MaxPrefixes};

    fn table(prefix: &str) -> AdjRibIn {
        let mut adj = AdjRibIn::default();
        let update = Update {
            attributes: Some(PathAttributes::default()),
            nlri: vec![prefix.parse().unwrap()],
            ..Update::default()
        };
        let limits = MaxPrefixes {
            limit: 10,
            warning: 8,
            action: MaxPrefixAction::Drop,
        };
        adj.apply(&update, &limits);
        adj
    }

    /// Routes that must leave the FIB go before passes over live tables,
    /// in the order they went; an empty table is not queued.
    #[test]
    fn gone_tables_are_walked_before_live_ones() {
        let mut queue = VecDeque::new();
        queue.push_back((Reselect::Peer(0), Walk::default()));
        queue.push_back((Reselect::Peer(1), Walk::default()));
        queue_gone(&mut queue, table("10.1.0.0/24"));
        queue_gone(&mut queue, table("10.2.0.0/24"));
        queue_gone(&mut queue, AdjRibIn::default());
        let order: Vec<String> = queue
            .iter()
            .map(|(t, _)| match t {
                Reselect::Gone(adj) => adj.iter().map(|(p, _)| p.to_string()).collect(),
                Reselect::Peer(id) => format!("peer {id}"),
            })
            .collect();
        assert_eq!(order, ["10.1.0.0/24", "10.2.0.0/24", "peer 0", "peer 1"]);
    }
}
