//! Reload as a diff, end to end (`sitelink reload`, SIGHUP): the VGW's config
//! file is edited while a 10 ms ping train runs between the sites, and the
//! reload applies the change in place: a new static route appears as a
//! kernel route and nothing is lost; tunnels and their handshakes are kept.
//! A broken file and a change that needs a restart are refused (exit 2, the
//! error and the reason) and change nothing. On a dynamic connection a new
//! network is advertised to the peer without resetting its session.
//!
//! Run with `cargo build -p sitelink && cargo test -p sitelink-lab --test
//! reload -- --nocapture --test-threads=1`.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::measure;
use sitelink_lab::process;
use sitelink_lab::topology::{SITE_B_V4, TUNNEL_1, TUNNEL_2};
use sitelink_lab::{Gw, SiteLab, SiteOptions, Topology};
use std::thread;
use std::time::Duration;

/// `sitelink reload ARGS` on the VGW: (exit code, stdout, stderr).
fn reload(lab: &SiteLab, args: &[&str]) -> (Option<i32>, String, String) {
    let bin = lab.bin().expect("bin").to_path_buf();
    let socket = lab.socket(Gw::Vgw).expect("socket");
    let sock = socket.to_string_lossy().to_string();
    let mut all = vec!["reload", "--socket", &sock];
    all.extend(args);
    let out = lab
        .vgw
        .exec(
            bin.to_str().expect("utf-8 path"),
            &all,
            Duration::from_secs(30),
        )
        .expect("sitelink reload ran");
    (out.status.code(), out.stdout, out.stderr)
}

fn edit(lab: &SiteLab, from: &str, to: &str) -> String {
    let path = lab.config_path(Gw::Vgw).expect("config");
    let before = std::fs::read_to_string(&path).expect("config text");
    assert!(
        before.contains(from),
        "the config has no {from:?}:\n{before}"
    );
    std::fs::write(&path, before.replacen(from, to, 1)).expect("write config");
    before
}

fn handshakes(lab: &SiteLab) -> Vec<u64> {
    let c = lab.tunnel_counters(Gw::Vgw, "handshakes").expect("status");
    [TUNNEL_1, TUNNEL_2]
        .iter()
        .map(|t| c.get(*t).copied().unwrap_or(0))
        .collect()
}

#[test]
fn a_static_reload_applies_in_place_and_refuses_what_it_cannot() {
    let _wd = Watchdog::arm("static reload", Duration::from_secs(120));
    let test = "reload-static";
    let mut lab = SiteLab::start_settled(Topology::Static, SiteOptions::default())
        .unwrap_or_else(|e| panic!("{test}: starting the static lab: {e}"));
    let before = handshakes(&lab);
    let train = thread::scope(|s| {
        let train =
            s.spawn(|| measure::ping_train(&lab.site_a, SITE_B_V4, Duration::from_millis(10), 500));
        thread::sleep(Duration::from_secs(1));
        edit(
            &lab,
            "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
            "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\", \"10.9.0.0/24\"]",
        );
        let dry = reload(&lab, &["--dry-run"]);
        println!("[{test}] reload --dry-run: {dry:?}");
        assert_eq!(dry.0, Some(0), "{dry:?}");
        assert!(dry.1.contains("would change") && dry.1.contains("+ 10.9.0.0/24"));
        let done = reload(&lab, &[]);
        println!("[{test}] reload: {done:?}");
        assert_eq!(done.0, Some(0), "{done:?}");
        assert!(done.1.contains("static routes + 10.9.0.0/24"), "{done:?}");
        train.join().expect("train")
    })
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    assert_eq!(train.received, train.sent, "{test}: lost across the reload");
    lab.wait_until(
        "the new static route in the kernel",
        Duration::from_secs(5),
        || {
            lab.vgw
                .ip(&["route", "show", "10.9.0.0/24"])
                .is_ok_and(|r| r.contains("dev"))
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    assert_eq!(
        handshakes(&lab),
        before,
        "{test}: a tunnel made a new handshake"
    );

    // A broken file: exit 2 with FILE:LINE, nothing changed.
    let good = edit(&lab, "mtu = 1420", "mtu = ");
    let broken = reload(&lab, &[]);
    println!("[{test}] broken config: {broken:?}");
    assert_eq!(broken.0, Some(2), "{broken:?}");
    assert!(
        broken.2.contains("nothing changed") && broken.2.contains(".toml:"),
        "{broken:?}"
    );
    // A change that needs a restart: refused with the reason.
    let path = lab.config_path(Gw::Vgw).expect("config");
    std::fs::write(&path, good.replacen("mtu = 1420", "mtu = 1400", 1)).expect("write");
    let refused = reload(&lab, &[]);
    println!("[{test}] needs a restart: {refused:?}");
    assert_eq!(refused.0, Some(2), "{refused:?}");
    assert!(
        refused.2.contains("[tun] changed: restart the gateway"),
        "{refused:?}"
    );
    std::fs::write(&path, &good).expect("write");
    // The running config is still the reloaded one.
    assert!(lab
        .vgw
        .ip(&["route", "show", "10.9.0.0/24"])
        .is_ok_and(|r| r.contains("dev")));

    // SIGHUP reloads too: the route goes again.
    edit(&lab, ", \"10.9.0.0/24\"]", "]");
    let pid = lab.gateway(Gw::Vgw).pid();
    process::run_ok(
        std::process::Command::new("kill").args(["-HUP", &pid.to_string()]),
        Duration::from_secs(5),
    )
    .expect("kill -HUP");
    lab.wait_until("SIGHUP to remove the route", Duration::from_secs(5), || {
        lab.vgw
            .ip(&["route", "show", "10.9.0.0/24"])
            .is_ok_and(|r| r.trim().is_empty())
    })
    .unwrap_or_else(|e| panic!("{test}: {e}"));
}

#[test]
fn a_dynamic_reload_advertises_a_new_network_without_a_reset() {
    let _wd = Watchdog::arm("dynamic reload", Duration::from_secs(120));
    let test = "reload-dynamic";
    let lab = SiteLab::start_settled(Topology::Dynamic, SiteOptions::default())
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    let before = lab.bgp(Gw::Cgw).expect("bgp");
    edit(
        &lab,
        "networks = [\"10.2.0.0/24\", \"fd00:2::/64\"]",
        "networks = [\"10.2.0.0/24\", \"fd00:2::/64\", \"10.7.0.0/24\"]",
    );
    let done = reload(&lab, &[]);
    println!("[{test}] reload: {done:?}");
    assert_eq!(done.0, Some(0), "{done:?}");
    lab.wait_until(
        "the cgw to learn 10.7.0.0/24",
        Duration::from_secs(10),
        || {
            lab.routes(Gw::Cgw)
                .is_ok_and(|r| r.selected_tunnels("10.7.0.0/24").len() == 2)
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    let after = lab.bgp(Gw::Cgw).expect("bgp");
    for t in [TUNNEL_1, TUNNEL_2] {
        assert_eq!(
            after.peer_u64(t, "established_transitions"),
            before.peer_u64(t, "established_transitions"),
            "{test}: the session over {t} was reset"
        );
        assert!(after.uptime(t) > before.uptime(t), "{test}: uptime broke");
    }
}
