//! Routes the import filter plugin faulted on go through it again later.
//! A filter that faults fails closed: the routes it was asked about are
//! not accepted. A fault can pass (a call cut by its deadline while the
//! machine was busy), so a session's faulted routes are filtered again
//! after a wait: 1 s ([`FIRST_WAIT`]).
//!
//! A call can also fault for one of its routes, every time (a plugin's
//! bug). So a retry puts at most half the faulted routes, and at most half
//! a filter call ([`FIRST_CHUNK`]), in a call, and a retry whose calls
//! fault again halves the routes in a call the next time, down to one: a
//! route the plugin always faults on ends up alone in its call and the
//! others are accepted. While that bisection gets routes through the
//! filter (accepted or rejected by it), its next step follows after
//! [`BISECT_WAIT`], so a full table with a poisoned route in one filter
//! call of ten is back but for them within a couple of seconds, not the
//! ten seconds of ten retries a second apart. A bisection is at most nine
//! such steps (calls of 512 routes down to 2), and they leave the isolated
//! routes to the usual schedule.
//!
//! Otherwise the next retry comes 1 s after one that got some through or
//! did not fault; a retry that faulted and got none through doubles the
//! wait (at least 2 s), up to a minute (a route withdrawn meanwhile is no
//! progress); new routes refused for a fault are retried after 1 s. A
//! route that faults alone is isolated: each later retry gives it a call of
//! its own, and the others' calls go back to [`FIRST_CHUNK`] once none of
//! them is left in a faulted one. A retry takes at most [`ROUND`] routes;
//! the rest follow in the next one, at once unless it faulted and got none
//! through.
//!
//! A retry's faults are counted and logged but left out of the
//! consecutive faults that quarantine a plugin
//! (`FilterSlot::import_filter_retry`): a route the plugin always faults
//! on stays out, tried again up to once a minute (every second while other
//! faulted routes get through), and does not by itself put the operator's
//! policy aside.
//!
//! Owns: when a session's faulted routes are filtered again, and in how
//! many calls. Must not: call the filter (`refilter.rs` works the queue
//! off within the turn's budget) or change what is accepted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::FILTER_CHUNK;
use crate::net_map::FastSet;

/// The wait before the first retry.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The wait before the next step of a bisection: a retry that got some
/// routes through the filter and left others in faulted calls of several.
/// Faults for one route of a call do not pass, so there is little to wait
/// for (the session's other work goes first). Faults that do pass (calls
/// cut by their deadline on a busy machine) can look the same; they cost
/// at most nine such steps, down to calls of two, and the routes isolated
/// on the way come back at the next retry.
pub const BISECT_WAIT: Duration = Duration::from_millis(100);
/// The most routes in a call of a retry: half a filter call, as a call
/// that faulted for one of its routes would fault again whole.
pub const FIRST_CHUNK: usize = FILTER_CHUNK / 2;
/// The longest wait between retries.
pub const LAST_WAIT: Duration = Duration::from_secs(60);
/// The most routes one retry takes (listing them is part of a turn).
pub const ROUND: usize = 64 * FILTER_CHUNK;

/// One session's retries of the routes its filter faulted on.
#[derive(Debug)]
pub struct FaultRetry {
    /// When the faulted routes go through the filter again.
    at: Option<Instant>,
    wait: Duration,
    /// How many routes were refused for a fault when the retry was last
    /// scheduled, less those a retry got through since: more are new
    /// faults, retried after [`FIRST_WAIT`].
    known: usize,
    /// The retry under way: the routes waiting for their call, those not
    /// yet isolated first, then the isolated ones.
    queue: VecDeque<IpNet>,
    isolated_queue: VecDeque<IpNet>,
    /// Routes that faulted again alone in their call: each is retried in a
    /// call of its own, and does not make the others' calls small.
    isolated: FastSet<IpNet>,
    /// Routes in one call but for the isolated ones: [`FIRST_CHUNK`] at
    /// first, halved by each retry that leaves some of them refused in
    /// calls of several, down to one; [`FIRST_CHUNK`] again after a retry
    /// that leaves none (each one left is isolated).
    chunk: usize,
    /// The last call: whether it was of routes not isolated, how many it
    /// held, and its route if it held one.
    last_not_isolated: bool,
    last_len: usize,
    last_one: Option<IpNet>,
    /// Whether a call of the retry under way faulted.
    faulted_again: bool,
    /// Whether the next retry is a step of a bisection ([`BISECT_WAIT`]):
    /// it leaves the isolated routes out.
    bisecting: bool,
    /// Routes not isolated that the retry under way left refused in a
    /// faulted call of several.
    left_in_calls: usize,
    /// Routes the retry under way got through the filter (accepted or
    /// rejected by it, no longer refused for a fault).
    resolved: usize,
    /// Whether the retry under way left faulted routes for the next one
    /// ([`ROUND`]).
    cut: bool,
    /// Retries since the faulted routes were last all accepted.
    round: u32,
}

impl Default for FaultRetry {
    fn default() -> Self {
        FaultRetry {
            at: None,
            wait: FIRST_WAIT,
            known: 0,
            queue: VecDeque::new(),
            isolated_queue: VecDeque::new(),
            isolated: FastSet::default(),
            chunk: FIRST_CHUNK,
            last_not_isolated: false,
            last_len: 0,
            last_one: None,
            faulted_again: false,
            bisecting: false,
            left_in_calls: 0,
            resolved: 0,
            cut: false,
            round: 0,
        }
    }
}

impl FaultRetry {
    /// When the next retry is due, if one is.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.at
    }

    /// Routes of a retry waiting for their call.
    pub fn backlog(&self) -> usize {
        self.queue.len() + self.isolated_queue.len()
    }

    /// After routes went through the filter: `faulted` routes are refused
    /// for a fault. Schedules a retry if there are some: after
    /// [`FIRST_WAIT`] when some are new, else after the wait reached. A
    /// retry under way schedules the next one when it is over
    /// ([`FaultRetry::call_done`]); none left, it starts over.
    pub fn arm(&mut self, now: Instant, faulted: usize) {
        if self.backlog() > 0 {
            return;
        }
        if faulted == 0 {
            *self = FaultRetry::default();
            return;
        }
        if faulted > self.known {
            self.wait = FIRST_WAIT;
            let soon = now + FIRST_WAIT;
            self.at = Some(self.at.map_or(soon, |at| at.min(soon)));
        } else if self.at.is_none() {
            self.at = Some(now + self.wait);
        }
        self.known = faulted;
    }

    /// Starts the retry if it is due: `faulted` lists the routes refused
    /// for a fault. Returns how many routes it queued and its round.
    pub fn start_if_due(
        &mut self,
        now: Instant,
        faulted: impl Iterator<Item = IpNet>,
    ) -> Option<(usize, u32)> {
        if self.at.is_none_or(|at| at > now) {
            return None;
        }
        self.at = None;
        let mut faulted = faulted.peekable();
        let (isolated, others): (VecDeque<IpNet>, VecDeque<IpNet>) = faulted
            .by_ref()
            .take(ROUND)
            .partition(|net| self.isolated.contains(net));
        self.cut = faulted.peek().is_some();
        if isolated.is_empty() && others.is_empty() {
            *self = FaultRetry::default();
            return None;
        }
        // A step of a bisection leaves the isolated routes to the next
        // retry (each would take a call of its own every step).
        let bisecting = std::mem::take(&mut self.bisecting) && !others.is_empty();
        if !self.cut && !bisecting {
            // Forget the isolated routes no longer refused for a fault.
            self.isolated = isolated.iter().copied().collect();
        }
        let isolated = match bisecting {
            true => VecDeque::new(),
            false => isolated,
        };
        // At most half the set in a call (the call that faulted for one of
        // them would fault again whole); once only isolated routes are
        // left, new faults start from [`FIRST_CHUNK`].
        self.chunk = match others.len() {
            0 => FIRST_CHUNK,
            n => self.chunk.min(n.div_ceil(2)).max(1),
        };
        self.queue = others;
        self.isolated_queue = isolated;
        self.faulted_again = false;
        self.left_in_calls = 0;
        self.resolved = 0;
        self.round = self.round.saturating_add(1);
        Some((self.backlog(), self.round))
    }

    /// The next call's routes of the retry under way, at most `max`: the
    /// routes not isolated in calls of the current size, then each
    /// isolated one alone.
    pub fn next_call(&mut self, max: usize) -> Vec<IpNet> {
        self.last_not_isolated = !self.queue.is_empty();
        let call: Vec<IpNet> = match self.last_not_isolated {
            true => {
                let take = self.queue.len().min(self.chunk).min(max);
                self.queue.drain(..take).collect()
            }
            false => self.isolated_queue.pop_front().into_iter().collect(),
        };
        self.last_len = call.len();
        self.last_one = call.first().copied().filter(|_| call.len() == 1);
        call
    }

    /// A call of the retry under way is over: `faulted` if it faulted
    /// again, `resolved` of its routes got through the filter, `left`
    /// routes are still refused for a fault. Once it was the last, the
    /// next retry is scheduled if some are left: after [`BISECT_WAIT`] if
    /// this one got some through and left some in faulted calls of
    /// several, a second later if it got some through or did not fault,
    /// else after twice the wait (at least 2 s); at once if this one left
    /// some out ([`ROUND`]) and got some through or did not fault. When
    /// calls of routes not isolated faulted again in calls of several, the
    /// next retry puts half as many in a call (else [`FIRST_CHUNK`]); a
    /// route that faulted alone is isolated.
    pub fn call_done(&mut self, now: Instant, faulted: bool, resolved: usize, left: usize) {
        self.faulted_again |= faulted;
        self.resolved += resolved;
        if faulted && self.last_not_isolated {
            match self.last_one {
                Some(one) => {
                    self.isolated.insert(one);
                }
                None => self.left_in_calls += self.last_len,
            }
        }
        if self.backlog() > 0 {
            return;
        }
        let progress = self.resolved > 0;
        self.chunk = match self.left_in_calls {
            0 => FIRST_CHUNK,
            _ => (self.chunk / 2).max(1),
        };
        self.bisecting = progress && self.left_in_calls > 0;
        self.wait = match (progress, self.faulted_again) {
            _ if self.bisecting => BISECT_WAIT,
            (true, _) | (false, false) => FIRST_WAIT,
            (false, true) => (self.wait.max(FIRST_WAIT) * 2).min(LAST_WAIT),
        };
        // Scheduled here, not by `arm`: routes refused for a fault during
        // this retry would have it start over from [`FIRST_WAIT`] (they are
        // new, so it is the latest the next retry may come).
        if left > 0 {
            let cut = self.cut && (progress || !self.faulted_again);
            self.at = Some(if cut { now } else { now + self.wait });
        }
        // Faults that came meanwhile are new; routes withdrawn meanwhile
        // are not progress.
        self.known = self.known.saturating_sub(self.resolved);
        self.faulted_again = false;
        self.left_in_calls = 0;
        self.resolved = 0;
        self.cut = false;
        self.arm(now, left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `n` distinct /24s from 10.0.0.0 on.
    fn nets(n: usize) -> Vec<IpNet> {
        (0..n as u32)
            .map(|i| {
                let a = std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8));
                IpNet::V4(ipnet::Ipv4Net::new(a, 24).unwrap())
            })
            .collect()
    }

    #[test]
    fn a_fault_that_passes_is_retried_once_after_a_second() {
        let t0 = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(t0, 3);
        assert_eq!(r.poll_timeout(), Some(t0 + FIRST_WAIT));
        assert_eq!(r.start_if_due(t0, nets(3).into_iter()), None, "not yet");
        let due = t0 + FIRST_WAIT;
        assert_eq!(r.start_if_due(due, nets(3).into_iter()), Some((3, 1)));
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.backlog(), 3);
        // At most half of them in a call: the call that faulted would
        // fault again whole if one of its routes were the cause.
        assert_eq!(r.next_call(100).len(), 2);
        r.call_done(due, false, 2, 1);
        assert_eq!(r.next_call(100).len(), 1);
        r.call_done(due, false, 1, 0);
        assert_eq!(r.poll_timeout(), None, "nothing left to retry");
        // The next fault waits a second again.
        r.arm(due, 1);
        assert_eq!(r.poll_timeout(), Some(due + FIRST_WAIT));
    }

    #[test]
    fn each_retry_that_faults_waits_twice_as_long_in_twice_as_many_calls() {
        let mut now = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(now, 8);
        let mut waits = Vec::new();
        let mut calls = Vec::new();
        for _ in 0..8 {
            let at = r.poll_timeout().unwrap();
            waits.push((at - now).as_secs());
            now = at;
            r.start_if_due(now, nets(8).into_iter()).unwrap();
            let mut n = 0;
            while r.backlog() > 0 {
                assert!(!r.next_call(FILTER_CHUNK).is_empty());
                n += 1;
                r.call_done(now, true, 0, 8);
            }
            calls.push(n);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(calls, [2, 4, 8, 8, 8, 8, 8, 8], "one route a call at most");
    }

    /// A session's routes refused for a fault, a few of them poison (the
    /// plugin faults on any call holding one): runs the retries as the
    /// speaker does until only the poison is left or `limit` passed, and
    /// returns (seconds after the first fault, calls) per retry.
    fn until_only_poison(routes: usize, poison: &[usize], limit: Duration) -> Vec<(f64, usize)> {
        let all = nets(routes);
        let poison: BTreeSet<IpNet> = poison.iter().map(|i| all[*i]).collect();
        let mut faulted: BTreeSet<IpNet> = all.iter().copied().collect();
        let t0 = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(t0, faulted.len());
        let mut rounds = Vec::new();
        while faulted.len() > poison.len() {
            let now = r.poll_timeout().expect("a retry is due");
            assert!(now - t0 <= limit, "not done after {limit:?}: {rounds:?}");
            r.start_if_due(now, faulted.clone().into_iter()).unwrap();
            let calls = run_retry(&mut r, now, &mut faulted, |call| {
                call.iter().any(|n| poison.contains(n))
            });
            rounds.push(((now - t0).as_secs_f64(), calls.len()));
        }
        rounds
    }

    #[test]
    fn a_bisection_that_gets_some_accepted_goes_on_a_tenth_of_a_second_later() {
        let rounds = until_only_poison(8, &[5], Duration::from_secs(10));
        // 4 + 4 (four in), 2 + 2 (two more), 1 + 1: the seven others are
        // in 1.2 s after the fault (5 s when a retry put all 8 in one call
        // and the steps were a second apart).
        assert_eq!(rounds, [(1.0, 2), (1.1, 2), (1.2, 2)]);
    }

    /// Runs the retry under way to its end: each call faults when
    /// `faults` says so (given the call's routes), and gets its routes
    /// through otherwise; `faulted` is what is still refused. Returns the
    /// calls' sizes.
    fn run_retry(
        r: &mut FaultRetry,
        now: Instant,
        faulted: &mut BTreeSet<IpNet>,
        mut faults: impl FnMut(&[IpNet]) -> bool,
    ) -> Vec<usize> {
        let mut calls = Vec::new();
        while r.backlog() > 0 {
            let call = r.next_call(usize::MAX);
            calls.push(call.len());
            let again = faults(&call);
            if !again {
                for n in &call {
                    faulted.remove(n);
                }
            }
            let resolved = if again { 0 } else { call.len() };
            r.call_done(now, again, resolved, faulted.len());
        }
        calls
    }

    #[test]
    fn routes_refused_during_a_bisection_step_do_not_slow_it_down() {
        let all = nets(9);
        let (poison, late) = (all[2], all[8]);
        let mut faulted: BTreeSet<IpNet> = all[..8].iter().copied().collect();
        let mut r = FaultRetry::default();
        r.arm(Instant::now(), 8);
        let now = r.poll_timeout().unwrap();
        r.start_if_due(now, faulted.clone().into_iter()).unwrap();
        // 4 + 4: the first half holds the poison.
        let first = r.next_call(usize::MAX);
        assert!(first.contains(&poison), "{first:?}");
        r.call_done(now, true, 0, faulted.len());
        // A new route refused for a fault between the two calls (a call of
        // the live queue, say): new, but the bisection goes on.
        faulted.insert(late);
        r.arm(now, faulted.len());
        for net in r.next_call(usize::MAX) {
            faulted.remove(&net);
        }
        r.call_done(now, false, 4, faulted.len());
        assert_eq!(r.poll_timeout(), Some(now + BISECT_WAIT));
    }

    #[test]
    fn a_bisection_step_leaves_the_isolated_routes_to_the_next_retry() {
        let all = nets(1_001);
        let (always, poison) = (all[0], all[700]);
        // The first route always faults and is isolated on its own.
        let mut faulted: BTreeSet<IpNet> = [always].into();
        let mut r = FaultRetry::default();
        let mut now = Instant::now();
        r.arm(now, 1);
        now = r.poll_timeout().unwrap();
        r.start_if_due(now, faulted.clone().into_iter()).unwrap();
        run_retry(&mut r, now, &mut faulted, |_| true);
        // A thousand new faults, one of them poison.
        faulted.extend(all.iter().copied());
        r.arm(now, faulted.len());
        let mut retries = Vec::new();
        while faulted.len() > 2 {
            let at = r.poll_timeout().unwrap();
            let wait = (at - now).as_millis();
            now = at;
            r.start_if_due(now, faulted.clone().into_iter()).unwrap();
            let mut tried = false;
            run_retry(&mut r, now, &mut faulted, |call| {
                tried |= call.contains(&always);
                call.contains(&always) || call.contains(&poison)
            });
            retries.push((wait, tried));
        }
        // The new faults' first retry gives the isolated route its call;
        // the bisection's steps do not, until the poison is isolated too.
        assert_eq!(retries.first(), Some(&(1_000, true)), "{retries:?}");
        assert!(retries.len() > 5, "{retries:?}");
        assert!(
            retries.iter().skip(1).all(|r| *r == (100, false)),
            "{retries:?}"
        );
    }

    #[test]
    fn faults_that_ignore_the_routes_bisect_at_most_nine_steps() {
        let all = nets(4_096);
        let mut faulted: BTreeSet<IpNet> = all.iter().copied().collect();
        let mut r = FaultRetry::default();
        let mut now = Instant::now();
        r.arm(now, faulted.len());
        // Every other call faults, whatever it holds (a busy machine).
        let mut n = 0u64;
        let mut waits = Vec::new();
        while let Some(at) = r.poll_timeout() {
            waits.push((at - now).as_millis());
            now = at;
            r.start_if_due(now, faulted.clone().into_iter()).unwrap();
            run_retry(&mut r, now, &mut faulted, |_| {
                n += 1;
                n.is_multiple_of(2)
            });
        }
        let fast = waits.iter().skip(1).take_while(|w| **w == 100).count();
        assert!(fast <= 9, "{waits:?}");
        assert!(
            waits.iter().skip(1 + fast).all(|w| *w >= 1_000),
            "{waits:?}"
        );
    }

    #[test]
    fn a_retry_whose_calls_all_fault_waits_at_least_two_seconds() {
        let mut now = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(now, 8);
        now = r.poll_timeout().unwrap();
        // 4 + 4: the first half faults, the second gets through.
        r.start_if_due(now, nets(8).into_iter()).unwrap();
        r.next_call(FILTER_CHUNK);
        r.call_done(now, true, 0, 8);
        r.next_call(FILTER_CHUNK);
        r.call_done(now, false, 4, 4);
        assert_eq!(r.poll_timeout(), Some(now + BISECT_WAIT));
        // 2 + 2: both fault (two poisoned routes, say).
        now += BISECT_WAIT;
        r.start_if_due(now, nets(4).into_iter()).unwrap();
        for _ in 0..2 {
            r.next_call(FILTER_CHUNK);
            r.call_done(now, true, 0, 4);
        }
        assert_eq!(r.poll_timeout(), Some(now + 2 * FIRST_WAIT), "not 0.2 s");
    }

    #[test]
    fn a_table_with_poison_scattered_through_it_is_back_within_seconds() {
        // 200,000 routes, one in 2,000 poison: every call of the first
        // retries holds some. Halving from half a filter call gets the
        // others back within about ten retries, the first ones at once
        // (past a round of routes), the rest a tenth of a second apart:
        // 1.6 s after the fault (7 s a second apart, 423 s when the calls
        // did not shrink).
        let poison: Vec<usize> = (0..100).map(|i| i * 2_000 + 777).collect();
        let rounds = until_only_poison(200_000, &poison, Duration::from_secs(30));
        assert!(rounds.len() <= 12, "{rounds:?}");
        let last = rounds.last().map_or(0.0, |r| r.0);
        assert!(
            last <= 2.0,
            "the others back {last} s after the fault: {rounds:?}"
        );
    }

    #[test]
    fn a_route_withdrawn_meanwhile_is_no_progress() {
        let mut now = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(now, 3);
        // Every call faults; one route is withdrawn during each retry.
        for (n, wait) in [(3usize, 2u32), (2, 4)] {
            now = r.poll_timeout().unwrap();
            r.start_if_due(now, nets(n).into_iter()).unwrap();
            while r.backlog() > 0 {
                r.next_call(FILTER_CHUNK);
                r.call_done(now, true, 0, n - 1);
            }
            assert_eq!(r.poll_timeout(), Some(now + wait * FIRST_WAIT), "{n}");
        }
    }

    #[test]
    fn new_faults_beside_an_isolated_route_go_in_calls_of_half_a_filter_call() {
        let mut now = Instant::now();
        let mut r = FaultRetry::default();
        let all = nets(5_001);
        // The first route always faults: alone in its call, it is isolated.
        r.arm(now, 1);
        now = r.poll_timeout().unwrap();
        r.start_if_due(now, all[..1].iter().copied()).unwrap();
        assert_eq!(r.next_call(FILTER_CHUNK), all[..1]);
        r.call_done(now, true, 0, 1);
        // 5,000 new faults (calls cut by their deadline, say): they go in
        // calls of half a filter call, the isolated route in one of its
        // own.
        r.arm(now, 5_001);
        now = r.poll_timeout().unwrap();
        assert_eq!(r.start_if_due(now, all.iter().copied()), Some((5_001, 2)));
        let mut calls = Vec::new();
        while r.backlog() > 0 {
            let call = r.next_call(FILTER_CHUNK);
            let again = call.contains(&all[0]);
            calls.push(call.len());
            let left = if again { 1 } else { 0 };
            r.call_done(now, again, if again { 0 } else { call.len() }, left);
        }
        assert_eq!(calls, [512, 512, 512, 512, 512, 512, 512, 512, 512, 392, 1]);
    }

    #[test]
    fn a_retry_is_cut_to_the_budget_and_to_half_a_filter_call() {
        let now = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(now, 1);
        let due = now + FIRST_WAIT;
        r.start_if_due(due, nets(3000).into_iter()).unwrap();
        assert_eq!(r.next_call(10).len(), 10, "the budget");
        assert_eq!(r.next_call(usize::MAX).len(), 512, "half a filter call");
        r.call_done(due, false, FIRST_CHUNK, 3000 - 10 - FIRST_CHUNK);
        assert_eq!(r.poll_timeout(), None, "still under way");
        assert_eq!(r.backlog(), 3000 - 10 - FIRST_CHUNK);
    }

    #[test]
    fn faults_gone_before_the_retry_start_it_over() {
        let now = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(now, 2);
        let due = now + FIRST_WAIT;
        r.start_if_due(due, nets(2).into_iter()).unwrap();
        r.next_call(1);
        r.call_done(due, true, 0, 2);
        r.next_call(1);
        r.call_done(due, false, 1, 1);
        assert_eq!(r.poll_timeout(), Some(due + FIRST_WAIT), "one accepted");
        // The session went down: nothing faulted is left.
        let later = due + FIRST_WAIT;
        assert_eq!(r.start_if_due(later, std::iter::empty()), None);
        r.arm(later, 5);
        assert_eq!(r.poll_timeout(), Some(later + FIRST_WAIT), "a fresh start");
    }

    #[test]
    fn new_faults_are_retried_a_second_later_whatever_the_wait_reached() {
        let mut now = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(now, 1);
        // A route that always faults: the wait grows to 8 s.
        for _ in 0..3 {
            now = r.poll_timeout().unwrap();
            r.start_if_due(now, nets(1).into_iter()).unwrap();
            r.next_call(FILTER_CHUNK);
            r.call_done(now, true, 0, 1);
        }
        assert_eq!(r.poll_timeout(), Some(now + 8 * FIRST_WAIT));
        r.arm(now, 1);
        assert_eq!(r.poll_timeout(), Some(now + 8 * FIRST_WAIT), "nothing new");
        let later = now + FIRST_WAIT;
        r.arm(later, 5);
        assert_eq!(r.poll_timeout(), Some(later + FIRST_WAIT), "four new ones");
        // One withdrawn, none new: the schedule stays.
        r.arm(later, 4);
        assert_eq!(r.poll_timeout(), Some(later + FIRST_WAIT));
    }

    #[test]
    fn a_retry_takes_a_round_of_routes_and_the_next_follows_at_once() {
        let now = Instant::now();
        let mut r = FaultRetry::default();
        r.arm(now, ROUND + 10);
        let due = now + FIRST_WAIT;
        let (queued, _) = r.start_if_due(due, nets(ROUND + 10).into_iter()).unwrap();
        assert_eq!(queued, ROUND);
        while r.backlog() > 0 {
            r.next_call(FILTER_CHUNK);
            r.call_done(due, false, FILTER_CHUNK, 10);
        }
        assert_eq!(r.poll_timeout(), Some(due), "the rest at once");
        r.start_if_due(due, nets(10).into_iter()).unwrap();
        r.next_call(FILTER_CHUNK);
        r.call_done(due, false, 10, 0);
        assert_eq!(r.poll_timeout(), None);
    }
}
