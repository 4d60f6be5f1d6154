//! The planned events, each meant to be hitless: a plugin swap (`sitelink
//! plugin swap`) and a reload (`sitelink reload` after a small, real edit of
//! the config). Swaps go round four steps: the `bgp-filter` slot to
//! community-local-pref (local-pref 200 for the churn routes, which BIRD
//! tags with 65000:999: the swap re-filters every stored route and
//! rewrites the churn routes' attributes, while every prefix keeps its
//! tunnels), the `route-selection` slot to default-route-selection again
//! (a new instance; every prefix is selected again), the `bgp-filter` slot
//! back to default-bgp-filter (the churn routes lose their local-pref), and
//! route-selection again. Reloads add
//! 10.7.0.0/24 to the VGW's `[bgp] networks`, then take it out again; each
//! is confirmed by the VGW's count of advertised prefixes moving.

use std::fs;
use std::time::{Duration, Instant};

use sitelink_lab::plugins::{self, plugin};
use sitelink_lab::process::wait_until;
use sitelink_lab::{Error, Gw, Result};

use crate::setup::Soaked;
use crate::timeline::{Kind, Timeline};

/// One plugin swap.
pub struct Swap {
    pub slot: &'static str,
    /// The component's file stem in the plugin directory.
    pub plugin: &'static str,
    pub params: &'static [&'static str],
}

/// The swaps, in turn.
pub const SWAPS: [Swap; 4] = [
    Swap {
        slot: "bgp-filter",
        plugin: "community_local_pref",
        params: &["map=65000:999=200"],
    },
    Swap {
        slot: "route-selection",
        plugin: "default_route_selection",
        params: &[],
    },
    Swap {
        slot: "bgp-filter",
        plugin: "default_bgp_filter",
        params: &[],
    },
    Swap {
        slot: "route-selection",
        plugin: "default_route_selection",
        params: &[],
    },
];

/// The indexes of [`SWAPS`] to go round: all, or those of one slot.
pub fn rota(slot: Option<&str>) -> Result<Vec<usize>> {
    let all = (0..SWAPS.len()).filter(|&i| slot.is_none_or(|s| SWAPS[i].slot == s));
    let rota: Vec<usize> = all.collect();
    if rota.is_empty() {
        return Err(Error::msg(format!(
            "SOAK_SWAP_SLOT={}: no swap of that slot (bgp-filter or route-selection)",
            slot.unwrap_or_default()
        )));
    }
    Ok(rota)
}

/// The VGW's networks in the example, and with the reloads' extra network.
const NETWORKS: &str = "networks = [\"10.2.0.0/24\", \"fd00:2::/64\"]";
const NETWORKS_MORE: &str = "networks = [\"10.2.0.0/24\", \"fd00:2::/64\", \"10.7.0.0/24\"]";
/// The reloads' extra network.
pub const EXTRA_NETWORK: &str = "10.7.0.0/24";
/// Bound on `sitelink reload`.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the peers seeing a reload's change.
const ADVERTISED_TIMEOUT: Duration = Duration::from_secs(10);

/// What the planned events did.
#[derive(Debug, Default)]
pub struct Planned {
    /// Wall time of each swap that succeeded (the CLI's), seconds.
    pub swaps: Vec<f64>,
    /// The gateway's `swap_ms` of each.
    pub swap_ms: Vec<f64>,
    pub swaps_failed: u32,
    /// Wall time of each reload that succeeded, seconds.
    pub reloads: Vec<f64>,
    pub reloads_failed: u32,
}

/// Compiles every component the swaps use ahead of time (a dry-run swap
/// each), so that the soak's swaps load them from the cache as they would
/// on a gateway that has seen them before.
pub fn compile_ahead(s: &Soaked) -> Result<()> {
    for swap in &SWAPS {
        let file = plugin(swap.plugin)?;
        let file = file.to_string_lossy();
        let args = ["swap", swap.slot, &file, "--dry-run"];
        let out = plugins::plugin_cmd(&s.lab, Gw::Vgw, &args)?;
        if !out.status.success() {
            return Err(Error::msg(format!(
                "sitelink plugin swap --dry-run {} {}: {}",
                swap.slot,
                swap.plugin,
                out.stderr.trim()
            )));
        }
    }
    Ok(())
}

/// Swap number `i` (see [`SWAPS`]), recorded in the timeline.
pub fn swap(s: &Soaked, t: &Timeline, i: usize, done: &mut Planned) {
    let swap = &SWAPS[i % SWAPS.len()];
    let what = format!("swap {} <- {}", swap.slot, swap.plugin);
    let start = Instant::now();
    match swap_once(s, i) {
        Ok((took, ms)) => {
            done.swaps.push(took.as_secs_f64());
            done.swap_ms.extend(ms);
            let gw = ms.map_or_else(String::new, |ms| format!(", {ms:.0} ms in the gateway"));
            t.record(
                Kind::Swap,
                start,
                format!("{what} ({:.0} ms{gw})", took.as_secs_f64() * 1000.0),
            );
        }
        Err(e) => {
            done.swaps_failed += 1;
            t.record(Kind::Error, start, format!("{what} failed: {e}"));
        }
    }
}

/// Swap number `i`: the CLI's time and the gateway's `swap_ms`.
pub fn swap_once(s: &Soaked, i: usize) -> Result<(Duration, Option<f64>)> {
    let swap = &SWAPS[i % SWAPS.len()];
    let file = plugin(swap.plugin)?;
    let start = Instant::now();
    let answer = plugins::swap(&s.lab, Gw::Vgw, swap.slot, &file, swap.params)?;
    Ok((start.elapsed(), answer["swap_ms"].as_f64()))
}

/// The prefixes the VGW advertises, summed over its peers.
fn advertised(s: &Soaked) -> Result<u64> {
    let bgp = s.lab.bgp(Gw::Vgw)?;
    Ok(bgp
        .peers()
        .iter()
        .filter_map(|p| p["prefixes_advertised"].as_u64())
        .sum())
}

/// Reload number `i`: even ones add [`EXTRA_NETWORK`], odd ones remove it;
/// recorded in the timeline.
pub fn reload(s: &Soaked, t: &Timeline, i: usize, done: &mut Planned) {
    let add = i.is_multiple_of(2);
    let what = format!(
        "reload ([bgp] networks {} {EXTRA_NETWORK})",
        if add { "+" } else { "-" }
    );
    let start = Instant::now();
    match reload_once(s, add) {
        Ok((cli, confirmed)) => {
            done.reloads.push(cli.as_secs_f64());
            t.record(
                Kind::Reload,
                start,
                format!(
                    "{what} ({:.0} ms; the peers' count moved after {:.2} s)",
                    cli.as_secs_f64() * 1000.0,
                    confirmed.as_secs_f64()
                ),
            );
        }
        Err(e) => {
            done.reloads_failed += 1;
            t.record(Kind::Error, start, format!("{what} failed: {e}"));
        }
    }
}

/// Edits the config (`add`: adds [`EXTRA_NETWORK`], else removes it), runs
/// `sitelink reload`, and waits for the advertised count to move; (the
/// CLI's time, the time until the count moved).
pub fn reload_once(s: &Soaked, add: bool) -> Result<(Duration, Duration)> {
    let path = s.config_path()?;
    let text = fs::read_to_string(&path)?;
    let (from, to) = if add {
        (NETWORKS, NETWORKS_MORE)
    } else {
        (NETWORKS_MORE, NETWORKS)
    };
    if !text.contains(from) {
        return Err(Error::msg(format!(
            "{} has no `{from}`: update the soak",
            path.display()
        )));
    }
    let before = advertised(s)?;
    fs::write(&path, text.replacen(from, to, 1))?;
    let sock = s.socket.to_string_lossy().into_owned();
    let bin = s.bin.to_string_lossy().into_owned();
    let start = Instant::now();
    let out = s
        .lab
        .vgw
        .exec(&bin, &["reload", "--socket", &sock], RELOAD_TIMEOUT)?;
    let cli = start.elapsed();
    if !out.status.success() || !out.stdout.contains(EXTRA_NETWORK) {
        return Err(Error::msg(format!(
            "sitelink reload ({}): {} {}",
            out.status,
            out.stdout.trim(),
            out.stderr.trim()
        )));
    }
    let mut now = before;
    wait_until(
        "the VGW's advertised prefix count to follow the reload",
        ADVERTISED_TIMEOUT,
        Duration::from_millis(100),
        || {
            now = advertised(s).unwrap_or(now);
            if add {
                now > before
            } else {
                now < before
            }
        },
    )
    .map_err(|e| e.context(format!("(advertised: {before} before, {now} now)")))?;
    Ok((cli, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_rotas() {
        assert_eq!(rota(None).expect("all"), vec![0, 1, 2, 3]);
        assert_eq!(rota(Some("bgp-filter")).expect("filter"), vec![0, 2]);
        assert_eq!(rota(Some("route-selection")).expect("rs"), vec![1, 3]);
        assert!(rota(Some("failover")).is_err());
    }
}
