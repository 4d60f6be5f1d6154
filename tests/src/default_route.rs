//! A far side that announces a default route (all egress of the site through
//! the VPN, as customers commonly configure it), end to end on topology 2
//! over either underlay: the VGW advertises 0.0.0.0/0 and ::/0 besides site
//! B's prefixes, and the CGW, whose host reaches the VGW's endpoints by its
//! own default route, learns them over both tunnels. The learned default must
//! not carry the CGW's own WireGuard datagrams into the tunnels: the sessions
//! stay up (no reset for several hold-timer-free seconds), both tunnels stay
//! up, the route to each far endpoint for the marked datagrams is still the
//! uplink, and unmarked traffic to an address only the default covers goes
//! into the tunnel. The host's own default route is left in place; after a
//! `kill -9` the next run replaces the policy rules (one of each per family,
//! not two); they go when the gateway stops.
//!
//! [`learned_default_never_captures_the_tunnels`] is the whole scenario, run
//! by `tests/default_route.rs` (IPv4 underlay) and `tests/ipv6_underlay.rs`;
//! it panics, naming the test, at the first thing that is not so.

use crate::topology::{Underlay, INET_SIDE, SITE_B_V4, TUNNEL_1, TUNNEL_2};
use crate::{Gw, SiteLab, SiteOptions, Topology};
use std::thread;
use std::time::Duration;

/// The mark and table of the gateway's own traffic (host/src/dataplane/own_traffic.rs).
pub const MARK: &str = "0x534c";
/// The table learned default routes go into.
pub const TABLE: &str = "21324";

fn established_transitions(lab: &SiteLab, gw: Gw) -> Vec<u64> {
    let bgp = lab.bgp(gw).expect("bgp");
    [TUNNEL_1, TUNNEL_2]
        .iter()
        .map(|t| bgp.peer_u64(t, "established_transitions").unwrap_or(0))
        .collect()
}

/// Both learned defaults are in the CGW's own table.
fn defaults_installed(lab: &SiteLab) -> bool {
    ["-4", "-6"].iter().all(|f| {
        lab.cgw
            .ip(&[f, "route", "show", "table", TABLE])
            .is_ok_and(|r| r.contains("default"))
    })
}

/// The scenario of this module over `underlay`.
pub fn learned_default_never_captures_the_tunnels(test: &str, underlay: Underlay) {
    let opts = SiteOptions::default().underlay(underlay).set(
        Gw::Vgw,
        "bgp",
        "networks",
        r#"["10.2.0.0/24", "fd00:2::/64", "0.0.0.0/0", "::/0"]"#,
    );
    let mut lab = SiteLab::start_settled(Topology::Dynamic, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    let family = underlay.family_flag();
    let uplink = format!("via {}", underlay.addr(10, INET_SIDE));
    lab.wait_until(
        "the cgw to install the learned default routes in its own table",
        Duration::from_secs(10),
        || defaults_installed(&lab),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let before = established_transitions(&lab, Gw::Cgw);
    println!("[{test}] cgw sessions established, transitions {before:?}");

    // Long enough for several probe detection times (600 ms) and for the
    // capture loop the issue saw (a reset every 3-4 s) to show.
    thread::sleep(Duration::from_secs(8));
    let after = established_transitions(&lab, Gw::Cgw);
    assert_eq!(
        after,
        before,
        "{test}: a session was reset\n{}",
        lab.gateway_logs()
    );
    let status = lab.status(Gw::Cgw).expect("status");
    assert!(
        status.all_tunnels_up(),
        "{test}: a tunnel is down: {}\n{}",
        status.summary(),
        lab.gateway_logs()
    );

    // The gateway's own (marked) datagrams leave by the uplink; unmarked
    // traffic to a far endpoint follows the learned default into the TUN.
    for link in [1, 2] {
        let endpoint = underlay.addr(link, crate::topology::GATEWAY_SIDE);
        let marked = lab
            .cgw
            .ip(&[family, "route", "get", &endpoint, "mark", MARK])
            .expect("ip route get");
        println!("[{test}] cgw, marked, to {endpoint}: {}", marked.trim());
        assert!(
            marked.contains(&uplink),
            "{test}: the gateway's own datagrams to {endpoint} do not take the uplink: {marked}"
        );
        let unmarked = lab
            .cgw
            .ip(&[family, "route", "get", &endpoint])
            .expect("ip route get");
        println!("[{test}] cgw, unmarked, to {endpoint}: {}", unmarked.trim());
        assert!(
            !unmarked.contains(&uplink),
            "{test}: unmarked traffic to {endpoint} does not follow the learned default: {unmarked}"
        );
    }
    let elsewhere = underlay.elsewhere();
    let unmarked = lab
        .cgw
        .ip(&[family, "route", "get", elsewhere])
        .expect("ip route get");
    assert!(
        !unmarked.contains(&uplink),
        "{test}: the learned default is not used for other traffic: {unmarked}"
    );
    // The host's own default route is still there, untouched.
    let main = lab
        .cgw
        .ip(&[family, "route", "show", "table", "main"])
        .expect("ip");
    assert!(
        main.contains(&format!("default {uplink}")),
        "{test}: the host's default route is gone: {main}"
    );
    // Site B is still reached, over the tunnels.
    assert!(
        crate::measure::ping(&lab.site_a, SITE_B_V4)
            .expect("ping")
            .received
            > 0,
        "{test}: site B unreachable\n{}",
        lab.gateway_logs()
    );

    // Killed, its rules stay (its routes go with its TUN device); the next
    // run replaces them, once, and installs the default routes again.
    lab.kill9(Gw::Cgw).expect("kill -9");
    lab.restart(Gw::Cgw).expect("restart");
    lab.wait_until(
        "the restarted cgw to install the learned default routes again",
        Duration::from_secs(30),
        || defaults_installed(&lab),
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    for f in ["-4", "-6"] {
        let rules = lab.cgw.ip(&[f, "rule", "show"]).expect("ip rule");
        assert_eq!(
            rules.matches("lookup 21324").count(),
            1,
            "{test}: the crashed run's {f} rule was not replaced: {rules}"
        );
        assert_eq!(rules.matches("suppress_prefixlength").count(), 1, "{rules}");
    }

    // Stopped, the gateway takes its rules away.
    lab.gateway(Gw::Cgw).terminate(Duration::from_secs(5));
    for f in ["-4", "-6"] {
        let rules = lab.cgw.ip(&[f, "rule", "show"]).expect("ip rule");
        assert!(
            !rules.contains("lookup 21324") && !rules.contains("suppress_prefixlength"),
            "{test}: {f} rules left after stop: {rules}"
        );
    }
}
