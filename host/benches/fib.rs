//! Benchmark of the data path's route lookup: the FIB holding a full table
//! (by default the routes benchmark's, 1,000,000 IPv4 /24s and 200,000 IPv6
//! /48s, plus a few prefixes of other lengths so that a lookup probes
//! several), and longest-prefix-match lookups of addresses spread over the
//! table, as a data-path thread makes one per packet it routes. The
//! addresses come in a scattered order, so each lookup's entries are cold,
//! as for traffic to many destinations. Prints ns per lookup for each
//! family, the median of RUNS runs, and a checksum of the answers.
//!
//! Run: `cargo bench -p sitelink --bench fib [-- V4 V6 RUNS]` (defaults
//! 1,000,000, 200,000, 5). This file owns only measurement; it asserts
//! nothing but that every looked-up address has a route.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sitelink::dataplane::fib::{Fib, NextHop};
use sitelink::topology::{ConnectionId, TunnelId};

const LOOKUPS: usize = 1_000_000;

/// The same scattered order for every run: a fixed xorshift.
fn scatter(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

fn v4_net(i: u64) -> Ipv4Addr {
    Ipv4Addr::from(0x1400_0000u32 + ((i as u32) << 8))
}

fn v6_net(i: u64) -> Ipv6Addr {
    Ipv6Addr::from((0xfd10u128 << 112) | (u128::from(i) << 80))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let v4 = args.first().copied().unwrap_or(1_000_000);
    let v6 = args.get(1).copied().unwrap_or(200_000);
    let runs = args.get(2).copied().unwrap_or(5) as usize;

    let mut fib = Fib::default();
    let hops: Vec<NextHop> = (0..4)
        .map(|c| NextHop::over(ConnectionId(c), &[TunnelId(2 * c), TunnelId(2 * c + 1)]))
        .collect();
    let hop = |i: u64| hops[(i % 4) as usize].clone();
    for i in 0..v4 {
        let net = Ipv4Net::new(v4_net(i), 24).expect("a /24");
        fib.insert(IpNet::V4(net), hop(i));
    }
    for i in 0..v6 {
        let net = Ipv6Net::new(v6_net(i), 48).expect("a /48");
        fib.insert(IpNet::V6(net), hop(i));
    }
    // Other lengths, as a real table has: the lookups probe them first
    // (longest first) and miss.
    for (i, len) in [32u8, 28, 26, 22, 20, 16].into_iter().enumerate() {
        let net = Ipv4Net::new(Ipv4Addr::new(10, i as u8, 0, 0), len).expect("v4");
        fib.insert(IpNet::V4(net), hop(0));
    }
    for (i, len) in [128u8, 64, 56, 44, 40, 32].into_iter().enumerate() {
        let addr = Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 1);
        let net = Ipv6Net::new(addr, len).expect("v6").trunc();
        fib.insert(IpNet::V6(net), hop(0));
    }

    let four: Vec<Ipv4Addr> = scatter(LOOKUPS)
        .into_iter()
        .map(|i| {
            let i = i as u64 % v4.max(1);
            Ipv4Addr::from(u32::from(v4_net(i)) | 0x2a)
        })
        .collect();
    let six: Vec<Ipv6Addr> = scatter(LOOKUPS)
        .into_iter()
        .map(|i| {
            let i = i as u64 % v6.max(1);
            Ipv6Addr::from(u128::from(v6_net(i)) | 0x2a)
        })
        .collect();

    let time = |family: &str, lookup: &dyn Fn(usize) -> Option<usize>| {
        let mut times = Vec::new();
        let mut sum = 0usize;
        for _ in 0..runs {
            let start = Instant::now();
            for i in 0..LOOKUPS {
                sum = sum.wrapping_add(black_box(lookup(i)).expect("a route"));
            }
            times.push(start.elapsed());
        }
        let per = median(times).as_nanos() as f64 / LOOKUPS as f64;
        println!(
            "{family}: {LOOKUPS} lookups in a FIB of {v4} IPv4 + {v6} IPv6 routes: \
             median {per:.1} ns a lookup of {runs} runs (checksum {sum})"
        );
    };
    if v4 > 0 {
        time("IPv4", &|i| {
            fib.lookup_v4(four[i])
                .map(|nh| nh.tunnels.len() + nh.connections.len())
        });
    }
    if v6 > 0 {
        time("IPv6", &|i| {
            fib.lookup_v6(six[i])
                .map(|nh| nh.tunnels.len() + nh.connections.len())
        });
    }
}
