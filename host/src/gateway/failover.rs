//! The core's failover part: asks the failover slot for the tunnel weights
//! when a liveness changed (or on its tick), and moves the FIB's next hops
//! when a weight changed.

use std::time::Instant;

use tracing::info;

use super::{Action, Gateway};
use crate::api::TunnelEventKind;
use crate::policy::{Fault, Plugin};
use crate::routing::decisions;
use crate::topology::TunnelId;

impl Gateway {
    /// Asks the failover slot for the weights and publishes a new FIB when
    /// any weight changed (or when `force` is set).
    pub(super) fn decide_weights(&mut self, now: Instant, force: bool) {
        // The slot always answers (plugin, last good, or default).
        let Ok(mut weights) = self.failover_weights(now, None) else {
            return;
        };
        // A drained tunnel carries nothing, whatever the slot says.
        for (id, w) in weights.iter_mut().enumerate() {
            if self.drained(id) {
                *w = 0;
            }
        }
        let diff = decisions::weight_diff(&self.cfg, &self.tunnels, &self.weights, &weights);
        for change in &diff {
            info!(
                connection = %change.connection,
                tunnel = %change.tunnel,
                from = change.from,
                to = change.to,
                "tunnel weight changed{}",
                if change.to == 0 { " (standby)" } else { "" }
            );
        }
        if diff.is_empty() && !force {
            return;
        }
        let old_weights = std::mem::take(&mut self.weights);
        for (id, (old, new)) in old_weights.iter().zip(&weights).enumerate() {
            let (old, new) = (*old, *new);
            let retired = self.tunnels.get(id).is_none_or(|t| t.retired);
            if old > 0 && new == 0 && !retired {
                if let Some(n) = self.failovers.get_mut(id) {
                    *n += 1;
                }
            }
            if (old > 0) != (new > 0) && !retired {
                let (state, detail) = if new > 0 {
                    (
                        "active",
                        format!("weight {old} -> {new}: traffic moves onto it"),
                    )
                } else {
                    (
                        "standby",
                        format!("weight {old} -> {new}: traffic moves off it"),
                    )
                };
                self.tunnel_event(TunnelId(id), TunnelEventKind::Failover, state, &detail);
            }
            if force || old != new {
                self.actions.push_back(Action::Weight {
                    tunnel: TunnelId(id),
                    weight: new,
                });
            }
        }
        self.weights = weights;
        self.rib.set_weights(&self.weights, &self.tunnels);
        self.publish(now, true);
    }

    /// The failover weights for the current health, from the slot or, for a
    /// dry run, from `candidate` (whose fault is returned, not hidden).
    pub(super) fn failover_weights(
        &mut self,
        now: Instant,
        candidate: Option<&mut Plugin>,
    ) -> Result<Vec<u32>, Fault> {
        let input = decisions::connection_health(
            &self.cfg,
            &self.tunnels,
            &self.tunnels_of,
            &self.liveness(),
            &self.weights,
            now,
        );
        let answer = match candidate {
            Some(plugin) => plugin.decide(&input)?,
            None => self.slots.failover.decide(&input).weights,
        };
        let live_tunnels_of = self
            .cfg
            .connections
            .iter()
            .zip(&self.tunnels_of)
            .filter(|(c, _)| c.is_live())
            .map(|(_, ids)| ids);
        Ok(decisions::weights_by_tunnel(
            live_tunnels_of,
            &answer,
            self.weights.len(),
        ))
    }
}
