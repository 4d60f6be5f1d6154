//! Tests of the configuration module: the two example files, and one test per
//! rule asserting the full error text (location, what, fix). They only write
//! key files under a unique directory of the system temp dir and touch nothing
//! else.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::keys;

pub(crate) const SOURCE: &str = "test.toml";

/// A temp dir holding `gw.key` (0600), this gateway's and a far gateway's
/// public keys.
pub(crate) struct Fixture {
    pub dir: PathBuf,
    pub own_pub: String,
    pub far_pub: String,
}

impl Fixture {
    pub fn new() -> Fixture {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sitelink-config-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let own = keys::generate_private_key().unwrap();
        write_key(&dir.join("gw.key"), &keys::encode_key(&own), 0o600);
        let far = keys::generate_private_key().unwrap();
        Fixture {
            dir,
            own_pub: keys::encode_key(&keys::public_key_of(&own)),
            far_pub: keys::encode_key(&keys::public_key_of(&far)),
        }
    }

    pub fn parse(&self, text: &str) -> Result<GatewayConfig, ConfigError> {
        parse(text, Path::new(SOURCE), &self.dir)
    }

    /// The standard valid VGW text, with the far key filled in.
    pub fn base(&self) -> String {
        BASE.replace("FAR_KEY", &self.far_pub)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn write_key(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub(super) const BASE: &str = r#"[gateway]
name = "vgw"
role = "vgw"
private_key_file = "gw.key"

[tun]
name = "sl-vgw"
mtu = 1420

[[endpoint]]
name = "az1"
listen = "198.18.1.2:51820"

[[endpoint]]
name = "az2"
listen = "198.18.2.2:51820"

[[connection]]
name = "office"
routing = "static"
static_routes = ["10.1.0.0/24", "fd00:1::/64"]

[[connection.tunnel]]
endpoint = "az1"
remote = "198.18.10.2:51820"
remote_public_key = "FAR_KEY"
inside_cidr = "169.254.10.0/30"

[[connection.tunnel]]
endpoint = "az2"
remote = "198.18.10.2:51820"
remote_public_key = "FAR_KEY"
inside_cidr = "169.254.11.0/30"
"#;

/// A second connection to append to `BASE`.
pub(super) const SECOND: &str = r#"
[[connection]]
name = "lab"
routing = "static"
static_routes = ["10.3.0.0/16"]

[[connection.tunnel]]
endpoint = "az1"
remote = "198.18.20.2:51820"
remote_public_key = "FAR_KEY"
inside_cidr = "169.254.12.0/30"
"#;

/// Replaces the `nth` (0-based) occurrence of `from`.
pub(crate) fn replace_nth(text: &str, from: &str, to: &str, nth: usize) -> String {
    let (i, _) = text
        .match_indices(from)
        .nth(nth)
        .unwrap_or_else(|| panic!("{from:?} #{nth} not in text"));
    format!("{}{}{}", &text[..i], to, &text[i + from.len()..])
}

/// Byte offset of the `nth` occurrence of `needle`.
fn offset(text: &str, needle: &str, nth: usize) -> usize {
    text.match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in text"))
        .0
}

/// 1-based line:column of a byte offset (ASCII text).
fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |j| j + 1) + 1;
    format!("{line}:{col}")
}

/// Asserts that `text` fails with exactly this error at the `nth`
/// occurrence of `needle`.
pub(super) fn assert_err(
    fx: &Fixture,
    text: &str,
    needle: &str,
    nth: usize,
    what: &str,
    fix: &str,
) {
    assert_err_after(fx, text, needle, nth, 0, what, fix)
}

/// As [`assert_err`], with the error `skip` bytes after the needle's start
/// (to point at a value by the key before it: `("mtu = ", 6)`).
pub(super) fn assert_err_after(
    fx: &Fixture,
    text: &str,
    needle: &str,
    nth: usize,
    skip: usize,
    what: &str,
    fix: &str,
) {
    let e = fx.parse(text).expect_err("must be refused");
    let at = line_col(text, offset(text, needle, nth) + skip);
    let expected = format!("{SOURCE}:{at}: error: {what}\n  fix: {fix}");
    assert_eq!(e.to_string(), expected);
    assert_eq!(e.what(), what);
    assert_eq!(e.fix(), fix);
}

// ---- the examples and the resolved model ----

#[test]
fn example_vgw_parses() {
    let fx = Fixture::new();
    let text = include_str!("../../../examples/static/vgw.toml")
        .replace("CGW_PUBLIC_KEY", &fx.far_pub)
        .replace("\"vgw.key\"", "\"gw.key\"");
    let c = fx.parse(&text).unwrap();
    assert_eq!(c.name, "vgw");
    assert_eq!(c.role, Role::Vgw);
    assert_eq!(keys::encode_key(c.public_key.as_bytes()), fx.own_pub);
    assert_eq!(c.admin_socket, PathBuf::from("/run/sitelink/vgw.sock"));
    assert_eq!((c.tun.name.as_str(), c.tun.mtu), ("sl-vgw", 1420));
    assert_eq!(c.endpoints.len(), 2);
    assert_eq!(c.endpoints[1].listen, "198.18.2.2:51820".parse().unwrap());
    assert!(c.route_table.propagation && c.route_table.kernel_routes);
    let conn = &c.connections[0];
    assert_eq!(conn.name, "office");
    assert_eq!(conn.routing, Routing::Static);
    assert_eq!(
        conn.static_routes,
        vec![
            "10.1.0.0/24".parse().unwrap(),
            "fd00:1::/64".parse().unwrap()
        ]
    );
    assert_eq!(conn.failback_hold, Duration::from_millis(3000));
    assert_eq!(conn.liveness.interval, Duration::from_millis(200));
    assert_eq!(conn.liveness.multiplier, 3);
    let t = &conn.tunnels;
    assert_eq!((t[0].endpoint, t[1].endpoint), (0, 1));
    assert_eq!(t[0].inside_local, Ipv4Addr::new(169, 254, 10, 1));
    assert_eq!(t[0].inside_remote, Ipv4Addr::new(169, 254, 10, 2));
    assert_eq!(t[1].inside_cidr, "169.254.11.0/30".parse().unwrap());
    assert_eq!(
        keys::encode_key(t[0].remote_public_key.as_bytes()),
        fx.far_pub
    );
    assert_eq!(c.source, PathBuf::from(SOURCE));
    // The private key is never shown.
    assert!(format!("{c:?}").contains("<redacted>"));
}

#[test]
fn example_cgw_parses() {
    let fx = Fixture::new();
    let text = include_str!("../../../examples/static/cgw.toml")
        .replace("VGW_PUBLIC_KEY", &fx.far_pub)
        .replace("\"cgw.key\"", "\"gw.key\"");
    let c = fx.parse(&text).unwrap();
    assert_eq!(c.role, Role::Cgw);
    let t = &c.connections[0].tunnels;
    assert_eq!((t[0].endpoint, t[1].endpoint), (0, 0));
    assert_eq!(t[0].inside_local, Ipv4Addr::new(169, 254, 10, 2));
    assert_eq!(t[0].inside_remote, Ipv4Addr::new(169, 254, 10, 1));
    assert_eq!(t[1].inside_local, Ipv4Addr::new(169, 254, 11, 2));
    assert_eq!(c.connections[0].failback_hold, Duration::from_millis(3000));
}

#[test]
fn load_resolves_paths_relative_to_the_file() {
    let fx = Fixture::new();
    let text = fx.base().replace(
        "private_key_file = \"gw.key\"",
        "private_key_file = \"gw.key\"\nadmin_socket = \"run/a.sock\"",
    );
    let path = fx.dir.join("vgw.toml");
    std::fs::write(&path, text).unwrap();
    let c = load(&path).unwrap();
    assert_eq!(c.admin_socket, fx.dir.join("run/a.sock"));
    assert_eq!(c.source, path);
}

#[test]
fn load_missing_file() {
    let fx = Fixture::new();
    let path = fx.dir.join("nope.toml");
    let e = load(&path).unwrap_err();
    assert_eq!(e.location(), None);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: error: cannot read the configuration file: No such file or directory (os error 2)\n  \
             fix: check the path given with -c (examples are in examples/static/)",
            path.display()
        )
    );
}

#[test]
fn defaults_when_omitted() {
    let fx = Fixture::new();
    let text = fx.base().replace("mtu = 1420\n", "");
    let c = fx.parse(&text).unwrap();
    assert_eq!(c.tun.mtu, 1440, "1500 less 60 bytes of IPv4 outer headers");
    assert_eq!(c.endpoints[0].uplink_mtu, 1500);
    assert!(c.tun.offload, "TUN offloads are on unless turned off");
    let text = fx
        .base()
        .replace("mtu = 1420\n", "mtu = 1420\noffload = false\n");
    assert!(!fx.parse(&text).unwrap().tun.offload);
    let text = fx
        .base()
        .replace("mtu = 1420\n", "mtu = 1420\noffload = \"yes\"\n");
    let e = fx.parse(&text).unwrap_err();
    assert!(e.what().contains("expected a boolean"), "{e}");
    let text = fx.base() + "\n[route_table]\npropagation = false\nkernel_routes = false\n";
    // [route_table] after [[connection.tunnel]] is still the top-level table.
    let c = fx.parse(&text).unwrap();
    assert!(!c.route_table.propagation && !c.route_table.kernel_routes);
    let text = replace_nth(
        &fx.base(),
        "static_routes",
        "failback_hold_ms = 0\nstatic_routes",
        0,
    )
    .replace(
        "[[connection.tunnel]]\nendpoint = \"az1\"",
        "[connection.liveness]\ninterval_ms = 10\nmultiplier = 50\n\n[[connection.tunnel]]\nendpoint = \"az1\"",
    );
    let c = fx.parse(&text).unwrap();
    let conn = &c.connections[0];
    assert_eq!(conn.failback_hold, Duration::ZERO);
    assert_eq!(conn.liveness.interval, Duration::from_millis(10));
    assert_eq!(conn.liveness.multiplier, 50);
}

#[test]
fn one_tunnel_is_allowed() {
    let fx = Fixture::new();
    let base = fx.base();
    let cut = base.rfind("[[connection.tunnel]]").unwrap();
    let c = fx.parse(&base[..cut]).unwrap();
    assert_eq!(c.connections[0].tunnels.len(), 1);
}

#[test]
fn two_connections_are_allowed() {
    let fx = Fixture::new();
    let text = fx.base() + &SECOND.replace("FAR_KEY", &fx.far_pub);
    let c = fx.parse(&text).unwrap();
    assert_eq!(c.connections.len(), 2);
    assert_eq!(c.connections[1].tunnels[0].endpoint, 0);
}

// ---- TOML's own errors ----

#[test]
fn toml_syntax_error() {
    let fx = Fixture::new();
    let text = fx.base().replace("[tun]", "[tun");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.location(), Some(Location { line: 6, column: 5 }));
    assert!(
        e.what().starts_with("invalid TOML: invalid table header"),
        "{e}"
    );
    assert_eq!(
        e.fix(),
        "correct the TOML syntax here (see https://toml.io/en/v1.0.0)"
    );
}

#[test]
fn unknown_key_names_it_and_the_expected_ones() {
    let fx = Fixture::new();
    let text = fx.base().replace("mtu = 1420", "mtu = 1420\nmut = 1");
    assert_err(
        &fx,
        &text,
        "mut = 1",
        0,
        "unknown key `mut`",
        "remove `mut` or correct its spelling (expected one of `name`, `mtu`, `offload`)",
    );
}

#[test]
fn missing_key() {
    let fx = Fixture::new();
    let text = fx.base().replace("role = \"vgw\"\n", "");
    assert_err(
        &fx,
        &text,
        "[gateway]",
        0,
        "missing key `role` in this table",
        "add `role = ...` to it (see examples/static/*.toml)",
    );
}

#[test]
fn wrong_type() {
    let fx = Fixture::new();
    let text = fx.base().replace("mtu = 1420", "mtu = \"1420\"");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.location(), Some(Location { line: 8, column: 7 }));
    assert!(
        e.what()
            .starts_with("invalid type: string \"1420\", expected i64"),
        "{e}"
    );
    assert!(e
        .fix()
        .starts_with("write the value with the expected type"));
}

// ---- [gateway] ----

#[test]
fn gateway_name_charset() {
    let fx = Fixture::new();
    let text = fx.base().replace("name = \"vgw\"", "name = \"my gw!\"");
    assert_err(
        &fx,
        &text,
        "\"my gw!\"",
        0,
        "gateway name \"my gw!\" is not valid: use 1 to 32 characters of A-Z, a-z, 0-9, `_` and `-`",
        "e.g. name = \"my-gw-\"",
    );
    let long = "x".repeat(33);
    let text = fx
        .base()
        .replace("name = \"vgw\"", &format!("name = \"{long}\""));
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.fix(), format!("e.g. name = \"{}\"", "x".repeat(32)));
    let text = fx.base().replace("name = \"vgw\"", "name = \"\"");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.fix(), "e.g. name = \"vgw\"");
}

#[test]
fn role_must_be_vgw_or_cgw() {
    let fx = Fixture::new();
    let text = fx.base().replace("role = \"vgw\"", "role = \"aws\"");
    assert_err(
        &fx,
        &text,
        "\"aws\"",
        0,
        "unknown role \"aws\"",
        "use role = \"vgw\" (the AWS side: takes .1 of each tunnel's inside /30) \
         or role = \"cgw\" (the customer side: .2)",
    );
}

#[test]
fn private_key_file_empty() {
    let fx = Fixture::new();
    let text = fx.base().replace("\"gw.key\"", "\"\"");
    assert_err(
        &fx,
        &text,
        "\"\"",
        0,
        "private_key_file is empty",
        "give a path, e.g. private_key_file = \"vgw.key\"",
    );
}

#[test]
fn private_key_file_missing() {
    let fx = Fixture::new();
    let text = fx.base().replace("\"gw.key\"", "\"other.key\"");
    let p = fx.dir.join("other.key");
    let p = p.display();
    assert_err(
        &fx,
        &text,
        "\"other.key\"",
        0,
        &format!("key file {p} does not exist"),
        &format!("create it with `sitelink genkey > {p} && chmod 600 {p}`"),
    );
}

#[test]
fn private_key_file_open_to_others() {
    let fx = Fixture::new();
    let p = fx.dir.join("open.key");
    write_key(&p, &fx.far_pub, 0o644);
    let text = fx.base().replace("\"gw.key\"", "\"open.key\"");
    let p = p.display();
    assert_err(
        &fx,
        &text,
        "\"open.key\"",
        0,
        &format!("key file {p} is accessible by group or others (mode 0644)"),
        &format!("chmod 600 {p}"),
    );
}

#[test]
fn private_key_file_malformed() {
    let fx = Fixture::new();
    let p = fx.dir.join("bad.key");
    write_key(&p, "hello", 0o600);
    let value = format!("\"{}\"", p.display());
    let text = fx.base().replace("\"gw.key\"", &value);
    let p = p.display();
    assert_err(
        &fx,
        &text,
        &value,
        0,
        &format!(
            "key file {p} does not hold a valid key: key is not valid base64 \
             (a WireGuard key is 32 bytes / 44 base64 characters)"
        ),
        &format!("write one key into it, e.g. `sitelink genkey > {p} && chmod 600 {p}`"),
    );
    // The file's contents are not echoed.
    assert!(!fx.parse(&text).unwrap_err().to_string().contains("hello"));
}

#[test]
fn admin_socket_too_long() {
    let fx = Fixture::new();
    let long = format!("/run/{}.sock", "s".repeat(100));
    let text = fx.base().replace(
        "private_key_file = \"gw.key\"",
        &format!("private_key_file = \"gw.key\"\nadmin_socket = \"{long}\""),
    );
    assert_err(
        &fx,
        &text,
        &format!("\"{long}\""),
        0,
        "admin_socket path is 110 bytes long; a Unix socket path holds at most 107",
        "use a shorter path, e.g. admin_socket = \"/run/sitelink/vgw.sock\"",
    );
}

// ---- [tun] ----

#[test]
fn tun_name_rules() {
    let fx = Fixture::new();
    let what = |n: &str| {
        format!(
            "TUN name {n:?} is not valid: an interface name is 1 to 15 bytes, \
             without `/`, `:`, spaces or control characters, and not \".\" or \"..\""
        )
    };
    for (bad, suggestion) in [
        ("sl/vgw", "sl-vgw"),
        ("sl vgw", "sl-vgw"),
        ("a-very-long-name", "a-very-long-nam"),
        (".", "sl0"),
        ("..", "sl0"),
        ("", "sl0"),
    ] {
        let value = format!("{bad:?}");
        let text = fx.base().replace("\"sl-vgw\"", &value);
        assert_err(
            &fx,
            &text,
            &value,
            0,
            &what(bad),
            &format!("e.g. name = {suggestion:?}"),
        );
    }
    // 15 bytes is the limit and is fine.
    let text = fx.base().replace("\"sl-vgw\"", "\"abcdefghijklmno\"");
    assert_eq!(fx.parse(&text).unwrap().tun.name, "abcdefghijklmno");
}

#[test]
fn missing_table() {
    let fx = Fixture::new();
    let text = fx
        .base()
        .replace("[tun]\nname = \"sl-vgw\"\nmtu = 1420\n", "");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.toml:1:1: error: missing table [tun]\n  \
         fix: add a [tun] table (see examples/static/vgw.toml)"
    );
}

#[test]
fn unquoted_string() {
    let fx = Fixture::new();
    let text = fx.base().replace("role = \"vgw\"", "role = vgw");
    let e = fx.parse(&text).unwrap_err();
    assert_eq!(e.location(), Some(Location { line: 3, column: 8 }));
    assert!(e.what().starts_with("invalid TOML: invalid string"), "{e}");
    assert_eq!(
        e.fix(),
        "put text values in double quotes, e.g. role = \"vgw\""
    );
}
