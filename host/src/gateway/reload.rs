//! Reload as a diff: `sitelink reload` (or SIGHUP) reads the config again,
//! the admin thread checks it whole and compiles the plugins it changes,
//! and the core compares it with the running one ([`plan`]) and applies
//! what changed in place: static routes, the networks we advertise,
//! max-prefix limits, failback hold, route propagation, plugins. Tunnels,
//! probes and BGP sessions keep running (their uptime keeps counting).
//! What cannot change in place is refused, each with its reason, and then
//! nothing changes at all.
//!
//! Not yet in place: adding or removing a VPN connection or a tunnel (the
//! data path's tunnel list is fixed at start), liveness timers, BGP AS
//! numbers and timers, endpoints, the TUN device, kernel-route settings,
//! metrics and log settings: a restart applies them.

use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use tracing::info;

use super::{Action, Gateway, RequestId};
use crate::api::{ReloadResult, Response};
use crate::config::{ConnectionConfig, GatewayConfig, PluginConfig};
use crate::policy::{Plugin, Slot};

/// A plugin slot's new plugin (`None`: back to the built-in default).
pub type SlotChange = (Slot, Option<Plugin>);

/// What a reload changes in place, for people.
pub type Changes = Vec<String>;

/// Why a reload is refused: one line per setting that needs a restart.
pub type Refusals = Vec<String>;

fn list(prefixes: &[IpNet]) -> String {
    let v: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    v.join(" ")
}

/// `+added -removed` between two prefix lists.
fn prefix_diff(old: &[IpNet], new: &[IpNet]) -> Option<String> {
    let added: Vec<IpNet> = new.iter().filter(|p| !old.contains(p)).copied().collect();
    let removed: Vec<IpNet> = old.iter().filter(|p| !new.contains(p)).copied().collect();
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("+ {}", list(&added)));
    }
    if !removed.is_empty() {
        parts.push(format!("- {}", list(&removed)));
    }
    Some(parts.join(", "))
}

/// The slots whose plugin (file or parameters) differs.
pub fn plugin_changes(
    old: &GatewayConfig,
    new: &GatewayConfig,
) -> Vec<(Slot, Option<PluginConfig>)> {
    let (o, n) = (&old.plugins, &new.plugins);
    [
        (Slot::Failover, &o.failover, &n.failover),
        (Slot::RouteSelection, &o.route_selection, &n.route_selection),
        (Slot::BgpFilter, &o.bgp_filter, &n.bgp_filter),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
    .map(|(slot, _, b)| (slot, b.clone()))
    .collect()
}

/// Compares the running config with `new`: the changes that apply in
/// place, or every reason why a restart is needed.
pub fn plan(old: &GatewayConfig, new: &GatewayConfig) -> Result<Changes, Refusals> {
    let mut refused: Refusals = Vec::new();
    let mut restart = |what: &str, differs: bool| {
        if differs {
            refused.push(format!("{what} changed: restart the gateway to apply it"));
        }
    };
    restart("[gateway] name", old.name != new.name);
    restart("[gateway] role", old.role != new.role);
    restart(
        "[gateway] private_key_file (the key)",
        old.public_key != new.public_key,
    );
    restart(
        "[gateway] admin_socket",
        old.admin_socket != new.admin_socket,
    );
    restart("[tun]", old.tun != new.tun);
    restart("[[endpoint]]", old.endpoints != new.endpoints);
    restart("[bgp] asn, router_id or hold_time_s", {
        let (a, b) = (&old.bgp, &new.bgp);
        a.asn != b.asn || a.router_id != b.router_id || a.hold_time != b.hold_time
    });
    restart("[route_table] kernel_routes or kernel_metric", {
        let (a, b) = (&old.route_table, &new.route_table);
        a.kernel_routes != b.kernel_routes || a.kernel_metric != b.kernel_metric
    });
    restart("[plugins] deadline, memory, max_faults or cache_dir", {
        let (a, b) = (&old.plugins, &new.plugins);
        a.deadline != b.deadline
            || a.memory_limit != b.memory_limit
            || a.max_faults != b.max_faults
            || a.cache_dir != b.cache_dir
    });
    restart("[metrics]", old.metrics != new.metrics);
    restart("[log]", old.log != new.log);
    let names = |c: &[ConnectionConfig]| c.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if names(&old.connections) != names(&new.connections) {
        refused.push(format!(
            "the VPN connections changed ({} -> {}): adding, removing or reordering a \
             connection at run time is not supported yet; restart the gateway to apply it",
            names(&old.connections).join(", "),
            names(&new.connections).join(", ")
        ));
    }
    let mut changes: Changes = Vec::new();
    for (a, b) in old.connections.iter().zip(&new.connections) {
        let c = &a.name;
        if a.routing != b.routing || a.tunnels != b.tunnels {
            refused.push(format!(
                "connection {c}: its routing or tunnels changed: restart the gateway to apply it"
            ));
        }
        if a.liveness != b.liveness {
            refused.push(format!(
                "connection {c}: liveness changed: restart the gateway to apply it"
            ));
        }
        let bgp_identity = |x: &ConnectionConfig| {
            x.bgp
                .as_ref()
                .map(|b| (b.local_asn, b.remote_asn, b.passive))
        };
        if bgp_identity(a) != bgp_identity(b) {
            refused.push(format!(
                "connection {c}: its BGP AS numbers or passive changed: restart the gateway to apply it"
            ));
        }
        if let Some(d) = prefix_diff(&a.static_routes, &b.static_routes) {
            changes.push(format!("connection {c}: static routes {d}"));
        }
        if a.failback_hold != b.failback_hold {
            changes.push(format!(
                "connection {c}: failback hold {:?} -> {:?}",
                a.failback_hold, b.failback_hold
            ));
        }
        let limits = |x: &ConnectionConfig| x.bgp.as_ref().map(|b| b.max_prefixes);
        if let (Some(x), Some(y)) = (limits(a), limits(b)) {
            if x != y {
                changes.push(format!(
                    "connection {c}: max_prefixes {} (warning {}) -> {} (warning {})",
                    x.limit, x.warning, y.limit, y.warning
                ));
            }
        }
    }
    if let Some(d) = prefix_diff(&old.bgp.networks, &new.bgp.networks) {
        changes.push(format!("[bgp] networks {d}"));
    }
    if old.route_table.propagation != new.route_table.propagation {
        changes.push(format!(
            "route propagation {} -> {}",
            on_off(old.route_table.propagation),
            on_off(new.route_table.propagation)
        ));
    }
    for (slot, plugin) in plugin_changes(old, new) {
        changes.push(match plugin {
            Some(p) => format!(
                "plugin {}: {} {:?}",
                slot.world(),
                p.path.display(),
                p.params
            ),
            None => format!("plugin {}: back to the built-in default", slot.world()),
        });
    }
    if refused.is_empty() {
        Ok(changes)
    } else {
        Err(refused)
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl Gateway {
    /// A reload to `new`, its changed slots' plugins compiled already.
    pub(super) fn on_reload(
        &mut self,
        id: RequestId,
        new: Arc<GatewayConfig>,
        plugins: Vec<SlotChange>,
        dry_run: bool,
        now: Instant,
    ) {
        let reply = match plan(&self.cfg, &new) {
            Err(refused) => Response::error(format!(
                "reload refused, nothing changed:\n  {}",
                refused.join("\n  ")
            )),
            Ok(changes) => {
                if !dry_run {
                    self.apply_config(new, plugins, now);
                    info!(
                        changes = changes.len(),
                        "config reloaded: {}",
                        changes.join("; ")
                    );
                }
                Response::from(ReloadResult {
                    dry_run,
                    applied: !dry_run,
                    changes,
                })
            }
        };
        self.actions.push_back(Action::Reply { id, reply });
    }

    /// Makes `new` the running config (its differences already checked by
    /// [`plan`]) and queues what follows: re-selection of changed static
    /// prefixes, the stored routes through the guard and filter again, our
    /// routes sent again, the weights asked again.
    fn apply_config(&mut self, new: Arc<GatewayConfig>, plugins: Vec<SlotChange>, now: Instant) {
        let propagation_changed = self.cfg.route_table.propagation != new.route_table.propagation;
        self.cfg = new;
        self.rib.set_statics(&self.cfg);
        let mut refilter = true;
        let mut reselect = propagation_changed;
        for (slot, plugin) in plugins {
            let installed = match (slot, plugin) {
                (Slot::Failover, Some(p)) => self.slots.failover.install(p).map(|_| ()),
                (Slot::RouteSelection, Some(p)) => self.slots.selection.install(p).map(|_| ()),
                (Slot::BgpFilter, Some(p)) => self.slots.filter.install(p).map(|_| ()),
                (Slot::Failover, None) => {
                    self.slots.failover.remove();
                    Ok(())
                }
                (Slot::RouteSelection, None) => {
                    self.slots.selection.remove();
                    Ok(())
                }
                (Slot::BgpFilter, None) => {
                    self.slots.filter.remove();
                    Ok(())
                }
            };
            if let Err(e) = installed {
                tracing::warn!(slot = %slot.world(), error = %e, "plugin not installed by the reload");
            }
            reselect |= slot == Slot::RouteSelection;
            refilter |= slot == Slot::BgpFilter;
        }
        if refilter {
            self.speaker
                .reconfigure(&self.cfg, now, &mut self.slots.filter);
        }
        if reselect {
            self.rib.mark_all(&self.speaker);
        }
        self.health_changed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::Fixture;

    fn parse(fx: &Fixture, extra: &str) -> GatewayConfig {
        fx.parse(&format!("{}{extra}", fx.base())).expect("config")
    }

    #[test]
    fn routes_networks_and_timers_change_in_place() {
        let fx = Fixture::new();
        let old = parse(&fx, "");
        let text = fx.base().replace(
            "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
            "static_routes = [\"10.1.0.0/24\", \"10.5.0.0/16\"]\nfailback_hold_ms = 5000",
        ) + "\n[bgp]\nnetworks = [\"10.2.0.0/24\"]\n";
        let new = fx.parse(&text).expect("new config");
        let changes = plan(&old, &new).expect("in place");
        assert!(
            changes.contains(
                &"connection office: static routes + 10.5.0.0/16, - fd00:1::/64".to_string()
            ),
            "{changes:?}"
        );
        assert!(changes
            .iter()
            .any(|c| c.starts_with("connection office: failback hold")));
        assert!(
            changes.contains(&"[bgp] networks + 10.2.0.0/24".to_string()),
            "{changes:?}"
        );
        assert!(plan(&old, &old).expect("same").is_empty(), "nothing to do");
    }

    #[test]
    fn what_needs_a_restart_is_refused_with_each_reason() {
        let fx = Fixture::new();
        let old = parse(&fx, "");
        let text = fx
            .base()
            .replace("mtu = 1420", "mtu = 1400")
            .replace("name = \"office\"", "name = \"branch\"");
        let refused = plan(&old, &fx.parse(&text).expect("config")).expect_err("refused");
        assert!(
            refused.iter().any(|r| r.starts_with("[tun] changed")),
            "{refused:?}"
        );
        assert!(
            refused
                .iter()
                .any(|r| r.contains("office -> branch") && r.contains("not supported yet")),
            "{refused:?}"
        );
    }
}
