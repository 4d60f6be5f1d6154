//! Proves the lab itself, without gateways: the static topology's plumbing
//! over either underlay (both VGW endpoints reachable from the CGW through
//! "inet", a cut link isolates its endpoint only, source-based routing on
//! the VGW), the HA
//! topology's two uplinks (each routed by source address), and cleanup
//! of namespaces and processes on drop, on panic and by the stale sweep.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::measure::{ping, ping_ok, ping_src};
use sitelink_lab::netns::{list_netns, Netns};
use sitelink_lab::topology::{
    Underlay, CGW_WAN, CGW_WAN2, GATEWAY_SIDE, SITE_B_V4, VGW_AZ1, VGW_AZ2,
};
use sitelink_lab::{Lab, SiteLab, Spawned, Topology};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn watchdog(name: &str) -> Watchdog {
    Watchdog::arm(name, Duration::from_secs(90))
}

fn assert_gone(names: &[String]) {
    let now = list_netns().expect("ip netns list");
    for n in names {
        assert!(!now.contains(n), "namespace {n} still exists: {now:?}");
    }
}

#[test]
fn static_plumbing_endpoints_links_and_source_routing() {
    let _wd = watchdog("static_plumbing");
    static_plumbing(Underlay::V4);
}

#[test]
fn static_plumbing_over_an_ipv6_underlay() {
    let _wd = watchdog("static_plumbing_v6");
    static_plumbing(Underlay::V6);
}

/// The static topology's links over `u`: endpoints reachable, a cut link
/// isolates its endpoint only (and comes back with its address), the VGW
/// routes by source address.
fn static_plumbing(u: Underlay) {
    let lab = SiteLab::build_on(Topology::Static, u).expect("build static lab");
    let (az1, az2, wan) = (
        u.addr(1, GATEWAY_SIDE),
        u.addr(2, GATEWAY_SIDE),
        u.addr(10, GATEWAY_SIDE),
    );
    let (az1, az2, wan) = (az1.as_str(), az2.as_str(), wan.as_str());

    // Sites reach their gateway's LAN side (v4 and v6); nothing crosses yet.
    for (ns, gw) in [
        (&lab.site_a, "10.1.0.1"),
        (&lab.site_a, "fd00:1::1"),
        (&lab.site_b, "10.2.0.1"),
        (&lab.site_b, "fd00:2::1"),
    ] {
        assert!(ping_ok(ns, gw), "{} cannot reach {gw}", ns.name());
    }
    assert!(
        !ping_ok(&lab.site_a, SITE_B_V4),
        "site B reachable without gateways?"
    );

    // Both VGW endpoints answer the CGW through inet.
    assert!(ping_ok(&lab.cgw, az1), "cgw -> az1");
    assert!(ping_ok(&lab.cgw, az2), "cgw -> az2");
    for src in [az1, az2] {
        assert!(
            ping_src(&lab.vgw, Some(src), wan).unwrap().received > 0,
            "vgw from {src}"
        );
    }

    // Cut link 1: az1 is gone, az2 still answers.
    lab.cut_vgw_link(1).unwrap();
    assert_eq!(
        ping(&lab.cgw, az1).unwrap().received,
        0,
        "az1 still reachable after cut"
    );
    assert!(
        ping_ok(&lab.cgw, az2),
        "az2 unreachable after cutting link 1"
    );
    // VGW traffic from az2 still gets out; traffic from az1 does not escape by link 2.
    assert!(ping_src(&lab.vgw, Some(az2), wan).unwrap().received > 0);
    assert_eq!(ping_src(&lab.vgw, Some(az1), wan).unwrap().received, 0);

    // Restore link 1, cut link 2: the mirror image.
    lab.restore_vgw_link(1).unwrap();
    lab.cut_vgw_link(2).unwrap();
    assert!(ping_ok(&lab.cgw, az1), "az1 unreachable after restore");
    assert_eq!(ping(&lab.cgw, az2).unwrap().received, 0);
    assert_eq!(ping_src(&lab.vgw, Some(az2), wan).unwrap().received, 0);
    lab.restore_vgw_link(2).unwrap();
    assert!(ping_ok(&lab.cgw, az2), "az2 unreachable after restore");

    // No main-table default route on the VGW.
    let main = lab
        .vgw
        .ip(&[u.family_flag(), "route", "show", "table", "main"])
        .unwrap();
    assert!(
        !main.contains("default"),
        "vgw main table has a default: {main}"
    );

    let names = lab.netns_names();
    drop(lab);
    assert_gone(&names);
}

#[test]
fn ha_plumbing_two_uplinks_each_routed_by_source() {
    let _wd = watchdog("ha_plumbing");
    let lab = SiteLab::build(Topology::Ha).expect("build HA lab");
    assert!(
        ping_ok(&lab.site_a, "10.1.0.1"),
        "site A -> its edge router"
    );
    // Each uplink address reaches both VGW endpoints, out of its own link.
    for src in [CGW_WAN, CGW_WAN2] {
        for dst in [VGW_AZ1, VGW_AZ2] {
            assert!(
                ping_src(&lab.cgw, Some(src), dst).unwrap().received > 0,
                "cgw from {src} -> {dst}"
            );
        }
    }
    // Cut uplink 1: its address is cut off, uplink 2's is not, and uplink
    // 1's traffic does not escape through uplink 2.
    lab.cut_cgw_uplink(1).unwrap();
    assert_eq!(
        ping_src(&lab.cgw, Some(CGW_WAN), VGW_AZ1).unwrap().received,
        0,
        "uplink 1 still gets out after its cut"
    );
    assert!(
        ping_src(&lab.cgw, Some(CGW_WAN2), VGW_AZ1)
            .unwrap()
            .received
            > 0
    );
    lab.restore_cgw_uplink(1).unwrap();
    lab.cut_cgw_uplink(2).unwrap();
    assert!(ping_src(&lab.cgw, Some(CGW_WAN), VGW_AZ2).unwrap().received > 0);
    assert_eq!(
        ping_src(&lab.cgw, Some(CGW_WAN2), VGW_AZ2)
            .unwrap()
            .received,
        0,
        "uplink 2 still gets out after its cut"
    );
    lab.restore_cgw_uplink(2).unwrap();
    // The VGW answers both uplinks from both endpoints.
    for src in [VGW_AZ1, VGW_AZ2] {
        for dst in [CGW_WAN, CGW_WAN2] {
            assert!(
                ping_src(&lab.vgw, Some(src), dst).unwrap().received > 0,
                "vgw from {src} -> {dst}"
            );
        }
    }
    let main = lab.cgw.ip(&["route", "show", "table", "main"]).unwrap();
    assert!(
        !main.contains("default"),
        "the HA edge router's main table has a default: {main}"
    );
    let names = lab.netns_names();
    drop(lab);
    assert_gone(&names);
}

#[test]
fn namespaces_vanish_after_a_panic() {
    let _wd = watchdog("namespaces_vanish_after_a_panic");
    let mut names = Vec::new();
    let mut pid = 0;
    let mut dir = std::path::PathBuf::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = SiteLab::build(Topology::Static).expect("build static lab");
        names = lab.netns_names();
        dir = lab.lab().dir().to_path_buf();
        let p = Spawned::start(
            "sleeper",
            lab.inet.command("sleep", &["60"]),
            &lab.lab().dir().join("sleeper.log"),
        )
        .unwrap();
        pid = p.pid();
        std::mem::forget(p); // only the namespace's drop can end it now
        panic!("deliberate panic with a lab alive");
    }));
    assert!(r.is_err());
    assert_eq!(names.len(), 5);
    assert_gone(&names);
    // A panicking lab keeps its files for the post-mortem; this panic was on purpose.
    assert!(
        dir.join("sleeper.log").exists(),
        "lab files not kept after a panic"
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::thread::sleep(Duration::from_millis(200));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "process {pid} left in a deleted namespace still runs: {stat}"
    );
}

#[test]
fn spawned_is_stopped_on_drop_and_can_be_killed() {
    let _wd = watchdog("spawned");
    let lab = Lab::new().unwrap();
    let ns = lab.netns("proc").unwrap();
    let log = lab.dir().join("echo.log");
    // SIGTERM on drop.
    let mut p = Spawned::start(
        "sleeper",
        ns.command(
            "sh",
            &["-c", "echo hello from $(ip netns identify); exec sleep 60"],
        ),
        &log,
    )
    .unwrap();
    let pid = p.pid();
    sitelink_lab::wait_until(
        "log line",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || p.log().contains("hello from"),
    )
    .unwrap();
    assert!(p.log().contains(ns.name()), "{}", p.log());
    assert!(p.is_alive());
    assert_eq!(ns.pids(), vec![pid]);
    drop(p);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} survived drop"
    );
    // kill -9 one.
    let mut q = Spawned::start("sleeper2", ns.command("sleep", &["60"]), &log).unwrap();
    q.kill9();
    assert!(!q.is_alive());
    // A wait that never holds fails in time, naming what it waited for.
    let e = sitelink_lab::wait_until(
        "the impossible",
        Duration::from_millis(100),
        Duration::from_millis(10),
        || false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("the impossible"), "{e}");
    // A command that overruns is killed.
    let t0 = std::time::Instant::now();
    let e = ns
        .exec("sleep", &["30"], Duration::from_millis(300))
        .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5) && e.to_string().contains("did not finish"));
}

#[test]
fn stale_namespaces_of_dead_owners_are_swept() {
    let _wd = watchdog("sweep");
    // A pid that is certainly not running now: a child we already reaped.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("slt{dead}x0-stale");
    let alive_name = format!("slt{}x9999-mine", std::process::id());
    let _ = Command::new("ip")
        .args(["netns", "del", &stale])
        .stderr(std::process::Stdio::null())
        .status();
    let ns = Netns::create(&stale).unwrap();
    std::mem::forget(ns); // leave it behind as a dead process would
    let mine = Netns::create(&alive_name).unwrap();
    let _lab = Lab::new().unwrap(); // sweeps
    let now = list_netns().unwrap();
    assert!(!now.contains(&stale), "stale {stale} not swept: {now:?}");
    assert!(
        now.contains(&alive_name),
        "sweep removed a live owner's namespace"
    );
    drop(mine);
    assert_gone(&[alive_name]);
}
