//! `fault-trap`: a test-only failover plugin whose `decide` panics, which in
//! a wasm32-wasip2 guest aborts with a trap. The host must survive it, fall
//! back to the default rule and count the fault.

use sitelink_plugin::failover::{ConnectionHealth, Failover};

pub struct Trap;

impl Failover for Trap {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        panic!(
            "fault-trap: deliberate panic in decide ({} connections)",
            connections.len()
        )
    }
}

sitelink_plugin::export_failover!(Trap);
