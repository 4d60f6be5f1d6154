//! How a turn's route changes reach the log: one line each when a turn
//! has a few (what an operator reads in steady state). A turn of more
//! starts a large change (a full table arriving, a session's routes
//! leaving): its first [`ROUTE_CHANGES_LOGGED`] changes are listed, then
//! every change until it ends is counted, with a summary line a second
//! and one when it ends: [`QUIET`] without a change and nothing queued,
//! or a second whose turns each had few enough to list (a busy table's
//! steady churn goes back to a line each). A full-table ingest logged 21
//! lines a turn before, thousands a second (3-4.5% of the control thread's
//! time, BENCHMARKS-routes.md, eleventh sitting). Owns only the counts
//! and times (the caller's clock); the gateway writes the lines.

use std::time::{Duration, Instant};

/// Route changes listed one by one per turn; beyond, a large change.
pub const ROUTE_CHANGES_LOGGED: usize = 20;
/// Longest time between two summary lines of a large change.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(1);
/// A large change has ended when no route changed for this long and no
/// route work is queued.
pub const QUIET: Duration = Duration::from_millis(500);

/// What to log for one turn.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lines {
    /// First, a summary of a large change: its route changes since its
    /// start or the last summary, and the time from then to the last of
    /// them.
    pub summary: Option<(usize, Duration)>,
    /// Then the first `each` of the turn's changes, a line each.
    pub each: usize,
}

/// A large change under way.
#[derive(Debug)]
struct Large {
    /// Changes since `since` (the change's start or its last summary).
    counted: usize,
    since: Instant,
    /// The last turn with a change.
    last: Instant,
    /// A turn since `since` had more changes than a turn lists.
    large_turn: bool,
}

impl Large {
    /// The summary of the changes counted, and a new count from `now`.
    fn summary(&mut self, now: Instant) -> Option<(usize, Duration)> {
        let counted = std::mem::take(&mut self.counted);
        let over = self.last.saturating_duration_since(self.since);
        self.since = now;
        self.large_turn = false;
        // A large change that ends just after a summary has nothing to add.
        (counted > 0).then_some((counted, over))
    }
}

/// The large change under way, if any.
#[derive(Debug, Default)]
pub struct ChangeLog {
    large: Option<Large>,
}

impl ChangeLog {
    /// A turn made `changes` route changes at `now`; `drained`: no route
    /// work is left queued.
    pub fn turn(&mut self, changes: usize, now: Instant, drained: bool) -> Lines {
        let Some(large) = self.large.as_mut() else {
            if changes > ROUTE_CHANGES_LOGGED {
                self.large = Some(Large {
                    counted: changes,
                    since: now,
                    last: now,
                    large_turn: true,
                });
            }
            return Lines {
                summary: None,
                each: changes.min(ROUTE_CHANGES_LOGGED),
            };
        };
        if changes > 0 {
            large.counted += changes;
            large.last = now;
        }
        large.large_turn |= changes > ROUTE_CHANGES_LOGGED;
        let quiet = drained && now.saturating_duration_since(large.last) >= QUIET;
        let due = now.saturating_duration_since(large.since) >= SUMMARY_EVERY;
        if !quiet && !due {
            return Lines::default();
        }
        // A second of turns that each list their changes ends it too.
        let ended = quiet || !large.large_turn;
        let summary = large.summary(now);
        if ended {
            self.large = None;
        }
        Lines { summary, each: 0 }
    }

    /// The summary of a large change still open, for a gateway that stops.
    pub fn flush(&mut self, now: Instant) -> Option<(usize, Duration)> {
        self.large.take()?.summary(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn each(n: usize) -> Lines {
        Lines {
            summary: None,
            each: n,
        }
    }

    #[test]
    fn small_turns_list_each_change() {
        let mut log = ChangeLog::default();
        let t = Instant::now();
        assert_eq!(log.turn(0, t, true), each(0));
        assert_eq!(log.turn(3, t, true), each(3));
        assert_eq!(log.turn(ROUTE_CHANGES_LOGGED, t, false), each(20));
    }

    /// A full table over 3.5 s of turns 5 ms apart, every other one with
    /// 8,000 changes and the queue drained in between (the feed is the
    /// slower side): its first 20 changes, then a line a second and one
    /// when it ends, not 21 lines a turn.
    #[test]
    fn a_large_change_is_summed_once_a_second_and_when_it_ends() {
        let mut log = ChangeLog::default();
        let t0 = Instant::now();
        let mut listed = 0;
        let mut summaries = Vec::new();
        // 100 ms of quiet ticks after the feed; 500 ms ends it.
        for i in 0..(700 + 120) {
            let now = t0 + MS * (5 * i);
            let changes = if i < 700 && i % 2 == 0 { 8_000 } else { 0 };
            let lines = log.turn(changes, now, changes == 0);
            listed += lines.each;
            summaries.extend(lines.summary);
        }
        assert_eq!(listed, ROUTE_CHANGES_LOGGED, "the first turn's first");
        assert_eq!(summaries.len(), 4, "{summaries:?}");
        let counted: usize = summaries.iter().map(|s| s.0).sum();
        assert_eq!(counted, 350 * 8_000, "none lost");
        assert_eq!(summaries.first(), Some(&(101 * 8_000, MS * 1000)));
        assert_eq!(summaries.get(1), Some(&(100 * 8_000, MS * 1000)));
        assert_eq!(summaries.last().map(|s| s.0), Some(49 * 8_000));
        assert_eq!(log.turn(2, t0 + MS * 5000, true), each(2), "over");
    }

    #[test]
    fn a_change_during_a_large_one_is_counted_in_it() {
        let mut log = ChangeLog::default();
        let t = Instant::now();
        assert_eq!(log.turn(5_000, t, false), each(ROUTE_CHANGES_LOGGED));
        assert_eq!(log.turn(2, t + MS * 300, true), Lines::default());
        assert_eq!(log.turn(0, t + MS * 700, true), Lines::default());
        assert_eq!(
            log.turn(0, t + MS * 800, true).summary,
            Some((5_002, MS * 300)),
            "500 ms after its last change, with nothing queued"
        );
        assert_eq!(log.turn(0, t + MS * 900, true), each(0));
    }

    #[test]
    fn work_still_queued_keeps_a_large_change_open() {
        let mut log = ChangeLog::default();
        let t = Instant::now();
        log.turn(5_000, t, false);
        assert_eq!(log.turn(0, t + MS * 900, false), Lines::default());
        assert_eq!(
            log.turn(0, t + MS * 1000, false).summary,
            Some((5_000, Duration::ZERO)),
            "the summary a second"
        );
        assert_eq!(
            log.turn(0, t + MS * 1100, true),
            Lines::default(),
            "ended, with nothing since the summary"
        );
        assert_eq!(log.turn(30, t + MS * 1200, true), each(20), "a new one");
    }

    /// A table that keeps changing a few routes a turn after its ingest
    /// goes back to a line per change within a second.
    #[test]
    fn steady_churn_after_a_large_change_is_listed_again() {
        let mut log = ChangeLog::default();
        let t = Instant::now();
        log.turn(5_000, t, false);
        let mut summaries = Vec::new();
        for i in 1..=30u32 {
            // 3 changes every 100 ms, never 500 ms quiet.
            let lines = log.turn(3, t + MS * (100 * i), true);
            summaries.extend(lines.summary);
            if i > 20 {
                assert_eq!(lines, each(3), "turn {i}");
            }
        }
        assert_eq!(
            summaries,
            vec![(5_000 + 10 * 3, MS * 1000), (10 * 3, MS * 1000)],
            "the second's summary ends it"
        );
    }

    #[test]
    fn a_stopping_gateway_flushes_what_is_counted() {
        let mut log = ChangeLog::default();
        let t = Instant::now();
        log.turn(5_000, t, false);
        log.turn(100, t + MS * 10, false);
        assert_eq!(log.flush(t + MS * 20), Some((5_100, MS * 10)));
        assert_eq!(log.flush(t + MS * 30), None);
        assert_eq!(log.turn(1, t + MS * 40, true), each(1));
    }
}
