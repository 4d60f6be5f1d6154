//! `default-bgp-filter`: the built-in BGP filter as a plugin: every route is
//! accepted unchanged, on import and on export.

use sitelink_plugin::bgp_filter::{BgpFilter, Peer, Route, Verdict};
use sitelink_plugin::defaults;

/// The default BGP filter.
pub struct DefaultBgpFilter;

impl BgpFilter for DefaultBgpFilter {
    fn import_filter(peer: Peer, routes: Vec<Route>) -> Vec<Verdict> {
        defaults::bgp_filter::import_filter(&peer, &routes)
    }

    fn export_filter(peer: Peer, routes: Vec<Route>) -> Vec<Verdict> {
        defaults::bgp_filter::export_filter(&peer, &routes)
    }
}

sitelink_plugin::export_bgp_filter!(DefaultBgpFilter);
