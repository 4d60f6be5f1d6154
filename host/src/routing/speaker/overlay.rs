//! The scratch state of an import filter's dry run: what the candidate
//! would accept differently from the filter in force, by (tunnel, prefix).
//!
//! A swap to a filter that rewrites every route of a table learned over two
//! sessions puts two entries per prefix here (two million for a million
//! prefixes), so nothing in it costs a pass over all of them at once:
//! - the entries are kept in shards (by prefix), so that an insert rehashes
//!   at most a shard's, never the whole map's;
//! - the prefixes it touches are listed as they are found, each once, for
//!   the selection that follows (no collect, sort and dedup at the end);
//! - the first few keys in prefix order, which the answer shows, are kept
//!   as they come (no sort of every key at the end);
//! - it is taken apart a shard at a time ([`Overlay::drop_shard`]), so
//!   that its end is no single step either.
//!
//! Owns: the overlay's entries and the two lists. Must not: change a
//! session or a RIB (the dry run reads them; the live path never sees this).

use std::collections::BTreeSet;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

use ipnet::IpNet;

use crate::bgp::message::PathAttributes;
use crate::dataplane::fib::TunnelId;
use crate::net_map::{FastHasher, FastMap};

/// Shards of the entries (a power of two).
const SHARDS: usize = 64;

/// What a candidate filter would leave a route with (`None`: not accepted).
pub type Kept = Option<Arc<PathAttributes>>;

/// What a candidate import filter would accept differently from the one in
/// force, by (tunnel, prefix).
pub struct Overlay {
    shards: Vec<FastMap<(TunnelId, IpNet), Kept>>,
    len: usize,
    /// Each prefix with an entry, once, in the order first found.
    prefixes: Vec<IpNet>,
    /// The smallest `shown` keys by (prefix, tunnel).
    first: BTreeSet<(IpNet, TunnelId)>,
    shown: usize,
}

impl Overlay {
    /// An empty overlay that keeps its first `shown` keys in prefix order.
    pub fn new(shown: usize) -> Overlay {
        Overlay {
            shards: (0..SHARDS).map(|_| FastMap::default()).collect(),
            len: 0,
            prefixes: Vec::new(),
            first: BTreeSet::new(),
            shown,
        }
    }

    fn shard(prefix: &IpNet) -> usize {
        let hash = BuildHasherDefault::<FastHasher>::default().hash_one(prefix);
        // The high bits: the shards' own tables index by the low ones.
        (hash >> 58) as usize & (SHARDS - 1)
    }

    pub fn get(&self, tunnel: TunnelId, prefix: &IpNet) -> Option<&Kept> {
        self.shards
            .get(Self::shard(prefix))?
            .get(&(tunnel, *prefix))
    }

    /// Records what the candidate leaves `prefix` over `tunnel` with;
    /// `others` are the other tunnels that may hold the prefix (so that the
    /// prefix is listed once however many sessions carry it).
    pub fn insert(
        &mut self,
        tunnel: TunnelId,
        prefix: IpNet,
        kept: Kept,
        others: impl IntoIterator<Item = TunnelId>,
    ) {
        let index = Self::shard(&prefix);
        let Some(shard) = self.shards.get_mut(index) else {
            return;
        };
        let listed = others
            .into_iter()
            .any(|t| t != tunnel && shard.contains_key(&(t, prefix)));
        if shard.insert((tunnel, prefix), kept).is_some() {
            return;
        }
        self.len += 1;
        if !listed {
            self.prefixes.push(prefix);
        }
        if self.shown == 0 {
            return;
        }
        let key = (prefix, tunnel);
        if self.first.len() < self.shown || self.first.last().is_some_and(|l| key < *l) {
            self.first.insert(key);
            if self.first.len() > self.shown {
                self.first.pop_last();
            }
        }
    }

    /// Routes with an entry.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The prefixes with an entry, each once, in the order first found
    /// (taken: the list is left empty).
    pub fn take_prefixes(&mut self) -> Vec<IpNet> {
        std::mem::take(&mut self.prefixes)
    }

    /// The first keys in (prefix, tunnel) order, at most the `shown` the
    /// overlay was made with.
    pub fn first(&self) -> impl Iterator<Item = &(IpNet, TunnelId)> {
        self.first.iter()
    }

    /// Frees one shard's entries (and the empty ones before it); false
    /// once none is left. A dry run over millions of routes ends with
    /// this, a shard per step.
    pub fn drop_shard(&mut self) -> bool {
        while let Some(shard) = self.shards.pop() {
            if !shard.is_empty() {
                self.len = self.len.saturating_sub(shard.len());
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    const T1: TunnelId = TunnelId(0);
    const T2: TunnelId = TunnelId(1);

    #[test]
    fn a_prefix_over_two_tunnels_is_listed_once() {
        let mut o = Overlay::new(10);
        o.insert(T1, net("10.0.1.0/24"), None, [T1, T2]);
        o.insert(T2, net("10.0.2.0/24"), None, [T1, T2]);
        o.insert(T2, net("10.0.1.0/24"), None, [T1, T2]);
        assert_eq!(o.len(), 3);
        assert_eq!(o.take_prefixes(), [net("10.0.1.0/24"), net("10.0.2.0/24")]);
        assert_eq!(o.get(T2, &net("10.0.1.0/24")), Some(&None));
        assert_eq!(o.get(T1, &net("10.0.2.0/24")), None);
    }

    #[test]
    fn the_first_keys_are_the_smallest_whatever_the_order() {
        let mut o = Overlay::new(3);
        for i in (0..1000u32).rev() {
            let p = IpNet::new(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)).into(), 24)
                .expect("prefix");
            o.insert(T1, p, None, [T1]);
        }
        let first: Vec<String> = o.first().map(|(p, _)| p.to_string()).collect();
        assert_eq!(first, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]);
    }

    #[test]
    fn it_is_taken_apart_a_shard_at_a_time() {
        let mut o = Overlay::new(0);
        for i in 0..10_000u32 {
            let p = IpNet::new(std::net::Ipv4Addr::from(0x1400_0000 + (i << 8)).into(), 24)
                .expect("prefix");
            o.insert(T1, p, None, [T1]);
        }
        let mut steps = 0;
        while o.drop_shard() {
            steps += 1;
        }
        assert_eq!(steps, SHARDS, "10,000 prefixes fill every shard");
        assert!(o.is_empty());
        // Empty shards take no step of their own.
        let mut o = Overlay::new(0);
        o.insert(T1, net("10.0.1.0/24"), None, [T1]);
        assert!(o.drop_shard());
        assert!(!o.drop_shard());
    }
}
