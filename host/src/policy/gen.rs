//! Seeded, deterministic generators of plugin inputs for differential tests
//! and benchmarks: the same seed gives the same inputs on every machine (a
//! xorshift64* generator, no `rand`; the BGP codec's and FSM's property
//! tests and the fuzz-corpus test draw their bytes from it too). The values
//! cluster around the edges the default rules care about (hold and
//! detection times, equal ranks, missing attributes, unparsable tunnel
//! names). This module owns only input generation; it must not call
//! plugins or the defaults itself.

use std::sync::Arc;

use super::batch::{Candidate, PrefixCandidates, Route};
use super::bindings::{
    Attributes, CandidateSource, ConnectionHealth, IpAddress, LargeCommunity, Origin, Peer, Prefix,
    Routing, TunnelHealth,
};

/// A xorshift64* pseudo-random generator: tiny, fast, not for secrets.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// An index in `0..n` (0 if `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        // A u64 below n fits in usize.
        self.below(n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (which must not be empty; the first if it is).
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len() as u64) as usize;
        items[i.min(items.len().saturating_sub(1))].clone()
    }

    fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

/// Tunnel names: real inside CIDRs, near-ties, and names that do not parse.
const TUNNELS: &[&str] = &[
    "169.254.10.0/30",
    "169.254.11.0/30",
    "169.254.9.4/30",
    "169.254.10.0/29",
    "169.254.10.1/30",
    "169.254.100.0/30",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "255.255.255.252/30",
    "tunnel-a",
    "",
    "169.254.300.0/30",
    "169.254.10.0",
    "fd00::/64",
];

/// `n` connections' health, around the default rules' edges.
pub fn connections(rng: &mut XorShift, n: usize) -> Vec<ConnectionHealth> {
    (0..n).map(|i| connection(rng, i)).collect()
}

fn connection(rng: &mut XorShift, i: usize) -> ConnectionHealth {
    let detection_ms = rng.pick(&[600, 300, 0, 1000, 1]);
    let failback_hold_ms = rng.pick(&[10_000, 0, 600, 60_000]);
    let count = rng.pick(&[2, 2, 2, 2, 1, 3, 4, 0]);
    let tunnels = (0..count)
        .map(|_| tunnel(rng, detection_ms, failback_hold_ms))
        .collect::<Vec<_>>();
    let mut c = ConnectionHealth {
        name: format!("vpn-{i}"),
        routing: if rng.chance(50) {
            Routing::StaticRouting
        } else {
            Routing::DynamicRouting
        },
        detection_ms,
        failback_hold_ms,
        tunnels,
    };
    // Now and then a connection whose tunnels are all standby.
    if rng.chance(15) {
        c.tunnels.iter_mut().for_each(|t| t.weight = 0);
    }
    c
}

fn tunnel(rng: &mut XorShift, detection_ms: u32, hold_ms: u32) -> TunnelHealth {
    let up = rng.chance(60);
    let (d, h) = (u64::from(detection_ms), u64::from(hold_ms));
    let any = rng.below(100_000);
    let up_for_ms = if up {
        rng.pick(&[
            0,
            1,
            d.saturating_sub(1),
            d,
            d + 1,
            h.saturating_sub(1),
            h,
            h + 1,
            any,
        ])
    } else {
        0
    };
    TunnelHealth {
        tunnel: rng.pick(TUNNELS).to_string(),
        endpoint: format!("192.0.2.{}:4500", rng.below(4)),
        up,
        coming_up: !up && rng.chance(40),
        up_for_ms,
        weight: rng.pick(&[0, 0, 100, 100, 1, 1000, 50]),
    }
}

/// `n` prefixes with their candidates, around the selection rules' edges.
pub fn prefix_candidates(rng: &mut XorShift, n: usize) -> Vec<PrefixCandidates> {
    (0..n)
        .map(|_| {
            let prefix = prefix(rng);
            let count = rng.below(7) as usize;
            let candidates = (0..count)
                .map(|_| {
                    let source = if rng.chance(20) {
                        CandidateSource::StaticRoute
                    } else {
                        CandidateSource::Bgp
                    };
                    let mut attributes = attributes(rng);
                    if source == CandidateSource::StaticRoute {
                        attributes.as_path.clear();
                        attributes.med = None;
                        attributes.local_pref = None;
                    }
                    let route = Route::new(prefix, Arc::new(attributes));
                    Candidate {
                        source,
                        connection: format!("vpn-{}", rng.below(3)).into(),
                        tunnel: (source == CandidateSource::Bgp).then(|| rng.pick(TUNNELS).into()),
                        route,
                    }
                })
                .collect();
            PrefixCandidates { prefix, candidates }
        })
        .collect()
}

/// A BGP peer as the filters see it.
pub fn peer(rng: &mut XorShift) -> Peer {
    Peer {
        connection: format!("vpn-{}", rng.below(3)),
        tunnel: rng.pick(TUNNELS).to_string(),
        asn: rng.pick(&[64512, 65000, 4_200_000_000, 7224]),
        address: IpAddress::V4(0xa9fe_0a01 + rng.below(4) as u32),
    }
}

/// `n` BGP routes, each with its own random attributes (the worst case
/// for a batch: no set is shared).
pub fn routes(rng: &mut XorShift, n: usize) -> Vec<Route> {
    (0..n)
        .map(|_| {
            let p = prefix(rng);
            Route::new(p, Arc::new(attributes(rng)))
        })
        .collect()
}

/// `n` BGP routes over `sets` distinct random attribute sets, in runs of
/// routes that share one (as the prefixes of an UPDATE do).
pub fn routes_sharing(rng: &mut XorShift, n: usize, sets: usize) -> Vec<Route> {
    let sets: Vec<Arc<Attributes>> = (0..sets.max(1))
        .map(|_| Arc::new(attributes(rng)))
        .collect();
    let run = n.div_ceil(sets.len()).max(1);
    (0..n)
        .map(|i| {
            let p = prefix(rng);
            Route::new(p, sets[(i / run) % sets.len()].clone())
        })
        .collect()
}

fn prefix(rng: &mut XorShift) -> Prefix {
    if rng.chance(80) {
        let length = rng.below(33) as u8;
        let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
        Prefix {
            address: IpAddress::V4(rng.u32() & mask),
            length,
        }
    } else {
        let length = rng.below(129) as u8;
        let bits = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
        let a = bits & mask;
        Prefix {
            address: IpAddress::V6(((a >> 64) as u64, a as u64)),
            length,
        }
    }
}

/// Random BGP path attributes, around the rules' edges.
pub fn attributes(rng: &mut XorShift) -> Attributes {
    let path_len = rng.below(5) as usize;
    Attributes {
        next_hop: rng
            .chance(80)
            .then(|| IpAddress::V4(0xa9fe_0a01 + rng.below(4) as u32)),
        as_path: (0..path_len)
            .map(|_| rng.pick(&[64512, 65000, 7224, 4_200_000_000]))
            .collect(),
        origin: rng.pick(&[Origin::Igp, Origin::Egp, Origin::Incomplete]),
        med: rng.pick(&[None, Some(0), Some(5), Some(10), Some(u32::MAX)]),
        local_pref: rng.pick(&[None, Some(100), Some(50), Some(200), Some(0)]),
        communities: (0..rng.below(3)).map(|_| rng.u32()).collect(),
        large_communities: (0..rng.below(2))
            .map(|_| LargeCommunity {
                global_admin: rng.u32(),
                local_data1: rng.u32(),
                local_data2: rng.u32(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_inputs() {
        let a = connections(&mut XorShift::new(7), 20);
        let b = connections(&mut XorShift::new(7), 20);
        assert_eq!(a, b);
        let c = connections(&mut XorShift::new(8), 20);
        assert_ne!(a, c);
        let p = prefix_candidates(&mut XorShift::new(1), 50);
        assert_eq!(p, prefix_candidates(&mut XorShift::new(1), 50));
        assert_eq!(routes(&mut XorShift::new(3), 9).len(), 9);
    }

    #[test]
    fn prefixes_have_no_host_bits() {
        let mut rng = XorShift::new(11);
        for r in routes(&mut rng, 500) {
            match r.prefix.address {
                IpAddress::V4(a) => {
                    let host = u32::MAX
                        .checked_shr(u32::from(r.prefix.length))
                        .unwrap_or(0);
                    assert_eq!(a & host, 0);
                }
                IpAddress::V6((h, l)) => {
                    let a = (u128::from(h) << 64) | u128::from(l);
                    let host = u128::MAX
                        .checked_shr(u32::from(r.prefix.length))
                        .unwrap_or(0);
                    assert_eq!(a & host, 0);
                }
            }
        }
    }
}
