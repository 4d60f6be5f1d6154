//! Active/standby choice between the tunnels of a static connection. Both ends
//! must pick the same active tunnel without exchanging a message (asymmetric
//! paths break stateful firewalls), so the rule depends only on what both ends
//! see alike. **Rule:** tunnels are ordered by their inside CIDR (network
//! address, then prefix length), which is the same /30 on both ends, unlike
//! the order of tunnels in either config file; the lowest inside CIDR is
//! preferred. (1) If the active tunnel is up, keep it, unless a more preferred
//! tunnel has been up continuously for at least `hold`: then fail back to the
//! most preferred such tunnel. (2) If the active tunnel is down, or none was
//! chosen yet, move at once to the most preferred tunnel that is up. (3) If no
//! tunnel is up, keep the active one (or take the most preferred one if none
//! was chosen yet) so traffic still tries it. Both ends see a tunnel go down or
//! up within about one BFD interval of each other, so they agree again at most
//! that long after a change; the hold also damps a flapping preferred tunnel.
//! (4) Settling: at start and after every tunnel was down, the tunnels come up
//! a few milliseconds apart, in an order each end may see differently. So the
//! first choice waits until the most preferred tunnel is up, or `settle` (one
//! liveness detection time) has passed since the first tunnel came up; until
//! then the most preferred tunnel is kept. Without this, the ends could pick
//! different tunnels and stay apart for the whole failback hold. After an
//! outage of every tunnel it waits only while the preferred tunnel is coming
//! up (its liveness handshake under way), never for one that is down: traffic
//! must not wait on a tunnel whose link may still be cut.
//! This module owns only the decision: it reads no clock (`now` is passed in),
//! keeps no per-tunnel state, and must not touch the FIB or tunnel weights,
//! which the failover plugin's host side derives from the [`Decision`].

use std::fmt;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

/// What the decision needs to know about one tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelHealth {
    /// The tunnel's inside /30 (the same on both ends).
    pub inside_cidr: Ipv4Net,
    /// Liveness (BFD session Up).
    pub up: bool,
    /// Since when the tunnel has been up without interruption. `None` while
    /// down, or if unknown (then it never counts as up for `hold`).
    pub up_since: Option<Instant>,
    /// Liveness handshake under way (BFD Init): likely up within an interval.
    pub coming_up: bool,
}

/// Why the active tunnel is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// First choice: the most preferred tunnel that is up.
    Initial,
    /// The active tunnel is up and no failback is due.
    Stay,
    /// The active tunnel went down: moved to the most preferred one up.
    Failover,
    /// A more preferred tunnel has been up for the hold time.
    Failback,
    /// No tunnel is up: keeping the active (or most preferred) one.
    NoneUp,
    /// Tunnels are coming up: waiting (at most `settle`) for the most
    /// preferred one before the first choice.
    Settling,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Initial => "initial choice: most preferred tunnel that is up",
            Reason::Stay => "active tunnel is up",
            Reason::Failover => "active tunnel down: moved to the most preferred tunnel that is up",
            Reason::Failback => "failback: a more preferred tunnel has been up for the hold time",
            Reason::NoneUp => "no tunnel is up: keeping the active or most preferred tunnel",
            Reason::Settling => "tunnels coming up: waiting for the most preferred one",
        })
    }
}

/// The outcome of [`ActiveStandby::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Index into the `tunnels` slice given to `decide`.
    pub active: usize,
    /// Whether `active` differs from the previous decision.
    pub changed: bool,
    pub reason: Reason,
}

/// The active/standby state of one static connection.
#[derive(Debug, Clone)]
pub struct ActiveStandby {
    hold: Duration,
    settle: Duration,
    current: Option<usize>,
    /// False at start and after no tunnel was up: the next choice settles.
    settled: bool,
    /// When the first tunnel came up while settling.
    settling_since: Option<Instant>,
}

impl ActiveStandby {
    /// `hold`: how long a more preferred tunnel must have been up before
    /// traffic fails back to it. `settle`: how long the first choice waits
    /// for the most preferred tunnel (rule 4; one liveness detection time).
    pub fn new(hold: Duration, settle: Duration) -> ActiveStandby {
        ActiveStandby {
            hold,
            settle,
            current: None,
            settled: false,
            settling_since: None,
        }
    }

    /// The index of the active tunnel from the last decision.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// Applies the rule of the module doc to `tunnels`. The caller must give
    /// the tunnels in the same slice order at every call (indexes are kept
    /// between calls); which order does not matter. `None` (and the state is
    /// reset) only when `tunnels` is empty.
    pub fn decide(&mut self, tunnels: &[TunnelHealth], now: Instant) -> Option<Decision> {
        if tunnels.is_empty() {
            self.current = None;
            return None;
        }
        let cur = self.current.and_then(|i| tunnels.get(i).map(|t| (i, t)));
        let held = |t: &TunnelHealth| {
            t.up && t
                .up_since
                .is_some_and(|s| now.saturating_duration_since(s) >= self.hold)
        };
        let (active, reason) = match cur {
            _ if !self.settled => self.settling(tunnels, now)?,
            Some((i, t)) if t.up => {
                let k = key(i, t);
                match most_preferred(tunnels, |j, u| key(j, u) < k && held(u)) {
                    Some(better) => (better, Reason::Failback),
                    None => (i, Reason::Stay),
                }
            }
            _ => match (most_preferred(tunnels, |_, u| u.up), cur) {
                (Some(best), _) if self.current.is_some() => (best, Reason::Failover),
                (Some(best), _) => (best, Reason::Initial),
                (None, Some((i, _))) => (i, Reason::NoneUp),
                (None, None) => (most_preferred(tunnels, |_, _| true)?, Reason::NoneUp),
            },
        };
        if reason == Reason::NoneUp {
            self.settled = false;
            self.settling_since = None;
        }
        let changed = self.current != Some(active);
        self.current = Some(active);
        Some(Decision {
            active,
            changed,
            reason,
        })
    }
}

impl ActiveStandby {
    /// Rule (4): the choice while tunnels are coming up.
    fn settling(&mut self, tunnels: &[TunnelHealth], now: Instant) -> Option<(usize, Reason)> {
        let best = most_preferred(tunnels, |_, _| true)?;
        let Some(best_up) = most_preferred(tunnels, |_, u| u.up) else {
            let keep = self.current.filter(|i| *i < tunnels.len()).unwrap_or(best);
            return Some((keep, Reason::NoneUp));
        };
        let since = *self.settling_since.get_or_insert(now);
        let starting = self.current.is_none();
        let best_coming = tunnels.get(best).is_some_and(|t| t.coming_up);
        let waited = now.saturating_duration_since(since) >= self.settle;
        if best_up == best || waited || !(starting || best_coming) {
            self.settled = true;
            self.settling_since = None;
            let reason = match self.current {
                Some(c) if c == best_up => Reason::Stay,
                Some(_) => Reason::Failover,
                None => Reason::Initial,
            };
            return Some((best_up, reason));
        }
        Some((best, Reason::Settling))
    }
}

/// Preference key: lower is better. The index only breaks ties between equal
/// CIDRs, which a valid config never has.
fn key(i: usize, t: &TunnelHealth) -> (std::net::Ipv4Addr, u8, usize) {
    (t.inside_cidr.network(), t.inside_cidr.prefix_len(), i)
}

fn most_preferred(
    tunnels: &[TunnelHealth],
    pred: impl Fn(usize, &TunnelHealth) -> bool,
) -> Option<usize> {
    tunnels
        .iter()
        .enumerate()
        .filter(|(i, t)| pred(*i, t))
        .min_by_key(|(i, t)| key(*i, t))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_secs(5);
    const IV: Duration = Duration::from_millis(200);
    const SETTLE: Duration = Duration::from_millis(600);

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn health(cidr: &str, up_since: Option<Instant>) -> TunnelHealth {
        TunnelHealth {
            inside_cidr: net(cidr),
            up: up_since.is_some(),
            up_since,
            coming_up: false,
        }
    }

    #[test]
    fn after_an_outage_of_every_tunnel_traffic_never_waits_on_a_down_tunnel() {
        // Seen in a lab: the preferred tunnel's link was cut, the standby was
        // declared down for a moment under load and came back: traffic must
        // go to the standby at once, not wait for the cut preferred tunnel.
        let t0 = Instant::now();
        let (p, s) = ("169.254.10.0/30", "169.254.11.0/30");
        let mut fo = ActiveStandby::new(HOLD, SETTLE);
        let both = [health(p, Some(t0)), health(s, Some(t0))];
        assert_eq!(fo.decide(&both, t0).unwrap().active, 0);
        let t1 = t0 + HOLD;
        let cut = [health(p, None), health(s, Some(t0))];
        assert_eq!(fo.decide(&cut, t1).unwrap().active, 1);
        let none = [health(p, None), health(s, None)];
        assert_eq!(fo.decide(&none, t1 + IV).unwrap().reason, Reason::NoneUp);
        let back = [health(p, None), health(s, Some(t1 + 2 * IV))];
        let d = fo.decide(&back, t1 + 2 * IV).unwrap();
        assert_eq!((d.active, d.changed), (1, false), "{d:?}");
        // But a preferred tunnel in its liveness handshake is waited for.
        let mut fo = ActiveStandby::new(HOLD, SETTLE);
        fo.decide(&both, t0);
        fo.decide(&none, t1);
        let mut coming = [health(p, None), health(s, Some(t1 + IV))];
        coming[0].coming_up = true;
        let d = fo.decide(&coming, t1 + IV).unwrap();
        assert_eq!((d.active, d.reason), (0, Reason::Settling));
        let d = fo.decide(&coming, t1 + IV + SETTLE).unwrap();
        assert_eq!(d.active, 1, "but not longer than the settle time");
    }

    #[test]
    fn initial_choice_by_cidr_not_slice_order() {
        let t0 = Instant::now();
        let tunnels = [
            health("169.254.10.4/30", Some(t0)),
            health("169.254.10.0/30", Some(t0)),
        ];
        let mut a = ActiveStandby::new(HOLD, SETTLE);
        let d = a.decide(&tunnels, t0).unwrap();
        assert_eq!((d.active, d.changed, d.reason), (1, true, Reason::Initial));
        let d = a.decide(&tunnels, t0 + IV).unwrap();
        assert_eq!((d.active, d.changed, d.reason), (1, false, Reason::Stay));
        assert_eq!(a.current(), Some(1));
        // Numeric, not textual, order: .9.0 < .10.0 although "9" > "1".
        let tunnels = [
            health("169.254.10.0/30", Some(t0)),
            health("169.254.9.0/30", Some(t0)),
        ];
        let d = ActiveStandby::new(HOLD, SETTLE)
            .decide(&tunnels, t0)
            .unwrap();
        assert_eq!(d.active, 1);
    }

    #[test]
    fn failover_at_once_failback_after_hold() {
        let t0 = Instant::now();
        let mut fo = ActiveStandby::new(HOLD, SETTLE);
        let mut tunnels = [
            health("169.254.20.0/30", Some(t0)),
            health("169.254.20.4/30", Some(t0)),
        ];
        assert_eq!(fo.decide(&tunnels, t0).unwrap().active, 0);
        let t1 = t0 + Duration::from_secs(60);
        tunnels[0] = health("169.254.20.0/30", None);
        let d = fo.decide(&tunnels, t1).unwrap();
        assert_eq!((d.active, d.changed, d.reason), (1, true, Reason::Failover));
        // The preferred tunnel comes back: no failback before the hold.
        let t2 = t1 + Duration::from_secs(10);
        tunnels[0] = health("169.254.20.0/30", Some(t2));
        for s in [0, 1, 4] {
            let d = fo.decide(&tunnels, t2 + Duration::from_secs(s)).unwrap();
            assert_eq!((d.active, d.reason), (1, Reason::Stay), "after {s}s");
        }
        let d = fo.decide(&tunnels, t2 + HOLD).unwrap();
        assert_eq!((d.active, d.changed, d.reason), (0, true, Reason::Failback));
        // The preferred tunnel fails again: away at once, no hold.
        tunnels[0] = health("169.254.20.0/30", None);
        let d = fo.decide(&tunnels, t2 + HOLD + IV).unwrap();
        assert_eq!((d.active, d.changed, d.reason), (1, true, Reason::Failover));
        // Up with unknown up_since never counts for the hold.
        let mut g = ActiveStandby::new(HOLD, SETTLE);
        let mut ts = [
            health("169.254.20.0/30", None),
            health("169.254.20.4/30", Some(t0)),
        ];
        // Settling: the preferred tunnel is kept for one detection time.
        assert_eq!(g.decide(&ts, t0).unwrap().reason, Reason::Settling);
        assert_eq!(g.decide(&ts, t0 + SETTLE).unwrap().active, 1);
        ts[0].up = true;
        assert_eq!(g.decide(&ts, t0 + 100 * HOLD).unwrap().active, 1);
    }

    #[test]
    fn both_ends_agree_after_hold() {
        // The far end lists the tunnels in the other order, and sees the
        // preferred tunnel come back one BFD interval later.
        let t0 = Instant::now();
        let (p, s) = ("169.254.30.0/30", "169.254.30.4/30");
        let mut near = ActiveStandby::new(HOLD, SETTLE);
        let mut far = ActiveStandby::new(HOLD, SETTLE);
        let chosen = |d: Decision, ts: &[TunnelHealth]| ts[d.active].inside_cidr;
        let agree =
            |near: &mut ActiveStandby, far: &mut ActiveStandby, n: [TunnelHealth; 2], now| {
                let f = [n[1], n[0]];
                let f = f.map(|mut t| {
                    t.up_since = t.up_since.map(|u| u + IV);
                    t
                });
                let dn = near.decide(&n, now).unwrap();
                let df = far.decide(&f, now).unwrap();
                (chosen(dn, &n), chosen(df, &f))
            };
        let (a, b) = agree(
            &mut near,
            &mut far,
            [health(p, Some(t0)), health(s, Some(t0))],
            t0,
        );
        assert_eq!((a, b), (net(p), net(p)));
        let t1 = t0 + Duration::from_secs(30);
        let (a, b) = agree(
            &mut near,
            &mut far,
            [health(p, None), health(s, Some(t0))],
            t1,
        );
        assert_eq!((a, b), (net(s), net(s)));
        let t2 = t1 + Duration::from_secs(30);
        for k in 0..40u32 {
            let now = t2 + IV * k;
            let (a, b) = agree(
                &mut near,
                &mut far,
                [health(p, Some(t2)), health(s, Some(t0))],
                now,
            );
            if now - t2 >= HOLD + IV {
                assert_eq!((a, b), (net(p), net(p)), "at {:?}", now - t2);
            } else if now - t2 < HOLD {
                assert_eq!((a, b), (net(s), net(s)), "at {:?}", now - t2);
            }
        }
    }

    #[test]
    fn ends_that_see_tunnels_come_up_in_opposite_order_agree_at_once() {
        // Seen in a lab: at start the near end saw .11 up 20 ms before .10,
        // the far end the other way round.
        let t0 = Instant::now();
        let (p, s) = ("169.254.10.0/30", "169.254.11.0/30");
        let ms = Duration::from_millis;
        let mut near = ActiveStandby::new(HOLD, SETTLE);
        let mut far = ActiveStandby::new(HOLD, SETTLE);
        let near_first = [health(p, None), health(s, Some(t0))];
        let far_first = [health(p, Some(t0)), health(s, None)];
        let dn = near.decide(&near_first, t0).unwrap();
        let df = far.decide(&far_first, t0).unwrap();
        assert_eq!((dn.active, dn.reason), (0, Reason::Settling));
        assert_eq!((df.active, df.reason), (0, Reason::Initial));
        let both = [health(p, Some(t0 + ms(20))), health(s, Some(t0))];
        let dn = near.decide(&both, t0 + ms(20)).unwrap();
        assert_eq!((dn.active, dn.changed), (0, false));
        // And then the normal rules: stay on the preferred tunnel.
        assert_eq!(near.decide(&both, t0 + HOLD).unwrap().reason, Reason::Stay);
    }

    #[test]
    fn no_tunnel_up() {
        let t0 = Instant::now();
        let down = [
            health("169.254.40.4/30", None),
            health("169.254.40.0/30", None),
        ];
        let mut fo = ActiveStandby::new(HOLD, SETTLE);
        let d = fo.decide(&down, t0).unwrap();
        assert_eq!((d.active, d.changed, d.reason), (1, true, Reason::NoneUp));
        // Once the other one was active, all down keeps it.
        let mut fo = ActiveStandby::new(HOLD, SETTLE);
        let up0 = [health("169.254.40.4/30", Some(t0)), down[1]];
        assert_eq!(fo.decide(&up0, t0).unwrap().active, 1);
        assert_eq!(fo.decide(&up0, t0 + SETTLE).unwrap().active, 0);
        let d = fo.decide(&down, t0 + SETTLE + IV).unwrap();
        assert_eq!((d.active, d.changed, d.reason), (0, false, Reason::NoneUp));
        assert!(d.reason.to_string().contains("no tunnel is up"));
    }

    #[test]
    fn single_tunnel_and_empty() {
        let t0 = Instant::now();
        let mut fo = ActiveStandby::new(HOLD, SETTLE);
        let d = fo
            .decide(&[health("169.254.50.0/30", Some(t0))], t0)
            .unwrap();
        assert_eq!((d.active, d.changed), (0, true));
        let d = fo
            .decide(&[health("169.254.50.0/30", None)], t0 + IV)
            .unwrap();
        assert_eq!((d.active, d.changed, d.reason), (0, false, Reason::NoneUp));
        let later = t0 + 2 * IV;
        let d = fo
            .decide(&[health("169.254.50.0/30", Some(later))], later)
            .unwrap();
        assert_eq!((d.active, d.changed, d.reason), (0, false, Reason::Stay));
        assert_eq!(fo.decide(&[], later), None);
        assert_eq!(fo.current(), None);
        // A current index beyond a shorter slice is treated as gone.
        let mut fo = ActiveStandby::new(HOLD, SETTLE);
        let two = [
            health("169.254.50.0/30", None),
            health("169.254.50.4/30", Some(t0)),
        ];
        assert_eq!(fo.decide(&two, t0).unwrap().active, 0);
        assert_eq!(fo.decide(&two, t0 + SETTLE).unwrap().active, 1);
        let d = fo
            .decide(&[health("169.254.50.0/30", Some(t0))], t0)
            .unwrap();
        assert_eq!((d.active, d.changed, d.reason), (0, true, Reason::Failover));
    }
}
