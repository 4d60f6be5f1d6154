//! `fault-alloc`: a test-only failover plugin whose `decide` allocates 1 GiB
//! and writes to every page of it. The host's memory cap (StoreLimits) must
//! refuse the growth, which traps the guest. Should the allocation succeed,
//! it logs so and answers with the default rule.

use std::hint::black_box;

use sitelink_plugin::defaults;
use sitelink_plugin::failover::{ConnectionHealth, Failover};
use sitelink_plugin::log;

pub struct Alloc;

const SIZE: usize = 1 << 30;

impl Failover for Alloc {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        let mut big: Vec<u8> = Vec::with_capacity(SIZE);
        for _ in (0..SIZE).step_by(4096) {
            big.push(1);
            big.extend(std::iter::repeat_n(0, 4095));
        }
        let touched = black_box(&big).iter().step_by(4096).count();
        log::error(format!(
            "fault-alloc: allocated and touched {} bytes ({touched} pages)",
            big.len()
        ));
        defaults::failover::decide(&connections)
    }
}

sitelink_plugin::export_failover!(Alloc);
