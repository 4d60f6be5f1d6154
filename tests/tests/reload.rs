//! Reload as a diff, end to end (`sitelink reload`, SIGHUP): the VGW's config
//! file is edited while a 10 ms ping train runs between the sites, and the
//! reload applies the change in place: a new static route appears as a
//! kernel route, the liveness interval changes (a BFD Poll Sequence with the
//! far side), and nothing is lost; tunnels and their handshakes are kept.
//! A broken file, a change that needs a restart and a plugin that refuses
//! its parameters are refused (exit 2, the error and the reason) and change
//! nothing. On a dynamic connection a new
//! network is advertised to the peer without resetting its session.
//!
//! Run with `cargo build -p sitelink && cargo test -p sitelink-lab --test
//! reload -- --nocapture --test-threads=1`.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::measure;
use sitelink_lab::plugins;
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
        // Liveness timers too: BFD announces them in a Poll Sequence.
        edit(&lab, "interval_ms = 200", "interval_ms = 300");
        let dry = reload(&lab, &["--dry-run"]);
        println!("[{test}] reload --dry-run: {dry:?}");
        assert_eq!(dry.0, Some(0), "{dry:?}");
        assert!(dry.1.contains("would change") && dry.1.contains("+ 10.9.0.0/24"));
        let done = reload(&lab, &[]);
        println!("[{test}] reload: {done:?}");
        assert_eq!(done.0, Some(0), "{done:?}");
        assert!(done.1.contains("static routes + 10.9.0.0/24"), "{done:?}");
        assert!(
            done.1
                .contains("liveness every 200ms x 3 -> every 300ms x 3"),
            "{done:?}"
        );
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
    // A plugin that refuses its parameters: refused as at start, before
    // anything changes (it used to be installed, then fault on every call).
    let bogon = plugins::plugin("bogon_filter").unwrap_or_else(|e| panic!("{test}: {e}"));
    let with_plugin = format!(
        "{good}\n[plugins.bgp-filter]\npath = \"{}\"\n\n[plugins.bgp-filter.params]\n\
         max_as_path = \"many\"\n",
        bogon.display()
    );
    std::fs::write(&path, with_plugin).expect("write");
    let faulted = reload(&lab, &[]);
    println!("[{test}] a plugin that refuses its parameters: {faulted:?}");
    assert_eq!(faulted.0, Some(2), "{faulted:?}");
    assert!(
        faulted.2.contains("nothing changed")
            && faulted.2.contains("faulted on an empty call")
            && faulted.2.contains("max_as_path")
            && faulted.2.contains("[plugins.bgp-filter.params]"),
        "{faulted:?}"
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

/// The far side's public key as `gw`'s rendered config names it.
fn far_key(lab: &SiteLab, gw: Gw) -> String {
    let text = std::fs::read_to_string(lab.config_path(gw).expect("config")).expect("config text");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("remote_public_key = "))
        .map(|k| k.trim_matches('"').to_string())
        .expect("a remote_public_key line")
}

/// A static connection "branch" of two tunnels, as `gw` writes it: the CGW
/// runs it from a second endpoint (port 51821), so that each side tells
/// its tunnels apart from office's.
fn branch(gw: Gw, key: &str) -> String {
    let (tunnels, routes) = match gw {
        Gw::Vgw => (
            [
                ("az1", "198.18.10.2:51821", "169.254.20.0/30"),
                ("az2", "198.18.10.2:51821", "169.254.21.0/30"),
            ],
            "10.11.0.0/24",
        ),
        _ => (
            [
                ("wan-b", "198.18.1.2:51820", "169.254.20.0/30"),
                ("wan-b", "198.18.2.2:51820", "169.254.21.0/30"),
            ],
            "10.22.0.0/24",
        ),
    };
    let mut text = format!(
        "\n[[connection]]\nname = \"branch\"\nrouting = \"static\"\nstatic_routes = [\"{routes}\"]\n"
    );
    for (endpoint, remote, cidr) in tunnels {
        text += &format!(
            "\n[[connection.tunnel]]\nendpoint = \"{endpoint}\"\nremote = \"{remote}\"\n\
             remote_public_key = \"{key}\"\ninside_cidr = \"{cidr}\"\n"
        );
    }
    text
}

#[test]
fn a_reload_adds_and_removes_a_connection_while_another_carries_traffic() {
    let _wd = Watchdog::arm("reload add/remove", Duration::from_secs(150));
    let test = "reload-connections";
    let opts = SiteOptions::default().replace(
        Gw::Cgw,
        "listen = \"198.18.10.2:51820\"",
        "listen = \"198.18.10.2:51820\"\n\n[[endpoint]]\nname = \"wan-b\"\nlisten = \"198.18.10.2:51821\"",
    );
    let lab = SiteLab::start_settled(Topology::Dynamic, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    // The branch's sites: 10.11.0.0/24 behind the CGW, 10.22.0.0/24 behind the VGW.
    lab.site_a.add_addr("eth0", "10.11.0.10/24").expect("addr");
    lab.cgw.add_addr("lan", "10.11.0.1/24").expect("addr");
    lab.site_b.add_addr("eth0", "10.22.0.10/24").expect("addr");
    lab.vgw.add_addr("lan", "10.22.0.1/24").expect("addr");
    let keys = [
        (Gw::Vgw, far_key(&lab, Gw::Vgw)),
        (Gw::Cgw, far_key(&lab, Gw::Cgw)),
    ];
    let originals: Vec<(Gw, String)> = keys
        .iter()
        .map(|(gw, _)| {
            let path = lab.config_path(*gw).expect("config");
            (*gw, std::fs::read_to_string(path).expect("config text"))
        })
        .collect();
    let reload_gw = |gw: Gw| -> (Option<i32>, String, String) {
        let bin = lab.bin().expect("bin").to_path_buf();
        let sock = lab
            .socket(gw)
            .expect("socket")
            .to_string_lossy()
            .to_string();
        let out = lab
            .ns(gw)
            .exec(
                bin.to_str().expect("utf-8"),
                &["reload", "--socket", &sock],
                Duration::from_secs(30),
            )
            .expect("sitelink reload ran");
        (out.status.code(), out.stdout, out.stderr)
    };
    let before = lab.bgp(Gw::Cgw).expect("bgp");
    let _server = lab.iperf3_server(&lab.site_b, 5301).expect("iperf3 server");
    let (train, stream) = thread::scope(|s| {
        let train = s
            .spawn(|| measure::ping_train(&lab.site_a, SITE_B_V4, Duration::from_millis(10), 1500));
        let stream =
            s.spawn(|| measure::iperf3_client_at(&lab.site_a, SITE_B_V4, 5301, 14, Some("20M")));
        thread::sleep(Duration::from_secs(2));
        // Add "branch" on both sides.
        for (gw, key) in &keys {
            let (_, text) = originals.iter().find(|(g, _)| g == gw).expect("original");
            let path = lab.config_path(*gw).expect("config");
            std::fs::write(path, format!("{text}{}", branch(*gw, key))).expect("write");
            let took = std::time::Instant::now();
            let out = reload_gw(*gw);
            println!(
                "[{test}] {} reload (add) in {:?}: {out:?}",
                gw.name(),
                took.elapsed()
            );
            assert_eq!(out.0, Some(0), "{test}: {out:?}");
            assert!(
                out.1.contains("connection branch: added"),
                "{test}: {out:?}"
            );
        }
        let took = std::time::Instant::now();
        lab.wait_until("branch to carry a ping", Duration::from_secs(20), || {
            measure::ping_src(&lab.site_a, Some("10.11.0.10"), "10.22.0.10")
                .is_ok_and(|p| p.received > 0)
        })
        .unwrap_or_else(|e| panic!("{test}: {e}"));
        println!(
            "[{test}] branch carried a ping {:?} after the reloads",
            took.elapsed()
        );
        let status = lab.status(Gw::Vgw).expect("status");
        assert!(
            status["connections"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["name"] == "branch")),
            "{test}: {}",
            status.summary()
        );
        // Remove it again.
        for (gw, text) in &originals {
            let path = lab.config_path(*gw).expect("config");
            std::fs::write(path, text).expect("write");
            let took = std::time::Instant::now();
            let out = reload_gw(*gw);
            println!(
                "[{test}] {} reload (remove) in {:?}: {out:?}",
                gw.name(),
                took.elapsed()
            );
            assert_eq!(out.0, Some(0), "{test}: {out:?}");
            assert!(
                out.1.contains("connection branch: removed"),
                "{test}: {out:?}"
            );
        }
        lab.wait_until(
            "branch's kernel route to go",
            Duration::from_secs(5),
            || {
                lab.vgw
                    .ip(&["route", "show", "10.11.0.0/24"])
                    .is_ok_and(|r| r.trim().is_empty())
            },
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
        let status = lab.status(Gw::Vgw).expect("status");
        assert_eq!(
            status["connections"].as_array().map(Vec::len),
            Some(1),
            "{test}: only office is left: {}",
            status.summary()
        );
        assert!(
            !measure::ping_src(&lab.site_a, Some("10.11.0.10"), "10.22.0.10")
                .is_ok_and(|p| p.received > 0),
            "{test}: branch still carries traffic"
        );
        (train.join().expect("train"), stream.join().expect("stream"))
    });
    let train = train.unwrap_or_else(|e| panic!("{test}: {e}"));
    let stream = stream.unwrap_or_else(|e| panic!("{test}: {}", lab.with_logs(e)));
    println!(
        "[{test}] office: ping {}/{} received; stream {:?} Mbit/s, retransmits {:?}",
        train.received,
        train.sent,
        stream.intervals_mbps(),
        stream.retransmits
    );
    assert_eq!(train.lost(), 0, "{test}: pings lost on office");
    assert!(
        stream.intervals_bps.iter().all(|b| *b > 1e6),
        "{test}: the stream over office stalled: {:?}",
        stream.intervals_mbps()
    );
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

#[test]
fn a_replaced_bgp_connection_says_goodbye_and_comes_back() {
    let _wd = Watchdog::arm("reload replace", Duration::from_secs(120));
    let test = "reload-replace";
    let lab = SiteLab::start_settled(Topology::Dynamic, SiteOptions::default())
        .unwrap_or_else(|e| panic!("{test}: starting the dynamic lab: {e}"));
    // A new name: the running connection is removed and the renamed one
    // added (new ids, same tunnels and inside addresses).
    edit(&lab, "name = \"office\"", "name = \"office-2\"");
    let done = reload(&lab, &[]);
    println!("[{test}] reload: {done:?}");
    assert_eq!(done.0, Some(0), "{done:?}");
    assert!(
        done.1.contains("connection office: removed")
            && done.1.contains("connection office-2: added"),
        "{done:?}"
    );
    // The CGW heard the goodbye: Cease / peer de-configured (6/3) on both
    // sessions, then both come back with the new ones.
    lab.wait_until(
        "the cgw to receive Cease 6/3 on both sessions",
        Duration::from_secs(10),
        || {
            lab.bgp(Gw::Cgw).is_ok_and(|b| {
                [TUNNEL_1, TUNNEL_2].iter().all(|t| {
                    b.peer(t).is_some_and(|p| {
                        p["notifications"].as_array().is_some_and(|n| {
                            n.iter().any(|n| {
                                n["direction"] == "received" && n["code"] == 6 && n["subcode"] == 3
                            })
                        })
                    })
                })
            })
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    // The old tunnels' BFD said AdminDown before going silent (RFC 5880
    // section 6.8.16): the CGW saw an administrative end on both, not a
    // path failure, and kept its sessions for the Cease.
    lab.wait_until(
        "the cgw to hear BFD AdminDown on both tunnels",
        Duration::from_secs(5),
        || {
            lab.log_of(Gw::Cgw)
                .matches("took the tunnel's BFD session down administratively")
                .count()
                >= 2
        },
    )
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", lab.log_of(Gw::Cgw)));
    let took = std::time::Instant::now();
    lab.wait_all_established(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!(
        "[{test}] both sessions back {:?} after the goodbye",
        took.elapsed()
    );
    let vgw = lab.bgp(Gw::Vgw).expect("bgp");
    assert!(
        vgw.peers().iter().all(|p| p["connection"] == "office-2"),
        "{test}: {}",
        vgw.summary()
    );
    lab.assert_sites_ping(test, Duration::from_secs(10));
}
