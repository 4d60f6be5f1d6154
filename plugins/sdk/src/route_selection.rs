//! The `route-selection` slot: which candidates of a prefix enter the
//! forwarding table.
//!
//! Implement [`RouteSelection`] and export it with
//! [`export_route_selection!`](crate::export_route_selection).

pub use crate::types::{Attributes, Prefix, Route};
use sitelink_plugin_world_route_selection::exports::sitelink::policy::selection as wire;
pub use sitelink_plugin_world_route_selection::exports::sitelink::policy::selection::Source;

/// One candidate route of a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub source: Source,
    /// The connection the route leads to.
    pub connection: &'a str,
    /// For BGP routes, the tunnel (inside CIDR) it was learned over.
    pub tunnel: Option<&'a str>,
    /// The route (its prefix is the prefix's).
    pub route: Route<'a>,
}

/// A prefix and its candidates, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixCandidates<'a> {
    pub prefix: Prefix,
    pub candidates: Vec<Candidate<'a>>,
}

/// A route selection plugin.
pub trait RouteSelection {
    /// The parameters the plugin takes (`None`: not checked). Declared,
    /// every call first checks the operator's against them
    /// ([`crate::params::require`]): a misspelt key or a bad value refuses
    /// the plugin, naming each, when the gateway loads it (it calls each
    /// plugin once with no input then: `sitelink check`, `plugin swap`).
    const PARAMS: Option<&'static [crate::params::Param]> = None;

    /// Whether [`RouteSelection::select`] installs a prefix's only candidate
    /// whenever a prefix has exactly one. Declare `true` when it does (a
    /// selection that ranks candidates always does): the gateway then
    /// installs those prefixes itself and calls `select` only for prefixes
    /// with several candidates, which at a full table saves nearly every
    /// call. Leave it `false` if `select` may refuse a lone candidate.
    const INSTALLS_LONE_CANDIDATE: bool = false;

    /// For each prefix, in order, the indexes of the candidates to install
    /// (one for a single best path, several for ECMP, none to install
    /// nothing). Indexes must be in range and distinct.
    fn select(prefixes: Vec<PrefixCandidates<'_>>) -> Vec<Vec<u32>>;
}

/// One selection call of `T` as it crosses (the export macro's body): the
/// declared parameters checked, candidates as views of the batch's
/// attribute sets and sources, the answer's lists end to end. An index or
/// an end out of range (the gateway never sends one) traps the call.
#[doc(hidden)]
pub fn __call<T: RouteSelection>(
    attributes: crate::types::WireSets,
    vias: Vec<wire::Via>,
    prefixes: Vec<wire::PrefixCandidates>,
    candidates: Vec<wire::Candidate>,
) -> wire::Selected {
    crate::params::require_declared(T::PARAMS);
    let attributes = crate::types::views(&attributes);
    let mut start = 0;
    let views = prefixes
        .iter()
        .map(|p| {
            let end = p.candidates_end as usize;
            let of_prefix = candidates
                .get(start..end)
                .expect("the gateway sent candidate ends out of range");
            start = end;
            let candidates = of_prefix
                .iter()
                .map(|c| {
                    let via = vias
                        .get(c.via as usize)
                        .expect("the gateway sent a candidate whose via index is out of range");
                    Candidate {
                        source: via.source,
                        connection: &via.connection,
                        tunnel: via.tunnel.as_deref(),
                        route: crate::types::view(&attributes, p.prefix, c.attributes),
                    }
                })
                .collect();
            PrefixCandidates {
                prefix: p.prefix,
                candidates,
            }
        })
        .collect();
    let chosen = T::select(views);
    let mut selected = wire::Selected {
        indexes: Vec::with_capacity(chosen.iter().map(Vec::len).sum()),
        ends: Vec::with_capacity(chosen.len()),
    };
    for list in chosen {
        selected.indexes.extend(list);
        selected.ends.push(selected.indexes.len() as u32);
    }
    selected
}

/// Exports a [`RouteSelection`] as the plugin's `route-selection` world,
/// with `about` answering the plugin crate's name and version. Use once, at
/// the root of a `cdylib` crate. Expands to nothing off `wasm32`.
#[macro_export]
macro_rules! export_route_selection {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SitelinkPlugin;
            impl $crate::__private::route_selection::exports::sitelink::policy::about::Guest
                for __SitelinkPlugin
            {
                fn name() -> ::std::string::String {
                    ::std::string::String::from(::core::env!("CARGO_PKG_NAME"))
                }
                fn version() -> ::std::string::String {
                    ::std::string::String::from(::core::env!("CARGO_PKG_VERSION"))
                }
            }
            impl $crate::__private::route_selection::exports::sitelink::policy::selection::Guest
                for __SitelinkPlugin
            {
                fn select(
                    attributes: $crate::types::WireSets,
                    vias: ::std::vec::Vec<
                        $crate::__private::route_selection::exports::sitelink::policy::selection::Via,
                    >,
                    prefixes: ::std::vec::Vec<
                        $crate::__private::route_selection::exports::sitelink::policy::selection::PrefixCandidates,
                    >,
                    candidates: ::std::vec::Vec<
                        $crate::__private::route_selection::exports::sitelink::policy::selection::Candidate,
                    >,
                ) -> $crate::__private::route_selection::exports::sitelink::policy::selection::Selected {
                    $crate::route_selection::__call::<$ty>(attributes, vias, prefixes, candidates)
                }
                fn installs_lone_candidate() -> bool {
                    <$ty as $crate::route_selection::RouteSelection>::INSTALLS_LONE_CANDIDATE
                }
            }
            $crate::__private::route_selection::export_route_selection_world!(
                __SitelinkPlugin with_types_in $crate::__private::route_selection
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<T: $crate::route_selection::RouteSelection>() {}
            implements::<$ty>();
        };
    };
}
