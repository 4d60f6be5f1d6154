//! `default-route-selection`: the built-in route selection as a plugin
//! (static over BGP, then highest local-pref, shortest AS path, lowest MED,
//! ECMP among equals; see `sitelink_plugin::defaults::route_selection`). The
//! host has a native twin of this rule; a differential test holds the two to
//! the same answers.

use sitelink_plugin::defaults;
use sitelink_plugin::route_selection::{PrefixCandidates, RouteSelection};

/// The default route selection.
pub struct DefaultRouteSelection;

impl RouteSelection for DefaultRouteSelection {
    /// A lone candidate is always the best one.
    const INSTALLS_LONE_CANDIDATE: bool = true;

    fn select(prefixes: Vec<PrefixCandidates>) -> Vec<Vec<u32>> {
        defaults::route_selection::select(&prefixes)
    }
}

sitelink_plugin::export_route_selection!(DefaultRouteSelection);
