//! The compact tables behind the FIB: a longest-prefix-match table kept as
//! one map per prefix length (a lookup probes the lengths in use, longest
//! first: a handful in real tables) to `u32` ids (an IPv4 prefix and its id
//! side by side in an [`OpenMap`], 8 bytes; IPv6 prefixes too, 20), and
//! an interner that stores each distinct next hop or source set once and
//! counts its users. An IPv6 prefix is keyed as four `u32`s, not a `u128`,
//! so that its entries are 4-byte aligned (20 bytes with a 4-byte value,
//! not 32). Each length's map is split into shards by a hash of the
//! address ([`Key::shard`]) and shared between copies (copy-on-write):
//! the control plane changes its copy while the data path reads the
//! published one, and only the shards it changed are duplicated. No
//! sockets, no policy: keys, lengths and ids.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;

use crate::id_map::{OpenKey, OpenMap, V6};
use crate::net_map::FastMap;

/// An address as an integer (IPv4: `u32`, IPv6: `u128`).
pub trait Key: Copy + Eq + Hash {
    /// Bits in an address.
    const BITS: u8;
    /// How a masked address is stored in a table.
    type Stored: OpenKey + Hash;
    fn store(self) -> Self::Stored;
    fn load(stored: Self::Stored) -> Self;
    /// The address with every bit after the first `len` cleared.
    fn masked(self, len: u8) -> Self;
    /// Which shard a masked prefix lives in: the high 8 bits of a
    /// multiplicative hash of every address bit. An octet of the address
    /// was used before; a table clustered in a few /8s (or an IPv6 /32)
    /// then sat in a few shards of a megabyte or more, each copied whole
    /// after every snapshot into memory the allocator had to fault in
    /// afresh (blocks that large go back to the kernel when freed,
    /// `control/heap.rs`): a third of the control thread's page faults in
    /// a full-table ingest.
    fn shard(self) -> usize;
}

impl Key for u32 {
    const BITS: u8 = 32;
    type Stored = u32;
    fn store(self) -> u32 {
        self
    }
    fn load(stored: u32) -> u32 {
        stored
    }
    fn masked(self, len: u8) -> u32 {
        self & u32::MAX
            .checked_shl(u32::from(32 - len.min(32)))
            .unwrap_or(0)
    }
    fn shard(self) -> usize {
        (self.wrapping_mul(0x9E37_79B9) >> 24) as usize
    }
}

impl Key for u128 {
    const BITS: u8 = 128;
    type Stored = V6;
    fn store(self) -> V6 {
        V6::from(self)
    }
    fn load(stored: V6) -> u128 {
        u128::from(stored)
    }
    fn masked(self, len: u8) -> u128 {
        self & u128::MAX
            .checked_shl(u32::from(128 - len.min(128)))
            .unwrap_or(0)
    }
    fn shard(self) -> usize {
        let folded = ((self >> 64) as u64) ^ (self as u64).rotate_left(29);
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
    }
}

/// Shards per prefix length: a change copies only its shard when the
/// table is shared with a published snapshot (`Arc::make_mut`).
const SHARDS: usize = 256;

/// One prefix length's prefixes, sharded (absent: empty); a shard maps
/// a masked address to its value.
type Shards<K> = Vec<Option<Arc<OpenMap<<K as Key>::Stored>>>>;

/// Prefix -> value, with longest-prefix match. Keys are stored masked.
/// Cloning shares the shards: a clone and the original copy a shard only
/// when one of them changes it, so that publishing a snapshot of a table
/// of a million prefixes and changing a few of them costs a few shards.
#[derive(Clone)]
pub struct Lpm<K: Key> {
    /// Index: the prefix length.
    by_len: Vec<Shards<K>>,
    /// The lengths holding prefixes, longest first.
    lens: Vec<u8>,
}

impl<K: Key> Default for Lpm<K> {
    fn default() -> Self {
        Lpm {
            by_len: (0..=K::BITS).map(|_| Vec::new()).collect(),
            lens: Vec::new(),
        }
    }
}

impl<K: Key> Lpm<K> {
    fn map(&self, key: K, len: u8) -> Option<&OpenMap<K::Stored>> {
        self.by_len
            .get(usize::from(len))?
            .get(key.shard())?
            .as_deref()
    }

    /// Sets the value of `addr/len` (host bits are cleared); the old one.
    pub fn insert(&mut self, addr: K, len: u8, value: u32) -> Option<u32> {
        let key = addr.masked(len);
        let shards = self.by_len.get_mut(usize::from(len))?;
        if shards.is_empty() {
            shards.resize(SHARDS, None);
        }
        let shard = shards.get_mut(key.shard())?;
        let map = Arc::make_mut(shard.get_or_insert_with(Default::default));
        let old = map.insert(key.store(), value);
        if old.is_none() && !self.lens.contains(&len) {
            self.lens.push(len);
            self.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
        old
    }

    /// Removes `addr/len`; its value.
    pub fn remove(&mut self, addr: K, len: u8) -> Option<u32> {
        let key = addr.masked(len);
        self.map(key, len)?.get(&key.store())?;
        let shards = self.by_len.get_mut(usize::from(len))?;
        let shard = shards.get_mut(key.shard())?;
        let map = Arc::make_mut(shard.as_mut()?);
        let old = map.remove(&key.store())?;
        if map.is_empty() {
            *shard = None;
            if shards.iter().all(Option::is_none) {
                *shards = Vec::new();
                self.lens.retain(|l| *l != len);
            }
        }
        Some(old)
    }

    /// The value of exactly `addr/len`.
    pub fn get(&self, addr: K, len: u8) -> Option<u32> {
        let key = addr.masked(len);
        self.map(key, len)?.get(&key.store())
    }

    /// Starts bringing `addr/len`'s entry into cache
    /// ([`OpenMap::prefetch`]).
    pub fn prefetch(&self, addr: K, len: u8) {
        let key = addr.masked(len);
        if let Some(map) = self.map(key, len) {
            map.prefetch(&key.store());
        }
    }

    /// The value of the longest prefix holding `addr`.
    #[cfg(test)]
    pub fn lookup(&self, addr: K) -> Option<u32> {
        self.lookup_where(addr, |_| true)
    }

    /// The value of the longest prefix holding `addr` whose value `usable`
    /// accepts (shorter prefixes are tried when it does not).
    pub fn lookup_where(&self, addr: K, usable: impl Fn(u32) -> bool) -> Option<u32> {
        self.lens.iter().find_map(|len| {
            let key = addr.masked(*len);
            self.map(key, *len)?
                .get(&key.store())
                .filter(|v| usable(*v))
        })
    }

    /// Every prefix (address, length) with its value, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (K, u8, u32)> + '_ {
        self.lens.iter().flat_map(move |len| {
            self.by_len
                .get(usize::from(*len))
                .into_iter()
                .flatten()
                .flatten()
                .flat_map(move |map| map.iter().map(move |(k, v)| (K::load(k), *len, v)))
        })
    }
}

/// Each distinct value once, with an id and a count of its users; an id
/// whose last user left is given to the next new value.
#[derive(Clone)]
pub struct Interner<T: Clone + Eq + Hash> {
    items: Vec<(T, usize)>,
    ids: FastMap<T, u32>,
    free: Vec<u32>,
    /// The id acquired last: a table's prefixes come in runs of one value
    /// (one peer's, one connection's), found again without hashing.
    last: u32,
}

impl<T: Clone + Eq + Hash> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            items: Vec::new(),
            ids: FastMap::default(),
            free: Vec::new(),
            last: 0,
        }
    }
}

impl<T: Clone + Eq + Hash> Interner<T> {
    /// The id of `value`, counting one more user (it is copied only when
    /// new).
    pub fn acquire<Q>(&mut self, value: &Q) -> u32
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = T> + ?Sized,
    {
        if let Some((item, n)) = self.items.get_mut(self.last as usize) {
            if *n > 0 && Borrow::<Q>::borrow(&*item) == value {
                *n += 1;
                return self.last;
            }
        }
        if let Some(id) = self.ids.get(value) {
            if let Some(item) = self.items.get_mut(*id as usize) {
                item.1 += 1;
            }
            self.last = *id;
            return *id;
        }
        let owned = value.to_owned();
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(item) = self.items.get_mut(id as usize) {
                    *item = (owned.clone(), 1);
                }
                id
            }
            None => {
                self.items.push((owned.clone(), 1));
                // Unreachable fallback: an item is added only when none is
                // free, and lives while a FIB entry uses it, so ids stay
                // below the entries stored, which the peers' u32
                // `max_prefixes` bound long before memory runs out.
                u32::try_from(self.items.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.ids.insert(owned, id);
        self.last = id;
        id
    }

    /// One user of `id` fewer.
    pub fn release(&mut self, id: u32) {
        let Some(item) = self.items.get_mut(id as usize) else {
            return;
        };
        item.1 = item.1.saturating_sub(1);
        if item.1 == 0 {
            self.ids.remove(&item.0);
            self.free.push(id);
        }
    }

    /// The value of `id`.
    pub fn get(&self, id: u32) -> Option<&T> {
        self.items.get(id as usize).map(|(v, _)| v)
    }

    /// Values with a user.
    #[cfg(test)]
    pub fn live(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_exact_lookups() {
        let mut t: Lpm<u32> = Lpm::default();
        assert_eq!(t.insert(0x0a00_0000, 8, 1), None);
        assert_eq!(t.insert(0x0a02_0300, 24, 2), None);
        assert_eq!(t.insert(0x0a02_03ff, 24, 3), Some(2), "host bits cleared");
        assert_eq!(t.lookup(0x0a02_0304), Some(3));
        assert_eq!(t.lookup(0x0a09_0000), Some(1));
        assert_eq!(t.lookup(0x0b00_0000), None);
        assert_eq!(t.get(0x0a02_0300, 24), Some(3));
        assert_eq!(t.get(0x0a02_0300, 23), None);
        assert_eq!(t.remove(0x0a02_0300, 24), Some(3));
        assert_eq!(t.lookup(0x0a02_0304), Some(1));
        assert_eq!(t.iter().count(), 1);
        t.insert(0, 0, 7);
        assert_eq!(t.lookup(0xc000_0201), Some(7), "default route");
        let shared = t.clone();
        t.insert(0x0a02_0300, 24, 5);
        assert_eq!(
            shared.lookup(0x0a02_0304),
            Some(1),
            "a clone keeps its snapshot"
        );
        assert_eq!(t.lookup(0x0a02_0304), Some(5));
        let mut v6: Lpm<u128> = Lpm::default();
        v6.insert(u128::MAX, 128, 4);
        assert_eq!(v6.lookup(u128::MAX), Some(4));
        assert_eq!(v6.lookup(u128::MAX - 1), None);
        v6.insert(0xfd10_0000_0001 << 80, 48, 6);
        assert_eq!(
            v6.iter().min_by_key(|e| e.1),
            Some((0xfd10_0000_0001 << 80, 48, 6)),
            "keys stored as halves come back whole"
        );
    }

    #[test]
    fn a_table_in_a_few_slash_8s_spreads_over_the_shards() {
        // 64k /24s in one /8, and 64k /48s in one /32: an octet of the
        // address put each in one shard.
        let v4: std::collections::HashSet<usize> = (0..65_536u32)
            .map(|i| ((20 << 24) | (i << 8)).shard())
            .collect();
        let v6: std::collections::HashSet<usize> = (0..65_536u128)
            .map(|i| ((0xfd10_0000u128 << 96) | (i << 80)).shard())
            .collect();
        assert_eq!((v4.len(), v6.len()), (SHARDS, SHARDS));
    }

    #[test]
    fn an_entry_is_its_key_and_a_u32() {
        assert_eq!(std::mem::size_of::<(<u32 as Key>::Stored, u32)>(), 8);
        assert_eq!(std::mem::size_of::<(<u128 as Key>::Stored, u32)>(), 20);
    }

    #[test]
    fn interned_values_are_shared_and_ids_reused() {
        let mut i: Interner<Vec<usize>> = Interner::default();
        let a = i.acquire(&[0][..]);
        assert_eq!(i.acquire(&vec![0]), a);
        let b = i.acquire(&[1][..]);
        assert_ne!(a, b);
        i.release(a);
        assert_eq!(i.get(a), Some(&vec![0]), "one user left");
        i.release(a);
        let c = i.acquire(&[2][..]);
        assert_eq!(c, a, "a free id is reused");
        assert_eq!(i.get(c), Some(&vec![2]));
    }
}
