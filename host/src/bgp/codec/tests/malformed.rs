//! Malformed UPDATEs and what RFC 7606 (with RFC 4271 §6.3, RFC 4760 §7,
//! RFC 6793 §6, RFC 8092 §6) says to do about each: session reset (an
//! `Err` NOTIFICATION), treat-as-withdraw or attribute discard.

use super::*;
use crate::bgp::message::{error_code::*, Family, RawAttribute};

const ORIGIN: &[u8] = &[0x40, 0x01, 0x01, 0x00]; // ORIGIN IGP
const AS_PATH: &[u8] = &[0x40, 0x02, 0x04, 0x02, 0x01, 0xfd, 0xe8]; // SEQUENCE 65000
const NEXT_HOP: &[u8] = &[0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01]; // 10.0.0.1
const NLRI: &[u8] = &[0x10, 0x0a, 0x01]; // 10.1.0.0/16

/// ORIGIN, AS_PATH, NEXT_HOP, then `extra`, announcing 10.1.0.0/16.
fn with(extra: &[u8]) -> Vec<u8> {
    update_frame(&[], &[ORIGIN, AS_PATH, NEXT_HOP, extra].concat(), NLRI)
}

/// Decodes and checks the UPDATE is to be treated as withdrawn, with its
/// routes still listed.
fn withdrawn(bytes: &[u8], ctx: &Context) -> Update {
    let u = decode_update(bytes, ctx);
    assert!(
        u.treat_as_withdraw.is_some(),
        "treat-as-withdraw expected: {u:?}"
    );
    assert_eq!(u.nlri, vec![net("10.1.0.0/16")]);
    u
}

fn assert_reset(bytes: &[u8], ctx: &Context, subcode: u8) -> Notification {
    let n = decode_err(bytes, ctx);
    assert_eq!((n.code, n.subcode), (UPDATE_MESSAGE, subcode), "{n}");
    n
}

#[test]
fn valid_baseline() {
    let u = decode_update(&with(&[]), &TWO);
    assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
}

#[test]
fn origin_flags_error_is_treat_as_withdraw() {
    // ORIGIN marked optional transitive: RFC 7606 §3.c.
    let bad_origin = [0xc0, 0x01, 0x01, 0x00];
    let bytes = update_frame(&[], &[&bad_origin[..], AS_PATH, NEXT_HOP].concat(), NLRI);
    withdrawn(&bytes, &TWO);
    // With no routes to withdraw it is a session reset (RFC 7606 §5.2),
    // reported as Attribute Flags Error with the attribute (RFC 4271 §6.3).
    let bytes = update_frame(&[], &[&bad_origin[..], AS_PATH].concat(), &[]);
    let n = assert_reset(&bytes, &TWO, ATTRIBUTE_FLAGS_ERROR);
    assert_eq!(n.data, bad_origin);
}

#[test]
fn attribute_length_errors_are_treat_as_withdraw() {
    let cases: [&[u8]; 3] = [
        &[0x80, 0x04, 0x03, 0x00, 0x00, 0x64], // MED of 3 bytes (§7.4)
        &[0xc0, 0x08, 0x06, 0, 0, 0, 1, 0, 2], // COMMUNITIES of 6 bytes (§7.8)
        &[0xc0, 0x08, 0x00],                   // COMMUNITIES of 0 bytes (§7.8)
    ];
    for extra in cases {
        withdrawn(&with(extra), &TWO);
    }
    // ORIGIN of 2 bytes (§7.1) and NEXT_HOP of 5 bytes (§7.3).
    let origin2 = [0x40, 0x01, 0x02, 0x00, 0x00];
    withdrawn(
        &update_frame(&[], &[&origin2[..], AS_PATH, NEXT_HOP].concat(), NLRI),
        &TWO,
    );
    let nh5 = [0x40, 0x03, 0x05, 10, 0, 0, 1, 0];
    withdrawn(
        &update_frame(&[], &[ORIGIN, AS_PATH, &nh5[..]].concat(), NLRI),
        &TWO,
    );
    // Without routes: Attribute Length Error, data = the attribute.
    let bytes = update_frame(&[], &[&origin2[..], AS_PATH].concat(), &[]);
    assert_eq!(
        assert_reset(&bytes, &TWO, ATTRIBUTE_LENGTH_ERROR).data,
        origin2
    );
}

#[test]
fn other_treat_as_withdraw_cases() {
    // ORIGIN value 3 is undefined (§7.1).
    let origin3 = [0x40, 0x01, 0x01, 0x03];
    withdrawn(
        &update_frame(&[], &[&origin3[..], AS_PATH, NEXT_HOP].concat(), NLRI),
        &TWO,
    );
    // MED marked well-known (§3.c).
    withdrawn(&with(&[0x40, 0x04, 0x04, 0, 0, 0, 1]), &TWO);
    // NEXT_HOP 0.0.0.0, multicast, broadcast (RFC 4271 §6.3).
    for nh in [[0, 0, 0, 0], [224, 0, 0, 1], [255, 255, 255, 255]] {
        let attr = [0x40, 0x03, 0x04, nh[0], nh[1], nh[2], nh[3]];
        withdrawn(
            &update_frame(&[], &[ORIGIN, AS_PATH, &attr[..]].concat(), NLRI),
            &TWO,
        );
    }
}

#[test]
fn malformed_as_path_is_treat_as_withdraw() {
    let cases: [&[u8]; 5] = [
        &[0x40, 0x02, 0x02, 0x02, 0x00],                   // segment length 0
        &[0x40, 0x02, 0x04, 0x05, 0x01, 0xfd, 0xe8],       // segment type 5
        &[0x40, 0x02, 0x04, 0x02, 0x02, 0xfd, 0xe8],       // 2 ASNs announced, 1 present
        &[0x40, 0x02, 0x05, 0x02, 0x01, 0xfd, 0xe8, 0x02], // 1 byte left over
        &[0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe8], // 4-octet on a 2-octet session
    ];
    for as_path in cases {
        let bytes = update_frame(&[], &[ORIGIN, as_path, NEXT_HOP].concat(), NLRI);
        let u = withdrawn(&bytes, &TWO);
        assert!(u.treat_as_withdraw.unwrap_or_default().contains("AS_PATH"));
    }
}

#[test]
fn discarded_attributes() {
    // ATOMIC_AGGREGATE of 1 byte (§7.6): discarded, the UPDATE stands.
    let u = decode_update(&with(&[0x40, 0x06, 0x01, 0x00]), &TWO);
    assert!(u.treat_as_withdraw.is_none());
    assert_eq!(u.discarded.len(), 1);
    assert!(!u.attributes.expect("attributes").atomic_aggregate);
    // AGGREGATOR of 8 bytes on a 2-octet session (§7.7).
    let agg8 = [0xc0, 0x07, 0x08, 0, 0, 0xfd, 0xe8, 10, 0, 0, 9];
    let u = decode_update(&with(&agg8), &TWO);
    assert!(u.treat_as_withdraw.is_none() && u.discarded.len() == 1);
    assert_eq!(u.attributes.expect("attributes").aggregator, None);
    // AS4_PATH with a confederation segment, AS4_AGGREGATOR of 6 bytes
    // (RFC 6793 §6).
    let as4_path = [0xc0, 0x11, 0x06, 0x03, 0x01, 0, 0, 0xfd, 0xe8];
    let as4_agg = [0xc0, 0x12, 0x06, 0xfd, 0xe8, 10, 0, 0, 9];
    let u = decode_update(&with(&[&as4_path[..], &as4_agg].concat()), &TWO);
    assert!(u.treat_as_withdraw.is_none() && u.discarded.len() == 2);
    // AS4_PATH holding AS 0 (RFC 7607 §2): discarded, AS_PATH stands.
    let as4_zero = [0xc0, 0x11, 0x06, 0x02, 0x01, 0, 0, 0, 0];
    let u = decode_update(&with(&as4_zero), &TWO);
    assert!(u.treat_as_withdraw.is_none() && u.discarded.len() == 1);
    let path = u.attributes.expect("attributes").as_path;
    assert!(path.iter().all(|s| !s.asns.contains(&0)), "{path:?}");
    // LOCAL_PREF of 2 bytes, or marked optional: from an external
    // neighbour (every session here) it is discarded (§7.5, §3.c), and an
    // UPDATE without routes stands too.
    for local_pref in [
        &[0x40, 0x05, 0x02, 0x00, 0x64][..],
        &[0x80, 0x05, 0x04, 0, 0, 0, 1],
    ] {
        let u = decode_update(&with(local_pref), &TWO);
        assert!(
            u.treat_as_withdraw.is_none() && u.discarded.len() == 1,
            "{u:?}"
        );
        assert_eq!(u.attributes.expect("attributes").local_pref, None);
        let bytes = update_frame(&[], &[ORIGIN, AS_PATH, local_pref].concat(), &[]);
        assert_eq!(decode_update(&bytes, &TWO).discarded.len(), 1);
    }
    // Discards alone never escalate, routes or not (RFC 7606 §5.2).
    let bytes = update_frame(
        &[],
        &[ORIGIN, AS_PATH, &[0x40, 0x06, 0x01, 0x00]].concat(),
        &[],
    );
    assert_eq!(decode_update(&bytes, &TWO).discarded.len(), 1);
}

#[test]
fn large_communities_bad_length() {
    // 13 bytes: not a multiple of 12 (RFC 8092 §6).
    let mut attr = vec![0xc0, 0x20, 0x0d];
    attr.extend_from_slice(&[0; 13]);
    withdrawn(&with(&attr), &TWO);
    withdrawn(&with(&[0xc0, 0x20, 0x00]), &TWO);
    // 24 bytes holding the same community twice: kept once (RFC 8092 §5).
    let one = [0, 0, 0xfd, 0xe8, 0, 0, 0, 1, 0, 0, 0, 2];
    let attr = [&[0xc0, 0x20, 0x18][..], &one, &one].concat();
    let u = decode_update(&with(&attr), &TWO);
    assert_eq!(u.attributes.expect("attributes").large_communities.len(), 1);
}

#[test]
fn truncated_nlri_is_session_reset() {
    // /24 needs 3 prefix bytes; 2 are there (RFC 7606 §5.3).
    let bytes = update_frame(
        &[],
        &[ORIGIN, AS_PATH, NEXT_HOP].concat(),
        &[0x18, 0x0a, 0x01],
    );
    assert_eq!(
        decode_err(&bytes, &TWO),
        Notification::new(UPDATE_MESSAGE, INVALID_NETWORK_FIELD, vec![])
    );
    // The same in Withdrawn Routes (RFC 7606 §3.i).
    let bytes = update_frame(&[0x18, 0x0a, 0x01], &[], &[]);
    assert_reset(&bytes, &TWO, INVALID_NETWORK_FIELD);
}

#[test]
fn prefix_length_33_is_session_reset() {
    let nlri = [0x21, 0x0a, 0x00, 0x00, 0x01, 0x00]; // /33
    let bytes = update_frame(&[], &[ORIGIN, AS_PATH, NEXT_HOP].concat(), &nlri);
    assert_reset(&bytes, &TWO, INVALID_NETWORK_FIELD);
    assert_reset(&update_frame(&nlri, &[], &[]), &TWO, INVALID_NETWORK_FIELD);
}

#[test]
fn host_bits_are_masked() {
    // 10.1.3.0/23 and 0xff/4: host bits set, cleared on decode.
    let nlri = [0x17, 0x0a, 0x01, 0x03, 0x04, 0xff];
    let bytes = update_frame(&[], &[ORIGIN, AS_PATH, NEXT_HOP].concat(), &nlri);
    let u = decode_update(&bytes, &TWO);
    assert_eq!(u.nlri, vec![net("10.1.2.0/23"), net("240.0.0.0/4")]);
}

#[test]
fn field_lengths_past_the_message() {
    // Withdrawn Routes Length 10 in a 4-byte body (RFC 4271 §6.3).
    let bytes = frame(TYPE_UPDATE, &[0x00, 0x0a, 0x00, 0x00]);
    assert_reset(&bytes, &TWO, MALFORMED_ATTRIBUTE_LIST);
    // Total Path Attribute Length 8 with 4 bytes of attributes.
    let bytes = frame(
        TYPE_UPDATE,
        &[0x00, 0x00, 0x00, 0x08, 0x40, 0x01, 0x01, 0x00],
    );
    assert_reset(&bytes, &TWO, MALFORMED_ATTRIBUTE_LIST);
}

#[test]
fn attribute_list_overrun() {
    // COMMUNITIES claims 16 bytes, 2 remain in the field (RFC 7606 §4):
    // treat-as-withdraw, the NLRI found from Total Attribute Length.
    withdrawn(&with(&[0xc0, 0x08, 0x10, 0x00, 0x00]), &TWO);
    // Fewer than 3 bytes left for an attribute header.
    withdrawn(&with(&[0x40, 0x01]), &TWO);
    // An extended length cut short.
    withdrawn(&with(&[0xd0, 0x08, 0x00]), &TWO);
    // No routes: session reset, Malformed Attribute List (RFC 7606 §5.2).
    let bytes = update_frame(&[], &[ORIGIN, &[0xc0, 0x08, 0x10, 0x00]].concat(), &[]);
    assert_eq!(
        decode_err(&bytes, &TWO),
        Notification::new(UPDATE_MESSAGE, MALFORMED_ATTRIBUTE_LIST, vec![])
    );
}

#[test]
fn unknown_optional_transitive_kept_with_partial_bit() {
    let u = decode_update(&with(&[0xc0, 0x63, 0x02, 0xab, 0xcd]), &TWO);
    let attrs = u.attributes.clone().expect("attributes");
    let expected = RawAttribute {
        flags: 0xe0, // optional, transitive, partial
        type_code: 99,
        value: vec![0xab, 0xcd],
    };
    assert_eq!(attrs.unknown, vec![expected]);
    // Passed on with the Partial bit set.
    let bytes = encode_ok(&Message::Update(u), &TWO);
    assert!(bytes
        .windows(5)
        .any(|w| w == [0xe0, 0x63, 0x02, 0xab, 0xcd]));
}

#[test]
fn unknown_optional_non_transitive_ignored() {
    let u = decode_update(&with(&[0x80, 0x64, 0x01, 0x00]), &TWO);
    assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
    assert!(u.attributes.expect("attributes").unknown.is_empty());
}

#[test]
fn unknown_well_known_is_session_reset() {
    let attr = [0x40, 0x65, 0x01, 0x07]; // well-known type 101
    let n = assert_reset(&with(&attr), &TWO, UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE);
    assert_eq!(n.data, attr, "data = the attribute");
}

#[test]
fn duplicate_attribute_keeps_the_first() {
    let egp = [0x40, 0x01, 0x01, 0x01];
    let u = decode_update(&with(&egp), &TWO);
    assert!(u.treat_as_withdraw.is_none());
    assert_eq!(u.discarded.len(), 1);
    assert_eq!(
        u.attributes.expect("attributes").origin,
        crate::bgp::message::Origin::Igp
    );
    // A malformed first occurrence stands, and a good repeat does not fix it.
    let bad = [0x40, 0x01, 0x01, 0x09];
    let bytes = update_frame(&[], &[&bad[..], AS_PATH, NEXT_HOP, ORIGIN].concat(), NLRI);
    withdrawn(&bytes, &TWO);
}

/// MP_REACH_NLRI for IPv6 unicast, next hop 2001:db8::1, 2001:db8::/32.
#[rustfmt::skip]
const MP_REACH: &[u8] = &[
    0x80, 0x0e, 0x1a, 0x00, 0x02, 0x01, 0x10, // flags, type, len 26, AFI 2, SAFI 1, NH len 16
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    0x00, 0x20, 0x20, 0x01, 0x0d, 0xb8, // reserved, 2001:db8::/32
];
const MP_UNREACH: &[u8] = &[0x80, 0x0f, 0x03, 0x00, 0x02, 0x01];

#[test]
fn duplicate_mp_attributes_are_session_reset() {
    let bytes = update_frame(&[], &[MP_REACH, ORIGIN, AS_PATH, MP_REACH].concat(), &[]);
    assert_reset(&bytes, &FOUR, MALFORMED_ATTRIBUTE_LIST);
    let bytes = update_frame(&[], &[MP_UNREACH, MP_UNREACH].concat(), &[]);
    assert_reset(&bytes, &FOUR, MALFORMED_ATTRIBUTE_LIST);
}

#[test]
fn missing_mandatory_attributes() {
    // No ORIGIN, no AS_PATH, no NEXT_HOP, each with IPv4 routes (§3.d).
    withdrawn(
        &update_frame(&[], &[AS_PATH, NEXT_HOP].concat(), NLRI),
        &TWO,
    );
    withdrawn(&update_frame(&[], &[ORIGIN, NEXT_HOP].concat(), NLRI), &TWO);
    withdrawn(&update_frame(&[], &[ORIGIN, AS_PATH].concat(), NLRI), &TWO);
    // No attributes at all.
    let u = withdrawn(&update_frame(&[], &[], NLRI), &TWO);
    assert!(u.attributes.is_none());
    // MP_REACH_NLRI needs ORIGIN and AS_PATH but no NEXT_HOP.
    let u = decode_update(
        &update_frame(&[], &[MP_REACH, ORIGIN, AS_PATH].concat(), &[]),
        &TWO,
    );
    assert!(u.treat_as_withdraw.is_none());
    let u = decode_update(&update_frame(&[], &[MP_REACH, ORIGIN].concat(), &[]), &TWO);
    assert!(u.treat_as_withdraw.is_some());
    assert_eq!(u.announced().count(), 1);
}

#[test]
fn malformed_mp_reach_is_session_reset() {
    let mut bad_nh = MP_REACH.to_vec();
    bad_nh[6] = 0x0f; // next hop length 15 (RFC 7606 §7.11)
    assert_reset(
        &update_frame(&[], &bad_nh, &[]),
        &FOUR,
        OPTIONAL_ATTRIBUTE_ERROR,
    );
    let mut long_prefix = MP_REACH.to_vec();
    long_prefix[24] = 0x81; // prefix length 129 (§5.3)
    assert_reset(
        &update_frame(&[], &long_prefix, &[]),
        &FOUR,
        OPTIONAL_ATTRIBUTE_ERROR,
    );
    let mut cut = MP_REACH.to_vec();
    cut[2] = 0x19; // the last prefix byte falls outside the attribute
    cut.pop();
    assert_reset(
        &update_frame(&[], &cut, &[]),
        &FOUR,
        OPTIONAL_ATTRIBUTE_ERROR,
    );
    let short = [0x80, 0x0e, 0x04, 0x00, 0x02, 0x01, 0x10]; // shorter than 5 bytes
    assert_reset(
        &update_frame(&[], &short, &[]),
        &FOUR,
        OPTIONAL_ATTRIBUTE_ERROR,
    );
    let mut flags = MP_REACH.to_vec();
    flags[0] = 0x40; // well-known flags on MP_REACH_NLRI (§5.3)
    assert_reset(
        &update_frame(&[], &flags, &[]),
        &FOUR,
        ATTRIBUTE_FLAGS_ERROR,
    );
    let unreach_short = [0x80, 0x0f, 0x02, 0x00, 0x02];
    assert_reset(
        &update_frame(&[], &unreach_short, &[]),
        &FOUR,
        OPTIONAL_ATTRIBUTE_ERROR,
    );
}

#[test]
fn unsupported_families_are_kept_and_skipped() {
    #[rustfmt::skip]
    let vpn = [
        0x80, 0x0e, 0x14, 0x00, 0x01, 0x80, 0x0c, // AFI 1 SAFI 128, next hop 12 bytes
        0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1, // RD + address
        0x00, 0x58, 0x00, 0x00, // reserved, then an NLRI this codec does not read
    ];
    let u = decode_update(
        &update_frame(&[], &[&vpn[..], ORIGIN, AS_PATH].concat(), &[]),
        &TWO,
    );
    let reach = u.mp_reach.expect("MP_REACH_NLRI");
    assert_eq!(reach.family, Family { afi: 1, safi: 128 });
    assert!(reach.nlri.is_empty() && reach.next_hops.is_empty());
    assert!(u.treat_as_withdraw.is_none());
    let unreach = [0x80, 0x0f, 0x05, 0x00, 0x19, 0x46, 0xde, 0xad]; // AFI 25 SAFI 70
    let u = decode_update(&update_frame(&[], &unreach, &[]), &TWO);
    let unreach = u.mp_unreach.expect("MP_UNREACH_NLRI");
    assert_eq!(unreach.family, Family { afi: 25, safi: 70 });
    assert!(unreach.withdrawn.is_empty());
}

#[test]
fn strongest_approach_wins() {
    // A discard and a treat-as-withdraw: treat-as-withdraw, discard listed.
    let both = [&[0x40, 0x06, 0x01, 0x00][..], &[0x80, 0x04, 0x01, 0x00]].concat();
    let u = withdrawn(&with(&both), &TWO);
    assert_eq!(u.discarded.len(), 1);
    // A treat-as-withdraw then a session reset: session reset.
    let reset = [&[0x80, 0x04, 0x01, 0x00][..], &[0x40, 0x65, 0x00]].concat();
    assert_reset(&with(&reset), &TWO, UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE);
}
