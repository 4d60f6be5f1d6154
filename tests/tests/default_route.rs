//! A far side that announces a default route, end to end on topology 2 over
//! the IPv4 underlay: the scenario of `sitelink_lab::default_route` (the VGW
//! advertises 0.0.0.0/0 and ::/0; the CGW's own WireGuard datagrams keep
//! taking the uplink, sessions are never reset, the policy rules are
//! replaced after a crash and removed at stop). The same scenario over an
//! IPv6 underlay is in `ipv6_underlay.rs`.
//!
//! Run with `cargo build -p sitelink && cargo test -p sitelink-lab --test
//! default_route -- --nocapture --test-threads=1`.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::default_route::learned_default_never_captures_the_tunnels;
use sitelink_lab::topology::Underlay;
use std::time::Duration;

#[test]
fn a_learned_default_route_never_captures_the_tunnels() {
    let _wd = Watchdog::arm("default route", Duration::from_secs(120));
    learned_default_never_captures_the_tunnels("default-route", Underlay::V4);
}
