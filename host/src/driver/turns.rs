//! How long the control thread's turns take: a histogram of atomics the
//! control thread adds to and the admin thread reads (for `sitelink status`
//! and the benchmarks), so a stall of the thread that runs the liveness
//! probes is visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use crate::api::TurnSummary;

/// Upper bounds of the buckets, in milliseconds (the last one is +Inf).
pub const BOUNDS_MS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
];

/// The turn-time histogram.
#[derive(Default)]
pub struct TurnStats {
    /// Per bucket (one more than `BOUNDS_MS`: the overflow).
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl TurnStats {
    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let ms = took.as_secs_f64() * 1e3;
        let index = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        if let Some(b) = self.buckets.get(index) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn summary(&self) -> TurnSummary {
        let turns = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e3;
        TurnSummary {
            turns,
            mean_ms: if turns == 0 { 0.0 } else { sum / turns as f64 },
            max_ms: self.max_us.load(Ordering::Relaxed) as f64 / 1e3,
            histogram: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, b)| (BOUNDS_MS.get(i).copied(), b.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_land_in_their_buckets() {
        let s = TurnStats::default();
        s.record(Duration::from_micros(500));
        s.record(Duration::from_millis(15));
        s.record(Duration::from_secs(3));
        let sum = s.summary();
        assert_eq!(sum.turns, 3);
        assert_eq!(sum.max_ms, 3000.0);
        assert_eq!(sum.histogram[0], (Some(1.0), 1));
        assert_eq!(sum.histogram[4], (Some(15.0), 1));
        assert_eq!(sum.histogram[14], (None, 1));
    }
}
