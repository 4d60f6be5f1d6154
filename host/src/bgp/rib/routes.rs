//! The Adj-RIB-In's storage: prefix -> attribute set, compact for a
//! million routes. One map per prefix length and family, keyed by the
//! address alone (an IPv4 entry is a `u32` address and a `u32` set id, 8
//! bytes side by side in an [`OpenMap`], where a map keyed by `IpNet` held
//! 16); each attribute set is stored once, in a slab, with a count of the
//! routes using it (the routes of one UPDATE share one). Keys are exact:
//! host bits are kept, as with `IpNet`'s own equality. Each length's map
//! is split in [`SHARDS`] by the address's hash, so that a growing table
//! rehashes a shard at a time. Plain data; no limits, no policy.

use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::bgp::message::PathAttributes;
use crate::id_map::{OpenKey, OpenMap, V6};

/// Attribute sets by id, each with the number of routes using it; a slot
/// whose last route left is given to the next new set.
#[derive(Debug, Default)]
struct Sets {
    slots: Vec<Option<(Arc<PathAttributes>, usize)>>,
    free: Vec<u32>,
}

impl Sets {
    /// A new id for `attrs`, with no route yet.
    fn add(&mut self, attrs: Arc<PathAttributes>) -> u32 {
        match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.slots.get_mut(id as usize) {
                    *slot = Some((attrs, 0));
                }
                id
            }
            None => {
                self.slots.push(Some((attrs, 0)));
                // Unreachable fallback: a slot is added only when none is
                // free, and a set lives only while a route holds it (or
                // for the UPDATE that made it), so ids stay below the
                // routes stored plus one, which `max_prefixes` (a u32)
                // bounds; and four billion routes would not fit in memory.
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn get(&self, id: u32) -> Option<&Arc<PathAttributes>> {
        self.slots.get(id as usize)?.as_ref().map(|(a, _)| a)
    }

    fn acquire(&mut self, id: u32) {
        if let Some(Some((_, n))) = self.slots.get_mut(id as usize) {
            *n += 1;
        }
    }

    /// One route fewer for `id`; the set, and whether it was its last.
    fn release(&mut self, id: u32) -> Option<Arc<PathAttributes>> {
        let slot = self.slots.get_mut(id as usize)?;
        let (attrs, n) = slot.as_mut()?;
        *n = n.saturating_sub(1);
        let attrs = attrs.clone();
        self.forget_unused(id);
        Some(attrs)
    }

    /// Frees `id` if no route uses it.
    fn forget_unused(&mut self, id: u32) {
        if let Some(slot) = self.slots.get_mut(id as usize) {
            if slot.as_ref().is_some_and(|(_, n)| *n == 0) {
                *slot = None;
                self.free.push(id);
            }
        }
    }
}

/// Maps per prefix length: a table grows one shard at a time. One map of a
/// million routes doubled at once, and for that moment held the old table
/// and the new (9 MB above what the routes need, at the peak).
const SHARDS: usize = 64;

/// An address as a key of one prefix length's map.
trait Address: OpenKey + Hash {
    /// Which of the [`SHARDS`] maps holds it: the high bits of a
    /// multiplicative hash (the maps' own hasher uses every bit again).
    fn shard(&self) -> usize;
}

impl Address for u32 {
    fn shard(&self) -> usize {
        (self.wrapping_mul(0x9E37_79B9) >> 26) as usize
    }
}

impl Address for V6 {
    fn shard(&self) -> usize {
        let (high, low) = self.halves();
        let mixed = high ^ low.rotate_left(32);
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
    }
}

/// One prefix length's routes: address -> set id, in [`SHARDS`] maps
/// (none until the first route).
#[derive(Debug, Clone)]
struct Length<K: Address> {
    shards: Vec<OpenMap<K>>,
}

impl<K: Address> Default for Length<K> {
    fn default() -> Self {
        Length { shards: Vec::new() }
    }
}

impl<K: Address> Length<K> {
    fn get(&self, key: &K) -> Option<u32> {
        self.shards.get(key.shard())?.get(key)
    }

    fn prefetch(&self, key: &K) {
        if let Some(map) = self.shards.get(key.shard()) {
            map.prefetch(key);
        }
    }

    fn insert(&mut self, key: K, id: u32) -> Option<u32> {
        if self.shards.is_empty() {
            self.shards.resize_with(SHARDS, OpenMap::default);
        }
        self.shards.get_mut(key.shard())?.insert(key, id)
    }

    fn remove(&mut self, key: &K) -> Option<u32> {
        self.shards.get_mut(key.shard())?.remove(key)
    }

    fn iter(&self) -> impl Iterator<Item = (K, u32)> + '_ {
        self.shards.iter().flat_map(OpenMap::iter)
    }
}

/// Prefix lengths of each family, the maps a [`Walk`] steps through.
const V4_LENGTHS: usize = 33;
const V6_LENGTHS: usize = 129;

/// Where a `Routes::walk` is: the next map, IPv4 lengths first.
#[derive(Debug, Default, Clone)]
pub struct Walk {
    next: usize,
    over: bool,
    /// Prefixes handed out so far.
    taken: usize,
}

impl Walk {
    /// Every map was visited.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// About how many prefixes of a table of `len` are still to come: what
    /// it has less what the walk took, and at least one until it is over
    /// (the table may have changed meanwhile).
    pub fn left(&self, len: usize) -> usize {
        match self.over {
            true => 0,
            false => len.saturating_sub(self.taken).max(1),
        }
    }
}

/// Appends the prefixes of map `shard` of length `len` in `maps` to `out`,
/// made by `net`; how many, or `None` when the length has no maps.
fn walk_map<K: Address>(
    maps: &[Length<K>],
    len: usize,
    shard: usize,
    out: &mut impl Extend<IpNet>,
    net: impl Fn(K, u8) -> Option<IpNet>,
) -> Option<usize> {
    let map = maps.get(len)?.shards.get(shard)?;
    let l = u8::try_from(len).ok()?;
    let mut n = 0;
    out.extend(
        map.iter()
            .filter_map(|(k, _)| net(k, l))
            .inspect(|_| n += 1),
    );
    Some(n)
}

/// A table's prefixes by family and length, each with a `u32` (a set id).
#[derive(Debug, Default, Clone)]
struct Maps {
    /// Index: the prefix length (0..=32); absent lengths are empty.
    v4: Vec<Length<u32>>,
    /// Index: the prefix length (0..=128); the address as four words.
    v6: Vec<Length<V6>>,
}

fn v6_key(n: &Ipv6Net) -> V6 {
    V6::from(u128::from(n.addr()))
}

fn v6_net(key: V6, len: u8) -> Option<IpNet> {
    let addr = Ipv6Addr::from(u128::from(key));
    Some(IpNet::V6(Ipv6Net::new(addr, len).ok()?))
}

fn v4_net(a: u32, len: u8) -> Option<IpNet> {
    Some(IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).ok()?))
}

/// The prefixes in `maps`.
fn count<K: Address>(maps: &[Length<K>]) -> usize {
    maps.iter()
        .flat_map(|l| l.shards.iter())
        .map(|m| m.len())
        .sum()
}

/// The map of `len` in `maps`, created on first use.
fn map_mut<K: Address>(maps: &mut Vec<Length<K>>, len: u8) -> Option<&mut Length<K>> {
    let len = usize::from(len);
    if maps.len() <= len {
        maps.resize_with(len + 1, Length::default);
    }
    maps.get_mut(len)
}

impl Maps {
    fn get(&self, prefix: &IpNet) -> Option<u32> {
        match prefix {
            IpNet::V4(n) => self
                .v4
                .get(usize::from(n.prefix_len()))?
                .get(&u32::from(n.addr())),
            IpNet::V6(n) => self.v6.get(usize::from(n.prefix_len()))?.get(&v6_key(n)),
        }
    }

    fn prefetch(&self, prefix: &IpNet) {
        match prefix {
            IpNet::V4(n) => {
                if let Some(l) = self.v4.get(usize::from(n.prefix_len())) {
                    l.prefetch(&u32::from(n.addr()));
                }
            }
            IpNet::V6(n) => {
                if let Some(l) = self.v6.get(usize::from(n.prefix_len())) {
                    l.prefetch(&v6_key(n));
                }
            }
        }
    }

    fn insert(&mut self, prefix: &IpNet, id: u32) -> Option<u32> {
        match prefix {
            IpNet::V4(n) => map_mut(&mut self.v4, n.prefix_len())?.insert(u32::from(n.addr()), id),
            IpNet::V6(n) => map_mut(&mut self.v6, n.prefix_len())?.insert(v6_key(n), id),
        }
    }

    fn remove(&mut self, prefix: &IpNet) -> Option<u32> {
        match prefix {
            IpNet::V4(n) => self
                .v4
                .get_mut(usize::from(n.prefix_len()))?
                .remove(&u32::from(n.addr())),
            IpNet::V6(n) => self
                .v6
                .get_mut(usize::from(n.prefix_len()))?
                .remove(&v6_key(n)),
        }
    }

    /// Every prefix with its id, IPv4 first, in no particular order
    /// otherwise.
    fn iter(&self) -> impl Iterator<Item = (IpNet, u32)> + '_ {
        let v4 = self.v4.iter().enumerate().flat_map(|(len, map)| {
            map.iter()
                .filter_map(move |(a, id)| Some((v4_net(a, u8::try_from(len).ok()?)?, id)))
        });
        let v6 = self.v6.iter().enumerate().flat_map(|(len, map)| {
            map.iter()
                .filter_map(move |(a, id)| Some((v6_net(a, u8::try_from(len).ok()?)?, id)))
        });
        v4.chain(v6)
    }
}

/// The prefixes of a table at one moment, without their routes, from
/// which prefixes are then taken out (a graceful restart's stale routes):
/// made by copying the table's maps as they are, with no hashing (at 1.2M
/// routes, a few milliseconds, where inserting each prefix into a new map
/// took a quarter of a second).
#[derive(Debug, Default)]
pub struct Prefixes {
    maps: Maps,
    len: usize,
}

impl Prefixes {
    /// Takes `prefix` out; whether it was in.
    pub fn remove(&mut self, prefix: &IpNet) -> bool {
        let had = self.maps.remove(prefix).is_some();
        self.len -= usize::from(had);
        had
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many are IPv4, how many IPv6 (counted over the maps).
    pub fn counts(&self) -> (usize, usize) {
        (count(&self.maps.v4), count(&self.maps.v6))
    }

    /// Every prefix, IPv4 first, in no particular order otherwise.
    pub fn iter(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.maps.iter().map(|(p, _)| p)
    }

    /// Takes out the prefixes of one family (IPv6 if `v6`), their maps
    /// moved whole: no prefix is hashed.
    pub fn take_family(&mut self, v6: bool) -> Prefixes {
        let maps = match v6 {
            false => Maps {
                v4: std::mem::take(&mut self.maps.v4),
                v6: Vec::new(),
            },
            true => Maps {
                v4: Vec::new(),
                v6: std::mem::take(&mut self.maps.v6),
            },
        };
        let len = count(&maps.v4) + count(&maps.v6);
        self.len -= len;
        Prefixes { maps, len }
    }

    /// Takes out one map's prefixes (IPv4 first), appended to `out`: a
    /// 64th of a prefix length's at most; how many (0: none left).
    pub fn pop_map(&mut self, out: &mut Vec<IpNet>) -> usize {
        let n = pop_from(&mut self.maps.v4, out, v4_net)
            .or_else(|| pop_from(&mut self.maps.v6, out, v6_net))
            .unwrap_or(0);
        self.len -= n;
        n
    }
}

/// Empties the first non-empty map of `maps` into `out`, made by `net`;
/// how many, or `None` when every map is empty.
fn pop_from<K: Address>(
    maps: &mut [Length<K>],
    out: &mut Vec<IpNet>,
    net: impl Fn(K, u8) -> Option<IpNet>,
) -> Option<usize> {
    let (len, map) = maps.iter_mut().enumerate().find_map(|(len, l)| {
        let map = l.shards.iter_mut().find(|m| !m.is_empty())?;
        Some((len, map))
    })?;
    let map = std::mem::take(map);
    let n = map.len();
    let l = u8::try_from(len).ok()?;
    out.extend(map.iter().filter_map(|(k, _)| net(k, l)));
    Some(n)
}

/// Prefix -> attribute set.
#[derive(Debug, Default)]
pub struct Routes {
    maps: Maps,
    sets: Sets,
    len: usize,
}

impl Routes {
    /// A set id for the routes of one UPDATE: give it to [`Routes::insert`]
    /// for each, then to [`Routes::done_with`].
    pub fn add_set(&mut self, attrs: Arc<PathAttributes>) -> u32 {
        self.sets.add(attrs)
    }

    /// Frees set `id` if no route took it (every prefix was refused).
    pub fn done_with(&mut self, id: u32) {
        self.sets.forget_unused(id);
    }

    /// Routes `prefix` over set `id` (from [`Routes::add_set`]); the route
    /// it had.
    pub fn insert(&mut self, prefix: &IpNet, id: u32) -> Option<Arc<PathAttributes>> {
        let old = self.maps.insert(prefix, id);
        self.sets.acquire(id);
        match old {
            Some(old) => self.sets.release(old),
            None => {
                self.len += 1;
                None
            }
        }
    }

    /// Removes the route of `prefix`; what it was.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<Arc<PathAttributes>> {
        let old = self.maps.remove(prefix)?;
        self.len -= 1;
        self.sets.release(old)
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&Arc<PathAttributes>> {
        self.sets.get(self.maps.get(prefix)?)
    }

    /// The set of id `id`, while a route holds it.
    pub fn set(&self, id: u32) -> Option<&Arc<PathAttributes>> {
        self.sets.get(id)
    }

    /// Starts bringing `prefix`'s entry into cache ([`OpenMap::prefetch`]).
    pub fn prefetch(&self, prefix: &IpNet) {
        self.maps.prefetch(prefix);
    }

    /// The prefixes of the families asked for (IPv4, IPv6), as they are
    /// now.
    pub fn prefixes(&self, v4: bool, v6: bool) -> Prefixes {
        let maps = Maps {
            v4: if v4 { self.maps.v4.clone() } else { Vec::new() },
            v6: if v6 { self.maps.v6.clone() } else { Vec::new() },
        };
        let len = count(&maps.v4) + count(&maps.v6);
        Prefixes { maps, len }
    }

    pub fn contains_key(&self, prefix: &IpNet) -> bool {
        self.get(prefix).is_some()
    }

    /// How many routes are IPv4, how many IPv6 (counted over the maps).
    pub fn counts(&self) -> (usize, usize) {
        (count(&self.maps.v4), count(&self.maps.v6))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every route, IPv4 first, in no particular order otherwise.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Arc<PathAttributes>)> + '_ {
        self.maps
            .iter()
            .filter_map(|(prefix, id)| Some((prefix, self.sets.get(id)?)))
    }

    /// Walks the table a map at a time: appends to `out` the prefixes of
    /// the next maps of `walk` until at least `min` were added or the walk
    /// is over; returns how many were added. A pass over a million routes
    /// is so spread over many steps (one collected list of them all took
    /// 60-100 ms of the control thread). The table may change between
    /// steps: a route stored throughout is visited exactly once (each
    /// address lives in one map), one added or removed meanwhile at most
    /// once.
    pub fn walk(&self, walk: &mut Walk, min: usize, out: &mut impl Extend<IpNet>) -> usize {
        let mut added = 0;
        while added < min && !walk.over {
            let (len, shard) = (walk.next / SHARDS, walk.next % SHARDS);
            let visited = if len < V4_LENGTHS {
                walk_map(&self.maps.v4, len, shard, out, v4_net)
            } else if len < V4_LENGTHS + V6_LENGTHS {
                walk_map(&self.maps.v6, len - V4_LENGTHS, shard, out, v6_net)
            } else {
                walk.over = true;
                break;
            };
            match visited {
                Some(n) => {
                    added += n;
                    walk.taken += n;
                    walk.next += 1;
                }
                // A length with no routes: its maps are skipped at once.
                None => walk.next = (len + 1) * SHARDS,
            }
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn routes_share_sets_and_sets_are_freed_with_their_last_route() {
        let mut r = Routes::default();
        let a = r.add_set(Arc::new(PathAttributes {
            med: Some(1),
            ..PathAttributes::default()
        }));
        for p in [
            "10.1.0.0/24",
            "10.1.0.7/24",
            "0.0.0.0/0",
            "fd00:1::/64",
            "::/0",
        ] {
            assert!(r.insert(&net(p), a).is_none());
        }
        r.done_with(a);
        assert_eq!(r.len(), 5);
        assert_eq!(r.get(&net("10.1.0.7/24")).unwrap().med, Some(1));
        assert!(r.get(&net("10.1.0.0/23")).is_none(), "exact keys");
        let b = r.add_set(Arc::new(PathAttributes::default()));
        let old = r.insert(&net("fd00:1::/64"), b).unwrap();
        assert_eq!(old.med, Some(1));
        r.done_with(b);
        assert_eq!(r.remove(&net("0.0.0.0/0")).unwrap().med, Some(1));
        assert!(r.remove(&net("0.0.0.0/0")).is_none());
        let mut keys: Vec<IpNet> = r.iter().map(|(p, _)| p).collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                net("10.1.0.0/24"),
                net("10.1.0.7/24"),
                net("::/0"),
                net("fd00:1::/64")
            ]
        );
        // An unused set's slot is reused; a used one is not.
        let unused = r.add_set(Arc::new(PathAttributes::default()));
        r.done_with(unused);
        assert_eq!(r.add_set(Arc::new(PathAttributes::default())), unused);
        assert_eq!(r.iter().count(), 4);
    }

    #[test]
    fn prefixes_are_a_copy_of_the_families_asked_for() {
        let mut r = Routes::default();
        let a = r.add_set(Arc::new(PathAttributes::default()));
        for p in ["10.1.0.0/24", "0.0.0.0/0", "fd00:1::/64"] {
            r.insert(&net(p), a);
        }
        let mut both = r.prefixes(true, true);
        let v4 = r.prefixes(true, false);
        assert_eq!((both.len(), v4.len()), (3, 2));
        assert_eq!(
            r.prefixes(false, true).iter().collect::<Vec<_>>(),
            [net("fd00:1::/64")]
        );
        // The table changes; the copies do not.
        r.remove(&net("0.0.0.0/0"));
        r.insert(&net("10.9.0.0/16"), a);
        assert!(both.remove(&net("0.0.0.0/0")));
        assert!(!both.remove(&net("0.0.0.0/0")), "taken out once");
        assert!(
            !both.remove(&net("10.9.0.0/16")),
            "added to the table after the copy"
        );
        let mut left: Vec<IpNet> = both.iter().collect();
        left.sort();
        assert_eq!(left, [net("10.1.0.0/24"), net("fd00:1::/64")]);
        assert_eq!(both.len(), 2);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn prefixes_leave_by_family_and_a_map_at_a_time() {
        let mut r = Routes::default();
        let a = r.add_set(Arc::new(PathAttributes::default()));
        let v4: Vec<IpNet> = (0..1000u32)
            .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + (i << 8)), 24).unwrap()))
            .collect();
        for p in v4.iter().chain([&net("fd00:1::/64"), &net("fd00:2::/48")]) {
            r.insert(p, a);
        }
        let mut all = r.prefixes(true, true);
        let v6 = all.take_family(true);
        assert_eq!((all.len(), v6.len()), (1000, 2));
        assert_eq!(all.counts(), (1000, 0));
        let mut out = Vec::new();
        let mut maps = 0;
        loop {
            let n = all.pop_map(&mut out);
            if n == 0 {
                break;
            }
            maps += 1;
            assert!(n < 100, "a map of a 64th of the length: {n}");
            assert_eq!(all.len(), 1000 - out.len());
        }
        assert!(maps > 1);
        out.sort();
        assert_eq!(out, v4);
        assert!(all.is_empty());
    }

    /// Consecutive /24s and /48s (a table's typical runs) spread evenly
    /// over a length's maps, so no map holds more than a small part of the
    /// table (the part a resize copies).
    #[test]
    fn a_length_is_spread_over_its_maps() {
        const N: u32 = 100_000;
        let mut r = Routes::default();
        let set = r.add_set(Arc::new(PathAttributes::default()));
        for i in 0..N {
            let v4 = Ipv4Net::new(Ipv4Addr::from((20 << 24) + (i << 8)), 24).unwrap();
            let v6 = Ipv6Net::new(
                Ipv6Addr::from((0xfd10u128 << 112) + (u128::from(i) << 80)),
                48,
            )
            .unwrap();
            r.insert(&IpNet::V4(v4), set);
            r.insert(&IpNet::V6(v6), set);
        }
        r.done_with(set);
        assert_eq!(r.len(), 2 * N as usize);
        let mean = N as usize / SHARDS;
        let v4: Vec<usize> = r.maps.v4[24].shards.iter().map(|m| m.len()).collect();
        let v6: Vec<usize> = r.maps.v6[48].shards.iter().map(|m| m.len()).collect();
        for sizes in [&v4, &v6] {
            assert_eq!(sizes.len(), SHARDS);
            assert_eq!(sizes.iter().sum::<usize>(), N as usize);
            assert!(
                sizes.iter().all(|n| *n > mean / 2 && *n < mean * 2),
                "{sizes:?}"
            );
        }
        assert_eq!(r.iter().count(), 2 * N as usize);
        let net = IpNet::V4(Ipv4Net::new(Ipv4Addr::new(20, 1, 2, 0), 24).unwrap());
        assert!(r.get(&net).is_some());
        assert!(r.remove(&net).is_some() && r.get(&net).is_none());
    }

    /// A walk takes the table a map at a time, over many steps, and sees
    /// every route stored throughout exactly once, whatever is added or
    /// removed between its steps.
    #[test]
    fn a_walk_sees_each_stored_route_once_across_changes() {
        let v4 =
            |i: u32| IpNet::V4(Ipv4Net::new(Ipv4Addr::from((20 << 24) + (i << 8)), 24).unwrap());
        let v6 = |i: u32| {
            let a = (0xfd10u128 << 112) + (u128::from(i) << 80);
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), 48).unwrap())
        };
        let mut r = Routes::default();
        let set = r.add_set(Arc::new(PathAttributes::default()));
        let others = ["0.0.0.0/0", "10.0.0.1/32", "::/0", "fd00:1::/64"].map(net);
        for p in (0..20_000).flat_map(|i| [v4(i), v6(i)]).chain(others) {
            r.insert(&p, set);
        }
        let mut walk = Walk::default();
        let mut seen: Vec<IpNet> = Vec::new();
        let mut steps = 0;
        // The largest map holds well under 1,000 of these routes.
        let (min, most) = (300, 300 + 1_000);
        while !walk.is_over() {
            assert!(walk.left(r.len()) >= 1, "counted while under way");
            let before = seen.len();
            let n = r.walk(&mut walk, min, &mut seen);
            assert_eq!(n, seen.len() - before);
            assert!(n >= min || walk.is_over(), "{n} at step {steps}");
            assert!(n <= most, "a map at a time: {n}");
            if steps == 5 {
                // Removed: some seen already, some not yet.
                for i in (0..20_000).step_by(7) {
                    r.remove(&v4(i));
                }
                for i in 20_000..21_000 {
                    r.insert(&v4(i), set);
                }
            }
            steps += 1;
        }
        r.done_with(set);
        assert_eq!(walk.left(r.len()), 0, "nothing left once over");
        assert!(steps > 40, "{steps} steps");
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "no route seen twice");
        let throughout = (0..20_000)
            .filter(|i| i % 7 != 0)
            .map(v4)
            .chain((0..20_000).map(v6))
            .chain(others);
        for p in throughout {
            assert!(sorted.binary_search(&p).is_ok(), "{p} not seen");
        }
        // Another walk over the table as it is now sees exactly it.
        let mut all = Vec::new();
        r.walk(&mut Walk::default(), usize::MAX, &mut all);
        assert_eq!(all.len(), r.len());
    }
}
