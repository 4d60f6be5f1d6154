//! The core's liveness part: one probe per tunnel (BFD or ICMP echo, as its
//! connection says), fed the probes the data path received, run on timers,
//! and turned into transitions: a tunnel that goes down takes its learned
//! routes out of the candidates at once and resets its BGP session
//! (RFC 5882 section 4.3), unless the far side took its BFD session down
//! administratively (AdminDown, RFC 5882 sections 3.2 and 4.2: no control
//! protocol action). A tunnel a reload retires says AdminDown until it
//! is gone (`reload.rs`); a connection a reload puts over a retiring
//! tunnel's addresses probes only once that tunnel is gone.

use std::time::Instant;

use tracing::{info, warn};

use super::{Action, Gateway, VGW_INITIATE_AFTER};
use crate::config::{GatewayConfig, LivenessMode, Role};
use crate::dataplane::fib::TunnelId;
use crate::dataplane::ProbeKind;
use crate::liveness::bfd::{ControlPacket, Diag, Session, State, Transition};
use crate::liveness::echo::EchoSession;
use crate::liveness::Probe;
use crate::topology::TunnelInfo;

/// A small deterministic generator (splitmix64) for discriminators and
/// sequence numbers: the driver seeds it from the OS, tests with a constant.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A probe for every tunnel, of its connection's kind.
pub(super) fn probes(
    cfg: &GatewayConfig,
    tunnels: &[TunnelInfo],
    seed: u64,
    now: Instant,
) -> Vec<Probe> {
    let mut rng = SplitMix(seed);
    tunnels
        .iter()
        .map(|t| {
            if t.retired {
                return Probe::Off;
            }
            let liveness = cfg
                .connections
                .get(t.connection.index())
                .map(|c| c.liveness)
                .unwrap_or_default();
            match liveness.mode {
                // Discriminators need only be unique per session on this host.
                LivenessMode::Bfd => Probe::Bfd(Session::new(
                    (rng.next() as u32).max(1),
                    liveness.interval,
                    liveness.multiplier,
                    now,
                    rng.next(),
                )),
                LivenessMode::Echo => Probe::Echo(EchoSession::new(
                    liveness.interval,
                    liveness.multiplier,
                    now,
                    rng.next() as u16,
                )),
            }
        })
        .collect()
}

impl Gateway {
    pub(super) fn on_probe(
        &mut self,
        tunnel: TunnelId,
        kind: ProbeKind,
        payload: &[u8],
        received: Instant,
        now: Instant,
    ) {
        self.probe_received(tunnel, kind, payload, received, now);
        self.publish_probe_stats(tunnel, now);
    }

    /// Tells the driver what `tunnel`'s probe measured, if that changed,
    /// and whether that makes the tunnel degraded or healthy again.
    fn publish_probe_stats(&mut self, tunnel: TunnelId, now: Instant) {
        let Some(stats) = self.probes.get(tunnel.index()).map(Probe::stats) else {
            return;
        };
        if let Some(last) = self.probe_stats.get_mut(tunnel.index()) {
            if *last != stats {
                *last = stats;
                self.actions.push_back(Action::ProbeStats { tunnel, stats });
                self.judge_loss(tunnel, &stats, now);
            }
        }
    }

    /// A tunnel that loses [`crate::liveness::DEGRADED_LOST`] of its latest
    /// [`crate::liveness::DEGRADED_OF`] probe round trips counts as down for
    /// failover until [`crate::liveness::RECOVERED_AFTER`] in a row are
    /// answered; then it counts as up from that moment (so a failback hold
    /// runs from there).
    fn judge_loss(&mut self, tunnel: TunnelId, stats: &crate::liveness::ProbeStats, now: Instant) {
        let Some(was) = self.degraded.get(tunnel.index()).copied() else {
            return;
        };
        let is = stats.degraded(was);
        if is == was {
            return;
        }
        if let Some(d) = self.degraded.get_mut(tunnel.index()) {
            *d = is;
        }
        self.health_changed = true;
        if let Some(slot) = self.up_since.get_mut(tunnel.index()) {
            *slot = (!is && self.probes.get(tunnel.index()).map(Probe::state) == Some(State::Up))
                .then_some(now);
        }
        let lost = stats.lost_of_latest(crate::liveness::DEGRADED_OF);
        let (state, detail) = if is {
            (
                "degraded",
                format!(
                    "{lost} of its latest {} probe round trips lost: down for failover until {} in a row are answered",
                    crate::liveness::DEGRADED_OF,
                    crate::liveness::RECOVERED_AFTER
                ),
            )
        } else {
            (
                "recovered",
                format!(
                    "{} probe round trips in a row answered: up for failover again",
                    crate::liveness::RECOVERED_AFTER
                ),
            )
        };
        if let Some(t) = self.tunnels.get(tunnel.index()) {
            warn!(tunnel = %t.inside_cidr, connection = self.connection_name(t.connection), "{state}: {detail}");
        }
        self.tunnel_event(
            tunnel,
            crate::api::TunnelEventKind::Liveness,
            state,
            &detail,
        );
    }

    fn probe_received(
        &mut self,
        tunnel: TunnelId,
        kind: ProbeKind,
        payload: &[u8],
        received: Instant,
        now: Instant,
    ) {
        let session = match (self.probes.get_mut(tunnel.index()), kind) {
            (Some(Probe::Bfd(session)), ProbeKind::Bfd) => session,
            (Some(Probe::Echo(session)), ProbeKind::EchoReply { seq }) => {
                // Its round trip ends when the data path read it.
                if let Some(t) = session.handle_reply(seq, received, now) {
                    self.on_transition(tunnel, t, now);
                }
                return;
            }
            // A probe of the other kind than the tunnel runs: ignored.
            _ => return,
        };
        match ControlPacket::decode(payload) {
            Ok(packet) => {
                let transition = session.handle_received(&packet, received, now);
                if session.newly_capped() {
                    let cidr = self.tunnels.get(tunnel.index()).map(|t| t.inside_cidr);
                    warn!(
                        tunnel = ?cidr,
                        desired_min_tx_us = packet.desired_min_tx_us,
                        detect_mult = packet.detect_mult,
                        cap = ?session.max_detection_time(),
                        "the peer's BFD timers ask for a detection time beyond the local cap; the cap applies (fix: give the peer faster timers, or raise this connection's liveness interval or multiplier)"
                    );
                }
                if let Some(t) = transition {
                    self.on_transition(tunnel, t, now);
                }
            }
            Err(e) => {
                if let Some(dropped) = session.malformed(now) {
                    let cidr = self.tunnels.get(tunnel.index()).map(|t| t.inside_cidr);
                    warn!(
                        tunnel = ?cidr,
                        error = %e,
                        dropped,
                        "malformed liveness probes dropped (this tunnel warns at most once a minute; fix: check the far side's BFD, RFC 5880 version 1 without authentication)"
                    );
                }
            }
        }
    }

    /// Runs the probes' timers and sends what is due. A probe on a tunnel
    /// without a WireGuard session starts a handshake: the VGW leaves that
    /// to the customer gateway at first.
    pub(super) fn probe_timeouts(&mut self, now: Instant) {
        for id in 0..self.probes.len() {
            let settled = self
                .probe_start
                .get(id)
                .is_none_or(|s| now.saturating_duration_since(*s) >= VGW_INITIATE_AFTER);
            if let Some(t) = self.probes.get_mut(id).and_then(|p| p.handle_timeout(now)) {
                self.on_transition(TunnelId(id), t, now);
            }
            let may_send = (self.cfg.role == Role::Cgw
                || settled
                || self.handshake.get(id).copied().unwrap_or(false))
                && !self.replaces_retiring(id);
            match self.probes.get_mut(id) {
                Some(Probe::Bfd(session)) => {
                    while let Some(packet) = session.poll_transmit(now) {
                        if may_send {
                            self.actions.push_back(Action::SendBfd {
                                tunnel: TunnelId(id),
                                packet: packet.encode().to_vec(),
                            });
                        }
                    }
                }
                Some(Probe::Echo(session)) => {
                    while let Some(seq) = session.poll_transmit(now) {
                        if may_send {
                            self.actions.push_back(Action::SendEcho {
                                tunnel: TunnelId(id),
                                seq,
                            });
                        }
                    }
                }
                Some(Probe::Off) | None => {}
            }
            self.publish_probe_stats(TunnelId(id), now);
        }
    }

    pub(super) fn on_transition(&mut self, id: TunnelId, t: Transition, now: Instant) {
        // Held by a BGP peer's graceful restart: shown as it is, counted as
        // up until the restart ends.
        let was_held = self.gr_held.get(id.index()).copied().unwrap_or(false);
        let held = (was_held && t.to != State::Up) || self.hold_for_restart(id, t);
        if let Some(h) = self.gr_held.get_mut(id.index()) {
            *h = held;
        }
        let Some(tunnel) = self.tunnels.get(id.index()) else {
            return;
        };
        let inside = tunnel.inside_cidr;
        let why = if held {
            "tunnel liveness changed while the BGP peer restarts gracefully: its BFD shares \
             fate with its control plane (C bit clear), so the tunnel still counts as up until \
             the restart ends (RFC 5882 section 4.3.2)"
        } else {
            "tunnel liveness changed"
        };
        info!(
            tunnel = %tunnel.inside_cidr,
            connection = self.connection_name(tunnel.connection),
            from = ?t.from,
            to = ?t.to,
            diag = %t.diag,
            "{why}"
        );
        self.actions.push_back(Action::Liveness {
            tunnel: id,
            state: t.to,
        });
        if held {
            return;
        }
        let state = crate::api::Liveness::from(t.to).as_str();
        let detail = t.diag.to_string();
        self.tunnel_event(id, crate::api::TunnelEventKind::Liveness, state, &detail);
        self.health_changed = true;
        // Routes learned over a tunnel count only while its probe is up.
        self.speaker.reselect_over(id);
        if t.from == State::Up {
            if self.neighbor_admin_down(id) {
                // An administrative act, not a path failure: the far
                // side's own Cease, its probe's return or the hold timer
                // decides the BGP session; routes over the tunnel leave
                // the selection meanwhile (for traffic, AdminDown counts
                // as down, as in a drain).
                info!(
                    tunnel = %inside,
                    "the far side took the tunnel's BFD session down administratively \
                     (AdminDown): no traffic over it until it is back up, and its BGP session \
                     is kept (RFC 5882 sections 3.2 and 4.2)"
                );
            } else {
                self.speaker.tunnel_down(id, now, &mut self.slots.filter);
            }
        }
        if let Some(slot) = self.up_since.get_mut(id.index()) {
            *slot = (t.to == State::Up).then_some(now);
        }
    }

    /// Whether tunnel `id` takes over the inside addresses of a tunnel a
    /// reload is retiring (a connection replaced by one over the same
    /// tunnels): its probe stays silent until that one is gone. The far
    /// side's BFD session, still up with the old one, would take a new
    /// session's first packet (Down) for the end of its own and reset the
    /// BGP session over it before the old session's goodbye (a Cease sent
    /// by the reload) arrives.
    fn replaces_retiring(&self, id: usize) -> bool {
        // A retiring tunnel says its AdminDown whatever else shares its
        // addresses (a connection removed, added back and removed again
        // within the grace).
        if self.retiring.is_empty() || self.is_retiring(TunnelId(id)) {
            return false;
        }
        let Some(inside) = self.tunnels.get(id).map(|t| t.inside_cidr) else {
            return false;
        };
        self.retiring
            .iter()
            .flat_map(|(_, ids)| ids)
            .filter_map(|old| self.tunnels.get(old.index()))
            .any(|old| old.inside_cidr == inside)
    }

    /// Whether `id`'s probe went down because the far side said AdminDown.
    fn neighbor_admin_down(&self, id: TunnelId) -> bool {
        matches!(
            self.probes.get(id.index()),
            Some(Probe::Bfd(session)) if session.remote_admin_down()
        )
    }

    /// Whether transition `t` of `id`'s probe is a BFD detection timeout
    /// caused by the graceful restart of the BGP peer over it: the peer's
    /// BFD shares fate with its control plane (C bit clear in its packets)
    /// and its restart is under way (its session closed first; a path
    /// failure times out BFD while the session still stands, and fails
    /// over). RFC 5882 section 4.3.2.
    fn hold_for_restart(&self, id: TunnelId, t: Transition) -> bool {
        let shares_fate = matches!(
            self.probes.get(id.index()),
            Some(Probe::Bfd(session)) if session.remote_shares_fate()
        );
        t.from == State::Up
            && t.to == State::Down
            && t.diag == Diag::ControlDetectionTimeExpired
            && shares_fate
            && self.speaker.restarting_over(id)
    }

    /// Releases the tunnels held up by a peer's graceful restart once that
    /// restart has ended (End-of-RIB, its timers) with BFD still not up:
    /// what the timeout would have done happens now.
    pub(super) fn release_restart_holds(&mut self, now: Instant) {
        for i in 0..self.gr_held.len() {
            let id = TunnelId(i);
            if !self.gr_held[i] || self.speaker.restarting_over(id) {
                continue;
            }
            self.gr_held[i] = false;
            let state = self.probes.get(i).map_or(State::Down, Probe::state);
            if state == State::Up {
                continue;
            }
            if let Some(tunnel) = self.tunnels.get(i) {
                info!(
                    tunnel = %tunnel.inside_cidr,
                    connection = self.connection_name(tunnel.connection),
                    "the BGP peer's graceful restart ended with its BFD still down: tunnel down"
                );
            }
            self.health_changed = true;
            self.speaker.reselect_over(id);
            self.speaker.tunnel_down(id, now, &mut self.slots.filter);
            if let Some(slot) = self.up_since.get_mut(i) {
                *slot = None;
            }
        }
    }

    /// What the control plane knows of each tunnel's liveness (a tunnel
    /// held up by a peer's graceful restart counts as up).
    pub(super) fn liveness(&self) -> Vec<crate::routing::decisions::Liveness> {
        self.probes
            .iter()
            .zip(&self.up_since)
            .zip(&self.gr_held)
            .zip(&self.degraded)
            .map(|(((s, up_since), held), degraded)| {
                let state = match (*held, s.state()) {
                    (true, _) => State::Up,
                    // Degraded: as a tunnel coming up, not one to use.
                    (false, State::Up) if *degraded => State::Init,
                    (false, state) => state,
                };
                crate::routing::decisions::Liveness {
                    state,
                    up_since: *up_since,
                }
            })
            .collect()
    }
}
