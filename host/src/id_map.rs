//! The maps behind the big route tables (the Adj-RIB-In's and the FIB's):
//! a key (an address) to a `u32` id, one map per prefix length and shard.
//! [`IdMap`] is what those tables need of a map; IPv6 keys use a
//! [`FastMap`], IPv4 keys a [`U32Map`]: open addressing with each key and
//! its id side by side in 8 bytes, so that a lookup reads one cache line
//! (two when its probe crosses one), where a `HashMap` reads its control
//! bytes and then its entries, one after the other. A loop over many keys
//! prefetches them [`PREFETCH_AHEAD`] ahead ([`Ahead`]) so that their
//! misses overlap. In a full-table ingest, the control thread spent a
//! third of its time in those misses (BENCHMARKS-routes.md, eleventh
//! sitting). Plain data; no prefixes, no routing.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::net_map::FastMap;

/// What the route tables need of a key -> id map.
pub trait IdMap: Default + Clone + fmt::Debug {
    type Key: Copy;
    fn get(&self, key: &Self::Key) -> Option<u32>;
    /// Maps `key` to `id`; the id it had.
    fn insert(&mut self, key: Self::Key, id: u32) -> Option<u32>;
    fn remove(&mut self, key: &Self::Key) -> Option<u32>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every key with its id, in no order.
    fn iter(&self) -> impl Iterator<Item = (Self::Key, u32)> + '_;
    /// Asks the processor to bring `key`'s place in the map into cache,
    /// without waiting: a loop over many keys asks [`PREFETCH_AHEAD`] keys
    /// ahead of its lookups, so that their misses overlap.
    fn prefetch(&self, _key: &Self::Key) {}
}

impl<K: Copy + Eq + Hash + fmt::Debug> IdMap for FastMap<K, u32> {
    type Key = K;
    fn get(&self, key: &K) -> Option<u32> {
        FastMap::get(self, key).copied()
    }
    fn insert(&mut self, key: K, id: u32) -> Option<u32> {
        FastMap::insert(self, key, id)
    }
    fn remove(&mut self, key: &K) -> Option<u32> {
        FastMap::remove(self, key)
    }
    fn len(&self) -> usize {
        FastMap::len(self)
    }
    fn iter(&self) -> impl Iterator<Item = (K, u32)> + '_ {
        FastMap::iter(self).map(|(k, v)| (*k, *v))
    }
}

/// How many lookups ahead a loop over many keys prefetches (see
/// [`IdMap::prefetch`]): enough to keep the processor's dozen or two
/// outstanding misses busy. A whole chunk asked for at once (a thousand
/// prefetches) left most of the misses at the loads; 8 or 32 ahead did as
/// well as 16.
pub const PREFETCH_AHEAD: usize = 16;

/// A loop's items [`PREFETCH_AHEAD`] ahead of the one it works on: made
/// over the same items as the loop (prefetching the first ones), then
/// stepped once per item worked on (prefetching the one that many ahead).
/// The prefetch is passed at each step, so the loop may change the table
/// in between.
pub struct Ahead<I> {
    items: I,
}

impl<I: Iterator> Ahead<I> {
    pub fn new(mut items: I, prefetch: impl Fn(I::Item)) -> Ahead<I> {
        items.by_ref().take(PREFETCH_AHEAD).for_each(prefetch);
        Ahead { items }
    }

    pub fn step(&mut self, prefetch: impl FnOnce(I::Item)) {
        if let Some(item) = self.items.next() {
            prefetch(item);
        }
    }
}

/// The id that marks a free slot: it cannot be stored (ids are indexes of
/// tables far smaller).
pub const NO_ID: u32 = u32::MAX;

/// A `u32` -> `u32` map with linear probing: slots of (key, id), a free
/// one holding [`NO_ID`]; a removal shifts the slots after it back (no
/// tombstones), so a lookup stops at the first free slot. At most 3/4 of
/// the slots are used. Keys are spread by a bijective mixer with a random
/// seed per map, so that a peer cannot choose prefixes that share one
/// probe sequence, and keys walked from one map in slot order do not land
/// in runs in another.
#[derive(Clone)]
pub struct U32Map {
    slots: Vec<[u32; 2]>,
    len: usize,
    seed: u32,
}

impl Default for U32Map {
    fn default() -> Self {
        U32Map {
            slots: Vec::new(),
            len: 0,
            seed: RandomState::new().hash_one(0u32) as u32,
        }
    }
}

impl fmt::Debug for U32Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(IdMap::iter(self)).finish()
    }
}

/// Whether `len` keys may sit in `slots` slots: at most 3/4 used. A key
/// not in the map (every new route) is looked for until a free slot; at
/// 3/4 that is about 8 slots, one or two cache lines, where at 7/8 it was
/// 32.
fn fits(len: usize, slots: usize) -> bool {
    len * 4 <= slots * 3
}

impl U32Map {
    /// The slot where `key`'s probe starts (`mask`: slots - 1). The
    /// finalizer of MurmurHash3: every key bit reaches the low bits, and
    /// it shares nothing with the shard choice (the high bits of a
    /// product), so a shard's keys do not cluster.
    fn home(&self, key: u32, mask: usize) -> usize {
        let mut h = key ^ self.seed;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^= h >> 16;
        h as usize & mask
    }

    /// The slot holding `key`, if any.
    fn find(&self, key: u32) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key, mask);
        // A free slot always exists ([`fits`]): this ends.
        loop {
            let [k, id] = *self.slots.get(i)?;
            if id == NO_ID {
                return None;
            }
            if k == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Room for `more` keys beyond `len` within [`fits`].
    fn reserve(&mut self, more: usize) {
        let need = self.len + more;
        if fits(need, self.slots.len()) {
            return;
        }
        let mut slots = self.slots.len().max(8);
        while !fits(need, slots) {
            slots *= 2;
        }
        let old = std::mem::replace(&mut self.slots, vec![[0, NO_ID]; slots]);
        for [k, id] in old.into_iter().filter(|s| s[1] != NO_ID) {
            self.place(k, id);
        }
    }

    /// Stores `key`, not in the map, in the first free slot of its probe
    /// (one exists: [`fits`]).
    fn place(&mut self, key: u32, id: u32) {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.home(key, mask);
        while let Some(slot) = self.slots.get_mut(i) {
            if slot[1] == NO_ID {
                *slot = [key, id];
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

impl IdMap for U32Map {
    type Key = u32;

    fn get(&self, key: &u32) -> Option<u32> {
        let i = self.find(*key)?;
        self.slots.get(i).map(|s| s[1])
    }

    /// Maps `key` to `id`; the id it had. [`NO_ID`] is not stored (it
    /// marks a free slot): that insert is refused, as `None` and nothing
    /// changed.
    fn insert(&mut self, key: u32, id: u32) -> Option<u32> {
        debug_assert_ne!(id, NO_ID, "NO_ID marks a free slot");
        if id == NO_ID {
            return None;
        }
        if let Some(slot) = self.find(key).and_then(|i| self.slots.get_mut(i)) {
            return Some(std::mem::replace(&mut slot[1], id));
        }
        // Grown only for a new key: a full map whose ids change stays.
        self.reserve(1);
        self.place(key, id);
        self.len += 1;
        None
    }

    fn remove(&mut self, key: &u32) -> Option<u32> {
        let mut hole = self.find(*key)?;
        let old = self.slots.get(hole)?[1];
        let mask = self.slots.len() - 1;
        // Shift back every following slot of the run whose probe passes
        // through the hole, so that no lookup meets a gap before its key.
        let mut j = (hole + 1) & mask;
        while let Some(&[k, id]) = self.slots.get(j) {
            if id == NO_ID {
                break;
            }
            let from_home = j.wrapping_sub(self.home(k, mask)) & mask;
            let from_hole = j.wrapping_sub(hole) & mask;
            if from_home >= from_hole {
                if let Some(slot) = self.slots.get_mut(hole) {
                    *slot = [k, id];
                }
                hole = j;
            }
            j = (j + 1) & mask;
        }
        if let Some(slot) = self.slots.get_mut(hole) {
            *slot = [0, NO_ID];
        }
        self.len -= 1;
        Some(old)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.slots
            .iter()
            .filter(|s| s[1] != NO_ID)
            .map(|&[k, id]| (k, id))
    }

    fn prefetch(&self, key: &u32) {
        if self.len == 0 {
            return;
        }
        let i = self.home(*key, self.slots.len() - 1);
        if let Some(slot) = self.slots.get(i) {
            prefetch_line(slot);
        }
    }
}

/// Starts loading `at`'s cache line (a hint: no effect on results).
#[inline(always)]
fn prefetch_line<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of every x86_64 processor (the baseline the
        // target assumes), and a prefetch reads nothing architecturally:
        // it cannot fault, whatever the address (here a live reference's).
        unsafe { _mm_prefetch::<_MM_HINT_T0>((at as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Replays a mix of inserts and removals against a `HashMap`.
    #[test]
    fn agrees_with_a_hash_map_through_inserts_and_removals() {
        let mut map = U32Map::default();
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut x: u32 = 1;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Keys from a small range, so that removals hit and runs form.
            let key = (x % 5_000) << 8;
            if x.is_multiple_of(3) {
                assert_eq!(map.remove(&key), model.remove(&key), "step {step}");
            } else {
                assert_eq!(map.insert(key, step), model.insert(key, step));
            }
            assert_eq!(map.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(map.get(k), Some(*v));
        }
        let mut listed: Vec<_> = map.iter().collect();
        listed.sort_unstable();
        let mut expected: Vec<_> = model.into_iter().collect();
        expected.sort_unstable();
        assert_eq!(listed, expected);
    }

    #[test]
    fn extreme_keys_and_the_free_marker() {
        let mut map = U32Map::default();
        assert_eq!(map.get(&0), None, "empty");
        assert_eq!(map.remove(&0), None);
        assert_eq!(map.insert(0, 0), None);
        assert_eq!(map.insert(u32::MAX, 1), None);
        assert_eq!(map.get(&0), Some(0));
        assert_eq!(map.get(&u32::MAX), Some(1));
        assert_eq!(map.insert(u32::MAX, 2), Some(1));
        assert_eq!(map.remove(&0), Some(0));
        assert_eq!(map.get(&0), None);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn a_clone_is_independent() {
        let mut a = U32Map::default();
        a.insert(7, 1);
        let b = a.clone();
        a.insert(7, 2);
        a.insert(8, 3);
        assert_eq!((a.get(&7), b.get(&7), b.get(&8)), (Some(2), Some(1), None));
    }

    /// A shard's /24s, chosen by the high bits of the shard hash, probe
    /// short runs: the in-map mixer does not reuse those bits.
    #[test]
    fn one_shards_slash_24s_do_not_cluster() {
        let mut map = U32Map::default();
        let keys: Vec<u32> = (0..1_000_000u32)
            .map(|i| (20 << 24) + (i << 8))
            .filter(|k| k.wrapping_mul(0x9E37_79B9) >> 26 == 5)
            .collect();
        for (i, k) in keys.iter().enumerate() {
            map.insert(*k, i as u32);
        }
        let mask = map.slots.len() - 1;
        let probes: usize = keys
            .iter()
            .filter_map(|k| Some((map.find(*k)?.wrapping_sub(map.home(*k, mask)) & mask) + 1))
            .sum();
        let mean = probes as f64 / keys.len() as f64;
        assert!(mean < 3.0, "{} keys, mean probe {mean:.2}", keys.len());
    }
}
