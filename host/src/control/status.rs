//! The `status` reply, read off the data path's counters and the control
//! thread's turn statistics on the admin thread: it never waits for the
//! control thread, so it answers even when that thread is busy.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::api::{
    ConnectionStatus, Drain, EndpointStatus, FibCounts, Liveness, Role, Routing, Status,
    TunnelStatus,
};
use crate::config::{self, GatewayConfig};
use crate::dataplane::fib::Fib;
use crate::dataplane::tunnel::DrainState;
use crate::dataplane::Dataplane;
use crate::driver::turns::TurnStats;

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// The status document (see `sitelink status --json`).
pub fn status(cfg: &GatewayConfig, dp: &Dataplane, turns: &TurnStats) -> Status {
    let all = dp.tunnels();
    let connections = cfg
        .connections
        .iter()
        .enumerate()
        .filter(|(_, conn)| !conn.retired)
        .map(|(index, conn)| {
            let tunnels: Vec<_> = all
                .iter()
                .filter(|t| t.connection.index() == index && !t.is_retired())
                .collect();
            ConnectionStatus {
                name: conn.name.clone(),
                routing: match conn.routing {
                    config::Routing::Static => Routing::Static,
                    config::Routing::Dynamic => Routing::Dynamic,
                },
                active_tunnel: tunnels
                    .iter()
                    .find(|t| t.is_active())
                    .map(|t| t.inside_cidr.into()),
                static_routes: conn.static_routes.clone(),
                tunnels: tunnels
                    .iter()
                    .map(|t| {
                        let c = &t.counters;
                        let (rtt, loss, requests, answers) = t.probe_stats();
                        TunnelStatus {
                            inside_cidr: t.inside_cidr.into(),
                            inside_local: IpAddr::V4(t.inside_local),
                            inside_ipv6_local: t.inside_ipv6.map(|i| IpAddr::V6(i.local)),
                            endpoint: dp.endpoints.get(t.endpoint).map(|e| e.name.clone()),
                            remote: t.remote(),
                            mtu: Some(t.mtu),
                            liveness: Liveness::from(t.liveness()),
                            active: t.is_active(),
                            weight: Some(t.weight()),
                            drain: match t.drain() {
                                DrainState::None => Drain::None,
                                DrainState::Draining => Drain::Draining,
                                DrainState::Drained => Drain::Drained,
                            },
                            probe_rtt_us: rtt,
                            probe_loss_permille: loss,
                            probe_requests: requests,
                            probe_answers: answers,
                            handshake_age_ms: t
                                .handshake_age()
                                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                            handshakes: get(&c.handshakes),
                            tx_packets: get(&c.tx_packets),
                            tx_bytes: get(&c.tx_bytes),
                            rx_packets: get(&c.rx_packets),
                            rx_bytes: get(&c.rx_bytes),
                            dropped_packets: get(&c.rx_invalid)
                                + get(&c.rx_source_refused)
                                + get(&c.rx_probes_dropped)
                                + get(&c.tx_failed),
                            rx_invalid: get(&c.rx_invalid),
                            rx_source_refused: get(&c.rx_source_refused),
                            rx_probes_dropped: get(&c.rx_probes_dropped),
                            tx_failed: get(&c.tx_failed),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let endpoints = dp
        .endpoints
        .iter()
        .map(|e| EndpointStatus {
            name: e.name.clone(),
            listen: e.listen,
            rx_datagrams: get(&e.counters.rx_datagrams),
            dropped_datagrams: get(&e.counters.dropped_datagrams),
            tx_failed: get(&e.counters.tx_failed),
            tx_queue_full: get(&e.counters.tx_queue_full),
        })
        .collect();
    Status {
        gateway: cfg.name.clone(),
        role: match cfg.role {
            config::Role::Vgw => Role::Vgw,
            config::Role::Cgw => Role::Cgw,
        },
        tun: cfg.tun.name.clone(),
        connections,
        endpoints,
        tun_no_route: get(&dp.counters.tun_no_route),
        tun_malformed: get(&dp.counters.tun_malformed),
        tun_write_failed: get(&dp.counters.tun_write_failed),
        probes_dropped: get(&dp.counters.probes_dropped),
        fib: fib_counts(&dp.fib.load()),
        control_loop: Some(turns.summary()),
    }
}

/// How many prefixes the FIB in force holds, per family: a pair of
/// counters, so cheap with a million routes (`sitelink routes` lists them).
pub fn fib_counts(fib: &Fib) -> FibCounts {
    let (v4, v6) = fib.counts();
    FibCounts {
        routes_v4: v4 as u64,
        routes_v6: v6 as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::fib::{ConnectionId, NextHop, TunnelId};

    #[test]
    fn status_counts_fib_routes_per_family() {
        let mut fib = Fib::default();
        let counts = |f: &Fib| {
            let c = fib_counts(f);
            (c.routes_v4, c.routes_v6)
        };
        assert_eq!(counts(&fib), (0, 0));
        for p in ["10.1.0.0/24", "10.2.0.0/24", "fd00:1::/64"] {
            fib.insert(
                p.parse().unwrap(),
                NextHop::over(ConnectionId(0), &[TunnelId(0)]),
            );
        }
        assert_eq!(counts(&fib), (2, 1));
    }
}
