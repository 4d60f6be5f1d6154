//! The gateway core: the whole control plane as one sans-IO value, in the
//! shape of `bgp::fsm` and boringtun's `Tunn`, one level up. A [`Gateway`]
//! takes [`Event`]s (a probe, a BGP transport event, a WireGuard handshake
//! change, an admin request) with the caller's `now`, runs its timers in
//! [`Gateway::handle_timeout`] when [`Gateway::poll_timeout`] says, and
//! leaves [`Action`]s for the driver ([`Gateway::poll_action`]): send this
//! probe, open or write this BGP connection, publish this FIB, add or remove
//! these kernel routes, answer this request.
//!
//! Every step is bounded: route work (the import filter, the route
//! selection, a plugin swap's re-run over the stored routes, a dry run) is
//! done in chunks within a [`Budget`] per call of `handle_timeout`, so the
//! liveness probes that share the control thread are never starved,
//! whatever a peer sends or an operator asks. `poll_timeout` returns `now`
//! while such work is queued.
//!
//! Owns: the probes, the policy slots, the tunnel weights, routing (the BGP
//! speaker and the Loc-RIB), pending admin jobs. Must not: touch a socket,
//! a thread, the TUN device, netlink or the clock (the budget's time limit
//! is the one reading of a clock, and tests set a route count instead).
//! See ARCHITECTURE.md.

mod admin;
mod change_log;
mod drain;
mod event;
mod failover;
mod liveness;
pub mod reload;
mod shadow;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

pub use event::{Action, AdminCommand, Event, RequestId};

use crate::api::{TunnelEvent, TunnelEventKind};
use crate::config::{GatewayConfig, Role};
use crate::dataplane::fib::{ConnectionId, TunnelId};
use crate::liveness::Probe;
use crate::policy::{FailoverSlot, FilterSlot, SelectionSlot};
use crate::routing::loc_rib::{Env, LocRib, RouteChange, Selector};
use crate::routing::speaker::{Learned, Overlay, Speaker};
use crate::topology::{self, TunnelInfo};
use admin::Job;
use change_log::ChangeLog;

/// The three policy slots.
pub struct Slots {
    pub failover: FailoverSlot,
    pub selection: SelectionSlot,
    pub filter: FilterSlot,
}

/// The control plane's state for metrics, by value (see
/// [`Gateway::snapshot`]).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The BGP sessions, with their counters.
    pub bgp: crate::api::BgpStatus,
    /// The policy slots, with their counters.
    pub plugins: Vec<crate::api::SlotStatus>,
    /// Weights in force, by tunnel id.
    pub weights: Vec<u32>,
    /// Per tunnel: how often traffic moved off it.
    pub failovers: Vec<u64>,
    /// Routes waiting for the import filter or the selection.
    pub routes_queued: u64,
    /// Prefixes the route selection installed.
    pub routes_installed: u64,
}

/// How much route work one call of [`Gateway::handle_timeout`] may do:
/// until `time` has passed (measured from the call's start), and at most
/// `routes` routes filtered plus prefixes selected. A chunk in progress is
/// finished, so a turn may pass `time` by one chunk.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub time: Option<Duration>,
    pub routes: usize,
}

impl Budget {
    /// The control thread's: 20 ms of route work per turn.
    pub const DEFAULT: Budget = Budget {
        time: Some(Duration::from_millis(20)),
        routes: usize::MAX,
    };
}

/// The core's settings that are not in the config.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub budget: Budget,
    /// Seeds the probes' discriminators and first sequence numbers.
    pub seed: u64,
    /// Route changes listed in a swap's or dry run's answer at most (the
    /// answer counts them all).
    pub changes_shown: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            budget: Budget::DEFAULT,
            seed: 0,
            changes_shown: 1000,
        }
    }
}

/// How often the failover slot is asked even when no liveness changed, so
/// that time-based rules (failback hold, start-up settle) take effect.
const FAILOVER_TICK: Duration = Duration::from_millis(100);
/// How long the VGW side waits for the customer gateway to initiate a
/// tunnel's handshake before it sends probes (which start one). As in AWS,
/// the customer side starts; if both start at once, each refuses the
/// other's response.
const VGW_INITIATE_AFTER: Duration = Duration::from_secs(2);
/// Route changes whose room is kept from one turn to the next (16k: a few
/// turns of a full-table ingest; 576 KiB).
const KEPT_CHANGES: usize = 16 * 1024;

/// The control plane of one gateway. See the module documentation.
pub struct Gateway {
    cfg: Arc<GatewayConfig>,
    tunnels: Vec<TunnelInfo>,
    /// The tunnels of each connection, in configuration order.
    tunnels_of: Vec<Vec<TunnelId>>,
    settings: Settings,
    probes: Vec<Probe>,
    /// Per tunnel: when its probe started (at start, or when a reload
    /// added it).
    probe_start: Vec<Instant>,
    /// Per tunnel: what its probe measured, as last told to the driver.
    probe_stats: Vec<crate::liveness::ProbeStats>,
    up_since: Vec<Option<Instant>>,
    /// Per tunnel: its BFD timed out while the BGP peer over it restarts
    /// gracefully and that peer's BFD shares fate with its control plane:
    /// counted as up until the restart ends (`liveness::hold_for_restart`).
    gr_held: Vec<bool>,
    /// Per tunnel: its probe loses too many round trips
    /// (`liveness::ProbeStats::degraded`): down for failover, whatever
    /// its probe's state.
    degraded: Vec<bool>,
    /// Per tunnel: does it have a WireGuard session (as the driver says)?
    handshake: Vec<bool>,
    /// The latest `now` given.
    now: Instant,
    speaker: Speaker,
    rib: LocRib,
    slots: Slots,
    /// Weights in force, by tunnel id.
    weights: Vec<u32>,
    /// Per tunnel: how often traffic moved off it (weight above 0 -> 0).
    failovers: Vec<u64>,
    /// A liveness changed since the failover slot was last asked.
    health_changed: bool,
    next_failover: Instant,
    /// Admin requests answered over several turns.
    jobs: Vec<Job>,
    /// Finished dry runs' overlays, freed a shard per turn (one of a swap
    /// that rewrites two million routes takes half a second to free).
    retired: Vec<Overlay>,
    /// Per tunnel: the operator's drain, if any.
    drains: Vec<Option<drain::Drain>>,
    /// Per tunnel: packets received, as the driver last said.
    rx_packets: Vec<u64>,
    actions: VecDeque<Action>,
    stopped: bool,
    /// Routes filtered and prefixes selected in the last `handle_timeout`.
    last_work: usize,
    /// The route changes of a turn's work, kept between turns for its
    /// memory: grown anew each turn, a list of a few thousand changes
    /// passed jemalloc's oversize threshold and was page-faulted in every
    /// time (the control thread's costliest store in a full-table ingest).
    changes: Vec<RouteChange>,
    /// The route changes of a large change not logged yet.
    change_log: ChangeLog,
    /// Tunnels a reload removed, still carrying their sessions' last words
    /// (the Cease NOTIFICATION, the close) until the deadline; then their
    /// inside /30s leave the FIB and the data path retires them.
    retiring: Vec<(Instant, Vec<TunnelId>)>,
}

impl Gateway {
    /// The core of a gateway configured by `cfg`, its sessions started and
    /// its first FIB (static routes, tunnels' inside addresses) queued for
    /// publishing.
    pub fn new(cfg: Arc<GatewayConfig>, slots: Slots, settings: Settings, now: Instant) -> Gateway {
        let tunnels = topology::tunnels(&cfg);
        let tunnels_of = crate::routing::table::tunnels_by_connection(&cfg);
        let probes = liveness::probes(&cfg, &tunnels, settings.seed, now);
        let n = tunnels.len();
        let speaker = Speaker::new(&cfg, &tunnels);
        let rib = LocRib::new(&cfg, &tunnels);
        let mut gw = Gateway {
            cfg,
            tunnels,
            tunnels_of,
            settings,
            probes,
            probe_start: vec![now; n],
            probe_stats: vec![Default::default(); n],
            up_since: vec![None; n],
            gr_held: vec![false; n],
            degraded: vec![false; n],
            handshake: vec![false; n],
            now,
            speaker,
            rib,
            slots,
            weights: vec![0; n],
            failovers: vec![0; n],
            health_changed: false,
            next_failover: now + FAILOVER_TICK,
            jobs: Vec::new(),
            retired: Vec::new(),
            drains: (0..n).map(|_| None).collect(),
            rx_packets: vec![0; n],
            actions: VecDeque::new(),
            stopped: false,
            last_work: 0,
            changes: Vec::new(),
            change_log: ChangeLog::default(),
            retiring: Vec::new(),
        };
        if gw.cfg.role == Role::Cgw {
            gw.actions.push_back(Action::InitiateHandshakes);
        }
        gw.work(now, None);
        gw.decide_weights(now, true);
        gw.speaker.start(now, &mut gw.slots.filter);
        gw.collect(now);
        gw
    }

    /// The tunnels, by id.
    pub fn tunnels(&self) -> &[TunnelInfo] {
        &self.tunnels
    }

    /// The static routes' prefixes (the kernel routes installed at start).
    pub fn static_prefixes(&self) -> Vec<ipnet::IpNet> {
        self.rib.static_prefixes()
    }

    /// The config in force: the one at start, or the latest reload's.
    pub fn config(&self) -> &Arc<GatewayConfig> {
        &self.cfg
    }

    /// Takes one event.
    pub fn handle(&mut self, event: Event, now: Instant) {
        self.now = now;
        match event {
            Event::Probe {
                tunnel,
                kind,
                payload,
                received,
            } => self.on_probe(tunnel, kind, &payload, received.min(now), now),
            Event::Transport(event) => {
                self.speaker.on_event(event, now, &mut self.slots.filter);
            }
            Event::Handshake {
                tunnel,
                established,
            } if self.tunnels.get(tunnel.index()).is_some_and(|t| !t.retired) => {
                if let Some(h) = self.handshake.get_mut(tunnel.index()) {
                    *h = established;
                }
                let (state, detail) = if established {
                    ("established", "WireGuard handshake completed")
                } else {
                    ("none", "no WireGuard session (expired or not yet made)")
                };
                self.tunnel_event(tunnel, TunnelEventKind::Handshake, state, detail);
            }
            Event::Handshake { .. } => {}
            Event::Traffic { rx_packets } => self.rx_packets = rx_packets,
            Event::Admin { id, command } => self.on_admin(id, command, now),
        }
        // A liveness change moves the weights in the same step.
        if self.health_changed {
            self.health_changed = false;
            self.decide_weights(now, false);
        }
        self.collect(now);
    }

    /// When [`Gateway::handle_timeout`] must next run: now while route
    /// work is queued.
    pub fn poll_timeout(&self) -> Instant {
        if self.has_work() {
            return self.now;
        }
        self.probes
            .iter()
            .filter_map(Probe::poll_timeout)
            .chain(self.speaker.poll_timeout())
            .chain(self.drain_timeout())
            .chain(self.retiring.iter().map(|(at, _)| *at))
            .chain(self.rib.publish_at(self.now))
            .chain([self.next_failover])
            .min()
            .unwrap_or(self.next_failover)
    }

    /// Route work is queued (filter, selection, or an admin job).
    pub fn has_work(&self) -> bool {
        self.speaker.filter_backlog() > 0
            || self.speaker.reselect_backlog() > 0
            || self.speaker.export_backlog() > 0
            || self.rib.pending() > 0
            || !self.jobs.is_empty()
            || !self.retired.is_empty()
    }

    /// A FIB change waits for its snapshot (due by [`Gateway::poll_timeout`]).
    pub fn publish_pending(&self) -> bool {
        self.rib.publish_at(self.now).is_some()
    }

    /// Routes waiting for the filter or the selection: the driver stops
    /// reading BGP input while this is high, so that TCP pushes back on the
    /// peer rather than memory growing.
    pub fn backlog(&self) -> usize {
        self.speaker.filter_backlog() + self.speaker.reselect_backlog() + self.rib.pending()
    }

    /// Runs what is due at `now`: session and probe timers, the failover
    /// slot, and a budget's worth of route work.
    pub fn handle_timeout(&mut self, now: Instant) {
        let budget = self.settings.budget;
        self.handle_timeout_within(now, budget);
    }

    /// [`Gateway::handle_timeout`] with the route work bounded by `budget`
    /// (the driver passes what is left of its turn).
    pub fn handle_timeout_within(&mut self, now: Instant, budget: Budget) {
        self.handle_timers(now);
        self.work_within(now, budget);
    }

    /// The first half of [`Gateway::handle_timeout_within`]: session and
    /// probe timers, the failover slot, but no route work. The driver sends
    /// the probes this queues before it calls [`Gateway::work_within`], so
    /// that they do not wait for a turn's route work (an echo's round trip
    /// is timed from here).
    pub fn handle_timers(&mut self, now: Instant) {
        self.now = now;
        self.speaker.on_timeouts(now, &mut self.slots.filter);
        self.probe_timeouts(now);
        self.release_restart_holds(now);
        self.drain_timeouts(now);
        self.retire_due(now);
        // Plugins run on events: a liveness change, or the tick.
        if self.health_changed || now >= self.next_failover {
            self.health_changed = false;
            self.decide_weights(now, false);
            self.next_failover = now + FAILOVER_TICK;
        }
    }

    /// The second half: a budget's worth of route work, and what it
    /// produced collected into actions.
    pub fn work_within(&mut self, now: Instant, budget: Budget) {
        self.now = now;
        self.work(now, Some(budget));
        self.collect(now);
    }

    /// Routes filtered, prefixes selected and swept routes removed in the
    /// last turn's route work ([`Gateway::work_within`]; what the budget
    /// bounds).
    pub fn last_turn_work(&self) -> usize {
        self.last_work
    }

    /// Prefixes written into the FIB so far (a weight change writes none:
    /// it rewrites next-hop groups).
    pub fn fib_writes(&self) -> u64 {
        self.rib.fib_writes()
    }

    /// What the metrics show of the control plane, copied for another
    /// thread (cheap: per session and per slot, never per route).
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        Snapshot {
            bgp: self.speaker.status(now),
            plugins: self.slot_statuses(),
            weights: self.weights.clone(),
            failovers: self.failovers.clone(),
            routes_queued: self.backlog() as u64,
            routes_installed: self.rib.installed_len() as u64,
        }
    }

    /// The next action for the driver, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Stopping: every session says goodbye (Cease / administrative
    /// shutdown) and its connection closes.
    pub fn stop(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Some(summary) = self.change_log.flush(now) {
            self.log_summary(summary);
        }
        self.speaker.stop_all(now, &mut self.slots.filter);
        // Each BFD session says AdminDown (RFC 5880 section 6.8.16), so the
        // far side takes the tunnel out at once, knowing it was stopped,
        // rather than after its detection time.
        for (id, probe) in self.probes.iter_mut().enumerate() {
            if let Probe::Bfd(session) = probe {
                let packet = session.admin_down_now();
                self.actions.push_back(Action::SendBfd {
                    tunnel: TunnelId(id),
                    packet: packet.encode().to_vec(),
                });
            }
        }
        self.collect(now);
    }

    /// Route work within `budget` (`None`: all of it): the import filter
    /// over queued routes, the selection of dirty prefixes, admin jobs, the
    /// exports to the peers, in chunks; then the route changes are logged and the FIB published.
    fn work(&mut self, now: Instant, budget: Option<Budget>) {
        let clock = std::time::Instant::now();
        let mut left = budget.map_or(usize::MAX, |b| b.routes);
        let out_of_time = || {
            budget
                .and_then(|b| b.time)
                .is_some_and(|t| clock.elapsed() >= t)
        };
        let spent = |left: usize| left == 0 || out_of_time();
        let mut changes = std::mem::take(&mut self.changes);
        changes.clear();
        let mut total = 0;
        loop {
            let mut did = 0;
            if self.speaker.filter_backlog() > 0 {
                let max = left.min(crate::routing::speaker::FILTER_CHUNK);
                did += self
                    .speaker
                    .filter_queued(max, now, &mut self.slots.filter, &out_of_time);
                self.rib.mark(self.speaker.take_dirty());
            }
            left = left.saturating_sub(did);
            total += did;
            did = 0;
            // The routes of a session that went down, or over a tunnel
            // whose probe changed, reach the selection a chunk at a time
            // (no turn lists them all); the walk itself is cheap, the
            // selection is the work the budget counts.
            let chunk = crate::routing::speaker::FILTER_CHUNK;
            if self.rib.pending() < chunk {
                // Stale routes a graceful restart swept leave the Adj-RIB-In
                // the same way; removing them is work the budget counts.
                let swept = match spent(left) {
                    true => 0,
                    false => self.speaker.sweep_step(chunk.min(left)),
                };
                did += swept;
                left = left.saturating_sub(swept);
                if self.speaker.reselect_step(chunk) + swept > 0 {
                    self.rib.mark(self.speaker.take_dirty());
                }
            }
            if self.rib.pending() > 0 && !spent(left) {
                let usable = self.usable();
                let mut env = Env {
                    cfg: &self.cfg,
                    tunnels: &self.tunnels,
                    learned: Learned::live(&self.speaker),
                    selector: Selector::Slot(&mut self.slots.selection),
                    usable: &usable,
                };
                let n = self.rib.work_chunk(&mut env, &mut changes);
                did += n;
                left = left.saturating_sub(n);
            }
            if !spent(left) && !self.jobs.is_empty() {
                let n = self.jobs_step(left.min(crate::routing::speaker::FILTER_CHUNK), now);
                did += n;
                left = left.saturating_sub(n);
            }
            if !spent(left) && self.speaker.export_backlog() > 0 {
                let max = left.min(crate::routing::speaker::FILTER_CHUNK);
                let n = self
                    .speaker
                    .export_queued(max, now, &mut self.slots.filter, &out_of_time);
                did += n;
                left = left.saturating_sub(n);
            }
            total += did;
            let more = self.speaker.filter_backlog() > 0 || self.speaker.reselect_backlog() > 0;
            if (did == 0 && !more) || spent(left) {
                break;
            }
        }
        self.last_work = total;
        self.free_retired();
        self.jobs_record(&changes);
        self.log_route_changes(&changes, now);
        // Kept up to a busy turn's worth (a full table's turns are a few
        // thousand changes); a larger one (a swap's) is given back.
        changes.clear();
        changes.shrink_to(KEPT_CHANGES);
        self.changes = changes;
        // Published first: a swap is answered once its changes are in
        // force.
        self.publish(now, false);
        self.jobs_finish(now);
    }

    /// A plugin was quarantined: the native default now decides what it
    /// decided, so the stored routes go through the slot again (a filter
    /// that failed closed rejected them) or are selected again.
    fn after_quarantine(&mut self, now: Instant) {
        if self.slots.filter.take_quarantined() {
            info!("bgp-filter quarantined: the stored routes go through the native default");
            self.speaker.refilter(now, &mut self.slots.filter);
        }
        if self.slots.selection.take_quarantined() {
            self.select_all_again();
        }
    }

    /// Every prefix goes through the route selection again (it changed, or
    /// route propagation did): the own prefixes at once, the sessions'
    /// tables walked a map at a time, so no turn lists a million prefixes.
    fn select_all_again(&mut self) {
        let own = self.rib.own_prefixes();
        self.rib.mark(own);
        self.speaker.reselect_all();
    }

    /// Moves what the speaker and the Loc-RIB produced into actions.
    fn collect(&mut self, now: Instant) {
        self.after_quarantine(now);
        self.rib.mark(self.speaker.take_dirty());
        for (tunnel, state, detail) in self.speaker.take_events() {
            self.tunnel_event(tunnel, TunnelEventKind::Bgp, &state, &detail);
        }
        for a in self.speaker.take_actions() {
            self.actions.push_back(Action::Transport(a));
        }
        // A withdrawal selected is published in the same step (past a
        // burst of snapshots, `SMALL_CHANGE_GAP` after the last one); a
        // weight change is forced out by the failover step.
        self.publish(now, false);
    }

    /// Per tunnel: may its learned routes be used (route propagation on
    /// and its probe up)?
    fn usable(&self) -> Vec<bool> {
        let propagate = self.cfg.route_table.propagation;
        self.probes
            .iter()
            .map(|s| propagate && s.state() == crate::liveness::bfd::State::Up)
            .collect()
    }

    /// Marks the tunnels active or not and publishes the FIB if it changed
    /// (rate-limited while prefixes are queued), or at once with `force`.
    fn publish(&mut self, now: Instant, force: bool) {
        let publish = self.rib.publish(now, force);
        if let Some(fib) = publish.fib {
            self.actions.push_back(Action::PublishFib(fib));
        }
        if !publish.kernel.is_empty() {
            self.actions.push_back(Action::KernelRoutes(publish.kernel));
        }
    }

    /// Queues a tunnel-log line.
    fn tunnel_event(&mut self, tunnel: TunnelId, kind: TunnelEventKind, state: &str, detail: &str) {
        let Some(t) = self.tunnels.get(tunnel.index()) else {
            return;
        };
        let event = TunnelEvent {
            connection: self.connection_name(t.connection).to_string(),
            tunnel: t.inside_cidr.into(),
            outside: t.remote,
            event: kind,
            state: state.to_string(),
            detail: detail.to_string(),
        };
        self.actions.push_back(Action::TunnelLog(event));
    }

    fn connection_name(&self, connection: ConnectionId) -> &str {
        self.cfg
            .connections
            .get(connection.index())
            .map(|c| c.name.as_str())
            .unwrap_or("?")
    }

    /// Logs a turn's route changes at `now` as [`ChangeLog`] decides (a
    /// full feed changes a million routes).
    fn log_route_changes(&mut self, changes: &[RouteChange], now: Instant) {
        let drained = self.backlog() == 0;
        let lines = self.change_log.turn(changes.len(), now, drained);
        if let Some(summary) = lines.summary {
            self.log_summary(summary);
        }
        let listed = changes.iter().filter_map(|c| self.route_change(c));
        for change in listed.take(lines.each) {
            info!(prefix = %change.prefix, from = ?change.from, to = ?change.to, "route changed");
        }
    }

    /// The "routes changed" line of a large change.
    fn log_summary(&self, (changes, over): (usize, Duration)) {
        info!(
            changes,
            seconds = over.as_secs_f64(),
            installed = self.rib.installed_len(),
            queued = self.backlog(),
            "routes changed"
        );
    }

    fn route_change(&self, c: &RouteChange) -> Option<crate::api::RouteChange> {
        crate::routing::decisions::route_change(
            &self.cfg,
            &self.tunnels,
            &c.prefix,
            c.before.and_then(|id| self.rib.via_set(id)),
            c.after.and_then(|id| self.rib.via_set(id)),
        )
    }
}
