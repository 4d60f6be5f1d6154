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
//! while work is queued. Each installed set (there are few) is a next-hop
//! group of the FIB, numbered by its id here: a weight change rewrites the
//! groups, never the prefixes, so traffic moves at once at any table size.
//!
//! The decision for a chunk of prefixes ([`LocRib::decide`]) is a function
//! of the candidates and a selector; the live path applies it, a dry run
//! compares it with what is installed, so the two cannot drift.
//!
//! Owns: the installed routes, the selection queue, the FIB it builds and
//! the kernel-route changes not yet published. Must not: own candidates (the
//! speaker and the config do), log, or publish anything itself: the gateway
//! core turns [`LocRib::publish`]'s answer into actions.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::decisions;
use super::speaker::Learned;
use crate::config::GatewayConfig;
use crate::dataplane::fib::{ConnectionId, Fib, NextHop, RouteUpdate, SourceUpdate, TunnelId};
use crate::id_map::Ahead;
use crate::net_map::{FastMap, FastSet};
use crate::policy::{Plugin, PrefixCandidates, SelectionSlot};
use crate::routing::table::{self, Candidate, Table, Via, ViaList};
use crate::topology::TunnelInfo;

/// Prefixes per route-selection call: small enough for a plugin's deadline
/// and memory cap, large enough that the call overhead does not matter.
pub const SELECTION_CHUNK: usize = 1024;
/// Shortest time between two FIB snapshots while work is queued, or after
/// a large change.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(250);
/// Prefixes written since the last snapshot up to which an empty queue
/// publishes at once (unless [`SMALL_CHANGE_BURST`] snapshots were just
/// published). A bigger change waits out [`PUBLISH_INTERVAL`]: each
/// snapshot makes the next writes copy the FIB shards they touch, and an
/// ingest that empties the queue every turn copied them every turn (7% of
/// the control thread's time at a million routes).
pub const SMALL_CHANGE: u64 = 1024;
/// Snapshots within a [`PUBLISH_INTERVAL`] after which small changes wait
/// [`SMALL_CHANGE_GAP`] after the last one instead of going out at once.
/// A feed whose routes are selected as they arrive empties the queue after
/// every read with a few hundred writes: published at once every time,
/// each snapshot made the next read's writes copy every shard they touched
/// (the whole IPv4 table of a scattered feed), 38% of the ingest
/// benchmark's time. A few changes in a row (a route, then the session's
/// next, a weight change and the selection that follows it) still go out
/// at once, so what `sitelink routes` shows and the FIB agree.
pub const SMALL_CHANGE_BURST: usize = 4;
/// Shortest time between two snapshots of small changes past the burst;
/// and how long a large change must have written nothing, its work done,
/// before it goes out ahead of [`PUBLISH_INTERVAL`]: at the end of a full
/// table the FIB in force waited up to the whole interval for its last
/// routes.
pub const SMALL_CHANGE_GAP: Duration = Duration::from_millis(50);

/// An installed set, shared by every prefix installed over it.
pub type Vias = Arc<[Via]>;

/// One prefix whose installed set changed (`None`: not installed): the
/// sets as their ids ([`LocRib::via_set`]), so that recording a change
/// on the ingest path copies three words and touches no reference count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteChange {
    pub prefix: IpNet,
    pub before: Option<u32>,
    pub after: Option<u32>,
}

/// Who chooses among a prefix's candidates: the slot in force (the live
/// path) or a candidate plugin (a dry run).
pub enum Selector<'a> {
    Slot(&'a mut SelectionSlot),
    Candidate(&'a mut Plugin),
}

impl Selector<'_> {
    /// Whether the selector installs a prefix's only candidate, so that
    /// such prefixes need not be sent to it (see
    /// [`SelectionSlot::installs_lone_candidate`]).
    fn installs_lone_candidate(&self) -> bool {
        match self {
            Selector::Slot(slot) => slot.installs_lone_candidate(),
            Selector::Candidate(plugin) => plugin.info().installs_lone_candidate,
        }
    }

    fn select(&mut self, input: &[PrefixCandidates]) -> Result<Vec<Vec<u32>>, String> {
        match self {
            // The slot always answers (plugin, last good, or default).
            Selector::Slot(slot) => Ok(slot.select(input).installed),
            Selector::Candidate(plugin) => plugin.select(input).map_err(|f| f.to_string()),
        }
    }
}

/// The static routes of `cfg`: the connections that have each, in config
/// order.
fn statics_of(cfg: &GatewayConfig) -> BTreeMap<IpNet, Vec<ConnectionId>> {
    let mut statics: BTreeMap<IpNet, Vec<ConnectionId>> = BTreeMap::new();
    for (connection, conn) in cfg.live_connections() {
        for prefix in &conn.static_routes {
            statics.entry(*prefix).or_default().push(connection);
        }
    }
    statics
}

/// Each running tunnel's inside /30 (and IPv6 /126, if it has one), over
/// that tunnel alone.
fn tunnel_routes_of(tunnels: &[TunnelInfo]) -> Vec<(IpNet, NextHop)> {
    tunnels
        .iter()
        .filter(|t| !t.retired)
        .flat_map(|t| {
            let v6 = t.inside_ipv6.map(|i| IpNet::V6(i.cidr));
            std::iter::once(IpNet::V4(t.inside_cidr))
                .chain(v6)
                .map(|net| (net, NextHop::over(t.connection, &[t.id])))
        })
        .collect()
}

/// Where a prefix is to be installed (`None`: nowhere).
pub type Decision = (IpNet, Option<ViaList>);

/// The connections each prefix of a chunk may send from, in one list:
/// prefix `i`'s are `ids[ends[i - 1]..ends[i]]`.
#[derive(Default)]
struct Sources {
    ids: Vec<ConnectionId>,
    ends: Vec<usize>,
}

impl Sources {
    fn of(&self, i: usize) -> &[ConnectionId] {
        let start = i.checked_sub(1).and_then(|j| self.ends.get(j)).copied();
        let end = self.ends.get(i).copied().unwrap_or(0);
        self.ids.get(start.unwrap_or(0)..end).unwrap_or(&[])
    }
}

/// What a chunk of work needs from the rest of the gateway.
pub struct Env<'a> {
    pub cfg: &'a GatewayConfig,
    pub tunnels: &'a [TunnelInfo],
    pub learned: Learned<'a>,
    pub selector: Selector<'a>,
    /// Per tunnel id: may the routes learned over it be used (route
    /// propagation on and its liveness probe up)?
    pub usable: &'a [bool],
}

/// What to publish: a new FIB snapshot, if it changed, and the prefixes
/// that enter (`true`) or leave (`false`) the kernel's table since the last
/// time (the latest wish per prefix).
#[derive(Default)]
pub struct Publish {
    pub fib: Option<Arc<Fib>>,
    pub kernel: Vec<(IpNet, bool)>,
}

/// The installed routes, the queue of prefixes to look at again, and the FIB.
pub struct LocRib {
    /// Static routes: the connections that have each, in config order.
    statics: BTreeMap<IpNet, Vec<ConnectionId>>,
    /// This gateway's own networks (`[bgp] networks`): refused as packet
    /// sources over every connection, whatever route covers them, unless a
    /// connection has a static route for exactly that network.
    own: FastSet<IpNet>,
    /// Each tunnel's inside /30, always over that tunnel alone.
    tunnel_routes: Vec<(IpNet, NextHop)>,
    /// Installed sets of the prefixes that are also a tunnel's inside
    /// address (the FIB routes those to the tunnel). Every other installed
    /// prefix is recorded once, in the FIB, as a pointer to its set's group:
    /// the Loc-RIB keeps no prefix table of its own.
    under_tunnel: Vec<(IpNet, u32)>,
    /// Every installed set in use or seen (few: one per combination), by id.
    via_sets: Vec<Vias>,
    via_ids: FastMap<Vias, u32>,
    /// The set [`LocRib::intern`] gave last.
    last_via: u32,
    /// Installed sets whose FIB group is written (under `weights`), by id.
    grouped: Vec<bool>,
    /// Prefixes to select again, oldest first (a prefix may be queued
    /// twice: the second look finds nothing to change). Worked from the
    /// front, so a prefix waits only for what was queued before it, never
    /// for a bulk queued after it.
    pending: VecDeque<IpNet>,
    weights: Vec<u32>,
    fib: Arc<Fib>,
    fib_changed: bool,
    published: Option<Instant>,
    /// When the last [`SMALL_CHANGE_BURST`] snapshots not forced were
    /// published, oldest first.
    recent: VecDeque<Instant>,
    /// Kernel-route changes since the last publish, in order (none when
    /// `[route_table] kernel_routes` is off: nobody would read them).
    kernel_changes: Vec<(IpNet, bool)>,
    kernel_routes: bool,
    /// Prefixes written into the FIB, ever (what a step cost the FIB).
    fib_writes: u64,
    /// `fib_writes` at the last snapshot.
    writes_published: u64,
    /// `fib_writes` when [`LocRib::publish`] last looked, and when it first
    /// saw that count: the time of the last write, to a turn.
    writes_seen: (u64, Option<Instant>),
}

impl LocRib {
    /// The static routes of `cfg` queued, and a FIB holding the tunnels'
    /// inside addresses.
    pub fn new(cfg: &GatewayConfig, tunnels: &[TunnelInfo]) -> LocRib {
        let statics = statics_of(cfg);
        let tunnel_routes = tunnel_routes_of(tunnels);
        let mut fib = Fib::default();
        for (prefix, hop) in &tunnel_routes {
            fib.insert(*prefix, hop.clone());
        }
        let own: FastSet<IpNet> = cfg.bgp.networks.iter().copied().collect();
        for net in &own {
            fib.refuse_sources(net);
        }
        LocRib {
            // A static route for exactly an own network lifts the refusal
            // when its prefix is selected.
            pending: statics.keys().copied().collect(),
            statics,
            own,
            tunnel_routes,
            under_tunnel: Vec::new(),
            via_sets: Vec::new(),
            via_ids: FastMap::default(),
            last_via: 0,
            grouped: Vec::new(),
            weights: Vec::new(),
            fib: Arc::new(fib),
            fib_changed: true,
            published: None,
            recent: VecDeque::with_capacity(SMALL_CHANGE_BURST),
            kernel_changes: Vec::new(),
            kernel_routes: cfg.route_table.kernel_routes,
            fib_writes: 0,
            writes_published: 0,
            writes_seen: (0, None),
        }
    }

    /// The static routes and own networks of `cfg` (a reload): the
    /// prefixes whose static routes changed are queued to be selected
    /// again; own networks added are refused as sources at once, those
    /// removed get their sources back from the selection.
    pub fn set_statics(&mut self, cfg: &GatewayConfig) {
        let statics = statics_of(cfg);
        let changed: Vec<IpNet> = statics
            .iter()
            .filter(|(p, c)| self.statics.get(p) != Some(c))
            .map(|(p, _)| *p)
            .chain(
                self.statics
                    .keys()
                    .filter(|p| !statics.contains_key(p))
                    .copied(),
            )
            .collect();
        self.statics = statics;
        self.pending.extend(changed);
        let own: FastSet<IpNet> = cfg.bgp.networks.iter().copied().collect();
        if own == self.own {
            return;
        }
        // Each added or removed network's sources are selected again (the
        // selection refuses an own network that no static route names).
        self.pending
            .extend(self.own.symmetric_difference(&own).copied());
        let fib = Arc::make_mut(&mut self.fib);
        for gone in self.own.difference(&own) {
            fib.set_sources(gone, &[]);
        }
        for added in own.difference(&self.own) {
            fib.refuse_sources(added);
        }
        self.fib_changed = true;
        self.own = own;
    }

    /// The tunnels changed (a reload added or retired some): the inside
    /// /30s of retired tunnels leave the FIB (to what the selection
    /// installed there, if anything), the new ones enter it.
    pub fn set_tunnels(&mut self, tunnels: &[TunnelInfo]) {
        let new = tunnel_routes_of(tunnels);
        let old = std::mem::replace(&mut self.tunnel_routes, new);
        // What the selection installed under a new tunnel route moves aside.
        for (prefix, _) in &self.tunnel_routes {
            if let Some(id) = self.fib.group_of(prefix) {
                self.under_tunnel.push((*prefix, id));
            }
        }
        for (prefix, _) in old {
            if !self.is_tunnel_route(&prefix) {
                let at = self.under_tunnel.iter().position(|(p, _)| *p == prefix);
                let via = at.map(|i| self.under_tunnel.swap_remove(i).1);
                self.fib_route(prefix, via, tunnels);
            }
        }
        let fib = Arc::make_mut(&mut self.fib);
        for (prefix, hop) in &self.tunnel_routes {
            fib.insert(*prefix, hop.clone());
        }
        self.fib_changed = true;
    }

    /// Queues `prefixes` to be selected again.
    pub fn mark(&mut self, prefixes: Vec<IpNet>) {
        // An empty queue takes the list as it is (no copy on the ingest
        // path, where the queue is drained between reads).
        if self.pending.is_empty() {
            self.pending = VecDeque::from(prefixes);
        } else {
            self.pending.extend(prefixes);
        }
    }

    /// The prefixes of the gateway's own routes, static routes and the
    /// tunnels' inside addresses (a few): with the sessions' Adj-RIBs-In,
    /// walked apart ([`Speaker::reselect_all`]), every prefix that has a
    /// candidate or can be installed.
    pub fn own_prefixes(&self) -> Vec<IpNet> {
        self.statics
            .keys()
            .copied()
            .chain(self.tunnel_routes.iter().map(|(p, _)| *p))
            .collect()
    }

    /// Whether `prefix` is one of [`LocRib::own_prefixes`].
    pub fn is_own(&self, prefix: &IpNet) -> bool {
        self.statics.contains_key(prefix) || self.is_tunnel_route(prefix)
    }

    /// Prefixes waiting to be selected again.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Selects one chunk of queued prefixes (at most [`SELECTION_CHUNK`]);
    /// returns how many prefixes it looked at.
    pub fn work_chunk(&mut self, env: &mut Env, changes: &mut Vec<RouteChange>) -> usize {
        // A short queue is taken whole (no copy on the ingest path).
        let chunk: Vec<IpNet> = if self.pending.len() <= SELECTION_CHUNK {
            std::mem::take(&mut self.pending).into()
        } else {
            self.pending.drain(..SELECTION_CHUNK).collect()
        };
        self.select_chunk(&chunk, env, changes);
        chunk.len()
    }

    fn select_chunk(&mut self, chunk: &[IpNet], env: &mut Env, changes: &mut Vec<RouteChange>) {
        let mut sources = Sources::default();
        // The slot always answers; a selector that cannot leaves the chunk.
        let Ok(decided) = self.decide_with(chunk, env, &mut sources) else {
            return;
        };
        // `sources.of(i)` is the sources of `decided[i]`'s prefix.
        debug_assert!(decided.iter().map(|(p, _)| p).eq(chunk.iter()));
        // The FIB entries a few prefixes ahead (the misses overlap).
        let mut ahead = Ahead::new(chunk.iter(), |p| self.fib.prefetch(p));
        for (i, (prefix, after)) in decided.into_iter().enumerate() {
            ahead.step(|p| self.fib.prefetch(p));
            if self.is_tunnel_route(&prefix) {
                self.set_under_tunnel(prefix, after, env.tunnels, changes);
            } else {
                self.install(prefix, after, sources.of(i), env.tunnels, changes);
            }
        }
    }

    /// Installs `prefix` over `after` (or uninstalls it) with `sources`
    /// as the connections it may send from, if that changes it: one FIB
    /// lookup and at most one write (the FIB is the record of both).
    fn install(
        &mut self,
        prefix: IpNet,
        after: Option<ViaList>,
        sources: &[ConnectionId],
        tunnels: &[TunnelInfo],
        changes: &mut Vec<RouteChange>,
    ) {
        let was = self.fib.installed(&prefix);
        let current = self.fib.sources_in(was);
        let source = if sources.is_empty() && self.own.contains(&prefix) {
            // Ours, and no static route names it: refused.
            match current {
                Some([]) => SourceUpdate::Keep,
                _ => SourceUpdate::Refuse,
            }
        } else if current.unwrap_or(&[]) != sources {
            SourceUpdate::Set(sources)
        } else {
            SourceUpdate::Keep
        };
        let before = was.group();
        let route = if self.installed_as(before, after.as_deref()) {
            RouteUpdate::Keep
        } else {
            let after = after.map(|v| self.intern(v));
            self.record(prefix, before, after, true, changes);
            self.fib_writes += 1;
            match after {
                Some(id) => {
                    self.write_group(id, tunnels);
                    RouteUpdate::Group(id)
                }
                None => RouteUpdate::Remove,
            }
        };
        if matches!((route, source), (RouteUpdate::Keep, SourceUpdate::Keep)) {
            return;
        }
        Arc::make_mut(&mut self.fib).set_installed(&prefix, was, route, source);
        self.fib_changed = true;
    }

    /// Where each prefix of `chunk` would be installed (`None`: nowhere)
    /// with the candidates and the selector of `env`: one selector call for
    /// the chunk, the decisions in the chunk's order. The live path applies
    /// this, a dry run compares it.
    pub fn decide(&self, chunk: &[IpNet], env: &mut Env) -> Result<Vec<Decision>, String> {
        self.decide_with(chunk, env, &mut Sources::default())
    }

    /// [`LocRib::decide`], with the connections each prefix may send from
    /// (its static routes' and its accepted routes', usable or not) in
    /// `sources`, found in the same lookups as its candidates: the `i`th
    /// decision's are `sources.of(i)` (the ingress check relies on it).
    fn decide_with(
        &self,
        chunk: &[IpNet],
        env: &mut Env,
        sources: &mut Sources,
    ) -> Result<Vec<Decision>, String> {
        let mut table: Table = Vec::with_capacity(chunk.len());
        let mut asked = Vec::new();
        let mut out = Vec::with_capacity(chunk.len());
        let usable = |t: TunnelId| env.usable.get(t.index()).copied().unwrap_or(false);
        let lone = env.selector.installs_lone_candidate();
        // One list reused while a prefix's candidates need no table entry.
        let mut candidates: Vec<Candidate> = Vec::new();
        // The Adj-RIB-In entries a few prefixes ahead (the misses overlap).
        let mut ahead = Ahead::new(chunk.iter(), |p| env.learned.prefetch(p));
        for prefix in chunk {
            ahead.step(|p| env.learned.prefetch(p));
            let statics = self.statics.get(prefix).map(Vec::as_slice).unwrap_or(&[]);
            candidates.clear();
            candidates.extend(statics.iter().map(|c| Candidate {
                connection: *c,
                tunnel: None,
                attrs: None,
            }));
            let start = sources.ids.len();
            sources.ids.extend_from_slice(statics);
            env.learned
                .routes_for(prefix, usable, &mut candidates, |c| {
                    if !sources.ids.get(start..).is_some_and(|ids| ids.contains(&c)) {
                        sources.ids.push(c);
                    }
                });
            sources.ends.push(sources.ids.len());
            match candidates.as_slice() {
                [] => out.push((*prefix, None)),
                // Installed as the selector would (it said so): no call.
                [only] if lone => out.push((
                    *prefix,
                    Some(smallvec::smallvec![(only.connection, only.tunnel)]),
                )),
                _ => {
                    // Its place in `out`, filled once the selector answered.
                    asked.push(out.len());
                    out.push((*prefix, None));
                    table.push((*prefix, std::mem::take(&mut candidates)));
                }
            }
        }
        if !table.is_empty() {
            let input = decisions::prefix_candidates(env.cfg, env.tunnels, &table);
            let answer = env.selector.select(&input)?;
            let mut rows = decisions::installed(&table, &answer).into_iter().peekable();
            for ((prefix, _), at) in table.iter().zip(asked) {
                let after = rows
                    .next_if(|r| r.prefix == *prefix)
                    .map(|r| ViaList::from_vec(r.via));
                if let Some(slot) = out.get_mut(at) {
                    slot.1 = after;
                }
            }
        }
        Ok(out)
    }

    fn is_tunnel_route(&self, prefix: &IpNet) -> bool {
        self.tunnel_routes.iter().any(|(p, _)| p == prefix)
    }

    /// Installs a tunnel's inside address `prefix` over `after` (or
    /// uninstalls it) if that changes it: recorded in `under_tunnel`, the
    /// FIB keeps routing it to the tunnel (every other prefix goes through
    /// [`LocRib::install`]).
    fn set_under_tunnel(
        &mut self,
        prefix: IpNet,
        after: Option<ViaList>,
        tunnels: &[TunnelInfo],
        changes: &mut Vec<RouteChange>,
    ) {
        let before = self.installed_id(&prefix);
        if self.installed_as(before, after.as_deref()) {
            return;
        }
        let after = after.map(|v| self.intern(v));
        self.under_tunnel.retain(|(p, _)| *p != prefix);
        self.under_tunnel.extend(after.map(|id| (prefix, id)));
        self.fib_route(prefix, after, tunnels);
        self.record(prefix, before, after, false, changes);
    }

    /// Whether installed set `id` is `via` (none and none are).
    fn installed_as(&self, id: Option<u32>, via: Option<&[Via]>) -> bool {
        id.and_then(|id| self.via_sets.get(id as usize))
            .map(|v| &v[..])
            == via
    }

    /// Records that `prefix` moved from installed set `before` to `after`:
    /// the change the log and the jobs read, and with `kernel` (not a
    /// tunnel's inside address) a route entering or leaving the kernel's
    /// table when kernel routes are on.
    fn record(
        &mut self,
        prefix: IpNet,
        before: Option<u32>,
        after: Option<u32>,
        kernel: bool,
        changes: &mut Vec<RouteChange>,
    ) {
        if kernel && self.kernel_routes && before.is_some() != after.is_some() {
            self.kernel_changes.push((prefix, after.is_some()));
        }
        changes.push(RouteChange {
            prefix,
            before,
            after,
        });
    }

    fn intern(&mut self, via: ViaList) -> u32 {
        // Prefixes come in runs of one set (one peer's routes): the last
        // one is compared before the map is hashed.
        if self
            .via_sets
            .get(self.last_via as usize)
            .is_some_and(|v| **v == *via)
        {
            return self.last_via;
        }
        let id = match self.via_ids.get(via.as_slice()) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.via_sets.len()).unwrap_or(u32::MAX);
                let v: Vias = via.as_slice().into();
                self.via_sets.push(v.clone());
                self.via_ids.insert(v, id);
                id
            }
        };
        self.last_via = id;
        id
    }

    /// Puts `prefix` over `via` in the FIB (or takes it out). A tunnel's
    /// inside /30 always goes over that tunnel alone.
    fn fib_route(&mut self, prefix: IpNet, via: Option<u32>, tunnels: &[TunnelInfo]) {
        let fib = Arc::make_mut(&mut self.fib);
        self.fib_changed = true;
        self.fib_writes += 1;
        if let Some((_, hop)) = self.tunnel_routes.iter().find(|(p, _)| *p == prefix) {
            fib.insert(prefix, hop.clone());
            return;
        }
        let Some(id) = via else {
            fib.remove(&prefix);
            return;
        };
        if self.write_group(id, tunnels) {
            // A group without a weighted tunnel leaves the prefix to
            // shorter ones in the FIB's lookup.
            Arc::make_mut(&mut self.fib).insert_group(prefix, id);
        }
    }

    /// Writes installed set `id`'s next-hop group into the FIB, unless it
    /// is there already (a set's group is written at its first use, then
    /// only by weight changes); false if there is no such set.
    fn write_group(&mut self, id: u32, tunnels: &[TunnelInfo]) -> bool {
        let index = id as usize;
        if self.grouped.get(index).copied().unwrap_or(false) {
            return true;
        }
        let Some(via) = self.via_sets.get(index) else {
            return false;
        };
        let hop = table::next_hop(via, tunnels, &self.weights);
        Arc::make_mut(&mut self.fib).set_group(id, hop);
        if self.grouped.len() <= index {
            self.grouped.resize(index + 1, false);
        }
        if let Some(g) = self.grouped.get_mut(index) {
            *g = true;
        }
        true
    }

    /// New tunnel weights: each next-hop group is computed again (a few),
    /// and every prefix follows its group. False when they did not change.
    pub fn set_weights(&mut self, weights: &[u32], tunnels: &[TunnelInfo]) -> bool {
        if self.weights == weights {
            return false;
        }
        self.weights = weights.to_vec();
        let fib = Arc::make_mut(&mut self.fib);
        for (id, via) in self.via_sets.iter().enumerate() {
            if self.grouped.get(id).copied().unwrap_or(false) {
                let id = u32::try_from(id).unwrap_or(u32::MAX);
                fib.set_group(id, table::next_hop(via, tunnels, &self.weights));
            }
        }
        self.fib_changed = true;
        true
    }

    /// What to publish now: the FIB if it changed and is due
    /// ([`LocRib::publish_at`]), or with `force`; and the kernel-route
    /// changes since the last time.
    pub fn publish(&mut self, now: Instant, force: bool) -> Publish {
        if self.writes_seen.0 != self.fib_writes {
            self.writes_seen = (self.fib_writes, Some(now));
        }
        let due = self.publish_at(now).is_some_and(|t| now >= t);
        if !(force || due) {
            return Publish::default();
        }
        self.fib_changed = false;
        self.published = Some(now);
        // A forced snapshot (a weight change) does not use up the burst:
        // the selection that follows it still goes out at once.
        if !force {
            if self.recent.len() >= SMALL_CHANGE_BURST {
                self.recent.pop_front();
            }
            self.recent.push_back(now);
        }
        self.writes_published = self.fib_writes;
        Publish {
            fib: Some(self.fib.clone()),
            kernel: std::mem::take(&mut self.kernel_changes),
        }
    }

    /// When a change not yet published is due (`None`: nothing waits):
    /// `now` if nothing was published yet; a small change with no work
    /// queued ([`SMALL_CHANGE`]) at once, unless [`SMALL_CHANGE_BURST`]
    /// snapshots not forced went out within the last [`PUBLISH_INTERVAL`]:
    /// then [`SMALL_CHANGE_GAP`] after the last of them, or when the
    /// burst's first is that old, whichever is sooner; anything else
    /// [`PUBLISH_INTERVAL`] after the last snapshot, or sooner once no work
    /// is queued and no prefix was written for [`SMALL_CHANGE_GAP`] (a
    /// large change that is over: a full table in, a sweep done). A
    /// deadline in the past is due; none but the first depends on `now`.
    pub fn publish_at(&self, now: Instant) -> Option<Instant> {
        if !self.fib_changed {
            return None;
        }
        let Some(last) = self.published else {
            return Some(now);
        };
        let small =
            self.pending.is_empty() && self.fib_writes - self.writes_published <= SMALL_CHANGE;
        if !small {
            let cadence = last + PUBLISH_INTERVAL;
            // The interval bounds the shard copies while writes go on; once
            // they stop, waiting it out only delays the routes. (Writes
            // made since `publish` last looked have no time yet.)
            let over = match self.writes_seen {
                (seen, Some(at)) if seen == self.fib_writes && self.pending.is_empty() => {
                    Some(at + SMALL_CHANGE_GAP)
                }
                _ => None,
            };
            return Some(over.map_or(cadence, |t| t.min(cadence)));
        }
        match (self.recent.front(), self.recent.back()) {
            (Some(first), Some(latest)) if self.recent.len() >= SMALL_CHANGE_BURST => {
                Some((*latest + SMALL_CHANGE_GAP).min(*first + PUBLISH_INTERVAL))
            }
            _ => Some(last),
        }
    }

    /// Prefixes written into the FIB so far.
    pub fn fib_writes(&self) -> u64 {
        self.fib_writes
    }

    /// The static routes' prefixes (the kernel's routes at start-up).
    pub fn static_prefixes(&self) -> Vec<IpNet> {
        self.statics.keys().copied().collect()
    }

    /// The id of the set `prefix` is installed over.
    fn installed_id(&self, prefix: &IpNet) -> Option<u32> {
        if self.is_tunnel_route(prefix) {
            return self
                .under_tunnel
                .iter()
                .find(|(p, _)| p == prefix)
                .map(|(_, id)| *id);
        }
        self.fib.group_of(prefix)
    }

    /// Every installed prefix, in no order.
    fn installed_prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.fib
            .grouped()
            .map(|(p, _)| p)
            .chain(self.under_tunnel.iter().map(|(p, _)| *p))
    }

    /// Installed set `id` (ids are never reused: a [`RouteChange`]'s stay
    /// valid).
    pub fn via_set(&self, id: u32) -> Option<&[Via]> {
        self.via_sets.get(id as usize).map(|v| &v[..])
    }

    /// Where `prefix` is installed.
    pub fn selected(&self, prefix: &IpNet) -> Option<&[Via]> {
        self.via_set(self.installed_id(prefix)?)
    }

    /// How many prefixes are installed.
    pub fn installed_len(&self) -> usize {
        self.fib.grouped_len() + self.under_tunnel.len()
    }

    /// Up to `n` installed prefixes, in no particular order.
    pub fn installed_prefixes_upto(&self, n: usize) -> Vec<IpNet> {
        self.installed_prefixes().take(n).collect()
    }
}
