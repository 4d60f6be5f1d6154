//! `sitelink-demo`: a guided run of topology 1 (static VPN connection) for an
//! operator. It builds the lab (five network namespaces), starts a customer
//! gateway and a VGW, shows their tunnels, sends pings and a 3-second TCP
//! stream from site A to site B through the tunnel, then cuts the active
//! tunnel's link while a 10 ms ping train runs and reports the loss window and
//! the new active tunnel, restores the link and waits for failback. Everything
//! is removed at the end, on error, and on Ctrl-C. On the way it swaps the
//! failover policy plugin at run time (no tunnel reset) and shows its effect.
//!
//! Usage: `cargo build -p sitelink && cargo run -p sitelink-lab --bin sitelink-demo`
//! (as root; `SITELINK_BIN` overrides the gateway binary).

use sitelink_lab::cleanup::{install_signal_cleanup, Watchdog};
use sitelink_lab::topology::{SITE_B_V4, SITE_B_V6, TUNNEL_1, TUNNEL_2};
use sitelink_lab::{measure, plugins};
use sitelink_lab::{Gw, Result, SiteLab, Topology};
use std::thread;
use std::time::{Duration, Instant};

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("     {line}");
    }
}

/// Swaps the failover plugin at run time on both gateways while a 10 ms ping
/// train runs: first a dry run, then `prefer-zone` (prefer tunnel 2), which
/// moves traffic at once, then back to the built-in default.
fn plugin_swap_step(lab: &SiteLab) -> Result<()> {
    step(
        5,
        "Policy plugin swap: prefer tunnel 2, at run time, no tunnel reset",
    );
    let prefer = plugins::plugin("prefer_zone")?;
    let param = format!("prefer={TUNNEL_2}");
    let bin = lab.bin()?.display().to_string();
    let file = prefer.display().to_string();
    println!("   $ {bin} plugin swap failover {file} --param {param} --dry-run   (on cgw)");
    let dry = plugins::plugin_cmd_text(
        lab,
        Gw::Cgw,
        &["swap", "failover", &file, "--param", &param, "--dry-run"],
    )?;
    print_indented(&dry);
    let (train, swapped) = thread::scope(|s| {
        let train = s.spawn(|| {
            measure::ping_train_for(
                &lab.site_a,
                SITE_B_V4,
                Duration::from_millis(10),
                Duration::from_secs(3),
            )
        });
        thread::sleep(Duration::from_millis(500));
        let mut out = String::new();
        for gw in [Gw::Cgw, Gw::Vgw] {
            out += &format!(
                "   $ sitelink plugin swap failover prefer_zone.wasm --param {param}   (on {})\n",
                gw.name()
            );
            let text =
                plugins::plugin_cmd_text(lab, gw, &["swap", "failover", &file, "--param", &param])?;
            for line in text.lines() {
                out += &format!("     {line}\n");
            }
        }
        Ok::<_, sitelink_lab::Error>((train.join(), out))
    })?;
    print!("{swapped}");
    lab.wait_active(TUNNEL_2, Duration::from_secs(5))?;
    let train = train.map_err(|_| sitelink_lab::Error::msg("ping thread panicked"))??;
    println!(
        "     both gateways now send over {TUNNEL_2}; ping train during the swaps: {} sent, {} lost",
        train.sent,
        train.lost()
    );
    println!("   $ sitelink plugin list   (on cgw)");
    print_indented(&plugins::plugin_cmd_text(lab, Gw::Cgw, &["list"])?);
    for gw in [Gw::Cgw, Gw::Vgw] {
        plugins::plugin_cmd_text(lab, gw, &["remove", "failover"])?;
    }
    lab.wait_active(TUNNEL_1, Duration::from_secs(5))?;
    println!("     plugin removed on both gateways: the built-in default is back on {TUNNEL_1}");
    Ok(())
}

fn topology(lab: &SiteLab) {
    println!(
        "\n  site A host                customer gateway       \"internet\"        virtual private gateway       site B host\n\
         \x20 10.1.0.10    ---lan--- cgw 198.18.10.2 ------ inet ---- 198.18.1.2 (az1) \\\n\
         \x20 fd00:1::10                                          `--- 198.18.2.2 (az2) -- vgw ---lan--- 10.2.0.10\n\
         \x20                                                                                              fd00:2::10\n\
         \x20 tunnel 1: {TUNNEL_1} over az1 (preferred)   tunnel 2: {TUNNEL_2} over az2 (standby)\n\
         \x20 namespaces: {}\n  lab files: {}",
        lab.netns_names().join(" "),
        lab.lab().dir().display()
    );
}

fn demo(lab_slot: &mut Option<SiteLab>) -> Result<()> {
    step(
        1,
        "Building the lab: five network namespaces joined by veth links",
    );
    let started = Instant::now();
    *lab_slot = Some(SiteLab::start(Topology::Static)?);
    let lab = lab_slot.as_ref().expect("just set");
    topology(lab);
    println!(
        "     gateways started: {} (configs {} and {})",
        lab.bin()?.display(),
        lab.config_path(Gw::Cgw)?.display(),
        lab.config_path(Gw::Vgw)?.display()
    );

    step(2, "Waiting for both tunnels to come up on both gateways");
    let took = lab.wait_all_tunnels_up(Duration::from_secs(15))?;
    println!("     all tunnels up after {took:.1?}");
    for gw in [Gw::Cgw, Gw::Vgw] {
        println!("\n   $ sitelink status   (on {})", gw.name());
        print_indented(&lab.status_text(gw)?);
    }

    step(
        3,
        "Ping from a host in site A to a host in site B, through the tunnel",
    );
    for dst in [SITE_B_V4, SITE_B_V6] {
        let mut p = measure::ping(&lab.site_a, dst)?;
        if p.received == 0 {
            thread::sleep(Duration::from_secs(1));
            p = measure::ping(&lab.site_a, dst)?;
        }
        println!("     ping {dst}: {} sent, {} answered", p.sent, p.received);
    }

    step(
        4,
        "TCP throughput from site A to site B over the tunnel (iperf3, 3 s)",
    );
    let r = lab.iperf3_a_to_b(SITE_B_V4, 5201, 3)?;
    println!(
        "     {:.0} Mbit/s (per second: {:?} Mbit/s)",
        r.received_mbps(),
        r.intervals_mbps()
    );

    plugin_swap_step(lab)?;

    step(
        6,
        "Failover: cutting the link of the active tunnel while pinging every 10 ms",
    );
    lab.wait_until(
        "the gateways to agree on the active tunnel",
        Duration::from_secs(5),
        || lab.agreed_active_tunnel().is_ok(),
    )?;
    let active = lab.agreed_active_tunnel()?;
    let link = lab.vgw_link_of_tunnel(&active)?;
    let other = if active == TUNNEL_1 {
        TUNNEL_2
    } else {
        TUNNEL_1
    };
    println!("     both gateways use tunnel {active}; it runs over VGW link {link}");
    let (train, switched) = thread::scope(|s| {
        let train =
            s.spawn(|| measure::ping_train(&lab.site_a, SITE_B_V4, Duration::from_millis(10), 400));
        thread::sleep(Duration::from_secs(2));
        println!("     cutting VGW link {link} now");
        let cut = Instant::now();
        let switched = lab
            .cut_vgw_link(link)
            .and_then(|_| lab.wait_active(other, Duration::from_secs(5)))
            .map(|_| cut.elapsed());
        (train.join().expect("ping thread"), switched)
    });
    let (train, switched) = (train?, switched?);
    println!("     both gateways switched to tunnel {other} within {switched:.1?} of the cut");
    println!(
        "     ping train: {} sent, {} answered; loss window {:?} ({} pings in a row unanswered), \
         longest silence {:.0?}",
        train.sent,
        train.received,
        train.loss_window,
        train.longest_missing_run,
        train.outage()
    );

    step(
        7,
        "Restoring the link; traffic returns to the preferred tunnel after the failback hold",
    );
    lab.restore_vgw_link(link)?;
    let took = lab.wait_active(TUNNEL_1, Duration::from_secs(15))?;
    println!("     both gateways back on {TUNNEL_1} {took:.1?} after the link came back");
    for gw in [Gw::Cgw, Gw::Vgw] {
        println!("\n   $ sitelink status   (on {})", gw.name());
        print_indented(&lab.status_text(gw)?);
    }
    println!("\n     demo ran for {:.0?}", started.elapsed());
    Ok(())
}

fn main() {
    install_signal_cleanup();
    let _wd = Watchdog::arm("sitelink-demo", Duration::from_secs(180));
    println!(
        "sitelink demo: topology 1, a static VPN connection of two tunnels (Ctrl-C cleans up)"
    );
    let mut lab = None;
    let result = demo(&mut lab);
    step(
        8,
        "Cleaning up: stopping the gateways, deleting the namespaces",
    );
    let names = lab.as_ref().map(|l| l.netns_names()).unwrap_or_default();
    if let Err(e) = &result {
        eprintln!("\nDEMO FAILED: {e}");
        if let Some(lab) = &lab {
            if !e.to_string().contains("----- cgw log") {
                eprintln!("{}", lab.gateway_logs());
            }
        }
    }
    drop(lab);
    let left: Vec<String> = sitelink_lab::netns::list_netns()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| names.contains(n))
        .collect();
    if left.is_empty() {
        println!("     done: no namespace or process left behind");
    } else {
        println!("     WARNING: namespaces still present: {left:?}");
    }
    if result.is_err() {
        std::process::exit(1);
    }
}
