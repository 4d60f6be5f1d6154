//! Stored routes going through the import filter again: a swap's or a
//! reload's refilter (every stored route, walked a map at a time), the
//! queue of prefixes waiting for the filter, the retries of routes it
//! faulted on (`retry.rs`), and how a step shares its budget between them
//! and a checked swap's adoption (`adopt.rs`).
//! Until the filter has seen a route, what it accepted before stays in
//! force.
//!
//! Owns: the queue's order and budget. Must not: touch a transport or
//! the RIBs beyond the peers' import results.

use std::time::Instant;

use ipnet::IpNet;
use tracing::info;

use super::{import, Speaker, FILTER_CHUNK};
use crate::bgp::fsm::State;
use crate::bgp::rib::Walk;
use crate::policy::FilterSlot;

impl Speaker {
    /// Queues every stored route for the import filter again and re-runs
    /// the export filter for every session (a filter plugin was swapped or
    /// removed): no session is reset. Until the filter has seen a route,
    /// what it accepted before stays in force.
    pub fn refilter(&mut self, now: Instant, filter: &mut FilterSlot) {
        self.abandon_adoption();
        for p in &mut self.peers {
            p.refilter = Some(Walk::default());
        }
        self.export_all(now, filter);
    }

    /// Re-runs the export filter for every established session.
    pub(super) fn export_all(&mut self, now: Instant, filter: &mut FilterSlot) {
        for id in 0..self.peers.len() {
            if self
                .peers
                .get(id)
                .is_some_and(|p| p.session.state() == State::Established)
            {
                let outputs = self.export(id, now, filter, false);
                self.drive(id, outputs, now, filter);
            }
        }
    }

    /// Routes waiting for the import filter (those a refilter has not
    /// walked yet as [`Walk::left`] counts them), and a checked swap's
    /// results waiting to be recorded.
    pub fn filter_backlog(&self) -> usize {
        self.adopt_backlog()
            + self
                .peers
                .iter()
                .map(|p| {
                    let walking = p
                        .refilter
                        .as_ref()
                        .map_or(0, |walk| walk.left(p.adj_in.len()));
                    p.to_filter.len() + walking + p.retry.backlog()
                })
                .sum::<usize>()
    }

    /// Runs the import filter over queued routes, up to `max` of them, in
    /// chunks of at most [`FILTER_CHUNK`] routes per filter call, the peers
    /// taking turns, after recording a checked swap's results if any wait
    /// (`adopt.rs`); the prefixes whose accepted route changed become dirty.
    /// Returns how many routes were filtered or recorded. Stops after a
    /// session's calls once `out_of_time` says the turn's time is spent: a
    /// call may take up to the plugin's deadline, and a turn must not make
    /// one per session regardless.
    pub fn filter_queued(
        &mut self,
        max: usize,
        now: Instant,
        filter: &mut FilterSlot,
        out_of_time: &dyn Fn() -> bool,
    ) -> usize {
        // Routes that changed during a swap's check go through the new
        // filter while its results are recorded, not after them all.
        let queued = self
            .peers
            .iter()
            .any(|p| !p.to_filter.is_empty() || p.refilter.is_some() || p.retry.backlog() > 0);
        let share = if queued { max.div_ceil(2) } else { max };
        let mut done = self.adopt_step(share);
        let n = self.peers.len();
        for step in 0..n {
            let id = (self.next_to_filter + step) % n;
            let Some(p) = self.peers.get_mut(id) else {
                continue;
            };
            while done < max && p.retry.backlog() > 0 {
                // A retry's call counts as a whole one against the budget,
                // however few routes it holds: a call that faults may take
                // its whole deadline.
                let mut chunk = p.retry.next_call(max - done);
                let taken = chunk.len();
                // Only the routes still refused for a fault (one may have
                // been withdrawn, or sent again and accepted, meanwhile).
                chunk.retain(|prefix| p.accepted.is_faulted(prefix));
                done += match chunk.is_empty() {
                    true => taken,
                    false => taken.max(FILTER_CHUNK),
                };
                let retry = &mut import::ImportFilter::Retry(filter);
                import::import_filter(p, &chunk, retry, &self.guard, &mut self.dirty, now);
                // A call that faults fails closed: all its routes stay
                // refused; one that does not gets them all through.
                let still = chunk
                    .iter()
                    .filter(|prefix| p.accepted.is_faulted(prefix))
                    .count();
                let (again, resolved) = (still > 0, chunk.len() - still);
                p.retry
                    .call_done(now, again, resolved, p.accepted.faulted_len());
            }
            while done < max {
                if p.to_filter.is_empty() {
                    if !p.refill() {
                        break;
                    }
                    continue;
                }
                let take = p.to_filter.len().min(FILTER_CHUNK).min(max - done);
                let chunk: Vec<IpNet> = p.to_filter.drain(..take).collect();
                let slot = &mut import::ImportFilter::Slot(filter);
                import::import_filter(p, &chunk, slot, &self.guard, &mut self.dirty, now);
                p.retry.arm(now, p.accepted.faulted_len());
                done += take;
            }
            if done >= max || (done > 0 && out_of_time()) {
                self.next_to_filter = (id + 1) % n;
                break;
            }
        }
        done
    }

    /// Starts each session's retry that is due: the routes the filter
    /// faulted on are queued for it again (`retry.rs`).
    pub(super) fn retries_due(&mut self, now: Instant) {
        for p in &mut self.peers {
            if let Some((routes, round)) = p.retry.start_if_due(now, p.accepted.faulted()) {
                info!(tunnel = %p.tunnel_name, routes, round,
                    "filtering again the routes the bgp-filter plugin faulted on");
            }
        }
    }
}
