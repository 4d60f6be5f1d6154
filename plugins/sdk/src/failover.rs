//! The `failover` slot: how traffic is spread over the tunnels of each
//! connection (a weight per tunnel, 0 = standby).
//!
//! Implement [`Failover`] and export it with
//! [`export_failover!`](crate::export_failover).

pub use sitelink_plugin_world_failover::exports::sitelink::policy::weights::{
    ConnectionHealth, Routing, TunnelHealth,
};

/// A failover plugin.
pub trait Failover {
    /// The parameters the plugin takes (`None`: not checked). Declared,
    /// every call first checks the operator's against them
    /// ([`crate::params::require`]): a misspelt key or a bad value refuses
    /// the plugin, naming each, when the gateway loads it (it calls each
    /// plugin once with no input then: `sitelink check`, `plugin swap`).
    const PARAMS: Option<&'static [crate::params::Param]> = None;

    /// For each connection, in order, a weight per tunnel, in order, from 0
    /// to 1000. At least one tunnel of each connection must have a weight
    /// above 0 (a connection without tunnels gets an empty list).
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>>;
}

/// Exports a [`Failover`] as the plugin's `failover` world, with `about`
/// answering the plugin crate's name and version. Use once, at the root of a
/// `cdylib` crate. Expands to nothing off `wasm32`.
#[macro_export]
macro_rules! export_failover {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SitelinkPlugin;
            impl $crate::__private::failover::exports::sitelink::policy::about::Guest
                for __SitelinkPlugin
            {
                fn name() -> ::std::string::String {
                    ::std::string::String::from(::core::env!("CARGO_PKG_NAME"))
                }
                fn version() -> ::std::string::String {
                    ::std::string::String::from(::core::env!("CARGO_PKG_VERSION"))
                }
            }
            impl $crate::__private::failover::exports::sitelink::policy::weights::Guest
                for __SitelinkPlugin
            {
                fn decide(
                    connections: ::std::vec::Vec<$crate::failover::ConnectionHealth>,
                ) -> ::std::vec::Vec<::std::vec::Vec<u32>> {
                    $crate::params::require_declared(<$ty as $crate::failover::Failover>::PARAMS);
                    <$ty as $crate::failover::Failover>::decide(connections)
                }
            }
            $crate::__private::failover::export_failover_world!(
                __SitelinkPlugin with_types_in $crate::__private::failover
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<T: $crate::failover::Failover>() {}
            implements::<$ty>();
        };
    };
}
