//! `fault-read-file`: a test-only failover plugin whose `decide` tries to
//! read `/etc/passwd`. The host gives no preopened directories, so the read
//! must fail: the plugin logs the error it got (or, if the read succeeded,
//! the length it read, which the host's test treats as an escape) and
//! answers with the default rule.

use sitelink_plugin::defaults;
use sitelink_plugin::failover::{ConnectionHealth, Failover};
use sitelink_plugin::log;

pub struct ReadFile;

impl Failover for ReadFile {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        match std::fs::read("/etc/passwd") {
            Ok(bytes) => log::error(format!(
                "fault-read-file: read /etc/passwd: {} bytes",
                bytes.len()
            )),
            Err(e) => log::info(format!("fault-read-file: read /etc/passwd failed: {e}")),
        }
        defaults::failover::decide(&connections)
    }
}

sitelink_plugin::export_failover!(ReadFile);
