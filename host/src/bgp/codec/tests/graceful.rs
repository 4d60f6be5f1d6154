//! Graceful restart (RFC 4724): the capability (§3) in bytes, valid and
//! malformed, and the End-of-RIB markers (§2) of both families.

use super::*;
use crate::bgp::codec::encode_end_of_rib;
use crate::bgp::message::{Capability, Family, GracefulRestart, Open};

/// An OPEN (AS 65000, hold 90, 10.0.0.1) with one Capabilities parameter
/// holding one capability of `code` with `value`.
pub(super) fn open_with(code: u8, value: &[u8]) -> Vec<u8> {
    let mut cap = vec![code, value.len() as u8];
    cap.extend_from_slice(value);
    let mut body = vec![0x04, 0xfd, 0xe8, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01];
    body.push(cap.len() as u8 + 2);
    body.extend_from_slice(&[0x02, cap.len() as u8]);
    body.extend_from_slice(&cap);
    frame(TYPE_OPEN, &body)
}

pub(super) fn capabilities(bytes: &[u8]) -> Vec<Capability> {
    match decode(bytes, &TWO) {
        Ok(Message::Open(open)) => open.capabilities,
        other => panic!("an OPEN expected: {other:?}"),
    }
}

#[test]
fn capability_with_flags_time_and_families() {
    // R and N set, Restart Time 0xabc; IPv4 unicast with F, IPv6 without.
    let value = [
        0xea, 0xbc, // R=1 N=1 reserved=0b10 (ignored), time 0xabc
        0x00, 0x01, 0x01, 0x80, // AFI 1 SAFI 1, F
        0x00, 0x02, 0x01, 0x7f, // AFI 2 SAFI 1, no F (reserved bits ignored)
    ];
    let want = GracefulRestart {
        restarting: true,
        notification: true,
        restart_time: 0xabc,
        families: vec![(Family::IPV4_UNICAST, true), (Family::IPV6_UNICAST, false)],
    };
    let caps = capabilities(&open_with(64, &value));
    assert_eq!(caps, vec![Capability::GracefulRestart(want.clone())]);
    assert!(want.forwarding_kept(Family::IPV4_UNICAST));
    assert!(!want.forwarding_kept(Family::IPV6_UNICAST));
    // Encoded back with the reserved bits clear.
    let open = Message::Open(Open {
        asn: 65000,
        hold_time: 90,
        router_id: v4("10.0.0.1"),
        capabilities: caps,
    });
    let mut clean = value;
    clean[0] = 0xca;
    clean[9] = 0x00;
    assert_eq!(encode_ok(&open, &TWO), open_with(64, &clean));
}

#[test]
fn helper_capability_bytes() {
    // What we send: no flags, 120 s, no families.
    let ours = Capability::GracefulRestart(GracefulRestart {
        restart_time: 120,
        ..GracefulRestart::default()
    });
    let open = Message::Open(Open {
        asn: 65000,
        hold_time: 90,
        router_id: v4("10.0.0.1"),
        capabilities: vec![ours.clone()],
    });
    let bytes = open_with(64, &[0x00, 0x78]);
    assert_eq!(encode_ok(&open, &TWO), bytes);
    assert_eq!(capabilities(&bytes), vec![ours]);
    // A Restart Time over 12 bits is clamped, never spilling into the flags.
    let long = Message::Open(Open {
        asn: 65000,
        hold_time: 90,
        router_id: v4("10.0.0.1"),
        capabilities: vec![Capability::GracefulRestart(GracefulRestart {
            restart_time: u16::MAX,
            ..GracefulRestart::default()
        })],
    });
    assert_eq!(encode_ok(&long, &TWO), open_with(64, &[0x0f, 0xff]));
}

#[test]
fn odd_lengths_are_kept_unknown_not_a_session_error() {
    // Empty, 1 byte, and a family tuple cut short: 2 + 4k bytes or nothing.
    for value in [
        &[][..],
        &[0x00],
        &[0x00, 0x78, 0x00],
        &[0x00, 0x78, 0x00, 0x01, 0x01],
        &[0x00, 0x78, 0x00, 0x01, 0x01, 0x80, 0x00, 0x02, 0x01],
    ] {
        let caps = capabilities(&open_with(64, value));
        assert_eq!(
            caps,
            vec![Capability::Unknown {
                code: 64,
                value: value.to_vec()
            }],
            "{value:?}"
        );
        let open = Open {
            asn: 65000,
            hold_time: 90,
            router_id: v4("10.0.0.1"),
            capabilities: caps,
        };
        assert_eq!(open.graceful_restart(), None, "not offered: {value:?}");
    }
}

#[test]
fn a_capability_longer_than_its_parameter_is_an_open_error() {
    let mut bytes = open_with(64, &[0x00, 0x78]);
    // The capability says 6 bytes; the parameter holds 2.
    let at = bytes.len() - 3;
    bytes[at] = 6;
    let n = decode_err(&bytes, &TWO);
    assert_eq!((n.code, n.subcode), (2, 0));
    // Truncated at every point: an error, never a panic.
    let whole = open_with(64, &[0x80, 0x78, 0x00, 0x01, 0x01, 0x80]);
    for cut in 19..whole.len() {
        let mut short = whole[..cut].to_vec();
        let len = (cut as u16).to_be_bytes();
        short[16..18].copy_from_slice(&len);
        assert!(decode(&short, &TWO).is_err(), "cut at {cut}");
    }
}

#[test]
fn end_of_rib_of_both_families_and_look_alikes() {
    let v4 = encode_end_of_rib(Family::IPV4_UNICAST, &FOUR);
    assert_eq!(v4, update_frame(&[], &[], &[]));
    assert_eq!(
        decode_update(&v4, &FOUR).is_end_of_rib(),
        Some(Family::IPV4_UNICAST)
    );
    let v6 = encode_end_of_rib(Family::IPV6_UNICAST, &TWO);
    assert_eq!(
        v6,
        update_frame(&[], &[0x80, 0x0f, 0x03, 0x00, 0x02, 0x01], &[])
    );
    assert_eq!(
        decode_update(&v6, &TWO).is_end_of_rib(),
        Some(Family::IPV6_UNICAST)
    );
    // An MP_UNREACH with a prefix is a withdrawal, not an End-of-RIB.
    let withdraw = update_frame(&[], &[0x80, 0x0f, 0x05, 0x00, 0x02, 0x01, 0x08, 0xfd], &[]);
    assert_eq!(decode_update(&withdraw, &TWO).is_end_of_rib(), None);
    // An IPv4 withdrawal of one prefix is not one either.
    let w4 = update_frame(&[0x08, 0x0a], &[], &[]);
    assert_eq!(decode_update(&w4, &TWO).is_end_of_rib(), None);
    // An empty MP_UNREACH beside another path attribute (ORIGIN) is not
    // one: RFC 4724 section 2 wants the MP_UNREACH alone.
    let with_origin = update_frame(
        &[],
        &[0x80, 0x0f, 0x03, 0x00, 0x02, 0x01, 0x40, 0x01, 0x01, 0x00],
        &[],
    );
    assert_eq!(decode_update(&with_origin, &TWO).is_end_of_rib(), None);
}

#[test]
fn of_several_capabilities_the_last_counts() {
    // RFC 4724 section 3: all but the last instance are ignored.
    let first = GracefulRestart {
        restart_time: 10,
        ..GracefulRestart::default()
    };
    let last = GracefulRestart {
        restart_time: 300,
        ..GracefulRestart::default()
    };
    let open = Open {
        asn: 65000,
        hold_time: 90,
        router_id: v4("10.0.0.1"),
        capabilities: vec![
            Capability::GracefulRestart(first),
            Capability::GracefulRestart(last.clone()),
        ],
    };
    assert_eq!(open.graceful_restart(), Some(&last));
}
