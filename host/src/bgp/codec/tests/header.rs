//! The message header and stream framing (RFC 4271 §4.1, §6.1) and the
//! small messages: KEEPALIVE (§4.4), NOTIFICATION (§4.5), ROUTE-REFRESH
//! (RFC 2918 §3).

use super::*;
use crate::bgp::codec::{frame_len, EncodeError};
use crate::bgp::message::{error_code::*, Family};

/// KEEPALIVE: the bare header.
const KEEPALIVE_BYTES: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // marker
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // marker
    0x00, 0x13, // length 19
    0x04, // type KEEPALIVE
];

#[test]
fn keepalive_known_bytes() {
    assert_eq!(decode(&KEEPALIVE_BYTES, &TWO), Ok(Message::Keepalive));
    assert_eq!(encode_ok(&Message::Keepalive, &TWO), KEEPALIVE_BYTES);
}

#[test]
fn notification_known_bytes_and_round_trip() {
    let bytes = frame(
        TYPE_NOTIFICATION,
        &[
            0x06, // code: Cease
            0x02, // subcode: Administrative Shutdown
            0x62, 0x79, 0x65, // data: "bye"
        ],
    );
    let n = Notification::new(CEASE, ADMINISTRATIVE_SHUTDOWN, b"bye".to_vec());
    assert_eq!(decode(&bytes, &TWO), Ok(Message::Notification(n.clone())));
    assert_eq!(round_trip(&Message::Notification(n), &TWO), bytes);
    // No data at all: the 21-byte minimum.
    round_trip(
        &Message::Notification(Notification::new(4, 0, vec![])),
        &TWO,
    );
}

/// RFC 9003: a Cease, Administrative Shutdown or Reset may carry the
/// operator's message (a length byte, then UTF-8), shown with the reason;
/// a malformed one is left out and the NOTIFICATION stands.
#[test]
fn a_shutdown_communication_is_shown_with_the_cease() {
    let with = |subcode: u8, data: &[u8]| Notification::new(CEASE, subcode, data.to_vec());
    let mut data = vec![14];
    data.extend(b"maint, 02:00\n!");
    let n = with(ADMINISTRATIVE_SHUTDOWN, &data);
    assert_eq!(n.shutdown_communication(), Some("maint, 02:00\n!"));
    assert_eq!(
        n.to_string(),
        "cease: administrative shutdown (6/2): \"maint, 02:00\\n!\""
    );
    let mut reset = vec![3];
    reset.extend(b"bye");
    assert_eq!(
        with(ADMINISTRATIVE_RESET, &reset).to_string(),
        "cease: administrative reset (6/4): \"bye\""
    );
    // Too short for its length, empty, not UTF-8, another subcode: no text.
    for (subcode, data) in [
        (ADMINISTRATIVE_SHUTDOWN, &b"bye"[..]),
        (ADMINISTRATIVE_SHUTDOWN, &[0][..]),
        (ADMINISTRATIVE_SHUTDOWN, &[2, 0xff, 0xfe][..]),
        (PEER_DECONFIGURED, &[3, b'b', b'y', b'e'][..]),
    ] {
        let n = with(subcode, data);
        assert_eq!(n.shutdown_communication(), None, "{data:?}");
        assert!(!n.to_string().contains('"'), "{n}");
    }
}

#[test]
fn route_refresh_known_bytes_and_round_trip() {
    let bytes = frame(
        TYPE_ROUTE_REFRESH,
        &[
            0x00, 0x02, // AFI 2 (IPv6)
            0x00, // reserved
            0x01, // SAFI 1 (unicast)
        ],
    );
    let msg = Message::RouteRefresh(Family::IPV6_UNICAST);
    assert_eq!(decode(&bytes, &TWO), Ok(msg.clone()));
    assert_eq!(round_trip(&msg, &TWO), bytes);
    round_trip(&Message::RouteRefresh(Family { afi: 1, safi: 128 }), &TWO);
}

#[test]
fn frame_len_waits_for_whole_message() {
    assert_eq!(frame_len(&[]), Ok(None));
    assert_eq!(frame_len(&[0xff; 10]), Ok(None));
    assert_eq!(frame_len(&KEEPALIVE_BYTES[..18]), Ok(None));
    let update = update_frame(&[], &[], &[]); // 23 bytes
    assert_eq!(frame_len(&update[..22]), Ok(None));
    assert_eq!(frame_len(&update), Ok(Some(23)));
    // Two messages back to back: the first one's length.
    let mut two = KEEPALIVE_BYTES.to_vec();
    two.extend_from_slice(&update);
    assert_eq!(frame_len(&two), Ok(Some(19)));
}

#[test]
fn frame_len_bad_marker() {
    let not_sync = Notification::new(MESSAGE_HEADER, CONNECTION_NOT_SYNCHRONIZED, vec![]);
    // Detected as soon as a byte of the marker is not 0xff.
    assert_eq!(frame_len(&[0xff, 0xff, 0x00]), Err(not_sync.clone()));
    let mut bytes = KEEPALIVE_BYTES;
    bytes[15] = 0xfe;
    assert_eq!(frame_len(&bytes), Err(not_sync.clone()));
    assert_eq!(decode(&bytes, &TWO), Err(not_sync));
}

#[test]
fn frame_len_bad_length() {
    let mut bytes = KEEPALIVE_BYTES;
    bytes[16..18].copy_from_slice(&[0x00, 0x12]); // 18 < 19
    let short = Notification::new(MESSAGE_HEADER, BAD_MESSAGE_LENGTH, vec![0x00, 0x12]);
    assert_eq!(frame_len(&bytes), Err(short.clone()));
    assert_eq!(decode(&bytes, &TWO), Err(short));

    bytes[16..18].copy_from_slice(&[0x10, 0x01]); // 4097 > 4096
    let long = Notification::new(MESSAGE_HEADER, BAD_MESSAGE_LENGTH, vec![0x10, 0x01]);
    assert_eq!(frame_len(&bytes), Err(long));

    bytes[16..18].copy_from_slice(&[0x10, 0x00]); // 4096: fine, wait for it
    assert_eq!(frame_len(&bytes), Ok(None));
}

#[test]
fn decode_length_field_mismatch() {
    // The Length field says 23 but the frame holds 24 bytes.
    let mut bytes = update_frame(&[], &[], &[]);
    bytes.push(0x00);
    let n = decode_err(&bytes, &TWO);
    assert_eq!(
        n,
        Notification::new(MESSAGE_HEADER, BAD_MESSAGE_LENGTH, vec![0x00, 0x17])
    );
    // Frames shorter than the header: no Length field to report, or the
    // one there.
    let n = decode_err(&[0xff; 10], &TWO);
    assert_eq!(
        n,
        Notification::new(MESSAGE_HEADER, BAD_MESSAGE_LENGTH, vec![])
    );
    let n = decode_err(&KEEPALIVE_BYTES[..18], &TWO);
    assert_eq!(
        n,
        Notification::new(MESSAGE_HEADER, BAD_MESSAGE_LENGTH, vec![0x00, 0x13])
    );
}

#[test]
fn decode_unknown_type() {
    let bytes = frame(6, &[]);
    assert_eq!(
        decode_err(&bytes, &TWO),
        Notification::new(MESSAGE_HEADER, BAD_MESSAGE_TYPE, vec![6])
    );
    assert_eq!(decode_err(&frame(0, &[]), &TWO).data, vec![0]);
}

#[test]
fn decode_per_type_lengths() {
    let cases: [(u8, usize); 6] = [
        (TYPE_KEEPALIVE, 1),     // 20: KEEPALIVE is exactly 19
        (TYPE_OPEN, 9),          // 28: OPEN is at least 29
        (TYPE_UPDATE, 3),        // 22: UPDATE is at least 23
        (TYPE_NOTIFICATION, 1),  // 20: NOTIFICATION is at least 21
        (TYPE_ROUTE_REFRESH, 3), // 22: ROUTE-REFRESH is exactly 23
        (TYPE_ROUTE_REFRESH, 5), // 24
    ];
    for (kind, body_len) in cases {
        let bytes = frame(kind, &vec![0; body_len]);
        let len = (19 + body_len) as u16;
        assert_eq!(
            decode_err(&bytes, &TWO),
            Notification::new(
                MESSAGE_HEADER,
                BAD_MESSAGE_LENGTH,
                len.to_be_bytes().to_vec()
            ),
            "type {kind} body {body_len}"
        );
    }
}

#[test]
fn encode_refuses_over_4096_bytes() {
    let n = Notification::new(CEASE, 0, vec![0; 4096 - 21 + 1]);
    let mut out = vec![0xaa];
    match encode(&Message::Notification(n), &TWO, &mut out) {
        Err(EncodeError::TooLong { len }) => assert_eq!(len, 4097),
        other => panic!("expected TooLong, got {other:?}"),
    }
    assert_eq!(out, vec![0xaa], "nothing appended on error");
    // Exactly 4096 is fine.
    let n = Notification::new(CEASE, 0, vec![0; 4096 - 21]);
    assert_eq!(round_trip(&Message::Notification(n), &TWO).len(), 4096);
}
