//! The control loop: the one thread that owns the liveness sessions and the
//! policy slots, drives WireGuard's timers, and publishes a new FIB when the
//! tunnel weights or the installed routes change.
//!
//! It reacts to probes the data path hands over, to BGP transport events (the
//! speaker lives here, so liveness and learned routes meet in one place), to
//! admin requests (plugin list, swap, dry run; the plugin is compiled before
//! it gets here; BGP and route status) and to its own deadlines, and logs
//! every liveness, weight and route change. It never forwards user packets
//! and never blocks the data path: the FIB it publishes is swapped in
//! atomically, and kernel routes are handed to their own thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use crossbeam_channel::{select, Receiver};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use tracing::{info, warn};
use tun_rs::SyncDevice;

use super::decisions::{self, Liveness};
use super::loc_rib::{self, Env, LocRib, RouteChange};
use super::route_view;
use super::speaker::Speaker;
use crate::bgp::transport::{Transport, TransportEvent};
use crate::config::LivenessMode;
use crate::config::{GatewayConfig, Role};
use crate::dataplane::fib::TunnelId;
use crate::dataplane::io::{IoSink, ProbeReceived};
use crate::dataplane::kernel_routes::KernelRoutes;
use crate::dataplane::ProbeKind;
use crate::dataplane::{Dataplane, SCRATCH_LEN};
use crate::liveness::bfd::{self, ControlPacket, Session, State, Transition};
use crate::liveness::echo::EchoSession;
use crate::liveness::Probe;
use crate::policy::{FailoverSlot, FilterSlot, Plugin, SelectionSlot, Slot, SlotStatus};
use crate::route_table::{self, Candidate, Installed, Table};

/// Longest the loop spends selecting queued prefixes in one turn.
const ROUTE_TURN_BUDGET: Duration = Duration::from_millis(20);
/// Queued prefixes beyond which no more BGP input is read in a turn.
const ROUTE_BACKLOG: usize = 16 * loc_rib::SELECTION_CHUNK;
/// A turn of the loop longer than this is logged (probes wait meanwhile).
const SLOW_TURN: Duration = Duration::from_millis(100);
/// Route changes logged one by one per batch; beyond, a count.
const ROUTE_CHANGES_LOGGED: usize = 20;

/// How often WireGuard's timers are driven.
const WIREGUARD_TICK: Duration = Duration::from_millis(100);
/// How often the failover slot is asked even when no liveness changed, so
/// that time-based rules (failback hold, start-up settle) take effect.
const FAILOVER_TICK: Duration = Duration::from_millis(100);
/// How often the handshake rate limiter forgets its count.
const RATE_LIMIT_RESET: Duration = Duration::from_secs(1);
/// Longest sleep, so that shutdown is noticed quickly.
const MAX_WAIT: Duration = Duration::from_millis(250);
/// How long the VGW side waits for the customer gateway to initiate a
/// tunnel's handshake before it initiates itself. As in AWS, the customer
/// side starts; if both start at once, each refuses the other's response.
const VGW_INITIATE_AFTER: Duration = Duration::from_secs(2);

/// Events queued for the control loop at most; beyond, probes are dropped.
pub const EVENT_QUEUE: usize = 1024;
/// BGP transport events queued at most; beyond, the readers wait.
pub const BGP_QUEUE: usize = 256;
/// Events handled per turn of the loop, so a flood cannot starve its timers.
const EVENTS_PER_TURN: usize = 256;
/// Longest the loop spends on queued BGP events in one turn.
const BGP_TURN_BUDGET: Duration = Duration::from_millis(20);

/// The queues the control loop reads.
pub struct Queues {
    pub events: Receiver<ControlEvent>,
    pub bgp: Receiver<TransportEvent>,
}

/// What reaches the control loop from other threads.
pub enum ControlEvent {
    /// A liveness probe received by the data path.
    Probe(ProbeReceived),
    /// A request from the admin socket; the answer goes back on `reply`.
    Admin(AdminRequest),
}

pub struct AdminRequest {
    pub command: AdminCommand,
    pub reply: Sender<Value>,
}

pub enum AdminCommand {
    /// Every slot with its plugin and counters.
    PluginList,
    /// Run `plugin` over the current input; with `dry_run` only report the
    /// changes it would make, else install it and apply them.
    PluginSwap {
        plugin: Box<Plugin>,
        dry_run: bool,
        /// When the operator's command arrived (for the swap time).
        received: Instant,
    },
    /// Back to the built-in default.
    PluginRemove { slot: Slot },
    /// The BGP sessions (`sitelink bgp`).
    Bgp,
    /// The route table (`sitelink routes`).
    Routes,
    /// Ask peers for their routes again (all sessions, or one tunnel's).
    BgpRefresh { tunnel: Option<String> },
}

/// The three policy slots.
pub struct Slots {
    pub failover: FailoverSlot,
    pub selection: SelectionSlot,
    pub filter: FilterSlot,
}

pub struct ControlLoop {
    cfg: Arc<GatewayConfig>,
    dataplane: Arc<Dataplane>,
    tun: Arc<SyncDevice>,
    queues: Queues,
    probes: Vec<Probe>,
    speaker: Speaker,
    kernel: Option<KernelRoutes>,
    up_since: Vec<Option<Instant>>,
    tunnels_of: Vec<Vec<TunnelId>>,
    slots: Slots,
    /// Weights in force, by tunnel id.
    weights: Vec<u32>,
    /// The installed routes, the prefixes queued for selection, the FIB.
    rib: LocRib,
    /// A liveness changed since the failover slot was last asked.
    health_changed: bool,
    scratch: Vec<u8>,
}

impl ControlLoop {
    pub fn new(
        cfg: Arc<GatewayConfig>,
        dataplane: Arc<Dataplane>,
        tun: Arc<SyncDevice>,
        slots: Slots,
        queues: Queues,
        transport: Transport,
        kernel: Option<KernelRoutes>,
    ) -> ControlLoop {
        let now = Instant::now();
        let tunnels_of = route_table::tunnels_by_connection(&cfg);
        let probes = dataplane
            .tunnels
            .iter()
            .map(|tunnel| {
                let liveness = cfg
                    .connections
                    .get(tunnel.connection)
                    .map(|c| c.liveness)
                    .unwrap_or_default();
                match liveness.mode {
                    // Discriminators need only be unique per session on this host.
                    LivenessMode::Bfd => Probe::Bfd(Session::new(
                        OsRng.next_u32().max(1),
                        liveness.interval,
                        liveness.multiplier,
                        now,
                        OsRng.next_u64(),
                    )),
                    LivenessMode::Echo => Probe::Echo(EchoSession::new(
                        liveness.interval,
                        liveness.multiplier,
                        now,
                        OsRng.next_u32() as u16,
                    )),
                }
            })
            .collect();
        let n = dataplane.tunnels.len();
        let speaker = Speaker::new(&cfg, &dataplane.tunnels, transport);
        let rib = LocRib::new(&cfg, &dataplane.tunnels);
        let mut control = ControlLoop {
            cfg,
            dataplane,
            tun,
            queues,
            probes,
            speaker,
            kernel,
            up_since: vec![None; n],
            tunnels_of,
            slots,
            weights: vec![0; n],
            rib,
            health_changed: false,
            scratch: vec![0u8; SCRATCH_LEN],
        };
        control.select_queued(None);
        control.decide_weights(now, true);
        control
    }

    /// Runs until `shutdown` is set.
    pub fn run(mut self, shutdown: &AtomicBool) {
        let dp = self.dataplane.clone();
        let tun = self.tun.clone();
        // This sink only sends (handshakes, probes, timers); it never
        // decapsulates a datagram, so no probe can arrive through it.
        let probe = |_: ProbeReceived| {};
        let mut sink = IoSink {
            dataplane: &dp,
            tun: &tun,
            probe: &probe,
        };
        let started = Instant::now();
        if self.cfg.role == Role::Cgw {
            dp.initiate_handshakes(&mut self.scratch, &mut sink);
        }
        let mut next_wg_tick = Instant::now() + WIREGUARD_TICK;
        let mut next_rl_reset = Instant::now() + RATE_LIMIT_RESET;
        let mut next_failover = Instant::now() + FAILOVER_TICK;
        self.speaker.start(Instant::now(), &mut self.slots.filter);

        while !shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            let deadline = self
                .probes
                .iter()
                .map(Probe::poll_timeout)
                .chain(self.speaker.poll_timeout())
                .chain([next_wg_tick, next_rl_reset, next_failover, now + MAX_WAIT])
                .min()
                .unwrap_or(now + MAX_WAIT);
            let timeout = deadline.saturating_duration_since(now);
            let events = self.queues.events.clone();
            let bgp = self.queues.bgp.clone();
            select! {
                recv(events) -> event => match event {
                    Ok(event) => self.on_event(event),
                    Err(_) => break,
                },
                recv(bgp) -> event => {
                    if let Ok(event) = event {
                        self.on_bgp(event);
                    }
                },
                default(timeout) => {},
            }
            for _ in 1..EVENTS_PER_TURN {
                match events.try_recv() {
                    Ok(more) => self.on_event(more),
                    Err(_) => break,
                }
            }
            // BGP work is bounded by time as well: an event may hold many
            // UPDATEs, and liveness probes must not wait behind them.
            // And by the route selection's backlog: UPDATEs wait in TCP (the
            // peer is pushed back) rather than as queued prefixes in memory.
            let turn = Instant::now();
            for _ in 1..EVENTS_PER_TURN {
                if turn.elapsed() >= BGP_TURN_BUDGET || self.rib.pending() >= ROUTE_BACKLOG {
                    break;
                }
                match bgp.try_recv() {
                    Ok(more) => self.on_bgp(more),
                    Err(_) => break,
                }
            }
            let bgp_took = turn.elapsed();
            let now = Instant::now();
            self.speaker.on_timeouts(now, &mut self.slots.filter);

            let now = Instant::now();
            for id in 0..self.probes.len() {
                if let Some(t) = self.probes.get_mut(id).and_then(|p| p.handle_timeout(now)) {
                    self.on_transition(id, t, now);
                }
                // A probe on a tunnel without a session starts a handshake:
                // the VGW leaves that to the customer gateway at first.
                let may_send = self.cfg.role == Role::Cgw
                    || now.duration_since(started) >= VGW_INITIATE_AFTER
                    || dp
                        .tunnels
                        .get(id)
                        .is_some_and(|t| t.handshake_age().is_some());
                match self.probes.get_mut(id) {
                    Some(Probe::Bfd(session)) => {
                        while let Some(packet) = session.poll_transmit(now) {
                            if may_send {
                                dp.send_probe(id, &packet.encode(), &mut self.scratch, &mut sink);
                            }
                        }
                    }
                    Some(Probe::Echo(session)) => {
                        while let Some(seq) = session.poll_transmit(now) {
                            if may_send {
                                dp.send_echo(id, seq, &mut self.scratch, &mut sink);
                            }
                        }
                    }
                    None => {}
                }
            }
            // Plugins run on events: a liveness change, or the tick.
            if self.health_changed || now >= next_failover {
                self.health_changed = false;
                self.decide_weights(now, false);
                next_failover = now + FAILOVER_TICK;
            }
            // Routes: the prefixes that changed, a budget's worth per turn.
            let routes = Instant::now();
            let dirty = self.speaker.take_dirty();
            self.rib.mark(dirty);
            if self.rib.pending() > 0 {
                let changes = self.select_queued(Some(ROUTE_TURN_BUDGET));
                self.log_route_changes(&changes);
            }
            let routes_took = routes.elapsed();
            self.publish(false);
            if turn.elapsed() >= SLOW_TURN {
                warn!(
                    bgp_ms = bgp_took.as_secs_f64() * 1e3,
                    routes_ms = routes_took.as_secs_f64() * 1e3,
                    total_ms = turn.elapsed().as_secs_f64() * 1e3,
                    "slow turn of the control loop: liveness probes waited"
                );
            }
            if now >= next_wg_tick {
                dp.tick_timers(&mut self.scratch, &mut sink);
                next_wg_tick = now + WIREGUARD_TICK;
            }
            if now >= next_rl_reset {
                dp.reset_rate_limiter();
                next_rl_reset = now + RATE_LIMIT_RESET;
            }
        }
        self.speaker.shutdown(Instant::now());
    }

    fn on_bgp(&mut self, event: TransportEvent) {
        // What changed is collected by the speaker (`take_dirty`).
        self.speaker
            .on_event(event, Instant::now(), &mut self.slots.filter);
    }

    fn on_event(&mut self, event: ControlEvent) {
        match event {
            ControlEvent::Probe(probe) => self.on_probe(probe, Instant::now()),
            ControlEvent::Admin(request) => {
                let answer = self.on_admin(request.command);
                let _ = request.reply.send(answer);
            }
        }
    }

    fn on_probe(&mut self, probe: ProbeReceived, now: Instant) {
        let session = match (self.probes.get_mut(probe.tunnel), probe.kind) {
            (Some(Probe::Bfd(session)), ProbeKind::Bfd) => session,
            (Some(Probe::Echo(session)), ProbeKind::EchoReply { seq }) => {
                if let Some(t) = session.handle_reply(seq, now) {
                    self.on_transition(probe.tunnel, t, now);
                }
                return;
            }
            // A probe of the other kind than the tunnel runs: ignored.
            _ => return,
        };
        match ControlPacket::decode(&probe.payload) {
            Ok(packet) => {
                if let Some(t) = session.handle_packet(&packet, now) {
                    self.on_transition(probe.tunnel, t, now);
                }
            }
            Err(e) => {
                let cidr = self
                    .dataplane
                    .tunnels
                    .get(probe.tunnel)
                    .map(|t| t.inside_cidr);
                warn!(tunnel = ?cidr, error = %e, "malformed liveness probe dropped");
            }
        }
    }

    fn on_transition(&mut self, id: TunnelId, t: Transition, now: Instant) {
        let Some(tunnel) = self.dataplane.tunnels.get(id) else {
            return;
        };
        let connection = self.connection_name(tunnel.connection);
        info!(
            tunnel = %tunnel.inside_cidr,
            connection,
            from = ?t.from,
            to = ?t.to,
            diag = %t.diag,
            "tunnel liveness changed"
        );
        tunnel.set_liveness(t.to);
        self.health_changed = true;
        // Routes learned over a tunnel count only while its probe is up.
        self.rib.mark(self.speaker.accepted_over(id));
        if t.from == State::Up {
            self.speaker.tunnel_down(id, now, &mut self.slots.filter);
        }
        if let Some(slot) = self.up_since.get_mut(id) {
            *slot = (t.to == State::Up).then_some(now);
        }
    }

    fn connection_name(&self, connection: usize) -> &str {
        self.cfg
            .connections
            .get(connection)
            .map(|c| c.name.as_str())
            .unwrap_or("?")
    }

    fn liveness(&self) -> Vec<Liveness> {
        self.probes
            .iter()
            .zip(&self.up_since)
            .map(|(s, up_since)| Liveness {
                state: s.state(),
                up_since: *up_since,
            })
            .collect()
    }

    /// Asks the failover slot for the weights and publishes a new FIB when
    /// any weight changed (or when `force` is set).
    fn decide_weights(&mut self, now: Instant, force: bool) {
        // The slot always answers (plugin, last good, or default).
        let Ok(weights) = self.failover_weights(now, None) else {
            return;
        };
        let diff =
            decisions::weight_diff(&self.cfg, &self.dataplane.tunnels, &self.weights, &weights);
        for change in &diff {
            info!(
                connection = %change["connection"],
                tunnel = %change["tunnel"],
                from = %change["from"],
                to = %change["to"],
                "tunnel weight changed{}",
                if change["to"] == 0 { " (standby)" } else { "" }
            );
        }
        if diff.is_empty() && !force {
            return;
        }
        self.weights = weights;
        self.rib.set_weights(&self.weights, &self.dataplane.tunnels);
        self.publish(true);
    }

    /// The failover weights for the current health, from the slot or, for a
    /// dry run, from `candidate` (whose fault is returned, not hidden).
    fn failover_weights(
        &mut self,
        now: Instant,
        candidate: Option<&mut Plugin>,
    ) -> Result<Vec<u32>, crate::policy::Fault> {
        let input = decisions::connection_health(
            &self.cfg,
            &self.dataplane,
            &self.tunnels_of,
            &self.liveness(),
            &self.weights,
            now,
        );
        let answer = match candidate {
            Some(plugin) => plugin.decide(&input)?,
            None => self.slots.failover.decide(&input).weights,
        };
        Ok(decisions::weights_by_tunnel(
            &self.tunnels_of,
            &answer,
            self.weights.len(),
        ))
    }

    /// The candidates the route selection may choose from: static routes,
    /// and, when route propagation is on, routes learned over tunnels whose
    /// probe is up (a failed probe withdraws them at once). The whole
    /// table, for dry runs; the loop itself works prefix by prefix.
    fn eligible_table(&self) -> Table {
        self.eligible(self.speaker.learned())
    }

    /// The table of static routes and those of `learned` that may be used.
    fn eligible(&self, learned: impl IntoIterator<Item = (IpNet, Candidate)>) -> Table {
        let usable = self.usable();
        let learned = learned.into_iter().filter(|(_, c)| {
            c.tunnel
                .is_some_and(|t| usable.get(t).copied().unwrap_or(false))
        });
        route_table::table(&self.cfg, learned)
    }

    /// Per tunnel: may its learned routes be used?
    fn usable(&self) -> Vec<bool> {
        let propagate = self.cfg.route_table.propagation;
        self.probes
            .iter()
            .map(|s| propagate && s.state() == State::Up)
            .collect()
    }

    /// Asks the route-selection slot which candidates of `table` to
    /// install, a chunk of prefixes per call.
    fn select_routes(&mut self, table: &Table) -> Vec<Installed> {
        let input = decisions::prefix_candidates(&self.cfg, &self.dataplane.tunnels, table);
        let mut answer = Vec::with_capacity(input.len());
        for chunk in input.chunks(loc_rib::SELECTION_CHUNK) {
            answer.extend(self.slots.selection.select(chunk).installed);
        }
        decisions::installed(table, &answer)
    }

    /// Selects queued prefixes (within `budget`, or all); returns the
    /// changes. The FIB is changed in place, published by [`Self::publish`].
    fn select_queued(&mut self, budget: Option<Duration>) -> Vec<RouteChange> {
        let usable = self.usable();
        let mut env = Env {
            cfg: &self.cfg,
            tunnels: &self.dataplane.tunnels,
            speaker: &self.speaker,
            selection: &mut self.slots.selection,
            usable: &usable,
        };
        self.rib.work(&mut env, budget)
    }

    /// Selects every prefix again now (a slot changed) and publishes;
    /// returns the changes as `[{prefix, from, to}]`.
    fn refresh_routes(&mut self) -> Vec<Value> {
        self.rib.mark_all(&self.speaker);
        let changes = self.select_queued(None);
        self.log_route_changes(&changes);
        self.publish(false);
        changes.iter().filter_map(|c| self.change_json(c)).collect()
    }

    fn change_json(&self, c: &RouteChange) -> Option<Value> {
        decisions::change_json(
            &self.cfg,
            &self.dataplane.tunnels,
            &c.prefix,
            c.before.as_deref(),
            c.after.as_deref(),
        )
    }

    /// Logs route changes one by one, up to a few per batch (a full feed
    /// changes a million), then how many more there were.
    fn log_route_changes(&self, changes: &[RouteChange]) {
        let mut logged = 0;
        for c in changes {
            if logged == ROUTE_CHANGES_LOGGED {
                break;
            }
            if let Some(change) = self.change_json(c) {
                info!(prefix = %change["prefix"], from = %change["from"], to = %change["to"], "route changed");
                logged += 1;
            }
        }
        if changes.len() > ROUTE_CHANGES_LOGGED {
            info!(
                changes = changes.len(),
                installed = self.rib.installed_len(),
                queued = self.rib.pending(),
                "routes changed (the first {ROUTE_CHANGES_LOGGED} logged)"
            );
        }
    }

    /// Marks the tunnels active or not and publishes the FIB if it changed
    /// (rate-limited while prefixes are queued), or at once with `force`.
    fn publish(&mut self, force: bool) {
        for (id, tunnel) in self.dataplane.tunnels.iter().enumerate() {
            tunnel.set_active(self.weights.get(id).is_some_and(|w| *w > 0));
        }
        self.rib
            .publish(&self.dataplane, self.kernel.as_ref(), force);
    }

    fn on_admin(&mut self, command: AdminCommand) -> Value {
        match command {
            AdminCommand::PluginList => json!({ "slots": self.slot_statuses() }),
            AdminCommand::Bgp => self.speaker.status(Instant::now()),
            AdminCommand::BgpRefresh { tunnel } => {
                let known: Vec<String> = self
                    .dataplane
                    .tunnels
                    .iter()
                    .filter(|t| {
                        self.cfg
                            .connections
                            .get(t.connection)
                            .is_some_and(|c| c.bgp.is_some())
                    })
                    .map(|t| t.inside_cidr.to_string())
                    .collect();
                if let Some(t) = tunnel.as_deref().filter(|t| !known.iter().any(|k| k == t)) {
                    return json!({ "error": format!(
                        "no BGP session runs over tunnel {t:?}; tunnels with one: {}",
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ) });
                }
                let refreshed =
                    self.speaker
                        .refresh(tunnel.as_deref(), Instant::now(), &mut self.slots.filter);
                json!({ "refreshed": refreshed })
            }
            AdminCommand::Routes => {
                route_view::routes(&self.cfg, &self.dataplane.tunnels, &self.speaker, &self.rib)
            }
            AdminCommand::PluginRemove { slot } => {
                let removed = match slot {
                    Slot::Failover => self.slots.failover.remove(),
                    Slot::RouteSelection => self.slots.selection.remove(),
                    Slot::BgpFilter => self.slots.filter.remove(),
                };
                info!(slot = %slot.world(), "plugin removed: the built-in default answers");
                let changes = self.apply(slot);
                json!({ "slot": slot.world(), "removed": removed.map(|p| p.info().name.clone()), "changes": changes })
            }
            AdminCommand::PluginSwap {
                plugin,
                dry_run,
                received,
            } => self.swap(*plugin, dry_run, received),
        }
    }

    fn swap(&mut self, mut plugin: Plugin, dry_run: bool, received: Instant) -> Value {
        let slot = plugin.slot();
        let name = format!("{} {}", plugin.info().name, plugin.info().version);
        if dry_run {
            let changes = match slot {
                Slot::Failover => match self.failover_weights(Instant::now(), Some(&mut plugin)) {
                    Ok(after) => {
                        json!({ "weights": decisions::weight_diff(&self.cfg, &self.dataplane.tunnels, &self.weights, &after) })
                    }
                    Err(fault) => {
                        return json!({ "error": format!("the plugin faulted on the current tunnel health: {fault}") })
                    }
                },
                Slot::RouteSelection => {
                    let table = self.eligible_table();
                    let input =
                        decisions::prefix_candidates(&self.cfg, &self.dataplane.tunnels, &table);
                    let mut answer = Vec::with_capacity(input.len());
                    for chunk in input.chunks(loc_rib::SELECTION_CHUNK) {
                        match plugin.select(chunk) {
                            Ok(part) => answer.extend(part),
                            Err(fault) => {
                                return json!({ "error": format!("the plugin faulted on the current routes: {fault}") })
                            }
                        }
                    }
                    let after = decisions::installed(&table, &answer);
                    json!({ "routes": decisions::route_diff(&self.cfg, &self.dataplane.tunnels, &self.rib.installed_list(), &after) })
                }
                Slot::BgpFilter => {
                    let learned = match self.speaker.learned_with(&mut plugin) {
                        Ok(learned) => learned,
                        Err(fault) => {
                            return json!({ "error": format!("the plugin faulted on the received routes: {fault}") })
                        }
                    };
                    let table = self.eligible(learned);
                    let after = self.select_routes(&table);
                    json!({ "routes": decisions::route_diff(&self.cfg, &self.dataplane.tunnels, &self.rib.installed_list(), &after) })
                }
            };
            return json!({ "slot": slot.world(), "plugin": name, "dry_run": true, "changes": changes });
        }
        let installed = match slot {
            Slot::Failover => self.slots.failover.install(plugin),
            Slot::RouteSelection => self.slots.selection.install(plugin),
            Slot::BgpFilter => self.slots.filter.install(plugin),
        };
        if let Err(e) = installed {
            return json!({ "error": e.to_string() });
        }
        let changes = self.apply(slot);
        let took = received.elapsed();
        info!(slot = %slot.world(), plugin = %name, took_ms = took.as_secs_f64() * 1e3, "plugin swapped in");
        json!({
            "slot": slot.world(),
            "plugin": name,
            "dry_run": false,
            "changes": changes,
            "swap_ms": took.as_secs_f64() * 1e3,
        })
    }

    /// Re-runs the slot that changed over the stored state and publishes the
    /// result; returns what changed.
    fn apply(&mut self, slot: Slot) -> Value {
        match slot {
            Slot::Failover => {
                let before = self.weights.clone();
                self.decide_weights(Instant::now(), true);
                json!({ "weights": decisions::weight_diff(&self.cfg, &self.dataplane.tunnels, &before, &self.weights) })
            }
            Slot::RouteSelection => json!({ "routes": self.refresh_routes() }),
            Slot::BgpFilter => {
                self.speaker
                    .refilter(Instant::now(), &mut self.slots.filter);
                json!({ "routes": self.refresh_routes() })
            }
        }
    }

    fn slot_statuses(&self) -> Vec<Value> {
        [
            self.slots.filter.status(),
            self.slots.selection.status(),
            self.slots.failover.status(),
        ]
        .iter()
        .map(slot_json)
        .collect()
    }
}

fn slot_json(s: &SlotStatus) -> Value {
    let plugin = s.plugin.as_ref();
    json!({
        "slot": s.slot.world(),
        "plugin": plugin.map_or("built-in default".to_string(), |p| p.name.clone()),
        "version": plugin.map(|p| p.version.clone()),
        "path": plugin.map(|p| p.path.display().to_string()),
        "calls": s.stats.calls,
        "faults": s.stats.faults,
        "quarantined": s.stats.quarantined,
        "mean_call_us": s.stats.mean_call_time().map(|d| d.as_secs_f64() * 1e6),
        "last_fault": s.stats.last_fault.as_ref().map(|f| f.to_string()),
    })
}

// The liveness module's state names, for status output.
pub fn liveness_name(state: bfd::State) -> &'static str {
    match state {
        State::AdminDown => "admin-down",
        State::Down => "down",
        State::Init => "init",
        State::Up => "up",
    }
}
