//! {{project-name}}: a sitelink failover plugin. Every tunnel that is up
//! gets weight 100 (ECMP); a connection with none up keeps the built-in
//! default's answer.

use sitelink_plugin::defaults::failover::decide_connection;
use sitelink_plugin::failover::{ConnectionHealth, Failover};

/// The plugin.
pub struct Plugin;

impl Failover for Plugin {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        connections.iter().map(weights).collect()
    }
}

/// The weights of one connection's tunnels, in order.
pub fn weights(c: &ConnectionHealth) -> Vec<u32> {
    if c.tunnels.iter().any(|t| t.up) {
        c.tunnels.iter().map(|t| if t.up { 100 } else { 0 }).collect()
    } else {
        decide_connection(c)
    }
}

sitelink_plugin::export_failover!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use sitelink_plugin::failover::{Routing, TunnelHealth};

    fn tunnel(cidr: &str, up: bool) -> TunnelHealth {
        TunnelHealth {
            tunnel: cidr.into(),
            endpoint: "az1".into(),
            up,
            coming_up: false,
            up_for_ms: if up { 10_000 } else { 0 },
            weight: 0,
        }
    }

    #[test]
    fn every_tunnel_up_shares_the_traffic() {
        let c = ConnectionHealth {
            name: "office".into(),
            routing: Routing::StaticRouting,
            detection_ms: 600,
            failback_hold_ms: 3000,
            tunnels: vec![tunnel("169.254.10.0/30", true), tunnel("169.254.11.0/30", false)],
        };
        assert_eq!(weights(&c), vec![100, 0]);
    }
}
