//! The walk of a checked filter swap whose results the swap adopts
//! (`adopt.rs`): the dry run's walk, with each prefix decided at once for
//! every session that holds it, so that the overlay holds a prefix's
//! entries side by side and the adoption hands it to the selection once,
//! not once per session (at a million prefixes over two sessions, a
//! million selections fewer).
//!
//! Each session's Adj-RIB-In is walked in turn, as the dry run does; a
//! prefix is decided when the walk first meets it, for the walk's session
//! and every later one holding it then (one filter call per session for
//! the chunk). A later session's walk skips a prefix that an earlier
//! session holds unchanged since the check began (`Accepted::unchanged`):
//! that session's walk met it and decided it for every session holding it
//! then, and a session that got it afterwards changed it since, so the
//! adoption filters it again. This needs the tracking, so only a tracked
//! check walks this way.
//!
//! Owns: the grouped step. Must not: change a session (it reads them).

use ipnet::IpNet;

use super::import::{self, ImportFilter};
use super::overlay::Kept;
use super::views::FilterDryRun;
use super::{Speaker, FILTER_CHUNK};
use crate::dataplane::fib::TunnelId;
use crate::net_map::FastMap;
use crate::policy::Plugin;

impl Speaker {
    /// [`Speaker::dry_run_step`] for a tracked check: up to about `max`
    /// routes (those decided for any session, and those skipped as
    /// decided before), and at most a chunk per session beyond.
    pub(super) fn check_step(
        &self,
        run: &mut FilterDryRun,
        plugin: &mut Plugin,
        max: usize,
    ) -> Result<usize, String> {
        let mut done = 0;
        while done < max {
            if run.todo.is_empty() {
                let mut walked = Vec::new();
                match self.sessions_step(&mut run.sessions, FILTER_CHUNK, &mut walked) {
                    Some(id) => run.peer = id,
                    None => break,
                }
                let before = walked.len();
                walked.retain(|prefix| !self.met_before(run, prefix));
                done += before - walked.len();
                run.todo = walked;
                continue;
            }
            let take = run.todo.len().min(FILTER_CHUNK).min(max - done);
            let chunk = run.todo.split_off(run.todo.len() - take);
            done += chunk.len();
            let sessions: Vec<usize> = std::iter::once(run.peer)
                .chain(run.sessions.later().iter().rev().copied())
                .collect();
            // Where each prefix of the chunk is, to put its entries side
            // by side whatever order the sessions answer in.
            let at: FastMap<IpNet, usize> =
                chunk.iter().enumerate().map(|(i, p)| (*p, i)).collect();
            let mut found: Vec<(usize, usize, TunnelId, Kept)> = Vec::new();
            for (order, id) in sessions.into_iter().enumerate() {
                let Some(p) = self.peers.get(id).filter(|p| p.routes_in_force()) else {
                    continue;
                };
                let mut filter = ImportFilter::Candidate(plugin);
                let (decided, _, failed) = import::decide(p, &chunk, &mut filter, &self.guard);
                if let Some(fault) = failed {
                    return Err(self.named_fault(fault, p, &chunk, plugin));
                }
                run.looked += decided.len();
                if order > 0 {
                    done += decided.len();
                }
                for (prefix, _, kept) in decided {
                    if kept.as_ref() == p.accepted.get(&p.adj_in, &prefix) {
                        continue;
                    }
                    if let Some(&i) = at.get(&prefix) {
                        found.push((i, order, p.tunnel, kept));
                    }
                }
            }
            found.sort_unstable_by_key(|&(i, order, ..)| (i, order));
            for (i, _, tunnel, kept) in found {
                if let Some(prefix) = chunk.get(i) {
                    run.overlay.insert(tunnel, *prefix, kept, []);
                }
            }
        }
        Ok(done)
    }

    /// Whether a session walked before the current one met `prefix` and
    /// decided it for every session then: it holds the prefix, unchanged
    /// since the check began.
    fn met_before(&self, run: &FilterDryRun, prefix: &IpNet) -> bool {
        self.walked_before(&run.sessions, prefix, |p| p.accepted.unchanged(prefix))
    }
}
