//! `fault-wrong-answer`: a test-only failover plugin whose `decide` answers
//! with a shape or values the contract forbids; the host must refuse the
//! answer, keep the previous weights and count a fault.
//!
//! Parameter `mode`: `both` (default: one weight too many per connection,
//! all 5000), `count` (one weight too many, all 100), `weight` (the right
//! count, all 5000), `zero` (the right count, all 0), `connections` (one
//! connection's list missing).

use sitelink_plugin::failover::{ConnectionHealth, Failover};
use sitelink_plugin::params;

pub struct WrongAnswer;

impl Failover for WrongAnswer {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        let mode = params::get("mode").unwrap_or_else(|| "both".into());
        wrong(&mode, &connections)
    }
}

sitelink_plugin::export_failover!(WrongAnswer);

/// The wrong answer for `mode`.
pub fn wrong(mode: &str, connections: &[ConnectionHealth]) -> Vec<Vec<u32>> {
    let each = |f: &dyn Fn(usize) -> Vec<u32>| -> Vec<Vec<u32>> {
        connections.iter().map(|c| f(c.tunnels.len())).collect()
    };
    match mode {
        "count" => each(&|n| vec![100; n + 1]),
        "weight" => each(&|n| vec![5000; n]),
        "zero" => each(&|n| vec![0; n]),
        "connections" => {
            let mut all = each(&|n| vec![100; n]);
            all.pop();
            all
        }
        _ => each(&|n| vec![5000; n + 1]),
    }
}
