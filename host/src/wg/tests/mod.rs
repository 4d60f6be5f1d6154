//! Tests of the WireGuard core: interoperability with boringtun's `Tunn`
//! in-process, concurrent sealing and opening, malformed input, timers.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use x25519_dalek::{PublicKey, StaticSecret};

use super::{Outcome, Peer, PeerConfig, StaticKeys, Tai64nClock};

mod concurrency;
mod gate;
mod interop;
mod kat;
mod malformed;
mod timers;

/// A deterministic RNG for tests (splitmix64): never for real keys.
pub(super) struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed)
    }
}

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}

pub(super) fn secret(seed: u8) -> StaticSecret {
    StaticSecret::from([seed; 32])
}

pub(super) fn src() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 51820))
}

/// Wall-clock base for TAI64N: a fixed date, so tests are deterministic.
pub(super) fn clock(base: Instant) -> Tai64nClock {
    Tai64nClock::new(base, Duration::from_secs(1_700_000_000))
}

pub(super) fn peer(
    own: u8,
    remote: u8,
    index_base: u32,
    base: Instant,
    psk: Option<[u8; 32]>,
) -> Peer<TestRng> {
    peer_with(own, remote, index_base, base, psk, None)
}

/// [`peer`], with a persistent keepalive of `keepalive` if given (its RNG
/// seeded apart from the plain peer's).
pub(super) fn peer_with(
    own: u8,
    remote: u8,
    index_base: u32,
    base: Instant,
    psk: Option<[u8; 32]>,
    keepalive: Option<Duration>,
) -> Peer<TestRng> {
    let local = Arc::new(StaticKeys::new(secret(own)));
    let seed = u64::from(own) * 1000 + u64::from(remote) + u64::from(keepalive.is_some()) * 7;
    Peer::new(
        local,
        PeerConfig {
            remote_public: PublicKey::from(&secret(remote)),
            preshared_key: psk,
            persistent_keepalive: keepalive,
            index_base,
            clock: clock(base),
        },
        TestRng::new(seed),
    )
    .expect("valid keys")
}

/// A whole handshake between two of our peers, `a` initiating: the
/// initiation, the response, the confirming keepalive.
pub(super) fn handshake(a: &mut Peer<TestRng>, b: &mut Peer<TestRng>, now: Instant) {
    let mut buf = vec![0u8; 256];
    let n = a.initiate(now, &mut buf).expect("initiate");
    complete_handshake(a, b, &buf[..n], now);
}

/// Completes a handshake from `a`'s `initiation`: B answers, A confirms
/// with a keepalive, B takes it.
pub(super) fn complete_handshake(
    a: &mut Peer<TestRng>,
    b: &mut Peer<TestRng>,
    initiation: &[u8],
    now: Instant,
) {
    let mut buf = vec![0u8; 256];
    let mut out = vec![0u8; 256];
    let Ok(Outcome::Reply(r)) = b.decapsulate(src(), initiation, &mut out, now, false) else {
        panic!("no response");
    };
    let Ok(Outcome::Reply(k)) = a.decapsulate(src(), &out[..r], &mut buf, now, false) else {
        panic!("no keepalive");
    };
    assert_eq!(
        b.decapsulate(src(), &buf[..k], &mut out, now, false),
        Ok(Outcome::Keepalive)
    );
}

/// An IPv4/UDP packet of `len` bytes (at least 28) whose payload is `seed`'s
/// pattern; boringtun checks the IP header's length.
pub(super) fn ipv4_packet(len: usize, seed: u8) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[169, 254, 0, 1]);
    p[16..20].copy_from_slice(&[169, 254, 0, 2]);
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    p
}
