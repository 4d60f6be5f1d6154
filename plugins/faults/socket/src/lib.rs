//! `fault-socket`: a test-only failover plugin whose `decide` tries to open
//! a TCP connection to 127.0.0.1:22 and logs the error it got (the host
//! gives no network access, so it must fail). Answers with the default rule.

use std::net::TcpStream;

use sitelink_plugin::defaults;
use sitelink_plugin::failover::{ConnectionHealth, Failover};
use sitelink_plugin::log;

pub struct Socket;

impl Failover for Socket {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        match TcpStream::connect("127.0.0.1:22") {
            Ok(s) => log::error(format!("fault-socket: connected: {:?}", s.peer_addr())),
            Err(e) => log::info(format!("fault-socket: connect 127.0.0.1:22 failed: {e}")),
        }
        defaults::failover::decide(&connections)
    }
}

sitelink_plugin::export_failover!(Socket);
