//! `fault-start-spin`: a test-only failover plugin that never finishes
//! instantiating. Its core module exports `_initialize`, which the
//! component calls at instantiation (wit-component's start hook), and which
//! loops forever; `decide` itself would answer with the default rule. The
//! host must bound instantiation with its deadline too.

use std::hint::black_box;

use sitelink_plugin::defaults;
use sitelink_plugin::failover::{ConnectionHealth, Failover};

/// Called by the component at instantiation: never returns.
#[unsafe(export_name = "_initialize")]
pub extern "C" fn initialize() {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

pub struct StartSpin;

impl Failover for StartSpin {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        defaults::failover::decide(&connections)
    }
}

sitelink_plugin::export_failover!(StartSpin);
