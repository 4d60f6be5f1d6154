//! A session's import-filter results, kept as exceptions to its
//! Adj-RIB-In: a route the filter accepted unchanged (nearly every route,
//! with the default filter) costs nothing; only rejected and modified
//! routes are stored. The Adj-RIB-In stays the one copy of what the peer
//! sent, so a million routes are held once, not twice.
//!
//! Invariant: an exception exists only for a prefix the Adj-RIB-In holds;
//! the speaker forgets a prefix's exception whenever its Adj-RIB-In route
//! changes or leaves, and records the filter's new result.
//!
//! So every change to a session's routes passes through here, and a
//! checked filter swap asks here which routes changed while its dry run
//! walked them ([`Accepted::track`]): the dry run's results hold for the
//! others, which need not go through the filter again (`adopt.rs`).

use std::sync::Arc;

use ipnet::IpNet;

use crate::bgp::message::PathAttributes;
use crate::bgp::rib::{AdjRibIn, Routes};
use crate::net_map::NetMap;

/// The import filter's results that differ from the Adj-RIB-In.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Rejected (`None`) or modified (`Some`) routes, by prefix.
    exceptions: Exceptions,
    /// How many exceptions are rejections.
    rejected: usize,
    /// Rejections made because the filter plugin faulted (it failed closed
    /// on them), apart from the filter's own rejections.
    faulted: NetMap<()>,
    /// The prefixes whose result changed since [`Accepted::track`].
    since: Since,
}

/// Rejected (`None`) and modified (`Some`) routes by prefix, kept in the
/// Adj-RIB-In's own storage ([`Routes`]) so that the selection prefetches
/// them with the Adj-RIB-In's entries ([`Accepted::prefetch`]): a filter
/// that modifies every route of a million made a million-entry hash map, a
/// cache miss a lookup (a fifth of a filter swap's time at a million routes
/// over two sessions). A rejection is stored as a marker set, compared by
/// address; routes stored one after the other with the same set share it.
#[derive(Debug)]
struct Exceptions {
    routes: Routes,
    /// The set that marks a rejection.
    rejected: Arc<PathAttributes>,
    /// The id of the last set stored (a filter answer's routes share sets).
    last: Option<u32>,
}

impl Default for Exceptions {
    fn default() -> Self {
        Exceptions {
            routes: Routes::default(),
            rejected: Arc::new(PathAttributes::default()),
            last: None,
        }
    }
}

impl Exceptions {
    fn get(&self, prefix: &IpNet) -> Option<Option<&Arc<PathAttributes>>> {
        let set = self.routes.get(prefix)?;
        Some((!Arc::ptr_eq(set, &self.rejected)).then_some(set))
    }

    /// Stores the exception of a prefix that has none.
    fn insert(&mut self, prefix: IpNet, kept: Option<Arc<PathAttributes>>) {
        let set = kept.unwrap_or_else(|| self.rejected.clone());
        let shared = self
            .last
            .filter(|&id| self.routes.set(id).is_some_and(|s| Arc::ptr_eq(s, &set)));
        let id = match shared {
            Some(id) => id,
            None => self.routes.add_set(set),
        };
        self.routes.insert(&prefix, id);
        self.last = Some(id);
    }

    fn remove(&mut self, prefix: &IpNet) -> Option<Option<Arc<PathAttributes>>> {
        let set = self.routes.remove(prefix)?;
        Some((!Arc::ptr_eq(&set, &self.rejected)).then_some(set))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.routes.len()
    }

    fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// Prefixes listed as changed at most, per session, before a tracked
/// session counts as changed throughout (a full table arriving during a
/// dry run is filtered again whole, not listed route by route). The lists
/// of all sessions are queued for the filter in one step, at most this
/// many in all (`adopt.rs`).
pub const TRACKED_MAX: usize = 1 << 18;

/// What changed since tracking began.
#[derive(Debug, Default)]
pub enum Since {
    /// Not tracking.
    #[default]
    Off,
    /// The results of these prefixes changed (each listed once).
    Prefixes(NetMap<()>),
    /// Every result may have changed (the session's routes went, or more
    /// than [`TRACKED_MAX`] changed).
    All,
}

impl Accepted {
    /// The route of `prefix` after the filter (`None`: none, or rejected).
    pub fn get<'a>(
        &'a self,
        adj_in: &'a AdjRibIn,
        prefix: &IpNet,
    ) -> Option<&'a Arc<PathAttributes>> {
        self.view(prefix, adj_in.get(prefix))
    }

    /// The route of `prefix` after the filter when its Adj-RIB-In route is
    /// `received` (the caller has it at hand: no Adj-RIB-In lookup).
    pub fn view<'a>(
        &'a self,
        prefix: &IpNet,
        received: Option<&'a Arc<PathAttributes>>,
    ) -> Option<&'a Arc<PathAttributes>> {
        if self.exceptions.is_empty() {
            return received;
        }
        match self.exceptions.get(prefix) {
            Some(exception) => exception,
            None => received,
        }
    }

    /// Records the filter's result for `prefix`, whose Adj-RIB-In route is
    /// `received`: `post` is what it accepted (`None`: rejected).
    pub fn set(
        &mut self,
        prefix: IpNet,
        received: &Arc<PathAttributes>,
        post: Option<Arc<PathAttributes>>,
    ) {
        self.note(prefix);
        self.put(prefix, received, post);
    }

    /// Records a result found while tracking, for a prefix whose result
    /// did not change since (not listed as a change); true when what is
    /// accepted for the prefix changes.
    pub fn adopt(
        &mut self,
        prefix: IpNet,
        received: &Arc<PathAttributes>,
        post: Option<Arc<PathAttributes>>,
    ) -> bool {
        let changed = self.view(&prefix, Some(received)) != post.as_ref();
        self.put(prefix, received, post);
        changed
    }

    fn put(
        &mut self,
        prefix: IpNet,
        received: &Arc<PathAttributes>,
        post: Option<Arc<PathAttributes>>,
    ) {
        self.remove(&prefix);
        match post {
            Some(post) if Arc::ptr_eq(&post, received) => {}
            Some(post) => {
                self.exceptions.insert(prefix, Some(post));
            }
            None => {
                self.exceptions.insert(prefix, None);
                self.rejected += 1;
            }
        }
    }

    /// Records that `prefix` was not accepted because the filter plugin
    /// faulted on it.
    pub fn set_faulted(&mut self, prefix: IpNet, received: &Arc<PathAttributes>) {
        self.set(prefix, received, None);
        self.faulted.insert(prefix, ());
    }

    /// Whether `prefix` is rejected because the filter plugin faulted.
    pub fn is_faulted(&self, prefix: &IpNet) -> bool {
        self.faulted.get(prefix).is_some()
    }

    /// Forgets the result for `prefix` (its Adj-RIB-In route changed).
    pub fn forget(&mut self, prefix: &IpNet) {
        self.note(*prefix);
        self.remove(prefix);
    }

    fn remove(&mut self, prefix: &IpNet) {
        if !self.faulted.is_empty() {
            self.faulted.remove(prefix);
        }
        // Nearly every route is accepted as received: no hashing for them.
        if self.exceptions.is_empty() {
            return;
        }
        if let Some(None) = self.exceptions.remove(prefix) {
            self.rejected = self.rejected.saturating_sub(1);
        }
    }

    /// Forgets every result.
    pub fn clear(&mut self) {
        let since = match self.since {
            Since::Off => Since::Off,
            _ => Since::All,
        };
        *self = Accepted {
            since,
            ..Accepted::default()
        };
    }

    /// Lists from now on the prefixes whose result changes (see
    /// [`Accepted::since`]).
    pub fn track(&mut self) {
        self.since = Since::Prefixes(NetMap::default());
    }

    /// Stops listing changes.
    pub fn untrack(&mut self) {
        self.since = Since::Off;
    }

    /// What changed since [`Accepted::track`].
    pub fn since(&self) -> &Since {
        &self.since
    }

    /// Whether the result for `prefix` is known not to have changed since
    /// [`Accepted::track`] (false when not tracking).
    pub fn unchanged(&self, prefix: &IpNet) -> bool {
        match &self.since {
            Since::Prefixes(changed) => !changed.contains_key(prefix),
            Since::Off | Since::All => false,
        }
    }

    /// Starts bringing `prefix`'s exception into cache (for a
    /// [`Accepted::view`] soon), if there are any.
    pub fn prefetch(&self, prefix: &IpNet) {
        if !self.exceptions.is_empty() {
            self.exceptions.routes.prefetch(prefix);
        }
    }

    /// The prefixes rejected because the filter plugin faulted.
    pub fn faulted(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.faulted.keys()
    }

    /// How many prefixes are rejected because the filter plugin faulted.
    pub fn faulted_len(&self) -> usize {
        self.faulted.len()
    }

    fn note(&mut self, prefix: IpNet) {
        if let Since::Prefixes(changed) = &mut self.since {
            changed.insert(prefix, ());
            if changed.len() > TRACKED_MAX {
                self.since = Since::All;
            }
        }
    }

    /// How many routes of `adj_in` are accepted.
    pub fn len(&self, adj_in: &AdjRibIn) -> usize {
        adj_in.len().saturating_sub(self.rejected)
    }

    /// Every accepted route, in no particular order.
    #[cfg(test)]
    pub fn iter<'a>(
        &'a self,
        adj_in: &'a AdjRibIn,
    ) -> impl Iterator<Item = (IpNet, &'a Arc<PathAttributes>)> + 'a {
        adj_in.iter().filter_map(
            move |(prefix, received)| match self.exceptions.get(&prefix) {
                Some(exception) => exception.map(|e| (prefix, e)),
                None => Some((prefix, received)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::message::Update;
    use crate::config::{MaxPrefixAction, MaxPrefixes};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn only_rejected_and_modified_routes_are_stored() {
        let mut adj_in = AdjRibIn::default();
        let limits = MaxPrefixes {
            limit: 10,
            warning: 8,
            action: MaxPrefixAction::Drop,
        };
        let update = Update {
            attributes: Some(PathAttributes::default()),
            nlri: vec![net("10.1.0.0/24"), net("10.2.0.0/24"), net("10.3.0.0/24")],
            ..Update::default()
        };
        adj_in.apply(&update, &limits);
        let received = |p: &str| adj_in.get(&net(p)).cloned().unwrap();
        let mut acc = Accepted::default();
        acc.set(
            net("10.1.0.0/24"),
            &received("10.1.0.0/24"),
            Some(received("10.1.0.0/24")),
        );
        acc.set(net("10.2.0.0/24"), &received("10.2.0.0/24"), None);
        let modified = Arc::new(PathAttributes {
            med: Some(5),
            ..PathAttributes::default()
        });
        acc.set(
            net("10.3.0.0/24"),
            &received("10.3.0.0/24"),
            Some(modified.clone()),
        );
        assert_eq!(acc.exceptions.len(), 2, "the unchanged route costs nothing");
        assert_eq!(acc.len(&adj_in), 2);
        assert!(acc.get(&adj_in, &net("10.2.0.0/24")).is_none());
        assert_eq!(acc.get(&adj_in, &net("10.3.0.0/24")), Some(&modified));
        assert!(Arc::ptr_eq(
            acc.get(&adj_in, &net("10.1.0.0/24")).unwrap(),
            &received("10.1.0.0/24")
        ));
        let mut all: Vec<IpNet> = acc.iter(&adj_in).map(|(p, _)| p).collect();
        all.sort();
        assert_eq!(all, vec![net("10.1.0.0/24"), net("10.3.0.0/24")]);
        acc.forget(&net("10.2.0.0/24"));
        assert_eq!(acc.len(&adj_in), 3);
        acc.clear();
        assert_eq!(acc.len(&adj_in), 3);
    }

    #[test]
    fn tracking_lists_changed_prefixes_until_too_many_or_all_went() {
        let attrs = Arc::new(PathAttributes::default());
        let mut acc = Accepted::default();
        acc.set(net("10.1.0.0/24"), &attrs, None);
        assert!(!acc.unchanged(&net("10.9.0.0/24")), "not tracking");
        acc.track();
        assert!(acc.unchanged(&net("10.1.0.0/24")), "before tracking");
        acc.set(net("10.2.0.0/24"), &attrs, None);
        acc.forget(&net("10.3.0.0/24"));
        // A result adopted is not a change.
        assert!(acc.adopt(net("10.1.0.0/24"), &attrs, Some(attrs.clone())));
        assert!(!acc.adopt(net("10.4.0.0/24"), &attrs, Some(attrs.clone())));
        let Since::Prefixes(changed) = acc.since() else {
            panic!("tracking: {:?}", acc.since());
        };
        assert_eq!(
            changed.sorted_keys(),
            [net("10.2.0.0/24"), net("10.3.0.0/24")]
        );
        assert!(acc.unchanged(&net("10.1.0.0/24")));
        assert!(!acc.unchanged(&net("10.2.0.0/24")));
        // Every result gone at once.
        acc.clear();
        assert!(matches!(acc.since(), Since::All));
        assert!(!acc.unchanged(&net("10.1.0.0/24")));
        acc.untrack();
        acc.clear();
        assert!(matches!(acc.since(), Since::Off));
        // More changes than a list holds.
        acc.track();
        for i in 0..=TRACKED_MAX as u32 {
            let p = IpNet::new(std::net::Ipv4Addr::from(i << 8).into(), 24).expect("prefix");
            acc.forget(&p);
        }
        assert!(matches!(acc.since(), Since::All));
    }

    #[test]
    fn exceptions_tell_rejections_by_address_and_share_sets_safely() {
        let received = Arc::new(PathAttributes {
            med: Some(1),
            ..PathAttributes::default()
        });
        let mut acc = Accepted::default();
        // Modified to the default attributes: not the rejection marker.
        let plain = Arc::new(PathAttributes::default());
        acc.set(net("10.1.0.0/24"), &received, Some(plain.clone()));
        assert_eq!(acc.view(&net("10.1.0.0/24"), Some(&received)), Some(&plain));
        acc.set(net("10.2.0.0/24"), &received, None);
        assert_eq!(acc.view(&net("10.2.0.0/24"), Some(&received)), None);
        // A set freed and its id given to another: the next route with the
        // first set does not take the id.
        let a = Arc::new(PathAttributes {
            med: Some(2),
            ..PathAttributes::default()
        });
        let b = Arc::new(PathAttributes {
            med: Some(3),
            ..PathAttributes::default()
        });
        acc.set(net("10.3.0.0/24"), &received, Some(a.clone()));
        acc.forget(&net("10.3.0.0/24"));
        acc.set(net("10.4.0.0/24"), &received, Some(b.clone()));
        acc.set(net("10.5.0.0/24"), &received, Some(a.clone()));
        acc.set(net("10.6.0.0/24"), &received, Some(a.clone()));
        for (p, want) in [
            ("10.1.0.0/24", Some(&plain)),
            ("10.2.0.0/24", None),
            ("10.3.0.0/24", Some(&received)),
            ("10.4.0.0/24", Some(&b)),
            ("10.5.0.0/24", Some(&a)),
            ("10.6.0.0/24", Some(&a)),
        ] {
            let got = acc.view(&net(p), Some(&received));
            assert!(
                got.zip(want)
                    .map_or(got.is_none() && want.is_none(), |(g, w)| Arc::ptr_eq(g, w)),
                "{p}: {got:?}"
            );
        }
        assert_eq!(acc.rejected, 1, "one rejection, counted");
    }
}
