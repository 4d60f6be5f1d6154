//! Malformed input of every type: truncated at every length, wrong types,
//! bad reserved bytes, wrong MAC1, flipped bits, random bytes. Errors, never
//! panics, and never a state change that breaks the next good handshake.

use std::time::Instant;

use rand_core::RngCore;

use super::{peer, src, TestRng};
use crate::wg::{receiver_index, Error, Outcome, WireError};

/// One of each message type, genuine: initiation, response, cookie reply,
/// data.
fn samples(now: Instant) -> Vec<Vec<u8>> {
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    let mut init = vec![0u8; 148];
    a.initiate(now, &mut init).expect("initiate");
    let mut resp = vec![0u8; 256];
    let Ok(Outcome::Reply(n)) = b.decapsulate(src(), &init, &mut resp, now, false) else {
        panic!("response");
    };
    resp.truncate(n);
    let mut cookie = vec![0u8; 256];
    let mut c = peer(2, 1, 3, now, None);
    let Ok(Outcome::Reply(n)) = c.decapsulate(src(), &init, &mut cookie, now, true) else {
        panic!("cookie reply");
    };
    cookie.truncate(n);
    let mut data = vec![0u8; 256];
    let Ok(Outcome::Reply(n)) = a.decapsulate(src(), &resp, &mut data, now, false) else {
        panic!("keepalive");
    };
    data.truncate(n);
    vec![init, resp, cookie, data]
}

#[test]
fn truncated_at_every_length_and_wrong_types() {
    let now = Instant::now();
    for msg in samples(now) {
        for len in 0..msg.len() {
            let mut p = peer(2, 1, 4, now, None);
            let mut out = vec![0u8; 256];
            let r = p.decapsulate(src(), &msg[..len], &mut out, now, false);
            assert!(r.is_err(), "type {} truncated to {len}: {r:?}", msg[0]);
            assert!(receiver_index(&msg[..len]).is_err() || msg[0] == 4);
        }
        for t in [0u8, 5, 255] {
            let mut m = msg.clone();
            m[0] = t;
            let mut p = peer(2, 1, 4, now, None);
            let mut out = vec![0u8; 256];
            assert_eq!(
                p.decapsulate(src(), &m, &mut out, now, false),
                Err(Error::Wire(WireError::UnknownType(t)))
            );
        }
        let mut m = msg.clone();
        m[2] = 1;
        let mut p = peer(2, 1, 4, now, None);
        let mut out = vec![0u8; 256];
        assert_eq!(
            p.decapsulate(src(), &m, &mut out, now, false),
            Err(Error::Wire(WireError::Reserved))
        );
        // One byte too many.
        let mut m = msg.clone();
        m.push(0);
        let r = p.decapsulate(src(), &m, &mut out, now, false);
        assert!(r.is_err(), "type {} one byte long: {r:?}", msg[0]);
    }
}

#[test]
fn wrong_mac1_and_flipped_bits_refused() {
    let now = Instant::now();
    let s = samples(now);
    for (which, msg) in s.iter().take(2).enumerate() {
        // Every bit but MAC2's (not checked unless under load).
        for bit in (0..(msg.len() - 16) * 8).step_by(7) {
            let mut m = msg.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            // The initiation goes to a fresh responder; the response to
            // nobody waiting for it; both must fail.
            let mut p = peer(2, 1, 4, now, None);
            let mut out = vec![0u8; 256];
            let r = p.decapsulate(src(), &m, &mut out, now, false);
            assert!(r.is_err(), "message {which}, bit {bit}: {r:?}");
            // Past the header a flip leaves MAC1 wrong.
            if bit / 8 >= 4 {
                assert_eq!(r, Err(Error::Mac1), "message {which}, bit {bit}");
            }
        }
    }
    // Addressed to someone else: MAC1 is keyed by the receiver's key.
    let mut other = peer(3, 1, 5, now, None);
    let mut out = vec![0u8; 256];
    assert_eq!(
        other.decapsulate(src(), &s[0], &mut out, now, false),
        Err(Error::Mac1)
    );
}

#[test]
fn random_bytes_never_panic() {
    let now = Instant::now();
    let mut rng = TestRng::new(99);
    let mut p = peer(2, 1, 4, now, None);
    let s = samples(now);
    let mut out = vec![0u8; 2048];
    let keys = crate::wg::StaticKeys::new(super::secret(2));
    for i in 0..20_000u32 {
        let len = (rng.next_u32() % 300) as usize;
        let mut buf = vec![0u8; len];
        rng.fill_bytes(&mut buf);
        if len > 0 && i % 2 == 0 {
            // A plausible header, random body: reach deeper than the type.
            buf[0] = (i % 4 + 1) as u8;
            buf.iter_mut().skip(1).take(3).for_each(|b| *b = 0);
        }
        if i % 5 == 0 {
            // A genuine message with random corruption.
            buf = s[(i as usize / 5) % s.len()].clone();
            let k = rng.next_u32() as usize % buf.len();
            buf[k] = rng.next_u32() as u8;
        }
        let _ = receiver_index(&buf);
        let _ = keys.initiator_of(&buf);
        let r = p.decapsulate(src(), &buf, &mut out, now, i % 3 == 0);
        if let Err(e) = r {
            // Display is one terse line.
            assert!(!e.to_string().contains('\n'));
        }
    }
    // Still able to complete a genuine handshake afterwards.
    let mut a = peer(1, 2, 1, now, None);
    let mut init = vec![0u8; 148];
    a.initiate(now + std::time::Duration::from_secs(1), &mut init)
        .expect("initiate");
    let r = p.decapsulate(
        src(),
        &init,
        &mut out,
        now + std::time::Duration::from_secs(1),
        false,
    );
    assert_eq!(r, Ok(Outcome::Reply(92)));
}

#[test]
fn errors_chain_their_source() {
    use std::error::Error as _;
    let e = Error::Wire(WireError::UnknownType(9));
    assert_eq!(e.to_string(), "malformed message");
    assert_eq!(
        e.source().map(|s| s.to_string()),
        Some("unknown message type 9".into())
    );
}

#[test]
fn unknown_index_and_small_buffers_are_errors() {
    let now = Instant::now();
    let s = samples(now);
    let mut p = peer(2, 1, 4, now, None);
    let idx = u32::from_le_bytes([s[3][4], s[3][5], s[3][6], s[3][7]]);
    let mut out = vec![0u8; 256];
    assert_eq!(
        p.decapsulate(src(), &s[3], &mut out, now, false),
        Err(Error::UnknownIndex(idx))
    );
    for size in [0usize, 1, 31, 64, 91] {
        let mut small = vec![0u8; size];
        let r = p.decapsulate(src(), &s[0], &mut small, now, false);
        assert!(
            matches!(r, Err(Error::BufferTooSmall { .. })),
            "{size}: {r:?}"
        );
        let mut a = peer(1, 2, 1, now, None);
        let r = a.initiate(now, &mut small);
        assert!(
            matches!(r, Err(Error::BufferTooSmall { .. })),
            "{size}: {r:?}"
        );
        assert!(matches!(
            a.encapsulate(b"x", &mut small, now),
            Err(Error::NoSession)
        ));
    }
}
