//! `fault-spin`: a test-only failover plugin whose `decide` never returns
//! (a busy loop). The host's deadline (epoch interruption) must stop it.

use std::hint::black_box;

use sitelink_plugin::failover::{ConnectionHealth, Failover};

pub struct Spin;

impl Failover for Spin {
    fn decide(_connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

sitelink_plugin::export_failover!(Spin);
