//! The maps behind the big route tables (the Adj-RIB-In's and the FIB's):
//! a key (an address) to a `u32` id, one map per prefix length and shard.
//! Both families use an [`OpenMap`]: open addressing with each key and its id side by side (8
//! bytes for IPv4, [`U32Map`]; 20 for IPv6, [`V6`]), so that a lookup reads
//! one cache line (two when its probe crosses one), where a `HashMap`
//! reads its control bytes and then its entries, one after the other, and
//! cannot be prefetched (IPv6 keys took 2.2 times as long as IPv4 ones to
//! ingest while they were in one). A loop over many keys
//! prefetches them [`PREFETCH_AHEAD`] ahead ([`Ahead`]) so that their
//! misses overlap. In a full-table ingest, the control thread spent a
//! third of its time in those misses (BENCHMARKS-routes.md, eleventh
//! sitting). Plain data; no prefixes, no routing.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

/// How many lookups ahead a loop over many keys prefetches (see
/// [`OpenMap::prefetch`]): enough to keep the processor's dozen or two
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

/// A key of an [`OpenMap`]: stored in its slot beside the id.
pub trait OpenKey: Copy + Eq + Default + fmt::Debug {
    /// The key spread over 64 bits with the map's `seed`, so that every
    /// key bit reaches the low bits (the slot) and a peer who does not know
    /// the seed cannot choose keys that share a probe sequence.
    fn spread(self, seed: u64) -> u64;
}

/// MurmurHash3's 32-bit finalizer: a bijection whose every input bit
/// reaches every output bit.
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

impl OpenKey for u32 {
    /// A bijection of the key: it shares nothing with the shard choice
    /// (the high bits of a product), so a shard's keys do not cluster.
    fn spread(self, seed: u64) -> u64 {
        u64::from(fmix32(self ^ seed as u32))
    }
}

/// An IPv6 address as four `u32`s, high first: 4-byte alignment (a
/// `u128` has 16), so that its [`OpenMap`] slot is 20 bytes, not 32 (or
/// 24 as two `u64`s); hashed as two `u64`s (an array is hashed as its
/// bytes, which `FastHasher` folds in one at a time).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct V6([u32; 4]);

impl V6 {
    /// The high and the low 64 bits.
    pub fn halves(self) -> (u64, u64) {
        let [a, b, c, d] = self.0.map(u64::from);
        ((a << 32) | b, (c << 32) | d)
    }
}

impl From<u128> for V6 {
    fn from(a: u128) -> V6 {
        V6([
            (a >> 96) as u32,
            (a >> 64) as u32,
            (a >> 32) as u32,
            a as u32,
        ])
    }
}

impl From<V6> for u128 {
    fn from(v: V6) -> u128 {
        v.0.iter()
            .fold(0, |acc, part| (acc << 32) | u128::from(*part))
    }
}

impl Hash for V6 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (high, low) = self.halves();
        state.write_u64(high);
        state.write_u64(low);
    }
}

impl OpenKey for V6 {
    /// The two halves, each under its own seed, multiplied into 128 bits
    /// and folded (as foldhash does): one multiplication, where two
    /// MurmurHash3 finalizers took twice as long on the data path's
    /// lookups, a hash for each prefix length probed. The seeds are the
    /// map's: a peer cannot choose keys that share a probe.
    fn spread(self, seed: u64) -> u64 {
        let (high, low) = self.halves();
        let once = folded_multiply(high ^ seed, low ^ seed.rotate_left(32) ^ MIX);
        // Once is not enough: the product's low bits hold only the keys'
        // low bits, so keys whose low halves step by a power of two (host
        // routes 4,096 apart in one /64) shared a few home slots for some
        // seeds (a mean probe of 3.3-3.7 in one run of four). A second
        // fold by a constant brings every bit into the low ones.
        folded_multiply(once, MIX_AGAIN)
    }
}

/// `a` times `b` in 128 bits, its halves xored together (foldhash's mixer).
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Spreads the second half of a [`V6`] (the digits of pi's fraction, as
/// foldhash takes its constants): a seed of zero still mixes.
const MIX: u64 = 0x243f_6a88_85a3_08d3;
/// The second round's constant (pi's fraction, the next 64 bits).
const MIX_AGAIN: u64 = 0x1319_8a2e_0370_7344;

/// A map of [`OpenKey`]s to `u32` ids with linear probing: slots of (key,
/// id), a free one holding [`NO_ID`]; a removal shifts the slots after it
/// back (no tombstones), so a lookup stops at the first free slot. At most
/// 3/4 of the slots are used. Keys are spread with a random seed per map
/// ([`OpenKey::spread`]), so that a peer cannot choose prefixes that share
/// one probe sequence, and keys walked from one map in slot order do not
/// land in runs in another.
#[derive(Clone)]
pub struct OpenMap<K> {
    slots: Vec<Slot<K>>,
    len: usize,
    seed: u64,
}

/// IPv4 keys: each slot 8 bytes, eight to a cache line.
pub type U32Map = OpenMap<u32>;

#[derive(Clone, Copy, Debug)]
struct Slot<K> {
    key: K,
    id: u32,
}

impl<K> Default for OpenMap<K> {
    fn default() -> Self {
        OpenMap {
            slots: Vec::new(),
            len: 0,
            seed: RandomState::new().hash_one(0u32),
        }
    }
}

impl<K: OpenKey> fmt::Debug for OpenMap<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Whether `len` keys may sit in `slots` slots: at most 3/4 used. A key
/// not in the map (every new route) is looked for until a free slot; at
/// 3/4 that is about 8 slots, one or two cache lines of IPv4 keys, where
/// at 7/8 it was 32.
fn fits(len: usize, slots: usize) -> bool {
    len * 4 <= slots * 3
}

impl<K: OpenKey> OpenMap<K> {
    /// The slot where `key`'s probe starts (`mask`: slots - 1).
    fn home(&self, key: K, mask: usize) -> usize {
        key.spread(self.seed) as usize & mask
    }

    /// The slot holding `key`, if any.
    fn find(&self, key: K) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key, mask);
        // A free slot always exists ([`fits`]): this ends.
        loop {
            let slot = self.slots.get(i)?;
            if slot.id == NO_ID {
                return None;
            }
            if slot.key == key {
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
        let free = Slot {
            key: K::default(),
            id: NO_ID,
        };
        let old = std::mem::replace(&mut self.slots, vec![free; slots]);
        for slot in old.into_iter().filter(|s| s.id != NO_ID) {
            self.place(slot);
        }
    }

    /// Stores `slot`, whose key is not in the map, in the first free slot
    /// of its probe (one exists: [`fits`]).
    fn place(&mut self, slot: Slot<K>) {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.home(slot.key, mask);
        while let Some(at) = self.slots.get_mut(i) {
            if at.id == NO_ID {
                *at = slot;
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

impl<K: OpenKey> OpenMap<K> {
    /// The id of `key`, if it is in the map.
    pub fn get(&self, key: &K) -> Option<u32> {
        let i = self.find(*key)?;
        self.slots.get(i).map(|s| s.id)
    }

    /// Maps `key` to `id`; the id it had. [`NO_ID`] is not stored (it
    /// marks a free slot): that insert is refused, as `None` and nothing
    /// changed.
    pub fn insert(&mut self, key: K, id: u32) -> Option<u32> {
        debug_assert_ne!(id, NO_ID, "NO_ID marks a free slot");
        if id == NO_ID {
            return None;
        }
        // One probe finds the key or the free slot that ends its run,
        // where a new key goes unless the map must grow first.
        if !self.slots.is_empty() {
            let mask = self.slots.len() - 1;
            let mut i = self.home(key, mask);
            while let Some(slot) = self.slots.get_mut(i) {
                if slot.id == NO_ID {
                    if fits(self.len + 1, mask + 1) {
                        *slot = Slot { key, id };
                        self.len += 1;
                        return None;
                    }
                    break;
                }
                if slot.key == key {
                    return Some(std::mem::replace(&mut slot.id, id));
                }
                i = (i + 1) & mask;
            }
        }
        // Grown only for a new key: a full map whose ids change stays.
        self.reserve(1);
        self.place(Slot { key, id });
        self.len += 1;
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<u32> {
        let mut hole = self.find(*key)?;
        let old = self.slots.get(hole)?.id;
        let mask = self.slots.len() - 1;
        // Shift back every following slot of the run whose probe passes
        // through the hole, so that no lookup meets a gap before its key.
        let mut j = (hole + 1) & mask;
        while let Some(&slot) = self.slots.get(j) {
            if slot.id == NO_ID {
                break;
            }
            let from_home = j.wrapping_sub(self.home(slot.key, mask)) & mask;
            let from_hole = j.wrapping_sub(hole) & mask;
            if from_home >= from_hole {
                if let Some(at) = self.slots.get_mut(hole) {
                    *at = slot;
                }
                hole = j;
            }
            j = (j + 1) & mask;
        }
        if let Some(at) = self.slots.get_mut(hole) {
            *at = Slot {
                key: K::default(),
                id: NO_ID,
            };
        }
        self.len -= 1;
        Some(old)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every key with its id, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (K, u32)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.id != NO_ID)
            .map(|s| (s.key, s.id))
    }

    /// Asks the processor to bring `key`'s place in the map into cache,
    /// without waiting: a loop over many keys asks [`PREFETCH_AHEAD`] keys
    /// ahead of its lookups, so that their misses overlap.
    pub fn prefetch(&self, key: &K) {
        if self.len == 0 {
            return;
        }
        let i = self.home(*key, self.slots.len() - 1);
        if let Some(slot) = self.slots.get(i) {
            prefetch_line(slot);
        }
    }
}

/// Starts loading `at`'s cache lines (a hint: no effect on results): the
/// first, and the next when `at` crosses into it (a 20-byte IPv6 slot
/// does at 4 of the 16 offsets a slot takes in a line).
#[inline(always)]
fn prefetch_line<T>(at: &T) {
    let first = (at as *const T).cast::<u8>();
    prefetch_address(first);
    let offset = first as usize % 64;
    if offset + std::mem::size_of::<T>() > 64 {
        prefetch_address(first.wrapping_add(64 - offset));
    }
}

/// Starts loading the cache line of `address`.
#[inline(always)]
fn prefetch_address(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of every x86_64 processor (the baseline the
        // target assumes), and a prefetch reads nothing architecturally:
        // it cannot fault, whatever the address (here within or one line
        // past a live reference's).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
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

    /// IPv6 keys: /48s (a low half of zero) and /128s beside them, and
    /// keys that differ only in their low half.
    #[test]
    fn wide_keys_agree_with_a_hash_map() {
        let mut map: OpenMap<V6> = OpenMap::default();
        let mut model: HashMap<u128, u32> = HashMap::new();
        let mut x: u64 = 1;
        let mut hits = 0;
        for step in 0..100_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Keys and operations from different bits, so that removals
            // hit keys of both kinds.
            let high = 0xfd10_0000_0000_0000 | ((x % 3_001) << 16);
            let key = match (x >> 32) % 4 {
                0 => u128::from(high) << 64 | u128::from((x >> 40) % 7),
                _ => u128::from(high) << 64,
            };
            if (x >> 48).is_multiple_of(5) {
                let removed = map.remove(&V6::from(key));
                hits += usize::from(removed.is_some());
                assert_eq!(removed, model.remove(&key), "step {step}");
            } else {
                assert_eq!(map.insert(V6::from(key), step), model.insert(key, step));
            }
            assert_eq!(map.len(), model.len());
        }
        assert!(hits > 1_000, "only {hits} removals hit");
        for (k, v) in &model {
            assert_eq!(map.get(&V6::from(*k)), Some(*v));
        }
        let mut listed: Vec<_> = map.iter().map(|(k, v)| (u128::from(k), v)).collect();
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

    /// The slots a lookup of each of `keys` reads, on average, once all
    /// are in one map.
    fn mean_probe<K: OpenKey>(keys: &[K]) -> f64 {
        let mut map: OpenMap<K> = OpenMap::default();
        for (i, k) in keys.iter().enumerate() {
            map.insert(*k, i as u32);
        }
        let mask = map.slots.len() - 1;
        let probes: usize = keys
            .iter()
            .filter_map(|k| Some((map.find(*k)?.wrapping_sub(map.home(*k, mask)) & mask) + 1))
            .sum();
        probes as f64 / keys.len() as f64
    }

    /// A shard's IPv6 /48s (as the Adj-RIB-In picks its shards) probe
    /// short runs too.
    #[test]
    fn one_shards_slash_48s_do_not_cluster() {
        let keys: Vec<V6> = (0..1_000_000u128)
            .map(|i| V6::from((0xfd10_0000_0000_0000 | (i << 16)) << 64))
            .filter(|k| k.halves().0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58 == 5)
            .collect();
        let mean = mean_probe(&keys);
        assert!(mean < 3.0, "{} keys, mean probe {mean:.2}", keys.len());
    }

    /// /128s that differ only in their low half (a peer's host routes in
    /// one /64) probe short runs: the low half is mixed in as well.
    #[test]
    fn slash_128s_of_one_slash_64_do_not_cluster() {
        let keys: Vec<V6> = (0..50_000u128)
            .map(|i| V6::from((0x2001_0db8_0000_0001 << 64) | (i * 4_096)))
            .collect();
        let mean = mean_probe(&keys);
        assert!(mean < 3.0, "{} keys, mean probe {mean:.2}", keys.len());
    }

    /// A shard's /24s, chosen by the high bits of the shard hash, probe
    /// short runs: the in-map mixer does not reuse those bits.
    #[test]
    fn one_shards_slash_24s_do_not_cluster() {
        let keys: Vec<u32> = (0..1_000_000u32)
            .map(|i| (20 << 24) + (i << 8))
            .filter(|k| k.wrapping_mul(0x9E37_79B9) >> 26 == 5)
            .collect();
        let mean = mean_probe(&keys);
        assert!(mean < 3.0, "{} keys, mean probe {mean:.2}", keys.len());
    }
}
