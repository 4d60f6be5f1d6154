//! The per-source limit on handshake messages under load, as the kernel's
//! WireGuard has it (`ratelimiter.c`): a token bucket per source address
//! (an IPv6 source by its /64, which one host is given), 20 messages a
//! second with bursts of 5. The gate asks it only for messages that carry a
//! valid cookie while the gateway is under load, so one source, even one
//! that answers cookies, gets its 20 handshakes a second and no more, and
//! the other sources and the established tunnels keep the rest.
//!
//! It owns the buckets; a bucket idle for a second is full again and is
//! forgotten at the next [`SourceLimiter::prune`]. The table holds at most
//! [`MAX_SOURCES`]: when it is full of sources seen within the second, a new
//! source is refused until one ages out (as the kernel does), unless the
//! caller knows it as a tunnel's peer: then one of the others makes room,
//! so that sources answering cookies (a routed IPv6 /51 has 8,192 /64s)
//! cannot keep a tunnel's real peer out. Only known peers evict, so a flood
//! cycling through more sources than the table holds gains nothing. It
//! must not read the clock (the caller passes `now`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Handshake messages a second one source may send under load.
pub const PER_SECOND: u64 = 20;
/// Messages one source may send at once, above the steady rate.
pub const BURST: u64 = 5;
/// Sources tracked at once.
pub const MAX_SOURCES: usize = 8192;
/// A bucket idle this long is full again: forgotten.
const IDLE: Duration = Duration::from_secs(1);
/// A message's cost, in nanoseconds of refill.
const COST: u64 = 1_000_000_000 / PER_SECOND;
const FULL: u64 = COST * BURST;

/// An IPv4 address, or the /64 of an IPv6 one (IPv4-mapped as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(u32::from(v4)),
                None => Source::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

struct Bucket {
    /// Nanoseconds of refill banked, at most [`FULL`].
    tokens: u64,
    last: Instant,
}

/// See the module documentation.
#[derive(Default)]
pub struct SourceLimiter {
    buckets: HashMap<Source, Bucket>,
    /// When the table was last swept: a full table is swept at most once
    /// a second, not once per new source.
    swept: Option<Instant>,
}

impl SourceLimiter {
    /// Whether one more handshake message from `src` may be processed now;
    /// takes its token if so. `known` says whether `src` is a tunnel's
    /// peer; it is asked only when the table is full.
    pub fn allow(&mut self, src: IpAddr, now: Instant, known: impl FnOnce() -> bool) -> bool {
        let source = Source::from(src);
        if let Some(bucket) = self.buckets.get_mut(&source) {
            let refill = now.saturating_duration_since(bucket.last).as_nanos();
            bucket.tokens = u64::try_from(refill)
                .unwrap_or(u64::MAX)
                .saturating_add(bucket.tokens)
                .min(FULL);
            bucket.last = bucket.last.max(now);
            if bucket.tokens < COST {
                return false;
            }
            bucket.tokens -= COST;
            return true;
        }
        if self.buckets.len() >= MAX_SOURCES {
            if self
                .swept
                .is_none_or(|t| now.saturating_duration_since(t) >= IDLE)
            {
                self.prune(now);
            }
            if self.buckets.len() >= MAX_SOURCES {
                if !known() {
                    return false;
                }
                // Full of fresh sources: one of them (whichever the map
                // gives first) makes room for a tunnel's peer.
                if let Some(evicted) = self.buckets.keys().next().copied() {
                    self.buckets.remove(&evicted);
                }
            }
        }
        self.buckets.insert(
            source,
            Bucket {
                tokens: FULL - COST,
                last: now,
            },
        );
        true
    }

    /// Forgets the sources idle for a second (their buckets are full).
    pub fn prune(&mut self, now: Instant) {
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.last) < IDLE);
        self.swept = Some(now);
    }

    /// Sources tracked now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 8));

    fn allowed(l: &mut SourceLimiter, src: IpAddr, now: Instant, n: usize) -> usize {
        (0..n).filter(|_| l.allow(src, now, || false)).count()
    }

    #[test]
    fn one_source_gets_its_burst_then_twenty_a_second() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::default();
        assert_eq!(allowed(&mut l, A, t0, 100), BURST as usize, "a burst of 5");
        // Over the next second, one every 50 ms.
        let mut got = 0;
        for ms in 1..=1000u64 {
            got += allowed(&mut l, A, t0 + Duration::from_millis(ms), 10);
        }
        assert_eq!(got, PER_SECOND as usize);
        // Meanwhile another source is not held back.
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(allowed(&mut l, B, t1, 100), BURST as usize);
    }

    #[test]
    fn an_ipv6_source_is_its_64() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::default();
        let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        let mut got = 0;
        for i in 0..100 {
            got += usize::from(l.allow(host(i), t0, || false));
        }
        assert_eq!(
            got, BURST as usize,
            "100 addresses of one /64 share a bucket"
        );
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert!(
            l.allow(other, t0, || false),
            "the next /64 is another source"
        );
        let mapped = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped());
        assert_eq!(allowed(&mut l, A, t0, 5), 5);
        assert!(
            !l.allow(mapped, t0, || false),
            "an IPv4-mapped address is its IPv4 source"
        );
    }

    #[test]
    fn a_full_table_refuses_newcomers_but_a_tunnels_peer() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::default();
        let flood = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        // A flood cycling through twice as many sources as the table
        // holds: past the first MAX_SOURCES, every newcomer is refused.
        let admitted = (0..2 * MAX_SOURCES as u32)
            .filter(|i| l.allow(flood(*i), t0, || false))
            .count();
        assert_eq!(admitted, MAX_SOURCES);
        assert_eq!(l.len(), MAX_SOURCES);
        assert!(!l.allow(A, t0, || false), "an unknown newcomer");
        // A tunnel's peer makes room for itself, and gets a burst only.
        let peer = (0..100).filter(|_| l.allow(B, t0, || true)).count();
        assert_eq!(peer, BURST as usize);
        assert_eq!(l.len(), MAX_SOURCES);
        assert!(
            l.allow(A, t0 + IDLE * 2, || false),
            "once they have aged out, room again"
        );
        l.prune(t0 + IDLE * 4);
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn a_clock_that_goes_back_neither_panics_nor_refills() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut l = SourceLimiter::default();
        assert_eq!(allowed(&mut l, A, t0, 10), BURST as usize);
        assert!(!l.allow(A, t0 - Duration::from_secs(5), || false));
    }
}
