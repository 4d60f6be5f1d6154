//! The bench's N-tunnel mode (BENCH_TUNNELS=N; issue 14, "many tunnels at
//! once"): one pair of namespaces with N tunnels (how each system gets them:
//! [`crate::systems`]), an iperf3 server per tunnel in b (port 5201 + `i`,
//! reached at b's inside address of tunnel `i`, so its flow takes tunnel
//! `i`), and two TCP tests in turn:
//!
//! 1. one flow over tunnel 0, the other tunnels idle: the aggregate of one
//!    tunnel;
//! 2. N flows at once, one per tunnel: the aggregate is the sum of what the
//!    N receivers got, and each tunnel's own rate shows how even the split
//!    is. Per-thread CPU over the steady window of this test ([`threads`]).
//!
//! Their ratio says whether the aggregate grows with the tunnels. The
//! iperf3 processes run on the same cores as the tunnels (2 on the bench
//! machine), so the ratio is bounded by the machine as much as by the data
//! path: read it beside the thread table.

use std::path::Path;
use std::thread;

use sitelink_lab::measure::{self, IperfResult};
use sitelink_lab::process::Spawned;
use sitelink_lab::{Error, Result};

use crate::systems::{bring_up, Side, System};
use crate::threads::{self, ThreadSample};
use crate::{pair_with, stats_of, tunnel_procs, Pair};

/// The iperf3 server port of tunnel 0; tunnel `i` has `IPERF_PORT + i`.
const IPERF_PORT: u16 = 5201;

/// One round's numbers of the N-tunnel test for one system.
#[derive(Debug, Clone, Default)]
pub struct TunnelsSample {
    /// One flow over one tunnel.
    pub one_mbps: f64,
    /// N flows, one per tunnel, summed.
    pub all_mbps: f64,
    /// What each tunnel's flow got in the N-flow test, by tunnel.
    pub per_tunnel_mbps: Vec<f64>,
}

fn iperf_port(i: usize) -> u16 {
    // At most MAX_TUNNELS (main.rs) tunnels: no overflow.
    IPERF_PORT + i as u16
}

/// An iperf3 server for tunnel `i`'s flow (one test, then it exits).
fn server(p: &Pair, i: usize) -> Result<Spawned> {
    let port = iperf_port(i);
    let log = p.lab.dir().join(format!("iperf3-{port}.log"));
    measure::iperf3_server(&p.b, port, &log)
}

/// The flow of tunnel `i` from a to b, `seconds` long.
fn flow(p: &Pair, i: usize, seconds: u32) -> Result<IperfResult> {
    let to = Side::B.inner(i);
    measure::iperf3_client(&p.a, &to, iperf_port(i), seconds)
        .map_err(|e| e.context(format!("the flow over tunnel {i} (to {to})")))
}

/// Runs the N-tunnel test once for `system`.
pub fn measure(
    system: System,
    sitelink: &Path,
    tunnels: usize,
    seconds: u32,
) -> Result<(TunnelsSample, ThreadSample)> {
    let mut p = pair_with(tunnels)?;
    bring_up(system, &mut p, sitelink)?;
    let one = {
        let _server = server(&p, 0)?;
        flow(&p, 0, seconds)?
    };
    let _servers = (0..tunnels)
        .map(|i| server(&p, i))
        .collect::<Result<Vec<Spawned>>>()?;
    let procs = tunnel_procs(&p);
    let pair = &p;
    let (all, threads) = threads::during(system, &procs, threads::window(seconds), || {
        thread::scope(|s| {
            let flows: Vec<_> = (0..tunnels)
                .map(|i| s.spawn(move || flow(pair, i, seconds)))
                .collect();
            flows
                .into_iter()
                .map(|f| {
                    f.join()
                        .map_err(|_| Error::msg("an iperf3 thread panicked"))?
                })
                .collect::<Result<Vec<IperfResult>>>()
        })
    })?;
    let per_tunnel_mbps: Vec<f64> = all.iter().map(IperfResult::received_mbps).collect();
    Ok((
        TunnelsSample {
            one_mbps: one.received_mbps(),
            all_mbps: per_tunnel_mbps.iter().sum(),
            per_tunnel_mbps,
        },
        threads,
    ))
}

/// The N-tunnel table: per system, medians (min-max) over the rounds.
pub fn print(
    systems: &[System],
    samples: &[(System, TunnelsSample)],
    tunnels: usize,
    rounds: usize,
    seconds: u32,
) {
    println!(
        "\n{tunnels} tunnels at once, one TCP flow each (iperf3, {seconds} s), against one \
         flow over one of them; {rounds} rounds, medians (min-max), Gbit/s. sitelink: one \
         gateway per side, an endpoint and a static connection per tunnel; the others: a \
         daemon and an interface per tunnel and side.\n"
    );
    println!(
        "| system | 1 tunnel, 1 flow | {tunnels} tunnels, 1 flow each | ratio | \
         per tunnel, last round |"
    );
    println!("|---|---:|---:|---:|---|");
    for &system in systems {
        let of = |get: fn(&TunnelsSample) -> f64| stats_of(samples, system, get);
        let (one, all, ratio) = (
            of(|x| x.one_mbps / 1e3),
            of(|x| x.all_mbps / 1e3),
            of(|x| x.all_mbps / x.one_mbps),
        );
        let Some((_, last)) = samples.iter().rev().find(|(s, _)| *s == system) else {
            continue;
        };
        let each: Vec<String> = last
            .per_tunnel_mbps
            .iter()
            .map(|m| format!("{:.2}", m / 1e3))
            .collect();
        println!(
            "| {} | {:.2} ({:.2}-{:.2}) | {:.2} ({:.2}-{:.2}) | {:.2} ({:.2}-{:.2}) | {} |",
            system.name(),
            one.0,
            one.1,
            one.2,
            all.0,
            all.1,
            all.2,
            ratio.0,
            ratio.1,
            ratio.2,
            each.join(", ")
        );
    }
}
