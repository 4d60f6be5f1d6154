//! The forwarding information base: longest-prefix match from a destination
//! address to the tunnels that carry it.
//!
//! A [`Fib`] is an immutable snapshot built by the control plane from the route
//! table and the failover decision; the data path reads the current snapshot
//! lock-free through [`FibCell`] and never mutates it. This module owns no
//! sockets and knows nothing of liveness or plugins: it only answers "which
//! next hop for this address" and, for the ingress source check, "may a
//! packet from this address arrive over this connection". A prefix's sources
//! are kept apart from its route (two halves of one table entry, set and
//! matched independently): a connection may send from the prefixes it owns
//! even when they are not routed over it (a learned route with propagation
//! off, a tunnel on standby), as WireGuard's allowed IPs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[cfg(test)]
mod installed_tests;
mod lpm;
#[cfg(test)]
mod tests;

use lpm::{Interner, Lpm};

pub use crate::topology::{ConnectionId, TunnelId};

/// Where traffic for a prefix goes: the connections the route selection
/// installed, and their tunnels that the failover decision gives a weight
/// above 0 (never empty), each with that weight.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NextHop {
    pub connections: Vec<ConnectionId>,
    pub tunnels: Vec<(TunnelId, u32)>,
}

impl NextHop {
    /// A next hop over one connection's tunnels, all of equal weight.
    pub fn over(connection: ConnectionId, tunnels: &[TunnelId]) -> NextHop {
        NextHop {
            connections: vec![connection],
            tunnels: tunnels.iter().map(|t| (*t, 1)).collect(),
        }
    }

    /// Picks the tunnel for a flow: the only one, or one chosen by `flow_hash`
    /// in proportion to the weights, so that a flow stays on one tunnel (ECMP).
    pub fn tunnel_for(&self, flow_hash: u64) -> Option<TunnelId> {
        if let [(only, _)] = self.tunnels.as_slice() {
            return Some(*only);
        }
        let total: u64 = self.tunnels.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let mut point = flow_hash % total;
        for (tunnel, weight) in &self.tunnels {
            let weight = u64::from(*weight);
            if point < weight {
                return Some(*tunnel);
            }
            point -= weight;
        }
        None
    }
}

/// An immutable longest-prefix-match table for IPv4 and IPv6, with the
/// source table of the ingress check. Prefixes map to interned next hops
/// and source sets (see `lpm`): each distinct one is stored once. A prefix
/// has one entry for both its route and its sources (a learned prefix is
/// nearly always both): one key, not two tables of a million keys each.
///
/// Prefixes may instead point at a **next-hop group** the control plane
/// numbers and changes ([`Fib::set_group`]): a connection's tunnels, or an
/// ECMP set, with their weights. A tunnel going down or a weight change
/// rewrites the group, and every prefix using it moves at once, whatever
/// the table size. A group left without a tunnel is skipped by the lookup
/// (a shorter prefix answers), as if its prefixes had been removed.
#[derive(Default, Clone)]
pub struct Fib {
    /// Prefix -> interned [`Entry`] (`entries`): 4 bytes a prefix, not 8
    /// (a table has a few distinct entries, one per group and source set).
    v4: Lpm<u32>,
    v6: Lpm<u128>,
    entries: Interner<Entry>,
    hops: Interner<NextHop>,
    /// Next-hop groups, by group number.
    groups: Vec<NextHop>,
    sources: Interner<Vec<ConnectionId>>,
    /// Prefixes with a route, IPv4 and IPv6 (the tables also hold
    /// prefixes that are only sources).
    routes: (usize, usize),
    /// Prefixes that point at a group (the control plane's installed
    /// routes: the Loc-RIB keeps no table of its own).
    grouped: usize,
}

/// Values of a route at or above this are group numbers (plus this), below
/// it interned next hops.
const GROUP: u32 = 1 << 31;
/// No route, or no sources, in an [`Entry`].
const NONE: u32 = u32::MAX;

/// A prefix's route (an interned next hop, or [`GROUP`] plus a group
/// number) and its source set (an interned list of connections), each
/// [`NONE`] when absent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Entry {
    route: u32,
    source: u32,
}

impl Entry {
    const EMPTY: Entry = Entry {
        route: NONE,
        source: NONE,
    };

    fn route(self) -> Option<u32> {
        (self.route != NONE).then_some(self.route)
    }

    fn source(self) -> Option<u32> {
        (self.source != NONE).then_some(self.source)
    }
}

/// A prefix's entry as [`Fib::installed`] read it.
#[derive(Clone, Copy)]
pub struct Installed(Entry);

impl Installed {
    /// The group it points at.
    pub fn group(self) -> Option<u32> {
        self.0.route()?.checked_sub(GROUP)
    }
}

/// What [`Fib::set_installed`] does to a prefix's route.
#[derive(Clone, Copy, Debug)]
pub enum RouteUpdate {
    Keep,
    /// Through next-hop group `n` ([`Fib::set_group`]).
    Group(u32),
    Remove,
}

/// What [`Fib::set_installed`] does to a prefix's sources.
#[derive(Clone, Copy, Debug)]
pub enum SourceUpdate<'a> {
    Keep,
    /// These connections (none: the prefix is no source of its own).
    Set(&'a [ConnectionId]),
    /// Refused over every connection ([`Fib::refuse_sources`]).
    Refuse,
}

/// A prefix as the tables key it: the address as an integer, the length.
enum Key {
    V4(u32, u8),
    V6(u128, u8),
}

fn key(prefix: &IpNet) -> Key {
    match prefix {
        IpNet::V4(p) => Key::V4(u32::from(p.addr()), p.prefix_len()),
        IpNet::V6(p) => Key::V6(u128::from(p.addr()), p.prefix_len()),
    }
}

impl Fib {
    /// Starts bringing `prefix`'s entry into cache, for a lookup or a
    /// write soon: a loop over many prefixes asks a few ahead
    /// (`id_map::Ahead`), so that their cache misses overlap instead of
    /// following each other.
    pub fn prefetch(&self, prefix: &IpNet) {
        match key(prefix) {
            Key::V4(a, l) => self.v4.prefetch(a, l),
            Key::V6(a, l) => self.v6.prefetch(a, l),
        }
    }

    /// The entry of exactly `prefix`.
    fn entry(&self, prefix: &IpNet) -> Option<Entry> {
        let id = match key(prefix) {
            Key::V4(a, l) => self.v4.get(a, l),
            Key::V6(a, l) => self.v6.get(a, l),
        }?;
        self.entries.get(id).copied()
    }

    /// Stores `entry` for `prefix` (removes it when empty), keeping the
    /// route counts; returns the entry it replaced.
    fn put(&mut self, prefix: &IpNet, entry: Entry) -> Entry {
        let id = (entry != Entry::EMPTY).then(|| self.entries.acquire(&entry));
        let old_id = match (key(prefix), id) {
            (Key::V4(a, l), Some(id)) => self.v4.insert(a, l, id),
            (Key::V6(a, l), Some(id)) => self.v6.insert(a, l, id),
            (Key::V4(a, l), None) => self.v4.remove(a, l),
            (Key::V6(a, l), None) => self.v6.remove(a, l),
        };
        let old = old_id
            .and_then(|id| {
                let entry = self.entries.get(id).copied();
                self.entries.release(id);
                entry
            })
            .unwrap_or(Entry::EMPTY);
        let count = match prefix {
            IpNet::V4(_) => &mut self.routes.0,
            IpNet::V6(_) => &mut self.routes.1,
        };
        match (old.route(), entry.route()) {
            (None, Some(_)) => *count += 1,
            (Some(_), None) => *count -= 1,
            _ => {}
        }
        old
    }

    /// Sets the route of `prefix` (`NONE`: none), keeping its sources;
    /// `entry` is its entry now.
    fn put_route(&mut self, prefix: &IpNet, entry: Entry, route: u32) {
        if entry.route == route {
            return;
        }
        self.put(prefix, Entry { route, ..entry });
        self.forget(entry.route());
    }

    /// Adds or replaces the next hop of `prefix` (host bits are cleared).
    /// Next hops without a tunnel of weight above 0 are refused: they would
    /// black-hole the prefix silently.
    /// The next hop's connections may send from `prefix` in any case.
    pub fn insert(&mut self, prefix: IpNet, next_hop: NextHop) -> bool {
        self.insert_ref(prefix, &next_hop)
    }

    /// [`Fib::insert`] without giving up the next hop (it is stored once
    /// however many prefixes use it).
    pub fn insert_ref(&mut self, prefix: IpNet, next_hop: &NextHop) -> bool {
        for c in &next_hop.connections {
            self.allow_source(prefix, *c);
        }
        if next_hop.tunnels.iter().all(|(_, w)| *w == 0) {
            return false;
        }
        let entry = self.entry(&prefix).unwrap_or(Entry::EMPTY);
        if entry
            .route()
            .filter(|id| *id < GROUP)
            .and_then(|id| self.hops.get(id))
            == Some(next_hop)
        {
            return true;
        }
        let id = self.hops.acquire(next_hop);
        self.put_route(&prefix, entry, id);
        true
    }

    /// Accounts for a route that was replaced or removed.
    fn forget(&mut self, old: Option<u32>) {
        match old {
            Some(old) if old < GROUP => self.hops.release(old),
            Some(_) => self.grouped -= 1,
            None => {}
        }
    }

    /// Removes the route of `prefix` (its sources stay); true if it had one.
    pub fn remove(&mut self, prefix: &IpNet) -> bool {
        let entry = self.entry(prefix).unwrap_or(Entry::EMPTY);
        let had = entry.route().is_some();
        if had {
            self.put_route(prefix, entry, NONE);
        }
        had
    }

    /// Sets next-hop group `group` (a number below 2^31 - 1 the caller
    /// keeps per set of tunnels): every prefix in it follows at once. A hop
    /// with no tunnel of weight above 0 leaves its prefixes to shorter ones.
    pub fn set_group(&mut self, group: u32, mut hop: NextHop) {
        let Some(index) = usize::try_from(group).ok().filter(|_| group < GROUP - 1) else {
            return;
        };
        if self.groups.len() <= index {
            self.groups.resize(
                index + 1,
                NextHop {
                    connections: Vec::new(),
                    tunnels: Vec::new(),
                },
            );
        }
        hop.tunnels.retain(|(_, w)| *w > 0);
        if let Some(slot) = self.groups.get_mut(index) {
            *slot = hop;
        }
    }

    /// Routes `prefix` through next-hop group `group` (see
    /// [`Fib::set_group`]); its sources are the caller's business.
    pub fn insert_group(&mut self, prefix: IpNet, group: u32) {
        if group >= GROUP - 1 {
            return;
        }
        let entry = self.entry(&prefix).unwrap_or(Entry::EMPTY);
        if entry.route == GROUP + group {
            return;
        }
        self.put_route(&prefix, entry, GROUP + group);
        self.grouped += 1;
    }

    /// What `prefix` (exactly) holds, read once for
    /// [`Fib::set_installed`]: its group and its sources.
    pub fn installed(&self, prefix: &IpNet) -> Installed {
        Installed(self.entry(prefix).unwrap_or(Entry::EMPTY))
    }

    /// The connections packets from a prefix may arrive over, as
    /// [`Fib::sources_of`] gives them, from what [`Fib::installed`] read.
    pub fn sources_in(&self, installed: Installed) -> Option<&[ConnectionId]> {
        self.sources.get(installed.0.source()?).map(Vec::as_slice)
    }

    /// Sets the route (a group, or none) and the sources of `prefix` in
    /// one write: what [`Fib::insert_group`] or [`Fib::remove`] and
    /// [`Fib::set_sources`] or [`Fib::refuse_sources`] would do one after
    /// the other, with one lookup (`was`, read by [`Fib::installed`] since
    /// the last change of `prefix`) instead of several.
    pub fn set_installed(
        &mut self,
        prefix: &IpNet,
        was: Installed,
        route: RouteUpdate,
        sources: SourceUpdate,
    ) {
        let old = was.0;
        let mut new = old;
        match route {
            RouteUpdate::Keep => {}
            RouteUpdate::Group(group) if group < GROUP - 1 => new.route = GROUP + group,
            RouteUpdate::Group(_) => {}
            RouteUpdate::Remove => new.route = NONE,
        }
        match sources {
            SourceUpdate::Keep => {}
            SourceUpdate::Set([]) => new.source = NONE,
            SourceUpdate::Set(list) => new.source = self.sources.acquire(list),
            SourceUpdate::Refuse => new.source = self.sources.acquire(&[] as &[ConnectionId]),
        }
        if new == old {
            // Acquired again: the count stays as it was.
            if let Some(id) = new
                .source()
                .filter(|_| !matches!(sources, SourceUpdate::Keep))
            {
                self.sources.release(id);
            }
            return;
        }
        let replaced = self.put(prefix, new);
        // `was` must be what the table held: the counts below rely on it.
        debug_assert!(replaced == old, "set_installed given a stale entry");
        if new.source != old.source || !matches!(sources, SourceUpdate::Keep) {
            if let Some(id) = old.source() {
                self.sources.release(id);
            }
        }
        if new.route != old.route {
            self.forget(old.route());
            if new.route().is_some_and(|id| id >= GROUP) {
                self.grouped += 1;
            }
        }
    }

    /// The group `prefix` (exactly, not by longest match) points at.
    pub fn group_of(&self, prefix: &IpNet) -> Option<u32> {
        self.entry(prefix)?.route()?.checked_sub(GROUP)
    }

    /// Every prefix that points at a group, with the group, in no order.
    pub fn grouped(&self) -> impl Iterator<Item = (IpNet, u32)> + '_ {
        let group = |id: u32| self.entries.get(id)?.route()?.checked_sub(GROUP);
        let v4 = self.v4.iter().filter_map(move |(a, l, id)| {
            let net = Ipv4Net::new(Ipv4Addr::from(a), l).ok()?;
            Some((IpNet::V4(net), group(id)?))
        });
        let v6 = self.v6.iter().filter_map(move |(a, l, id)| {
            let net = Ipv6Net::new(Ipv6Addr::from(a), l).ok()?;
            Some((IpNet::V6(net), group(id)?))
        });
        v4.chain(v6)
    }

    /// How many prefixes point at a group (cheap: a counter).
    pub fn grouped_len(&self) -> usize {
        self.grouped
    }

    /// The next hop of interned entry `entry` (`None`: no route, or an
    /// empty group).
    fn hop(&self, entry: u32) -> Option<&NextHop> {
        let id = self.entries.get(entry)?.route()?;
        if id >= GROUP {
            let hop = self.groups.get((id - GROUP) as usize)?;
            return (!hop.tunnels.is_empty()).then_some(hop);
        }
        self.hops.get(id)
    }

    /// Sets the connections packets from `prefix` may arrive over (none:
    /// the prefix is no source of its own any more).
    pub fn set_sources(&mut self, prefix: &IpNet, connections: &[ConnectionId]) {
        let source = match connections {
            [] => NONE,
            _ => self.sources.acquire(connections),
        };
        self.put_source(prefix, source);
    }

    /// Refuses packets from inside `prefix` over every connection, whatever
    /// shorter source prefix holds them (this gateway's own networks: no
    /// peer sends from them, whatever covering route it announced). Setting
    /// the prefix's sources again ([`Fib::set_sources`]) undoes it.
    pub fn refuse_sources(&mut self, prefix: &IpNet) {
        let nobody = self.sources.acquire(&[] as &[ConnectionId]);
        self.put_source(prefix, nobody);
    }

    fn put_source(&mut self, prefix: &IpNet, source: u32) {
        let entry = self.entry(prefix).unwrap_or(Entry::EMPTY);
        self.put(prefix, Entry { source, ..entry });
        if let Some(old) = entry.source() {
            self.sources.release(old);
        }
    }

    /// The connections packets from exactly `prefix` may arrive over, if
    /// it is a source prefix.
    pub fn sources_of(&self, prefix: &IpNet) -> Option<&[ConnectionId]> {
        let id = self.entry(prefix)?.source()?;
        self.sources.get(id).map(Vec::as_slice)
    }

    /// Lets packets from `prefix` arrive over `connection`.
    pub fn allow_source(&mut self, prefix: IpNet, connection: ConnectionId) {
        let current = self.sources_of(&prefix);
        if current.is_some_and(|list| list.contains(&connection)) {
            return;
        }
        let mut list = current.map(<[ConnectionId]>::to_vec).unwrap_or_default();
        list.push(connection);
        self.set_sources(&prefix, &list);
    }

    /// Whether a packet from `addr` may arrive over `connection`: the
    /// longest source prefix holding `addr` must list it.
    pub fn source_allowed(&self, addr: IpAddr, connection: ConnectionId) -> bool {
        let has_sources = |id: u32| self.entries.get(id).is_some_and(|e| e.source != NONE);
        let id = match addr {
            IpAddr::V4(a) => self.v4.lookup_where(u32::from(a), has_sources),
            IpAddr::V6(a) => self.v6.lookup_where(u128::from(a), has_sources),
        };
        id.and_then(|id| self.entries.get(id))
            .and_then(|e| self.sources.get(e.source()?))
            .is_some_and(|c| c.contains(&connection))
    }

    /// The next hop of the longest prefix that contains `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<&NextHop> {
        match addr {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }

    pub fn lookup_v4(&self, addr: Ipv4Addr) -> Option<&NextHop> {
        self.v4
            .lookup_where(u32::from(addr), |e| self.hop(e).is_some())
            .and_then(|e| self.hop(e))
    }

    pub fn lookup_v6(&self, addr: Ipv6Addr) -> Option<&NextHop> {
        self.v6
            .lookup_where(u128::from(addr), |e| self.hop(e).is_some())
            .and_then(|e| self.hop(e))
    }

    /// Number of prefixes in the table.
    pub fn len(&self) -> usize {
        self.routes.0 + self.routes.1
    }

    /// Number of IPv4 and IPv6 prefixes in the table (cheap: counters).
    pub fn counts(&self) -> (usize, usize) {
        self.routes
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The current FIB snapshot, read lock-free by the data path and replaced
/// atomically by the control plane.
pub struct FibCell(ArcSwap<Fib>);

impl FibCell {
    pub fn new(fib: Fib) -> Self {
        FibCell(ArcSwap::from_pointee(fib))
    }

    /// The snapshot in force now. Hold the guard only for one packet batch.
    pub fn load(&self) -> arc_swap::Guard<Arc<Fib>> {
        self.0.load()
    }

    pub fn store(&self, fib: Fib) {
        self.0.store(Arc::new(fib));
    }

    /// Publishes a shared snapshot: the control plane keeps its own `Arc`
    /// and copies the table only when it next changes it while the data
    /// path still holds this one (`Arc::make_mut`).
    pub fn store_shared(&self, fib: Arc<Fib>) {
        self.0.store(fib);
    }
}
