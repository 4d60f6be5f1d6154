//! The default failover rule, per connection.
//!
//! - **Dynamic routing**: weight 100 on every tunnel that is up; if none is
//!   up, 100 on every tunnel.
//! - **Static routing** (active/standby, one tunnel at 100, the others at 0):
//!   see [`active_standby`]. Both ends must pick the same tunnel without
//!   talking to each other, so the rule ranks tunnels by their inside CIDR,
//!   the same /30 on both ends, and reads only what both ends see alike.
//!
//! A connection without tunnels gets an empty list.

use std::cmp::Ordering;

use crate::failover::{ConnectionHealth, Routing, TunnelHealth};
use crate::net::parse_ipv4_cidr;

/// The weight of an active tunnel.
pub const ACTIVE: u32 = 100;

/// The default rule over a batch: [`decide_connection`] per connection.
pub fn decide(connections: &[ConnectionHealth]) -> Vec<Vec<u32>> {
    connections.iter().map(decide_connection).collect()
}

/// The weights of one connection's tunnels.
pub fn decide_connection(c: &ConnectionHealth) -> Vec<u32> {
    match c.routing {
        Routing::DynamicRouting => all_active(&c.tunnels),
        Routing::StaticRouting => match active_standby(c) {
            Some(i) => only(c.tunnels.len(), i),
            None => Vec::new(),
        },
    }
}

/// [`ACTIVE`] on every tunnel that is up, 0 on the others; [`ACTIVE`] on
/// all if none is up.
pub fn all_active(tunnels: &[TunnelHealth]) -> Vec<u32> {
    let any_up = tunnels.iter().any(|t| t.up);
    tunnels
        .iter()
        .map(|t| if t.up || !any_up { ACTIVE } else { 0 })
        .collect()
}

/// `n` weights: [`ACTIVE`] at `active`, 0 elsewhere.
pub fn only(n: usize, active: usize) -> Vec<u32> {
    (0..n)
        .map(|i| if i == active { ACTIVE } else { 0 })
        .collect()
}

/// A tunnel's rank: lower is preferred. Tunnels whose name parses as an
/// IPv4 CIDR (ipnet syntax, host bits ignored) come first, by network
/// address, then prefix length, then index; the others after them, by
/// index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    unparsable: bool,
    network: u32,
    length: u8,
    index: usize,
}

impl Rank {
    /// The rank of `tunnel`, at `index` in its connection.
    pub fn of(index: usize, tunnel: &TunnelHealth) -> Rank {
        match parse_ipv4_cidr(&tunnel.tunnel) {
            Some((network, length)) => Rank {
                unparsable: false,
                network,
                length,
                index,
            },
            None => Rank {
                unparsable: true,
                network: 0,
                length: 0,
                index,
            },
        }
    }
}

/// The ranks of `tunnels`, by index.
pub fn ranks(tunnels: &[TunnelHealth]) -> Vec<Rank> {
    tunnels
        .iter()
        .enumerate()
        .map(|(i, t)| Rank::of(i, t))
        .collect()
}

/// The best-ranked tunnel for which `pred` holds.
pub fn most_preferred(
    tunnels: &[TunnelHealth],
    ranks: &[Rank],
    pred: impl Fn(usize, &TunnelHealth) -> bool,
) -> Option<usize> {
    tunnels
        .iter()
        .enumerate()
        .filter(|(i, t)| pred(*i, t))
        .min_by(|(i, _), (j, _)| ranks[*i].cmp(&ranks[*j]))
        .map(|(i, _)| i)
}

/// The index of the active tunnel of a static connection (`None` only if it
/// has no tunnels).
///
/// `current` is the first tunnel (by index) with a weight above 0, if any.
/// 1. If `current` is up: fail back to the best-ranked tunnel ranked better
///    than `current` that is up and has been up for at least
///    `failback_hold_ms`, if any; else keep `current`.
/// 2. Otherwise, with `best` the best-ranked tunnel and `best_up` the
///    best-ranked tunnel that is up:
///    - no tunnel up: keep `current` if any, else `best`;
///    - `best_up` is `best`: `best`;
///    - settling: if there is no `current`, `current` is `best` (at start the
///      preferred tunnel holds the weight before it is up) or `best` is
///      coming up, and no tunnel has been up for `detection_ms` yet, wait
///      for `best`;
///    - else `best_up`.
pub fn active_standby(c: &ConnectionHealth) -> Option<usize> {
    let tunnels = &c.tunnels;
    let ranks = ranks(tunnels);
    let best = most_preferred(tunnels, &ranks, |_, _| true)?;
    let current = tunnels.iter().position(|t| t.weight > 0);
    if let Some(cur) = current.filter(|&i| tunnels[i].up) {
        let hold = u64::from(c.failback_hold_ms);
        let better = most_preferred(tunnels, &ranks, |i, t| {
            ranks[i].cmp(&ranks[cur]) == Ordering::Less && t.up && t.up_for_ms >= hold
        });
        return Some(better.unwrap_or(cur));
    }
    let Some(best_up) = most_preferred(tunnels, &ranks, |_, t| t.up) else {
        return Some(current.unwrap_or(best));
    };
    if best_up == best {
        return Some(best);
    }
    let longest_up = tunnels
        .iter()
        .filter(|t| t.up)
        .map(|t| t.up_for_ms)
        .max()
        .unwrap_or(0);
    let settling = current.is_none() || current == Some(best) || tunnels[best].coming_up;
    if settling && longest_up < u64::from(c.detection_ms) {
        return Some(best);
    }
    Some(best_up)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DETECT: u32 = 600;
    const HOLD: u32 = 3000;

    /// `(cidr, up, coming_up, up_for_ms, weight)`
    fn conn(routing: Routing, ts: &[(&str, bool, bool, u64, u32)]) -> ConnectionHealth {
        ConnectionHealth {
            name: "vpn-1".into(),
            routing,
            detection_ms: DETECT,
            failback_hold_ms: HOLD,
            tunnels: ts
                .iter()
                .map(|&(cidr, up, coming_up, up_for_ms, weight)| TunnelHealth {
                    tunnel: cidr.into(),
                    endpoint: "ep".into(),
                    up,
                    coming_up,
                    up_for_ms,
                    weight,
                })
                .collect(),
        }
    }

    fn st(ts: &[(&str, bool, bool, u64, u32)]) -> Vec<u32> {
        decide_connection(&conn(Routing::StaticRouting, ts))
    }

    const A: &str = "169.254.10.0/30";
    const B: &str = "169.254.11.0/30";

    #[test]
    fn empty() {
        assert!(st(&[]).is_empty());
        assert!(decide_connection(&conn(Routing::DynamicRouting, &[])).is_empty());
        assert!(decide(&[]).is_empty());
    }

    #[test]
    fn dynamic_all_up_or_all() {
        let d = |ts| decide_connection(&conn(Routing::DynamicRouting, ts));
        assert_eq!(
            d(&[(A, true, false, 1, 0), (B, false, true, 0, 100)]),
            [100, 0]
        );
        assert_eq!(
            d(&[(A, true, false, 1, 0), (B, true, false, 0, 0)]),
            [100, 100]
        );
        assert_eq!(
            d(&[(A, false, false, 0, 0), (B, false, false, 0, 0)]),
            [100, 100]
        );
    }

    #[test]
    fn ranking_by_cidr_not_index() {
        // B listed first, A (lower CIDR) preferred.
        let ts = [(B, false, false, 0, 0), (A, false, false, 0, 0)];
        assert_eq!(st(&ts), [0, 100]);
        // Numeric, not textual: 169.254.9.0 < 169.254.10.0.
        assert_eq!(
            st(&[
                (A, false, false, 0, 0),
                ("169.254.9.0/30", false, false, 0, 0)
            ]),
            [0, 100]
        );
        // Same network: the shorter prefix first; equal CIDRs: by index.
        assert_eq!(
            st(&[
                ("10.0.0.0/30", false, false, 0, 0),
                ("10.0.0.0/29", false, false, 0, 0)
            ]),
            [0, 100]
        );
        assert_eq!(
            st(&[(A, false, false, 0, 0), (A, false, false, 0, 0)]),
            [100, 0]
        );
        // Unparsable names rank after all parsable ones, then by index.
        assert_eq!(
            st(&[
                ("x", false, false, 0, 0),
                ("255.0.0.0/8", false, false, 0, 0)
            ]),
            [0, 100]
        );
        assert_eq!(
            st(&[("y", false, false, 0, 0), ("x", false, false, 0, 0)]),
            [100, 0]
        );
        // Host bits are ignored (network address compared).
        assert_eq!(
            st(&[
                ("169.254.10.3/30", false, false, 0, 0),
                ("169.254.10.0/31", false, false, 0, 0)
            ]),
            [100, 0]
        );
    }

    #[test]
    fn current_up_stays_until_better_held() {
        // Current B up; A up but not for the hold: stay on B.
        assert_eq!(
            st(&[
                (A, true, false, u64::from(HOLD) - 1, 0),
                (B, true, false, 9999, 100)
            ]),
            [0, 100]
        );
        // A up for the hold: fail back.
        assert_eq!(
            st(&[
                (A, true, false, u64::from(HOLD), 0),
                (B, true, false, 9999, 100)
            ]),
            [100, 0]
        );
        // Current A (best) up: stays.
        assert_eq!(
            st(&[(A, true, false, 1, 100), (B, true, false, 9999, 0)]),
            [100, 0]
        );
        // Several better ones held: the best-ranked of them.
        let ts = [
            ("10.0.0.8/30", true, false, 9999, 100),
            ("10.0.0.4/30", true, false, 9999, 0),
            ("10.0.0.0/30", true, false, 9999, 0),
        ];
        assert_eq!(st(&ts), [0, 0, 100]);
    }

    #[test]
    fn current_is_first_weighted_tunnel() {
        // Both weighted (e.g. after a dynamic->static change): index 0 is current.
        assert_eq!(
            st(&[(B, true, false, 5, 100), (A, true, false, 5, 100)]),
            [100, 0]
        );
    }

    #[test]
    fn current_down_moves_to_best_up() {
        assert_eq!(
            st(&[(A, false, false, 0, 100), (B, true, false, 5_000, 0)]),
            [0, 100]
        );
    }

    #[test]
    fn none_up_keeps_current_or_best() {
        assert_eq!(
            st(&[(A, false, true, 0, 0), (B, false, false, 0, 100)]),
            [0, 100]
        );
        assert_eq!(
            st(&[(B, false, false, 0, 0), (A, false, false, 0, 0)]),
            [0, 100]
        );
    }

    #[test]
    fn settling_waits_for_best_at_most_detection() {
        let d = u64::from(DETECT);
        // Start (no current): B up briefly, A not up: wait for A.
        assert_eq!(
            st(&[(A, false, false, 0, 0), (B, true, false, d - 1, 0)]),
            [100, 0]
        );
        // Waited long enough: take B.
        assert_eq!(
            st(&[(A, false, false, 0, 0), (B, true, false, d, 0)]),
            [0, 100]
        );
        // A current (at start it holds the weight before it is up) but
        // down, B just up: wait for A as well, so both ends start on A...
        assert_eq!(
            st(&[(A, false, false, 0, 100), (B, true, false, 0, 0)]),
            [100, 0]
        );
        // ...for the detection time at most.
        assert_eq!(
            st(&[(A, false, false, 0, 100), (B, true, false, d, 0)]),
            [0, 100]
        );
        // A current, down, coming up, B just up: wait for A.
        assert_eq!(
            st(&[(A, false, true, 0, 100), (B, true, false, d - 1, 0)]),
            [100, 0]
        );
        // Best up: take it, no waiting.
        assert_eq!(
            st(&[(A, true, false, 0, 0), (B, true, false, 0, 0)]),
            [100, 0]
        );
    }
}
