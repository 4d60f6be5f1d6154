//! The bench's failover and plugin-swap rounds: what a tunnel cut costs a
//! 10 ms ping train on sitelink (static lab: two tunnels, default failover)
//! and on a plain WireGuard peer (one peer, one endpoint: WireGuard has no
//! second path, so traffic waits for the link to come back), and what
//! failover-plugin swaps cost under a TCP load.

use std::thread;
use std::time::Duration;

use sitelink_lab::measure::{self, PingTrain};
use sitelink_lab::plugins::{self, plugin};
use sitelink_lab::topology::{SITE_B_V4, TUNNEL_1, TUNNEL_2};
use sitelink_lab::{Error, Gw, Result, SiteLab, Topology};

use crate::systems::{bring_up, System};
use crate::{pair, B_INNER};

const INTERVAL: Duration = Duration::from_millis(10);
/// When the link goes down, into the train.
const CUT_AT: Duration = Duration::from_secs(2);
/// How long a plain WireGuard peer's link stays down.
pub const PLAIN_CUT: Duration = Duration::from_secs(2);
const TRAIN: Duration = Duration::from_secs(6);

/// One tunnel cut, as the ping train saw it.
#[derive(Debug, Clone, Copy)]
pub struct CutSample {
    /// Consecutive requests unanswered x interval.
    pub loss_ms: f64,
    /// Longest silence between replies.
    pub outage_ms: f64,
}

impl From<&PingTrain> for CutSample {
    fn from(t: &PingTrain) -> Self {
        CutSample {
            loss_ms: t.loss_window.as_secs_f64() * 1e3,
            outage_ms: t.outage().as_secs_f64() * 1e3,
        }
    }
}

/// Plugin swaps under load.
#[derive(Debug, Clone, Copy)]
pub struct SwapSample {
    pub swaps: u32,
    pub sent: u32,
    pub lost: u32,
    pub mbps: f64,
}

fn static_lab() -> Result<SiteLab> {
    let lab = SiteLab::start(Topology::Static)?;
    lab.wait_all_tunnels_up(Duration::from_secs(15))?;
    lab.wait_active(TUNNEL_1, Duration::from_secs(10))?;
    Ok(lab)
}

/// sitelink: the active tunnel's VGW link goes down and stays down; the
/// default failover moves both gateways to the other tunnel.
pub fn sitelink_cut() -> Result<CutSample> {
    let lab = static_lab()?;
    let active = lab.agreed_active_tunnel()?;
    let link = lab.vgw_link_of_tunnel(&active)?;
    let train = thread::scope(|s| {
        let train = s.spawn(|| measure::ping_train_for(&lab.site_a, SITE_B_V4, INTERVAL, TRAIN));
        thread::sleep(CUT_AT);
        let cut = lab.cut_vgw_link(link);
        let train = train
            .join()
            .map_err(|_| Error::msg("ping thread panicked"))?;
        cut.and(train)
    })?;
    Ok(CutSample::from(&train))
}

/// A plain WireGuard peer (wireguard-go, boringtun-cli or GotaTun): the only path's
/// link goes down for [`PLAIN_CUT`], then comes back.
pub fn plain_cut(system: System, sitelink: &std::path::Path) -> Result<CutSample> {
    let mut p = pair()?;
    bring_up(system, &mut p, sitelink)?;
    let train = thread::scope(|s| {
        let train = s.spawn(|| measure::ping_train_for(&p.a, B_INNER, INTERVAL, TRAIN));
        thread::sleep(CUT_AT);
        let cut = p.b.link_down("out");
        thread::sleep(PLAIN_CUT);
        let restored = p.b.link_up("out");
        let train = train
            .join()
            .map_err(|_| Error::msg("ping thread panicked"))?;
        cut.and(restored).and(train)
    })?;
    Ok(CutSample::from(&train))
}

/// sitelink: 20 failover-plugin swaps on each gateway while a TCP stream
/// (capped at 1 Gbit/s, so the queues are not full of it) and a 10 ms ping
/// train cross the tunnel; every swap moves the traffic to the other tunnel.
pub fn sitelink_swaps() -> Result<SwapSample> {
    let prefer = plugin("prefer_zone")?;
    let default = plugin("default_failover")?;
    let lab = static_lab()?;
    let prefer_2 = format!("prefer={TUNNEL_2}");
    // Compiled once here (cached): the swaps below are installs.
    plugins::compile_ahead(&lab, "failover", &[&prefer, &default])?;
    let port = 5301;
    let _server = lab.iperf3_server(&lab.site_b, port)?;
    let swaps = 20;
    let (train, stream, swapped) = thread::scope(|s| {
        let train = s.spawn(|| {
            measure::ping_train_for(&lab.site_a, SITE_B_V4, INTERVAL, Duration::from_secs(9))
        });
        let stream =
            s.spawn(|| measure::iperf3_client_at(&lab.site_a, SITE_B_V4, port, 8, Some("1G")));
        thread::sleep(Duration::from_millis(1500));
        let mut swapped = Ok(());
        for i in 0..swaps {
            for gw in [Gw::Cgw, Gw::Vgw] {
                let answer = if i % 2 == 0 {
                    plugins::swap(&lab, gw, "failover", &prefer, &[&prefer_2])
                } else {
                    plugins::swap(&lab, gw, "failover", &default, &[])
                };
                swapped = swapped.and(answer.map(|_| ()));
            }
            thread::sleep(Duration::from_millis(200));
        }
        (train.join(), stream.join(), swapped)
    });
    swapped?;
    let train = train.map_err(|_| Error::msg("ping thread panicked"))??;
    let stream = stream.map_err(|_| Error::msg("iperf3 thread panicked"))??;
    Ok(SwapSample {
        swaps: 2 * swaps,
        sent: train.sent,
        lost: train.lost(),
        mbps: stream.received_mbps(),
    })
}
