//! Tests of the configuration rules for endpoints and connections (names,
//! addresses, routing, static routes, timers, tunnel counts), each asserting
//! the full error text. Helpers are in `tests`.

use super::tests::{assert_err, assert_err_after, replace_nth, Fixture, SECOND};
use super::Location;

// ---- [[endpoint]] ----

#[test]
fn at_least_one_endpoint() {
    let fx = Fixture::new();
    let base = fx.base();
    let start = base.find("[[endpoint]]").unwrap();
    let end = base.find("[[connection]]").unwrap();
    let text = format!("{}{}", &base[..start], &base[end..]);
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.toml:1:1: error: no [[endpoint]] is defined\n  fix: add an [[endpoint]] \
         with a name and a listen address, e.g. name = \"az1\" and listen = \"198.18.1.2:51820\""
    );
    let text = format!("endpoint = []\n{}{}", &base[..start], &base[end..]);
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.location(),
        Some(Location {
            line: 1,
            column: 12
        })
    );
}

#[test]
fn endpoint_name_charset() {
    let fx = Fixture::new();
    let text = fx.base().replace("\"az1\"", "\"az.1\"");
    assert_err(
        &fx,
        &text,
        "\"az.1\"",
        0,
        "endpoint name \"az.1\" is not valid: use 1 to 32 characters of A-Z, a-z, 0-9, `_` and `-`",
        "e.g. name = \"az-1\"",
    );
}

#[test]
fn endpoint_names_unique() {
    let fx = Fixture::new();
    let text = replace_nth(&fx.base(), "name = \"az2\"", "name = \"az1\"", 0);
    assert_err(
        &fx,
        &text,
        "\"az1\"",
        1,
        "endpoint name \"az1\" is already used at line 11",
        "give every endpoint a different name",
    );
}

#[test]
fn listen_must_be_address_and_port() {
    let fx = Fixture::new();
    let text = fx
        .base()
        .replace("\"198.18.1.2:51820\"", "\"gw.example:51820\"");
    assert_err(
        &fx,
        &text,
        "\"gw.example:51820\"",
        0,
        "listen = \"gw.example:51820\" is not an IP address and port",
        "write it as ADDRESS:PORT, e.g. \"198.18.1.2:51820\" or \"[2001:db8::1]:51820\" \
         (host names are not resolved)",
    );
    let text = fx.base().replace("\"198.18.1.2:51820\"", "\"198.18.1.2\"");
    assert_err(
        &fx,
        &text,
        "\"198.18.1.2\"",
        0,
        "listen = \"198.18.1.2\" has no port",
        "add the UDP port, e.g. \"198.18.1.2:51820\"",
    );
    let text = fx.base().replace("\"198.18.1.2:51820\"", "\"2001:db8::1\"");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.fix(), "add the UDP port, e.g. \"[2001:db8::1]:51820\"");
}

#[test]
fn listen_port_zero() {
    let fx = Fixture::new();
    let text = fx
        .base()
        .replace("\"198.18.1.2:51820\"", "\"198.18.1.2:0\"");
    assert_err(
        &fx,
        &text,
        "\"198.18.1.2:0\"",
        0,
        "listen = \"198.18.1.2:0\" has port 0",
        "use a fixed UDP port that the far side knows, e.g. \"198.18.1.2:51820\"",
    );
}

#[test]
fn listen_addresses_unique() {
    let fx = Fixture::new();
    let text = fx
        .base()
        .replace("\"198.18.2.2:51820\"", "\"198.18.1.2:51820\"");
    assert_err(
        &fx,
        &text,
        "\"198.18.1.2:51820\"",
        1,
        "endpoint \"az2\" listens on 198.18.1.2:51820, which clashes with endpoint \"az1\" \
         on 198.18.1.2:51820 (line 12)",
        "give each endpoint its own address or port",
    );
    // A wildcard covers every address of its family on that port.
    let text = fx
        .base()
        .replace("\"198.18.2.2:51820\"", "\"0.0.0.0:51820\"");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.what(),
        "endpoint \"az2\" listens on 0.0.0.0:51820, which clashes with endpoint \"az1\" \
         on 198.18.1.2:51820 (line 12)"
    );
    // Another port is fine.
    let text = fx
        .base()
        .replace("\"198.18.2.2:51820\"", "\"0.0.0.0:51821\"");
    assert!(fx.parse(&text).is_ok());
}

// ---- [[connection]] ----

#[test]
fn at_least_one_connection() {
    let fx = Fixture::new();
    let base = fx.base();
    let text = &base[..base.find("[[connection]]").unwrap()];
    let e = fx.parse(text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.toml:1:1: error: no [[connection]] is defined\n  fix: add a [[connection]] with \
         its [[connection.tunnel]] tables (see examples/static/vgw.toml)"
    );
}

#[test]
fn connection_name_charset() {
    let fx = Fixture::new();
    let text = fx.base().replace("\"office\"", "\"head office\"");
    assert_err(
        &fx,
        &text,
        "\"head office\"",
        0,
        "connection name \"head office\" is not valid: use 1 to 32 characters of A-Z, a-z, \
         0-9, `_` and `-`",
        "e.g. name = \"head-office\"",
    );
}

#[test]
fn connection_names_unique() {
    let fx = Fixture::new();
    let text = fx.base()
        + &SECOND
            .replace("FAR_KEY", &fx.far_pub)
            .replace("\"lab\"", "\"office\"");
    assert_err(
        &fx,
        &text,
        "\"office\"",
        1,
        "connection name \"office\" is already used at line 19",
        "give every connection a different name",
    );
}

#[test]
fn unknown_routing() {
    let fx = Fixture::new();
    let text = fx
        .base()
        .replace("routing = \"static\"", "routing = \"bgp\"");
    assert_err(
        &fx,
        &text,
        "\"bgp\"",
        0,
        "unknown routing \"bgp\"",
        "use routing = \"static\" (static routes, active/standby tunnels) or \
         routing = \"dynamic\" (BGP over both tunnels)",
    );
}

#[test]
fn static_route_network_form() {
    let fx = Fixture::new();
    for (bad, good) in [
        ("10.1.0.5/24", "10.1.0.0/24"),
        ("fd00:1::1/64", "fd00:1::/64"),
    ] {
        let value = format!("{bad:?}");
        let text = fx.base().replace("\"10.1.0.0/24\"", &value);
        assert_err(
            &fx,
            &text,
            &value,
            0,
            &format!("static route {value} has host bits set"),
            &format!("did you mean {good}?"),
        );
    }
}

#[test]
fn static_route_syntax() {
    let fx = Fixture::new();
    let text = fx.base().replace("\"10.1.0.0/24\"", "\"10.1.0.1\"");
    assert_err(
        &fx,
        &text,
        "\"10.1.0.1\"",
        0,
        "static route \"10.1.0.1\" has no prefix length",
        "write it as a prefix, e.g. \"10.1.0.1/32\" for this one address",
    );
    let text = fx.base().replace("\"10.1.0.0/24\"", "\"10.1.0.0/33\"");
    assert_err(
        &fx,
        &text,
        "\"10.1.0.0/33\"",
        0,
        "static route \"10.1.0.0/33\" is not an IPv4 or IPv6 prefix",
        "write it as ADDRESS/LENGTH, e.g. \"10.1.0.0/24\" or \"fd00:1::/64\"",
    );
}

#[test]
fn static_routes_unique_in_the_gateway() {
    let fx = Fixture::new();
    let second = SECOND
        .replace("FAR_KEY", &fx.far_pub)
        .replace("\"10.3.0.0/16\"", "\"fd00:1::/64\"");
    let text = fx.base() + &second;
    assert_err(
        &fx,
        &text,
        "\"fd00:1::/64\"",
        1,
        "static route fd00:1::/64 is already listed at line 21 (connection \"office\")",
        "list each prefix once in the whole gateway: remove one of them",
    );
    let text = fx.base().replace("\"fd00:1::/64\"", "\"10.1.0.0/24\"");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.location(),
        Some(Location {
            line: 21,
            column: 33
        })
    );
    // Overlapping but different prefixes are fine (longest prefix wins).
    let text = fx.base().replace("\"fd00:1::/64\"", "\"10.0.0.0/8\"");
    assert!(fx.parse(&text).is_ok());
}

#[test]
fn static_route_not_link_local() {
    let fx = Fixture::new();
    for (bad, range) in [
        ("169.254.10.0/30", "169.254.0.0/16"),
        ("169.254.0.0/16", "169.254.0.0/16"),
        ("fe80::/64", "fe80::/10"),
    ] {
        let value = format!("{bad:?}");
        let text = fx.base().replace("\"10.1.0.0/24\"", &value);
        assert_err(
            &fx,
            &text,
            &value,
            0,
            &format!(
                "static route {value} is inside the link-local range {range}, \
                 which holds the tunnels' inside addresses"
            ),
            "remove it: inside addresses are reached over their tunnel without a route",
        );
    }
    // Wider prefixes that contain 169.254.0.0/16 (a default route) are fine.
    for ok in ["0.0.0.0/0", "169.0.0.0/8", "::/0"] {
        let text = fx.base().replace("\"10.1.0.0/24\"", &format!("{ok:?}"));
        assert!(fx.parse(&text).is_ok(), "{ok}");
    }
}

#[test]
fn failback_hold_range() {
    let fx = Fixture::new();
    for bad in ["600001", "-1"] {
        let text = fx.base().replace(
            "routing = \"static\"",
            &format!("routing = \"static\"\nfailback_hold_ms = {bad}"),
        );
        assert_err_after(
            &fx,
            &text,
            "failback_hold_ms = ",
            0,
            19,
            &format!("failback_hold_ms = {bad} is out of range"),
            "use a value from 0 to 600000, or leave failback_hold_ms out for the default 3000",
        );
    }
}

fn with_liveness(fx: &Fixture, body: &str) -> String {
    replace_nth(
        &fx.base(),
        "[[connection.tunnel]]",
        &format!("[connection.liveness]\n{body}\n\n[[connection.tunnel]]"),
        0,
    )
}

#[test]
fn liveness_interval_range() {
    let fx = Fixture::new();
    for bad in ["9", "10001"] {
        let text = with_liveness(&fx, &format!("interval_ms = {bad}"));
        assert_err_after(
            &fx,
            &text,
            "interval_ms = ",
            0,
            14,
            &format!("interval_ms = {bad} is out of range"),
            "use a value from 10 to 10000, or leave interval_ms out for the default 200",
        );
    }
}

#[test]
fn liveness_multiplier_range() {
    let fx = Fixture::new();
    for bad in ["0", "51"] {
        let text = with_liveness(&fx, &format!("multiplier = {bad}"));
        assert_err_after(
            &fx,
            &text,
            "multiplier = ",
            0,
            13,
            &format!("multiplier = {bad} is out of range"),
            "use a value from 1 to 50, or leave multiplier out for the default 3",
        );
    }
}

#[test]
fn liveness_unknown_key() {
    let fx = Fixture::new();
    let text = with_liveness(&fx, "interval = 200");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.what(), "unknown key `interval`");
    assert_eq!(
        e.fix(),
        "remove `interval` or correct its spelling (expected one of `mode`, `interval_ms`, `multiplier`)"
    );
}

#[test]
fn connection_needs_a_tunnel() {
    let fx = Fixture::new();
    let base = fx.base();
    let text = &base[..base.find("[[connection.tunnel]]").unwrap()];
    assert_err(
        &fx,
        text,
        "\"office\"",
        0,
        "connection \"office\" has no tunnel",
        "add one or two [[connection.tunnel]] tables (AWS uses two, \
         to two different endpoints of the far side)",
    );
}

#[test]
fn connection_at_most_two_tunnels() {
    let fx = Fixture::new();
    let text = fx.base()
        + &format!(
            "\n[[connection.tunnel]]\nendpoint = \"az1\"\nremote = \"198.18.30.2:51820\"\n\
             remote_public_key = \"{}\"\ninside_cidr = \"169.254.12.0/30\"\n",
            fx.far_pub
        );
    assert_err(
        &fx,
        &text,
        "[[connection.tunnel]]",
        2,
        "connection \"office\" has 3 tunnels; a connection has at most 2",
        "remove the extra [[connection.tunnel]] tables, or put them in another [[connection]]",
    );
}

#[test]
fn liveness_modes() {
    let fx = Fixture::new();
    let cfg = fx.parse(&with_liveness(&fx, "mode = \"echo\"")).unwrap();
    assert_eq!(cfg.connections[0].liveness.mode, super::LivenessMode::Echo);
    let cfg = fx.parse(&fx.base()).unwrap();
    assert_eq!(cfg.connections[0].liveness.mode, super::LivenessMode::Bfd);
    let text = with_liveness(&fx, "mode = \"dpd\"");
    assert_err(
        &fx,
        &text,
        "\"dpd\"",
        0,
        "unknown liveness mode \"dpd\"",
        "use mode = \"bfd\" (BFD, for a sitelink or BIRD far side) or mode = \"echo\" (ICMP echo \
         to the far inside address, for a far side that does not speak BFD, such as wireguard-go \
         alone or GoBGP)",
    );
}

/// A static route over a far gateway's address or an endpoint's would send
/// the tunnels' own datagrams into the TUN device: refused at the route,
/// naming the address and whose it is. A default route is fine (the
/// gateway keeps its own datagrams off it).
#[test]
fn a_static_route_over_the_underlay_is_refused() {
    let fx = Fixture::new();
    let routes = "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]";
    for (route, ip, what) in [
        ("198.18.1.0/24", "198.18.1.2", "endpoint \"az1\""),
        (
            "198.18.10.0/24",
            "198.18.10.2",
            "connection \"office\"'s tunnel 169.254.10.0/30",
        ),
    ] {
        let text = replace_nth(
            &fx.base(),
            routes,
            &format!("static_routes = [\"10.1.0.0/24\", \"{route}\"]"),
            0,
        );
        assert_err(
            &fx,
            &text,
            &format!("\"{route}\""),
            0,
            &format!(
                "static route {route} holds {ip}, the underlay address of {what}: the tunnels' \
                 own datagrams would be routed into the tunnels"
            ),
            "route only the far site's prefixes, not the gateways' public addresses",
        );
    }
    let text = replace_nth(
        &fx.base(),
        routes,
        "static_routes = [\"10.1.0.0/24\", \"0.0.0.0/0\"]",
        0,
    );
    assert!(fx.parse(&text).is_ok(), "a default route is fine");
}
