//! The control loop: the one thread that owns the liveness sessions and the
//! failover decisions, drives WireGuard's timers, and publishes a new FIB when
//! the set of active tunnels changes.
//!
//! It reacts to probes the data path hands over and to its own deadlines, and
//! logs every liveness and failover change. It never forwards user packets and
//! never blocks the data path: the FIB it publishes is swapped in atomically.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};
use tracing::{info, warn};
use tun_rs::SyncDevice;

use crate::config::{GatewayConfig, Role};
use crate::dataplane::fib::TunnelId;
use crate::dataplane::io::{IoSink, ProbeReceived};
use crate::dataplane::{Dataplane, SCRATCH_LEN};
use crate::liveness::bfd::{self, ControlPacket, Session, State, Transition};
use crate::liveness::failover::{ActiveStandby, TunnelHealth};
use crate::route_table;

/// How often WireGuard's timers are driven.
const WIREGUARD_TICK: Duration = Duration::from_millis(100);
/// How often the handshake rate limiter forgets its count.
const RATE_LIMIT_RESET: Duration = Duration::from_secs(1);
/// Longest sleep, so that shutdown is noticed quickly.
const MAX_WAIT: Duration = Duration::from_millis(250);
/// How long the VGW side waits for the customer gateway to initiate a
/// tunnel's handshake before it initiates itself. As in AWS, the customer
/// side starts; if both start at once, each refuses the other's response.
const VGW_INITIATE_AFTER: Duration = Duration::from_secs(2);

pub struct ControlLoop {
    cfg: Arc<GatewayConfig>,
    dataplane: Arc<Dataplane>,
    tun: Arc<SyncDevice>,
    probes_rx: Receiver<ProbeReceived>,
    /// The data path's sender, to build a sink (probes never loop back).
    probes_tx: Sender<ProbeReceived>,
    sessions: Vec<Session>,
    up_since: Vec<Option<Instant>>,
    tunnels_of: Vec<Vec<TunnelId>>,
    failover: Vec<ActiveStandby>,
    scratch: Vec<u8>,
}

impl ControlLoop {
    pub fn new(
        cfg: Arc<GatewayConfig>,
        dataplane: Arc<Dataplane>,
        tun: Arc<SyncDevice>,
        probes_tx: Sender<ProbeReceived>,
        probes_rx: Receiver<ProbeReceived>,
    ) -> ControlLoop {
        let now = Instant::now();
        let tunnels_of = route_table::tunnels_by_connection(&cfg);
        let mut sessions = Vec::with_capacity(dataplane.tunnels.len());
        for tunnel in &dataplane.tunnels {
            let liveness = cfg
                .connections
                .get(tunnel.connection)
                .map(|c| c.liveness)
                .unwrap_or_default();
            // Discriminators need only be unique per session on this host.
            let discr = (OsRng.next_u32() | 1).max(1);
            sessions.push(Session::new(
                discr,
                liveness.interval,
                liveness.multiplier,
                now,
                OsRng.next_u64(),
            ));
        }
        let failover = cfg
            .connections
            .iter()
            .map(|c| {
                let detection = c.liveness.interval * u32::from(c.liveness.multiplier);
                ActiveStandby::new(c.failback_hold, detection)
            })
            .collect();
        let up_since = vec![None; dataplane.tunnels.len()];
        let mut control = ControlLoop {
            cfg,
            dataplane,
            tun,
            probes_rx,
            probes_tx,
            sessions,
            up_since,
            tunnels_of,
            failover,
            scratch: vec![0u8; SCRATCH_LEN],
        };
        control.decide_failover(now, true);
        control
    }

    /// Runs until `shutdown` is set.
    pub fn run(mut self, shutdown: &AtomicBool) {
        let dp = self.dataplane.clone();
        let tun = self.tun.clone();
        let probes_tx = self.probes_tx.clone();
        let mut sink = IoSink {
            dataplane: &dp,
            tun: &tun,
            probes: &probes_tx,
        };
        let started = Instant::now();
        if self.cfg.role == Role::Cgw {
            dp.initiate_handshakes(&mut self.scratch, &mut sink);
        }
        let mut next_wg_tick = Instant::now() + WIREGUARD_TICK;
        let mut next_rl_reset = Instant::now() + RATE_LIMIT_RESET;

        while !shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            let deadline = self
                .sessions
                .iter()
                .map(Session::poll_timeout)
                .chain([next_wg_tick, next_rl_reset, now + MAX_WAIT])
                .min()
                .unwrap_or(now + MAX_WAIT);
            match self
                .probes_rx
                .recv_timeout(deadline.saturating_duration_since(now))
            {
                Ok(probe) => {
                    self.on_probe(probe, Instant::now());
                    while let Ok(more) = self.probes_rx.try_recv() {
                        self.on_probe(more, Instant::now());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }

            let now = Instant::now();
            for id in 0..self.sessions.len() {
                if let Some(t) = self.sessions[id].handle_timeout(now) {
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
                while let Some(packet) = self.sessions[id].poll_transmit(now) {
                    if may_send {
                        dp.send_probe(id, &packet.encode(), &mut self.scratch, &mut sink);
                    }
                }
            }
            self.decide_failover(now, false);
            if now >= next_wg_tick {
                dp.tick_timers(&mut self.scratch, &mut sink);
                next_wg_tick = now + WIREGUARD_TICK;
            }
            if now >= next_rl_reset {
                dp.reset_rate_limiter();
                next_rl_reset = now + RATE_LIMIT_RESET;
            }
        }
    }

    fn on_probe(&mut self, probe: ProbeReceived, now: Instant) {
        let Some(session) = self.sessions.get_mut(probe.tunnel) else {
            return;
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
        let connection = self
            .cfg
            .connections
            .get(tunnel.connection)
            .map(|c| c.name.as_str())
            .unwrap_or("?");
        info!(
            tunnel = %tunnel.inside_cidr,
            connection,
            from = ?t.from,
            to = ?t.to,
            diag = %t.diag,
            "tunnel liveness changed"
        );
        tunnel.set_liveness(t.to);
        if let Some(slot) = self.up_since.get_mut(id) {
            *slot = (t.to == State::Up).then_some(now);
        }
    }

    /// Re-runs each connection's failover decision and publishes a new FIB
    /// when any active tunnel changed (or when `force` is set).
    fn decide_failover(&mut self, now: Instant, force: bool) {
        let mut changed = force;
        let mut active = Vec::with_capacity(self.tunnels_of.len());
        for (c, ids) in self.tunnels_of.iter().enumerate() {
            let health: Vec<TunnelHealth> = ids
                .iter()
                .filter_map(|id| self.dataplane.tunnels.get(*id))
                .map(|t| TunnelHealth {
                    inside_cidr: t.inside_cidr,
                    up: self.sessions.get(t.id).map(Session::state) == Some(State::Up),
                    coming_up: self.sessions.get(t.id).map(Session::state) == Some(State::Init),
                    up_since: self.up_since.get(t.id).copied().flatten(),
                })
                .collect();
            let Some(failover) = self.failover.get_mut(c) else {
                continue;
            };
            let Some(decision) = failover.decide(&health, now) else {
                active.push(Vec::new());
                continue;
            };
            let chosen = ids.get(decision.active).copied();
            if decision.changed {
                changed = true;
                let name = self.cfg.connections.get(c).map(|c| c.name.as_str());
                let to = chosen.and_then(|id| self.dataplane.tunnels.get(id));
                info!(
                    connection = name.unwrap_or("?"),
                    active = ?to.map(|t| t.inside_cidr),
                    reason = %decision.reason,
                    "active tunnel changed"
                );
            }
            for id in ids {
                if let Some(t) = self.dataplane.tunnels.get(*id) {
                    t.set_active(Some(*id) == chosen);
                }
            }
            active.push(chosen.into_iter().collect());
        }
        if changed {
            let fib = route_table::build_fib(&self.cfg, &self.dataplane.tunnels, &active);
            self.dataplane.fib.store(fib);
        }
    }
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
