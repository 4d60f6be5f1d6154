//! `sitelink-plugin`: the SDK for sitelink policy plugins (WebAssembly
//! components for `wasm32-wasip2` that export one world of
//! `sitelink:policy@0.3.0`, see `wit/policy.wit`).
//!
//! A plugin is one trait impl and one macro line:
//!
//! ```
//! use sitelink_plugin::failover::{ConnectionHealth, Failover};
//!
//! struct AllActive;
//!
//! impl Failover for AllActive {
//!     fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
//!         connections.iter().map(|c| vec![100; c.tunnels.len()]).collect()
//!     }
//! }
//!
//! sitelink_plugin::export_failover!(AllActive);
//! ```
//!
//! | slot (world)      | module               | trait                                 | macro                      |
//! |-------------------|----------------------|---------------------------------------|----------------------------|
//! | `bgp-filter`      | [`bgp_filter`]       | [`bgp_filter::BgpFilter`]             | [`export_bgp_filter!`]     |
//! | `route-selection` | [`route_selection`]  | [`route_selection::RouteSelection`]   | [`export_route_selection!`]|
//! | `failover`        | [`failover`]         | [`failover::Failover`]                | [`export_failover!`]       |
//!
//! The macro also exports `about` (`name`/`version` for `sitelink plugin
//! list`) from the plugin crate's `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`.
//! Helpers: [`log`] (the host's log), [`params`] (the operator's
//! `[plugins.SLOT.params]`, with checks), [`community`] (standard and large
//! communities), [`net`] (prefix and address helpers, bogon table) and
//! [`defaults`] (the built-in rules, for plugins that refine them).
//!
//! Off `wasm32` (native unit tests of a plugin's logic) the export macros
//! expand to nothing, [`log`] writes to stderr and [`params`] holds what the
//! test set with [`params::set_for_test`].

pub mod bgp_filter;
pub mod community;
pub mod defaults;
pub mod failover;
pub mod log;
pub mod net;
pub mod params;
pub mod route_selection;
pub mod types;

/// Implementation details of the export macros. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use sitelink_plugin_world_bgp_filter as bgp_filter;
    pub use sitelink_plugin_world_failover as failover;
    pub use sitelink_plugin_world_route_selection as route_selection;
}
