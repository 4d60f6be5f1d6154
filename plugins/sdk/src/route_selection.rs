//! The `route-selection` slot: which candidates of a prefix enter the
//! forwarding table.
//!
//! Implement [`RouteSelection`] and export it with
//! [`export_route_selection!`](crate::export_route_selection).

pub use crate::types::{Prefix, Route};
pub use sitelink_plugin_world_route_selection::exports::sitelink::policy::selection::{
    Candidate, PrefixCandidates, Source,
};

/// A route selection plugin.
pub trait RouteSelection {
    /// The parameters the plugin takes (`None`: not checked). Declared,
    /// every call first checks the operator's against them
    /// ([`crate::params::require`]): a misspelt key or a bad value refuses
    /// the plugin, naming each, when the gateway loads it (it calls each
    /// plugin once with no input then: `sitelink check`, `plugin swap`).
    const PARAMS: Option<&'static [crate::params::Param]> = None;

    /// For each prefix, in order, the indexes of the candidates to install
    /// (one for a single best path, several for ECMP, none to install
    /// nothing). Indexes must be in range and distinct.
    fn select(prefixes: Vec<PrefixCandidates>) -> Vec<Vec<u32>>;
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
                    prefixes: ::std::vec::Vec<$crate::route_selection::PrefixCandidates>,
                ) -> ::std::vec::Vec<::std::vec::Vec<u32>> {
                    $crate::params::require_declared(
                        <$ty as $crate::route_selection::RouteSelection>::PARAMS,
                    );
                    <$ty as $crate::route_selection::RouteSelection>::select(prefixes)
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
