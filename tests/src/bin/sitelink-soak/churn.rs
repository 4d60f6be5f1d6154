//! The route churn: BIRD announces its churn routes, the VGW's FIB is
//! polled (its admin socket, every 25 ms) until it holds every one of them,
//! then, half a period after the toggle, BIRD withdraws them and the FIB is
//! polled until they are all gone; again until the soak ends. So each
//! cycle proves that the routes really arrived and really left, and times
//! both. The VGW's RSS is read each time the table is full, so the first
//! and last full-table readings compare like with like.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sitelink_lab::proc_stat::proc_status_bytes;
use sitelink_lab::process::wait_until;
use sitelink_lab::{Gw, Result};

use crate::setup::Soaked;
use crate::timeline::{Kind, Timeline};

/// Bound on the FIB following one toggle.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(25);

/// What the churn did.
#[derive(Debug, Default)]
pub struct Churn {
    /// Full cycles (announced and withdrawn).
    pub cycles: u32,
    /// Seconds from each announcement to every route in the FIB.
    pub in_s: Vec<f64>,
    /// Seconds from each withdrawal to every route gone.
    pub out_s: Vec<f64>,
    /// Toggles whose FIB did not follow within [`CONVERGE_TIMEOUT`] (or
    /// that BIRD refused).
    pub failed: u32,
    /// (soak time, VmRSS bytes) each time the table was full.
    pub full_rss: Vec<(f64, u64)>,
}

/// Announces (`true`) or withdraws the churn routes and waits until the
/// VGW's FIB holds all (none) of them; the time from the toggle.
pub fn toggle(s: &Soaked, announce: bool) -> Result<Duration> {
    let start = Instant::now();
    s.churn(announce)?;
    let want = if announce {
        s.base_v4 + u64::from(s.routes)
    } else {
        s.base_v4
    };
    let mut last = None;
    let verb = if announce { "arrive" } else { "leave" };
    wait_until(
        &format!("the {} churn routes to {verb} the VGW's FIB", s.routes),
        CONVERGE_TIMEOUT,
        POLL,
        || {
            last = s.fib_v4().ok();
            last.is_some_and(|n| if announce { n >= want } else { n <= want })
        },
    )
    .map_err(|e| e.context(format!("(FIB: {last:?} IPv4 prefixes, want {want})")))?;
    Ok(start.elapsed())
}

/// Waits until every session of the VGW has accepted at least the churn
/// routes: the FIB is full once one session has them all, while the other
/// may still be taking its copy (a swap then races the table's arrival).
pub fn settled(s: &Soaked) -> Result<Duration> {
    let start = Instant::now();
    let want = u64::from(s.routes);
    wait_until(
        &format!("every VGW session to accept the {want} churn routes"),
        CONVERGE_TIMEOUT,
        POLL,
        || {
            s.lab.bgp(Gw::Vgw).is_ok_and(|bgp| {
                let peers = bgp.peers();
                !peers.is_empty()
                    && peers
                        .iter()
                        .all(|p| p["prefixes_accepted"].as_u64().is_some_and(|n| n >= want))
            })
        },
    )?;
    Ok(start.elapsed())
}

/// Sleeps until soak time `target` (or `stop`), in steps of at most 100 ms.
pub fn pause_until(t: &Timeline, target: f64, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let left = target - t.now();
        if left <= 0.0 {
            return;
        }
        thread::sleep(Duration::from_secs_f64(left.min(0.1)));
    }
}

/// Toggles the churn every `half` until soak time `until` or `stop`.
pub fn run(s: &Soaked, t: &Timeline, half: Duration, until: f64, stop: &AtomicBool) -> Churn {
    let mut c = Churn::default();
    let n = s.routes;
    'soak: loop {
        for announce in [true, false] {
            let at = t.now();
            if at >= until || stop.load(Ordering::Relaxed) {
                break 'soak;
            }
            let start = Instant::now();
            match toggle(s, announce) {
                Ok(took) => {
                    let took = took.as_secs_f64();
                    let text = if announce {
                        c.in_s.push(took);
                        if let Ok(rss) = proc_status_bytes(s.pid, "VmRSS") {
                            c.full_rss.push((t.now(), rss));
                        }
                        format!("{n} routes announced, all in the FIB after {took:.2} s")
                    } else {
                        c.out_s.push(took);
                        format!("{n} routes withdrawn, all gone after {took:.2} s")
                    };
                    t.record(Kind::Churn, start, text);
                }
                Err(e) => {
                    c.failed += 1;
                    t.record(Kind::Error, start, format!("churn: {e}"));
                }
            }
            pause_until(t, (at + half.as_secs_f64()).min(until), stop);
        }
        c.cycles += 1;
    }
    c
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The largest of `v` (0 when empty).
pub fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_maxima() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(max(&[1.0, 5.0, 2.0]), 5.0);
    }
}
