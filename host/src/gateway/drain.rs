//! Planned drain: `sitelink tunnel drain CIDR` moves traffic off a tunnel
//! before maintenance with nothing lost, the far side first.
//!
//! - A static connection tells the far side in its BFD probe: the session
//!   goes AdminDown (RFC 5880 section 6.8.16), the far end sees its
//!   neighbour signal the session down, and both ends' failover moves to
//!   another tunnel at once. Echo probes cannot tell the far side, so a
//!   drain there is refused.
//! - A dynamic connection keeps its BGP session and probe up, and sends our
//!   routes over that tunnel again with our AS prepended and a worse MED:
//!   the peer moves its traffic to the other tunnels. Once nothing has
//!   arrived over the tunnel for [`QUIET`] (or after [`MOVE_WAIT`] at most),
//!   our own traffic leaves it too (weight 0). The driver feeds the
//!   tunnels' receive counters while a drain waits ([`Gateway::wants_traffic`]).
//!
//! `undrain` reverses it: the probe leaves AdminDown (and comes back up
//! through its handshake), or the routes go out as before and the weight is
//! the failover slot's again. The drain state shows in `status` and the
//! metrics.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{Action, Gateway, RequestId};
use crate::api::{self, DrainResult, Response};
use crate::config::LivenessMode;
use crate::dataplane::tunnel::DrainState;
use crate::liveness::Probe;
use crate::topology::TunnelId;

/// How long nothing (but at most [`QUIET_PACKETS`]) must arrive over a
/// draining tunnel before the peer counts as moved.
pub const QUIET: Duration = Duration::from_millis(500);
/// Packets that may still arrive in [`QUIET`] (a BGP keepalive, a straggler).
const QUIET_PACKETS: u64 = 2;
/// Longest wait for the peer to move; then the tunnel is drained anyway.
pub const MOVE_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting drain looks at the counters.
const SAMPLE: Duration = Duration::from_millis(50);

/// A tunnel's drain.
pub(super) enum Drain {
    /// Dynamic: waiting for the peer's traffic to leave the tunnel.
    Waiting {
        reply: RequestId,
        started: Instant,
        /// The receive counter at the start of the current quiet window.
        window: Option<(Instant, u64)>,
    },
    /// No traffic either way.
    Drained,
}

/// Answers a drain request that was still waiting when it was overtaken.
fn answer_waiting(gw: &mut Gateway, id: RequestId, why: &str) {
    gw.actions.push_back(Action::Reply {
        id,
        reply: Response::error(why),
    });
}

impl Gateway {
    /// Drains or undrains the tunnel named by its inside CIDR.
    pub(super) fn on_drain(&mut self, id: RequestId, tunnel: &str, drain: bool, now: Instant) {
        let Some(t) = self
            .tunnels
            .iter()
            .find(|t| !t.retired && t.inside_cidr.to_string() == tunnel)
            .cloned()
        else {
            let known: Vec<String> = self
                .tunnels
                .iter()
                .filter(|t| !t.retired)
                .map(|t| t.inside_cidr.to_string())
                .collect();
            let reply = Response::error(format!(
                "no tunnel {tunnel:?}; tunnels (by inside CIDR): {}",
                known.join(", ")
            ));
            self.actions.push_back(Action::Reply { id, reply });
            return;
        };
        let index = t.id.index();
        let Some(conn) = self.cfg.connections.get(t.connection.index()).cloned() else {
            return;
        };
        let dynamic = conn.bgp.is_some();
        let answer = |gw: &mut Gateway, state: api::Drain, detail: String| {
            let reply = Response::from(DrainResult {
                tunnel: t.inside_cidr.into(),
                connection: conn.name.clone(),
                drain: state,
                took_ms: 0.0,
                detail,
            });
            gw.actions.push_back(Action::Reply { id, reply });
        };
        let current = self.drains.get(index).and_then(Option::as_ref);
        match (drain, current, dynamic) {
            (true, Some(_), _) => {
                answer(self, self.drain_state(t.id), "already drained".into());
            }
            (false, None, _) => {
                answer(self, api::Drain::None, "not drained".into());
            }
            (true, None, false) => {
                if conn.liveness.mode != LivenessMode::Bfd {
                    let reply = Response::error(format!(
                        "tunnel {tunnel}: its connection probes with ICMP echo, which cannot tell the far side to move; draining would lose the far side's traffic\n  fix: use BFD liveness (liveness.mode = \"bfd\") on both ends"
                    ));
                    self.actions.push_back(Action::Reply { id, reply });
                    return;
                }
                self.set_admin_down(t.id, true, now);
                self.set_drain(t.id, Some(Drain::Drained));
                info!(tunnel = %t.inside_cidr, connection = %conn.name, "tunnel drained: BFD AdminDown tells the far side");
                answer(
                    self,
                    api::Drain::Drained,
                    "BFD AdminDown sent: both ends moved to the other tunnels".into(),
                );
            }
            (true, None, true) => {
                self.speaker
                    .set_drained(t.id, true, now, &mut self.slots.filter);
                self.set_drain(
                    t.id,
                    Some(Drain::Waiting {
                        reply: id,
                        started: now,
                        window: None,
                    }),
                );
                info!(tunnel = %t.inside_cidr, connection = %conn.name, "tunnel draining: our routes go out with a longer AS path and a worse MED over it");
            }
            (false, Some(_), dynamic) => {
                if let Some(Some(Drain::Waiting { reply, .. })) = self.drains.get(index) {
                    let waiting = *reply;
                    answer_waiting(self, waiting, "undrained before the peer had moved");
                }
                if dynamic {
                    self.speaker
                        .set_drained(t.id, false, now, &mut self.slots.filter);
                } else {
                    self.set_admin_down(t.id, false, now);
                }
                self.set_drain(t.id, None);
                info!(tunnel = %t.inside_cidr, connection = %conn.name, "tunnel undrained");
                answer(self, api::Drain::None, "undrained".into());
            }
        }
        self.health_changed = true;
    }

    /// Moves waiting drains on: drained once the peer's traffic has left.
    /// (The driver calls this through `handle_timeout`.)
    pub(super) fn drain_timeouts(&mut self, now: Instant) {
        for index in 0..self.drains.len() {
            let rx = self.rx_packets.get(index).copied().unwrap_or(0);
            let Some(Some(Drain::Waiting {
                reply,
                started,
                window,
            })) = self.drains.get_mut(index)
            else {
                continue;
            };
            let (reply, started) = (*reply, *started);
            // A window of QUIET with at most QUIET_PACKETS received: moved;
            // more: a new window starts.
            let moved = match *window {
                Some((since, at))
                    if now.saturating_duration_since(since) >= QUIET
                        && rx.saturating_sub(at) <= QUIET_PACKETS =>
                {
                    Some(true)
                }
                Some((since, _)) if now.saturating_duration_since(since) < QUIET => None,
                _ => {
                    *window = Some((now, rx));
                    None
                }
            };
            let timed_out = now.saturating_duration_since(started) >= MOVE_WAIT;
            let Some(moved) = moved.or(timed_out.then_some(false)) else {
                continue;
            };
            let id = TunnelId(index);
            self.set_drain(id, Some(Drain::Drained));
            self.health_changed = true;
            let Some(t) = self.tunnels.get(index).cloned() else {
                continue;
            };
            let connection = self.connection_name(t.connection).to_string();
            let detail = if moved {
                info!(tunnel = %t.inside_cidr, %connection, "tunnel drained: the peer moved its traffic");
                format!(
                    "the peer moved its traffic after {} ms; ours follows",
                    now.saturating_duration_since(started).as_millis()
                )
            } else {
                warn!(tunnel = %t.inside_cidr, %connection, "tunnel drained: the peer still sent over it after {MOVE_WAIT:?}");
                format!(
                    "the peer still sent over the tunnel after {} s (does it prefer shorter AS paths?); drained anyway",
                    MOVE_WAIT.as_secs()
                )
            };
            let answer = Response::from(DrainResult {
                tunnel: t.inside_cidr.into(),
                connection,
                drain: api::Drain::Drained,
                took_ms: now.saturating_duration_since(started).as_secs_f64() * 1e3,
                detail,
            });
            self.actions.push_back(Action::Reply {
                id: reply,
                reply: answer,
            });
        }
    }

    /// A drain waits for counters.
    pub fn wants_traffic(&self) -> bool {
        self.drains
            .iter()
            .any(|d| matches!(d, Some(Drain::Waiting { .. })))
    }

    /// When a waiting drain next looks at the counters.
    pub(super) fn drain_timeout(&self) -> Option<Instant> {
        self.wants_traffic().then(|| self.now + SAMPLE)
    }

    /// Whether the failover slot's weight for `tunnel` is overridden to 0.
    pub(super) fn drained(&self, tunnel: usize) -> bool {
        matches!(self.drains.get(tunnel), Some(Some(Drain::Drained)))
    }

    fn drain_state(&self, tunnel: TunnelId) -> api::Drain {
        match self.drains.get(tunnel.index()) {
            Some(Some(Drain::Waiting { .. })) => api::Drain::Draining,
            Some(Some(Drain::Drained)) => api::Drain::Drained,
            _ => api::Drain::None,
        }
    }

    fn set_drain(&mut self, tunnel: TunnelId, drain: Option<Drain>) {
        let state = match &drain {
            None => DrainState::None,
            Some(Drain::Waiting { .. }) => DrainState::Draining,
            Some(Drain::Drained) => DrainState::Drained,
        };
        if let Some(slot) = self.drains.get_mut(tunnel.index()) {
            *slot = drain;
        }
        let label = match state {
            DrainState::None => "none",
            DrainState::Draining => "draining",
            DrainState::Drained => "drained",
        };
        self.tunnel_event(
            tunnel,
            api::TunnelEventKind::Drain,
            label,
            "sitelink tunnel drain / undrain",
        );
        self.actions.push_back(Action::Drain { tunnel, state });
    }

    fn set_admin_down(&mut self, tunnel: TunnelId, down: bool, now: Instant) {
        let transition = match self.probes.get_mut(tunnel.index()) {
            Some(Probe::Bfd(session)) => session.set_admin_down(down),
            _ => None,
        };
        if let Some(t) = transition {
            self.on_transition(tunnel, t, now);
        }
    }
}
