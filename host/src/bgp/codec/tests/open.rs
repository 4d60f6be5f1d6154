//! OPEN (RFC 4271 §4.2, §6.2) with capabilities (RFC 5492, 4760, 2918,
//! 6793).

use super::*;
use crate::bgp::message::{error_code::*, Capability, Family, GracefulRestart, Open, AS_TRANS};

/// OPEN fields before the optional parameters: version 4, AS 65000, hold
/// time 90, BGP Identifier 10.0.0.1.
const FIXED: [u8; 9] = [
    0x04, // version
    0xfd, 0xe8, // My Autonomous System 65000
    0x00, 0x5a, // Hold Time 90
    0x0a, 0x00, 0x00, 0x01, // BGP Identifier 10.0.0.1
];

/// An OPEN body: the fixed fields, the parameters' length, the parameters.
fn open_body(params: &[u8]) -> Vec<u8> {
    let mut body = FIXED.to_vec();
    body.push(params.len() as u8);
    body.extend_from_slice(params);
    body
}

fn all_capabilities(asn: u32) -> Vec<Capability> {
    vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
        Capability::GracefulRestart(GracefulRestart {
            restart_time: 120,
            ..GracefulRestart::default()
        }),
    ]
}

fn expected(asn: u32) -> Open {
    Open {
        asn,
        hold_time: 90,
        router_id: v4("10.0.0.1"),
        capabilities: all_capabilities(asn),
    }
}

#[test]
fn open_one_capability_per_parameter() {
    // The layout many speakers send: one Capabilities parameter each.
    let params = [
        0x02, 0x06, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01, // MP: AFI 1, res, SAFI 1
        0x02, 0x06, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01, // MP: AFI 2, res, SAFI 1
        0x02, 0x02, 0x02, 0x00, // route refresh, no value
        0x02, 0x06, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe8, // 4-octet AS 65000
        0x02, 0x04, 0x40, 0x02, 0x00, 0x78, // graceful restart: helper, 120 s
    ];
    let bytes = frame(TYPE_OPEN, &open_body(&params));
    assert_eq!(bytes.len(), 29 + 34);
    assert_eq!(decode(&bytes, &TWO), Ok(Message::Open(expected(65000))));
}

#[test]
fn open_grouped_capabilities_known_bytes_and_round_trip() {
    // One Capabilities parameter holding all five: what the encoder writes.
    let params = [
        0x02, 0x18, // Capabilities, 24 bytes
        0x01, 0x04, 0x00, 0x01, 0x00, 0x01, // MP IPv4 unicast
        0x01, 0x04, 0x00, 0x02, 0x00, 0x01, // MP IPv6 unicast
        0x02, 0x00, // route refresh
        0x41, 0x04, 0x00, 0x00, 0xfd, 0xe8, // 4-octet AS 65000
        0x40, 0x02, 0x00, 0x78, // graceful restart: helper, 120 s
    ];
    let bytes = frame(TYPE_OPEN, &open_body(&params));
    let msg = Message::Open(expected(65000));
    assert_eq!(decode(&bytes, &TWO), Ok(msg.clone()));
    assert_eq!(round_trip(&msg, &TWO), bytes);
}

#[test]
fn open_four_octet_asn_sends_as_trans() {
    let msg = Message::Open(expected(4_200_000_000));
    let bytes = round_trip(&msg, &TWO);
    // My Autonomous System (after the 19-byte header and the version).
    assert_eq!(bytes[20..22], (AS_TRANS as u16).to_be_bytes());
}

#[test]
fn open_without_capabilities() {
    let bytes = frame(TYPE_OPEN, &open_body(&[]));
    let Ok(Message::Open(open)) = decode(&bytes, &TWO) else {
        panic!("OPEN expected");
    };
    assert_eq!(open.asn, 65000, "from the 2-byte field");
    assert!(open.capabilities.is_empty());
    assert_eq!(open.families(), vec![Family::IPV4_UNICAST]);
    assert_eq!(round_trip(&Message::Open(open), &TWO), bytes);
}

#[test]
fn open_many_capabilities_split_over_parameters() {
    let mut open = expected(65000);
    for code in 100..140u8 {
        open.capabilities.push(Capability::Unknown {
            code,
            value: vec![code; 3],
        });
    }
    round_trip(&Message::Open(open.clone()), &TWO);
    // Past 255 bytes of parameters it cannot be encoded.
    for code in 140..200u8 {
        open.capabilities.push(Capability::Unknown {
            code,
            value: vec![0; 3],
        });
    }
    let mut out = Vec::new();
    assert!(encode(&Message::Open(open), &TWO, &mut out).is_err());
}

#[test]
fn open_bad_version() {
    let mut body = open_body(&[]);
    body[0] = 3;
    assert_eq!(
        decode_err(&frame(TYPE_OPEN, &body), &TWO),
        Notification::new(OPEN_MESSAGE, UNSUPPORTED_VERSION, vec![0x00, 0x04])
    );
}

#[test]
fn open_truncated_capability() {
    // The parameter holds 2 bytes; the capability in it claims 4.
    let n = decode_err(
        &frame(TYPE_OPEN, &open_body(&[0x02, 0x02, 0x41, 0x04])),
        &TWO,
    );
    assert_eq!((n.code, n.subcode), (OPEN_MESSAGE, 0));

    // Capability cut short at the end of the parameter.
    let n = decode_err(
        &frame(TYPE_OPEN, &open_body(&[0x02, 0x04, 0x41, 0x04, 0x00, 0x00])),
        &TWO,
    );
    assert_eq!((n.code, n.subcode), (OPEN_MESSAGE, 0));
}

#[test]
fn open_malformed_parameter_lengths() {
    // A parameter claiming 6 bytes in a 4-byte field.
    let mut body = open_body(&[0x02, 0x06, 0x01, 0x04]);
    let n = decode_err(&frame(TYPE_OPEN, &body), &TWO);
    assert_eq!((n.code, n.subcode), (OPEN_MESSAGE, 0));
    // Optional Parameters Length past the end of the message.
    body[9] = 8;
    let n = decode_err(&frame(TYPE_OPEN, &body), &TWO);
    assert_eq!((n.code, n.subcode), (OPEN_MESSAGE, 0));
    // Bytes left over after the parameters.
    let mut body = open_body(&[]);
    body.extend_from_slice(&[0x02, 0x00]);
    let n = decode_err(&frame(TYPE_OPEN, &body), &TWO);
    assert_eq!((n.code, n.subcode), (OPEN_MESSAGE, 0));
    // A multiprotocol capability of 3 bytes instead of 4.
    let body = open_body(&[0x02, 0x05, 0x01, 0x03, 0x00, 0x01, 0x01]);
    let n = decode_err(&frame(TYPE_OPEN, &body), &TWO);
    assert_eq!((n.code, n.subcode), (OPEN_MESSAGE, 0));
}

#[test]
fn open_unsupported_optional_parameter() {
    // Parameter type 1 (the deprecated Authentication Information).
    let body = open_body(&[0x01, 0x02, 0x00, 0x00]);
    assert_eq!(
        decode_err(&frame(TYPE_OPEN, &body), &TWO),
        Notification::new(OPEN_MESSAGE, UNSUPPORTED_OPTIONAL_PARAMETER, vec![])
    );
}
