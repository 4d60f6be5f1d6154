//! Our peer against boringtun 0.6's `Tunn`, in-process: both handshake
//! directions, data both ways, keepalives, a rekey after REKEY_AFTER_TIME on
//! our fake clock, replays refused on both sides, a pre-shared key, cookies.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Tunn, TunnResult};
use x25519_dalek::PublicKey;

use super::{ipv4_packet, peer, secret, src, TestRng};
use crate::wg::{Error, Outcome, Peer, REKEY_AFTER_TIME, REKEY_TIMEOUT};

const OURS: u8 = 1;
const THEIRS: u8 = 2;
const BUF: usize = 2048;

fn tunn(psk: Option<[u8; 32]>, limiter: Option<Arc<RateLimiter>>) -> Tunn {
    Tunn::new(
        secret(THEIRS),
        PublicKey::from(&secret(OURS)),
        psk,
        None,
        0x42,
        limiter,
    )
    .expect("tunn")
}

fn their_ip() -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
}

/// Feeds a datagram to boringtun; returns what it wants sent, if anything.
fn bt_net(t: &mut Tunn, datagram: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; BUF];
    match t.decapsulate(their_ip(), datagram, &mut out) {
        TunnResult::WriteToNetwork(b) => Some(b.to_vec()),
        TunnResult::Done => None,
        other => panic!("boringtun: unexpected {}", describe(&other)),
    }
}

fn describe(r: &TunnResult<'_>) -> String {
    match r {
        TunnResult::Done => "Done".into(),
        TunnResult::Err(e) => format!("Err({e:?})"),
        TunnResult::WriteToNetwork(b) => format!("WriteToNetwork({})", b.len()),
        TunnResult::WriteToTunnelV4(b, _) => format!("WriteToTunnelV4({})", b.len()),
        TunnResult::WriteToTunnelV6(b, _) => format!("WriteToTunnelV6({})", b.len()),
    }
}

/// Boringtun opens one of our data messages: the inner packet it yields.
fn bt_open(t: &mut Tunn, datagram: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; BUF];
    match t.decapsulate(their_ip(), datagram, &mut out) {
        TunnResult::WriteToTunnelV4(b, _) => Ok(b.to_vec()),
        other => Err(describe(&other)),
    }
}

fn bt_seal(t: &mut Tunn, packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; BUF];
    match t.encapsulate(packet, &mut out) {
        TunnResult::WriteToNetwork(b) => b.to_vec(),
        other => panic!("boringtun encapsulate: {}", describe(&other)),
    }
}

fn our_seal(p: &mut Peer<TestRng>, packet: &[u8], now: Instant) -> Vec<u8> {
    let mut out = vec![0u8; BUF];
    let n = p.encapsulate(packet, &mut out, now).expect("seal");
    out.truncate(n);
    out
}

fn our_open(
    p: &mut Peer<TestRng>,
    datagram: &[u8],
    now: Instant,
) -> Result<(Outcome, Vec<u8>), Error> {
    let mut out = vec![0u8; BUF];
    let o = p.decapsulate(src(), datagram, &mut out, now, false)?;
    let n = match o {
        Outcome::Data(n) | Outcome::Reply(n) => n,
        Outcome::Keepalive | Outcome::Done => 0,
    };
    out.truncate(n);
    Ok((o, out))
}

/// Our initiation through boringtun and back; returns the confirming
/// keepalive boringtun has consumed.
fn our_handshake(ours: &mut Peer<TestRng>, bt: &mut Tunn, init: &[u8], now: Instant) {
    let response = bt_net(bt, init).expect("boringtun answers the initiation");
    assert_eq!(response.len(), 92);
    let (o, keepalive) = our_open(ours, &response, now).expect("we take boringtun's response");
    assert!(matches!(o, Outcome::Reply(32)), "{o:?}");
    assert!(
        bt_net(bt, &keepalive).is_none(),
        "boringtun takes our keepalive"
    );
}

fn data_both_ways(ours: &mut Peer<TestRng>, bt: &mut Tunn, now: Instant, seed: u8) {
    for len in [28usize, 29, 100, 1420] {
        let pkt = ipv4_packet(len, seed);
        let sealed = our_seal(ours, &pkt, now);
        // Ours is padded to 16 bytes (boringtun's is not).
        assert_eq!(sealed.len(), 32 + len.div_ceil(16) * 16);
        assert_eq!(bt_open(bt, &sealed).expect("boringtun opens ours"), pkt);
        let theirs = bt_seal(bt, &pkt);
        let (o, plain) = our_open(ours, &theirs, now).expect("we open boringtun's");
        assert!(matches!(o, Outcome::Data(_)));
        assert_eq!(&plain[..len], &pkt[..], "payload of {len} bytes");
    }
}

#[test]
fn our_initiator_with_boringtun_responder() {
    for psk in [None, Some([7u8; 32])] {
        let now = Instant::now();
        let mut ours = peer(OURS, THEIRS, 5, now, psk);
        let mut bt = tunn(psk, None);
        let mut init = [0u8; 148];
        assert_eq!(ours.initiate(now, &mut init), Ok(148));
        our_handshake(&mut ours, &mut bt, &init, now);
        data_both_ways(&mut ours, &mut bt, now, 3);
        // Our keepalive: boringtun takes it without output.
        let ka = our_seal(&mut ours, &[], now);
        assert_eq!(ka.len(), 32);
        assert!(bt_net(&mut bt, &ka).is_none());
        assert_eq!(ours.handshakes(), 1);
    }
}

#[test]
fn boringtun_initiator_with_our_responder() {
    for psk in [None, Some([9u8; 32])] {
        let now = Instant::now();
        let mut ours = peer(OURS, THEIRS, 6, now, psk);
        let mut bt = tunn(psk, None);
        let mut buf = vec![0u8; BUF];
        let init = match bt.format_handshake_initiation(&mut buf, false) {
            TunnResult::WriteToNetwork(b) => b.to_vec(),
            other => panic!("{}", describe(&other)),
        };
        let (o, response) = our_open(&mut ours, &init, now).expect("we take the initiation");
        assert_eq!(o, Outcome::Reply(92));
        // No confirmed session yet: a responder must not send first.
        assert!(ours.current().is_none());
        let keepalive = bt_net(&mut bt, &response).expect("boringtun confirms with a keepalive");
        let (o, _) = our_open(&mut ours, &keepalive, now).expect("keepalive");
        assert_eq!(o, Outcome::Keepalive);
        assert!(
            ours.current().is_some(),
            "the keepalive confirmed the session"
        );
        data_both_ways(&mut ours, &mut bt, now, 11);
        // Boringtun's keepalive reaches us as one.
        let mut out = vec![0u8; BUF];
        let ka = match bt.encapsulate(&[], &mut out) {
            TunnResult::WriteToNetwork(b) => b.to_vec(),
            other => panic!("{}", describe(&other)),
        };
        assert_eq!(
            our_open(&mut ours, &ka, now).map(|r| r.0),
            Ok(Outcome::Keepalive)
        );
        // The same initiation again is a replay (timestamp not newer).
        assert_eq!(
            our_open(&mut ours, &init, now).err(),
            Some(Error::ReplayedTimestamp)
        );
    }
}

#[test]
fn rekey_after_rekey_after_time_with_traffic_flowing() {
    let start = Instant::now();
    let mut ours = peer(OURS, THEIRS, 7, start, None);
    let mut bt = tunn(None, None);
    let mut init = [0u8; 148];
    ours.initiate(start, &mut init).expect("initiate");
    our_handshake(&mut ours, &mut bt, &init, start);
    data_both_ways(&mut ours, &mut bt, start, 1);
    let first = ours.current().expect("session").local_index();

    // Just before REKEY_AFTER_TIME nothing is owed.
    let before = start + REKEY_AFTER_TIME - Duration::from_secs(1);
    let pkt = ipv4_packet(60, 2);
    assert_eq!(
        bt_open(&mut bt, &our_seal(&mut ours, &pkt, before)),
        Ok(pkt.clone())
    );
    let mut out = vec![0u8; BUF];
    let _ = ours.handle_timeout(before, &mut out).expect("timers");
    assert!(!ours.handshake_pending());

    // After it, sending still works on the old session and asks for a rekey.
    let later = start + REKEY_AFTER_TIME + Duration::from_secs(1);
    assert_eq!(
        bt_open(&mut bt, &our_seal(&mut ours, &pkt, later)),
        Ok(pkt.clone())
    );
    assert!(ours.poll_timeout().is_some_and(|t| t <= later));
    let n = ours
        .handle_timeout(later, &mut out)
        .expect("timers")
        .expect("an initiation is due");
    assert_eq!(n, 148);
    let init2 = out[..n].to_vec();
    // Boringtun still opens old-session data while the handshake runs.
    let theirs = bt_seal(&mut bt, &pkt);
    assert!(matches!(
        our_open(&mut ours, &theirs, later),
        Ok((Outcome::Data(_), _))
    ));
    our_handshake(&mut ours, &mut bt, &init2, later);
    let second = ours.current().expect("session").local_index();
    assert_ne!(first, second, "a new session is current");
    assert_eq!(ours.handshakes(), 2);
    data_both_ways(&mut ours, &mut bt, later, 4);
}

#[test]
fn replays_refused_both_ways() {
    let now = Instant::now();
    let mut ours = peer(OURS, THEIRS, 8, now, None);
    let mut bt = tunn(None, None);
    let mut init = [0u8; 148];
    ours.initiate(now, &mut init).expect("initiate");
    our_handshake(&mut ours, &mut bt, &init, now);

    let pkt = ipv4_packet(200, 5);
    let sealed = our_seal(&mut ours, &pkt, now);
    assert_eq!(bt_open(&mut bt, &sealed), Ok(pkt.clone()));
    let again = bt_open(&mut bt, &sealed).expect_err("boringtun refuses our replay");
    assert!(
        again.contains(&format!("{:?}", WireGuardError::DuplicateCounter)),
        "{again}"
    );

    let theirs = bt_seal(&mut bt, &pkt);
    assert!(our_open(&mut ours, &theirs, now).is_ok());
    assert!(matches!(
        our_open(&mut ours, &theirs, now),
        Err(Error::Replay(_))
    ));

    // A flipped bit anywhere in the ciphertext is refused.
    let mut bad = bt_seal(&mut bt, &pkt);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(our_open(&mut ours, &bad, now).err(), Some(Error::Decrypt));
}

#[test]
fn our_initiator_honours_boringtuns_cookie() {
    let now = Instant::now();
    let mut ours = peer(OURS, THEIRS, 9, now, None);
    let limiter = Arc::new(RateLimiter::new(&PublicKey::from(&secret(THEIRS)), 0));
    let mut bt = tunn(None, Some(limiter));
    let mut init = [0u8; 148];
    ours.initiate(now, &mut init).expect("initiate");
    let reply = bt_net(&mut bt, &init).expect("a cookie reply");
    assert_eq!(reply.len(), 64);
    assert_eq!(
        our_open(&mut ours, &reply, now).map(|r| r.0),
        Ok(Outcome::Done)
    );
    // The retransmission carries MAC2 and gets through.
    let later = now + REKEY_TIMEOUT + Duration::from_secs(1);
    let mut out = vec![0u8; BUF];
    let n = ours
        .handle_timeout(later, &mut out)
        .expect("timers")
        .expect("retransmission");
    our_handshake(&mut ours, &mut bt, &out[..n], later);
    data_both_ways(&mut ours, &mut bt, later, 8);
}

#[test]
fn our_responder_under_load_demands_a_cookie_boringtun_honours() {
    let now = Instant::now();
    let mut ours = peer(OURS, THEIRS, 10, now, None);
    let mut bt = tunn(None, None);
    let mut buf = vec![0u8; BUF];
    let init = match bt.format_handshake_initiation(&mut buf, false) {
        TunnResult::WriteToNetwork(b) => b.to_vec(),
        other => panic!("{}", describe(&other)),
    };
    let mut out = vec![0u8; BUF];
    let o = ours
        .decapsulate(src(), &init, &mut out, now, true)
        .expect("cookie reply");
    assert_eq!(o, Outcome::Reply(64));
    assert!(
        bt_net(&mut bt, &out[..64]).is_none(),
        "boringtun takes the cookie"
    );
    let init2 = match bt.format_handshake_initiation(&mut buf, true) {
        TunnResult::WriteToNetwork(b) => b.to_vec(),
        other => panic!("{}", describe(&other)),
    };
    let o = ours
        .decapsulate(src(), &init2, &mut out, now, true)
        .expect("accepted with MAC2");
    assert_eq!(o, Outcome::Reply(92));
    // The same initiation from another address has the wrong MAC2.
    let other = "198.51.100.7:51820".parse().expect("address");
    let later = now + Duration::from_secs(1);
    let o = ours
        .decapsulate(other, &init2, &mut out, later, true)
        .expect("cookie reply");
    assert_eq!(o, Outcome::Reply(64));
}

#[test]
fn boringtun_rekeys_towards_our_responder_with_traffic_flowing() {
    let now = Instant::now();
    let mut ours = peer(OURS, THEIRS, 11, now, None);
    let mut bt = tunn(None, None);
    let mut buf = vec![0u8; BUF];
    let init = match bt.format_handshake_initiation(&mut buf, false) {
        TunnResult::WriteToNetwork(b) => b.to_vec(),
        other => panic!("{}", describe(&other)),
    };
    // A gateway with many peers on one key finds the initiator first.
    let keys = crate::wg::StaticKeys::new(secret(OURS));
    assert_eq!(
        keys.initiator_of(&init),
        Ok(PublicKey::from(&secret(THEIRS)))
    );
    let (_, response) = our_open(&mut ours, &init, now).expect("initiation");
    let keepalive = bt_net(&mut bt, &response).expect("keepalive");
    our_open(&mut ours, &keepalive, now).expect("keepalive");
    data_both_ways(&mut ours, &mut bt, now, 21);
    let first = ours.current().expect("session").local_index();
    assert_eq!(ours.last_handshake(), Some(now));

    // Boringtun starts another handshake (its TAI64N clock is the real one:
    // let it move past the whitening's 16.8 ms).
    std::thread::sleep(Duration::from_millis(40));
    let later = now + Duration::from_secs(2);
    let init2 = match bt.format_handshake_initiation(&mut buf, true) {
        TunnResult::WriteToNetwork(b) => b.to_vec(),
        other => panic!("{}", describe(&other)),
    };
    let (o, response2) = our_open(&mut ours, &init2, later).expect("second initiation");
    assert_eq!(o, Outcome::Reply(92));
    // Until boringtun uses the new session, ours keeps sealing on the old.
    assert_eq!(ours.current().expect("session").local_index(), first);
    let pkt = ipv4_packet(100, 1);
    assert_eq!(
        bt_open(&mut bt, &our_seal(&mut ours, &pkt, later)),
        Ok(pkt.clone())
    );
    let keepalive2 = bt_net(&mut bt, &response2).expect("boringtun confirms");
    our_open(&mut ours, &keepalive2, later).expect("keepalive on the new session");
    let second = ours.current().expect("session").local_index();
    assert_ne!(first, second);
    assert_eq!(ours.handshakes(), 2);
    assert_eq!(ours.last_handshake(), Some(later));
    data_both_ways(&mut ours, &mut bt, later, 22);
}
