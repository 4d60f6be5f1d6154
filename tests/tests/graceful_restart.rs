//! BGP graceful restart against stock BIRD 2 (topology 4 of ARCHITECTURE.md,
//! the interop lab): BIRD, configured from `sitelink export --format bird`
//! (which has `graceful restart on` in its sessions and kernel protocols),
//! restarts the way its manual describes, `birdc graceful restart` (sessions
//! closed without a NOTIFICATION, kernel routes left in place) and then
//! `bird -R` (graceful restart recovery: the kernel sync waits until BGP has
//! recovered), while a ping train runs from site B (behind sitelink) to site
//! A (behind BIRD). No echo may be lost: sitelink keeps BIRD's routes as
//! stale while it is away and after it comes back until its End-of-RIB, and
//! BIRD's side keeps its kernel routes.
//!
//! Twice: with ICMP echo liveness (`mode = "echo"`: the probes are answered
//! by the far side's kernel, which stays up while BIRD restarts), and with
//! BFD (the export's default): BIRD's BFD goes with BIRD, but it shares
//! fate with its control plane (C bit clear) and its sessions closed first,
//! so sitelink takes the timeout as the restart and keeps the tunnels in use
//! until the restart ends (RFC 5882 section 4.3.2).
//!
//! Run alone: `cargo build -p sitelink && cargo test -p sitelink-lab --test
//! graceful_restart -- --nocapture --test-threads=1`.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::interop::{
    bird_conf, interop_lab, start_bird, stock_tunnels, wait_site_a_routes, UP,
};
use sitelink_lab::measure;
use sitelink_lab::process;
use sitelink_lab::stock::Bird;
use sitelink_lab::topology::{SiteOptions, SITE_A_V4, SITE_B_NET_V4, TUNNEL_1, TUNNEL_2};
use sitelink_lab::{Bgp, Gw, SiteLab};

/// The ping train's interval and length: long enough to cover BIRD's
/// shutdown, its restart, the sessions' return and the End-of-RIB.
const INTERVAL: Duration = Duration::from_millis(20);
const TRAIN: Duration = Duration::from_secs(20);

/// The `graceful_restart` field of a peer's `sitelink bgp --json` entry.
fn gr_field<'a>(bgp: &'a Bgp, tunnel: &str, field: &str) -> Option<&'a serde_json::Value> {
    bgp.peer(tunnel)
        .and_then(|p| p.get("graceful_restart"))
        .and_then(|g| g.get(field))
}

/// `sitelink bgp` as an operator reads it.
fn bgp_text(lab: &SiteLab) -> String {
    let mut cmd = Command::new(lab.bin().expect("bin"));
    cmd.args(["bgp", "--socket"])
        .arg(lab.socket(Gw::Vgw).expect("socket"));
    process::run_ok(&mut cmd, process::SHORT).unwrap_or_else(|e| format!("({e})"))
}

fn phase(lab: &SiteLab, tunnel: &str) -> Option<String> {
    let bgp = lab.bgp(Gw::Vgw).ok()?;
    gr_field(&bgp, tunnel, "phase")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

#[test]
fn bird_restarts_gracefully_and_no_ping_is_lost() {
    let _wd = Watchdog::arm("graceful restart bird", Duration::from_secs(180));
    restart_under_a_ping_train("graceful-restart", "echo");
}

#[test]
fn bird_restarts_gracefully_under_bfd_liveness_and_no_ping_is_lost() {
    let _wd = Watchdog::arm("graceful restart bird bfd", Duration::from_secs(180));
    restart_under_a_ping_train("graceful-restart-bfd", "bfd");
}

/// BIRD restarts gracefully while a ping train runs from site B to site A,
/// the VGW probing the tunnels with liveness `mode`; not one ping may be
/// lost.
fn restart_under_a_ping_train(test: &str, mode: &str) {
    let opts =
        SiteOptions::default().set(Gw::Vgw, "connection.liveness", "mode", format!("{mode:?}"));
    let lab = interop_lab(test, opts);
    stock_tunnels(&lab, test);
    let conf = bird_conf(&lab);
    let text = std::fs::read_to_string(&conf).expect("bird.conf");
    assert!(
        text.matches("graceful restart on;").count() >= 4,
        "{test}: the export turns graceful restart on in both sessions and kernel protocols"
    );
    let mut bird = start_bird(&lab, &conf, test);
    lab.wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
        .unwrap_or_else(|e| panic!("{test}: {e}\nbird: {}", bird.log()));
    wait_site_a_routes(&lab, test);
    lab.wait_until("BIRD to install site B's prefix", UP, || {
        lab.cgw
            .exec_ok("ip", &["route", "show", SITE_B_NET_V4])
            .is_ok_and(|r| r.contains("dev"))
    })
    .unwrap_or_else(|e| panic!("{test}: {e}\n{}", bird.log()));
    lab.assert_sites_ping(test, Duration::from_secs(10));
    let bgp = lab.bgp(Gw::Vgw).expect("bgp");
    let announced = gr_field(&bgp, TUNNEL_1, "peer_restart_time_s").cloned();
    println!("[{test}] BIRD announced restart time {announced:?}");
    assert!(
        announced.as_ref().is_some_and(|v| v.as_u64().is_some()),
        "{test}: BIRD offered graceful restart: {}",
        bgp.summary()
    );

    let restart_dir = lab.lab().dir().join("bird-restarted");
    std::fs::create_dir_all(&restart_dir).expect("mkdir");
    let (train, stale, back) = thread::scope(|s| {
        let train = s.spawn(|| measure::ping_train_for(&lab.site_b, SITE_A_V4, INTERVAL, TRAIN));
        thread::sleep(Duration::from_secs(2));
        let down_at = Instant::now();
        bird.graceful_restart(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{test}: birdc graceful restart: {e}\n{}", bird.log()));
        // sitelink sees the connections close and keeps the routes.
        lab.wait_until(
            "the VGW to keep BIRD's routes as stale",
            Duration::from_secs(10),
            || {
                phase(&lab, TUNNEL_1).as_deref() == Some("restarting")
                    && phase(&lab, TUNNEL_2).as_deref() == Some("restarting")
            },
        )
        .unwrap_or_else(|e| panic!("{test}: {e}"));
        let bgp = lab.bgp(Gw::Vgw).expect("bgp");
        let stale = gr_field(&bgp, TUNNEL_1, "stale_routes")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        println!("[{test}] BIRD gone; VGW: {}", bgp.summary());
        let text = bgp_text(&lab);
        println!("[{test}] sitelink bgp:\n{text}");
        assert!(
            text.contains("graceful restart: restarting, 2 stale routes kept"),
            "{test}: sitelink bgp does not show the restart:\n{text}"
        );
        thread::sleep(Duration::from_secs(2));
        let again = Bird::start_with(&lab.cgw, &conf, &restart_dir, &["-R"])
            .unwrap_or_else(|e| panic!("{test}: bird -R: {e}"));
        lab.wait_established(Gw::Vgw, &[TUNNEL_1, TUNNEL_2], UP)
            .unwrap_or_else(|e| panic!("{test}: back: {e}\n{}", again.log()));
        lab.wait_until("the stale routes to be refreshed", UP, || {
            phase(&lab, TUNNEL_1).is_none() && phase(&lab, TUNNEL_2).is_none()
        })
        .unwrap_or_else(|e| panic!("{test}: {e}\n{}", again.log()));
        let back = down_at.elapsed();
        bird = again;
        (train.join().expect("ping thread"), stale, back)
    });
    let train = train.unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] stale routes per session {stale}; BIRD away and refreshed after {back:?}");
    println!("[{test}] ping train B->A every {INTERVAL:?} across the restart: {train}");
    let log = lab.gateway_logs();
    for line in log.lines().filter(|l| {
        l.contains("graceful restart") || l.contains("End-of-RIB") || l.contains("stale")
    }) {
        println!("[{test}] vgw log: {line}");
    }
    let steps = [
        "BGP peer restarting (graceful restart)",
        "BGP peer back after a graceful restart",
    ];
    for step in steps {
        assert!(log.contains(step), "{test}: no {step:?} in the log:\n{log}");
    }
    assert!(
        log.contains("End-of-RIB received") || log.contains("graceful restart done"),
        "{test}: the stale routes were not refreshed by End-of-RIB:\n{log}"
    );
    if mode == "bfd" {
        // BIRD's BFD went with its control plane (C bit clear): held.
        assert!(
            log.contains("counts as up until the restart ends"),
            "{test}: the BFD timeout was not held for the restart:\n{log}"
        );
    }
    assert!(stale >= 2, "{test}: {stale} stale routes kept");
    assert!(
        train.sent > 0 && train.lost() == 0,
        "{test}: {} of {} pings lost across BIRD's graceful restart\n{log}\n{}",
        train.lost(),
        train.sent,
        bird.log()
    );
    wait_site_a_routes(&lab, test);
}
