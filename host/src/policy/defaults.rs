//! The native built-in defaults of the three plugin slots: pure functions over
//! the host's plugin types, used when no plugin is installed, when a plugin faults,
//! and as the reference the Wasm default plugins (`plugins/`) are compared
//! against, answer for answer. The rules are a contract shared with those
//! guests, so they are stated exactly on the functions below and must not change on one side
//! only. This module owns only these decisions: it keeps no state, reads no
//! clock, and must not touch the FIB, the slots or the plugin runtime.

use std::cmp::Ordering;

use ipnet::Ipv4Net;

use super::batch::{PrefixCandidates, Route, Verdict};
use super::bindings::{CandidateSource, ConnectionHealth, Routing, TunnelHealth};

/// The weight of an active tunnel in the defaults' answers.
pub const ACTIVE: u32 = 100;

/// The failover default over every connection, in order.
pub fn decide(connections: &[ConnectionHealth]) -> Vec<Vec<u32>> {
    connections.iter().map(decide_one).collect()
}

/// The failover default for one connection: a weight per tunnel, in order.
///
/// - Dynamic routing: weight 100 for every tunnel that is up; if none is up,
///   100 for every tunnel.
/// - Static routing (active/standby): 100 for the tunnel [`active_standby`]
///   chooses, 0 for the others.
pub fn decide_one(c: &ConnectionHealth) -> Vec<u32> {
    match c.routing {
        Routing::DynamicRouting => all_active(&c.tunnels),
        Routing::StaticRouting => match active_standby(c) {
            Some(chosen) => (0..c.tunnels.len())
                .map(|i| if i == chosen { ACTIVE } else { 0 })
                .collect(),
            None => Vec::new(),
        },
    }
}

fn all_active(tunnels: &[TunnelHealth]) -> Vec<u32> {
    let any_up = tunnels.iter().any(|t| t.up);
    tunnels
        .iter()
        .map(|t| if t.up || !any_up { ACTIVE } else { 0 })
        .collect()
}

/// A tunnel's rank key: lower is more preferred.
fn rank(i: usize, t: &TunnelHealth) -> (u8, u32, u8, usize) {
    match t.tunnel.parse::<Ipv4Net>() {
        Ok(net) => (0, u32::from(net.network()), net.prefix_len(), i),
        Err(_) => (1, 0, 0, i),
    }
}

/// The best-ranked index among `candidates`.
fn best_of(tunnels: &[TunnelHealth], candidates: impl Iterator<Item = usize>) -> Option<usize> {
    candidates.min_by_key(|&i| rank(i, &tunnels[i]))
}

/// The index of the tunnel to make active, `None` for a connection without
/// tunnels.
///
/// Tunnels rank by their inside CIDR, the `tunnel` string parsed as an
/// [`Ipv4Net`] (std address syntax, `/0`..`/32`): network address (host bits
/// masked) numerically, then prefix length, then index; an unparsable name
/// ranks after every parsable one, by index. The lower the rank, the more
/// preferred. `current` is the first tunnel (by index) with weight > 0.
/// - If current is up: the best-ranked tunnel ranked better than current
///   that is up with `up_for_ms >= failback_hold_ms`, else current.
/// - Otherwise (no current, or current down), with `best` the best-ranked
///   tunnel and `best_up` the best-ranked tunnel up: no tunnel up → current
///   if any, else best; `best_up == best` → best; (no current, current is
///   best, or best is coming up) and the largest `up_for_ms` of the tunnels
///   up is below `detection_ms` → best (settling: wait for the preferred
///   tunnel; at start the preferred tunnel holds the weight before it is
///   up); else best_up.
pub fn active_standby(c: &ConnectionHealth) -> Option<usize> {
    let t = &c.tunnels;
    let current = t.iter().position(|x| x.weight > 0);
    if let Some(cur) = current.filter(|&cur| t[cur].up) {
        let cur_rank = rank(cur, &t[cur]);
        let failback = best_of(
            t,
            (0..t.len()).filter(|&i| {
                rank(i, &t[i]) < cur_rank
                    && t[i].up
                    && t[i].up_for_ms >= u64::from(c.failback_hold_ms)
            }),
        );
        return Some(failback.unwrap_or(cur));
    }
    let best = best_of(t, 0..t.len())?;
    let Some(best_up) = best_of(t, (0..t.len()).filter(|&i| t[i].up)) else {
        return Some(current.unwrap_or(best));
    };
    if best_up == best {
        return Some(best);
    }
    let longest_up = t
        .iter()
        .filter(|x| x.up)
        .map(|x| x.up_for_ms)
        .max()
        .unwrap_or(0);
    let settling = current.is_none() || current == Some(best) || t[best].coming_up;
    if settling && longest_up < u64::from(c.detection_ms) {
        return Some(best);
    }
    Some(best_up)
}

/// The selection default over every prefix, in order.
pub fn select(prefixes: &[PrefixCandidates]) -> Vec<Vec<u32>> {
    prefixes.iter().map(select_one).collect()
}

/// The selection default for one prefix: the indexes to install, ascending.
///
/// If any candidate is a static route, only the static candidates compete.
/// Of those, keep the highest local-pref (missing = 100), then the shortest
/// AS path, then the lowest MED (missing = 0), and install all that remain
/// (ECMP). No candidates, no indexes.
pub fn select_one(p: &PrefixCandidates) -> Vec<u32> {
    let any_static = p
        .candidates
        .iter()
        .any(|c| c.source == CandidateSource::StaticRoute);
    let mut best: Vec<usize> = Vec::new();
    for (i, c) in p.candidates.iter().enumerate() {
        if any_static && c.source != CandidateSource::StaticRoute {
            continue;
        }
        match best
            .first()
            .map(|&b| compare(&c.route, &p.candidates[b].route))
        {
            None | Some(Ordering::Equal) => best.push(i),
            Some(Ordering::Greater) => best = vec![i],
            Some(Ordering::Less) => {}
        }
    }
    best.into_iter()
        .filter_map(|i| u32::try_from(i).ok())
        .collect()
}

/// `Greater` if `a` is the better route of the two.
fn compare(a: &Route, b: &Route) -> Ordering {
    let pref = |r: &Route| r.local_pref.unwrap_or(100);
    let med = |r: &Route| r.med.unwrap_or(0);
    pref(a)
        .cmp(&pref(b))
        .then(b.as_path.len().cmp(&a.as_path.len()))
        .then(med(b).cmp(&med(a)))
}

/// The import filter default: accept every route.
pub fn import_filter(routes: &[Route]) -> Vec<Verdict> {
    vec![Verdict::Accept; routes.len()]
}

/// The export filter default: accept every route.
pub fn export_filter(routes: &[Route]) -> Vec<Verdict> {
    vec![Verdict::Accept; routes.len()]
}

#[cfg(test)]
mod tests {
    use super::super::batch::Candidate;
    use super::super::bindings::{Attributes, IpAddress, Origin, Prefix};
    use super::*;
    use std::sync::Arc;

    fn tun(cidr: &str, up: bool, up_for_ms: u64, weight: u32) -> TunnelHealth {
        TunnelHealth {
            tunnel: cidr.to_string(),
            endpoint: "198.51.100.1:51820".to_string(),
            up,
            coming_up: false,
            up_for_ms,
            weight,
        }
    }

    fn conn(routing: Routing, tunnels: Vec<TunnelHealth>) -> ConnectionHealth {
        ConnectionHealth {
            name: "c".to_string(),
            routing,
            detection_ms: 600,
            failback_hold_ms: 10_000,
            tunnels,
        }
    }

    fn st(tunnels: Vec<TunnelHealth>) -> Vec<u32> {
        decide_one(&conn(Routing::StaticRouting, tunnels))
    }

    const A: &str = "169.254.10.0/30";
    const B: &str = "169.254.11.0/30";

    #[test]
    fn dynamic_all_up_tunnels_share_or_all_when_none_up() {
        let d = |t| decide_one(&conn(Routing::DynamicRouting, t));
        assert_eq!(d(vec![tun(A, true, 1, 0), tun(B, false, 0, 100)]), [100, 0]);
        assert_eq!(d(vec![tun(A, true, 1, 0), tun(B, true, 5, 0)]), [100, 100]);
        assert_eq!(
            d(vec![tun(A, false, 0, 0), tun(B, false, 0, 0)]),
            [100, 100]
        );
        assert!(d(vec![]).is_empty());
    }

    #[test]
    fn static_ranks_by_cidr_not_by_index() {
        // B listed first, A preferred: no current, both up long enough.
        assert_eq!(
            st(vec![tun(B, true, 5000, 0), tun(A, true, 5000, 0)]),
            [0, 100]
        );
        // Numeric, not textual: 169.254.9.0 < 169.254.10.0.
        let c = "169.254.9.0/30";
        assert_eq!(
            st(vec![tun(A, true, 5000, 0), tun(c, true, 5000, 0)]),
            [0, 100]
        );
        // Same network: shorter prefix first; host bits are masked.
        let wide = "169.254.10.1/29";
        assert_eq!(
            st(vec![tun(A, true, 5000, 0), tun(wide, true, 5000, 0)]),
            [0, 100]
        );
        // Equal keys: by index.
        assert_eq!(
            st(vec![tun(A, true, 5000, 0), tun(A, true, 5000, 0)]),
            [100, 0]
        );
        // Unparsable names rank last, by index.
        assert_eq!(
            st(vec![tun("x", true, 5000, 0), tun(B, true, 5000, 0)]),
            [0, 100]
        );
        assert_eq!(
            st(vec![tun("y", true, 5000, 0), tun("x", true, 5000, 0)]),
            [100, 0]
        );
    }

    #[test]
    fn static_keeps_current_until_a_better_tunnel_held_up() {
        // Current B up, A up for less than the hold: stay on B.
        assert_eq!(
            st(vec![tun(A, true, 9_999, 0), tun(B, true, 50, 100)]),
            [0, 100]
        );
        // A up for the hold: fail back.
        assert_eq!(
            st(vec![tun(A, true, 10_000, 0), tun(B, true, 50, 100)]),
            [100, 0]
        );
        // A down: stay on B.
        assert_eq!(
            st(vec![tun(A, false, 0, 0), tun(B, true, 50, 100)]),
            [0, 100]
        );
        // Current is the first weighted tunnel by index.
        assert_eq!(
            st(vec![tun(A, true, 10, 100), tun(B, true, 10, 100)]),
            [100, 0]
        );
        // Of several better tunnels held up, the best-ranked.
        let c = "169.254.12.0/30";
        let t = vec![
            tun(B, true, 20_000, 0),
            tun(c, true, 1, 100),
            tun(A, true, 20_000, 0),
        ];
        assert_eq!(st(t), [0, 0, 100]);
    }

    #[test]
    fn static_fails_over_when_current_is_down() {
        // Current A down, B up for longer than detection: B.
        assert_eq!(
            st(vec![tun(A, false, 0, 100), tun(B, true, 700, 0)]),
            [0, 100]
        );
        // Current A down, B up but A is coming up and B only just up: wait.
        let mut a = tun(A, false, 0, 100);
        a.coming_up = true;
        assert_eq!(st(vec![a.clone(), tun(B, true, 100, 0)]), [100, 0]);
        // ... but not once B has been up for the detection time.
        assert_eq!(st(vec![a, tun(B, true, 600, 0)]), [0, 100]);
        // Current A down and not coming up, B only just up: wait for A
        // too (at start A holds the weight before it is up), at most the
        // detection time (above).
        assert_eq!(
            st(vec![tun(A, false, 0, 100), tun(B, true, 1, 0)]),
            [100, 0]
        );
    }

    #[test]
    fn static_without_current_settles_on_the_preferred_tunnel() {
        // No current, only B up, briefly: wait for A.
        assert_eq!(
            st(vec![tun(A, false, 0, 0), tun(B, true, 599, 0)]),
            [100, 0]
        );
        // No current, B up for the detection time: take B.
        assert_eq!(
            st(vec![tun(A, false, 0, 0), tun(B, true, 600, 0)]),
            [0, 100]
        );
        // No current, best up: best.
        assert_eq!(st(vec![tun(B, true, 1, 0), tun(A, true, 1, 0)]), [0, 100]);
    }

    #[test]
    fn ends_that_see_tunnels_come_up_in_opposite_order_agree() {
        // Seen in a lab: at start one end saw B up 20 ms before A, the other
        // end A before B. Both must start on A (the preferred tunnel).
        let mut near_a = tun(A, false, 0, 0);
        near_a.coming_up = true;
        let near = st(vec![near_a, tun(B, true, 20, 0)]);
        let far = st(vec![tun(A, true, 20, 0), tun(B, false, 0, 0)]);
        assert_eq!((near, far), (vec![100, 0], vec![100, 0]));
    }

    #[test]
    fn at_start_the_preferred_tunnel_keeps_the_weight_until_the_other_has_been_up_a_while() {
        // Seen in the IPv6-underlay lab: A holds the start-up weight but is
        // not up yet, B comes up first on one end only; that end must wait
        // for A (as the other end, which saw A first), not take B at once.
        let near = st(vec![tun(A, false, 0, 100), tun(B, true, 20, 0)]);
        let far = st(vec![tun(A, true, 20, 100), tun(B, false, 0, 0)]);
        assert_eq!((near, far), (vec![100, 0], vec![100, 0]));
        // A never comes: B after the detection time.
        assert_eq!(
            st(vec![tun(A, false, 0, 100), tun(B, true, 600, 0)]),
            [0, 100]
        );
    }

    #[test]
    fn after_an_outage_traffic_never_waits_on_a_tunnel_that_is_down() {
        // Seen in a lab: A's link was cut, B was declared down for a moment
        // under load and came back. Traffic (still weighted on B, the last
        // decision) must stay on B, not wait for A, which is down.
        assert_eq!(
            st(vec![tun(A, false, 0, 0), tun(B, true, 5, 100)]),
            [0, 100]
        );
        // A tunnel in its liveness handshake is waited for, but only for the
        // detection time (600 ms here).
        let mut coming = tun(A, false, 0, 0);
        coming.coming_up = true;
        assert_eq!(st(vec![coming.clone(), tun(B, true, 5, 0)]), [100, 0]);
        assert_eq!(st(vec![coming, tun(B, true, 600, 0)]), [0, 100]);
    }

    #[test]
    fn static_with_no_tunnel_up_keeps_current_or_takes_best() {
        assert_eq!(
            st(vec![tun(A, false, 0, 0), tun(B, false, 0, 100)]),
            [0, 100]
        );
        assert_eq!(st(vec![tun(B, false, 0, 0), tun(A, false, 0, 0)]), [0, 100]);
        assert!(st(vec![]).is_empty());
        assert_eq!(st(vec![tun(A, false, 0, 0)]), [100]);
    }

    fn route(as_path: Vec<u32>, med: Option<u32>, local_pref: Option<u32>) -> Route {
        let prefix = Prefix {
            address: IpAddress::V4(0x0a00_0000),
            length: 8,
        };
        Route::new(
            prefix,
            Arc::new(Attributes {
                next_hop: None,
                as_path,
                origin: Origin::Igp,
                med,
                local_pref,
                communities: Vec::new(),
                large_communities: Vec::new(),
            }),
        )
    }

    fn cand(source: CandidateSource, route: Route) -> Candidate {
        Candidate {
            source,
            connection: "c".into(),
            tunnel: None,
            route,
        }
    }

    fn sel(candidates: Vec<Candidate>) -> Vec<u32> {
        select_one(&PrefixCandidates {
            prefix: Prefix {
                address: IpAddress::V4(0x0a00_0000),
                length: 8,
            },
            candidates,
        })
    }

    use CandidateSource::{Bgp, StaticRoute};

    #[test]
    fn selection_prefers_static_over_bgp() {
        let c = vec![
            cand(Bgp, route(vec![], None, Some(500))),
            cand(StaticRoute, route(vec![], None, None)),
            cand(StaticRoute, route(vec![], None, None)),
        ];
        assert_eq!(sel(c), [1, 2]);
    }

    #[test]
    fn selection_orders_by_local_pref_then_path_then_med() {
        // Local pref first (missing = 100), even over a shorter path.
        let c = vec![
            cand(Bgp, route(vec![1, 2], None, Some(101))),
            cand(Bgp, route(vec![1], None, None)),
        ];
        assert_eq!(sel(c), [0]);
        let c = vec![
            cand(Bgp, route(vec![1], None, Some(100))),
            cand(Bgp, route(vec![1], None, None)),
        ];
        assert_eq!(sel(c), [0, 1]);
        // Then the shorter path, even with a worse MED.
        let c = vec![
            cand(Bgp, route(vec![1, 2], Some(0), None)),
            cand(Bgp, route(vec![3], Some(50), None)),
        ];
        assert_eq!(sel(c), [1]);
        // Then the lowest MED (missing = 0).
        let c = vec![
            cand(Bgp, route(vec![1], Some(5), None)),
            cand(Bgp, route(vec![2], None, None)),
            cand(Bgp, route(vec![3], Some(0), None)),
        ];
        assert_eq!(sel(c), [1, 2]);
    }

    #[test]
    fn selection_of_nothing_is_nothing() {
        assert!(sel(vec![]).is_empty());
        assert!(select(&[]).is_empty());
    }

    #[test]
    fn filters_accept_everything() {
        let r = vec![route(vec![1], None, None), route(vec![], Some(3), Some(7))];
        assert_eq!(import_filter(&r), [Verdict::Accept, Verdict::Accept]);
        assert_eq!(export_filter(&r), [Verdict::Accept, Verdict::Accept]);
        assert!(import_filter(&[]).is_empty());
    }
}
