//! Cutting the link under a flow, the measurement behind the dynamic
//! topology's failover tests: a ping train runs from site A to site B, the
//! tunnel that carries it is found from the customer gateway's per-tunnel
//! counters, its VGW link is cut, and chosen prefixes of chosen gateways are
//! watched (`sitelink routes --prefix`: a few lookups, whatever the table
//! size) until the carrier has left their selected tunnels and the other
//! tunnel is there. Start it from the test's thread: the ping train runs on
//! a scoped thread beside the cut.

use super::{SiteLab, SITE_B_V4, TUNNEL_1, TUNNEL_2};
use crate::error::{Error, Result};
use crate::gateway::{counter_delta, Gw};
use crate::measure::{self, PingTrain};
use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

/// Ping interval of the train.
const INTERVAL: Duration = Duration::from_millis(10);
/// Train time before the carrier is looked for, and the counting window.
const SETTLE: Duration = Duration::from_millis(1500);
const SAMPLE: Duration = Duration::from_millis(500);
/// Packets a tunnel must send in [`SAMPLE`] to count as the carrier (the
/// train sends about 50).
const CARRIER_MIN: u64 = 20;
/// How often the watched prefixes are read.
const POLL: Duration = Duration::from_millis(50);

/// What [`SiteLab::cut_carrier_link`] saw.
#[derive(Debug)]
pub struct LinkCut {
    /// The whole ping train, the cut included.
    pub train: Result<PingTrain>,
    /// The tunnel that carried the train, whose VGW link was cut.
    pub carrier: &'static str,
    /// The other tunnel of the connection.
    pub other: &'static str,
    /// The VGW link cut (1 or 2).
    pub link: u8,
    /// The CGW's `tx_packets` per tunnel in the window that named the carrier.
    pub sample: BTreeMap<String, u64>,
    /// Per watched (gateway, prefix), in order: the time from the cut until
    /// the carrier had left the prefix's selected tunnels and the other
    /// tunnel was among them (`None`: not within the bound).
    pub removed: Vec<Option<Duration>>,
}

impl LinkCut {
    /// The time until every watched prefix had left the carrier (the
    /// slowest), if they all did within the bound.
    pub fn all_removed(&self) -> Option<Duration> {
        self.removed
            .iter()
            .copied()
            .try_fold(Duration::ZERO, |max, r| r.map(|r| r.max(max)))
    }
}

impl SiteLab {
    /// Runs a ping train from site A to site B (every 10 ms, for `train`),
    /// finds the tunnel carrying it after 1.5 s (the one whose CGW
    /// `tx_packets` grew most, at least 20 packets in 0.5 s; tunnel 1 if
    /// none did), cuts that tunnel's VGW link, and watches each (gateway,
    /// prefix) of `watch` for up to `bound` after the cut. Prints (as
    /// `[test] ...`) the carrier and the carrier's BGP session state on
    /// both gateways once the watch is over. The link stays cut.
    pub fn cut_carrier_link(
        &self,
        test: &str,
        train: Duration,
        watch: &[(Gw, &str)],
        bound: Duration,
    ) -> Result<LinkCut> {
        thread::scope(|s| {
            let pings =
                s.spawn(|| measure::ping_train_for(&self.site_a, SITE_B_V4, INTERVAL, train));
            let cut = self.find_and_cut(test, watch, bound);
            let train = pings
                .join()
                .unwrap_or_else(|_| Err(Error::msg("the ping train thread panicked")));
            cut.map(|cut| LinkCut { train, ..cut })
        })
    }

    /// [`SiteLab::cut_carrier_link`] beside the train (whose result is
    /// filled in by the caller).
    fn find_and_cut(&self, test: &str, watch: &[(Gw, &str)], bound: Duration) -> Result<LinkCut> {
        thread::sleep(SETTLE);
        let a = self.tunnel_counters(Gw::Cgw, "tx_packets")?;
        thread::sleep(SAMPLE);
        let b = self.tunnel_counters(Gw::Cgw, "tx_packets")?;
        let sample = counter_delta(&a, &b);
        let carrier = sample
            .iter()
            .filter(|(_, n)| **n >= CARRIER_MIN)
            .max_by_key(|(_, n)| **n)
            .map_or(
                TUNNEL_1,
                |(t, _)| if t == TUNNEL_2 { TUNNEL_2 } else { TUNNEL_1 },
            );
        let other = if carrier == TUNNEL_1 {
            TUNNEL_2
        } else {
            TUNNEL_1
        };
        let link = self.vgw_link_of_tunnel(carrier)?;
        let cut_at = Instant::now();
        self.cut_vgw_link(link)?;
        println!(
            "[{test}] ping flow on {carrier} (cgw tx in 0.5 s: {sample:?}); cut VGW link {link}"
        );
        let moved = |gw: Gw, prefix: &str| {
            self.routes_of(gw, prefix).is_ok_and(|r| {
                let sel = r.selected_tunnels(prefix);
                !sel.iter().any(|t| t == carrier) && sel.iter().any(|t| t == other)
            })
        };
        let mut removed: Vec<Option<Duration>> = vec![None; watch.len()];
        while removed.iter().any(Option::is_none) && cut_at.elapsed() < bound {
            for (i, (gw, prefix)) in watch.iter().enumerate() {
                if removed[i].is_none() && moved(*gw, prefix) {
                    removed[i] = Some(cut_at.elapsed());
                }
            }
            thread::sleep(POLL);
        }
        let states = [Gw::Cgw, Gw::Vgw].map(|gw| {
            self.bgp(gw)
                .ok()
                .and_then(|b| b.state(carrier).map(str::to_string))
        });
        println!(
            "[{test}] session over {carrier} after the watch: cgw {:?}, vgw {:?}",
            states[0], states[1]
        );
        Ok(LinkCut {
            train: Err(Error::msg("the ping train was still running")),
            carrier,
            other,
            link,
            sample,
            removed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_removal_counts_only_when_all_left() {
        let cut = |removed: Vec<Option<Duration>>| LinkCut {
            train: Err(Error::msg("no train")),
            carrier: TUNNEL_1,
            other: TUNNEL_2,
            link: 1,
            sample: BTreeMap::new(),
            removed,
        };
        let ms = Duration::from_millis;
        assert_eq!(
            cut(vec![Some(ms(300)), Some(ms(900))]).all_removed(),
            Some(ms(900))
        );
        assert_eq!(cut(vec![Some(ms(300)), None]).all_removed(), None);
        assert_eq!(cut(Vec::new()).all_removed(), Some(Duration::ZERO));
    }
}
