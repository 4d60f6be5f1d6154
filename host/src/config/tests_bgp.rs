//! Tests of the `[bgp]` and `[connection.bgp]` rules and defaults, each
//! refusal asserting the full error text. Helpers are in `tests`.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::tests::{assert_err, assert_err_after, Fixture};
use super::{GracefulRestartLimits, MaxPrefixAction, Routing, SessionAddresses};

/// `BASE` with its connection made dynamic.
fn dynamic(fx: &Fixture, bgp: &str) -> String {
    fx.base().replace(
        "routing = \"static\"\nstatic_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]\n",
        &format!("routing = \"dynamic\"\n\n[connection.bgp]\n{bgp}\n"),
    )
}

#[test]
fn dynamic_connection_defaults() {
    let fx = Fixture::new();
    let cfg = fx.parse(&dynamic(&fx, "remote_asn = 65000")).unwrap();
    let c = &cfg.connections[0];
    assert_eq!(c.routing, Routing::Dynamic);
    let bgp = c.bgp.as_ref().unwrap();
    assert_eq!((bgp.local_asn, bgp.remote_asn), (64512, 65000));
    assert!(bgp.passive, "the VGW waits for the customer gateway");
    assert_eq!(bgp.max_prefixes.limit, 100);
    assert_eq!(bgp.max_prefixes.warning, 80);
    assert_eq!(
        bgp.max_prefixes.action,
        MaxPrefixAction::Close {
            restart_after: Duration::from_secs(30)
        }
    );
    assert_eq!(cfg.bgp.asn, 64512);
    assert_eq!(cfg.bgp.hold_time, 30);
    assert_eq!(cfg.bgp.router_id, Ipv4Addr::new(169, 254, 10, 1));
    assert!(cfg.bgp.networks.is_empty());
}

#[test]
fn gateway_bgp_table() {
    let fx = Fixture::new();
    let text = format!(
        "{}\n[bgp]\nasn = 4200000001\nrouter_id = \"198.18.1.2\"\n\
         networks = [\"10.2.0.0/24\", \"fd00:2::/64\"]\nhold_time_s = 90\n",
        dynamic(
            &fx,
            "remote_asn = 65000\npassive = false\nmax_prefixes = 10\n\
             max_prefixes_warning_pct = 50\nmax_prefixes_action = \"drop\""
        )
    );
    let cfg = fx.parse(&text).unwrap();
    assert_eq!(cfg.bgp.asn, 4_200_000_001);
    assert_eq!(cfg.bgp.router_id, Ipv4Addr::new(198, 18, 1, 2));
    assert_eq!(cfg.bgp.hold_time, 90);
    assert_eq!(
        cfg.bgp.networks,
        vec![
            "10.2.0.0/24".parse().unwrap(),
            "fd00:2::/64".parse().unwrap()
        ]
    );
    let bgp = cfg.connections[0].bgp.as_ref().unwrap();
    assert_eq!(bgp.local_asn, 4_200_000_001);
    assert!(!bgp.passive);
    assert_eq!((bgp.max_prefixes.limit, bgp.max_prefixes.warning), (10, 5));
    assert_eq!(bgp.max_prefixes.action, MaxPrefixAction::Drop);
}

#[test]
fn dynamic_needs_a_bgp_table() {
    let fx = Fixture::new();
    let text = fx
        .base()
        .replace("routing = \"static\"", "routing = \"dynamic\"");
    assert_err(
        &fx,
        &text,
        "\"dynamic\"",
        0,
        "dynamic connection \"office\" has no [connection.bgp] table",
        "add [connection.bgp] with the far side's ASN, e.g. remote_asn = 65000",
    );
}

#[test]
fn static_refuses_a_bgp_table() {
    let fx = Fixture::new();
    let text = fx.base().replacen(
        "[[connection.tunnel]]",
        "[connection.bgp]\nremote_asn = 65000\n\n[[connection.tunnel]]",
        1,
    );
    assert_err(
        &fx,
        &text,
        "[connection.bgp]",
        0,
        "connection \"office\" is static but has a [connection.bgp] table",
        "set routing = \"dynamic\" to run BGP over its tunnels, or remove the table",
    );
}

#[test]
fn customer_gateway_needs_an_asn() {
    let fx = Fixture::new();
    let text = dynamic(&fx, "remote_asn = 64512").replace("role = \"vgw\"", "role = \"cgw\"");
    assert_err(
        &fx,
        &text,
        "[connection.bgp]",
        0,
        "dynamic connection \"office\" needs this gateway's ASN",
        "set asn in a [bgp] table (e.g. asn = 65000), or local_asn in [connection.bgp]",
    );
    // With one, the customer side connects out by default.
    let cfg = fx.parse(&format!("{text}\n[bgp]\nasn = 65000\n")).unwrap();
    let bgp = cfg.connections[0].bgp.as_ref().unwrap();
    assert_eq!((bgp.local_asn, bgp.remote_asn), (65000, 64512));
    assert!(!bgp.passive);
    assert_eq!(cfg.bgp.router_id, Ipv4Addr::new(169, 254, 10, 2));
}

#[test]
fn asn_ranges() {
    let fx = Fixture::new();
    for bad in ["0", "23456", "4294967295", "-1", "5000000000"] {
        let text = dynamic(&fx, &format!("remote_asn = {bad}"));
        assert_err_after(
            &fx,
            &text,
            "remote_asn = ",
            0,
            13,
            &format!("remote_asn = {bad} is not a usable AS number"),
            "use an AS number from 1 to 4294967294 other than 23456 (AS_TRANS); \
             private ones are 64512-65534 and 4200000000-4294967294",
        );
    }
}

#[test]
fn internal_bgp_is_refused() {
    let fx = Fixture::new();
    let text = dynamic(&fx, "remote_asn = 64512");
    assert_err_after(
        &fx,
        &text,
        "remote_asn = ",
        0,
        13,
        "remote_asn 64512 is this gateway's own ASN: that would be internal BGP",
        "sitelink speaks external BGP only: give each side of the connection its own ASN",
    );
}

#[test]
fn max_prefix_action_names() {
    let fx = Fixture::new();
    let text = dynamic(&fx, "remote_asn = 65000\nmax_prefixes_action = \"reset\"");
    assert_err(
        &fx,
        &text,
        "\"reset\"",
        0,
        "unknown max_prefixes_action \"reset\"",
        "use \"close\" (send Cease / maximum prefixes, retry after max_prefixes_restart_s) \
         or \"drop\" (keep the session, ignore the excess routes and warn)",
    );
    let text = dynamic(&fx, "remote_asn = 65000\nmax_prefixes = 0");
    assert_err_after(
        &fx,
        &text,
        "max_prefixes = ",
        0,
        15,
        "max_prefixes = 0 is out of range",
        "use a value from 1 to 10000000, or leave max_prefixes out for the default 100",
    );
}

#[test]
fn graceful_restart_is_on_by_default_with_limits() {
    let fx = Fixture::new();
    let bgp = |text: &str| {
        let cfg = fx.parse(&dynamic(&fx, text)).unwrap();
        cfg.connections[0].bgp.as_ref().unwrap().graceful_restart
    };
    assert_eq!(
        bgp("remote_asn = 65000"),
        Some(GracefulRestartLimits::DEFAULT)
    );
    assert_eq!(
        GracefulRestartLimits::DEFAULT,
        GracefulRestartLimits {
            max_restart: Duration::from_secs(300),
            stale: Duration::from_secs(360)
        }
    );
    assert_eq!(
        bgp("remote_asn = 65000\ngraceful_restart_max_s = 4095\ngraceful_restart_stale_s = 5"),
        Some(GracefulRestartLimits {
            max_restart: Duration::from_secs(4095),
            stale: Duration::from_secs(5)
        })
    );
    assert_eq!(bgp("remote_asn = 65000\ngraceful_restart = false"), None);

    let text = dynamic(&fx, "remote_asn = 65000\ngraceful_restart_max_s = 4096");
    assert_err_after(
        &fx,
        &text,
        "graceful_restart_max_s = ",
        0,
        25,
        "graceful_restart_max_s = 4096 is out of range",
        "use a value from 1 to 4095, or leave graceful_restart_max_s out for the default 300",
    );
    let text = dynamic(
        &fx,
        "remote_asn = 65000\ngraceful_restart = false\ngraceful_restart_stale_s = 60",
    );
    assert_err_after(
        &fx,
        &text,
        "graceful_restart_stale_s = ",
        0,
        27,
        "graceful_restart_stale_s is set but graceful_restart = false",
        "remove graceful_restart_stale_s, or set graceful_restart = true",
    );
}

#[test]
fn hold_time_one_or_two_is_refused() {
    let fx = Fixture::new();
    let text = format!(
        "{}\n[bgp]\nhold_time_s = 2\n",
        dynamic(&fx, "remote_asn = 65000")
    );
    assert_err_after(
        &fx,
        &text,
        "hold_time_s = ",
        0,
        14,
        "hold_time_s = 2 is not allowed by BGP (RFC 4271 section 4.2)",
        "use 0 (no keepalives) or at least 3; AWS uses 30",
    );
}

#[test]
fn networks_are_prefixes() {
    let fx = Fixture::new();
    let base = dynamic(&fx, "remote_asn = 65000");
    let text = format!("{base}\n[bgp]\nnetworks = [\"10.2.0.1/24\"]\n");
    assert_err(
        &fx,
        &text,
        "\"10.2.0.1/24\"",
        0,
        "network \"10.2.0.1/24\" has host bits set",
        "did you mean 10.2.0.0/24?",
    );
    let text = format!("{base}\n[bgp]\nnetworks = [\"10.2.0.0/24\", \"10.2.0.0/24\"]\n");
    assert_err(
        &fx,
        &text,
        "\"10.2.0.0/24\"",
        1,
        "network 10.2.0.0/24 is listed twice",
        "list each network once",
    );
    let text = format!("{base}\n[bgp]\nnetworks = [\"198.18.0.0/15\"]\n");
    assert_err(
        &fx,
        &text,
        "\"198.18.0.0/15\"",
        0,
        "network 198.18.0.0/15 holds endpoint \"az1\"'s address 198.18.1.2: the far side would \
         route this gateway's tunnels into themselves",
        "advertise only the site's own prefixes, not the gateway's public addresses",
    );
    // A default route holds every address, and is allowed: all egress of
    // the far site through this one.
    let text = format!("{base}\n[bgp]\nnetworks = [\"0.0.0.0/0\", \"::/0\"]\n");
    let cfg = fx.parse(&text).expect("a default route may be advertised");
    assert_eq!(cfg.bgp.networks.len(), 2);
    let text = format!("{base}\n[bgp]\nrouter_id = \"0.0.0.0\"\n");
    assert_err(
        &fx,
        &text,
        "\"0.0.0.0\"",
        0,
        "router_id \"0.0.0.0\" is not a non-zero IPv4 address",
        "write it as an IPv4 address unique among the BGP speakers, e.g. router_id = \
         \"198.18.1.2\", or leave it out to use the first tunnel's inside address",
    );
}

#[test]
fn unknown_bgp_keys_are_refused() {
    let fx = Fixture::new();
    let text = dynamic(&fx, "remote_asn = 65000\nremote_as = 1");
    let e = fx.parse(&text).unwrap_err();
    assert!(e.what().contains("unknown key `remote_as`"), "{e}");
}

/// An example config with every placeholder key replaced by the fixture's
/// far key and its own key file renamed to the fixture's.
fn example(fx: &Fixture, text: &str, key_file: &str) -> super::GatewayConfig {
    let text = [
        "VGW_PUBLIC_KEY",
        "CGW_PUBLIC_KEY",
        "CGW1_PUBLIC_KEY",
        "CGW2_PUBLIC_KEY",
    ]
    .iter()
    .fold(text.to_string(), |t, k| t.replace(k, &fx.far_pub))
    .replace(&format!("\"{key_file}\""), "\"gw.key\"");
    fx.parse(&text)
        .unwrap_or_else(|e| panic!("{key_file} example: {e}"))
}

#[test]
fn dynamic_and_ha_examples_parse() {
    let fx = Fixture::new();
    let vgw = example(
        &fx,
        include_str!("../../../examples/dynamic/vgw.toml"),
        "vgw.key",
    );
    assert_eq!(vgw.bgp.asn, 64512);
    assert_eq!(vgw.bgp.networks.len(), 2);
    let bgp = vgw.connections[0].bgp.as_ref().unwrap();
    assert_eq!((bgp.remote_asn, bgp.passive), (65000, true));
    let cgw = example(
        &fx,
        include_str!("../../../examples/dynamic/cgw.toml"),
        "cgw.key",
    );
    let bgp = cgw.connections[0].bgp.as_ref().unwrap();
    assert_eq!(
        (bgp.local_asn, bgp.remote_asn, bgp.passive),
        (65000, 64512, false)
    );

    let vgw = example(
        &fx,
        include_str!("../../../examples/ha/vgw.toml"),
        "vgw.key",
    );
    assert_eq!(vgw.connections.len(), 2);
    assert!(vgw
        .connections
        .iter()
        .all(|c| c.routing == Routing::Dynamic));
    let cgw1 = example(
        &fx,
        include_str!("../../../examples/ha/cgw1.toml"),
        "cgw1.key",
    );
    let cgw2 = example(
        &fx,
        include_str!("../../../examples/ha/cgw2.toml"),
        "cgw2.key",
    );
    assert_eq!(
        (
            cgw1.route_table.kernel_metric,
            cgw2.route_table.kernel_metric
        ),
        (100, 200)
    );
    assert_ne!(cgw1.bgp.router_id, cgw2.bgp.router_id);
    assert_ne!(cgw1.admin_socket, cgw2.admin_socket);
}

#[test]
fn session_over_ipv6_needs_an_ipv6_inside_address_on_every_tunnel() {
    let fx = Fixture::new();
    let dynamic = dynamic(&fx, "remote_asn = 65000");
    let with_session = |text: &str, value: &str| {
        text.replace(
            "[connection.bgp]\n",
            &format!("[connection.bgp]\nsession = {value}\n"),
        )
    };
    // The default: IPv4 inside addresses.
    let c = fx.parse(&dynamic).unwrap();
    let bgp = c.connections[0].bgp.as_ref().unwrap();
    assert_eq!(bgp.session, SessionAddresses::Ipv4);
    // Over IPv6 without inside_ipv6_cidr: refused, naming the tunnel.
    let text = with_session(&dynamic, "\"ipv6\"");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.what(),
        "session = \"ipv6\" but tunnel 1 of connection \"office\" has no inside_ipv6_cidr"
    );
    assert_eq!(
        e.fix(),
        "give every tunnel of the connection an inside_ipv6_cidr (a /126 from fd00::/8), \
         or use session = \"ipv4\""
    );
    // With one on each tunnel: accepted.
    let text = text
        .replacen(
            "\"169.254.10.0/30\"",
            "\"169.254.10.0/30\"\ninside_ipv6_cidr = \"fd00:0:0:10::/126\"",
            1,
        )
        .replacen(
            "\"169.254.11.0/30\"",
            "\"169.254.11.0/30\"\ninside_ipv6_cidr = \"fd00:0:0:11::/126\"",
            1,
        );
    let c = fx.parse(&text).unwrap();
    let bgp = c.connections[0].bgp.as_ref().unwrap();
    assert_eq!(bgp.session, SessionAddresses::Ipv6);
    // An unknown value.
    let e = fx.parse(&with_session(&dynamic, "\"tcp\"")).unwrap_err();
    assert_eq!(e.what(), "unknown session \"tcp\"");
}
