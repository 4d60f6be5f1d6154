//! A session's import-filter results, kept as exceptions to its
//! Adj-RIB-In: a route the filter accepted unchanged (nearly every route,
//! with the default filter) costs nothing; only rejected and modified
//! routes are stored. The Adj-RIB-In stays the one copy of what the peer
//! sent, so a million routes are held once, not twice.
//!
//! Invariant: an exception exists only for a prefix the Adj-RIB-In holds;
//! the speaker forgets a prefix's exception whenever its Adj-RIB-In route
//! changes or leaves, and records the filter's new result.

use std::sync::Arc;

use ipnet::IpNet;

use crate::bgp::message::PathAttributes;
use crate::bgp::rib::AdjRibIn;
use crate::net_map::NetMap;

/// The import filter's results that differ from the Adj-RIB-In.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Rejected (`None`) or modified (`Some`) routes, by prefix.
    exceptions: NetMap<Option<Arc<PathAttributes>>>,
    /// How many exceptions are rejections.
    rejected: usize,
    /// Rejections made because the filter plugin faulted (it failed closed
    /// on them), apart from the filter's own rejections.
    faulted: NetMap<()>,
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
            Some(exception) => exception.as_ref(),
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
        self.forget(&prefix);
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
        *self = Accepted::default();
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
                Some(exception) => exception.as_ref().map(|e| (prefix, e)),
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
}
