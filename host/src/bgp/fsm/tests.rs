//! Tests of the session FSM with a fake clock (a base `Instant` plus
//! `Duration`s) and the peer's side played with bytes: encoded by the codec
//! or built by hand. `stream` has the framing and robustness tests.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::*;
use crate::bgp::message::{
    error_code, AsSegment, Capability, Message, Notification, Open, PathAttributes, SegmentKind,
    Update,
};

mod stream;

const LOCAL_ASN: u32 = 65001;
const REMOTE_ASN: u32 = 65002;
const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
const REMOTE_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);
const MARKER: [u8; 16] = [0xff; 16];

fn cfg(passive: bool) -> SessionConfig {
    SessionConfig {
        passive,
        ..SessionConfig::new(LOCAL_ASN, REMOTE_ASN, LOCAL_ID)
    }
}

/// A message as it is on the wire: marker, length, type, body.
fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(19 + body.len()).unwrap();
    let mut v = MARKER.to_vec();
    v.extend_from_slice(&len.to_be_bytes());
    v.push(kind);
    v.extend_from_slice(body);
    v
}

fn keepalive() -> Vec<u8> {
    frame(4, &[])
}

fn notification(code: u8, subcode: u8, data: &[u8]) -> Vec<u8> {
    let mut body = vec![code, subcode];
    body.extend_from_slice(data);
    frame(3, &body)
}

fn ctx4() -> codec::Context {
    codec::Context {
        four_octet_as: true,
    }
}

/// The peer's message, encoded by the codec as the peer would (4-octet AS).
fn wire(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(msg, &ctx4(), &mut out).unwrap();
    out
}

/// The peer's OPEN: everything we offer, its own hold time.
fn peer_open(hold_time: u16) -> Open {
    Open {
        asn: REMOTE_ASN,
        hold_time,
        router_id: REMOTE_ID,
        capabilities: vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(REMOTE_ASN),
        ],
    }
}

fn update(prefix: &str) -> Update {
    Update {
        attributes: Some(PathAttributes {
            as_path: vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![REMOTE_ASN],
            }],
            next_hop: Some(Ipv4Addr::new(169, 254, 10, 2)),
            ..PathAttributes::default()
        }),
        nlri: vec![prefix.parse().unwrap()],
        ..Update::default()
    }
}

/// The messages in the `Send`s of `out`, decoded.
fn sent(out: &[Output]) -> Vec<Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(bytes) => Some(codec::decode(bytes, &ctx4()).unwrap()),
            _ => None,
        })
        .collect()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A session brought to OpenSent at `t0` (active: via Connect).
fn open_sent(passive: bool, t0: Instant) -> Session {
    let mut s = Session::new(cfg(passive));
    s.start(t0);
    s.tcp_connected(t0);
    assert_eq!(s.state(), State::OpenSent);
    s
}

/// A session brought to Established at `t0` with the peer's `open`.
fn established_with(passive: bool, open: Open, t0: Instant) -> Session {
    let mut s = open_sent(passive, t0);
    s.received(&wire(&Message::Open(open)), t0);
    assert_eq!(s.state(), State::OpenConfirm);
    let out = s.received(&keepalive(), t0);
    assert!(
        matches!(out.as_slice(), [Output::Established(_)]),
        "{out:?}"
    );
    s
}

fn established(t0: Instant) -> Session {
    established_with(false, peer_open(90), t0)
}

#[test]
fn happy_path_active() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), None);

    assert_eq!(s.start(t0), vec![Output::Connect]);
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(5)));

    let t1 = t0 + Duration::from_millis(30);
    let out = s.tcp_connected(t1);
    assert_eq!(
        sent(&out),
        vec![Message::Open(Open {
            asn: LOCAL_ASN,
            hold_time: 30,
            router_id: LOCAL_ID,
            capabilities: vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::Multiprotocol(Family::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(LOCAL_ASN),
            ],
        })]
    );
    assert_eq!(out.len(), 1);
    assert_eq!(s.state(), State::OpenSent);
    // ConnectRetry stopped; the HoldTimer at the "large value".
    assert_eq!(s.poll_timeout(), Some(t1 + secs(240)));
    assert!(!s.codec_context().four_octet_as);

    let t2 = t1 + Duration::from_millis(20);
    let out = s.received(&wire(&Message::Open(peer_open(90))), t2);
    assert_eq!(out, vec![Output::Send(keepalive())]);
    assert_eq!(s.state(), State::OpenConfirm);
    assert!(s.negotiated().is_some());
    assert!(s.codec_context().four_octet_as);
    assert_eq!(s.established_since(), None);

    let t3 = t2 + Duration::from_millis(20);
    let out = s.received(&keepalive(), t3);
    let want = Negotiated {
        remote_asn: REMOTE_ASN,
        remote_router_id: REMOTE_ID,
        hold_time: 30,
        keepalive: secs(10),
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        four_octet_as: true,
        route_refresh: true,
        graceful_restart: None,
        extended_next_hop: false,
    };
    assert_eq!(out, vec![Output::Established(want.clone())]);
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.negotiated(), Some(&want));
    assert_eq!(s.established_since(), Some(t3));
    // Keepalive 10 s after the one sent at t2; hold 30 s after t3.
    assert_eq!(s.poll_timeout(), Some(t2 + secs(10)));

    let st = s.stats();
    assert_eq!(st.messages_sent, 2);
    assert_eq!(st.messages_received, 2);
    assert_eq!(st.established_transitions, 1);
    assert_eq!(st.last_error, None);
}

#[test]
fn happy_path_passive_negotiates_the_lesser_offer() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(true));
    assert_eq!(s.start(t0), vec![]);
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.poll_timeout(), None, "a passive session never connects");

    let out = s.tcp_connected(t0 + secs(3));
    assert!(matches!(sent(&out).as_slice(), [Message::Open(_)]));
    assert_eq!(s.state(), State::OpenSent);

    // A 2-octet speaker with IPv4 unicast only (no capability at all) and a
    // shorter hold time.
    let open = Open {
        asn: REMOTE_ASN,
        hold_time: 9,
        router_id: REMOTE_ID,
        capabilities: vec![],
    };
    let out = s.received(&wire(&Message::Open(open)), t0 + secs(4));
    assert_eq!(out, vec![Output::Send(keepalive())]);
    let out = s.received(&keepalive(), t0 + secs(4));
    let want = Negotiated {
        remote_asn: REMOTE_ASN,
        remote_router_id: REMOTE_ID,
        hold_time: 9,
        keepalive: secs(3),
        families: vec![Family::IPV4_UNICAST],
        four_octet_as: false,
        route_refresh: false,
        graceful_restart: None,
        extended_next_hop: false,
    };
    assert_eq!(out, vec![Output::Established(want)]);
    assert!(!s.codec_context().four_octet_as);
    // The peer did not advertise route refresh: we never ask it, but it
    // may ask us (we advertised it; RFC 2918 section 4).
    assert_eq!(
        s.request_refresh(Family::IPV4_UNICAST, t0 + secs(4)),
        vec![]
    );
    let out = s.received(&frame(5, &[0, 1, 0, 1]), t0 + secs(4));
    assert_eq!(out, vec![Output::RouteRefresh(Family::IPV4_UNICAST)]);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn keepalive_every_10s_and_hold_expiry_at_30s() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let mut log = Vec::new();
    while let Some(t) = s.poll_timeout() {
        if t > t0 + secs(30) {
            break;
        }
        for o in s.handle_timeout(t) {
            log.push((t - t0, o));
        }
    }
    let mut nbytes = MARKER.to_vec();
    nbytes.extend_from_slice(&[0, 21, 3, 4, 0]);
    assert_eq!(
        log,
        vec![
            (secs(10), Output::Send(keepalive())),
            (secs(20), Output::Send(keepalive())),
            (secs(30), Output::Send(nbytes)),
            (secs(30), Output::Close),
            (
                secs(30),
                Output::Down {
                    reason: DownReason::HoldTimerExpired
                }
            ),
        ]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.stats().notifications_sent, 1);
    // Hold Timer Expired is code 4, subcode 0 (RFC 4271 section 4.5).
    assert_eq!(s.stats().notifications.get(&(true, 4, 0)), Some(&1));
    assert_eq!(s.negotiated(), None);
    assert_eq!(s.established_since(), None);
    assert_eq!(s.stats().last_error.as_deref(), Some("hold timer expired"));
    // Automatic restart after the IdleHold.
    assert_eq!(s.poll_timeout(), Some(t0 + secs(31)));
    assert_eq!(s.handle_timeout(t0 + secs(31)), vec![Output::Connect]);
}

#[test]
fn received_keepalives_and_updates_restart_the_hold_timer() {
    let t0 = Instant::now();
    let mut s = established(t0);
    assert_eq!(s.received(&keepalive(), t0 + secs(25)), vec![]);
    let out = s.received(
        &wire(&Message::Update(update("10.1.0.0/16"))),
        t0 + secs(50),
    );
    assert!(matches!(out.as_slice(), [Output::Update(_)]));
    // Keepalives at 10, 20, ...; the hold timer now expires at 80.
    for t in [10, 20, 30, 40, 50, 60, 70] {
        assert_eq!(s.poll_timeout(), Some(t0 + secs(t)));
        assert_eq!(
            s.handle_timeout(t0 + secs(t)),
            vec![Output::Send(keepalive())]
        );
    }
    assert_eq!(s.poll_timeout(), Some(t0 + secs(80)));
    let out = s.handle_timeout(t0 + secs(80));
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn sending_an_update_restarts_the_keepalive_timer() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let bytes = wire(&Message::Update(update("192.0.2.0/24")));
    let out = s.send_update(bytes.clone(), t0 + secs(7));
    assert_eq!(out, vec![Output::Send(bytes)]);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(17)));
    assert_eq!(s.handle_timeout(t0 + secs(10)), vec![]);
    assert_eq!(s.stats().updates_sent, 1);
}

#[test]
fn send_update_and_refresh_only_in_established() {
    let t0 = Instant::now();
    let mut s = open_sent(false, t0);
    assert_eq!(s.send_update(vec![1, 2, 3], t0), vec![]);
    assert_eq!(s.request_refresh(Family::IPV4_UNICAST, t0), vec![]);
    let mut s = established(t0);
    let out = s.request_refresh(Family::IPV6_UNICAST, t0);
    assert_eq!(out, vec![Output::Send(frame(5, &[0, 2, 0, 1]))]);
    let other = Family { afi: 1, safi: 128 };
    assert_eq!(s.request_refresh(other, t0), vec![]);
}

#[test]
fn route_refresh_received() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let out = s.received(&frame(5, &[0, 1, 0, 1]), t0);
    assert_eq!(out, vec![Output::RouteRefresh(Family::IPV4_UNICAST)]);
    // A family not negotiated: ignored, noted (RFC 2918 section 4).
    let out = s.received(&frame(5, &[0, 1, 0, 128]), t0);
    assert_eq!(out, vec![]);
    assert!(s
        .stats()
        .last_error
        .as_deref()
        .unwrap()
        .contains("ROUTE-REFRESH"));
    assert_eq!(s.state(), State::Established);
}

/// The OPEN of the peer refused with `code/subcode`: exactly these bytes
/// sent, then Close and Down, Idle, restart after the IdleHold.
fn refused(open: Open, want: &[u8]) {
    let t0 = Instant::now();
    let mut s = open_sent(true, t0);
    let out = s.received(&wire(&Message::Open(open)), t0 + secs(1));
    let n = Notification::new(want[0], want[1], want[2..].to_vec());
    assert_eq!(
        out,
        vec![
            Output::Send(notification(want[0], want[1], &want[2..])),
            Output::Close,
            Output::Down {
                reason: DownReason::NotificationSent(n.clone())
            },
        ]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.negotiated(), None);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(2)));
    assert_eq!(
        s.stats().last_error,
        Some(format!("sent NOTIFICATION: {n}"))
    );
    assert_eq!(s.handle_timeout(t0 + secs(2)), vec![]);
    assert_eq!(s.state(), State::Active);
}

#[test]
fn bad_peer_as() {
    let open = Open {
        asn: 65003,
        capabilities: vec![Capability::FourOctetAs(65003)],
        ..peer_open(30)
    };
    refused(open, &[2, 2, 0xfd, 0xeb]);
    let mut bytes = MARKER.to_vec();
    bytes.extend_from_slice(&[0, 23, 3, 2, 2, 0xfd, 0xeb]);
    assert_eq!(notification(2, 2, &[0xfd, 0xeb]), bytes);
}

#[test]
fn bad_peer_as_four_octet_reports_as_trans() {
    let asn = 4_200_000_000;
    let open = Open {
        asn,
        capabilities: vec![Capability::FourOctetAs(asn)],
        ..peer_open(30)
    };
    refused(open, &[2, 2, 0x5b, 0xa0]);
}

#[test]
fn bad_router_id() {
    for router_id in [Ipv4Addr::UNSPECIFIED, LOCAL_ID] {
        let open = Open {
            router_id,
            ..peer_open(30)
        };
        refused(open, &[2, 3]);
    }
}

#[test]
fn hold_time_1_or_2_refused_0_accepted() {
    refused(peer_open(2), &[2, 6]);
    refused(peer_open(1), &[2, 6]);

    let t0 = Instant::now();
    let mut s = established_with(true, peer_open(0), t0);
    let n = s.negotiated().unwrap();
    assert_eq!((n.hold_time, n.keepalive), (0, Duration::ZERO));
    assert_eq!(s.poll_timeout(), None, "no keepalives, no hold timer");
    assert_eq!(s.handle_timeout(t0 + secs(3600)), vec![]);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn update_before_established_is_an_fsm_error() {
    let t0 = Instant::now();
    let upd = wire(&Message::Update(update("10.1.0.0/16")));
    // In OpenSent: subcode 1 (RFC 6608).
    let mut s = open_sent(false, t0);
    let out = s.received(&upd, t0);
    assert_eq!(out[0], Output::Send(notification(5, 1, &[])));
    assert_eq!(out[1], Output::Close);
    assert!(
        matches!(&out[2], Output::Down { reason: DownReason::NotificationSent(n) } if n.code == 5)
    );
    assert_eq!(out.len(), 3);
    assert_eq!(s.state(), State::Idle);

    // In OpenConfirm: subcode 2.
    let mut s = open_sent(false, t0);
    s.received(&wire(&Message::Open(peer_open(30))), t0);
    let out = s.received(&upd, t0);
    assert_eq!(out[0], Output::Send(notification(5, 2, &[])));
    assert_eq!(s.state(), State::Idle);

    // An OPEN in Established: subcode 3.
    let mut s = established(t0);
    let out = s.received(&wire(&Message::Open(peer_open(30))), t0);
    assert_eq!(out[0], Output::Send(notification(5, 3, &[])));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn notification_received_goes_down_and_restarts() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let t1 = t0 + secs(12);
    let out = s.received(&notification(6, 2, &[]), t1);
    let n = Notification::new(6, 2, vec![]);
    assert_eq!(
        out,
        vec![
            Output::Close,
            Output::Down {
                reason: DownReason::NotificationReceived(n)
            }
        ]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.stats().notifications_received, 1);
    assert_eq!(s.stats().notifications.get(&(false, 6, 2)), Some(&1));
    // Codes and subcodes no RFC defines are counted as one, "other" (0/0):
    // a peer cannot grow the counters or the metrics' series.
    for (code, subcode) in [(200, 1), (6, 99), (0, 0)] {
        let mut s = established(t0);
        s.received(&notification(code, subcode, &[]), t1);
        assert_eq!(
            s.stats().notifications.keys().collect::<Vec<_>>(),
            [&(false, 0, 0)]
        );
    }
    assert_eq!(
        s.stats().last_error.as_deref(),
        Some("received NOTIFICATION: cease: administrative shutdown (6/2)")
    );
    assert_eq!(s.poll_timeout(), Some(t1 + secs(1)));
    assert_eq!(s.handle_timeout(t1 + secs(1)), vec![Output::Connect]);
    assert_eq!(s.state(), State::Connect);

    // In OpenSent too, Down tells why the attempt failed.
    let mut s = open_sent(true, t0);
    let out = s.received(&notification(2, 2, &[]), t0);
    assert!(matches!(
        out.as_slice(),
        [Output::Close, Output::Down { .. }]
    ));
}

#[test]
fn connect_failure_retries_after_connect_retry() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    s.start(t0);
    let t1 = t0 + secs(1);
    assert_eq!(s.tcp_failed(t1), vec![]);
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.poll_timeout(), Some(t1 + secs(5)));
    assert_eq!(s.handle_timeout(t1 + secs(4)), vec![]);
    assert_eq!(s.handle_timeout(t1 + secs(5)), vec![Output::Connect]);
    assert_eq!(s.state(), State::Connect);
    // No answer at all: the ConnectRetry timer starts another attempt.
    assert_eq!(s.poll_timeout(), Some(t1 + secs(10)));
    assert_eq!(s.handle_timeout(t1 + secs(10)), vec![Output::Connect]);
    assert_eq!(s.state(), State::Connect);
    // Bytes without a connection are ignored.
    assert_eq!(s.received(&keepalive(), t1 + secs(11)), vec![]);
    assert!(matches!(
        sent(&s.tcp_connected(t1 + secs(11))).as_slice(),
        [Message::Open(_)]
    ));
}

#[test]
fn connection_closed_restarts_after_idle_hold() {
    let t0 = Instant::now();
    // Established: Down, so the RIB drops the peer's routes.
    let mut s = established(t0);
    let out = s.tcp_failed(t0 + secs(3));
    assert_eq!(
        out,
        vec![
            Output::Close,
            Output::Down {
                reason: DownReason::ConnectionClosed
            }
        ]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(4)));
    assert_eq!(s.handle_timeout(t0 + Duration::from_millis(3500)), vec![]);
    assert_eq!(s.handle_timeout(t0 + secs(4)), vec![Output::Connect]);

    // OpenSent / OpenConfirm: just a reset, no Down.
    let mut s = open_sent(true, t0);
    assert_eq!(s.tcp_failed(t0), vec![Output::Close]);
    assert_eq!(s.handle_timeout(t0 + secs(1)), vec![]);
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.stats().established_transitions, 0);
}

#[test]
fn flaps_are_counted() {
    let t0 = Instant::now();
    let mut s = established(t0);
    s.tcp_failed(t0);
    s.handle_timeout(t0 + secs(1));
    s.tcp_connected(t0 + secs(1));
    s.received(&wire(&Message::Open(peer_open(30))), t0 + secs(1));
    s.received(&keepalive(), t0 + secs(1));
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.stats().established_transitions, 2);
    assert_eq!(s.established_since(), Some(t0 + secs(1)));
}

#[test]
fn stop_with_restart_after_max_prefix() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let cease = Notification::new(
        error_code::CEASE,
        error_code::MAXIMUM_PREFIXES_REACHED,
        vec![],
    );
    let t1 = t0 + secs(5);
    let out = s.stop(Some(cease.clone()), Some(secs(60)), t1);
    assert_eq!(
        out,
        vec![
            Output::Send(notification(6, 1, &[])),
            Output::Close,
            Output::Down {
                reason: DownReason::NotificationSent(cease)
            }
        ]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.stats().notifications_sent, 1);
    assert_eq!(s.poll_timeout(), Some(t1 + secs(60)));
    assert_eq!(s.handle_timeout(t1 + secs(59)), vec![]);
    assert_eq!(s.handle_timeout(t1 + secs(60)), vec![Output::Connect]);
}

#[test]
fn manual_stop_stays_idle() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let out = s.stop(None, None, t0);
    assert_eq!(
        out,
        vec![
            Output::Send(notification(6, 2, &[])),
            Output::Close,
            Output::Down {
                reason: DownReason::Stopped
            }
        ]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_timeout(t0 + secs(3600)), vec![]);
    assert_eq!(s.stats().last_error, None);
    // Bytes after the Close are ignored; an incoming connection is refused.
    assert_eq!(s.received(&keepalive(), t0), vec![]);
    assert_eq!(s.tcp_connected(t0), vec![Output::Close]);
    // start() brings it back.
    assert_eq!(s.start(t0 + secs(1)), vec![Output::Connect]);

    // Stopping while connecting abandons the attempt; while waiting
    // passively, there is nothing to close.
    let mut s = Session::new(cfg(false));
    s.start(t0);
    assert_eq!(s.stop(None, None, t0), vec![Output::Close]);
    let mut s = Session::new(cfg(true));
    s.start(t0);
    assert_eq!(s.stop(None, None, t0), vec![]);
    assert_eq!(s.state(), State::Idle);
    // A pending automatic restart is cancelled by a stop.
    let mut s = open_sent(true, t0);
    s.tcp_failed(t0);
    assert!(s.poll_timeout().is_some());
    assert_eq!(s.stop(None, None, t0), vec![]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn displays() {
    let names: Vec<String> = [
        State::Idle,
        State::Connect,
        State::Active,
        State::OpenSent,
        State::OpenConfirm,
        State::Established,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        names,
        [
            "idle",
            "connect",
            "active",
            "opensent",
            "openconfirm",
            "established"
        ]
    );
    let n = Notification::new(4, 0, vec![]);
    assert_eq!(
        DownReason::NotificationSent(n.clone()).to_string(),
        "sent NOTIFICATION: hold timer expired (4/0)"
    );
    assert_eq!(
        DownReason::NotificationReceived(n).to_string(),
        "received NOTIFICATION: hold timer expired (4/0)"
    );
    assert_eq!(
        DownReason::ConnectionClosed.to_string(),
        "connection closed"
    );
}

/// Graceful restart (RFC 4724): offered as a helper (no families) when
/// configured; the peer's capability is negotiated only then.
#[test]
fn graceful_restart_is_offered_as_a_helper_and_the_peers_is_kept() {
    use crate::bgp::message::GracefulRestart;
    let theirs = GracefulRestart {
        restarting: true,
        notification: false,
        restart_time: 90,
        families: vec![(Family::IPV4_UNICAST, true), (Family::IPV6_UNICAST, false)],
    };
    let mut open = peer_open(90);
    open.capabilities
        .push(Capability::GracefulRestart(theirs.clone()));
    for offered in [Some(120), None] {
        let t0 = Instant::now();
        let mut s = Session::new(SessionConfig {
            graceful_restart: offered,
            ..cfg(true)
        });
        s.start(t0);
        let out = s.tcp_connected(t0);
        let Some(Message::Open(ours)) = sent(&out).into_iter().next() else {
            panic!("our OPEN expected");
        };
        let want = offered.map(|restart_time| GracefulRestart {
            restart_time,
            ..GracefulRestart::default()
        });
        assert_eq!(
            ours.graceful_restart(),
            want.as_ref(),
            "offered {offered:?}"
        );
        s.received(&wire(&Message::Open(open.clone())), t0);
        let got = s.negotiated().and_then(|n| n.graceful_restart.clone());
        assert_eq!(
            got,
            offered.map(|_| theirs.clone()),
            "negotiated only when we offered it too"
        );
    }
}

/// Extended Next Hop Encoding (RFC 8950): offered for IPv4 over IPv6 when
/// configured; negotiated only when both offered it.
#[test]
fn extended_next_hop_is_negotiated_only_when_both_offer_it() {
    use crate::bgp::message::ExtendedNextHop;
    let offering = |open: &Open| open.offers_extended_next_hop(ExtendedNextHop::IPV4_OVER_IPV6);
    for (ours_on, theirs_on) in [(true, true), (true, false), (false, true)] {
        let mut open = peer_open(90);
        if theirs_on {
            open.capabilities.push(Capability::ExtendedNextHop(vec![
                ExtendedNextHop::IPV4_OVER_IPV6,
            ]));
        }
        let t0 = Instant::now();
        let mut s = Session::new(SessionConfig {
            extended_next_hop: ours_on,
            ..cfg(true)
        });
        s.start(t0);
        let out = s.tcp_connected(t0);
        let Some(Message::Open(ours)) = sent(&out).into_iter().next() else {
            panic!("our OPEN expected");
        };
        assert_eq!(offering(&ours), ours_on);
        s.received(&wire(&Message::Open(open)), t0);
        assert_eq!(
            s.negotiated().map(|n| n.extended_next_hop),
            Some(ours_on && theirs_on),
            "ours {ours_on}, theirs {theirs_on}"
        );
    }
}

/// A reload that changes the hold time while our OPEN is out: the
/// session negotiates from what that OPEN offered (the peer does too), the
/// next OPEN offers the new one.
#[test]
fn a_hold_time_changed_after_our_open_applies_from_the_next_one() {
    let t0 = Instant::now();
    let mut s = open_sent(false, t0);
    assert_eq!(s.config().hold_time, 30, "our OPEN offered 30 s");
    s.set_hold_time(90);
    s.received(&wire(&Message::Open(peer_open(180))), t0);
    assert_eq!(s.state(), State::OpenConfirm);
    // The peer, reading our OPEN, computes min(30, 180): so must we.
    assert_eq!(s.negotiated().map(|n| n.hold_time), Some(30));
}
