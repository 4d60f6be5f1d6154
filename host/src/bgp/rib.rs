//! The per-peer routing information bases (RFC 4271 section 3.2): the
//! Adj-RIB-In, which keeps what a peer sent before any policy (so that a
//! filter swap re-evaluates it without a session reset) and enforces the
//! peer's max-prefix limit, and the Adj-RIB-Out, which remembers what was
//! advertised so that a new export set turns into the fewest UPDATEs. The
//! Loc-RIB is the route table's business (`route_table`), and policy is the
//! plugin slots': this module only stores and diffs, and never encodes bytes
//! or touches sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ipnet::IpNet;

use super::message::{PathAttributes, Update};
use crate::config::{MaxPrefixAction, MaxPrefixes};
use crate::id_map::Ahead;
use crate::net_map::FastSet;

mod routes;

pub use routes::{Prefixes, Routes, Walk};

/// How many prefixes beyond the limit are remembered (for the received
/// count) at most: enough for any sane excess, bounded against a flood.
const EXCESS_TRACKED: usize = 65_536;

/// What a peer sent, pre-policy.
#[derive(Debug, Default)]
pub struct AdjRibIn {
    /// Prefix -> attributes; the routes of one UPDATE share them.
    routes: Routes,
    /// Prefixes announced beyond the limit under the "drop" action (kept
    /// only as prefixes, at most `EXCESS_TRACKED`, for the counters).
    excess: BTreeSet<IpNet>,
    /// The warning threshold was crossed (logged once until it falls back).
    warned: bool,
}

/// The result of applying one UPDATE to an Adj-RIB-In.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Prefixes whose route changed: the withdrawn first (`withdrawn` of
    /// them), then the announced or replaced (a prefix withdrawn and
    /// announced again by one UPDATE is in both parts).
    pub changed: Vec<IpNet>,
    /// The route each of `changed` had just before this change (`None`:
    /// none), so that the caller needs no lookup of its own.
    pub before: Vec<Option<Arc<PathAttributes>>>,
    /// How many of `changed` are withdrawals.
    pub withdrawn: usize,
    /// The attribute set of the announced routes (one per UPDATE).
    pub attrs: Option<Arc<PathAttributes>>,
    /// The peer went over its limit: with the "close" action the session
    /// must be closed; with "drop" the excess routes were ignored.
    pub exceeded: bool,
    /// The count just crossed the warning threshold.
    pub warning: bool,
    /// The first prefix that did not fit (its family goes in the Cease).
    pub overflow: Option<IpNet>,
}

impl AdjRibIn {
    /// Applies `update` (RFC 4271 section 9.1: withdrawals, then
    /// announcements; RFC 7606 treat-as-withdraw turns every announced
    /// prefix into a withdrawal).
    pub fn apply(&mut self, update: &Update, limits: &MaxPrefixes) -> Applied {
        let mut out = Applied::default();
        let withdraw_all = update.treat_as_withdraw.is_some() || update.attributes.is_none();
        let withdrawn = update
            .withdrawn_all()
            .chain(update.announced().filter(|_| withdraw_all));
        for prefix in withdrawn {
            if !self.excess.is_empty() {
                self.excess.remove(prefix);
            }
            if let Some(old) = self.routes.remove(prefix) {
                out.changed.push(*prefix);
                out.before.push(Some(old));
            }
        }
        out.withdrawn = out.changed.len();
        if let (false, Some(attrs)) = (withdraw_all, &update.attributes) {
            let attrs = Arc::new(attrs.clone());
            out.attrs = Some(attrs.clone());
            let set = self.routes.add_set(attrs);
            let announced =
                update.nlri.len() + update.mp_reach.as_ref().map_or(0, |m| m.nlri.len());
            out.before.reserve(announced);
            out.changed.reserve(announced);
            // Each entry is asked for a few routes ahead of its insert,
            // so that the cache misses overlap.
            let mut ahead = Ahead::new(update.announced(), |p| self.routes.prefetch(p));
            for prefix in update.announced() {
                ahead.step(|p| self.routes.prefetch(p));
                // One lookup per route below the limit: the insert's.
                if self.routes.len() >= limits.limit as usize && !self.routes.contains_key(prefix) {
                    out.exceeded = true;
                    out.overflow.get_or_insert(*prefix);
                    if limits.action == MaxPrefixAction::Drop && self.excess.len() < EXCESS_TRACKED
                    {
                        self.excess.insert(*prefix);
                    }
                    continue;
                }
                out.before.push(self.routes.insert(prefix, set));
                out.changed.push(*prefix);
                // Dropped over the limit before, stored now: counted once.
                if !self.excess.is_empty() {
                    self.excess.remove(prefix);
                }
            }
            self.routes.done_with(set);
        }
        let over = self.routes.len() >= limits.warning as usize;
        out.warning = over && !self.warned;
        self.warned = over;
        out
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&Arc<PathAttributes>> {
        self.routes.get(prefix)
    }

    /// Starts bringing `prefix`'s entry into cache, for a lookup soon.
    pub fn prefetch(&self, prefix: &IpNet) {
        self.routes.prefetch(prefix);
    }

    /// The prefixes of the families asked for (IPv4, IPv6), as they are
    /// now ([`Prefixes`]: a copy of the maps, made without hashing).
    pub fn prefixes(&self, v4: bool, v6: bool) -> Prefixes {
        self.routes.prefixes(v4, v6)
    }

    /// How many routes are IPv4, how many IPv6.
    pub fn counts(&self) -> (usize, usize) {
        self.routes.counts()
    }

    /// Takes every route out, as a table of its own; what was dropped
    /// over the limit stays counted here.
    pub fn take_routes(&mut self) -> AdjRibIn {
        AdjRibIn {
            routes: std::mem::take(&mut self.routes),
            ..AdjRibIn::default()
        }
    }

    /// Removes one route (a stale one swept after a graceful restart);
    /// true if there was one.
    pub fn remove(&mut self, prefix: &IpNet) -> bool {
        self.routes.remove(prefix).is_some()
    }

    /// The next stored prefixes of `walk`, at least `min` unless it is
    /// over (`Routes::walk`): a pass over the table spread over steps.
    pub fn walk(&self, walk: &mut Walk, min: usize, out: &mut impl Extend<IpNet>) -> usize {
        self.routes.walk(walk, min, out)
    }

    /// Every route, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Arc<PathAttributes>)> {
        self.routes.iter()
    }

    /// Prefixes stored (within the limit).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Prefixes the peer announced, including those dropped over the limit.
    pub fn received(&self) -> usize {
        self.routes.len() + self.excess.len()
    }
}

/// What was advertised to a peer.
#[derive(Debug, Default)]
pub struct AdjRibOut {
    routes: BTreeMap<IpNet, PathAttributes>,
}

/// The UPDATEs needed to move a peer from what it has to what it should
/// have: withdrawals, and announcements grouped by identical attributes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OutDiff {
    pub withdraw: Vec<IpNet>,
    pub announce: Vec<(PathAttributes, Vec<IpNet>)>,
}

impl OutDiff {
    pub fn is_empty(&self) -> bool {
        self.withdraw.is_empty() && self.announce.is_empty()
    }
}

impl AdjRibOut {
    /// Replaces what was advertised for the prefixes of `chunk` with
    /// `wanted` (which holds only prefixes of `chunk`) and returns the
    /// difference; the other prefixes stay as they are.
    pub fn update_some(
        &mut self,
        chunk: &[IpNet],
        wanted: BTreeMap<IpNet, PathAttributes>,
    ) -> OutDiff {
        let withdraw: Vec<IpNet> = chunk
            .iter()
            .filter(|p| !wanted.contains_key(p) && self.routes.remove(p).is_some())
            .copied()
            .collect();
        let mut changed = Vec::new();
        for (prefix, attrs) in wanted {
            if self.routes.get(&prefix) != Some(&attrs) {
                changed.push((prefix, attrs.clone()));
                self.routes.insert(prefix, attrs);
            }
        }
        OutDiff {
            withdraw,
            announce: group(changed.into_iter()),
        }
    }

    /// Forgets what was advertised outside `keep` and returns it, to be
    /// withdrawn.
    pub fn keep_only(&mut self, keep: &FastSet<IpNet>) -> Vec<IpNet> {
        let gone: Vec<IpNet> = self
            .routes
            .keys()
            .filter(|p| !keep.contains(*p))
            .copied()
            .collect();
        for p in &gone {
            self.routes.remove(p);
        }
        gone
    }

    /// Everything advertised, as announcements (for a ROUTE-REFRESH or a
    /// new session).
    pub fn all(&self) -> OutDiff {
        OutDiff {
            withdraw: Vec::new(),
            announce: group(self.routes.iter().map(|(p, a)| (*p, a.clone()))),
        }
    }

    /// Forgets what was advertised (the session went down).
    pub fn clear(&mut self) {
        self.routes.clear();
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// Groups prefixes by their attributes, in first-seen order.
fn group(
    routes: impl Iterator<Item = (IpNet, PathAttributes)>,
) -> Vec<(PathAttributes, Vec<IpNet>)> {
    let mut groups: Vec<(PathAttributes, Vec<IpNet>)> = Vec::new();
    for (prefix, attrs) in routes {
        match groups.iter_mut().find(|(a, _)| *a == attrs) {
            Some((_, list)) => list.push(prefix),
            None => groups.push((attrs, vec![prefix])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::message::{AsSegment, SegmentKind};
    use std::time::Duration;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn attrs(asn: u32) -> PathAttributes {
        PathAttributes {
            as_path: vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![asn],
            }],
            next_hop: Some("169.254.10.2".parse().unwrap()),
            ..PathAttributes::default()
        }
    }

    fn announce(prefixes: &[&str], asn: u32) -> Update {
        Update {
            attributes: Some(attrs(asn)),
            nlri: prefixes.iter().map(|p| net(p)).collect(),
            ..Update::default()
        }
    }

    fn limits(limit: u32, action: MaxPrefixAction) -> MaxPrefixes {
        MaxPrefixes {
            limit,
            warning: limit * 8 / 10,
            action,
        }
    }

    const CLOSE: MaxPrefixAction = MaxPrefixAction::Close {
        restart_after: Duration::from_secs(30),
    };

    #[test]
    fn announce_replace_withdraw() {
        let mut rib = AdjRibIn::default();
        let l = limits(100, CLOSE);
        let a = rib.apply(&announce(&["10.1.0.0/24", "10.3.0.0/16"], 65000), &l);
        assert_eq!(a.changed, vec![net("10.1.0.0/24"), net("10.3.0.0/16")]);
        assert_eq!(rib.len(), 2);
        let a = rib.apply(&announce(&["10.1.0.0/24"], 65001), &l);
        assert_eq!(a.changed, vec![net("10.1.0.0/24")]);
        assert_eq!(a.before[0].as_ref().unwrap().as_path_flat(), vec![65000]);
        assert_eq!(
            rib.get(&net("10.1.0.0/24")).unwrap().as_path_flat(),
            vec![65001]
        );
        let w = Update {
            withdrawn: vec![net("10.3.0.0/16"), net("10.9.0.0/16")],
            ..Update::default()
        };
        let a = rib.apply(&w, &l);
        assert_eq!((a.changed, a.withdrawn), (vec![net("10.3.0.0/16")], 1));
        assert!(a.before[0].is_some());
        assert_eq!(rib.len(), 1);
        let mut left = Vec::new();
        rib.walk(&mut Walk::default(), usize::MAX, &mut left);
        assert_eq!(left, vec![net("10.1.0.0/24")]);
    }

    #[test]
    fn a_prefix_withdrawn_and_announced_by_one_update_is_in_both_parts() {
        let mut rib = AdjRibIn::default();
        let l = limits(100, CLOSE);
        rib.apply(&announce(&["10.1.0.0/24"], 65000), &l);
        let mut both = announce(&["10.1.0.0/24", "10.2.0.0/24"], 65001);
        both.withdrawn = vec![net("10.1.0.0/24")];
        let a = rib.apply(&both, &l);
        assert_eq!(a.withdrawn, 1);
        assert_eq!(
            a.changed,
            vec![net("10.1.0.0/24"), net("10.1.0.0/24"), net("10.2.0.0/24")]
        );
        let paths: Vec<Option<Vec<u32>>> = a
            .before
            .iter()
            .map(|b| b.as_ref().map(|b| b.as_path_flat()))
            .collect();
        assert_eq!(paths, vec![Some(vec![65000]), None, None]);
    }

    #[test]
    fn treat_as_withdraw_removes_what_it_announces() {
        let mut rib = AdjRibIn::default();
        let l = limits(100, CLOSE);
        rib.apply(&announce(&["10.1.0.0/24", "10.2.0.0/24"], 65000), &l);
        let mut broken = announce(&["10.1.0.0/24", "10.5.0.0/24"], 65000);
        broken.treat_as_withdraw = Some("ORIGIN has length 2".into());
        let a = rib.apply(&broken, &l);
        assert_eq!(a.changed, vec![net("10.1.0.0/24")]);
        assert!(
            rib.get(&net("10.5.0.0/24")).is_none(),
            "nothing installed from a broken UPDATE"
        );
        assert_eq!(rib.len(), 1);
    }

    #[test]
    fn max_prefix_close_signals_and_keeps_the_limit() {
        let mut rib = AdjRibIn::default();
        let l = limits(3, CLOSE);
        let a = rib.apply(&announce(&["10.0.1.0/24", "10.0.2.0/24"], 1), &l);
        assert!(!a.exceeded);
        assert!(a.warning, "2 of 3 is over the 80% warning");
        let a = rib.apply(&announce(&["10.0.3.0/24", "10.0.4.0/24"], 1), &l);
        assert!(a.exceeded);
        assert!(!a.warning, "warned once");
        assert_eq!(rib.len(), 3);
    }

    #[test]
    fn max_prefix_drop_counts_the_excess() {
        let mut rib = AdjRibIn::default();
        let l = limits(3, MaxPrefixAction::Drop);
        let all = [
            "10.0.1.0/24",
            "10.0.2.0/24",
            "10.0.3.0/24",
            "10.0.4.0/24",
            "10.0.5.0/24",
        ];
        let a = rib.apply(&announce(&all, 1), &l);
        assert!(a.exceeded);
        assert_eq!(a.changed.len(), 3);
        assert_eq!((rib.len(), rib.received()), (3, 5));
        // A known prefix may still change over the limit.
        let a = rib.apply(&announce(&["10.0.1.0/24"], 2), &l);
        assert_eq!(a.changed, vec![net("10.0.1.0/24")]);
        assert!(!a.exceeded);
        // Withdrawing an excess prefix only lowers the received count.
        let w = Update {
            withdrawn: vec![net("10.0.5.0/24")],
            ..Update::default()
        };
        assert!(rib.apply(&w, &l).changed.is_empty());
        assert_eq!(rib.received(), 4);
        // Room again: a prefix dropped before is stored, and counted once.
        let w = Update {
            withdrawn: vec![net("10.0.2.0/24")],
            ..Update::default()
        };
        rib.apply(&w, &l);
        assert_eq!((rib.len(), rib.received()), (2, 3));
        let a = rib.apply(&announce(&["10.0.4.0/24"], 3), &l);
        assert_eq!(a.changed, vec![net("10.0.4.0/24")]);
        assert_eq!((rib.len(), rib.received()), (3, 3));
    }

    #[test]
    fn adj_rib_out_diffs() {
        let mut out = AdjRibOut::default();
        let wanted: BTreeMap<IpNet, PathAttributes> = [
            (net("10.2.0.0/24"), attrs(64512)),
            (net("fd00:2::/64"), attrs(64512)),
        ]
        .into();
        let chunk = [net("10.2.0.0/24"), net("fd00:2::/64")];
        let d = out.update_some(&chunk, wanted.clone());
        assert!(d.withdraw.is_empty());
        assert_eq!(d.announce.len(), 1, "same attributes: one group");
        assert_eq!(d.announce[0].1.len(), 2);
        assert!(
            out.update_some(&chunk, wanted).is_empty(),
            "nothing changed"
        );
        let d = out.update_some(&chunk, [(net("10.2.0.0/24"), attrs(1))].into());
        assert_eq!(d.withdraw, vec![net("fd00:2::/64")]);
        assert_eq!(d.announce, vec![(attrs(1), vec![net("10.2.0.0/24")])]);
        assert_eq!(out.all().announce.len(), 1);
        // A prefix outside the chunk stays; keep_only withdraws it.
        let d = out.update_some(&[net("10.9.0.0/24")], BTreeMap::new());
        assert!(d.is_empty());
        assert_eq!(out.keep_only(&FastSet::default()), vec![net("10.2.0.0/24")]);
        out.clear();
        assert!(out.is_empty());
    }
}
