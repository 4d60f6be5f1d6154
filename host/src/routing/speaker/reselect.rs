//! Re-selection of whole tables, a chunk at a time: the routes of a
//! session that went down, or of the sessions over a tunnel whose
//! liveness changed, reach the route selection as prefixes made dirty a
//! map of the Adj-RIB-In at a time ([`AdjRibIn::walk`]),
//! so that no control-loop turn lists a million of them. Owns the queue of
//! such walks; must not select, filter or touch a session.

use super::Speaker;
use crate::bgp::rib::{AdjRibIn, Walk};
use crate::dataplane::fib::TunnelId;

/// A table whose prefixes the route selection looks at again.
pub(super) enum Reselect {
    /// The Adj-RIB-In of a session that went down (its routes are gone).
    Gone(AdjRibIn),
    /// A session's Adj-RIB-In as it is (its tunnel's liveness changed).
    Peer(usize),
}

impl Speaker {
    /// Every prefix learned over `tunnel` is to be selected again (its
    /// liveness changed: its routes count only while its probe is up),
    /// walked a chunk at a time ([`Speaker::reselect_step`]).
    pub fn reselect_over(&mut self, tunnel: TunnelId) {
        for (id, p) in self.peers.iter().enumerate() {
            if p.tunnel == tunnel && !p.adj_in.is_empty() {
                self.reselect
                    .push_back((Reselect::Peer(id), Walk::default()));
            }
        }
    }

    /// Prefixes still to be handed to the route selection by
    /// [`Speaker::reselect_step`] (counted as [`Speaker::filter_backlog`]
    /// counts a walk).
    pub fn reselect_backlog(&self) -> usize {
        self.reselect
            .iter()
            .map(|(table, walk)| {
                let len = match table {
                    Reselect::Gone(adj) => adj.len(),
                    Reselect::Peer(id) => self.peers.get(*id).map_or(0, |p| p.adj_in.len()),
                };
                walk.left(len)
            })
            .sum()
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
