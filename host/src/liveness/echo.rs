//! An ICMP echo ("ping") liveness probe for one tunnel, like IPsec dead-peer
//! detection: the probe for far sides that do not speak BFD, such as a stock
//! WireGuard peer (wireguard-go or the kernel module with wg-quick), whose
//! kernel answers pings to its inside tunnel address. It owns the sans-IO
//! [`EchoSession`] state machine: when to send a request and with which
//! sequence number, which replies count, and the Up/Down state with its
//! detection timer. It must not do I/O, read the clock or know about packet
//! bytes: the caller builds and parses packets with `crate::packet`'s echo
//! functions (RFC 792), passes `now`, and calls back at
//! [`EchoSession::poll_timeout`].
//!
//! What it measures is reachability of the far inside address through the
//! tunnel (the far kernel answers), not the health of the far gateway's
//! software: a wedged routing daemon on the far side still answers pings.
//! States and transitions are BFD's (`liveness::bfd`), of which only Down and
//! Up are used.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::liveness::bfd::{Diag, State, Transition};
use crate::liveness::ProbeStats;

/// How many recent requests are remembered for matching replies.
const MAX_OUTSTANDING: usize = 64;
/// Bounds of the request interval, so that deadlines stay representable.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// One echo probe (one per tunnel).
///
/// Drive it with [`handle_reply`](Self::handle_reply) for each parsed reply,
/// and at [`poll_timeout`](Self::poll_timeout) with
/// [`handle_timeout`](Self::handle_timeout) then
/// [`poll_transmit`](Self::poll_transmit).
#[derive(Debug, Clone)]
pub struct EchoSession {
    state: State,
    interval: Duration,
    /// `interval * multiplier`: how long Up survives without a valid reply.
    detection: Duration,
    /// `2 * detection`: how old a request may be and still be answered.
    window: Duration,
    next_seq: u16,
    next_tx: Instant,
    /// Requests sent, oldest first, at most [`MAX_OUTSTANDING`]; a matched
    /// one is removed, so each request is answered at most once.
    sent: VecDeque<(u16, Instant)>,
    last_reply: Option<Instant>,
    stats: ProbeStats,
}

impl EchoSession {
    /// A new probe in state Down whose first request, with sequence number
    /// `first_seq`, is due at `now`. `interval` is clamped to 1 ms..=1 h;
    /// `multiplier` 0 is taken as 1.
    pub fn new(interval: Duration, multiplier: u8, now: Instant, first_seq: u16) -> EchoSession {
        let interval = interval.clamp(MIN_INTERVAL, MAX_INTERVAL);
        let detection = interval.saturating_mul(u32::from(multiplier.max(1)));
        EchoSession {
            state: State::Down,
            interval,
            detection,
            window: detection.saturating_mul(2),
            next_seq: first_seq,
            next_tx: now,
            sent: VecDeque::with_capacity(MAX_OUTSTANDING),
            last_reply: None,
            stats: ProbeStats::default(),
        }
    }

    /// New timers (a reload): the next request follows the new interval,
    /// and the new detection time counts from the last reply.
    pub fn set_timers(&mut self, interval: Duration, multiplier: u8) {
        let interval = interval.clamp(MIN_INTERVAL, MAX_INTERVAL);
        self.interval = interval;
        self.detection = interval.saturating_mul(u32::from(multiplier.max(1)));
        self.window = self.detection.saturating_mul(2);
    }

    /// Down or Up.
    pub fn state(&self) -> State {
        self.state
    }

    /// The sequence number of the request to send now, if one is due. One is
    /// due every `interval`, on a fixed cadence; a caller late by more than an
    /// interval gets one request, not a burst, and the cadence restarts.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<u16> {
        if now < self.next_tx {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.next_tx = match self.next_tx.checked_add(self.interval) {
            Some(t) if t > now => t,
            _ => now.checked_add(self.interval).unwrap_or(now),
        };
        self.forget_stale(now);
        if self.sent.len() >= MAX_OUTSTANDING {
            self.sent.pop_front();
            self.stats.lost();
        }
        self.sent.push_back((seq, now));
        Some(seq)
    }

    /// Processes a parsed echo reply, read off the tunnel at `received`
    /// and handled at `now`. It counts only if `seq` is that of a request
    /// sent within the last `2 * interval * multiplier` before it was
    /// read, and not yet answered; anything else (stale, duplicate, never
    /// sent) is ignored. Its round trip ends at `received` (the wait for
    /// the control loop is no network latency); a valid reply restarts the
    /// detection timer from `now`, as a BFD packet does (a slow control
    /// loop must not take a tunnel down), and brings a Down probe Up.
    pub fn handle_reply(
        &mut self,
        seq: u16,
        received: Instant,
        now: Instant,
    ) -> Option<Transition> {
        self.forget_stale(received);
        let at = self.sent.iter().position(|&(s, _)| s == seq)?;
        if let Some((_, sent)) = self.sent.remove(at) {
            self.stats
                .answered(received.saturating_duration_since(sent));
        }
        self.last_reply = Some(self.last_reply.map_or(now, |t| t.max(now)));
        match self.state {
            State::Up => None,
            from => {
                self.state = State::Up;
                Some(Transition {
                    from,
                    to: State::Up,
                    diag: Diag::None,
                })
            }
        }
    }

    /// Handles the detection timer: an Up probe goes Down (diag 1) once
    /// `interval * multiplier` has passed since the last valid reply.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Transition> {
        let deadline = self.detect_deadline()?;
        if now < deadline {
            return None;
        }
        let from = self.state;
        self.state = State::Down;
        Some(Transition {
            from,
            to: State::Down,
            diag: Diag::ControlDetectionTimeExpired,
        })
    }

    /// When to call `handle_timeout` / `poll_transmit` next: the earliest of
    /// the next request and, when Up, the detection deadline.
    pub fn poll_timeout(&self) -> Instant {
        self.detect_deadline()
            .map_or(self.next_tx, |d| d.min(self.next_tx))
    }

    /// The detection deadline while Up (`None` if Down or beyond `Instant`).
    fn detect_deadline(&self) -> Option<Instant> {
        if self.state != State::Up {
            return None;
        }
        self.last_reply?.checked_add(self.detection)
    }

    /// Drops requests sent longer than the reply window ago.
    fn forget_stale(&mut self, now: Instant) {
        while let Some(&(_, at)) = self.sent.front() {
            if now.saturating_duration_since(at) <= self.window {
                break;
            }
            self.sent.pop_front();
            self.stats.lost();
        }
    }

    /// Round trips and answered requests so far.
    pub fn stats(&self) -> ProbeStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IV: Duration = Duration::from_millis(200);
    const NS: Duration = Duration::from_nanos(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn up(from: State) -> Option<Transition> {
        Some(Transition {
            from,
            to: State::Up,
            diag: Diag::None,
        })
    }

    fn down() -> Option<Transition> {
        Some(Transition {
            from: State::Up,
            to: State::Down,
            diag: Diag::ControlDetectionTimeExpired,
        })
    }

    #[test]
    fn one_request_per_interval() {
        let t0 = Instant::now();
        let mut s = EchoSession::new(IV, 3, t0, 100);
        assert_eq!(s.poll_timeout(), t0);
        let mut got = Vec::new();
        // Polled every 10 ms for one second: requests at 0, 200, ..., 1000.
        for i in 0..=100 {
            let now = t0 + ms(10 * i);
            if let Some(seq) = s.poll_transmit(now) {
                got.push((seq, 10 * i));
            }
        }
        let want: Vec<(u16, u64)> = (0..6).map(|k| (100 + k, 200 * u64::from(k))).collect();
        assert_eq!(got, want);
        assert_eq!(s.poll_timeout(), t0 + ms(1200));
        assert_eq!(s.poll_transmit(t0 + ms(1200) - NS), None);
        // A caller 1 s late gets one request, then the cadence restarts.
        assert_eq!(s.poll_transmit(t0 + ms(2250)), Some(106));
        assert_eq!(s.poll_transmit(t0 + ms(2250)), None);
        assert_eq!(s.poll_timeout(), t0 + ms(2450));
        assert_eq!(s.state(), State::Down);
    }

    /// A reply read in time but handled late (the control loop was busy):
    /// its round trip ends when it was read, and the detection time runs
    /// from when it was handled, so the wait does not take the probe down.
    #[test]
    fn a_reply_handled_late_times_its_round_trip_to_its_read_and_keeps_the_probe_up() {
        let t0 = Instant::now();
        let mut s = EchoSession::new(IV, 3, t0, 0);
        let seq = s.poll_transmit(t0).unwrap();
        let handled = t0 + ms(700);
        assert_eq!(s.handle_reply(seq, t0 + ms(3), handled), up(State::Down));
        assert_eq!(s.stats().rtt, Some(ms(3)));
        assert_eq!(s.handle_timeout(handled), None, "still up");
        assert_eq!(s.handle_timeout(handled + ms(600) - NS), None);
        assert_eq!(s.handle_timeout(handled + ms(600)), down());
    }

    #[test]
    fn up_stays_up_then_down_exactly_at_detection_then_up_again() {
        let t0 = Instant::now();
        let mut s = EchoSession::new(IV, 3, t0, 0);
        let seq = s.poll_transmit(t0).unwrap();
        assert_eq!(s.handle_timeout(t0 + ms(5)), None);
        assert_eq!(s.handle_reply(seq, t0 + ms(5), t0 + ms(5)), up(State::Down));
        assert_eq!(s.state(), State::Up);
        // Replies every interval, 5 ms after each request, for ten seconds.
        let mut last = t0 + ms(5);
        for i in 1..=50 {
            let now = t0 + IV * i;
            assert_eq!(s.handle_timeout(now), None);
            let seq = s.poll_transmit(now).unwrap();
            last = now + ms(5);
            assert_eq!(s.handle_timeout(last), None);
            assert_eq!(s.handle_reply(seq, last, last), None);
            assert_eq!(s.state(), State::Up);
        }
        let stats = s.stats();
        assert_eq!(stats.rtt, Some(ms(5)));
        assert_eq!((stats.requests, stats.answers), (51, 51));
        assert_eq!(stats.loss_permille(), Some(0));
        // The far side goes silent: Down 600 ms after the last reply.
        let deadline = last + ms(600);
        let mut now = last;
        while now < deadline {
            now = s.poll_timeout().min(deadline - NS);
            assert_eq!(s.handle_timeout(now), None, "early at {:?}", now - last);
            s.poll_transmit(now);
            now += NS;
        }
        assert_eq!(s.poll_timeout(), deadline);
        assert_eq!(s.handle_timeout(deadline), down());
        assert_eq!(s.state(), State::Down);
        assert_eq!(s.handle_timeout(deadline + NS), None);
        // The next request answered brings it back Up.
        let at = s.poll_timeout();
        let seq = s.poll_transmit(at).unwrap();
        assert_eq!(s.handle_reply(seq, at + ms(5), at + ms(5)), up(State::Down));
        assert_eq!(s.poll_timeout(), at + IV);
    }

    #[test]
    fn stale_duplicate_and_unknown_replies_ignored() {
        let t0 = Instant::now();
        let mut s = EchoSession::new(IV, 3, t0, 500);
        assert_eq!(s.poll_transmit(t0), Some(500));
        // Never sent: the next seq, an old one, anything else.
        for seq in [501, 499, 0, u16::MAX] {
            assert_eq!(
                s.handle_reply(seq, t0 + ms(1), t0 + ms(1)),
                None,
                "seq {seq}"
            );
        }
        // Window is 2 * 200 ms * 3 = 1.2 s: just inside counts...
        assert_eq!(
            s.handle_reply(500, t0 + ms(1200), t0 + ms(1200)),
            up(State::Down)
        );
        // ... but only once.
        assert_eq!(s.handle_timeout(t0 + ms(1800)), down());
        assert_eq!(
            s.handle_reply(500, t0 + ms(1800), t0 + ms(1800)),
            None,
            "duplicate"
        );
        // Just outside does not.
        let mut s = EchoSession::new(IV, 3, t0, 500);
        assert_eq!(s.poll_transmit(t0), Some(500));
        assert_eq!(
            s.handle_reply(500, t0 + ms(1200) + NS, t0 + ms(1200) + NS),
            None,
            "stale"
        );
        assert_eq!(s.state(), State::Down);
        // A reply to a request later dropped from the 64 remembered is stale.
        let mut s = EchoSession::new(ms(10), 255, t0, 0);
        for i in 0..=64 {
            assert_eq!(s.poll_transmit(t0 + ms(10 * i)), Some(i as u16));
        }
        assert_eq!(
            s.handle_reply(0, t0 + ms(645), t0 + ms(645)),
            None,
            "forgotten"
        );
        assert_eq!(
            s.handle_reply(1, t0 + ms(645), t0 + ms(645)),
            up(State::Down)
        );
    }

    #[test]
    fn seq_wraps_around() {
        let t0 = Instant::now();
        let mut s = EchoSession::new(IV, 3, t0, u16::MAX - 1);
        let seqs: Vec<_> = (0..4)
            .filter_map(|i| s.poll_transmit(t0 + IV * i))
            .collect();
        assert_eq!(seqs, [u16::MAX - 1, u16::MAX, 0, 1]);
        let now = t0 + IV * 3 + ms(1);
        assert_eq!(s.handle_reply(u16::MAX, now, now), up(State::Down));
        assert_eq!(s.handle_reply(0, now, now), None);
        assert_eq!(s.handle_reply(2, now, now), None, "not sent yet");
        assert_eq!(s.handle_reply(u16::MAX - 1, now, now), None);
        assert_eq!(s.state(), State::Up);
    }

    #[test]
    fn odd_parameters() {
        let t0 = Instant::now();
        // Multiplier 0 acts as 1; a zero interval as 1 ms.
        let mut s = EchoSession::new(Duration::ZERO, 0, t0, 7);
        assert_eq!(s.poll_transmit(t0), Some(7));
        assert_eq!(s.poll_transmit(t0), None);
        assert_eq!(s.handle_reply(7, t0, t0), up(State::Down));
        assert_eq!(s.poll_timeout(), t0 + ms(1));
        assert_eq!(s.handle_timeout(t0 + ms(1) - NS), None);
        assert_eq!(s.handle_timeout(t0 + ms(1)), down());
        // A huge interval is taken as one hour and does not overflow.
        let hour = Duration::from_secs(3600);
        let mut s = EchoSession::new(Duration::MAX, u8::MAX, t0, 1);
        assert_eq!(s.poll_transmit(t0), Some(1));
        assert_eq!(s.handle_reply(1, t0 + ms(1), t0 + ms(1)), up(State::Down));
        assert_eq!(s.poll_timeout(), t0 + hour);
        assert_eq!(s.poll_transmit(t0 + hour - NS), None);
        assert_eq!(s.handle_timeout(t0 + ms(1) + hour * 255 - NS), None);
    }
}
