//! The `bgp-filter` slot: import and export filters for BGP routes.
//!
//! Implement [`BgpFilter`] and export it with [`export_bgp_filter!`]
//! (`crate::export_bgp_filter`). Override the per-route methods
//! ([`BgpFilter::import_route`], [`BgpFilter::export_route`]) or, to see the
//! whole batch at once, the batch methods; whatever is not overridden
//! accepts every route unchanged.

use std::collections::HashMap;

pub use crate::types::{Attributes, Route};
use sitelink_plugin_world_bgp_filter::exports::sitelink::policy::filter as wire;
pub use sitelink_plugin_world_bgp_filter::exports::sitelink::policy::filter::Peer;

/// A filter's verdict on one route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    Reject,
    Accept,
    /// Accept with these attributes instead (the prefix stays): build them
    /// with [`Route::changed`]. The next hop is the gateway's (its tunnel):
    /// a `next_hop` changed here is ignored. At most 255 ASNs in the AS path, 255
    /// communities and 64 large communities (so the route fits one BGP
    /// UPDATE); the host rejects a route modified past them. Routes arrive
    /// within them.
    Modify(Attributes),
}

/// A BGP filter plugin.
pub trait BgpFilter {
    /// The parameters the plugin takes (`None`: not checked). Declared,
    /// every call first checks the operator's against them
    /// ([`crate::params::require`]): a misspelt key or a bad value refuses
    /// the plugin, naming each, when the gateway loads it (it calls each
    /// plugin once with no input then: `sitelink check`, `plugin swap`).
    const PARAMS: Option<&'static [crate::params::Param]> = None;

    /// The verdict on one route received from `peer`. Default: accept.
    fn import_route(peer: &Peer, route: Route<'_>) -> Verdict {
        let _ = (peer, route);
        Verdict::Accept
    }

    /// The verdict on one route about to be advertised to `peer`. Default:
    /// accept.
    fn export_route(peer: &Peer, route: Route<'_>) -> Verdict {
        let _ = (peer, route);
        Verdict::Accept
    }

    /// Routes received from `peer`: one verdict per route, in order.
    /// Default: [`BgpFilter::import_route`] on each.
    fn import_filter(peer: Peer, routes: Vec<Route<'_>>) -> Vec<Verdict> {
        routes
            .into_iter()
            .map(|r| Self::import_route(&peer, r))
            .collect()
    }

    /// Routes about to be advertised to `peer`: one verdict per route, in
    /// order. Default: [`BgpFilter::export_route`] on each.
    fn export_filter(peer: Peer, routes: Vec<Route<'_>>) -> Vec<Verdict> {
        routes
            .into_iter()
            .map(|r| Self::export_route(&peer, r))
            .collect()
    }
}

/// One filter call of `T` as it crosses (the export macro's body): the
/// declared parameters checked, the routes as views of the batch's
/// attribute sets in, the verdicts out with each `modify` set listed once.
#[doc(hidden)]
pub fn __call<T: BgpFilter>(
    export: bool,
    peer: Peer,
    attributes: crate::types::WireSets,
    routes: Vec<crate::types::WireRoute>,
) -> wire::Verdicts {
    crate::params::require_declared(T::PARAMS);
    let attributes = crate::types::views(&attributes);
    let filter = if export {
        T::export_filter
    } else {
        T::import_filter
    };
    let views = routes
        .iter()
        .map(|r| crate::types::view(&attributes, r.prefix, r.attributes))
        .collect();
    let mut sets: Vec<Attributes> = Vec::new();
    let mut index: HashMap<Attributes, u32> = HashMap::new();
    let verdicts = filter(peer, views)
        .into_iter()
        .map(|v| match v {
            Verdict::Reject => wire::Verdict::Reject,
            Verdict::Accept => wire::Verdict::Accept,
            Verdict::Modify(a) => {
                let next = sets.len() as u32;
                wire::Verdict::Modify(*index.entry(a).or_insert_with_key(|a| {
                    sets.push(a.clone());
                    next
                }))
            }
        })
        .collect();
    wire::Verdicts {
        attributes: sets,
        verdicts,
    }
}

/// Exports a [`BgpFilter`] as the plugin's `bgp-filter` world, with `about`
/// answering the plugin crate's name and version. Use once, at the root of a
/// `cdylib` crate. Expands to nothing off `wasm32`.
#[macro_export]
macro_rules! export_bgp_filter {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SitelinkPlugin;
            impl $crate::__private::bgp_filter::exports::sitelink::policy::about::Guest
                for __SitelinkPlugin
            {
                fn name() -> ::std::string::String {
                    ::std::string::String::from(::core::env!("CARGO_PKG_NAME"))
                }
                fn version() -> ::std::string::String {
                    ::std::string::String::from(::core::env!("CARGO_PKG_VERSION"))
                }
            }
            impl $crate::__private::bgp_filter::exports::sitelink::policy::filter::Guest
                for __SitelinkPlugin
            {
                fn import_filter(
                    peer: $crate::bgp_filter::Peer,
                    attributes: $crate::types::WireSets,
                    routes: ::std::vec::Vec<$crate::types::WireRoute>,
                ) -> $crate::__private::bgp_filter::exports::sitelink::policy::filter::Verdicts
                {
                    $crate::bgp_filter::__call::<$ty>(false, peer, attributes, routes)
                }
                fn export_filter(
                    peer: $crate::bgp_filter::Peer,
                    attributes: $crate::types::WireSets,
                    routes: ::std::vec::Vec<$crate::types::WireRoute>,
                ) -> $crate::__private::bgp_filter::exports::sitelink::policy::filter::Verdicts
                {
                    $crate::bgp_filter::__call::<$ty>(true, peer, attributes, routes)
                }
            }
            $crate::__private::bgp_filter::export_bgp_filter_world!(
                __SitelinkPlugin with_types_in $crate::__private::bgp_filter
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<T: $crate::bgp_filter::BgpFilter>() {}
            implements::<$ty>();
        };
    };
}
