//! The `sitelink routes` document: every candidate of the route table
//! (static routes, and every route each BGP session received, accepted by
//! the import filter or not), with its attributes and whether the route
//! selection installed it. Read-only views over the control loop's state.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::loc_rib::LocRib;
use super::speaker::Speaker;
use crate::bgp::message::Origin;
use crate::config::GatewayConfig;
use crate::topology::TunnelInfo;

/// The route table as `sitelink routes --json` prints it.
pub fn routes(
    cfg: &GatewayConfig,
    tunnels: &[TunnelInfo],
    speaker: &Speaker,
    rib: &LocRib,
) -> Value {
    let selected = |prefix, connection, tunnel| {
        rib.selected(&prefix)
            .is_some_and(|via| via.contains(&(connection, tunnel)))
    };
    let name = |c: usize| cfg.connections.get(c).map(|c| c.name.clone());
    let mut routes: Vec<Value> = Vec::new();
    for (connection, conn) in cfg.connections.iter().enumerate() {
        for prefix in &conn.static_routes {
            routes.push(json!({
                "prefix": prefix.to_string(),
                "source": "static",
                "connection": conn.name,
                "tunnel": null,
                "as_path": [],
                "origin": "igp",
                "med": null,
                "local_pref": null,
                "communities": [],
                "large_communities": [],
                "accepted": true,
                "selected": selected(*prefix, connection, None),
            }));
        }
    }
    let mut learned = speaker.received_routes();
    learned.sort_by_key(|(prefix, _, tunnel, _, _)| (*prefix, *tunnel));
    for (prefix, connection, tunnel, attrs, accepted) in learned {
        routes.push(json!({
            "prefix": prefix.to_string(),
            "source": "bgp",
            "connection": name(connection),
            "tunnel": tunnels.get(tunnel).map(|t| t.inside_cidr.to_string()),
            "as_path": attrs.as_path_flat(),
            "origin": match attrs.origin {
                Origin::Igp => "igp",
                Origin::Egp => "egp",
                Origin::Incomplete => "incomplete",
            },
            "med": attrs.med,
            "local_pref": attrs.local_pref,
            "communities": attrs.communities.iter().map(|c| format!("{}:{}", c >> 16, c & 0xffff)).collect::<Vec<_>>(),
            "large_communities": attrs.large_communities.iter()
                .map(|c| format!("{}:{}:{}", c.global_admin, c.local_data1, c.local_data2))
                .collect::<Vec<_>>(),
            "accepted": accepted,
            "selected": selected(prefix, connection, Some(tunnel)),
        }));
    }
    let installed_prefixes: BTreeSet<String> = rib
        .installed_prefixes()
        .iter()
        .map(|p| p.to_string())
        .collect();
    json!({
        "propagation": cfg.route_table.propagation,
        "installed_prefixes": installed_prefixes,
        "routes": routes,
    })
}
