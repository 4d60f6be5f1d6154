//! Offline plugin tests (`sitelink plugin test`): a bgp-filter or
//! route-selection component run against routes recorded from a gateway
//! (`sitelink routes --json` output, as is) or written by hand, with no
//! gateway running. It prints what a swap would do to each route: the
//! filter's verdict and the attributes it changed, or the prefixes'
//! installed candidates; a fault names the first route it happens on.
//!
//! Owns: reading the routes file, grouping it into the calls the live path
//! makes (one peer's routes per filter call, every candidate of a prefix in
//! one selection), and the report. Must not: touch a gateway; it calls the
//! plugin through the same checked calls (`Plugin::filter`,
//! `Plugin::select`) as the slots.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{
    Attributes, Candidate, CandidateSource, Direction, LargeCommunity, Origin, Peer, Plugin,
    PrefixCandidates, Route,
};
use crate::api::{Origin as ApiOrigin, RouteSource};
use crate::routing::wit_route::{to_address, to_prefix};

/// Routes per plugin call, as the live path sends them.
const CHUNK: usize = 1024;

/// The routes file: `sitelink routes --json` output, or a list of routes.
#[derive(Deserialize)]
#[serde(untagged)]
enum RoutesFile {
    Doc { routes: Vec<TestRoute> },
    List(Vec<TestRoute>),
}

/// One route of the file. Only `prefix` is required; the rest defaults as
/// a BGP route with an empty AS path would. Fields of `routes --json` that
/// are not inputs (`accepted`, `selected`) are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct TestRoute {
    pub prefix: IpNet,
    #[serde(default = "bgp")]
    pub source: RouteSource,
    #[serde(default = "test_connection")]
    pub connection: String,
    /// The tunnel (inside CIDR) it was learned over.
    #[serde(default)]
    pub tunnel: Option<String>,
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    #[serde(default)]
    pub as_path: Vec<u32>,
    #[serde(default = "igp")]
    pub origin: ApiOrigin,
    #[serde(default)]
    pub med: Option<u32>,
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// "ASN:value".
    #[serde(default)]
    pub communities: Vec<String>,
    /// "global:local1:local2".
    #[serde(default)]
    pub large_communities: Vec<String>,
}

fn bgp() -> RouteSource {
    RouteSource::Bgp
}

fn test_connection() -> String {
    "test".to_string()
}

fn igp() -> ApiOrigin {
    ApiOrigin::Igp
}

/// Why the routes file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("the routes file is not JSON routes: {0}\n  fix: give `sitelink routes --json` output, or a list of objects with at least a \"prefix\"")]
    Json(#[from] serde_json::Error),
    #[error("route {index} ({prefix}): {field} {value:?} is not {expected}")]
    Field {
        index: usize,
        prefix: IpNet,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("the routes file has no routes")]
    Empty,
}

/// Reads a routes file's text.
pub fn parse_routes(text: &str) -> Result<Vec<TestRoute>, RoutesError> {
    let routes = match serde_json::from_str(text)? {
        RoutesFile::Doc { routes } | RoutesFile::List(routes) => routes,
    };
    if routes.is_empty() {
        return Err(RoutesError::Empty);
    }
    for (index, r) in routes.iter().enumerate() {
        to_route(index, r)?;
    }
    Ok(routes)
}

/// "ASN:value" as RFC 1997's 32-bit value.
pub fn parse_community(text: &str) -> Option<u32> {
    let (asn, value) = text.split_once(':')?;
    Some((asn.trim().parse::<u16>().ok()? as u32) << 16 | value.trim().parse::<u16>().ok()? as u32)
}

fn parse_large(text: &str) -> Option<LargeCommunity> {
    let mut parts = text.split(':').map(|p| p.trim().parse::<u32>());
    let c = LargeCommunity {
        global_admin: parts.next()?.ok()?,
        local_data1: parts.next()?.ok()?,
        local_data2: parts.next()?.ok()?,
    };
    parts.next().is_none().then_some(c)
}

fn to_route(index: usize, r: &TestRoute) -> Result<Route, RoutesError> {
    let field = |field, value: &str, expected| RoutesError::Field {
        index,
        prefix: r.prefix,
        field,
        value: value.to_string(),
        expected,
    };
    let communities = r
        .communities
        .iter()
        .map(|c| {
            parse_community(c).ok_or_else(|| field("community", c, "ASN:value (16 bits each)"))
        })
        .collect::<Result<_, _>>()?;
    let large_communities = r
        .large_communities
        .iter()
        .map(|c| {
            parse_large(c)
                .ok_or_else(|| field("large community", c, "global:local1:local2 (32 bits each)"))
        })
        .collect::<Result<_, _>>()?;
    let attributes = Attributes {
        next_hop: r.next_hop.map(to_address),
        as_path: r.as_path.clone(),
        origin: match r.origin {
            ApiOrigin::Igp => Origin::Igp,
            ApiOrigin::Egp => Origin::Egp,
            ApiOrigin::Incomplete => Origin::Incomplete,
        },
        med: r.med,
        local_pref: r.local_pref,
        communities,
        large_communities,
    };
    Ok(Route::new(
        to_prefix(r.prefix.trunc()),
        Arc::new(attributes),
    ))
}

/// What a filter did to one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterOutcome {
    pub prefix: IpNet,
    pub connection: String,
    pub tunnel: Option<String>,
    /// "accept", "reject" or "modify".
    pub verdict: String,
    /// For "modify": each attribute it changed, "field: before -> after".
    pub changes: Vec<String>,
}

/// The installed candidates of one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectionOutcome {
    pub prefix: IpNet,
    pub candidates: usize,
    /// "connection via tunnel" (or "connection (static)"), in the plugin's order.
    pub installed: Vec<String>,
}

/// The report of `sitelink plugin test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestReport {
    pub slot: String,
    /// "name version".
    pub plugin: String,
    /// "import" or "export" (bgp-filter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    pub routes: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<FilterOutcome>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selections: Vec<SelectionOutcome>,
    /// The plugin's fault, with the first route it happens on; then the
    /// report stops there.
    pub fault: Option<String>,
}

impl TestReport {
    /// How many routes got `verdict`.
    pub fn count(&self, verdict: &str) -> usize {
        self.verdicts
            .iter()
            .filter(|v| v.verdict == verdict)
            .count()
    }
}

fn name(plugin: &Plugin) -> String {
    format!("{} {}", plugin.info().name, plugin.info().version)
}

/// The peer a recorded route came from: its connection and tunnel, the AS
/// that heads its path, the far inside address (the tunnel's second host,
/// or the next hop).
fn peer_of(route: &TestRoute, peer_asn: Option<u32>) -> Peer {
    let tunnel = route.tunnel.clone().unwrap_or_default();
    let far = route
        .next_hop
        .or_else(|| {
            let net: IpNet = tunnel.parse().ok()?;
            net.hosts().nth(1)
        })
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    Peer {
        connection: route.connection.clone(),
        tunnel,
        asn: peer_asn
            .or_else(|| route.as_path.first().copied())
            .unwrap_or(0),
        address: to_address(far),
    }
}

/// The report of a plugin that faulted on an empty call (bad parameters):
/// no route was looked at.
pub fn refused(plugin: &Plugin, fault: super::Fault) -> TestReport {
    TestReport {
        slot: plugin.slot().world().to_string(),
        plugin: name(plugin),
        direction: None,
        routes: 0,
        verdicts: Vec::new(),
        selections: Vec::new(),
        fault: Some(format!("{fault} (on an empty call: before any route)")),
    }
}

/// Runs a bgp-filter over `routes`: one peer's routes per call, in chunks
/// as the live path sends them.
pub fn run_filter(
    plugin: &mut Plugin,
    direction: Direction,
    routes: &[TestRoute],
    peer_asn: Option<u32>,
) -> TestReport {
    let mut report = TestReport {
        slot: "bgp-filter".into(),
        plugin: name(plugin),
        direction: Some(match direction {
            Direction::Import => "import".into(),
            Direction::Export => "export".into(),
        }),
        routes: routes.len(),
        verdicts: Vec::new(),
        selections: Vec::new(),
        fault: None,
    };
    let mut by_peer: BTreeMap<(String, Option<String>), Vec<usize>> = BTreeMap::new();
    for (i, r) in routes.iter().enumerate() {
        if r.source == RouteSource::Bgp {
            by_peer
                .entry((r.connection.clone(), r.tunnel.clone()))
                .or_default()
                .push(i);
        }
    }
    for indexes in by_peer.values() {
        for chunk in indexes.chunks(CHUNK) {
            let Some(first) = chunk.first().and_then(|i| routes.get(*i)) else {
                continue;
            };
            let peer = peer_of(first, peer_asn);
            let input: Vec<(usize, Route)> = chunk
                .iter()
                .filter_map(|i| Some((*i, to_route(*i, routes.get(*i)?).ok()?)))
                .collect();
            let wit: Vec<Route> = input.iter().map(|(_, r)| r.clone()).collect();
            match plugin.filter(direction, &peer, &wit) {
                Ok(verdicts) => {
                    for ((i, before), verdict) in input.iter().zip(verdicts) {
                        let Some(r) = routes.get(*i) else { continue };
                        let (verdict, changes) = match verdict {
                            super::Verdict::Accept => ("accept", Vec::new()),
                            super::Verdict::Reject => ("reject", Vec::new()),
                            super::Verdict::Modify(after) => ("modify", diff(before, &after)),
                        };
                        report.verdicts.push(FilterOutcome {
                            prefix: r.prefix,
                            connection: r.connection.as_str().into(),
                            tunnel: r.tunnel.as_deref().map(Into::into),
                            verdict: verdict.to_string(),
                            changes,
                        });
                    }
                }
                Err(fault) => {
                    let culprit =
                        first_failing(&wit, |part| plugin.filter(direction, &peer, part).is_err());
                    let at = culprit
                        .and_then(|at| input.get(at))
                        .and_then(|(i, _)| routes.get(*i));
                    report.fault = Some(match at {
                        Some(r) => format!("{fault} (first on {})", r.prefix),
                        None => fault.to_string(),
                    });
                    return report;
                }
            }
        }
    }
    report
}

/// Runs a route selection over `routes`, every candidate of a prefix in one
/// entry, in chunks of prefixes as the live path sends them.
pub fn run_selection(plugin: &mut Plugin, routes: &[TestRoute]) -> TestReport {
    let mut report = TestReport {
        slot: "route-selection".into(),
        plugin: name(plugin),
        direction: None,
        routes: routes.len(),
        verdicts: Vec::new(),
        selections: Vec::new(),
        fault: None,
    };
    let mut by_prefix: BTreeMap<IpNet, Vec<&TestRoute>> = BTreeMap::new();
    for r in routes {
        by_prefix.entry(r.prefix.trunc()).or_default().push(r);
    }
    let prefixes: Vec<(IpNet, Vec<&TestRoute>)> = by_prefix.into_iter().collect();
    for chunk in prefixes.chunks(CHUNK) {
        let input: Vec<PrefixCandidates> = chunk
            .iter()
            .map(|(prefix, list)| PrefixCandidates {
                prefix: to_prefix(*prefix),
                candidates: list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        Some(Candidate {
                            source: match r.source {
                                RouteSource::Static => CandidateSource::StaticRoute,
                                RouteSource::Bgp => CandidateSource::Bgp,
                            },
                            connection: r.connection.as_str().into(),
                            tunnel: r.tunnel.as_deref().map(Into::into),
                            route: to_route(i, r).ok()?,
                        })
                    })
                    .collect(),
            })
            .collect();
        match plugin.select(&input) {
            Ok(answer) => {
                for ((prefix, list), picked) in chunk.iter().zip(answer) {
                    // The gateway would not ask: the promise must hold.
                    if plugin.info().installs_lone_candidate && list.len() == 1 && picked != [0] {
                        report.fault = Some(format!(
                            "the plugin declares installs-lone-candidate, but answered {picked:?} \
                             for {prefix}, whose only candidate is index 0: a gateway installs \
                             such a candidate without asking; make select install it, or \
                             declare false (INSTALLS_LONE_CANDIDATE in the SDK)"
                        ));
                        return report;
                    }
                    let installed = picked
                        .iter()
                        .filter_map(|i| list.get(*i as usize))
                        .map(|r| match &r.tunnel {
                            Some(t) => format!("{} via {t}", r.connection),
                            None => format!("{} (static)", r.connection),
                        })
                        .collect();
                    report.selections.push(SelectionOutcome {
                        prefix: *prefix,
                        candidates: list.len(),
                        installed,
                    });
                }
            }
            Err(fault) => {
                let culprit = first_failing(&input, |part| plugin.select(part).is_err());
                report.fault = Some(match culprit.and_then(|i| chunk.get(i)) {
                    Some((prefix, _)) => format!("{fault} (first on {prefix})"),
                    None => fault.to_string(),
                });
                return report;
            }
        }
    }
    report
}

/// The index of the first item `faults` fails on alone, found by halving
/// (a few calls, not one per item); `None` if no single item fails.
fn first_failing<T: Clone>(items: &[T], mut faults: impl FnMut(&[T]) -> bool) -> Option<usize> {
    let (mut start, mut len) = (0, items.len());
    while len > 1 {
        let half = len / 2;
        if faults(items.get(start..start + half)?) {
            len = half;
        } else {
            start += half;
            len -= half;
        }
    }
    faults(items.get(start..start + 1)?).then_some(start)
}

/// Each attribute `after` changed from `before`, "field: before -> after".
pub(crate) fn diff(before: &Attributes, after: &Attributes) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name}: {a} -> {b}"));
        }
    };
    let opt = |v: Option<u32>| v.map_or_else(|| "none".into(), |v| v.to_string());
    field(
        "as_path",
        format!("{:?}", before.as_path),
        format!("{:?}", after.as_path),
    );
    field(
        "origin",
        format!("{:?}", before.origin),
        format!("{:?}", after.origin),
    );
    field("med", opt(before.med), opt(after.med));
    field("local_pref", opt(before.local_pref), opt(after.local_pref));
    let communities = |r: &Attributes| -> Vec<String> {
        r.communities
            .iter()
            .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
            .collect()
    };
    field(
        "communities",
        format!("{:?}", communities(before)),
        format!("{:?}", communities(after)),
    );
    let large = |r: &Attributes| -> Vec<String> {
        r.large_communities
            .iter()
            .map(|c| format!("{}:{}:{}", c.global_admin, c.local_data1, c.local_data2))
            .collect()
    };
    field(
        "large_communities",
        format!("{:?}", large(before)),
        format!("{:?}", large(after)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_json_output_and_hand_written_lists_are_read() {
        let doc = include_str!("../api/testdata/routes.json");
        let routes = parse_routes(doc).expect("routes --json output");
        assert!(routes.iter().any(|r| r.source == RouteSource::Static));
        assert!(routes
            .iter()
            .any(|r| r.communities == vec!["65000:1".to_string()]));
        let hand = parse_routes(r#"[{"prefix": "10.0.0.0/8", "communities": ["65000:100"]}]"#)
            .expect("a hand-written list");
        assert_eq!(hand[0].connection, "test");
        assert_eq!(
            to_route(0, &hand[0]).unwrap().communities,
            vec![65000 << 16 | 100]
        );
    }

    #[test]
    fn bad_routes_files_name_the_route_and_the_fix() {
        let bad = parse_routes(r#"[{"prefix": "10.0.0.0/8", "communities": ["70000:1"]}]"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            bad,
            "route 0 (10.0.0.0/8): community \"70000:1\" is not ASN:value (16 bits each)"
        );
        let not_json = parse_routes("prefix,next_hop").unwrap_err().to_string();
        assert!(not_json.contains("fix:"), "{not_json}");
        assert!(matches!(parse_routes("[]"), Err(RoutesError::Empty)));
    }

    #[test]
    fn halving_finds_the_first_failing_item() {
        let items: Vec<u32> = (0..1000).collect();
        let mut calls = 0;
        let found = first_failing(&items, |part| {
            calls += 1;
            part.iter().any(|i| *i == 613 || *i == 900)
        });
        assert_eq!(found, Some(613));
        assert!(calls <= 12, "{calls} calls");
        assert_eq!(first_failing(&items, |_| false), None);
    }

    #[test]
    fn a_diff_names_each_changed_attribute() {
        let before = to_route(
            0,
            &parse_routes(r#"[{"prefix": "10.0.0.0/8", "as_path": [65000], "local_pref": 100}]"#)
                .unwrap()[0],
        )
        .unwrap();
        let mut after = Attributes::clone(&before);
        after.local_pref = Some(200);
        after.communities.push(65000 << 16 | 100);
        assert_eq!(
            diff(&before, &after),
            vec![
                "local_pref: 100 -> 200".to_string(),
                "communities: [] -> [\"65000:100\"]".to_string()
            ]
        );
    }
}
