//! The scratch state of an import filter's dry run: what the candidate
//! would accept differently from the filter in force, by (tunnel, prefix).
//!
//! Two forms, for two uses:
//! - **keyed** ([`Overlay::keyed`]), for a dry run: the selection that
//!   follows looks the candidate's routes up by key (`Learned::with`);
//! - **in order** ([`Overlay::in_order`]), for a checked swap: nothing
//!   looks an entry up; the swap records them all once the candidate is
//!   installed (`adopt.rs`), in the order the walk found them, which is the
//!   Adj-RIB-In's own, so that recording them, and the selection after, read
//!   the RIBs in order rather than at random (a million-entry map a cache
//!   miss a lookup).
//!
//! A swap to a filter that rewrites every route of a table learned over two
//! sessions puts two entries per prefix here (two million for a million
//! prefixes), so nothing in it costs a pass over all of them at once:
//! - keyed entries are kept in shards (by prefix), so that an insert
//!   rehashes at most a shard's, never the whole map's; entries in order
//!   are kept in runs of at most [`RUN`];
//! - the prefixes a keyed overlay touches are listed as they are found,
//!   each once, for the selection that follows (no collect, sort and dedup
//!   at the end);
//! - the first few entries in prefix order, which the answer shows, are kept
//!   as they come (no sort of every key at the end);
//! - it is taken apart a shard or a few runs at a time
//!   ([`Overlay::drop_shard`], [`Overlay::take_run`]), so that its end is no
//!   single step either.
//!
//! Owns: the overlay's entries and the lists. Must not: change a session
//! or a RIB (the dry run reads them; a checked swap hands the finished
//! overlay to `adopt.rs`, which records its entries).

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

use ipnet::IpNet;

use crate::bgp::message::PathAttributes;
use crate::dataplane::fib::TunnelId;
use crate::net_map::{FastHasher, FastMap};

/// Shards of the keyed entries (a power of two).
const SHARDS: usize = 64;

/// Entries in order per run at most (a filter call's worth).
pub const RUN: usize = super::FILTER_CHUNK;

/// Runs an overlay in order frees per [`Overlay::drop_shard`].
const RUNS_DROPPED: usize = 32;

/// What a candidate filter would leave a route with (`None`: not accepted).
pub type Kept = Option<Arc<PathAttributes>>;

/// An entry of an overlay in order.
pub type Entry = (TunnelId, IpNet, Kept);

/// What a candidate import filter would accept differently from the one in
/// force, by (tunnel, prefix).
pub struct Overlay {
    /// Keyed entries (empty in order).
    shards: Vec<FastMap<(TunnelId, IpNet), Kept>>,
    /// Entries in the order found (empty when keyed).
    runs: VecDeque<Vec<Entry>>,
    keyed: bool,
    len: usize,
    /// Keyed: each prefix with an entry, once, in the order first found.
    prefixes: Vec<IpNet>,
    /// The smallest `shown` keys by (prefix, tunnel), with their entries.
    first: BTreeMap<(IpNet, TunnelId), Kept>,
    shown: usize,
}

impl Overlay {
    /// An empty keyed overlay that keeps its first `shown` entries in
    /// prefix order.
    pub fn keyed(shown: usize) -> Overlay {
        Overlay {
            shards: (0..SHARDS).map(|_| FastMap::default()).collect(),
            keyed: true,
            ..Overlay::in_order(shown)
        }
    }

    /// An empty overlay in order that keeps its first `shown` entries in
    /// prefix order.
    pub fn in_order(shown: usize) -> Overlay {
        Overlay {
            shards: Vec::new(),
            runs: VecDeque::new(),
            keyed: false,
            len: 0,
            prefixes: Vec::new(),
            first: BTreeMap::new(),
            shown,
        }
    }

    fn shard(prefix: &IpNet) -> usize {
        let hash = BuildHasherDefault::<FastHasher>::default().hash_one(prefix);
        // The high bits: the shards' own tables index by the low ones.
        (hash >> 58) as usize & (SHARDS - 1)
    }

    /// The entry of a keyed overlay (`None` in order: nothing is looked
    /// up there).
    pub fn get(&self, tunnel: TunnelId, prefix: &IpNet) -> Option<&Kept> {
        self.shards
            .get(Self::shard(prefix))?
            .get(&(tunnel, *prefix))
    }

    /// Records what the candidate leaves `prefix` over `tunnel` with;
    /// `others` are the other tunnels that may hold the prefix (so that a
    /// keyed overlay lists the prefix once however many sessions carry
    /// it). In order, an entry found twice (over a session that came back
    /// during the walk, or a prefix decided again after it changed) is
    /// kept twice, the later one last.
    pub fn insert(
        &mut self,
        tunnel: TunnelId,
        prefix: IpNet,
        kept: Kept,
        others: impl IntoIterator<Item = TunnelId>,
    ) {
        if self.shown > 0 {
            self.show(tunnel, prefix, &kept);
        }
        if !self.keyed {
            match self.runs.back_mut().filter(|run| run.len() < RUN) {
                Some(run) => run.push((tunnel, prefix, kept)),
                None => {
                    let mut run = Vec::with_capacity(RUN);
                    run.push((tunnel, prefix, kept));
                    self.runs.push_back(run);
                }
            }
            self.len += 1;
            return;
        }
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
    }

    /// Keeps the entry if it is among the first `shown` in prefix order.
    fn show(&mut self, tunnel: TunnelId, prefix: IpNet, kept: &Kept) {
        let key = (prefix, tunnel);
        let room = self.first.len() < self.shown;
        if room || self.first.last_key_value().is_some_and(|(l, _)| key < *l) {
            self.first.insert(key, kept.clone());
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

    /// The prefixes a keyed overlay has an entry for, each once, in the
    /// order first found (taken: the list is left empty).
    pub fn take_prefixes(&mut self) -> Vec<IpNet> {
        std::mem::take(&mut self.prefixes)
    }

    /// The first entries in (prefix, tunnel) order, at most the `shown`
    /// the overlay was made with.
    pub fn first(&self) -> impl Iterator<Item = (&(IpNet, TunnelId), &Kept)> {
        self.first.iter()
    }

    /// Frees one shard's entries (and the empty ones before it), or a few
    /// runs; false once none is left. A dry run over millions of routes
    /// ends with this, a step at a time.
    pub fn drop_shard(&mut self) -> bool {
        if !self.keyed {
            let mut dropped = false;
            for _ in 0..RUNS_DROPPED {
                dropped |= self.take_run().is_some();
            }
            return dropped;
        }
        while let Some(shard) = self.shards.pop() {
            if !shard.is_empty() {
                self.len = self.len.saturating_sub(shard.len());
                return true;
            }
        }
        false
    }

    /// Takes the oldest run of entries out of an overlay in order; `None`
    /// once none is left. A checked swap adopts them a run at a time.
    pub fn take_run(&mut self) -> Option<Vec<Entry>> {
        let run = self.runs.pop_front()?;
        self.len = self.len.saturating_sub(run.len());
        Some(run)
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
        let mut o = Overlay::keyed(10);
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
        let mut o = Overlay::keyed(3);
        for i in (0..1000u32).rev() {
            let p = IpNet::new(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)).into(), 24)
                .expect("prefix");
            o.insert(T1, p, None, [T1]);
        }
        let first: Vec<String> = o.first().map(|((p, _), _)| p.to_string()).collect();
        assert_eq!(first, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]);
    }

    #[test]
    fn it_is_taken_apart_a_shard_at_a_time() {
        let mut o = Overlay::keyed(0);
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
        let mut o = Overlay::keyed(0);
        o.insert(T1, net("10.0.1.0/24"), None, [T1]);
        assert!(o.drop_shard());
        assert!(!o.drop_shard());
    }

    #[test]
    fn in_order_it_keeps_the_order_found_in_runs() {
        let mut o = Overlay::in_order(2);
        let n = RUN + 10;
        for i in (0..n as u32).rev() {
            let p = IpNet::new(std::net::Ipv4Addr::from(0x1400_0000 + (i << 8)).into(), 24)
                .expect("prefix");
            o.insert(T1, p, None, [T1, T2]);
        }
        assert_eq!(o.len(), n);
        assert_eq!(o.get(T1, &net("20.0.0.0/24")), None, "nothing keyed");
        assert!(o.take_prefixes().is_empty(), "nothing listed to select");
        let first: Vec<String> = o.first().map(|((p, _), _)| p.to_string()).collect();
        assert_eq!(first, ["20.0.0.0/24", "20.0.1.0/24"]);
        let run = o.take_run().expect("a run");
        assert_eq!(run.len(), RUN);
        assert_eq!(run[0].1, net("20.4.9.0/24"), "the first found first");
        assert_eq!(o.len(), 10);
        assert!(o.drop_shard());
        assert!(o.is_empty() && !o.drop_shard());
    }
}
