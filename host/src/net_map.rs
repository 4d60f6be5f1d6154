//! A hash map keyed by IP prefix, kept small and fast for route tables of a
//! million entries: an IPv4 prefix is one `u64` key (address and length),
//! an IPv6 prefix three words, and the hasher is a cheap integer mixer
//! (prefixes are not attacker-chosen keys in a way that matters here: a
//! peer is bounded by its max-prefix limit, and the mixer avoids the
//! clustering of low bits that /24s would cause). Iteration order is the
//! map's, not the prefixes': callers that show or compare lists sort them.
//! Plain data; no routing logic.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A fast hasher for integer keys: a multiply-xor accumulation, finished by
/// a full avalanche so that the low bits (which pick the bucket) depend on
/// every input bit: prefixes share their low bits (all zero in a /24).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.add(u64::from(*b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_u128(&mut self, n: u128) {
        self.add(n as u64);
        self.add((n >> 64) as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A `HashSet` with [`FastHasher`].
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// An IPv6 prefix as a key: the address in two words, the length.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct V6Key {
    hi: u64,
    lo: u64,
    len: u8,
}

fn v4_key(n: &Ipv4Net) -> u64 {
    (u64::from(u32::from(n.addr())) << 8) | u64::from(n.prefix_len())
}

fn v4_net(k: u64) -> IpNet {
    let addr = Ipv4Addr::from((k >> 8) as u32);
    let len = (k & 0xff) as u8;
    IpNet::V4(Ipv4Net::new(addr, len).unwrap_or_else(|_| Ipv4Net::from(addr)))
}

fn v6_key(n: &Ipv6Net) -> V6Key {
    let a = u128::from(n.addr());
    V6Key {
        hi: (a >> 64) as u64,
        lo: a as u64,
        len: n.prefix_len(),
    }
}

fn v6_net(k: &V6Key) -> IpNet {
    let addr = Ipv6Addr::from((u128::from(k.hi) << 64) | u128::from(k.lo));
    IpNet::V6(Ipv6Net::new(addr, k.len).unwrap_or_else(|_| Ipv6Net::from(addr)))
}

/// Prefix -> `V`. Keys are exact (host bits are part of the key, as with
/// `IpNet`'s own equality). One map per family: a single large table is
/// allocated apart from the small blocks (jemalloc's arena for blocks of
/// 256 KiB or more, `control/heap.rs`) and given back whole when it grows
/// (many small shards were tried, and left more memory behind in the
/// allocator).
#[derive(Clone)]
pub struct NetMap<V> {
    v4: FastMap<u64, V>,
    v6: FastMap<V6Key, V>,
}

impl<V> Default for NetMap<V> {
    fn default() -> Self {
        NetMap {
            v4: FastMap::default(),
            v6: FastMap::default(),
        }
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for NetMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: PartialEq> PartialEq for NetMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.v4 == other.v4 && self.v6 == other.v6
    }
}

impl<V> NetMap<V> {
    pub fn get(&self, prefix: &IpNet) -> Option<&V> {
        match prefix {
            IpNet::V4(n) => self.v4.get(&v4_key(n)),
            IpNet::V6(n) => self.v6.get(&v6_key(n)),
        }
    }

    pub fn contains_key(&self, prefix: &IpNet) -> bool {
        self.get(prefix).is_some()
    }

    pub fn insert(&mut self, prefix: IpNet, value: V) -> Option<V> {
        match prefix {
            IpNet::V4(n) => self.v4.insert(v4_key(&n), value),
            IpNet::V6(n) => self.v6.insert(v6_key(&n), value),
        }
    }

    pub fn remove(&mut self, prefix: &IpNet) -> Option<V> {
        match prefix {
            IpNet::V4(n) => self.v4.remove(&v4_key(n)),
            IpNet::V6(n) => self.v6.remove(&v6_key(n)),
        }
    }

    /// Empties the map, keeping its memory for the next entries.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Every entry, IPv4 first, in no particular order otherwise.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> + '_ {
        self.v4
            .iter()
            .map(|(k, v)| (v4_net(*k), v))
            .chain(self.v6.iter().map(|(k, v)| (v6_net(k), v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Every prefix, sorted.
    pub fn sorted_keys(&self) -> Vec<IpNet> {
        let mut keys: Vec<IpNet> = self.keys().collect();
        keys.sort_unstable();
        keys
    }

    /// Empties the map, returning its prefixes (in no order).
    pub fn take_keys(&mut self) -> Vec<IpNet> {
        let keys = self.keys().collect();
        *self = NetMap::default();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_of_both_families_round_trip() {
        let mut m = NetMap::default();
        for (i, p) in [
            "10.1.0.0/24",
            "10.1.0.7/24",
            "0.0.0.0/0",
            "fd00:1::/64",
            "::/0",
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(m.insert(net(p), i), None);
        }
        assert_eq!(m.len(), 5);
        assert_eq!(m.get(&net("10.1.0.7/24")), Some(&1), "host bits are kept");
        assert_eq!(m.insert(net("fd00:1::/64"), 9), Some(3));
        assert_eq!(m.remove(&net("0.0.0.0/0")), Some(2));
        assert!(!m.contains_key(&net("0.0.0.0/0")));
        assert_eq!(
            m.sorted_keys(),
            vec![
                net("10.1.0.0/24"),
                net("10.1.0.7/24"),
                net("::/0"),
                net("fd00:1::/64")
            ]
        );
        let mut other = m.clone();
        assert_eq!(other, m);
        other.insert(net("::/0"), 0);
        assert_ne!(other, m);
        assert_eq!(other.take_keys().len(), 4);
        assert!(other.is_empty());
    }
}
