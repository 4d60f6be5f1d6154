//! Reload as a diff: `sitelink reload` (or SIGHUP) reads the config again,
//! the admin thread checks it whole, lines it up with the running one
//! ([`align`]) and compiles the plugins it changes, and the core compares
//! the two ([`plan`]) and applies the difference:
//!
//! - in place: static routes, the networks we advertise, max-prefix
//!   limits, failback hold, route propagation, plugins, liveness timers
//!   (BFD: a Poll Sequence), the BGP hold time offered at the next OPEN;
//!   the connection's tunnels, probes and BGP sessions keep running (uptime
//!   keeps counting);
//! - a connection added: its tunnels, probes and sessions start;
//! - a connection removed: its sessions say goodbye (Cease, peer
//!   de-configured; BFD AdminDown for the far side's detection time),
//!   its routes are withdrawn, its tunnels stop;
//! - a connection whose tunnels (inside addresses included), routing, liveness
//!   mode, BGP AS numbers or session addresses
//!   changed: replaced (removed and added again), so its tunnels restart.
//!
//! Ids never move: a removed connection keeps its place in the running
//! config, marked retired, until the gateway restarts; added ones come
//! after it. What cannot change without a restart (the TUN device,
//! endpoints, the gateway's key, AS number or router ID, kernel-route,
//! metrics and log settings) is refused, each with its reason, and then
//! nothing changes at all.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use tracing::info;

use super::{liveness, Action, Gateway, RequestId};
use crate::api::{ReloadResult, Response, TunnelEventKind};
use crate::config::{ConnectionConfig, GatewayConfig, PluginConfig};
use crate::liveness::bfd::State;
use crate::liveness::Probe;
use crate::policy::{Plugin, Slot};
use crate::topology::{self, TunnelId, TunnelInfo};

/// How long a removed connection's tunnels keep carrying what their
/// sessions still send (the Cease NOTIFICATION, the TCP close, BFD
/// AdminDown) before the data path retires them; longer when the far
/// side's BFD detection time is (AdminDown is said for that long, up to
/// [`MAX_RETIRE_GRACE`]).
pub const RETIRE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest a removed connection's BFD says AdminDown. RFC 5880 section
/// 6.8.16 asks for the far side's detection time, which its timers (and
/// ours: up to 10 s x 50) can make minutes; but one AdminDown that arrives
/// is enough (the far side's session is then Down for a reason, and a
/// Down session does not time out), and meanwhile a connection replacing
/// this one over the same tunnels stays silent: a few packets' worth.
pub const MAX_RETIRE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Why a reload lined up with an older running config is refused.
pub const STALE_BASE: &str = "the running config changed since this reload read it";

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

/// `+added -removed` between two prefix lists (set lookups: a list may
/// hold a hundred thousand networks).
fn prefix_diff(old: &[IpNet], new: &[IpNet]) -> Option<String> {
    let (old_set, new_set): (HashSet<&IpNet>, HashSet<&IpNet>) =
        (old.iter().collect(), new.iter().collect());
    let added: Vec<IpNet> = new
        .iter()
        .filter(|p| !old_set.contains(p))
        .copied()
        .collect();
    let removed: Vec<IpNet> = old
        .iter()
        .filter(|p| !new_set.contains(p))
        .copied()
        .collect();
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

/// Graceful restart settings, for a change line.
fn graceful(g: Option<crate::config::GracefulRestartLimits>) -> String {
    match g {
        None => "off".into(),
        Some(l) => format!(
            "on (max {} s, stale {} s)",
            l.max_restart.as_secs(),
            l.stale.as_secs()
        ),
    }
}

/// Whether `new` can take `old`'s place without restarting its tunnels:
/// the same tunnels (inside addresses included), routing, liveness mode and
/// BGP identity (AS numbers, who connects, the addresses sessions run
/// between).
fn same_shape(old: &ConnectionConfig, new: &ConnectionConfig) -> bool {
    let bgp_identity = |x: &ConnectionConfig| {
        x.bgp
            .as_ref()
            .map(|b| (b.local_asn, b.remote_asn, b.passive, b.session))
    };
    old.routing == new.routing
        && old.tunnels == new.tunnels
        && old.liveness.mode == new.liveness.mode
        && bgp_identity(old) == bgp_identity(new)
}

/// Lines the config read from the file up with the running one, so that
/// ids do not move: every running connection keeps its place (taken by
/// its new settings, or retired when it is gone or must be replaced), the
/// retired ones stay, and new connections come after.
pub fn align(running: &GatewayConfig, new: GatewayConfig) -> GatewayConfig {
    let mut fresh: Vec<Option<ConnectionConfig>> =
        new.connections.iter().cloned().map(Some).collect();
    let mut connections = Vec::with_capacity(running.connections.len() + fresh.len());
    for old in &running.connections {
        let successor = (old.is_live())
            .then(|| {
                fresh
                    .iter()
                    .position(|c| c.as_ref().is_some_and(|c| c.name == old.name))
            })
            .flatten()
            .filter(|i| {
                fresh
                    .get(*i)
                    .and_then(|c| c.as_ref())
                    .is_some_and(|c| same_shape(old, c))
            })
            .and_then(|i| fresh.get_mut(i).and_then(Option::take));
        connections.push(successor.unwrap_or_else(|| ConnectionConfig {
            retired: true,
            ..old.clone()
        }));
    }
    connections.extend(fresh.into_iter().flatten());
    let mut bgp = new.bgp.clone();
    // A router ID taken from the first tunnel stays what the sessions use.
    if bgp.router_id_derived && running.bgp.router_id_derived {
        bgp.router_id = running.bgp.router_id;
    }
    GatewayConfig {
        connections,
        bgp,
        ..new
    }
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
    restart("[bgp] asn or router_id", {
        let (a, b) = (&old.bgp, &new.bgp);
        a.asn != b.asn || a.router_id != b.router_id
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
    restart("[dataplane]", old.dataplane != new.dataplane);
    restart("[log]", old.log != new.log);
    let mut changes: Changes = Vec::new();
    let running = |name: &str| old.live_connection(name).is_some();
    let kept = |name: &str| new.live_connection(name).is_some();
    if new.connections.len() < old.connections.len()
        || old
            .connections
            .iter()
            .zip(&new.connections)
            .any(|(a, b)| a.name != b.name || (a.retired && !b.retired))
    {
        // `new` was not lined up with `old` (see `align`): a bug, not the
        // operator's.
        refused.push("the new config is not lined up with the running one".into());
    }
    for b in new
        .connections
        .get(old.connections.len()..)
        .unwrap_or_default()
    {
        if running(&b.name) {
            changes.push(format!(
                "connection {}: replaced (its tunnels, routing, liveness mode, BGP AS \
                 numbers or session addresses changed): its tunnels and sessions restart",
                b.name
            ));
        } else {
            changes.push(format!(
                "connection {}: added ({} tunnels, {}): its tunnels and sessions start",
                b.name,
                b.tunnels.len(),
                if b.bgp.is_some() { "BGP" } else { "static" }
            ));
        }
    }
    for (a, b) in old.connections.iter().zip(&new.connections) {
        let c = &a.name;
        if a.retired {
            continue;
        }
        if b.retired {
            if !kept(c) {
                changes.push(if a.bgp.is_some() {
                    format!(
                        "connection {c}: removed: its BGP sessions close (Cease, peer \
                         de-configured), its routes are withdrawn and its tunnels stop"
                    )
                } else {
                    format!("connection {c}: removed: its static routes are withdrawn and its tunnels stop")
                });
            }
            continue;
        }
        if let Some(d) = prefix_diff(&a.static_routes, &b.static_routes) {
            changes.push(format!("connection {c}: static routes {d}"));
        }
        if a.liveness != b.liveness {
            changes.push(format!(
                "connection {c}: liveness every {:?} x {} -> every {:?} x {} (BFD: \
                 announced in a Poll Sequence, in force once the peer answers)",
                a.liveness.interval,
                a.liveness.multiplier,
                b.liveness.interval,
                b.liveness.multiplier
            ));
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
        let gr = |x: &ConnectionConfig| x.bgp.as_ref().map(|b| b.graceful_restart);
        if let (Some(x), Some(y)) = (gr(a), gr(b)) {
            if x != y {
                changes.push(format!(
                    "connection {c}: graceful restart {} -> {}: offered when each session next \
                     opens",
                    graceful(x),
                    graceful(y)
                ));
            }
        }
    }
    if old.bgp.hold_time != new.bgp.hold_time {
        changes.push(format!(
            "[bgp] hold_time_s {} -> {}: offered when each session next opens (a running \
             session keeps the hold time it negotiated)",
            old.bgp.hold_time, new.bgp.hold_time
        ));
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

impl Gateway {
    /// New liveness timers of the connections that kept their place.
    fn apply_liveness(&mut self, old: &GatewayConfig, now: Instant) {
        for (id, (a, b)) in old
            .connections
            .iter()
            .zip(&self.cfg.connections)
            .enumerate()
        {
            if b.retired || a.liveness == b.liveness {
                continue;
            }
            let tunnels = self.tunnels_of.get(id).cloned().unwrap_or_default();
            for t in tunnels {
                if let Some(p) = self.probes.get_mut(t.index()) {
                    p.set_timers(b.liveness.interval, b.liveness.multiplier, now);
                }
            }
        }
    }

    /// Retires the tunnels of removed connections and starts those of
    /// added ones (the running config already says which).
    fn apply_connections(&mut self, now: Instant) {
        let tunnels = topology::tunnels(&self.cfg);
        let old_len = self.tunnels.len();
        let retired: Vec<TunnelId> = tunnels
            .iter()
            .zip(&self.tunnels)
            .filter(|(new, old)| new.retired && !old.retired)
            .map(|(t, _)| t.id)
            .collect();
        let added: Vec<TunnelId> = tunnels.iter().skip(old_len).map(|t| t.id).collect();
        if retired.is_empty() && added.is_empty() {
            return;
        }
        // The data path first: nothing may be sent over a tunnel it lacks.
        // Removed tunnels stay in it (and their inside /30s in the FIB) for
        // RETIRE_GRACE or the far side's BFD detection time (at most
        // MAX_RETIRE_GRACE), so that their sessions' goodbyes get through.
        self.actions.push_back(Action::Tunnels {
            cfg: self.cfg.clone(),
            added: added.clone(),
            retired: Vec::new(),
        });
        let mut grace = RETIRE_GRACE;
        for id in &retired {
            let i = id.index();
            // RFC 5880 section 6.8.16: a BFD session taken down
            // administratively sends AdminDown for at least the far side's
            // detection time before it goes silent, so the far side learns
            // the end was an administrative act (RFC 5882 section 3.2: no
            // reset of its BGP session for it) rather than timing out.
            // Echo has no such state: it stops at once.
            match self.probes.get_mut(i) {
                Some(Probe::Bfd(session)) => {
                    let _ = session.set_admin_down(true);
                    grace = grace.max(session.peer_detection_time().min(MAX_RETIRE_GRACE));
                }
                Some(p) => *p = Probe::Off,
                None => {}
            }
            if let Some(u) = self.up_since.get_mut(i) {
                *u = None;
            }
            if let Some(super::drain::Drain::Waiting { reply, .. }) =
                self.drains.get_mut(i).and_then(Option::take)
            {
                self.actions.push_back(Action::Reply {
                    id: reply,
                    reply: Response::error(
                        "drain stopped: a reload removed the tunnel's connection",
                    ),
                });
            }
            self.actions.push_back(Action::Liveness {
                tunnel: *id,
                state: State::AdminDown,
            });
            self.tunnel_event(
                *id,
                TunnelEventKind::Liveness,
                "removed",
                "the connection was removed from the config",
            );
        }
        if !retired.is_empty() {
            self.retiring.push((now + grace, retired.clone()));
        }
        let seed = self.settings.seed ^ (old_len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let fresh = tunnels.get(old_len..).unwrap_or_default();
        self.probes
            .extend(liveness::probes(&self.cfg, fresh, seed, now));
        let n = tunnels.len();
        self.probe_start.resize(n, now);
        self.probe_stats.resize(n, Default::default());
        self.up_since.resize(n, None);
        self.gr_held.resize(n, false);
        self.degraded.resize(n, false);
        self.handshake.resize(n, false);
        self.weights.resize(n, 0);
        self.failovers.resize(n, 0);
        self.drains.resize_with(n, || None);
        self.rx_packets.resize(n, 0);
        self.tunnels = tunnels;
        self.tunnels_of = crate::routing::table::tunnels_by_connection(&self.cfg);
        self.speaker
            .retire_tunnels(&retired, now, &mut self.slots.filter);
        let fresh = self.tunnels.get(old_len..).unwrap_or_default();
        self.speaker
            .add_tunnels(&self.cfg, fresh, now, &mut self.slots.filter);
        self.rib.set_tunnels(&self.still_carrying());
        info!(
            added = added.len(),
            retired = retired.len(),
            "tunnels changed by the reload"
        );
    }
}

impl Gateway {
    /// Whether tunnel `id` was removed by a reload and is in its grace.
    pub(super) fn is_retiring(&self, id: TunnelId) -> bool {
        self.retiring.iter().any(|(_, ids)| ids.contains(&id))
    }

    /// The tunnels as the Loc-RIB sees them: those in their grace still
    /// carry their inside /30s.
    fn still_carrying(&self) -> Vec<TunnelInfo> {
        let mut view = self.tunnels.clone();
        for t in &mut view {
            t.retired &= !self.is_retiring(t.id);
        }
        view
    }

    /// Retires the removed tunnels whose grace is over: their inside /30s
    /// leave the FIB, the data path drops them.
    pub(super) fn retire_due(&mut self, now: Instant) {
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.retiring = waiting;
        let retired: Vec<TunnelId> = due.into_iter().flat_map(|(_, ids)| ids).collect();
        if retired.is_empty() {
            return;
        }
        // Their AdminDown has been said for long enough: silence.
        for id in &retired {
            if let Some(p) = self.probes.get_mut(id.index()) {
                *p = Probe::Off;
            }
        }
        self.rib.set_tunnels(&self.still_carrying());
        self.actions.push_back(Action::Tunnels {
            cfg: self.cfg.clone(),
            added: Vec::new(),
            retired,
        });
        self.publish(now, true);
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
        base: &Arc<GatewayConfig>,
        new: Arc<GatewayConfig>,
        plugins: Vec<SlotChange>,
        dry_run: bool,
        now: Instant,
    ) {
        if !Arc::ptr_eq(base, &self.cfg) {
            let reply = Response::error(format!(
                "reload refused, nothing changed: {STALE_BASE}; an earlier reload was applied \
                 after this one read it\n  fix: reload again"
            ));
            self.actions.push_back(Action::Reply { id, reply });
            return;
        }
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
    /// [`plan`]) and queues what follows: connections removed and added,
    /// re-selection of changed static prefixes, the stored routes through
    /// the guard and filter again, our routes sent again, the weights asked
    /// again.
    fn apply_config(&mut self, new: Arc<GatewayConfig>, plugins: Vec<SlotChange>, now: Instant) {
        let propagation_changed = self.cfg.route_table.propagation != new.route_table.propagation;
        let old = std::mem::replace(&mut self.cfg, new);
        self.apply_connections(now);
        self.apply_liveness(&old, now);
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
            self.select_all_again();
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
            .replace(
                "[[endpoint]]\nname = \"az2\"",
                "[[endpoint]]\nname = \"az3\"",
            )
            .replace("endpoint = \"az2\"", "endpoint = \"az3\"");
        let new = align(&old, fx.parse(&text).expect("config"));
        let refused = plan(&old, &new).expect_err("refused");
        assert!(
            refused.iter().any(|r| r.starts_with("[tun] changed")),
            "{refused:?}"
        );
        assert!(
            refused
                .iter()
                .any(|r| r.starts_with("[[endpoint]] changed")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_renamed_connection_is_removed_and_added_with_new_ids() {
        let fx = Fixture::new();
        let old = parse(&fx, "");
        let text = fx.base().replace("name = \"office\"", "name = \"branch\"");
        let new = align(&old, fx.parse(&text).expect("config"));
        let names: Vec<(&str, bool)> = new
            .connections
            .iter()
            .map(|c| (c.name.as_str(), c.retired))
            .collect();
        assert_eq!(names, vec![("office", true), ("branch", false)]);
        let changes = plan(&old, &new).expect("applies");
        assert!(
            changes[0].starts_with("connection branch: added"),
            "{changes:?}"
        );
        assert!(
            changes[1].starts_with("connection office: removed"),
            "{changes:?}"
        );
        let ids: Vec<(usize, bool)> = topology::tunnels(&new)
            .iter()
            .map(|t| (t.id.index(), t.retired))
            .collect();
        assert_eq!(ids, vec![(0, true), (1, true), (2, false), (3, false)]);
        // Lining up again keeps the retired ones in place.
        let again = align(&new, fx.parse(&text).expect("config"));
        assert_eq!(again.connections.len(), 2);
        assert!(plan(&new, &again).expect("same").is_empty());
    }

    #[test]
    fn a_connection_whose_tunnels_changed_is_replaced() {
        let fx = Fixture::new();
        let old = parse(&fx, "");
        let text = fx.base().replace("198.18.10.2:51820", "198.18.10.3:51820");
        let new = align(&old, fx.parse(&text).expect("config"));
        assert_eq!(new.connections.len(), 2);
        let changes = plan(&old, &new).expect("applies");
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(
            changes[0].starts_with("connection office: replaced"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_tunnel_given_an_ipv6_inside_address_replaces_its_connection() {
        let fx = Fixture::new();
        let old = parse(&fx, "");
        let text = fx.base().replacen(
            "\"169.254.10.0/30\"",
            "\"169.254.10.0/30\"\ninside_ipv6_cidr = \"fd00:0:0:10::/126\"",
            1,
        );
        let new = align(&old, fx.parse(&text).expect("config"));
        let changes = plan(&old, &new).expect("applies");
        assert!(
            changes[0].starts_with("connection office: replaced"),
            "{changes:?}"
        );
    }
}
