//! The control thread: a small driver around the sans-IO gateway core. It
//! waits for probes (from the data path), BGP transport reports and admin
//! requests, or for the core's next timer; hands them to the core; and
//! carries out the core's actions: probes and handshakes through the data
//! path, FIB snapshots swapped in, kernel-route changes to their thread,
//! BGP transport actions, replies to the admin thread. It also drives
//! WireGuard's own timers, which are data-path maintenance, not decisions.
//!
//! Owns: the channels, the transport, the reply handles, the turn
//! statistics. Must not: decide anything (no routing, liveness or policy
//! logic: that is the core's), or block on anything but its queues.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{select, Receiver};
use tracing::warn;
use tun_rs::SyncDevice;

use super::metrics::Publisher;
use super::notify::{Heartbeat, Summary};
use super::transport::{Report, Transport};
use super::tunnel_log::TunnelLogWriter;
use super::turns::{Phase, TurnSplit, TurnStats};
use crate::bgp::transport::TransportAction;
use crate::config::GatewayConfig;
use crate::dataplane::io::{IoSink, ProbeReceived};
use crate::dataplane::kernel_routes::KernelRoutes;
use crate::dataplane::{Dataplane, SCRATCH_LEN};
use crate::gateway::{Action, AdminCommand, Budget, Event, Gateway, RequestId};
use crate::topology::TunnelId;

/// The input that woke the control loop.
enum First {
    Event(ControlEvent),
    Report(Report),
}

/// How often WireGuard's timers are driven.
const WIREGUARD_TICK: Duration = Duration::from_millis(100);
/// How often the handshake rate limiter forgets its count.
const RATE_LIMIT_RESET: Duration = Duration::from_secs(1);
/// Longest sleep, so that shutdown is noticed quickly.
const MAX_WAIT: Duration = Duration::from_millis(250);
/// Events queued for the control thread at most; beyond, probes are dropped.
pub const EVENT_QUEUE: usize = 1024;
/// BGP transport reports queued at most; beyond, the readers wait.
pub const BGP_QUEUE: usize = 256;
/// Events handled per turn, so a flood cannot starve the timers.
const EVENTS_PER_TURN: usize = 256;
/// A turn's work: BGP input (at most `BGP_TURN_BUDGET` of it), then the
/// core's route work with what is left, so that a busy turn takes about
/// this long (plus one chunk) and probes wait no longer.
const TURN_BUDGET: Duration = Duration::from_millis(20);
/// Longest the thread spends taking BGP input in one turn.
const BGP_TURN_BUDGET: Duration = Duration::from_millis(8);
/// Route work a turn gets at least, however long its BGP input took.
const MIN_ROUTE_BUDGET: Duration = Duration::from_millis(2);
/// Routes waiting for the filter or the selection beyond which no more BGP
/// input is read: UPDATEs wait in TCP (the peer is pushed back) rather than
/// in memory. About one read of a full-table feed (16 KiB of /24s), so that
/// the selection reads each route's Adj-RIB-In entry while it is still in
/// cache: at 16k routes it missed, the largest cost of an ingest (99% of
/// a million routes in 15% less time, BENCHMARKS-routes.md).
const ROUTE_BACKLOG: usize = 4 * 1024;
/// A turn longer than this is logged (probes wait meanwhile).
const SLOW_TURN: Duration = Duration::from_millis(100);

/// What reaches the control thread from other threads.
pub enum ControlEvent {
    /// A liveness probe received by the data path.
    Probe(ProbeReceived),
    /// A request from the admin socket; the answer goes back on `reply`.
    Admin(AdminRequest),
}

pub struct AdminRequest {
    pub command: AdminCommand,
    pub reply: Sender<crate::api::Response>,
}

/// The queues the control thread reads.
pub struct Queues {
    pub events: Receiver<ControlEvent>,
    pub bgp: Receiver<Report>,
}

pub struct Control {
    core: Gateway,
    dataplane: Arc<Dataplane>,
    tun: Arc<SyncDevice>,
    queues: Queues,
    transport: Transport,
    kernel: Option<KernelRoutes>,
    replies: HashMap<RequestId, Sender<crate::api::Response>>,
    next_request: u64,
    /// Per tunnel: a WireGuard session, as last told to the core.
    handshakes: Vec<bool>,
    turns: Arc<TurnStats>,
    /// Where the current turn's time goes (for the slow-turn warning).
    split: TurnSplit,
    scratch: Vec<u8>,
    /// systemd notifications (READY, STATUS, WATCHDOG); off by default.
    systemd: Heartbeat,
    /// Where tunnel events go (`[log] tunnel_log`).
    tunnel_log: TunnelLogWriter,
    /// The core's snapshot for the metrics thread; off by default.
    metrics: Option<Publisher>,
    /// The running config as the admin and metrics threads read it: the
    /// core's, published here before a turn's replies go out, so that a
    /// reload applied after its requester gave up is still the base of
    /// the next one.
    running: Option<Arc<ArcSwap<GatewayConfig>>>,
}

impl Control {
    pub fn new(
        core: Gateway,
        dataplane: Arc<Dataplane>,
        tun: Arc<SyncDevice>,
        queues: Queues,
        transport: Transport,
        kernel: Option<KernelRoutes>,
        turns: Arc<TurnStats>,
    ) -> Control {
        let n = dataplane.tunnels().len();
        Control {
            core,
            dataplane,
            tun,
            queues,
            transport,
            kernel,
            replies: HashMap::new(),
            next_request: 1,
            handshakes: vec![false; n],
            turns,
            split: TurnSplit::start(Instant::now()),
            scratch: vec![0u8; SCRATCH_LEN],
            systemd: Heartbeat::default(),
            tunnel_log: TunnelLogWriter::none(),
            metrics: None,
            running: None,
        }
    }

    /// Keeps `running` equal to the core's config (see the field).
    pub fn with_running(mut self, running: Arc<ArcSwap<GatewayConfig>>) -> Control {
        self.running = Some(running);
        self
    }

    /// Publishes the core's snapshot for the metrics thread, at most once a
    /// second (see `metrics`).
    pub fn with_metrics(mut self, publisher: Publisher) -> Control {
        self.metrics = Some(publisher);
        self
    }

    /// Writes the core's tunnel events to `log`.
    pub fn with_tunnel_log(mut self, log: TunnelLogWriter) -> Control {
        self.tunnel_log = log;
        self
    }

    /// Sends systemd's notifications from this loop (see `notify`).
    pub fn with_systemd(mut self, heartbeat: Heartbeat) -> Control {
        self.systemd = heartbeat;
        self
    }

    /// Runs until `shutdown` is set, then says goodbye to the BGP peers.
    pub fn run(mut self, shutdown: &AtomicBool) {
        let mut next_wg_tick = Instant::now() + WIREGUARD_TICK;
        let mut next_rl_reset = Instant::now() + RATE_LIMIT_RESET;
        self.execute(Instant::now());
        while !shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            let deadline = [
                self.core.poll_timeout(),
                next_wg_tick,
                next_rl_reset,
                now + MAX_WAIT,
                self.systemd.poll_timeout(now).unwrap_or(now + MAX_WAIT),
            ]
            .into_iter()
            .min()
            .unwrap_or(now + MAX_WAIT);
            let timeout = deadline.saturating_duration_since(now);
            let events = self.queues.events.clone();
            let bgp = self.queues.bgp.clone();
            let first = select! {
                recv(events) -> event => match event {
                    Ok(event) => Some(First::Event(event)),
                    Err(_) => break,
                },
                recv(bgp) -> report => report.ok().map(First::Report),
                default(timeout) => None,
            };
            // The turn, its budgets and the slow-turn warning count from
            // here: the first input is part of the turn (a session that
            // came up and exported its whole table in it went unseen).
            let turn = Instant::now();
            self.split = TurnSplit::start(turn);
            match first {
                Some(First::Event(event)) => self.on_event(event),
                Some(First::Report(report)) => {
                    self.on_report(report);
                    self.split.mark(Phase::BgpInput);
                }
                None => {}
            }
            for _ in 1..EVENTS_PER_TURN {
                match events.try_recv() {
                    Ok(more) => self.on_event(more),
                    Err(_) => break,
                }
            }
            self.split.mark(Phase::Inputs);
            // BGP input is bounded by time and by the routes waiting for
            // the filter and the selection.
            for _ in 1..EVENTS_PER_TURN {
                if turn.elapsed() >= BGP_TURN_BUDGET || self.core.backlog() >= ROUTE_BACKLOG {
                    break;
                }
                match bgp.try_recv() {
                    Ok(more) => self.on_report(more),
                    Err(_) => break,
                }
            }
            self.split.mark(Phase::BgpInput);
            self.observe_handshakes();
            self.report_traffic();
            self.split.mark(Phase::Observe);
            let now = Instant::now();
            let timers_ran = now >= self.core.poll_timeout();
            if timers_ran {
                // Probes go out before the route work, not after it.
                self.core.handle_timers(now);
                self.execute(now);
                self.split.mark(Phase::Timers);
                let left = TURN_BUDGET
                    .saturating_sub(turn.elapsed())
                    .max(MIN_ROUTE_BUDGET);
                self.core.work_within(
                    now,
                    Budget {
                        time: Some(left),
                        routes: usize::MAX,
                    },
                );
                self.split.mark(Phase::RouteWork);
            }
            self.execute(now);
            self.split.mark(Phase::Actions);
            if let Some(metrics) = &mut self.metrics {
                metrics.tick(Instant::now(), &self.core);
            }
            // WATCHDOG from this loop, so that a stuck loop gets restarted;
            // READY after the first turn whose timers ran (see `notify`).
            let (core, dp) = (&self.core, &self.dataplane);
            self.systemd.turn(Instant::now(), timers_ran, || {
                Summary::of(core, dp, Instant::now())
            });
            let now = Instant::now();
            let dp = self.dataplane.clone();
            if now >= next_wg_tick {
                let tun = self.tun.clone();
                let mut sink = IoSink {
                    dataplane: &dp,
                    tun: &tun,
                    probe: &|_: ProbeReceived| {},
                };
                dp.tick_timers(&mut sink);
                next_wg_tick = now + WIREGUARD_TICK;
            }
            if now >= next_rl_reset {
                dp.reset_rate_limiter();
                next_rl_reset = now + RATE_LIMIT_RESET;
            }
            self.split.mark(Phase::Housekeeping);
            self.end_turn(turn.elapsed());
        }
        self.core.stop(Instant::now());
        let wrote = self.execute(Instant::now());
        if wrote {
            // Give the writers a moment to put the NOTIFICATIONs on the wire.
            std::thread::sleep(Duration::from_millis(50));
        }
        self.transport.close_all();
    }

    /// Counts the turn in the histogram, and names where a slow one's time
    /// went.
    fn end_turn(&self, took: Duration) {
        self.turns.record(took);
        if took >= SLOW_TURN {
            let split = &self.split;
            warn!(
                total_ms = took.as_secs_f64() * 1e3,
                cpu_ms = split.cpu_ms().unwrap_or(f64::NAN),
                inputs_ms = split.ms(Phase::Inputs),
                admin = split.admin.unwrap_or("none"),
                bgp_ms = split.ms(Phase::BgpInput),
                bgp_reports = split.reports,
                observe_ms = split.ms(Phase::Observe),
                timers_ms = split.ms(Phase::Timers),
                route_work_ms = split.ms(Phase::RouteWork),
                actions_ms = split.ms(Phase::Actions),
                housekeeping_ms = split.ms(Phase::Housekeeping),
                "slow turn of the control loop: liveness probes waited"
            );
        }
    }

    fn on_event(&mut self, event: ControlEvent) {
        let now = Instant::now();
        match event {
            ControlEvent::Probe(p) => self.core.handle(
                Event::Probe {
                    tunnel: p.tunnel,
                    kind: p.kind,
                    payload: p.payload,
                    received: p.received,
                },
                now,
            ),
            ControlEvent::Admin(request) => {
                self.split.admin = Some(request.command.name());
                let id = RequestId(self.next_request);
                self.next_request += 1;
                self.replies.insert(id, request.reply);
                self.core.handle(
                    Event::Admin {
                        id,
                        command: request.command,
                    },
                    now,
                );
            }
        }
        self.execute(now);
    }

    fn on_report(&mut self, report: Report) {
        self.split.reports += 1;
        let event = self.transport.receive(report);
        let now = Instant::now();
        self.core.handle(Event::Transport(event), now);
        self.execute(now);
    }

    /// Hands the core the tunnels' receive counters while a drain waits
    /// for the far side's traffic to leave a tunnel.
    fn report_traffic(&mut self) {
        if !self.core.wants_traffic() {
            return;
        }
        let rx_packets = self
            .dataplane
            .tunnels()
            .iter()
            .map(|t| t.counters.rx_packets.load(Ordering::Relaxed))
            .collect();
        self.core
            .handle(Event::Traffic { rx_packets }, Instant::now());
    }

    /// Tells the core which tunnels gained or lost a WireGuard session.
    fn observe_handshakes(&mut self) {
        let now = Instant::now();
        let tunnels = self.dataplane.tunnels();
        for (id, known) in self.handshakes.iter_mut().enumerate() {
            let has = tunnels
                .live(TunnelId(id))
                .is_some_and(|t| t.handshake_age().is_some());
            if has != *known {
                *known = has;
                self.core.handle(
                    Event::Handshake {
                        tunnel: TunnelId(id),
                        established: has,
                    },
                    now,
                );
            }
        }
    }

    /// A reload added or removed connections: the data path gets the new
    /// tunnels (and the TUN device their inside addresses) and retires the
    /// removed ones.
    fn change_tunnels(
        &mut self,
        cfg: &crate::config::GatewayConfig,
        added: &[TunnelId],
        retired: &[TunnelId],
    ) {
        let dp = &self.dataplane;
        dp.retire_tunnels(retired);
        let first = dp.tunnels().len();
        if added.first().is_some_and(|id| id.index() != first) {
            warn!(
                first,
                "the core's new tunnel ids do not follow the data path's: not added"
            );
        } else if let Err(e) = dp.add_tunnels(super::tunnel_specs_on_routes(cfg, first)) {
            warn!(error = e, "new tunnels not added to the data path");
        }
        let tunnels = dp.tunnels();
        let in_use = |addr: std::net::IpAddr| {
            tunnels
                .iter()
                .filter(|t| !t.is_retired())
                .any(|t| t.inside_addresses().any(|(a, _)| a == addr))
        };
        for id in retired {
            let Some(t) = tunnels.get(id.index()) else {
                continue;
            };
            for (address, _) in t.inside_addresses().filter(|(a, _)| !in_use(*a)) {
                if let Err(e) = self.tun.remove_address(address) {
                    warn!(tunnel = %t.inside_cidr, %address, error = %e, "inside address not removed from the TUN device");
                }
            }
        }
        for id in added {
            let Some(t) = tunnels.live(*id) else {
                continue;
            };
            for (address, prefix_len) in t.inside_addresses() {
                if let Err(e) = crate::dataplane::tun::add_address(&self.tun, address, prefix_len) {
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        warn!(tunnel = %t.inside_cidr, %address, error = %e, "inside address not added to the TUN device");
                    }
                }
            }
        }
        self.handshakes.resize(tunnels.len(), false);
    }

    /// Carries out the core's actions (and what they lead to); true when a
    /// BGP write was among them.
    fn execute(&mut self, now: Instant) -> bool {
        if let Some(running) = &self.running {
            publish_running(running, self.core.config());
        }
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
        let mut wrote = false;
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::SendBfd { tunnel, packet } => {
                    dp.send_probe(tunnel, &packet, &mut self.scratch, &mut sink)
                }
                Action::SendEcho { tunnel, seq } => {
                    dp.send_echo(tunnel, seq, &mut self.scratch, &mut sink)
                }
                Action::InitiateHandshakes => dp.initiate_handshakes(&mut sink),
                Action::Tunnels {
                    cfg,
                    added,
                    retired,
                } => {
                    self.change_tunnels(&cfg, &added, &retired);
                    if cfg.role == crate::config::Role::Cgw {
                        for id in added {
                            dp.initiate_handshake(id, &mut sink);
                        }
                    }
                }
                Action::Liveness { tunnel, state } => {
                    if let Some(t) = dp.tunnels().live(tunnel) {
                        t.set_liveness(state);
                    }
                }
                Action::TunnelLog(event) => self.tunnel_log.write(&event),
                Action::ProbeStats { tunnel, stats } => {
                    if let Some(t) = dp.tunnels().live(tunnel) {
                        t.set_probe_stats(&stats);
                    }
                }
                Action::Drain { tunnel, state } => {
                    if let Some(t) = dp.tunnels().live(tunnel) {
                        t.set_drain(state);
                    }
                }
                Action::Weight { tunnel, weight } => {
                    if let Some(t) = dp.tunnels().live(tunnel) {
                        t.set_weight(weight);
                    }
                }
                Action::PublishFib(fib) => dp.fib.store_shared(fib),
                Action::KernelRoutes(changes) => {
                    if let Some(kernel) = &self.kernel {
                        kernel.apply(changes);
                    }
                }
                Action::Transport(action) => {
                    wrote |= matches!(action, TransportAction::Write { .. });
                    if let Some(event) = self.transport.execute(action) {
                        self.core.handle(Event::Transport(event), now);
                    }
                }
                Action::Reply { id, reply } => {
                    if let Some(tx) = self.replies.remove(&id) {
                        let _ = tx.send(reply);
                    }
                }
            }
        }
        wrote
    }
}

/// Stores `core` as the running config unless it is already.
fn publish_running(running: &ArcSwap<GatewayConfig>, core: &Arc<GatewayConfig>) {
    if !Arc::ptr_eq(&running.load(), core) {
        running.store(core.clone());
    }
}
