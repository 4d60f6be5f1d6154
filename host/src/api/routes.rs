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
    /// About how many routes, gateway-wide (not only those listed), wait
    /// for the import filter or the route selection: the `selected` of
    /// their prefixes is from before them. A prefix queued twice counts
    /// twice; a table being walked counts what is left of it.
    pub queued: u64,
    /// The forwarding table in force lacks changes of the selection (or
    /// of the connections a prefix may send from): its next snapshot,
    /// due in this many milliseconds (0: at the end of the current turn),
    /// takes them there. Absent when none wait. The kernel's routes
    /// (`kernel_routes`) follow the snapshot on their own thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_due_ms: Option<u64>,
}

impl Settling {
    /// `None` when nothing is queued and no snapshot is due.
    pub fn of(queued: u64, snapshot_due_ms: Option<u64>) -> Option<Settling> {
        (queued > 0 || snapshot_due_ms.is_some()).then_some(Settling {
            queued,
            snapshot_due_ms,
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
        let doc: RoutesDoc = round_trips(include_str!("testdata/routes.json"));
        assert_eq!(doc.settling, None);
        assert!(!serde_json::to_string(&doc).unwrap().contains("settling"));
        let doc: RoutesDoc = round_trips(include_str!("testdata/routes_settling.json"));
        assert_eq!(doc.settling, Settling::of(1200, Some(180)));
        let queued_only = Settling::of(5, None);
        let json = serde_json::to_value(queued_only).unwrap();
        assert_eq!(json, serde_json::json!({"queued": 5}));
        assert_eq!(Settling::of(0, None), None);
    }
}
