//! The `routes` reply: every candidate of the route table (static routes,
//! and each route a BGP session received, accepted by the import filter or
//! not), with its attributes and whether the route selection installed it.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ids::{display_as_str, TunnelCidr};

/// The route table as `sitelink routes --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesDoc {
    /// Route propagation: learned routes may be installed.
    pub propagation: bool,
    /// The prefixes installed in the route table.
    pub installed_prefixes: Vec<IpNet>,
    pub routes: Vec<RouteEntry>,
    /// How many routes matched the request's filters when `limit` cut the
    /// list; absent when `routes` holds them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Route work not yet in force when the view was taken; absent when
    /// there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settling: Option<Settling>,
}

/// Route work not yet in force: what the view's `selected` may be ahead of
/// (the forwarding table) or behind (the queued routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settling {
    /// Routes waiting for the import filter or the route selection: the
    /// `selected` of their prefixes is from before them.
    pub queued: u64,
    /// The selection shown has changes the forwarding table in force does
    /// not have yet: a snapshot takes them there, at most 250 ms after the
    /// last one while work is queued.
    pub unpublished: bool,
}

impl Settling {
    /// `None` when nothing is queued or unpublished.
    pub fn of(queued: u64, unpublished: bool) -> Option<Settling> {
        (queued > 0 || unpublished).then_some(Settling {
            queued,
            unpublished,
        })
    }
}

/// Where a candidate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteSource {
    /// A VPN connection's static route.
    Static,
    /// Received from a BGP peer.
    Bgp,
}

impl RouteSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteSource::Static => "static",
            RouteSource::Bgp => "bgp",
        }
    }
}

/// BGP ORIGIN (RFC 4271 section 5.1.1); `igp` for static routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Igp,
    Egp,
    Incomplete,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Igp => "igp",
            Origin::Egp => "egp",
            Origin::Incomplete => "incomplete",
        }
    }
}

display_as_str!(RouteSource, Origin);

/// One candidate route for a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEntry {
    pub prefix: IpNet,
    pub source: RouteSource,
    /// The VPN connection.
    pub connection: String,
    /// The tunnel it was learned over; `null` for static routes.
    pub tunnel: Option<TunnelCidr>,
    /// AS numbers, sets flattened; empty for static routes.
    pub as_path: Vec<u32>,
    pub origin: Origin,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// "ASN:value".
    pub communities: Vec<String>,
    /// "global:local1:local2".
    pub large_communities: Vec<String>,
    /// Passed the import filter.
    pub accepted: bool,
    /// Not accepted because the filter plugin faulted on it (it fails
    /// closed), not by the filter's own verdict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejected_by_fault: bool,
    /// Installed by the route selection.
    pub selected: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::round_trips;

    #[test]
    fn todays_routes_document_round_trips() {
        let doc: RoutesDoc = round_trips(include_str!("testdata/routes.json"));
        assert_eq!(doc.total, None);
        assert_eq!(doc.routes[0].source, RouteSource::Static);
        assert_eq!(doc.routes[0].tunnel, None);
        assert_eq!(doc.routes[2].origin, Origin::Incomplete);
        // Listed as the gateway ordered them, not re-sorted.
        assert_eq!(doc.installed_prefixes[2].to_string(), "fd00:1::/64");
    }

    #[test]
    fn a_cut_list_says_how_many_matched() {
        let mut doc: RoutesDoc = round_trips(include_str!("testdata/routes.json"));
        doc.total = Some(1000);
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["total"], 1000);
        assert_eq!(serde_json::from_value::<RoutesDoc>(json).unwrap(), doc);
    }

    #[test]
    fn route_work_under_way_is_said_and_none_is_left_out() {
        let mut doc: RoutesDoc = round_trips(include_str!("testdata/routes.json"));
        assert_eq!(doc.settling, None);
        assert!(!serde_json::to_string(&doc).unwrap().contains("settling"));
        doc.settling = Settling::of(5, false);
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["settling"]["queued"], 5);
        assert_eq!(json["settling"]["unpublished"], false);
        assert_eq!(serde_json::from_value::<RoutesDoc>(json).unwrap(), doc);
        assert_eq!(Settling::of(0, false), None);
    }
}
