//! `default-failover`: the built-in failover rule as a plugin (active/standby
//! by inside CIDR for static connections, all-active ECMP for dynamic ones;
//! see `sitelink_plugin::defaults::failover`). The host has a native twin of
//! this rule; a differential test holds the two to the same answers.

use sitelink_plugin::defaults;
use sitelink_plugin::failover::{ConnectionHealth, Failover};

/// The default failover rule.
pub struct DefaultFailover;

impl Failover for DefaultFailover {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        defaults::failover::decide(&connections)
    }
}

sitelink_plugin::export_failover!(DefaultFailover);
