//! The core's admin part: the requests that need the control plane's state
//! (plugins, BGP sessions, routes), and the jobs that answer over several
//! turns: a swap in the bgp-filter or route-selection slot re-runs the
//! stored routes through the live path in the core's bounded chunks, and a
//! dry run does the same on scratch state (an overlay of what the candidate
//! would accept, the Loc-RIB's decision compared, not applied), so the two
//! report the same changes.

use std::time::Instant;

use ipnet::IpNet;
use tracing::info;

use super::{Action, AdminCommand, Gateway, RequestId};
use crate::api::{
    self, Changes as ApiChanges, PluginList, Refreshed, RemoveResult, Response,
    RouteChange as Listed, Settling, SwapResult,
};
use crate::policy::{Plugin, Slot, SlotStatus};
use crate::routing::decisions::{self, Namer};
use crate::routing::loc_rib::{Decision, Env, RouteChange, Selector, SELECTION_CHUNK};
use crate::routing::speaker::{DryRunFor, FilterDryRun, Learned, Overlay, SessionsWalk};
use crate::routing::view;

/// Route changes for an answer: the first few, and how many in all.
#[derive(Default)]
pub(super) struct Changes {
    shown: Vec<Listed>,
    total: usize,
    /// For an import filter: the routes whose verdict or attributes change
    /// (the first few, and how many in all).
    verdicts: Option<(Vec<String>, usize)>,
    /// For an import filter: the stored routes its check ran it over.
    checked: Option<usize>,
}

impl Changes {
    /// Counts a change, and lists it (`change` names it) while fewer than
    /// `limit` are.
    fn push(&mut self, limit: usize, change: impl FnOnce() -> Listed) {
        self.total += 1;
        if self.shown.len() < limit {
            self.shown.push(change());
        }
    }
}

/// What the answer to a swap or removal starts with.
pub(super) enum Head {
    Swap {
        slot: Slot,
        plugin: String,
        dry_run: bool,
        received: Option<Instant>,
    },
    Remove {
        slot: Slot,
        removed: Option<String>,
    },
}

impl Head {
    /// The answer, with what changed.
    fn answer(self, changes: ApiChanges, now: Instant) -> Response {
        match self {
            Head::Swap {
                slot,
                plugin,
                dry_run,
                received,
            } => {
                let swap_ms = received.map(|r| millis(now.saturating_duration_since(r)));
                if let Some(took) = swap_ms {
                    info!(slot = %slot.world(), took_ms = took, "plugin swap applied to the stored state");
                }
                Response::from(SwapResult {
                    slot: slot.world().to_string(),
                    plugin,
                    dry_run,
                    changes,
                    swap_ms,
                })
            }
            Head::Remove { slot, removed } => Response::from(RemoveResult {
                slot: slot.world().to_string(),
                removed,
                changes,
            }),
        }
    }
}

/// An admin request answered over several turns.
pub(super) enum Job {
    /// A swap or removal whose re-run over the stored routes is queued in
    /// the live path: answered when the filter and selection queues are
    /// empty, with the changes made meanwhile.
    Apply {
        id: RequestId,
        head: Head,
        changes: Changes,
    },
    /// A dry run of an import filter: first the overlay of what it would
    /// accept differently, then the selection over those prefixes (a
    /// swap's check stops after the overlay).
    DryFilter {
        id: RequestId,
        head: Head,
        /// A swap checked first: installed when the run is clean.
        install: bool,
        /// The speaker lists route changes for this swap, which adopts the
        /// run's results when installed rather than filtering again.
        tracked: bool,
        plugin: Box<Plugin>,
        run: FilterDryRun,
        select: Option<Vec<IpNet>>,
        changes: Changes,
    },
    /// A dry run of a route selection over every prefix: the own ones,
    /// then each session's, walked a map at a time.
    DrySelect {
        id: RequestId,
        head: Head,
        /// A swap checked first: installed when the run is clean.
        install: bool,
        plugin: Box<Plugin>,
        todo: Vec<IpNet>,
        sessions: SessionsWalk,
        changes: Changes,
    },
}

impl Gateway {
    pub(super) fn on_admin(&mut self, id: RequestId, command: AdminCommand, now: Instant) {
        let reply = match command {
            AdminCommand::PluginList => Response::from(PluginList {
                slots: self.slot_statuses(),
            }),
            AdminCommand::Bgp => Response::from(self.speaker.status(now)),
            AdminCommand::BgpRefresh { tunnel } => self.refresh(tunnel.as_deref(), now),
            AdminCommand::Reload {
                base,
                cfg,
                plugins,
                dry_run,
            } => {
                self.on_reload(id, &base, cfg, plugins, dry_run, now);
                return;
            }
            AdminCommand::Drain { tunnel, drain } => {
                self.on_drain(id, &tunnel, drain, now);
                return;
            }
            command @ (AdminCommand::PluginShadow { .. }
            | AdminCommand::PluginDiff { .. }
            | AdminCommand::PluginPromote { .. }
            | AdminCommand::PluginUnshadow { .. }) => {
                self.on_shadow_command(id, command, now);
                return;
            }
            AdminCommand::Routes(query) => {
                let mut doc =
                    view::routes(&self.cfg, &self.tunnels, &self.speaker, &self.rib, &query);
                let due = self.rib.publish_at(self.now);
                let due_ms = due.map(|t| t.saturating_duration_since(self.now).as_millis());
                doc.settling = Settling::of(
                    self.backlog() as u64,
                    due_ms.map(|ms| u64::try_from(ms).unwrap_or(u64::MAX)),
                );
                Response::from(doc)
            }
            AdminCommand::PluginRemove { slot } => {
                let removed = match slot {
                    Slot::Failover => self.slots.failover.remove(),
                    Slot::RouteSelection => self.slots.selection.remove(),
                    Slot::BgpFilter => self.slots.filter.remove(),
                };
                info!(slot = %slot.world(), "plugin removed: the built-in default answers");
                let head = Head::Remove {
                    slot,
                    removed: removed.map(|p| p.info().name.clone()),
                };
                match self.apply(slot, id, head, Changes::default(), None, now) {
                    Some(reply) => reply,
                    None => return,
                }
            }
            AdminCommand::PluginSwap {
                plugin,
                dry_run,
                force,
                received,
            } => match self.swap(id, plugin, dry_run, force, received, now) {
                Some(reply) => reply,
                None => return,
            },
        };
        self.actions.push_back(Action::Reply { id, reply });
    }

    fn refresh(&mut self, tunnel: Option<&str>, now: Instant) -> Response {
        let known: Vec<String> = self
            .tunnels
            .iter()
            .filter(|t| {
                !t.retired
                    && self
                        .cfg
                        .connections
                        .get(t.connection.index())
                        .is_some_and(|c| c.bgp.is_some())
            })
            .map(|t| t.inside_cidr.to_string())
            .collect();
        if let Some(t) = tunnel.filter(|t| !known.iter().any(|k| k == t)) {
            return Response::error(format!(
                "no BGP session runs over tunnel {t:?}; tunnels with one: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        let refreshed = self
            .speaker
            .refresh(tunnel, now, &mut self.slots.filter)
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect();
        Response::from(Refreshed { refreshed })
    }

    /// A swap: answered at once (failover, or a refusal), or by a job.
    /// Unless forced, a real swap first runs the plugin over the stored
    /// state as a dry run does, and is refused if it faults there.
    fn swap(
        &mut self,
        id: RequestId,
        mut plugin: Box<Plugin>,
        dry_run: bool,
        force: bool,
        received: Instant,
        now: Instant,
    ) -> Option<Response> {
        let slot = plugin.slot();
        let name = format!("{} {}", plugin.info().name, plugin.info().version);
        let head = Head::Swap {
            slot,
            plugin: name.clone(),
            dry_run,
            received: (!dry_run).then_some(received),
        };
        if dry_run || !force {
            // Bad parameters show at once, whatever the stored state.
            if let Err(fault) = plugin.try_empty() {
                return Some(refused(
                    dry_run,
                    format!("the plugin faulted on an empty call (its parameters?): {fault}"),
                ));
            }
            let install = !dry_run;
            match slot {
                Slot::Failover => {
                    let after = match self.failover_weights(now, Some(&mut plugin)) {
                        Ok(after) => after,
                        Err(fault) => {
                            return Some(refused(
                                dry_run,
                                format!("the plugin faulted on the current tunnel health: {fault}"),
                            ))
                        }
                    };
                    if dry_run {
                        let diff =
                            decisions::weight_diff(&self.cfg, &self.tunnels, &self.weights, &after);
                        return Some(head.answer(weights(diff), now));
                    }
                }
                Slot::RouteSelection => {
                    self.jobs.push(Job::DrySelect {
                        id,
                        head,
                        install,
                        plugin,
                        todo: self.rib.own_prefixes(),
                        sessions: self.speaker.sessions_walk(),
                        changes: Changes::default(),
                    });
                    return None;
                }
                Slot::BgpFilter => {
                    let tracked = install && self.speaker.track();
                    // A swap's check selects nothing: its overlay in order.
                    let purpose = match (install, tracked) {
                        (false, _) => DryRunFor::Selection,
                        (true, false) => DryRunFor::Verdicts,
                        (true, true) => DryRunFor::Adoption,
                    };
                    let run = self
                        .speaker
                        .dry_run_start(self.settings.changes_shown, purpose);
                    self.jobs.push(Job::DryFilter {
                        id,
                        head,
                        install,
                        tracked,
                        plugin,
                        run,
                        select: None,
                        changes: Changes::default(),
                    });
                    return None;
                }
            }
        }
        self.install(id, plugin, head, Changes::default(), None, now)
    }

    /// Installs a swapped-in plugin and re-runs its slot over the stored
    /// state (answered at once for failover, by a job otherwise). A filter
    /// whose tracked dry run found `adopted` has those results recorded
    /// instead of filtering every route again (`Speaker::adopt`).
    pub(super) fn install(
        &mut self,
        id: RequestId,
        plugin: Box<Plugin>,
        head: Head,
        changes: Changes,
        adopted: Option<FilterDryRun>,
        now: Instant,
    ) -> Option<Response> {
        let slot = plugin.slot();
        let name = format!("{} {}", plugin.info().name, plugin.info().version);
        let installed = match slot {
            Slot::Failover => self.slots.failover.install(*plugin),
            Slot::RouteSelection => self.slots.selection.install(*plugin),
            Slot::BgpFilter => self.slots.filter.install(*plugin),
        };
        if let Err(e) = installed {
            if let Some(run) = adopted {
                self.speaker.untrack();
                self.retire(run.overlay);
            }
            return Some(Response::error(e));
        }
        info!(slot = %slot.world(), plugin = %name, "plugin swapped in: the stored routes go through it");
        self.apply(slot, id, head, changes, adopted, now)
    }

    /// Re-runs the slot that changed over the stored state: the weights at
    /// once; routes through the live path's queues, answered by a job.
    fn apply(
        &mut self,
        slot: Slot,
        id: RequestId,
        head: Head,
        changes: Changes,
        adopted: Option<FilterDryRun>,
        now: Instant,
    ) -> Option<Response> {
        match slot {
            Slot::Failover => {
                let before = self.weights.clone();
                self.decide_weights(now, true);
                let diff = decisions::weight_diff(&self.cfg, &self.tunnels, &before, &self.weights);
                return Some(head.answer(weights(diff), now));
            }
            Slot::RouteSelection => self.select_all_again(),
            Slot::BgpFilter => match adopted {
                Some(run) => self.speaker.adopt(run, now, &mut self.slots.filter),
                None => self.speaker.refilter(now, &mut self.slots.filter),
            },
        }
        self.jobs.push(Job::Apply { id, head, changes });
        None
    }

    /// Route changes the live path made: part of every swap in progress.
    pub(super) fn jobs_record(&mut self, changes: &[RouteChange]) {
        let applying = self.jobs.iter().any(|j| matches!(j, Job::Apply { .. }));
        if changes.is_empty() || !applying {
            return;
        }
        let limit = self.settings.changes_shown;
        let mut namer = Namer::new(&self.cfg, &self.tunnels);
        let rib = &self.rib;
        for c in changes {
            let before = c.before.and_then(|id| rib.via_set(id));
            let after = c.after.and_then(|id| rib.via_set(id));
            if !namer.differs(before, after) {
                continue;
            }
            for job in &mut self.jobs {
                if let Job::Apply { changes, .. } = job {
                    changes.push(limit, || namer.change(&c.prefix, before, after));
                }
            }
        }
    }

    /// Answers the swaps whose re-run is done (the filter's queue, the
    /// re-selection walks and the selection's queue all empty) and in
    /// force (no FIB change waits for its snapshot: the turn that
    /// publishes it answers them).
    pub(super) fn jobs_finish(&mut self, now: Instant) {
        let speaker = self.speaker.filter_backlog() + self.speaker.reselect_backlog();
        if speaker > 0 || self.rib.pending() > 0 || self.publish_pending() {
            return;
        }
        let jobs = std::mem::take(&mut self.jobs);
        for job in jobs {
            match job {
                Job::Apply { id, head, changes } => {
                    let reply = head.answer(routes(changes), now);
                    self.actions.push_back(Action::Reply { id, reply });
                }
                other => self.jobs.push(other),
            }
        }
    }

    /// Works the dry runs on, up to `max` routes; returns how many.
    pub(super) fn jobs_step(&mut self, max: usize, now: Instant) -> usize {
        let mut jobs = std::mem::take(&mut self.jobs);
        let mut done = 0;
        let mut kept = Vec::with_capacity(jobs.len());
        for mut job in jobs.drain(..) {
            if done >= max {
                kept.push(job);
                continue;
            }
            match self.dry_step(&mut job, max - done) {
                Ok((n, false)) => {
                    done += n;
                    kept.push(job);
                }
                Ok((n, true)) => {
                    done += n;
                    self.answer_dry(job, now);
                }
                Err(fault) => {
                    if let Some(id) = job_id(&job) {
                        let dry_run = !matches!(
                            job,
                            Job::DryFilter { install: true, .. }
                                | Job::DrySelect { install: true, .. }
                        );
                        let reply = refused(dry_run, fault);
                        self.actions.push_back(Action::Reply { id, reply });
                    }
                    // What it found before the fault is freed as a
                    // finished run's is, a shard per turn.
                    if let Job::DryFilter { run, tracked, .. } = job {
                        if tracked {
                            self.speaker.untrack();
                        }
                        self.retire(run.overlay);
                    }
                }
            }
        }
        kept.append(&mut self.jobs);
        self.jobs = kept;
        done
    }

    /// One step of a dry run: (routes looked at, finished), or the error
    /// answer when the candidate faulted.
    fn dry_step(&mut self, job: &mut Job, max: usize) -> Result<(usize, bool), String> {
        let limit = self.settings.changes_shown;
        match job {
            Job::Apply { .. } => Ok((0, false)),
            Job::DryFilter {
                install,
                plugin,
                run,
                select,
                changes,
                ..
            } => {
                if !run.is_done() {
                    let n = self
                        .speaker
                        .dry_run_step(run, plugin, max)
                        .map_err(|fault| {
                            format!("the plugin faulted on the received routes: {fault}")
                        })?;
                    return Ok((n, false));
                }
                // A swap's check is over once the filter ran clean: the
                // route changes are the live path's to report (a selection
                // here would be thrown away).
                if *install {
                    return Ok((0, true));
                }
                // Each prefix the overlay touches, once, as the run found
                // them (taken from the end).
                let todo = select.get_or_insert_with(|| run.overlay.take_prefixes());
                let chunk = take_chunk(todo, max);
                let usable = self.usable();
                let mut env = Env {
                    cfg: &self.cfg,
                    tunnels: &self.tunnels,
                    learned: Learned::with(&self.speaker, &run.overlay),
                    selector: Selector::Slot(&mut self.slots.selection),
                    usable: &usable,
                };
                let decided = self.rib.decide(&chunk, &mut env).unwrap_or_default();
                self.compare(decided, changes, limit);
                Ok((chunk.len(), todo.is_empty()))
            }
            Job::DrySelect {
                plugin,
                todo,
                sessions,
                changes,
                ..
            } => {
                // The walk hands out a map of an Adj-RIB-In at a time; like
                // the live path's walks it is not counted as work (the
                // selection is), but a step walks at most about `max`
                // prefixes to find some not looked at yet.
                let mut looked = 0;
                while todo.is_empty() {
                    if looked >= max {
                        return Ok((0, false));
                    }
                    // Each prefix once: not again for a later session, nor
                    // for an own prefix (in `todo` from the start).
                    let own = |p: &IpNet| self.rib.is_own(p);
                    match self
                        .speaker
                        .sessions_step_first(sessions, SELECTION_CHUNK, own, todo)
                    {
                        Some(walked) => looked += walked,
                        None => return Ok((0, true)),
                    }
                }
                let chunk = take_chunk(todo, max);
                let usable = self.usable();
                let mut env = Env {
                    cfg: &self.cfg,
                    tunnels: &self.tunnels,
                    learned: Learned::live(&self.speaker),
                    selector: Selector::Candidate(plugin),
                    usable: &usable,
                };
                let decided = self.rib.decide(&chunk, &mut env).map_err(|fault| {
                    format!("the plugin faulted on the current routes: {fault}")
                })?;
                self.compare(decided, changes, limit);
                Ok((chunk.len(), false))
            }
        }
    }

    /// Records where a decision differs from what is installed.
    fn compare(&self, decided: Vec<Decision>, changes: &mut Changes, limit: usize) {
        let mut namer = Namer::new(&self.cfg, &self.tunnels);
        for (prefix, after) in decided {
            let before = self.rib.selected(&prefix);
            if namer.differs(before, after.as_deref()) {
                changes.push(limit, || namer.change(&prefix, before, after.as_deref()));
            }
        }
    }

    fn answer_dry(&mut self, job: Job, now: Instant) {
        let (id, head, install, tracked, plugin, mut changes, run) = match job {
            Job::DryFilter {
                id,
                head,
                install,
                tracked,
                plugin,
                run,
                changes,
                ..
            } => (id, head, install, tracked, plugin, changes, Some(run)),
            Job::DrySelect {
                id,
                head,
                install,
                plugin,
                changes,
                ..
            } => (id, head, install, false, plugin, changes, None),
            Job::Apply { .. } => return,
        };
        if let Some(run) = &run {
            changes.verdicts = Some(self.speaker.verdict_changes(&run.overlay));
            changes.checked = Some(run.looked);
        }
        let (adopted, overlay) = match tracked && install {
            true => (run, None),
            false => (None, run.map(|run| run.overlay)),
        };
        let reply = if install {
            // A swap checked clean: installed now, answered when applied,
            // with the verdicts its check found.
            let carried = Changes {
                verdicts: changes.verdicts.take(),
                checked: changes.checked,
                ..Changes::default()
            };
            self.install(id, plugin, head, carried, adopted, now)
        } else {
            Some(head.answer(routes(changes), now))
        };
        if let Some(reply) = reply {
            self.actions.push_back(Action::Reply { id, reply });
        }
        if let Some(overlay) = overlay {
            self.retire(overlay);
        }
    }

    /// Keeps a finished dry run's overlay to be freed a shard per turn
    /// (one that found nothing goes at once).
    fn retire(&mut self, overlay: Overlay) {
        if !overlay.is_empty() {
            self.retired.push(overlay);
        }
    }

    /// Frees a shard of the oldest finished dry run's overlay (or of what
    /// an abandoned adoption left).
    pub(super) fn free_retired(&mut self) {
        for overlay in self.speaker.take_abandoned() {
            self.retire(overlay);
        }
        if let Some(oldest) = self.retired.first_mut() {
            if !oldest.drop_shard() {
                self.retired.remove(0);
            }
        }
    }

    pub(super) fn slot_statuses(&self) -> Vec<api::SlotStatus> {
        // What the slot does (a quarantine or a shadow counts), not only
        // what its plugin declares.
        let lone = self.slots.selection.installs_lone_candidate();
        [
            self.slots.filter.status(),
            self.slots.selection.status(),
            self.slots.failover.status(),
        ]
        .iter()
        .map(|s| api::SlotStatus {
            installs_lone_candidate: (s.slot == Slot::RouteSelection).then_some(lone),
            ..slot_status(s)
        })
        .collect()
    }
}

fn job_id(job: &Job) -> Option<RequestId> {
    match job {
        Job::Apply { id, .. } | Job::DryFilter { id, .. } | Job::DrySelect { id, .. } => Some(*id),
    }
}

/// Up to `max` (at least one chunk's worth is never exceeded) prefixes from
/// the end of `todo`.
fn take_chunk(todo: &mut Vec<IpNet>, max: usize) -> Vec<IpNet> {
    let n = todo.len().min(SELECTION_CHUNK).min(max.max(1));
    todo.split_off(todo.len() - n)
}

fn routes(changes: Changes) -> ApiChanges {
    let (verdicts, verdicts_changed) = match changes.verdicts {
        Some((shown, total)) => (Some(shown), Some(total as u64)),
        None => (None, None),
    };
    ApiChanges {
        routes: Some(changes.shown),
        routes_changed: Some(changes.total as u64),
        verdicts,
        verdicts_changed,
        routes_checked: changes.checked.map(|n| n as u64),
        ..ApiChanges::default()
    }
}

fn weights(diff: Vec<api::WeightChange>) -> ApiChanges {
    ApiChanges {
        weights: Some(diff),
        ..ApiChanges::default()
    }
}

fn millis(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn slot_status(s: &SlotStatus) -> api::SlotStatus {
    let plugin = s.plugin.as_ref();
    api::SlotStatus {
        slot: s.slot.world().to_string(),
        plugin: plugin.map_or("built-in default".to_string(), |p| p.name.clone()),
        version: plugin.map(|p| p.version.clone()),
        path: plugin.map(|p| p.path.display().to_string()),
        calls: s.stats.calls,
        faults: s.stats.faults,
        quarantined: s.stats.quarantined,
        mean_call_us: s.stats.mean_call_time().map(|d| d.as_secs_f64() * 1e6),
        call_histogram: s.stats.call_histogram(),
        last_fault: s.stats.last_fault.as_ref().map(|f| f.to_string()),
        installs_lone_candidate: None,
    }
}

/// A swap refused because the plugin faulted on the stored state (or a
/// dry run that found the fault).
fn refused(dry_run: bool, fault: String) -> Response {
    if dry_run {
        Response::error(fault)
    } else {
        Response::error(format!(
            "swap refused, nothing changed: {fault}\n  fix: correct the plugin and swap it in \
             again (--dry-run shows what it would do), or install it anyway with --force \
             (routes it faults on are refused, and retried from after 1 s to once a minute)"
        ))
    }
}
