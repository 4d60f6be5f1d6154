//! Data shared by the slots (`sitelink:policy/types`): addresses, prefixes,
//! BGP path attributes, and [`Route`], a prefix with its attributes.
//!
//! The gateway sends each distinct attribute set of a batch once (the
//! routes of one UPDATE share one), their lists end to end in shared pools,
//! and the SDK hands every route an [`AttributeView`] of its set: its lists
//! are slices of the pools, so reading `route.as_path` or
//! `route.local_pref` copies nothing. A filter that changes a route answers
//! with new [`Attributes`] (`route.changed(|a| ...)`).

use std::ops::Deref;

/// A batch's attribute sets as they cross (their lists in shared pools);
/// plugins see [`AttributeView`]s. Used by the export macros.
#[doc(hidden)]
pub use sitelink_plugin_world_bgp_filter::sitelink::policy::types::AttributeSets as WireSets;
/// A route as it crosses (a prefix and an attribute index); plugins see
/// [`Route`]s. Used by the export macros.
#[doc(hidden)]
pub use sitelink_plugin_world_bgp_filter::sitelink::policy::types::Route as WireRoute;
pub use sitelink_plugin_world_bgp_filter::sitelink::policy::types::{
    Attributes, IpAddress, LargeCommunity, Origin, Prefix,
};

/// A route's BGP path attributes as a plugin reads them: the fields of
/// [`Attributes`], its lists borrowed rather than owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeView<'a> {
    pub next_hop: Option<IpAddress>,
    /// AS numbers, nearest first.
    pub as_path: &'a [u32],
    pub origin: Origin,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// Standard communities, as 32-bit values: ASN << 16 | value.
    pub communities: &'a [u32],
    pub large_communities: &'a [LargeCommunity],
}

impl AttributeView<'_> {
    /// An owned copy, to change and answer with.
    pub fn to_attributes(&self) -> Attributes {
        Attributes {
            next_hop: self.next_hop,
            as_path: self.as_path.to_vec(),
            origin: self.origin,
            med: self.med,
            local_pref: self.local_pref,
            communities: self.communities.to_vec(),
            large_communities: self.large_communities.to_vec(),
        }
    }
}

impl<'a> From<&'a Attributes> for AttributeView<'a> {
    fn from(a: &'a Attributes) -> AttributeView<'a> {
        AttributeView {
            next_hop: a.next_hop,
            as_path: &a.as_path,
            origin: a.origin,
            med: a.med,
            local_pref: a.local_pref,
            communities: &a.communities,
            large_communities: &a.large_communities,
        }
    }
}

/// A route: its prefix and its attributes, read through `Deref`
/// (`route.as_path`, `route.communities`, `route.local_pref`, ...). The
/// routes of a set share its view: a route is a prefix and a reference,
/// cheap to pass by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    pub prefix: Prefix,
    pub attributes: &'a AttributeView<'a>,
}

impl<'a> Route<'a> {
    /// A route with these attributes. A plugin's tests build routes from
    /// [`Attributes`] so: `let view = AttributeView::from(&attributes);
    /// Route::new(prefix, &view)`.
    pub fn new(prefix: Prefix, attributes: &'a AttributeView<'a>) -> Route<'a> {
        Route { prefix, attributes }
    }

    /// A copy of the attributes with `change` applied: what a filter's
    /// `Verdict::Modify` carries.
    pub fn changed(&self, change: impl FnOnce(&mut Attributes)) -> Attributes {
        let mut a = self.attributes.to_attributes();
        change(&mut a);
        a
    }
}

impl<'a> Deref for Route<'a> {
    type Target = AttributeView<'a>;

    fn deref(&self) -> &AttributeView<'a> {
        self.attributes
    }
}

/// The attributes of a static route (no next hop, an empty AS path, origin
/// IGP, no MED or local preference): a base for tests,
/// `Attributes { local_pref: Some(200), ..no_attributes() }`.
pub fn no_attributes() -> Attributes {
    Attributes {
        next_hop: None,
        as_path: Vec::new(),
        origin: Origin::Igp,
        med: None,
        local_pref: None,
        communities: Vec::new(),
        large_communities: Vec::new(),
    }
}

/// A batch's attribute sets as views, in order: each set's lists are
/// the slices of the pools up to the ends it names. Ends out of order or
/// past a pool (the gateway never sends them) trap the call.
pub(crate) fn views(wire: &WireSets) -> Vec<AttributeView<'_>> {
    fn cut<'a, T>(pool: &'a [T], start: &mut usize, end: u32) -> &'a [T] {
        let end = end as usize;
        let list = pool
            .get(*start..end)
            .expect("the gateway sent attribute sets whose lists are out of range");
        *start = end;
        list
    }
    let (mut path, mut communities, mut large) = (0, 0, 0);
    wire.sets
        .iter()
        .map(|s| AttributeView {
            next_hop: s.next_hop,
            as_path: cut(&wire.as_paths, &mut path, s.as_path_end),
            origin: s.origin,
            med: s.med,
            local_pref: s.local_pref,
            communities: cut(&wire.communities, &mut communities, s.communities_end),
            large_communities: cut(&wire.large_communities, &mut large, s.large_communities_end),
        })
        .collect()
}

/// The view of a route whose attributes are entry `i` of a batch's sets.
/// An index out of range (the gateway never sends one) traps the call.
pub(crate) fn view<'a>(attributes: &'a [AttributeView<'a>], prefix: Prefix, i: u32) -> Route<'a> {
    Route {
        prefix,
        attributes: attributes
            .get(i as usize)
            .expect("the gateway sent an attribute index out of range"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitelink_plugin_world_bgp_filter::sitelink::policy::types::AttributeSet;

    fn set(local_pref: u32, ends: (u32, u32, u32)) -> AttributeSet {
        AttributeSet {
            next_hop: Some(IpAddress::V4(0x0a00_0001)),
            origin: Origin::Igp,
            med: None,
            local_pref: Some(local_pref),
            as_path_end: ends.0,
            communities_end: ends.1,
            large_communities_end: ends.2,
        }
    }

    fn large(n: u32) -> LargeCommunity {
        LargeCommunity {
            global_admin: n,
            local_data1: 1,
            local_data2: 2,
        }
    }

    #[test]
    fn each_set_sees_its_slices_of_the_pools() {
        let batch = WireSets {
            sets: vec![
                set(100, (2, 0, 1)),
                set(200, (2, 3, 1)),
                set(300, (3, 4, 2)),
            ],
            as_paths: vec![65001, 65002, 65003],
            communities: vec![1, 2, 3, 4],
            large_communities: vec![large(7), large(8)],
        };
        let views = views(&batch);
        assert_eq!(views.len(), 3);
        assert_eq!(views[0].as_path, [65001, 65002]);
        assert!(views[0].communities.is_empty());
        assert_eq!(views[0].large_communities, [large(7)]);
        assert!(views[1].as_path.is_empty());
        assert_eq!(views[1].communities, [1, 2, 3]);
        assert!(views[1].large_communities.is_empty());
        assert_eq!(views[2].as_path, [65003]);
        assert_eq!(views[2].communities, [4]);
        assert_eq!(views[2].large_communities, [large(8)]);
        assert_eq!(views[2].local_pref, Some(300));
        let prefix = Prefix {
            address: IpAddress::V4(0x0a01_0000),
            length: 16,
        };
        let route = view(&views, prefix, 1);
        assert!(
            std::ptr::eq(route.attributes, &views[1]),
            "shared, not copied"
        );
        assert_eq!(route.local_pref, Some(200));
        let owned = route.changed(|a| a.med = Some(5));
        assert_eq!(owned.communities, vec![1, 2, 3]);
        assert_eq!(owned.med, Some(5));
        assert_eq!(AttributeView::from(&owned).communities, [1, 2, 3]);
    }

    #[test]
    #[should_panic(expected = "lists are out of range")]
    fn ends_out_of_order_trap() {
        let batch = WireSets {
            sets: vec![set(100, (2, 0, 0)), set(200, (1, 0, 0))],
            as_paths: vec![65001, 65002],
            communities: Vec::new(),
            large_communities: Vec::new(),
        };
        views(&batch);
    }

    #[test]
    #[should_panic(expected = "lists are out of range")]
    fn ends_past_a_pool_trap() {
        let batch = WireSets {
            sets: vec![set(100, (0, 3, 0))],
            as_paths: Vec::new(),
            communities: vec![1, 2],
            large_communities: Vec::new(),
        };
        views(&batch);
    }
}
