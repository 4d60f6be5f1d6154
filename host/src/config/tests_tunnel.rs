//! Tests of the configuration rules for `[[connection.tunnel]]`: endpoint
//! references, far-side addresses and keys, inside CIDRs (AWS rules) and
//! ambiguous tunnels, each asserting the full error text. Helpers are in
//! `tests`.

use super::tests::{assert_err, assert_err_after, replace_nth, Fixture, SECOND};
use crate::keys;

const T1: &str = "tunnel 1 of connection \"office\"";
const T2: &str = "tunnel 2 of connection \"office\"";

#[test]
fn tunnel_endpoint_must_exist() {
    let fx = Fixture::new();
    let text = replace_nth(&fx.base(), "endpoint = \"az1\"", "endpoint = \"az3\"", 0);
    assert_err(
        &fx,
        &text,
        "\"az3\"",
        0,
        &format!("{T1} uses endpoint \"az3\", which is not defined"),
        "use one of the [[endpoint]] names: \"az1\", \"az2\"",
    );
}

#[test]
fn tunnel_remote_syntax_and_port() {
    let fx = Fixture::new();
    let text = replace_nth(&fx.base(), "\"198.18.10.2:51820\"", "\"198.18.10.2:0\"", 0);
    assert_err(
        &fx,
        &text,
        "\"198.18.10.2:0\"",
        0,
        "remote = \"198.18.10.2:0\" has port 0",
        "use a fixed UDP port that the far side knows, e.g. \"198.18.10.2:51820\"",
    );
    // An IPv4 address written as IPv6: an IPv6 endpoint would never
    // reach it (it takes IPv6 only).
    let mapped = "\"[::ffff:198.18.10.2]:51820\"";
    let text = replace_nth(&fx.base(), "\"198.18.10.2:51820\"", mapped, 0);
    assert_err(
        &fx,
        &text,
        mapped,
        0,
        "remote = \"[::ffff:198.18.10.2]:51820\" is an IPv4 address written as IPv6 \
         (::ffff:198.18.10.2)",
        "write the IPv4 address itself, \"198.18.10.2:51820\"",
    );
    let text = replace_nth(&fx.base(), "\"198.18.10.2:51820\"", "\"vgw.example\"", 0);
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.what(),
        "remote = \"vgw.example\" is not an IP address and port"
    );
}

#[test]
fn tunnel_remote_not_unspecified() {
    let fx = Fixture::new();
    for (bad, shown) in [
        ("0.0.0.0:51820", "0.0.0.0:51820"),
        ("[::]:51820", "[::]:51820"),
    ] {
        let value = format!("{bad:?}");
        let text = replace_nth(&fx.base(), "\"198.18.10.2:51820\"", &value, 0);
        let text = text.replace("\"198.18.1.2:51820\"", "\"[::]:51820\"");
        // With a listen of [::], the value is the listen's too: take the last.
        let nth = text.matches(&value).count() - 1;
        assert_err(
            &fx,
            &text,
            &value,
            nth,
            &format!("remote = \"{shown}\" is the unspecified address"),
            "use the far gateway's public address and port, e.g. \"198.18.1.2:51820\"",
        );
    }
}

#[test]
fn tunnel_remote_family_matches_endpoint() {
    let fx = Fixture::new();
    let text = replace_nth(
        &fx.base(),
        "\"198.18.10.2:51820\"",
        "\"[2001:db8::2]:51820\"",
        0,
    );
    assert_err(
        &fx,
        &text,
        "\"[2001:db8::2]:51820\"",
        0,
        &format!(
            "{T1}: remote [2001:db8::2]:51820 is IPv6 but endpoint \"az1\" listens on IPv4 \
             (198.18.1.2:51820)"
        ),
        "use a remote of the endpoint's address family, or an endpoint that listens on that \
         family (e.g. listen = \"[::]:51820\"; an endpoint on [::] takes IPv6 only)",
    );
    // An endpoint on [::] takes IPv6 remotes; its socket is IPv6-only
    // (IPV6_V6ONLY), so an IPv4 remote there is refused too.
    let text = text.replace("\"198.18.1.2:51820\"", "\"[::]:51820\"");
    assert!(fx.parse(&text).is_ok());
    let text = replace_nth(&fx.base(), "\"198.18.1.2:51820\"", "\"[::]:51820\"", 0);
    assert_err(
        &fx,
        &text,
        "\"198.18.10.2:51820\"",
        0,
        &format!(
            "{T1}: remote 198.18.10.2:51820 is IPv4 but endpoint \"az1\" listens on IPv6 \
             ([::]:51820)"
        ),
        "use a remote of the endpoint's address family, or an endpoint that listens on that \
         family (e.g. listen = \"0.0.0.0:51820\"; an endpoint on [::] takes IPv6 only)",
    );
}

#[test]
fn tunnel_remote_key_malformed() {
    let fx = Fixture::new();
    let short = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([7u8; 31])
    };
    for (bad, what) in [
        (
            short.as_str(),
            "key decodes to 31 bytes; a WireGuard key is 32 bytes / 44 base64 characters",
        ),
        (
            "CGW_PUBLIC_KEY",
            "key is not valid base64 (a WireGuard key is 32 bytes / 44 base64 characters)",
        ),
        (
            "",
            "key decodes to 0 bytes; a WireGuard key is 32 bytes / 44 base64 characters",
        ),
    ] {
        let value = format!("{bad:?}");
        let text = replace_nth(&fx.base(), &format!("{:?}", fx.far_pub), &value, 0);
        assert_err(
            &fx,
            &text,
            &value,
            0,
            &format!("{T1}: remote_public_key: {what}"),
            "use the far gateway's public key, as printed by `sitelink pubkey` or `wg pubkey` \
             from its private key",
        );
    }
}

#[test]
fn tunnel_remote_key_not_own_key() {
    let fx = Fixture::new();
    let value = format!("{:?}", fx.own_pub);
    let text = replace_nth(&fx.base(), &format!("{:?}", fx.far_pub), &value, 1);
    assert_err(
        &fx,
        &text,
        &value,
        0,
        &format!("{T2}: remote_public_key is this gateway's own public key"),
        "use the far gateway's public key (the far side's `sitelink pubkey` or `wg pubkey`), \
         not this one's",
    );
}

#[test]
fn tunnel_remote_key_not_weak() {
    let fx = Fixture::new();
    // Points of small order: zero, u = 1, one of order 8, and p - 1.
    for weak in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=",
        "7P///////////////////////////////////////38=",
    ] {
        let value = format!("{weak:?}");
        let text = replace_nth(&fx.base(), &format!("{:?}", fx.far_pub), &value, 1);
        assert_err(
            &fx,
            &text,
            &value,
            0,
            &format!(
                "{T2}: remote_public_key is a weak key (a point of small order: every shared \
                 secret with it is zero, so no handshake can succeed)"
            ),
            "use the far gateway's real public key (the far side's `sitelink pubkey` or `wg \
             pubkey`); an all-zero or placeholder key is not one",
        );
    }
}

fn inside(fx: &Fixture, value: &str) -> String {
    replace_nth(&fx.base(), "\"169.254.10.0/30\"", value, 0)
}

const EXAMPLE: &str = "e.g. \"169.254.10.0/30\"";

#[test]
fn inside_cidr_must_be_ipv4_prefix() {
    let fx = Fixture::new();
    for bad in ["\"fd00::/126\"", "\"169.254.10.0\"", "\"tunnel-a\""] {
        assert_err(
            &fx,
            &inside(&fx, bad),
            bad,
            0,
            &format!("inside_cidr {bad} is not an IPv4 prefix"),
            &format!("use an IPv4 /30 from 169.254.0.0/16, {EXAMPLE}"),
        );
    }
}

#[test]
fn inside_cidr_must_be_slash_30() {
    let fx = Fixture::new();
    let bad = "\"169.254.10.0/29\"";
    assert_err(
        &fx,
        &inside(&fx, bad),
        bad,
        0,
        &format!("inside_cidr {bad} is a /29; a tunnel's inside CIDR is a /30"),
        &format!("use a /30 from 169.254.0.0/16, {EXAMPLE}"),
    );
}

#[test]
fn inside_cidr_must_be_link_local() {
    let fx = Fixture::new();
    let bad = "\"10.0.0.0/30\"";
    assert_err(
        &fx,
        &inside(&fx, bad),
        bad,
        0,
        &format!("inside_cidr {bad} is outside 169.254.0.0/16"),
        &format!("use a /30 from 169.254.0.0/16 (as AWS requires), {EXAMPLE}"),
    );
}

#[test]
fn inside_cidr_network_form() {
    let fx = Fixture::new();
    let bad = "\"169.254.10.1/30\"";
    assert_err(
        &fx,
        &inside(&fx, bad),
        bad,
        0,
        &format!("inside_cidr {bad} has host bits set"),
        "did you mean 169.254.10.0/30?",
    );
}

#[test]
fn inside_cidr_not_reserved() {
    let fx = Fixture::new();
    for net in [
        "169.254.0.0/30",
        "169.254.1.0/30",
        "169.254.2.0/30",
        "169.254.3.0/30",
        "169.254.4.0/30",
        "169.254.5.0/30",
        "169.254.169.252/30",
    ] {
        let bad = format!("{net:?}");
        assert_err(
            &fx,
            &inside(&fx, &bad),
            &bad,
            0,
            &format!(
                "inside_cidr {bad} is reserved (169.254.0.0/30 to 169.254.5.0/30 \
                 and 169.254.169.252/30 are reserved, as in AWS)"
            ),
            &format!("pick another /30 from 169.254.0.0/16, {EXAMPLE}"),
        );
    }
    // Next to a reserved one is fine.
    assert!(fx.parse(&inside(&fx, "\"169.254.6.0/30\"")).is_ok());
    assert!(fx.parse(&inside(&fx, "\"169.254.169.248/30\"")).is_ok());
}

#[test]
fn inside_cidr_unique_in_the_gateway() {
    let fx = Fixture::new();
    let text = fx
        .base()
        .replace("\"169.254.11.0/30\"", "\"169.254.10.0/30\"");
    assert_err(
        &fx,
        &text,
        "\"169.254.10.0/30\"",
        1,
        &format!("{T2}: inside_cidr 169.254.10.0/30 overlaps 169.254.10.0/30 of {T1} (line 27)"),
        "give every tunnel of the gateway its own /30 from 169.254.0.0/16",
    );
    // Across connections too.
    let second = SECOND
        .replace("FAR_KEY", &fx.far_pub)
        .replace("\"169.254.12.0/30\"", "\"169.254.11.0/30\"");
    let text = fx.base() + &second;
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.what(),
        format!(
            "tunnel 1 of connection \"lab\": inside_cidr 169.254.11.0/30 overlaps \
             169.254.11.0/30 of {T2} (line 33)"
        )
    );
}

#[test]
fn ambiguous_tunnels_refused() {
    let fx = Fixture::new();
    let text = replace_nth(&fx.base(), "endpoint = \"az2\"", "endpoint = \"az1\"", 0);
    assert_err(
        &fx,
        &text,
        "\"198.18.10.2:51820\"",
        1,
        &format!(
            "{T2} has the same endpoint, remote and remote_public_key as {T1} (line 25): \
             their packets could not be told apart"
        ),
        "give the two tunnels different endpoints, remote addresses or far-side keys",
    );
    // A different far-side key on the same endpoint and remote is fine.
    let other = keys::encode_key(&keys::public_key_of(&keys::generate_private_key().unwrap()));
    let text = replace_nth(&text, &fx.far_pub, &other, 1);
    assert!(fx.parse(&text).is_ok());
}

/// The base config with `inside_ipv6_cidr = VALUE` on tunnel `n` (0-based).
fn inside_v6(text: &str, n: usize, value: &str) -> String {
    let cidr = ["\"169.254.10.0/30\"", "\"169.254.11.0/30\""][n];
    replace_nth(
        text,
        cidr,
        &format!("{cidr}\ninside_ipv6_cidr = {value}"),
        0,
    )
}

const EXAMPLE_V6: &str = "e.g. \"fd00:0:0:10::/126\"";

#[test]
fn inside_ipv6_cidr_gives_the_vgw_the_first_address_and_the_cgw_the_second() {
    let fx = Fixture::new();
    let text = inside_v6(&fx.base(), 0, "\"fd00:0:0:10::/126\"");
    let c = fx.parse(&text).unwrap();
    let t = &c.connections[0].tunnels;
    let v6 = t[0].inside_ipv6.expect("tunnel 1 has an IPv6 inside CIDR");
    assert_eq!(v6.cidr.to_string(), "fd00:0:0:10::/126");
    assert_eq!(v6.local.to_string(), "fd00:0:0:10::1");
    assert_eq!(v6.remote.to_string(), "fd00:0:0:10::2");
    assert_eq!(t[1].inside_ipv6, None, "tunnel 2 has none");
    let cgw = fx
        .parse(&text.replace("role = \"vgw\"", "role = \"cgw\""))
        .unwrap();
    let v6 = cgw.connections[0].tunnels[0].inside_ipv6.unwrap();
    assert_eq!(v6.local.to_string(), "fd00:0:0:10::2");
    assert_eq!(v6.remote.to_string(), "fd00:0:0:10::1");
}

#[test]
fn inside_ipv6_cidr_must_be_an_ipv6_slash_126_of_fd00_in_network_form() {
    let fx = Fixture::new();
    let cases = [
        (
            "\"169.254.10.0/30\"",
            "is not an IPv6 prefix".to_string(),
            format!("use an IPv6 /126 from fd00::/8, {EXAMPLE_V6}"),
        ),
        (
            "\"fd00:0:0:10::/64\"",
            "is a /64; a tunnel's IPv6 inside CIDR is a /126".to_string(),
            format!("use a /126 from fd00::/8, {EXAMPLE_V6}"),
        ),
        (
            "\"2001:db8::/126\"",
            "is outside fd00::/8".to_string(),
            format!("use a /126 from fd00::/8 (as AWS requires), {EXAMPLE_V6}"),
        ),
        (
            "\"fd00:0:0:10::1/126\"",
            "has host bits set".to_string(),
            "did you mean fd00:0:0:10::/126?".to_string(),
        ),
    ];
    for (bad, what, fix) in cases {
        assert_err_after(
            &fx,
            &inside_v6(&fx.base(), 0, bad),
            &format!("inside_ipv6_cidr = {bad}"),
            0,
            "inside_ipv6_cidr = ".len(),
            &format!("inside_ipv6_cidr {bad} {what}"),
            &fix,
        );
    }
}

#[test]
fn inside_ipv6_cidr_unique_in_the_gateway() {
    let fx = Fixture::new();
    let text = inside_v6(&fx.base(), 0, "\"fd00:0:0:10::/126\"");
    let text = inside_v6(&text, 1, "\"fd00:0:0:10::/126\"");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.what(),
        format!(
            "{T2}: inside_ipv6_cidr fd00:0:0:10::/126 overlaps fd00:0:0:10::/126 of {T1} (line 28)"
        )
    );
    assert_eq!(
        e.fix(),
        "give every tunnel of the gateway its own /126 from fd00::/8"
    );
}
