//! `fault-env`: a test-only failover plugin whose `decide` reads the
//! environment (`HOME` and all variables) and logs what it saw: the host
//! gives an empty environment, so it must see nothing. Answers with the
//! default rule.

use sitelink_plugin::defaults;
use sitelink_plugin::failover::{ConnectionHealth, Failover};
use sitelink_plugin::log;

pub struct Env;

impl Failover for Env {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        let home = std::env::var("HOME");
        let names: Vec<String> = std::env::vars_os()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        let args = std::env::args_os().count();
        log::info(format!(
            "fault-env: HOME: {home:?}; {} variables {names:?}; {args} args",
            names.len()
        ));
        defaults::failover::decide(&connections)
    }
}

sitelink_plugin::export_failover!(Env);
