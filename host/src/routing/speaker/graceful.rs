//! The receiving side of BGP graceful restart (RFC 4724 section 4.2, the
//! "helper"): when the TCP connection of a session whose peer offered the
//! capability closes or fails (not on a NOTIFICATION, nor a hold timer
//! expiry, which sends one: RFC 8538 is not implemented), the peer's routes
//! of the families it listed stay, marked stale, still selected and
//! forwarding, for its Restart Time (at most `graceful_restart_max_s`).
//! When the session is back, families its new OPEN does not list with the
//! Forwarding State bit go at once; a route announced again is no longer
//! stale; an End-of-RIB sweeps what is still stale in its family; and the
//! stale-path timer (`graceful_restart_stale_s`) sweeps the rest if the
//! End-of-RIB never comes. A second drop before the End-of-RIB deletes
//! what is still stale and keeps the routes announced again since, with a
//! new restart timer.
//!
//! A peer that restarts without its old connection closing (a host that
//! rebooted sends no FIN) connects again while we are still established:
//! RFC 4724 section 4.2 has the old connection taken as closed. We do it
//! when the new connection is accepted, before its OPEN (the FSM holds one
//! connection), and only for a passive session whose peer offered graceful
//! restart; the listener accepts only the peer's inside address
//! (`Speaker::reconnected`, in `events`, which does the same for a passive
//! session's peer that connects again before it is established).
//!
//! Liveness beats this: a tunnel whose probe fails takes its routes out of
//! the FIB whatever the session does, and its stale routes are swept;
//! except that a BFD peer whose BFD shares fate with its control plane (C
//! bit clear) times out because of the restart itself, so a detection
//! timeout while its restart is under way is held by the gateway until the
//! restart ends (RFC 5882 section 4.3.2; `gateway::liveness`).
//! Timers are deadlines the speaker's `poll_timeout` reports; nothing here
//! reads a clock. The stale set is a copy of the Adj-RIB-In's maps, made
//! without hashing at the drop, or, if routes of the kept families are
//! still being swept then, once they have left, or at the peer's return
//! if it is back first: then with those routes, which leave the copy as
//! the sweep removes them (`Restart::overlap`). A sweep of every route
//! the peer has (it never came back, or sent nothing again) hands the
//! whole Adj-RIB-In to re-selection walks at once, as a session going
//! down does; a partial sweep (what is left at End-of-RIB, a family not
//! kept or not listed) moves its stale set to the peer's `sweeping`, whose
//! routes leave the Adj-RIB-In a map at a time (`Speaker::sweep_step`): no
//! step removes more than a 64th of a prefix length's routes (see
//! ARCHITECTURE.md).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tracing::info;

use super::reselect::{queue_gone, Reselect};
use super::{BgpPeer, Speaker};
use crate::api;
use crate::bgp::fsm::State;
use crate::bgp::fsm::{DownReason, Negotiated};
use crate::bgp::message::Family;
use crate::bgp::rib::{Prefixes, Walk};
use crate::topology::TunnelId;

/// A peer's restart in progress: its stale routes and when they go.
#[derive(Debug)]
pub(super) struct Restart {
    /// The families whose routes are kept.
    families: Vec<Family>,
    /// Routes not announced again since the drop.
    stale: Prefixes,
    /// When what is still stale is swept.
    deadline: Instant,
    /// The session is back (the stale-path timer runs, not the restart
    /// timer).
    back: bool,
    /// When the peer went away, for the log.
    since: Instant,
    /// `stale` is still to be copied from the Adj-RIB-In: the peer dropped
    /// while routes of the kept families were on their way out (still
    /// stale from its previous restart, or swept at an End-of-RIB), and a
    /// copy taken then would hold them too. The copy waits until they are
    /// gone ([`take_stale`] from `Speaker::sweep_step`), or is taken with
    /// them at the peer's return ([`copy_at_return`]); a restart that ends
    /// first sweeps every route without it.
    copy_pending: bool,
    /// `stale` also holds the kept families' routes still on their way out
    /// (copied at the peer's return, before their sweep ended): each
    /// leaves both as the sweep removes it, and a sweep of stale routes
    /// takes those families out of `BgpPeer::sweeping` first, so that no
    /// route is in two swept sets. Set only while some may be leaving (the
    /// sweep clears it once none is; counts are taken from the sets, so a
    /// flag left set costs only a look).
    overlap: bool,
}

impl Restart {
    /// Whether the routes of `family` are kept.
    fn keeps(&self, family: Family) -> bool {
        self.families.contains(&family)
    }

    /// Restarting while the peer is away, refreshing once it is back and
    /// its End-of-RIB is awaited.
    pub(super) fn phase(&self) -> api::RestartPhase {
        if self.back {
            api::RestartPhase::Refreshing
        } else {
            api::RestartPhase::Restarting
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// A reload lowered `graceful_restart_max_s` to `max_restart`: a peer
    /// still away keeps its routes no longer than that from its drop.
    pub(super) fn recap(&mut self, max_restart: Duration) {
        if !self.back {
            if let Some(cap) = self.since.checked_add(max_restart) {
                self.deadline = self.deadline.min(cap);
            }
        }
    }

    /// Whether routes of this peer still count while its session is not
    /// established.
    pub(super) fn keeps_routes(&self) -> bool {
        self.copy_pending || !self.stale.is_empty()
    }
}

impl BgpPeer {
    /// How many of its routes a graceful restart keeps as stale (while
    /// the copy waits, those of the kept families not on their way out:
    /// what the copy will hold; with an overlap, the copy but those).
    pub(super) fn stale_count(&self) -> usize {
        match &self.restart {
            None => 0,
            Some(r) if !r.copy_pending => r.stale.len().saturating_sub(overlapping(self, r)),
            Some(_) => {
                let ((v4, v6), (keep4, keep6)) = (self.staying(), kept_families(self));
                usize::from(keep4) * v4 + usize::from(keep6) * v6
            }
        }
    }

    /// Its Adj-RIB-In's IPv4 and IPv6 routes not on their way out (each
    /// swept set holds routes of the Adj-RIB-In, and no two share one).
    fn staying(&self) -> (usize, usize) {
        let (v4, v6) = self.adj_in.counts();
        self.sweeping.iter().fold((v4, v6), |(v4, v6), set| {
            let (l4, l6) = set.counts();
            debug_assert!(l4 <= v4 && l6 <= v6, "a swept route outside the Adj-RIB-In");
            (v4.saturating_sub(l4), v6.saturating_sub(l6))
        })
    }
}

/// Whether a new connection from `p`'s peer means it restarted: its
/// session is established and it offered graceful restart, which we do.
pub(super) fn restarted(p: &BgpPeer) -> bool {
    p.session.state() == State::Established
        && p.settings.graceful_restart.is_some()
        && p.peer_gr.as_ref().is_some_and(|g| !g.families.is_empty())
}

impl Speaker {
    /// Whether the peer over `tunnel` is in a graceful restart (its routes
    /// kept as stale).
    pub fn restarting_over(&self, tunnel: TunnelId) -> bool {
        self.peers
            .iter()
            .any(|p| p.tunnel == tunnel && p.restart.is_some())
    }

    /// Whether peer `id`, away in a graceful restart, failed a try to come
    /// back: its new session went down before it was established, for a
    /// reason of the peer's or the wire's (not a stop of ours). That is no
    /// new drop: the restart goes on, its routes stale until its deadline
    /// (RFC 4724 section 4.2), as if the peer had not tried.
    pub(super) fn failed_return(&self, id: usize, reason: &DownReason) -> bool {
        *reason != DownReason::Stopped
            && self
                .peers
                .get(id)
                .and_then(|p| p.restart.as_ref())
                .is_some_and(|r| !r.back)
    }

    /// The session of peer `id` went down for `reason`: true when its
    /// routes are kept as stale (graceful restart applies), false when the
    /// caller must clear them as before.
    pub(super) fn keep_on_down(&mut self, id: usize, reason: &DownReason, now: Instant) -> bool {
        let Some(p) = self.peers.get_mut(id) else {
            return false;
        };
        let (Some(limits), Some(gr)) = (p.settings.graceful_restart, p.peer_gr.clone()) else {
            return false;
        };
        if *reason != DownReason::ConnectionClosed
            || p.retired
            || gr.restart_time == 0
            || gr.families.is_empty()
        {
            return false;
        }
        // Consecutive restarts (RFC 4724 section 4.2): a route still stale
        // from the previous one MUST be deleted, and so must one on its way
        // out: they join the sweep, and the stale set is copied once those
        // of the kept families have left (at once if none is leaving). A
        // previous restart's copy no longer waits: the session was
        // established since, which settled it.
        debug_assert!(!p.restart.as_ref().is_some_and(|r| r.copy_pending));
        let previous = match p.restart.take() {
            Some(mut old) => sweep_stale(p, &mut old, &mut self.reselect, |_| true),
            None => 0,
        };
        let families: Vec<Family> = gr.families.iter().map(|(f, _)| *f).collect();
        let wait = Duration::from_secs(u64::from(gr.restart_time)).min(limits.max_restart);
        p.restart = Some(Restart {
            families,
            stale: Prefixes::default(),
            deadline: now.checked_add(wait).unwrap_or(now),
            back: false,
            since: now,
            copy_pending: true,
            overlap: false,
        });
        let kept = p.stale_count();
        let (v4, v6) = p.staying();
        let gone = v4 + v6 - kept + previous;
        // Routes of families it did not list go now, a map at a time (those
        // already leaving taken out of their sets, so that none is in two).
        let (keep4, keep6) = kept_families(p);
        for set in &mut p.sweeping {
            for (keeps, v6) in [(keep4, false), (keep6, true)] {
                if !keeps {
                    set.take_family(v6);
                }
            }
        }
        let unlisted = p.adj_in.prefixes(!keep4, !keep6);
        if !unlisted.is_empty() {
            // First: they are no longer in force (RFC 4724 section 4.2).
            p.sweeping.insert(0, unlisted);
        }
        if copy_ready(p) {
            take_stale(p);
        }
        info!(tunnel = %p.tunnel_name, connection = %p.connection_name,
            restart_time_s = gr.restart_time, kept, swept = gone,
            "BGP peer restarting (graceful restart): {kept} routes kept as stale for {}s",
            wait.as_secs());
        self.events.push((
            p.tunnel,
            "restarting".into(),
            format!(
                "graceful restart: {kept} routes kept as stale for {}s",
                wait.as_secs()
            ),
        ));
        p.adj_out.clear();
        p.export_job = None;
        true
    }

    /// The session of peer `id` is established with `n`: a restart in
    /// progress moves to waiting for End-of-RIB, after sweeping the families
    /// the new OPEN does not list with the Forwarding State bit.
    pub(super) fn gr_established(&mut self, id: usize, n: &Negotiated, now: Instant) {
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        p.peer_gr = n.graceful_restart.clone();
        let Some(families) = p.restart.as_ref().map(|r| r.families.clone()) else {
            return;
        };
        let keep: Vec<Family> = families
            .into_iter()
            .filter(|f| {
                n.families.contains(f)
                    && n.graceful_restart
                        .as_ref()
                        .is_some_and(|gr| gr.forwarding_kept(*f))
            })
            .collect();
        if keep.is_empty() && p.restart.as_ref().is_some_and(|r| r.copy_pending) {
            // Nothing kept: every route goes, with no copy to wait for.
            self.gr_end(
                id,
                "BGP peer back after a graceful restart, keeping no family",
            );
            return;
        }
        copy_at_return(p);
        let Some(mut r) = p.restart.take() else {
            return;
        };
        let stale_for = p
            .settings
            .graceful_restart
            .map_or(Duration::ZERO, |l| l.stale);
        let gone = sweep_stale(p, &mut r, &mut self.reselect, |f| !keep.contains(&f));
        r.families = keep;
        r.back = true;
        r.deadline = now.checked_add(stale_for).unwrap_or(now);
        // Those still leaving are not counted (as in `stale_count`).
        let stale = r.stale.len().saturating_sub(overlapping(p, &r));
        info!(tunnel = %p.tunnel_name, connection = %p.connection_name,
            away_s = now.saturating_duration_since(r.since).as_secs_f64(),
            stale, swept = gone,
            "BGP peer back after a graceful restart: {stale} stale routes wait for End-of-RIB \
             (at most {}s), {gone} swept (family not kept by the peer)",
            stale_for.as_secs());
        if r.keeps_routes() {
            p.restart = Some(r);
        }
    }

    /// An UPDATE of peer `id` was applied: `changed` are the prefixes it
    /// touched (announced again or withdrawn: no longer stale), and
    /// `end_of_rib` its family if it was an End-of-RIB marker.
    pub(super) fn gr_update(&mut self, id: usize, changed: &[IpNet], end_of_rib: Option<Family>) {
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        // Announced again (or withdrawn): not swept.
        for set in &mut p.sweeping {
            for n in changed {
                set.remove(n);
            }
        }
        // The copy was taken when the session was established.
        debug_assert!(!p.restart.as_ref().is_some_and(|r| r.copy_pending));
        let Some(mut r) = p.restart.take() else {
            return;
        };
        for n in changed {
            r.stale.remove(n);
        }
        if let Some(family) = end_of_rib.filter(|_| r.back) {
            let gone = sweep_stale(p, &mut r, &mut self.reselect, |f| f == family);
            r.families.retain(|f| *f != family);
            info!(tunnel = %p.tunnel_name, connection = %p.connection_name, %family,
                swept = gone, "End-of-RIB received: swept {gone} stale routes of {family}");
        }
        if r.keeps_routes() {
            p.restart = Some(r);
        } else {
            let leaving = p.leaving();
            let detail = match leaving {
                0 => "no stale routes left".to_string(),
                n => format!("no stale routes left; {n} swept leaving the table"),
            };
            info!(tunnel = %p.tunnel_name, connection = %p.connection_name,
                "graceful restart done: {detail}");
            self.events.push((p.tunnel, "refreshed".into(), detail));
        }
    }

    /// Ends the restart of peer `id` now, sweeping its stale routes; true
    /// if any went. `why` is for the log.
    pub(super) fn gr_end(&mut self, id: usize, why: &str) -> bool {
        let Some(p) = self.peers.get_mut(id) else {
            return false;
        };
        // While the copy waits, the routes staying are what it would hold.
        let stale = p.stale_count();
        let Some(mut r) = p.restart.take() else {
            return false;
        };
        let gone = match r.copy_pending {
            // Every route it has goes: the copy is not needed.
            true => {
                sweep_all(p, &mut self.reselect);
                stale
            }
            false => sweep_stale(p, &mut r, &mut self.reselect, |_| true),
        };
        info!(tunnel = %p.tunnel_name, connection = %p.connection_name, swept = gone,
            "{why}: swept {gone} stale routes");
        self.events.push((
            p.tunnel,
            "stale swept".into(),
            format!("{why}: {gone} stale routes swept"),
        ));
        gone > 0
    }

    /// The earliest restart or stale-path deadline.
    pub(super) fn gr_poll_timeout(&self) -> Option<Instant> {
        self.peers
            .iter()
            .filter_map(|p| p.restart.as_ref().map(Restart::deadline))
            .min()
    }

    /// Sweeps the restarts whose deadline is due; true if routes went.
    pub(super) fn gr_timeouts(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for id in 0..self.peers.len() {
            let why = match self.peers.get(id).and_then(|p| p.restart.as_ref()) {
                Some(r) if r.deadline <= now && r.back => {
                    "stale-path timer expired before End-of-RIB"
                }
                Some(r) if r.deadline <= now => "peer did not come back within its restart time",
                _ => continue,
            };
            changed |= self.gr_end(id, why);
        }
        changed
    }
}

/// Takes the stale routes of `r` whose family passes `gone` out of the
/// stale set; returns how many (not those already leaving). When they are
/// every route `p` has (with those already on their way out), its whole
/// Adj-RIB-In goes to `reselect` to be walked, as a session's that went
/// down; else they join `p.sweeping`, to leave a map at a time. No step
/// lists or removes a million prefixes.
fn sweep_stale(
    p: &mut BgpPeer,
    r: &mut Restart,
    reselect: &mut VecDeque<(Reselect, Walk)>,
    gone: impl Fn(Family) -> bool,
) -> usize {
    let (v4, v6) = r.stale.counts();
    let every_family =
        (v4 == 0 || gone(Family::IPV4_UNICAST)) && (v6 == 0 || gone(Family::IPV6_UNICAST));
    // Counted once.
    let overlap = overlapping(p, r);
    if every_family && r.stale.len() + p.leaving() - overlap == p.adj_in.len() {
        let n = r.stale.len().saturating_sub(overlap);
        r.stale = Prefixes::default();
        sweep_all(p, reselect);
        return n;
    }
    let out = match (gone(Family::IPV4_UNICAST), gone(Family::IPV6_UNICAST)) {
        (true, true) => std::mem::take(&mut r.stale),
        (true, false) => r.stale.take_family(false),
        (false, true) => r.stale.take_family(true),
        (false, false) => Prefixes::default(),
    };
    // With an overlap, those of the families going that were leaving
    // already are in `out` too: they leave with it (and were counted).
    let mut already = 0;
    if r.overlap {
        for set in &mut p.sweeping {
            for (family, v6) in [(Family::IPV4_UNICAST, false), (Family::IPV6_UNICAST, true)] {
                if gone(family) && r.keeps(family) {
                    already += set.take_family(v6).len();
                }
            }
        }
        p.sweeping.retain(|set| !set.is_empty());
    }
    let n = out.len();
    if n > 0 {
        p.sweeping.push(out);
    }
    n - already.min(n)
}

/// Every route of `p` goes, its whole Adj-RIB-In handed to `reselect` to
/// be walked, as a session's that went down.
fn sweep_all(p: &mut BgpPeer, reselect: &mut VecDeque<(Reselect, Walk)>) {
    p.forget_import();
    queue_gone(reselect, p.adj_in.take_routes());
}

/// Copies `p`'s stale set from its Adj-RIB-In if the copy waits (see
/// `Restart::copy_pending`): for the peer back before the sweep ended. The
/// routes still on their way out are copied too (`Restart::overlap`) and
/// go on leaving a map at a time: no step sweeps the rest.
fn copy_at_return(p: &mut BgpPeer) {
    if !p.restart.as_ref().is_some_and(|r| r.copy_pending) {
        return;
    }
    let overlap = kept_leaving(p) > 0;
    let (v4, v6) = kept_families(p);
    let stale = p.adj_in.prefixes(v4, v6);
    if let Some(r) = p.restart.as_mut() {
        r.stale = stale;
        r.copy_pending = false;
        r.overlap = overlap;
    }
}

/// Which families `p`'s restart keeps (IPv4, IPv6); none without one.
fn kept_families(p: &BgpPeer) -> (bool, bool) {
    p.restart.as_ref().map_or((false, false), |r| {
        (r.keeps(Family::IPV4_UNICAST), r.keeps(Family::IPV6_UNICAST))
    })
}

/// Whether `p`'s stale set waits and can be copied now: no route of the
/// families it keeps is on its way out.
fn copy_ready(p: &BgpPeer) -> bool {
    p.restart.as_ref().is_some_and(|r| r.copy_pending) && kept_leaving(p) == 0
}

/// How many routes of the families `p`'s restart keeps are on their way
/// out.
fn kept_leaving(p: &BgpPeer) -> usize {
    p.restart.as_ref().map_or(0, |r| leaving_of(p, r))
}

/// How many routes of `r`'s stale set are also on their way out (with an
/// overlap: those of the families it keeps).
fn overlapping(p: &BgpPeer, r: &Restart) -> usize {
    match r.overlap {
        true => leaving_of(p, r),
        false => 0,
    }
}

/// How many of `p`'s routes on their way out are of a family `r` keeps.
fn leaving_of(p: &BgpPeer, r: &Restart) -> usize {
    let (keep4, keep6) = (r.keeps(Family::IPV4_UNICAST), r.keeps(Family::IPV6_UNICAST));
    p.sweeping
        .iter()
        .map(|set| {
            let (v4, v6) = set.counts();
            usize::from(keep4) * v4 + usize::from(keep6) * v6
        })
        .sum()
}

/// Copies the stale set of `p`'s restart (the routes of the families it
/// keeps, none of which may be on its way out) from its Adj-RIB-In.
fn take_stale(p: &mut BgpPeer) {
    debug_assert!(copy_ready(p), "a stale route would be leaving too");
    let (v4, v6) = kept_families(p);
    let stale = p.adj_in.prefixes(v4, v6);
    if let Some(r) = p.restart.as_mut() {
        r.stale = stale;
        r.copy_pending = false;
    }
}

impl Speaker {
    /// Removes swept stale routes from the Adj-RIBs-In, a map at a time,
    /// at least `min` unless none are left (their accepted prefixes become
    /// dirty); how many. The work the turn's budget counts. A restart's
    /// stale set that waited for the sweep is copied when it ends.
    pub fn sweep_step(&mut self, min: usize) -> usize {
        let mut n = 0;
        for p in &mut self.peers {
            while n < min {
                match sweep_map(p, &mut self.dirty) {
                    0 => break,
                    got => n += got,
                }
            }
            if copy_ready(p) {
                take_stale(p);
            }
            if p.restart.as_ref().is_some_and(|r| r.overlap) && kept_leaving(p) == 0 {
                if let Some(r) = p.restart.as_mut() {
                    r.overlap = false;
                }
            }
        }
        n
    }
}

/// Removes the routes of one map of `p.sweeping` from its Adj-RIB-In;
/// how many prefixes the map held (0: nothing left to sweep).
fn sweep_map(p: &mut BgpPeer, dirty: &mut Vec<IpNet>) -> usize {
    let mut prefixes = Vec::new();
    while let Some(set) = p.sweeping.first_mut() {
        if set.pop_map(&mut prefixes) > 0 {
            break;
        }
        p.sweeping.remove(0);
    }
    for n in &prefixes {
        remove(p, n, dirty);
    }
    // Copied stale while leaving: they leave the stale set too.
    if let Some(r) = p.restart.as_mut().filter(|r| r.overlap) {
        for n in &prefixes {
            r.stale.remove(n);
        }
    }
    prefixes.len()
}

/// Removes one route of `p`; the prefix is dirty if it was accepted.
fn remove(p: &mut BgpPeer, n: &IpNet, dirty: &mut Vec<IpNet>) -> bool {
    let was = p.accepted.get(&p.adj_in, n).is_some();
    if !p.adj_in.remove(n) {
        return false;
    }
    p.accepted.forget(n);
    if was {
        dirty.push(*n);
    }
    true
}
