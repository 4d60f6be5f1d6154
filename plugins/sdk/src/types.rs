//! Data shared by the slots (`sitelink:policy/types`): addresses, prefixes,
//! BGP path attributes, and [`Route`], a prefix with its attributes.
//!
//! The gateway sends each distinct attribute set of a batch once (the
//! routes of one UPDATE share one), and the SDK hands every route a view
//! of its set: reading `route.as_path` or `route.local_pref` costs nothing,
//! and a filter that changes a route answers with new [`Attributes`].

use std::ops::Deref;

/// A route as it crosses (a prefix and an attribute index); plugins see
/// [`Route`]s. Used by the export macros.
#[doc(hidden)]
pub use sitelink_plugin_world_bgp_filter::sitelink::policy::types::Route as WireRoute;
pub use sitelink_plugin_world_bgp_filter::sitelink::policy::types::{
    Attributes, IpAddress, LargeCommunity, Origin, Prefix,
};

/// A route: its prefix and its attributes, read through `Deref`
/// (`route.as_path`, `route.communities`, `route.local_pref`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    pub prefix: Prefix,
    pub attributes: &'a Attributes,
}

impl<'a> Route<'a> {
    pub fn new(prefix: Prefix, attributes: &'a Attributes) -> Route<'a> {
        Route { prefix, attributes }
    }

    /// A copy of the attributes with `change` applied: what a filter's
    /// `Verdict::Modify` carries.
    pub fn changed(&self, change: impl FnOnce(&mut Attributes)) -> Attributes {
        let mut a = self.attributes.clone();
        change(&mut a);
        a
    }
}

impl Deref for Route<'_> {
    type Target = Attributes;

    fn deref(&self) -> &Attributes {
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

/// The view of a route whose attributes are entry `i` of a batch's list.
/// An index out of range (the gateway never sends one) traps the call.
pub(crate) fn view(attributes: &[Attributes], prefix: Prefix, i: u32) -> Route<'_> {
    Route {
        prefix,
        attributes: attributes
            .get(i as usize)
            .expect("the gateway sent an attribute index out of range"),
    }
}
