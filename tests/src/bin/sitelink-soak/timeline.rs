//! The soak's timeline: every event on one clock (seconds since the soak
//! began, negative before it), shared by the soak's threads, and the losses
//! placed next to the events: each run of unanswered pings and each second
//! of the UDP stream that lost datagrams, with the nearest planned event
//! (a plugin swap or a reload, meant to be hitless), the nearest churn
//! toggle and anything unplanned (a BGP session or tunnel change).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use sitelink_lab::tunnel_log::now_ms;

/// A loss counts as "at" a planned event from this long before its start...
pub const PLANNED_BEFORE_S: f64 = 1.0;
/// ...to this long after its end (a swap's or reload's work may trail the
/// CLI's answer).
pub const PLANNED_AFTER_S: f64 = 3.0;

/// A final run of at most this many unanswered pings, ending with the last
/// request sent, was in flight when ping's deadline ended it: not a loss.
pub const IN_FLIGHT_AT_END: u32 = 3;

/// What kind of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The peer announced or withdrew its churn routes (planned, continuous).
    Churn,
    /// A plugin swap (planned, meant to be hitless).
    Swap,
    /// A config reload (planned, meant to be hitless).
    Reload,
    /// Something nobody asked for: a BGP session or tunnel state change.
    Unplanned,
    /// A failure: a command that failed, a wait that timed out.
    Error,
}

impl Kind {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Churn => "churn",
            Kind::Swap => "swap",
            Kind::Reload => "reload",
            Kind::Unplanned => "UNPLANNED",
            Kind::Error => "ERROR",
        }
    }
}

/// One event: a span of soak time (a point when `end == at`).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Start, in seconds since the soak began.
    pub at: f64,
    /// End (the command's answer, the convergence), same clock.
    pub end: f64,
    pub kind: Kind,
    pub text: String,
}

impl Event {
    /// `t - self` in seconds: 0 inside the span, negative before its start.
    pub fn offset(&self, t: f64) -> f64 {
        if t < self.at {
            t - self.at
        } else if t > self.end {
            t - self.end
        } else {
            0.0
        }
    }

    /// A swap or a reload.
    pub fn is_planned(&self) -> bool {
        matches!(self.kind, Kind::Swap | Kind::Reload)
    }
}

/// The event log and its clock.
pub struct Timeline {
    t0: Instant,
    t0_ms: i64,
    events: Mutex<Vec<Event>>,
}

impl Timeline {
    /// A timeline whose zero is now.
    pub fn start() -> Timeline {
        Timeline {
            t0: Instant::now(),
            t0_ms: now_ms(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Seconds since the zero.
    pub fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// `i` on this clock (negative before the zero).
    pub fn at(&self, i: Instant) -> f64 {
        match i.checked_duration_since(self.t0) {
            Some(d) => d.as_secs_f64(),
            None => -(self.t0 - i).as_secs_f64(),
        }
    }

    /// A wall-clock time (ms since the Unix epoch) on this clock.
    pub fn of_epoch_ms(&self, ms: i64) -> f64 {
        (ms - self.t0_ms) as f64 / 1000.0
    }

    /// The zero as Unix seconds.
    pub fn zero_epoch_s(&self) -> f64 {
        self.t0_ms as f64 / 1000.0
    }

    /// Records an event from `start` until now.
    pub fn record(&self, kind: Kind, start: Instant, text: impl Into<String>) {
        let (at, end) = (self.at(start), self.now());
        self.push(Event {
            at,
            end,
            kind,
            text: text.into(),
        });
    }

    /// Records a point event now.
    pub fn note(&self, kind: Kind, text: impl Into<String>) {
        let t = self.now();
        self.push(Event {
            at: t,
            end: t,
            kind,
            text: text.into(),
        });
    }

    /// Adds an event (e.g. one read back from a log).
    pub fn push(&self, event: Event) {
        if event.kind != Kind::Churn {
            eprintln!(
                "[soak {}] {}: {}",
                clock(event.at),
                event.kind.name(),
                event.text
            );
        }
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }

    /// Every event, in time order.
    pub fn events(&self) -> Vec<Event> {
        let mut all = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        all.sort_by(|a, b| a.at.total_cmp(&b.at));
        all
    }
}

/// Soak time as `m:ss.s` (`-0:01.2` before the zero).
pub fn clock(t: f64) -> String {
    let sign = if t < 0.0 { "-" } else { "" };
    // Rounded first, so that 59.96 s reads 1:00.0, not 0:60.0.
    let t = (t.abs() * 10.0).round() / 10.0;
    let m = (t / 60.0).floor();
    format!("{sign}{}:{:04.1}", m as u64, t - m * 60.0)
}

/// Lost traffic at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    /// When, in soak seconds.
    pub at: f64,
    /// Packets lost.
    pub count: u64,
    /// Which (`ping seq 120-131`, `UDP second 42`).
    pub what: String,
}

/// What a long ping train lost: the runs of unanswered requests, and a
/// final run that was only in flight at the deadline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PingLosses {
    pub runs: Vec<Loss>,
    pub in_flight_at_end: u32,
}

/// The losses of a ping train of `sent` requests every `interval` s whose
/// replies arrived at `replies` (seq -> Unix seconds), on `timeline`'s clock
/// (`zero` = its zero in Unix seconds). An unanswered request's time is
/// interpolated between the answered ones around it.
pub fn ping_losses(
    replies: &BTreeMap<u32, f64>,
    sent: u32,
    interval: f64,
    zero: f64,
) -> PingLosses {
    let time_of = |seq: u32| -> f64 {
        let before = replies.range(..seq).next_back();
        let after = replies.range(seq + 1..).next();
        let unix = match (before, after) {
            (Some((&sp, &tp)), Some((&sn, &tn))) => {
                tp + (tn - tp) * f64::from(seq - sp) / f64::from(sn - sp)
            }
            (Some((&sp, &tp)), None) => tp + interval * f64::from(seq - sp),
            (None, Some((&sn, &tn))) => tn - interval * f64::from(sn - seq),
            (None, None) => zero + interval * f64::from(seq),
        };
        unix - zero
    };
    let mut out = PingLosses::default();
    let mut seq = 1;
    while seq <= sent {
        if replies.contains_key(&seq) {
            seq += 1;
            continue;
        }
        let first = seq;
        while seq <= sent && !replies.contains_key(&seq) {
            seq += 1;
        }
        let last = seq - 1;
        let count = last - first + 1;
        if last == sent && count <= IN_FLIGHT_AT_END {
            out.in_flight_at_end = count;
            break;
        }
        let what = if count == 1 {
            format!("ping seq {first}")
        } else {
            format!("ping seq {first}-{last}")
        };
        out.runs.push(Loss {
            at: time_of(first),
            count: u64::from(count),
            what,
        });
    }
    out
}

/// The nearest event of one of `kinds` to `t`, with its offset.
pub fn nearest<'a>(events: &'a [Event], t: f64, kinds: &[Kind]) -> Option<(&'a Event, f64)> {
    events
        .iter()
        .filter(|e| kinds.contains(&e.kind))
        .map(|e| (e, e.offset(t)))
        .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
}

/// True if `t` falls in a planned event's window (see [`PLANNED_BEFORE_S`]).
pub fn at_planned(events: &[Event], t: f64) -> bool {
    events.iter().filter(|e| e.is_planned()).any(|e| {
        let o = e.offset(t);
        (-PLANNED_BEFORE_S..=PLANNED_AFTER_S).contains(&o)
    })
}

/// An event and the offset of a loss from it, for the report: `swap
/// bgp-filter ... (+0.4 s)`.
pub fn describe_near(near: Option<(&Event, f64)>) -> String {
    match near {
        Some((e, o)) => format!("{} at {} ({o:+.1} s)", e.text, clock(e.at)),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: f64, end: f64, kind: Kind) -> Event {
        Event {
            at,
            end,
            kind,
            text: format!("{kind:?}"),
        }
    }

    #[test]
    fn clock_reads_minutes() {
        assert_eq!(clock(0.0), "0:00.0");
        assert_eq!(clock(75.24), "1:15.2");
        assert_eq!(clock(-1.5), "-0:01.5");
        assert_eq!(clock(1800.0), "30:00.0");
        assert_eq!(clock(59.96), "1:00.0");
    }

    #[test]
    fn losses_are_runs_placed_between_their_neighbours() {
        // Zero at Unix 1000; replies every 10 ms from seq 1 at 1000.01,
        // but seqs 5-7 and 20 missing; 25 sent, 24 and 25 in flight.
        let replies: BTreeMap<u32, f64> = (1..=23)
            .filter(|s| !(5..=7).contains(s) && *s != 20)
            .map(|s| (s, 1000.0 + f64::from(s) * 0.01))
            .collect();
        let l = ping_losses(&replies, 25, 0.01, 1000.0);
        assert_eq!(l.in_flight_at_end, 2);
        assert_eq!(l.runs.len(), 2);
        assert_eq!(l.runs[0].what, "ping seq 5-7");
        assert_eq!(l.runs[0].count, 3);
        assert!((l.runs[0].at - 0.05).abs() < 1e-9, "{}", l.runs[0].at);
        assert_eq!(l.runs[1].what, "ping seq 20");
        assert!((l.runs[1].at - 0.20).abs() < 1e-9);
        // A long final run is a loss, not requests in flight.
        let l = ping_losses(&replies, 40, 0.01, 1000.0);
        assert_eq!(l.in_flight_at_end, 0);
        assert_eq!(l.runs.last().map(|r| r.count), Some(17));
        // Nothing answered at all.
        let l = ping_losses(&BTreeMap::new(), 10, 0.01, 1000.0);
        assert_eq!(l.runs.len(), 1);
        assert_eq!(l.runs[0].count, 10);
    }

    #[test]
    fn nearest_events_and_planned_windows() {
        let events = vec![
            ev(10.0, 10.5, Kind::Swap),
            ev(12.0, 12.0, Kind::Churn),
            ev(60.0, 61.0, Kind::Reload),
        ];
        let (e, o) = nearest(&events, 11.0, &[Kind::Swap, Kind::Reload]).unwrap();
        assert_eq!((e.kind, o), (Kind::Swap, 0.5));
        let (e, o) = nearest(&events, 11.0, &[Kind::Churn]).unwrap();
        assert_eq!((e.kind, o), (Kind::Churn, -1.0));
        assert!(nearest(&events, 11.0, &[Kind::Error]).is_none());
        assert!(at_planned(&events, 9.5));
        assert!(at_planned(&events, 13.5));
        assert!(!at_planned(&events, 14.0));
        assert!(at_planned(&events, 60.5));
        assert!(!at_planned(&events, 30.0));
        assert!(describe_near(nearest(&events, 59.0, &[Kind::Reload])).ends_with("(-1.0 s)"));
    }

    #[test]
    fn the_timeline_sorts_and_converts() {
        let t = Timeline::start();
        t.note(Kind::Churn, "b");
        t.push(ev(-5.0, -4.0, Kind::Swap));
        let all = t.events();
        assert_eq!(all[0].kind, Kind::Swap);
        assert!(t.at(Instant::now()) >= 0.0);
        assert_eq!(t.of_epoch_ms(t.t0_ms + 1500), 1.5);
    }
}
