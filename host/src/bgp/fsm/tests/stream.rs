//! Framing of the byte stream: any split gives the same result, garbage and
//! malformed messages get their NOTIFICATION, stale bytes never leak into a
//! new connection, and no input panics.

use super::*;

/// A seeded generator, so failures reproduce.
use crate::policy::gen::XorShift as Rng;

/// KEEPALIVE, two UPDATEs, KEEPALIVE, ROUTE-REFRESH: what an Established
/// session receives.
fn stream() -> Vec<u8> {
    let mut v = keepalive();
    v.extend(wire(&Message::Update(update("10.1.0.0/16"))));
    v.extend(wire(&Message::Update(update("10.2.0.0/16"))));
    v.extend(keepalive());
    v.extend(frame(5, &[0, 2, 0, 1]));
    v
}

/// Feeds `chunks` to a fresh Established session; all outputs in order.
fn feed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Output>, Session) {
    let t0 = Instant::now();
    let mut s = established(t0);
    let mut out = Vec::new();
    for c in chunks {
        out.extend(s.received(c, t0 + secs(1)));
    }
    (out, s)
}

#[test]
fn whole_stream() {
    let bytes = stream();
    let (out, s) = feed([bytes.as_slice()]);
    let nlri = |o: &Output| match o {
        Output::Update(u) => u.nlri.clone(),
        _ => panic!("{o:?}"),
    };
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(nlri(&out[0]), vec!["10.1.0.0/16".parse().unwrap()]);
    assert_eq!(nlri(&out[1]), vec!["10.2.0.0/16".parse().unwrap()]);
    assert_eq!(out[2], Output::RouteRefresh(Family::IPV6_UNICAST));
    assert_eq!(s.stats().updates_received, 2);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn split_at_every_point() {
    let bytes = stream();
    let (want, _) = feed([bytes.as_slice()]);
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        let (out, s) = feed([a, b]);
        assert_eq!(out, want, "split at {i}");
        assert_eq!(s.state(), State::Established);
    }
    for i in 0..bytes.len() {
        for j in i..=bytes.len() {
            let (out, _) = feed([&bytes[..i], &bytes[i..j], &bytes[j..]]);
            assert_eq!(out, want, "split at {i} and {j}");
        }
    }
}

#[test]
fn one_byte_at_a_time_and_random_chunks() {
    let bytes = stream();
    let (want, _) = feed([bytes.as_slice()]);
    let (out, _) = feed(bytes.chunks(1));
    assert_eq!(out, want);
    let mut rng = Rng::new(0x5eed_0001);
    for _ in 0..200 {
        let mut chunks = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = rng.index(rest.len().min(40)) + 1;
            let (a, b) = rest.split_at(n);
            chunks.push(a);
            rest = b;
        }
        let (out, _) = feed(chunks.iter().copied());
        assert_eq!(out, want, "chunks {:?}", chunks.iter().map(|c| c.len()));
    }
}

#[test]
fn messages_after_an_error_in_the_same_read_are_dropped() {
    let mut bytes = keepalive();
    bytes.extend(notification(6, 4, &[]));
    bytes.extend(wire(&Message::Update(update("10.1.0.0/16"))));
    let (out, s) = feed([bytes.as_slice()]);
    assert!(
        matches!(out.as_slice(), [Output::Close, Output::Down { .. }]),
        "{out:?}"
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn garbage_is_connection_not_synchronized() {
    let t0 = Instant::now();
    let mut s = open_sent(false, t0);
    let out = s.received(&[0u8; 19], t0);
    assert_eq!(out.len(), 3, "{out:?}");
    match sent(&out).as_slice() {
        [Message::Notification(n)] => assert_eq!((n.code, n.subcode), (1, 1), "{n}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(out[1], Output::Close);
    assert_eq!(s.state(), State::Idle);

    // Also in Established.
    let (out, _) = feed([b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".as_slice()]);
    match sent(&out).as_slice() {
        [Message::Notification(n)] => assert_eq!((n.code, n.subcode), (1, 1), "{n}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_length_is_a_header_error() {
    let mut bytes = keepalive();
    bytes[16..18].copy_from_slice(&5u16.to_be_bytes());
    let (out, s) = feed([bytes.as_slice()]);
    match sent(&out).as_slice() {
        [Message::Notification(n)] => assert_eq!((n.code, n.subcode), (1, 2), "{n}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.state(), State::Idle);
}

/// An UPDATE with an ORIGIN of 5: RFC 7606 section 7.1 says
/// treat-as-withdraw. The FSM hands it on like any UPDATE.
#[test]
fn treat_as_withdraw_update_still_comes_out() {
    let asn = REMOTE_ASN.to_be_bytes();
    let mut attrs = vec![0x40, 1, 1, 5]; // ORIGIN, value 5
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH, one sequence
    attrs.extend_from_slice(&asn);
    attrs.extend_from_slice(&[0x40, 3, 4, 169, 254, 10, 2]); // NEXT_HOP
    let mut body = vec![0, 0, 0, u8::try_from(attrs.len()).unwrap()];
    body.extend(attrs);
    body.extend_from_slice(&[16, 10, 1]); // 10.1.0.0/16
    let (out, s) = feed([frame(2, &body).as_slice()]);
    match out.as_slice() {
        [Output::Update(u)] => {
            assert!(u.treat_as_withdraw.is_some(), "{u:?}");
            assert_eq!(u.nlri, vec!["10.1.0.0/16".parse().unwrap()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.state(), State::Established);
}

#[test]
fn stale_bytes_never_reach_the_next_connection() {
    let t0 = Instant::now();
    let mut s = open_sent(false, t0);
    // Half a KEEPALIVE, then the connection drops.
    assert_eq!(s.received(&keepalive()[..10], t0), vec![]);
    assert_eq!(s.tcp_failed(t0), vec![Output::Close]);
    // Late bytes of the old connection, before and after the restart.
    assert_eq!(s.received(&keepalive()[10..], t0), vec![]);
    assert_eq!(s.handle_timeout(t0 + secs(1)), vec![Output::Connect]);
    assert_eq!(s.received(&keepalive(), t0 + secs(1)), vec![]);
    // The new connection starts from a clean buffer.
    s.tcp_connected(t0 + secs(1));
    let out = s.received(&wire(&Message::Open(peer_open(30))), t0 + secs(1));
    assert_eq!(out, vec![Output::Send(keepalive())]);
    assert_eq!(s.state(), State::OpenConfirm);
}

#[test]
fn open_keepalive_and_update_in_one_read() {
    // The peer's OPEN, KEEPALIVE and first UPDATE arrive together: the
    // UPDATE is decoded with the context the OPENs just negotiated.
    let t0 = Instant::now();
    let mut s = open_sent(true, t0);
    let mut bytes = wire(&Message::Open(peer_open(30)));
    bytes.extend(keepalive());
    let upd = Update {
        attributes: Some(PathAttributes {
            as_path: vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![REMOTE_ASN, 4_200_000_000],
            }],
            ..update("10.3.0.0/16").attributes.unwrap()
        }),
        ..update("10.3.0.0/16")
    };
    bytes.extend(wire(&Message::Update(upd)));
    let out = s.received(&bytes, t0);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], Output::Send(keepalive()));
    assert!(matches!(out[1], Output::Established(_)));
    match &out[2] {
        Output::Update(u) => assert_eq!(
            u.attributes.as_ref().unwrap().as_path_flat(),
            vec![REMOTE_ASN, 4_200_000_000]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_input_panics() {
    let t0 = Instant::now();
    let mut rng = Rng::new(0xdead_beef);
    let good = [
        keepalive(),
        wire(&Message::Open(peer_open(30))),
        wire(&Message::Update(update("10.1.0.0/16"))),
        notification(6, 2, &[]),
        frame(5, &[0, 1, 0, 1]),
    ];
    for round in 0..300 {
        let mut s = if round % 2 == 0 {
            established(t0)
        } else {
            open_sent(round % 4 == 1, t0)
        };
        let mut now = t0;
        for _ in 0..20 {
            now += Duration::from_millis(rng.next_u64() % 20_000);
            // A valid message, possibly corrupted, or random bytes.
            let mut bytes = match rng.index(3) {
                0 => good[rng.index(good.len())].clone(),
                _ => (0..rng.index(64)).map(|_| rng.next_u64() as u8).collect(),
            };
            if !bytes.is_empty() && rng.index(2) == 0 {
                let i = rng.index(bytes.len());
                bytes[i] = rng.next_u64() as u8;
            }
            if rng.index(3) == 0 && bytes.len() >= 16 {
                bytes[..16].copy_from_slice(&MARKER);
            }
            match rng.index(8) {
                0 => drop(s.handle_timeout(now)),
                1 => drop(s.tcp_connected(now)),
                2 => drop(s.tcp_failed(now)),
                3 => drop(s.start(now)),
                _ => drop(s.received(&bytes, now)),
            }
            if let Some(t) = s.poll_timeout() {
                assert!(t >= t0);
            }
        }
    }
}

#[test]
fn huge_durations_do_not_overflow() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig {
        connect_retry: Duration::MAX,
        idle_hold: Duration::MAX,
        ..cfg(false)
    });
    assert_eq!(s.start(t0), vec![Output::Connect]);
    assert_eq!(s.poll_timeout(), None);
    s.tcp_connected(t0);
    s.tcp_failed(t0);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.stop(None, Some(Duration::MAX), t0), vec![]);
}
