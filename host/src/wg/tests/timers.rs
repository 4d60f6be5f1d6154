//! The state machine's timers on a fake clock, between two of our peers.

use std::time::{Duration, Instant};

use super::{complete_handshake, handshake, peer, src, TestRng};
use crate::wg::{
    Error, Outcome, Peer, KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_ATTEMPT_TIME, REKEY_TIMEOUT,
};

/// Runs `p`'s timers from `from` to `to` in 10 ms steps; the messages sent.
fn run(p: &mut Peer<TestRng>, from: Instant, to: Instant) -> Vec<(Duration, usize)> {
    let mut sent = Vec::new();
    let mut out = vec![0u8; 256];
    let mut now = from;
    while now <= to {
        if p.poll_timeout().is_some_and(|t| t <= now) {
            while let Some(n) = p.handle_timeout(now, &mut out).expect("timers") {
                sent.push((now - from, n));
            }
        }
        now += Duration::from_millis(10);
    }
    sent
}

#[test]
fn initiation_retransmitted_every_rekey_timeout_then_given_up() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut buf = vec![0u8; 256];
    a.initiate(now, &mut buf).expect("initiate");
    let sent = run(
        &mut a,
        now,
        now + REKEY_ATTEMPT_TIME + Duration::from_secs(20),
    );
    assert!(sent.iter().all(|(_, n)| *n == 148));
    let first = sent.first().expect("a retransmission").0;
    assert!(
        first >= REKEY_TIMEOUT && first < REKEY_TIMEOUT + Duration::from_millis(350),
        "{first:?}"
    );
    for w in sent.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            gap >= REKEY_TIMEOUT && gap < REKEY_TIMEOUT + Duration::from_millis(350),
            "{gap:?}"
        );
    }
    // Attempts stop once REKEY_ATTEMPT_TIME has passed since the first.
    let last = sent.last().expect("retransmissions").0;
    assert!(last < REKEY_ATTEMPT_TIME + REKEY_TIMEOUT, "{last:?}");
    assert!(
        (16..=18).contains(&sent.len()),
        "{} retransmissions",
        sent.len()
    );
    assert!(!a.handshake_pending());
    assert!(a.take_gave_up(), "the data path is told, to drop its queue");
    assert!(!a.take_gave_up());
}

#[test]
fn keepalive_owed_after_data_unless_we_answered() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    handshake(&mut a, &mut b, now);
    let mut buf = vec![0u8; 256];
    let mut out = vec![0u8; 256];
    let n = a.encapsulate(b"hello", &mut buf, now).expect("seal");
    assert_eq!(
        b.decapsulate(src(), &buf[..n], &mut out, now, false),
        Ok(Outcome::Data(16))
    );
    let sent = run(
        &mut b,
        now,
        now + KEEPALIVE_TIMEOUT + Duration::from_secs(1),
    );
    assert_eq!(
        sent,
        vec![(KEEPALIVE_TIMEOUT, 32)],
        "one keepalive, after KEEPALIVE_TIMEOUT"
    );

    // If b answers with data first, no keepalive is owed.
    let t = now + Duration::from_secs(20);
    let n = a.encapsulate(b"again", &mut buf, t).expect("seal");
    assert!(b.decapsulate(src(), &buf[..n], &mut out, t, false).is_ok());
    b.encapsulate(b"answer", &mut buf, t).expect("seal");
    assert!(run(&mut b, t, t + KEEPALIVE_TIMEOUT + Duration::from_secs(1)).is_empty());
}

#[test]
fn silence_after_sending_starts_a_handshake() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    handshake(&mut a, &mut b, now);
    let t = now + Duration::from_secs(30);
    let mut buf = vec![0u8; 256];
    a.encapsulate(b"anyone?", &mut buf, t).expect("seal");
    let sent = run(&mut a, t, t + Duration::from_secs(16));
    let (at, n) = *sent.first().expect("an initiation");
    assert_eq!(n, 148);
    assert!(at >= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, "{at:?}");
}

#[test]
fn persistent_keepalive_every_interval() {
    let now = Instant::now();
    let mut a = super::peer(1, 2, 1, now, None);
    let mut b = super::peer(2, 1, 2, now, None);
    handshake(&mut a, &mut b, now);
    let mut p = super::peer_with(1, 2, 9, now, None, Some(Duration::from_secs(25)));
    let mut b2 = super::peer(2, 1, 3, now, None);
    handshake(&mut p, &mut b2, now);
    let sent = run(&mut p, now, now + Duration::from_secs(80));
    let times: Vec<u64> = sent.iter().map(|(d, _)| d.as_secs()).collect();
    assert_eq!(times, vec![25, 50, 75]);
    assert!(sent.iter().all(|(_, n)| *n == 32));
}

#[test]
fn sessions_expire_and_keys_are_erased() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    handshake(&mut a, &mut b, now);
    let mut buf = vec![0u8; 256];
    let mut out = vec![0u8; 256];
    let late = now + REJECT_AFTER_TIME;
    // b (responder) cannot seal nor open on an expired session.
    let n = a
        .encapsulate(b"x", &mut buf, late - Duration::from_secs(1))
        .expect("seal");
    assert_eq!(
        b.decapsulate(src(), &buf[..n], &mut out, late, false),
        Err(Error::Expired)
    );
    assert_eq!(b.encapsulate(b"x", &mut buf, late), Err(Error::NoSession));
    assert!(b.poll_timeout().is_some_and(|t| t <= late));
    let _ = b.handle_timeout(late, &mut out);
    assert!(b.current().is_none(), "expired session dropped");
}

#[test]
fn initiator_rekeys_when_receiving_on_an_old_session() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    handshake(&mut a, &mut b, now);
    let t = now + REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
    let mut buf = vec![0u8; 256];
    let mut out = vec![0u8; 256];
    // The responder never rekeys by age on its own.
    let n = b.encapsulate(b"data", &mut buf, t).expect("seal");
    assert!(!b.handshake_pending());
    assert!(b.poll_timeout().is_none_or(|p| p > t));
    assert!(matches!(
        a.decapsulate(src(), &buf[..n], &mut out, t, false),
        Ok(Outcome::Data(_))
    ));
    assert_eq!(
        a.handle_timeout(t, &mut out),
        Ok(Some(148)),
        "the initiator rekeys"
    );
}

#[test]
fn initiation_flood_and_replayed_timestamp_refused() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    let mut i1 = vec![0u8; 148];
    a.initiate(now, &mut i1).expect("initiate");
    let mut out = vec![0u8; 256];
    assert_eq!(
        b.decapsulate(src(), &i1, &mut out, now, false),
        Ok(Outcome::Reply(92))
    );
    let soon = now + Duration::from_millis(5);
    let mut i2 = vec![0u8; 148];
    a.initiate(soon, &mut i2).expect("initiate");
    assert_eq!(
        b.decapsulate(src(), &i2, &mut out, soon, false),
        Err(Error::Flood)
    );
    let later = now + Duration::from_secs(1);
    assert_eq!(
        b.decapsulate(src(), &i1, &mut out, later, false),
        Err(Error::ReplayedTimestamp)
    );
    assert_eq!(
        b.decapsulate(src(), &i2, &mut out, later, false),
        Ok(Outcome::Reply(92))
    );
}

#[test]
fn keys_erased_three_reject_after_times_after_the_last_session() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    handshake(&mut a, &mut b, now);
    let mut out = vec![0u8; 256];
    // Nothing sends in between: sessions expire, then everything is erased
    // and no timer is left.
    let end = now + REJECT_AFTER_TIME * 3;
    assert!(run(&mut b, now, end + Duration::from_millis(10)).is_empty());
    assert!(b.current().is_none());
    assert_eq!(b.poll_timeout(), None, "no timer left");
    assert_eq!(b.handle_timeout(end, &mut out), Ok(None));
}

#[test]
fn cookie_reply_to_our_response_is_honoured() {
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    let mut init = vec![0u8; 148];
    a.initiate(now, &mut init).expect("initiate");
    let mut resp = vec![0u8; 256];
    let Ok(Outcome::Reply(n)) = b.decapsulate(src(), &init, &mut resp, now, false) else {
        panic!("response");
    };
    // The initiator, under load, answers our response with a cookie.
    let mut cookie = vec![0u8; 256];
    assert_eq!(
        a.decapsulate(src(), &resp[..n], &mut cookie, now, true),
        Ok(Outcome::Reply(64))
    );
    let mut out = vec![0u8; 256];
    assert_eq!(
        b.decapsulate(src(), &cookie[..64], &mut out, now, false),
        Ok(Outcome::Done)
    );
    // A second copy is not bound to anything we sent since.
    assert_eq!(
        b.decapsulate(src(), &cookie[..64], &mut out, now, false),
        Err(Error::UnexpectedMessage)
    );
}

#[test]
fn persistent_keepalive_without_a_session_starts_a_handshake() {
    let now = Instant::now();
    let mut p = super::peer_with(1, 2, 9, now, None, Some(Duration::from_secs(25)));
    // The far side never answers: attempts run for REKEY_ATTEMPT_TIME, then
    // the persistent keepalive (25 s after the last initiation) starts anew.
    let mut buf = vec![0u8; 256];
    p.initiate(now, &mut buf).expect("initiate");
    let sent = run(
        &mut p,
        now,
        now + REKEY_ATTEMPT_TIME + Duration::from_secs(40),
    );
    assert!(sent.iter().all(|(_, n)| *n == 148));
    let last_retry = sent
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| *d < REKEY_ATTEMPT_TIME + REKEY_TIMEOUT)
        .max()
        .expect("retries");
    let restart = sent
        .iter()
        .map(|(d, _)| *d)
        .find(|d| *d > REKEY_ATTEMPT_TIME + REKEY_TIMEOUT)
        .expect("a new attempt from the persistent keepalive");
    assert_eq!(restart, last_retry + Duration::from_secs(25));
}

#[test]
fn a_send_before_the_first_session_asks_for_no_second_handshake() {
    // Traffic (a probe) before the handshake completed, on either side:
    // once the session exists, nothing more is owed. (A wish left over
    // started a second handshake one REKEY_TIMEOUT after the first, on
    // every tunnel.)
    let now = Instant::now();
    let mut a = peer(1, 2, 1, now, None);
    let mut b = peer(2, 1, 2, now, None);
    let mut buf = vec![0u8; 256];
    assert_eq!(
        a.encapsulate(b"probe", &mut buf, now),
        Err(Error::NoSession)
    );
    assert_eq!(
        b.encapsulate(b"probe", &mut buf, now),
        Err(Error::NoSession)
    );
    // A's wish starts its handshake; B's must wait for it to be confirmed.
    let n = a
        .handle_timeout(now, &mut buf)
        .expect("timers")
        .expect("an initiation");
    complete_handshake(&mut a, &mut b, &buf[..n], now);
    let later = now + REKEY_TIMEOUT + Duration::from_secs(2);
    for (name, p) in [("initiator", &mut a), ("responder", &mut b)] {
        let sent = run(p, now, later);
        assert!(
            sent.iter().all(|(_, n)| *n != 148),
            "the {name} started another handshake: {sent:?}"
        );
    }
}
