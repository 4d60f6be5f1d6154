//! The gate under load: a source that answers its cookies gets its burst
//! and then 20 handshake messages a second; another source still gets in.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use x25519_dalek::PublicKey;

use super::super::cookie::{cookie_key, mac1_key, stamp, CookieJar};
use super::super::wire::{self, Message, COOKIE_REPLY_LEN, INITIATION_LEN};
use super::super::{Admit, Error, Gate, StaticKeys};
use super::{secret, TestRng};

/// Handshake messages before the gate is under load.
const LIMIT: u64 = 10;

/// An initiator at one source address, with its cookie jar.
struct Initiator {
    src: SocketAddr,
    jar: CookieJar,
    sender: u32,
}

impl Initiator {
    fn new(last_octet: u8) -> Initiator {
        Initiator {
            src: SocketAddr::from((Ipv4Addr::new(203, 0, 113, last_octet), 40000)),
            jar: CookieJar::default(),
            sender: u32::from(last_octet),
        }
    }

    /// An initiation with a valid MAC1 for `to`, and MAC2 if it has a cookie.
    fn initiation(&mut self, to: &PublicKey, now: Instant) -> Vec<u8> {
        let mut msg = vec![0u8; INITIATION_LEN];
        msg[0] = 1;
        msg[4..8].copy_from_slice(&self.sender.to_le_bytes());
        let mac1 = stamp(&mut msg, &mac1_key(to), self.jar.cookie(now));
        self.jar.sent(mac1);
        msg
    }

    /// Sends one initiation through `gate`; takes a cookie reply it gets.
    fn send(&mut self, gate: &Gate, to: &PublicKey, now: Instant) -> Result<Admit, Error> {
        let msg = self.initiation(to, now);
        let mut reply = [0u8; COOKIE_REPLY_LEN];
        let admit = gate.admit(
            &msg,
            self.src,
            now,
            &mut reply,
            &mut TestRng::new(7),
            |_| false,
        )?;
        if admit == Admit::CookieReply {
            match wire::parse(&reply) {
                Ok(Message::CookieReply(m)) => self
                    .jar
                    .consume(&m, &cookie_key(to), now)
                    .expect("a cookie reply for our message"),
                other => panic!("not a cookie reply: {other:?}"),
            }
        }
        Ok(admit)
    }
}

#[test]
fn under_load_one_source_with_valid_cookies_is_held_to_its_rate_and_others_get_in() {
    let keys = Arc::new(StaticKeys::new(secret(9)));
    let ours = keys.public;
    let gate = Gate::new(keys, LIMIT);
    let t0 = Instant::now();
    let mut flooder = Initiator::new(7);
    // Below the load limit everything passes, without cookies.
    for _ in 0..LIMIT {
        assert_eq!(flooder.send(&gate, &ours, t0), Ok(Admit::Pass));
    }
    // Under load: a cookie reply first, then the cookie is honoured...
    assert_eq!(flooder.send(&gate, &ours, t0), Ok(Admit::CookieReply));
    let mut passed = 0;
    let mut limited = 0;
    for _ in 0..100 {
        match flooder.send(&gate, &ours, t0) {
            Ok(Admit::Pass) => passed += 1,
            Err(Error::SourceFlood) => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    // ...for its burst of 5 only.
    assert_eq!((passed, limited), (5, 95));
    // Over the next second, 20 more, though it sends a thousand.
    let mut passed = 0;
    for ms in 1..=1000u64 {
        let now = t0 + Duration::from_millis(ms);
        gate.reset(now);
        // Keep the gate under load, as a flood does.
        for _ in 0..LIMIT {
            let _ = Initiator::new(99).send(&gate, &ours, now);
        }
        if flooder.send(&gate, &ours, now) == Ok(Admit::Pass) {
            passed += 1;
        }
    }
    assert_eq!(passed, 20, "20 a second from one source");
    // Another source, under the same load, answers its cookie and gets in.
    let now = t0 + Duration::from_millis(1000);
    let mut other = Initiator::new(8);
    assert_eq!(other.send(&gate, &ours, now), Ok(Admit::CookieReply));
    assert_eq!(other.send(&gate, &ours, now), Ok(Admit::Pass));
}
