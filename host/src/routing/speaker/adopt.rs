//! A checked filter swap's second half. Its dry run found, route by route,
//! what the candidate accepts differently from the filter in force (the
//! overlay); once the candidate is installed, those results are recorded
//! as the sessions' accepted routes instead of every stored route going
//! through the plugin again. A swap to a filter that rewrites a million
//! routes over two sessions ran two million routes through the plugin
//! twice; now once.
//!
//! That holds for a route only if nothing changed it after the dry run
//! looked at it, so each session's `Accepted` lists what changed from the
//! start of the dry run to the end of the adoption ([`Accepted::track`]):
//! - a route listed there is filtered again by the installed filter (the
//!   live queue), and its overlay entry is skipped;
//! - a session whose every route may have changed (it went down, or more
//!   changed than the list holds) has all its routes filtered again;
//! - a route the plugin faulted on before is filtered again, so that its
//!   fault is not kept when the candidate rejects it too;
//! - a session the check did not walk (out of force then, or added by a
//!   reload) has all its routes filtered again.
//!
//! The routes queued for the filter go on while the results are recorded
//! (the adoption takes half of a step's budget when any wait). Every route
//! going through the slot again (a forced swap, a quarantine, a reload)
//! abandons the adoption: what it has not recorded is another filter's.
//!
//! One swap tracks at a time; a swap checked while another tracks filters
//! every route again, as before.
//!
//! Owns: the overlay being adopted and when tracking starts and ends.
//! Must not: call a plugin (what is filtered again goes through the live
//! queue, [`Speaker::filter_queued`]).

use std::time::Instant;

use ipnet::IpNet;
use tracing::info;

use super::accepted::{Since, TRACKED_MAX};
use super::overlay::{Entry, Overlay};
use super::views::FilterDryRun;
use super::Speaker;
use crate::bgp::rib::Walk;
use crate::id_map::PREFETCH_AHEAD;
use crate::net_map::NetMap;
use crate::policy::FilterSlot;

/// An overlay (in order) on its way into the sessions' accepted routes, a
/// run at a time.
pub(super) struct Adopt {
    overlay: Overlay,
    /// The run being recorded.
    run: std::vec::IntoIter<Entry>,
    /// By peer: whether all its routes were queued for the filter again
    /// (its overlay entries are skipped).
    whole: Vec<bool>,
}

impl Adopt {
    fn left(&self) -> usize {
        self.overlay.len() + self.run.len()
    }
}

impl Speaker {
    /// Starts listing route changes for a checked swap's dry run; false
    /// when another swap's are being listed (this one's adoption would
    /// not be safe: it filters every route again instead).
    pub fn track(&mut self) -> bool {
        if self.tracking {
            return false;
        }
        self.tracking = true;
        for p in &mut self.peers {
            p.accepted.track();
        }
        true
    }

    /// Whether a swap's check or adoption lists route changes.
    #[cfg(test)]
    pub fn is_tracking(&self) -> bool {
        self.tracking
    }

    /// Stops listing route changes (the dry run faulted or was not for a
    /// swap, or its results are all recorded).
    pub fn untrack(&mut self) {
        self.tracking = false;
        self.adopting = None;
        for p in &mut self.peers {
            p.accepted.untrack();
        }
    }

    /// The filter whose check is `run` is installed (the check began with
    /// [`Speaker::track`]): its results are recorded a run at a time, in
    /// the order found, as the live queue is worked
    /// ([`Speaker::filter_queued`]), and the routes that changed meanwhile
    /// go through it again, as do all the routes of a session the check
    /// did not walk (out of force then, or added since). The export filter
    /// runs again for every session, as after any swap.
    pub fn adopt(&mut self, run: FilterDryRun, now: Instant, filter: &mut FilterSlot) {
        if !self.tracking {
            self.refilter(now, filter);
            return;
        }
        let checked = run.sessions.walked();
        let mut whole = Vec::with_capacity(self.peers.len());
        // What this step may queue, over all sessions; a session past it
        // is filtered again whole, by a walk.
        let mut room = TRACKED_MAX;
        for (id, p) in self.peers.iter_mut().enumerate() {
            let listed = match p.accepted.since() {
                Since::Prefixes(changed) if checked.contains(&id) => Some(changed),
                _ => None,
            };
            let size = |changed: &NetMap<()>| changed.len() + p.accepted.faulted_len();
            match listed.filter(|changed| size(changed) <= room) {
                Some(changed) => {
                    room -= size(changed);
                    p.to_filter.extend(changed.keys());
                    p.to_filter.extend(p.accepted.faulted());
                    whole.push(false);
                }
                None => {
                    if !p.adj_in.is_empty() {
                        p.refilter = Some(Walk::default());
                    }
                    whole.push(true);
                }
            }
        }
        info!(
            results = run.overlay.len(),
            filtered_again = TRACKED_MAX - room,
            sessions_filtered_whole = whole.iter().filter(|w| **w).count(),
            "a checked filter swap records its check's results"
        );
        self.adopting = Some(Adopt {
            overlay: run.overlay,
            run: Vec::new().into_iter(),
            whole,
        });
        if self.adopt_backlog() == 0 {
            self.untrack();
        }
        self.export_all(now, filter);
    }

    /// Overlay entries not recorded yet.
    pub(super) fn adopt_backlog(&self) -> usize {
        self.adopting.as_ref().map_or(0, Adopt::left)
    }

    /// Every route goes through the slot in force again (a forced swap,
    /// a quarantine, a reload) while an adoption is under way: what it
    /// has not recorded yet is another filter's, so it is dropped (freed
    /// by the gateway a few runs per turn, [`Speaker::take_abandoned`]).
    pub(super) fn abandon_adoption(&mut self) {
        if let Some(adopt) = self.adopting.take() {
            self.abandoned.push(adopt.overlay);
            self.untrack();
        }
    }

    /// Overlays of abandoned adoptions, to be freed a step at a time.
    pub fn take_abandoned(&mut self) -> Vec<Overlay> {
        std::mem::take(&mut self.abandoned)
    }

    /// Records up to `max` overlay entries; returns how many were looked
    /// at. A prefix whose accepted route changes becomes dirty.
    pub(super) fn adopt_step(&mut self, max: usize) -> usize {
        let Some(adopt) = self.adopting.as_mut() else {
            return 0;
        };
        // A session whose every route may have changed since (it went
        // down and came back, or took a table meanwhile): all of its
        // routes go through the filter again.
        for (p, whole) in self.peers.iter_mut().zip(adopt.whole.iter_mut()) {
            if !*whole && matches!(p.accepted.since(), Since::All) {
                p.refilter = Some(Walk::default());
                *whole = true;
            }
        }
        let mut done = 0;
        let mut last: Option<IpNet> = None;
        loop {
            if adopt.run.len() == 0 {
                match adopt.overlay.take_run() {
                    Some(run) => adopt.run = run.into_iter(),
                    None => break,
                }
            }
            // A prefix's entries are side by side (`check.rs`): all of them
            // are recorded in one step, so that it is selected once, with
            // every session's new route, whichever of them changed.
            let next = adopt.run.as_slice().first().map(|(_, prefix, _)| *prefix);
            if done >= max && next != last {
                break;
            }
            let Some((tunnel, prefix, kept)) = adopt.run.next() else {
                continue;
            };
            done += 1;
            last = Some(prefix);
            // The entries a few ahead, on their way into cache.
            if let Some((tunnel, prefix, _)) = adopt.run.as_slice().get(PREFETCH_AHEAD) {
                if let Some(p) = self.peers.iter().find(|p| p.tunnel == *tunnel) {
                    p.adj_in.prefetch(prefix);
                    p.accepted.prefetch(prefix);
                }
            }
            // A session filtered again whole takes none of its entries.
            let Some(i) = self.peers.iter().position(|p| p.tunnel == tunnel) else {
                continue;
            };
            let Some(p) = self
                .peers
                .get_mut(i)
                .filter(|_| adopt.whole.get(i) == Some(&false))
            else {
                continue;
            };
            if !p.accepted.unchanged(&prefix) {
                continue;
            }
            let Some(received) = p.adj_in.get(&prefix) else {
                continue;
            };
            if p.accepted.adopt(prefix, received, kept) && self.dirty.last() != Some(&prefix) {
                self.dirty.push(prefix);
            }
        }
        if adopt.left() == 0 {
            self.untrack();
        }
        done
    }
}
