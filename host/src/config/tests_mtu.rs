//! Tests of `[tun] mtu` against the endpoints' uplinks (`[[endpoint]] mtu`):
//! the range, the default that fits every endpoint's family, and the check
//! that the TUN MTU plus the outer headers (60 bytes over IPv4, 80 over
//! IPv6) fits each uplink, each asserting the full error text. Helpers are
//! in `tests`.

use super::tests::{assert_err, Fixture};

/// The base text with both endpoints (and the tunnels' remotes) on IPv6.
fn over_ipv6(fx: &Fixture) -> String {
    fx.base()
        .replace("\"198.18.1.2:51820\"", "\"[2001:db8:1::2]:51820\"")
        .replace("\"198.18.2.2:51820\"", "\"[2001:db8:2::2]:51820\"")
        .replace("\"198.18.10.2:51820\"", "\"[2001:db8:10::2]:51820\"")
}

/// Adds `mtu = N` to the endpoint listening on `listen`.
fn uplink(text: &str, listen: &str, mtu: &str) -> String {
    let line = format!("listen = \"{listen}\"\n");
    text.replace(&line, &format!("{line}mtu = {mtu}\n"))
}

#[test]
fn mtu_range() {
    let fx = Fixture::new();
    for bad in ["1279", "9001", "-1"] {
        let text = fx.base().replace("mtu = 1420", &format!("mtu = {bad}"));
        assert_err(
            &fx,
            &text,
            bad,
            0,
            &format!("mtu = {bad} is out of range"),
            "use a value from 1280 to 9000, or leave mtu out for the default 1440",
        );
    }
    let text = uplink(&fx.base(), "198.18.1.2:51820", "9000");
    let text = uplink(&text, "198.18.2.2:51820", "9060").replace("mtu = 1420", "mtu = 8940");
    assert_eq!(fx.parse(&text).unwrap().tun.mtu, 8940);
}

#[test]
fn the_default_fits_the_endpoints_family() {
    let fx = Fixture::new();
    let v6 = over_ipv6(&fx).replace("mtu = 1420\n", "");
    let c = fx.parse(&v6).unwrap();
    assert_eq!(c.tun.mtu, 1420, "1500 less 80 bytes of IPv6 outer headers");
    // One jumbo uplink does not raise it past the other's.
    let text = uplink(&v6, "[2001:db8:1::2]:51820", "9000");
    assert_eq!(fx.parse(&text).unwrap().tun.mtu, 1420);
    let text = uplink(&text, "[2001:db8:2::2]:51820", "9000");
    assert_eq!(fx.parse(&text).unwrap().tun.mtu, 8920);
    // PPPoE under IPv4.
    let text = uplink(&fx.base(), "198.18.2.2:51820", "1492").replace("mtu = 1420\n", "");
    assert_eq!(fx.parse(&text).unwrap().tun.mtu, 1432);
}

#[test]
fn a_tun_mtu_too_big_for_an_ipv6_uplink_is_refused() {
    let fx = Fixture::new();
    let ok = over_ipv6(&fx);
    assert_eq!(
        fx.parse(&ok).unwrap().tun.mtu,
        1420,
        "1420 + 80 = 1500 fits"
    );
    // 1440 fits IPv4 (1500) but not IPv6 (1520).
    assert_eq!(
        fx.parse(&fx.base().replace("mtu = 1420", "mtu = 1440"))
            .unwrap()
            .tun
            .mtu,
        1440
    );
    let text = ok.replace("mtu = 1420", "mtu = 1440");
    assert_err(
        &fx,
        &text,
        "1440",
        0,
        "mtu = 1440 does not fit endpoint \"az1\" (line 12): 1440 + 80 bytes of IPv6 outer \
         headers (40 IP, 8 UDP, 32 WireGuard) = 1520, over its uplink MTU of 1500; full-size \
         packets would be fragmented or lost",
        "use mtu = 1420 or less (or leave mtu out: the default fits every endpoint), or set mtu \
         in that [[endpoint]] to its uplink's MTU if it carries more than 1500",
    );
    let text = fx.base().replace("mtu = 1420", "mtu = 1441");
    let e = fx.parse(&text).unwrap_err();
    assert!(
        e.what()
            .contains("1441 + 60 bytes of IPv4 outer headers (20 IP, 8 UDP, 32 WireGuard) = 1501"),
        "{e}"
    );
    // An uplink that carries more (jumbo frames) takes it.
    let text = uplink(&text, "198.18.1.2:51820", "9000");
    let text = uplink(&text, "198.18.2.2:51820", "1501");
    assert_eq!(fx.parse(&text).unwrap().tun.mtu, 1441);
}

#[test]
fn an_uplink_too_small_for_a_tunnel_is_refused() {
    let fx = Fixture::new();
    let text = uplink(&over_ipv6(&fx), "[2001:db8:2::2]:51820", "1300");
    assert_err(
        &fx,
        &text,
        "1300",
        0,
        "endpoint \"az2\"'s uplink MTU of 1300 leaves 1220 bytes for the tunnels under 80 bytes \
         of IPv6 outer headers, less than the 1280 a tunnel must carry",
        "give the endpoint an uplink of at least 1360 bytes (mtu = 1360)",
    );
    let text = uplink(&fx.base(), "198.18.1.2:51820", "70000");
    assert_err(
        &fx,
        &text,
        "70000",
        0,
        "mtu = 70000 is out of range",
        "use a value from 1280 to 65535, or leave mtu out for the default 1500",
    );
}

#[test]
fn each_tunnel_clamps_to_what_its_path_carries() {
    let fx = Fixture::new();
    let c = fx
        .parse(&over_ipv6(&fx).replace("mtu = 1420\n", ""))
        .unwrap();
    let specs = crate::driver::tunnel_specs(&c, 0);
    assert_eq!(
        specs.iter().map(|s| s.mtu).collect::<Vec<_>>(),
        [1420, 1420]
    );
    let c = fx.parse(&fx.base()).unwrap();
    let specs = crate::driver::tunnel_specs(&c, 0);
    assert_eq!(
        specs.iter().map(|s| s.mtu).collect::<Vec<_>>(),
        [1420, 1420]
    );
    // The TUN's 1440 over an IPv4 uplink of 1500 and a jumbo one.
    let text = uplink(&fx.base(), "198.18.2.2:51820", "9000").replace("mtu = 1420\n", "");
    let c = fx.parse(&text).unwrap();
    let specs = crate::driver::tunnel_specs(&c, 0);
    assert_eq!(
        specs.iter().map(|s| s.mtu).collect::<Vec<_>>(),
        [1440, 1440]
    );
}

#[test]
fn the_ipv6_underlay_examples_get_1420() {
    let fx = Fixture::new();
    for (text, far) in [
        (
            include_str!("../../../examples/ipv6-underlay/static/vgw.toml"),
            "CGW_PUBLIC_KEY",
        ),
        (
            include_str!("../../../examples/ipv6-underlay/static/cgw.toml"),
            "VGW_PUBLIC_KEY",
        ),
        (
            include_str!("../../../examples/ipv6-underlay/dynamic/vgw.toml"),
            "CGW_PUBLIC_KEY",
        ),
        (
            include_str!("../../../examples/ipv6-underlay/dynamic/cgw.toml"),
            "VGW_PUBLIC_KEY",
        ),
    ] {
        let text = text
            .replace(far, &fx.far_pub)
            .replace("\"vgw.key\"", "\"gw.key\"")
            .replace("\"cgw.key\"", "\"gw.key\"");
        let c = fx.parse(&text).unwrap();
        assert_eq!(c.tun.mtu, 1420, "{}", c.name);
        assert!(c.endpoints.iter().all(|e| e.listen.is_ipv6()));
        let remotes = c.connections.iter().flat_map(|c| &c.tunnels);
        assert!(remotes.clone().all(|t| t.remote.is_ipv6()));
    }
}
