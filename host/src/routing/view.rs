//! The `sitelink routes` view: candidates of the route table (static
//! routes, and every route each BGP session received, accepted by the
//! import filter or not), with attributes and whether the route selection
//! installed them, as `api::RoutesDoc`. Bounded work on a million routes:
//! `--prefix` looks up only the prefixes that hold the given one (one exact
//! lookup per prefix length), `--connection` walks only that connection's
//! sessions, and the list stops at the limit, at most [`MAX_LIMIT`] (its
//! total is counted from the RIBs' sizes, not by walking them).

use ipnet::IpNet;

use super::loc_rib::LocRib;
use super::speaker::Speaker;
use crate::api::{Origin as ApiOrigin, RouteEntry, RouteSource, RoutesDoc};
use crate::bgp::message::Origin;
use crate::config::GatewayConfig;
use crate::topology::{ConnectionId, TunnelInfo};

/// Routes listed when the request gives no limit.
pub const DEFAULT_LIMIT: usize = 10_000;

/// The most routes one answer lists: the control loop builds the list in
/// one turn, between its liveness probes. Over a table of 1.2M routes that
/// turn took 11 ms for [`DEFAULT_LIMIT`] and 0.14 s for this many (the
/// ingest benchmark's core, 2 cores), and it grows with the count.
pub const MAX_LIMIT: usize = 100_000;

/// What `sitelink routes` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutesQuery {
    /// Only the routes of this prefix and of the prefixes that hold it.
    pub prefix: Option<IpNet>,
    /// Only this connection's routes.
    pub connection: Option<String>,
    /// At most this many routes ([`DEFAULT_LIMIT`] when `None`).
    pub limit: Option<usize>,
}

/// `prefix` and every shorter prefix that holds it.
fn covering(prefix: &IpNet) -> Vec<IpNet> {
    (0..=prefix.prefix_len())
        .filter_map(|len| IpNet::new(prefix.addr(), len).ok().map(|n| n.trunc()))
        .collect()
}

/// The route table as `sitelink routes --json` prints it.
pub fn routes(
    cfg: &GatewayConfig,
    tunnels: &[TunnelInfo],
    speaker: &Speaker,
    rib: &LocRib,
    query: &RoutesQuery,
) -> RoutesDoc {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let wanted: Option<Vec<IpNet>> = query.prefix.as_ref().map(covering);
    let in_prefix = |p: &IpNet| wanted.as_ref().is_none_or(|w| w.contains(p));
    let connection_id = query.connection.as_ref().map(|name| {
        cfg.live_connections()
            .find(|(_, c)| &c.name == name)
            .map(|(id, _)| id)
    });
    let in_connection = |c: ConnectionId| connection_id.is_none_or(|id| id == Some(c));
    let selected = |prefix, connection, tunnel| {
        rib.selected(&prefix)
            .is_some_and(|via| via.contains(&(connection, tunnel)))
    };
    let mut routes: Vec<RouteEntry> = Vec::new();
    let mut statics = 0;
    for (connection, conn) in cfg.live_connections() {
        if !in_connection(connection) {
            continue;
        }
        for prefix in conn.static_routes.iter().filter(|p| in_prefix(p)) {
            statics += 1;
            if routes.len() < limit {
                routes.push(RouteEntry {
                    prefix: *prefix,
                    source: RouteSource::Static,
                    connection: conn.name.clone(),
                    tunnel: None,
                    as_path: Vec::new(),
                    origin: ApiOrigin::Igp,
                    med: None,
                    local_pref: None,
                    communities: Vec::new(),
                    large_communities: Vec::new(),
                    accepted: true,
                    rejected_by_fault: false,
                    selected: selected(*prefix, connection, None),
                });
            }
        }
    }
    let name = |c: ConnectionId| cfg.connections.get(c.index()).map(|c| c.name.clone());
    // Only the named connection's sessions are walked; a name that is no
    // live connection has none.
    let mut learned: Vec<_> = match connection_id {
        Some(None) => Vec::new(),
        only => speaker
            .received_routes(wanted.as_deref(), only.flatten())
            .take(limit.saturating_sub(routes.len()))
            .collect(),
    };
    learned.sort_by_key(|r| (r.prefix, r.tunnel));
    for r in learned {
        let (prefix, connection, tunnel, attrs) = (r.prefix, r.connection, r.tunnel, r.attrs);
        routes.push(RouteEntry {
            prefix,
            source: RouteSource::Bgp,
            connection: name(connection).unwrap_or_default(),
            tunnel: tunnels.get(tunnel.index()).map(|t| t.inside_cidr.into()),
            as_path: attrs.as_path_flat(),
            origin: match attrs.origin {
                Origin::Igp => ApiOrigin::Igp,
                Origin::Egp => ApiOrigin::Egp,
                Origin::Incomplete => ApiOrigin::Incomplete,
            },
            med: attrs.med,
            local_pref: attrs.local_pref,
            communities: attrs
                .communities
                .iter()
                .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                .collect(),
            large_communities: attrs
                .large_communities
                .iter()
                .map(|c| format!("{}:{}:{}", c.global_admin, c.local_data1, c.local_data2))
                .collect(),
            accepted: r.accepted,
            rejected_by_fault: r.faulted,
            selected: selected(prefix, connection, Some(tunnel)),
        });
    }
    let mut installed: Vec<IpNet> = match &wanted {
        Some(list) => list
            .iter()
            .filter(|p| rib.selected(p).is_some())
            .copied()
            .collect(),
        None => rib.installed_prefixes_upto(limit),
    };
    installed.sort_unstable();
    // Without a prefix, the count comes from the RIBs' sizes.
    let total = statics
        + match (&wanted, connection_id) {
            (None, None) => speaker.received_count(None),
            (None, Some(Some(c))) => speaker.received_count(Some(c)),
            (None, Some(None)) => 0,
            (Some(_), _) => routes.len() - statics.min(routes.len()),
        };
    RoutesDoc {
        propagation: cfg.route_table.propagation,
        installed_prefixes: installed,
        total: (total > routes.len()).then_some(total as u64),
        routes,
        settling: None,
    }
}
