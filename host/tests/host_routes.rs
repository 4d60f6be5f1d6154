//! The host's routing as an operator expects it around a gateway: kernel
//! routes are added beside the host's, never over them (a static route the
//! host already had stays the host's), a default route goes into the
//! gateway's own table behind policy rules (never into `main`, where it
//! would capture the gateway's own WireGuard traffic), and once the
//! gateway stops the host's routes and rules are exactly as they were
//! before it started. The gateway runs in a network namespace of the
//! test's own (root is needed), deleted at the end even when an assertion
//! fails.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// Everything routing-related the namespace's kernel holds, in one text.
fn routing(netns: &str) -> String {
    let mut all = String::new();
    for args in [
        &["-4", "route", "show", "table", "all"][..],
        &["-6", "route", "show", "table", "all"],
        &["-4", "rule", "show"],
        &["-6", "rule", "show"],
    ] {
        let mut full = vec!["ip"];
        full.extend_from_slice(args);
        let out = sh(netns, &full);
        all += &String::from_utf8_lossy(&out.stdout);
    }
    all
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn routes_are_added_beside_the_hosts_and_all_is_as_before_once_the_gateway_stops() {
    if not_root() {
        println!("skipped: needs root to run a gateway in a network namespace");
        return;
    }
    let mut scene = Scene::new("hrt");
    // The host's own: an uplink with a default route, and a route to a
    // network the gateway will also be told to route.
    // No duplicate address detection: a link-local address the kernel
    // adds after DAD would otherwise bring its local route in at any time.
    for cmd in [
        &["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"][..],
        &["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"],
        &[
            "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
        ],
        &["ip", "link", "set", "uplink0", "up"],
        &["ip", "link", "set", "uplink1", "up"],
        &["ip", "addr", "add", "192.0.2.2/24", "dev", "uplink0"],
        &["ip", "route", "add", "default", "via", "192.0.2.1"],
        &["ip", "route", "add", "10.77.0.0/24", "dev", "uplink0"],
    ] {
        let out = sh(&scene.netns, cmd);
        assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
    }
    // The link-local addresses are in (no DAD to wait for) before the
    // snapshot.
    wait_until(
        "the uplinks' link-local routes",
        Duration::from_secs(5),
        || routing(&scene.netns).matches("local fe80::").count() >= 2,
    );
    let before = routing(&scene.netns);

    let key = scene.key("gw.key", 0o600);
    let config = scene.config("gw", &key, "192.0.2.2:51820", "slhrt0");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text
        .replace("kernel_routes = false", "kernel_routes = true")
        .replace(
            r#"static_routes = ["10.77.0.0/24"]"#,
            r#"static_routes = ["10.77.0.0/24", "10.78.0.0/24", "0.0.0.0/0"]"#,
        );
    std::fs::write(&config, text).expect("config");
    let socket = scene.path("gw.sock");
    scene.start(&config, &socket);

    // The gateway's routes arrive beside the host's.
    let netns = scene.netns.clone();
    let show = |args: &[&str]| {
        let mut full = vec!["ip"];
        full.extend_from_slice(args);
        String::from_utf8_lossy(&sh(&netns, &full).stdout).into_owned()
    };
    wait_until(
        "10.78.0.0/24 on the TUN device",
        Duration::from_secs(10),
        || show(&["-4", "route", "show", "10.78.0.0/24"]).contains("slhrt0"),
    );
    wait_until(
        "the default route in the gateway's table",
        Duration::from_secs(10),
        || show(&["-4", "route", "show", "table", "21324"]).contains("default dev slhrt0"),
    );
    assert_eq!(
        show(&["-4", "route", "show", "10.77.0.0/24"]).trim(),
        "10.77.0.0/24 dev uplink0 scope link",
        "the host's route is not replaced"
    );
    assert_eq!(
        show(&["-4", "route", "show", "default"]).trim(),
        "default via 192.0.2.1 dev uplink0",
        "the host's default route stays the one in main"
    );
    let rules = show(&["-4", "rule", "show"]);
    assert!(rules.contains("lookup 21324"), "{rules}");

    // A clean stop: SIGTERM, as systemd sends.
    let child = scene.children.last_mut().expect("the gateway");
    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: kill has no memory preconditions; `pid` is our own child,
    // not yet reaped (we wait for it below), so it names that process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = routing(&scene.netns);
    assert_eq!(
        after, before,
        "the host's routing after the gateway stopped"
    );
    let ok = Command::new("ip")
        .args([
            "netns",
            "exec",
            &scene.netns,
            "ip",
            "link",
            "show",
            "slhrt0",
        ])
        .output()
        .expect("ip");
    assert!(!ok.status.success(), "the TUN device is gone");
}
