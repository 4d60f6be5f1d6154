//! The Loc-RIB (RFC 4271 section 3.2): the routes the route selection
//! installed, per prefix, and the FIB they compile into, kept current
//! incrementally. Prefixes whose candidates may have changed (from the
//! speaker's UPDATEs, a liveness change, a plugin swap) are queued and
//! worked off in chunks, under a time budget per turn of the control loop:
//! a million-route feed never stalls the loop (liveness probes run between
//! turns), and each route-selection call carries one bounded batch.
//!
//! The FIB is changed in place, route by route, and published as a shared
//! snapshot; it is copied only when it changes while the data path still
//! holds the last one, and published at most every [`PUBLISH_INTERVAL`]
//! while work is queued. Next hops are shared by every route with the same
//! installed set (there are few such sets), as BIRD shares attribute sets.
//!
//! This module calls the selection slot it is handed and reads the
//! speaker's candidates; it neither owns them nor logs route changes (the
//! control loop does).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::decisions;
use super::speaker::Speaker;
use crate::config::GatewayConfig;
use crate::dataplane::fib::{ConnectionId, Fib, NextHop, PrefixIds};
use crate::dataplane::kernel_routes::KernelRoutes;
use crate::dataplane::tunnel::Tunnel;
use crate::dataplane::Dataplane;
use crate::policy::SelectionSlot;
use crate::route_table::{self, Candidate, Installed, Table, Via};

/// Prefixes per route-selection call: small enough for a plugin's deadline
/// and memory cap, large enough that the call overhead does not matter.
pub const SELECTION_CHUNK: usize = 1024;
/// Shortest time between two FIB snapshots while work is queued (the last
/// change is always published as soon as the queue is empty).
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(250);

/// An installed set, shared by every prefix installed over it.
pub type Vias = Arc<[Via]>;

/// One prefix whose installed set changed (`None`: not installed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChange {
    pub prefix: IpNet,
    pub before: Option<Vias>,
    pub after: Option<Vias>,
}

/// What a chunk of work needs from the rest of the gateway.
pub struct Env<'a> {
    pub cfg: &'a GatewayConfig,
    pub tunnels: &'a [Tunnel],
    pub speaker: &'a Speaker,
    pub selection: &'a mut SelectionSlot,
    /// Per tunnel id: may the routes learned over it be used (route
    /// propagation on and its liveness probe up)?
    pub usable: &'a [bool],
}

/// The installed routes, the queue of prefixes to look at again, and the FIB.
pub struct LocRib {
    /// Static routes: the connections that have each, in config order.
    statics: BTreeMap<IpNet, Vec<ConnectionId>>,
    /// Each tunnel's inside /30, always over that tunnel alone.
    tunnel_routes: Vec<(IpNet, NextHop)>,
    /// Prefix -> the id of its installed set.
    installed: PrefixIds,
    /// Every installed set in use or seen (few: one per combination), by id.
    via_sets: Vec<Vias>,
    via_ids: HashMap<Vias, u32>,
    /// The next hop of each installed set under `weights`, by id.
    hops: Vec<Option<NextHop>>,
    /// Prefixes to select again (a prefix may be queued twice: the second
    /// look finds nothing to change).
    pending: Vec<IpNet>,
    weights: Vec<u32>,
    fib: Arc<Fib>,
    fib_changed: bool,
    published: Option<Instant>,
}

impl LocRib {
    /// The static routes of `cfg` queued, and a FIB holding the tunnels'
    /// inside addresses.
    pub fn new(cfg: &GatewayConfig, tunnels: &[Tunnel]) -> LocRib {
        let mut statics: BTreeMap<IpNet, Vec<ConnectionId>> = BTreeMap::new();
        for (connection, conn) in cfg.connections.iter().enumerate() {
            for prefix in &conn.static_routes {
                statics.entry(*prefix).or_default().push(connection);
            }
        }
        let tunnel_routes: Vec<(IpNet, NextHop)> = tunnels
            .iter()
            .map(|t| {
                (
                    IpNet::V4(t.inside_cidr),
                    NextHop::over(t.connection, &[t.id]),
                )
            })
            .collect();
        let mut fib = Fib::default();
        for (prefix, hop) in &tunnel_routes {
            fib.insert(*prefix, hop.clone());
        }
        LocRib {
            pending: statics.keys().copied().collect(),
            statics,
            tunnel_routes,
            installed: PrefixIds::default(),
            via_sets: Vec::new(),
            via_ids: HashMap::new(),
            hops: Vec::new(),
            weights: Vec::new(),
            fib: Arc::new(fib),
            fib_changed: true,
            published: None,
        }
    }

    /// Queues `prefixes` to be selected again.
    pub fn mark(&mut self, prefixes: impl IntoIterator<Item = IpNet>) {
        self.pending.extend(prefixes);
    }

    /// Queues every prefix with a candidate or a route (a selection plugin
    /// was swapped, or the filter re-ran).
    pub fn mark_all(&mut self, speaker: &Speaker) {
        let all: Vec<IpNet> = self
            .statics
            .keys()
            .copied()
            .chain(self.installed.iter().map(|(p, _)| p))
            .chain(speaker.accepted_prefixes())
            .collect();
        self.pending.extend(all);
    }

    /// Prefixes waiting to be selected again.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Selects queued prefixes, a chunk at a time, until the queue is empty
    /// or `budget` is spent (`None`: until empty). Returns what changed.
    pub fn work(&mut self, env: &mut Env, budget: Option<Duration>) -> Vec<RouteChange> {
        let started = Instant::now();
        let mut changes = Vec::new();
        while !self.pending.is_empty() {
            if budget.is_some_and(|b| started.elapsed() >= b) {
                break;
            }
            let at = self.pending.len().saturating_sub(SELECTION_CHUNK);
            let chunk = self.pending.split_off(at);
            self.select_chunk(&chunk, env, &mut changes);
        }
        changes
    }

    fn select_chunk(&mut self, chunk: &[IpNet], env: &mut Env, changes: &mut Vec<RouteChange>) {
        let mut table: Table = Vec::with_capacity(chunk.len());
        let mut gone: Vec<IpNet> = Vec::new();
        let usable = |t: usize| env.usable.get(t).copied().unwrap_or(false);
        for prefix in chunk {
            let statics = self.statics.get(prefix).map(Vec::as_slice).unwrap_or(&[]);
            let mut candidates: Vec<Candidate> = statics
                .iter()
                .map(|c| Candidate {
                    connection: *c,
                    tunnel: None,
                    attrs: None,
                })
                .collect();
            env.speaker.candidates_for(prefix, usable, &mut candidates);
            if !self.is_tunnel_route(prefix) {
                let mut sources = statics.to_vec();
                env.speaker.connections_for(prefix, &mut sources);
                if self.fib.sources_of(prefix).unwrap_or(&[]) != sources.as_slice() {
                    Arc::make_mut(&mut self.fib).set_sources(prefix, &sources);
                    self.fib_changed = true;
                }
            }
            if candidates.is_empty() {
                gone.push(*prefix);
            } else {
                table.push((*prefix, candidates));
            }
        }
        let input = decisions::prefix_candidates(env.cfg, env.tunnels, &table);
        let answer = env.selection.select(&input).installed;
        let mut rows = decisions::installed(&table, &answer).into_iter().peekable();
        for (prefix, _) in &table {
            let after = rows.next_if(|r| r.prefix == *prefix).map(|r| r.via);
            self.set(*prefix, after, env.tunnels, changes);
        }
        for prefix in gone {
            self.set(prefix, None, env.tunnels, changes);
        }
    }

    fn is_tunnel_route(&self, prefix: &IpNet) -> bool {
        self.tunnel_routes.iter().any(|(p, _)| p == prefix)
    }

    /// Installs `prefix` over `after` (or uninstalls it) if that changes it.
    fn set(
        &mut self,
        prefix: IpNet,
        after: Option<Vec<Via>>,
        tunnels: &[Tunnel],
        changes: &mut Vec<RouteChange>,
    ) {
        let before = self.installed.get(&prefix);
        if before
            .and_then(|id| self.via_sets.get(id as usize))
            .map(|v| &v[..])
            == after.as_deref()
        {
            return;
        }
        let after = after.map(|v| self.intern(v));
        match after {
            Some(id) => self.installed.insert(&prefix, id),
            None => self.installed.remove(&prefix),
        };
        self.fib_route(prefix, after, tunnels);
        let set = |id: Option<u32>| id.and_then(|id| self.via_sets.get(id as usize)).cloned();
        changes.push(RouteChange {
            prefix,
            before: set(before),
            after: set(after),
        });
    }

    fn intern(&mut self, via: Vec<Via>) -> u32 {
        if let Some(id) = self.via_ids.get(via.as_slice()) {
            return *id;
        }
        let id = u32::try_from(self.via_sets.len()).unwrap_or(u32::MAX);
        let v: Vias = via.into();
        self.via_sets.push(v.clone());
        self.via_ids.insert(v, id);
        id
    }

    /// Puts `prefix` over `via` in the FIB (or takes it out). A tunnel's
    /// inside /30 always goes over that tunnel alone.
    fn fib_route(&mut self, prefix: IpNet, via: Option<u32>, tunnels: &[Tunnel]) {
        let fib = Arc::make_mut(&mut self.fib);
        self.fib_changed = true;
        if let Some((_, hop)) = self.tunnel_routes.iter().find(|(p, _)| *p == prefix) {
            fib.insert(prefix, hop.clone());
            return;
        }
        let Some(id) = via else {
            fib.remove(&prefix);
            return;
        };
        let (Some(via), index) = (self.via_sets.get(id as usize), id as usize) else {
            return;
        };
        if self.hops.len() <= index {
            self.hops.resize(index + 1, None);
        }
        let Some(slot) = self.hops.get_mut(index) else {
            return;
        };
        let hop = slot.get_or_insert_with(|| route_table::next_hop(via, tunnels, &self.weights));
        if !fib.insert_ref(prefix, hop) {
            // No tunnel of the set has a weight: nothing to forward over.
            fib.remove(&prefix);
        }
    }

    /// New tunnel weights: every installed route's next hop is computed
    /// again. False when they did not change.
    pub fn set_weights(&mut self, weights: &[u32], tunnels: &[Tunnel]) -> bool {
        if self.weights == weights {
            return false;
        }
        self.weights = weights.to_vec();
        self.hops.clear();
        let installed = std::mem::take(&mut self.installed);
        for (prefix, id) in installed.iter() {
            self.fib_route(prefix, Some(id), tunnels);
        }
        self.installed = installed;
        true
    }

    /// Publishes the FIB (and the kernel's routes) if it changed, or if
    /// `force`: at once when no work is queued, else at most every
    /// [`PUBLISH_INTERVAL`]. True when published.
    pub fn publish(&mut self, dp: &Dataplane, kernel: Option<&KernelRoutes>, force: bool) -> bool {
        let due = self.pending.is_empty()
            || self
                .published
                .is_none_or(|t| t.elapsed() >= PUBLISH_INTERVAL);
        if !(force || (self.fib_changed && due)) {
            return false;
        }
        dp.fib.store_shared(self.fib.clone());
        if let Some(kernel) = kernel {
            kernel.set(self.installed_prefixes());
        }
        self.fib_changed = false;
        self.published = Some(Instant::now());
        true
    }

    /// Where `prefix` is installed.
    pub fn selected(&self, prefix: &IpNet) -> Option<&Vias> {
        let id = self.installed.get(prefix)?;
        self.via_sets.get(id as usize)
    }

    /// How many prefixes are installed.
    pub fn installed_len(&self) -> usize {
        self.installed.len()
    }

    /// Every installed prefix, sorted.
    pub fn installed_prefixes(&self) -> Vec<IpNet> {
        let mut list: Vec<IpNet> = self.installed.iter().map(|(p, _)| p).collect();
        list.sort_unstable();
        list
    }

    /// The installed routes as a list, in prefix order.
    pub fn installed_list(&self) -> Vec<Installed> {
        let mut list: Vec<Installed> = self
            .installed
            .iter()
            .filter_map(|(prefix, id)| {
                Some(Installed {
                    prefix,
                    via: self.via_sets.get(id as usize)?.to_vec(),
                })
            })
            .collect();
        list.sort_unstable_by_key(|r| r.prefix);
        list
    }
}
