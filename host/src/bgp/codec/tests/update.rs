//! Well-formed UPDATEs (RFC 4271 §4.3, RFC 4760, RFC 6793, RFC 4724): known
//! bytes decoded, values round-tripped, and routes split over messages.

use super::*;
use crate::bgp::codec::{encode_announcements, encode_end_of_rib, encode_withdrawals};
use crate::bgp::message::{
    AsSegment, Family, LargeCommunity, MpReach, MpUnreach, Origin, PathAttributes, RawAttribute,
    SegmentKind, AS_TRANS,
};

fn seq(asns: &[u32]) -> AsSegment {
    AsSegment {
        kind: SegmentKind::Sequence,
        asns: asns.to_vec(),
    }
}

/// What `every_attribute_bytes` decodes to.
fn every_attribute() -> PathAttributes {
    PathAttributes {
        origin: Origin::Igp,
        as_path: vec![seq(&[65000, 65001, 4_200_000_000])],
        next_hop: Some(v4("10.0.0.1")),
        med: Some(100),
        local_pref: Some(200),
        atomic_aggregate: true,
        aggregator: Some((65000, v4("10.0.0.9"))),
        communities: vec![0xfde8_0001, 0xffff_ff01],
        large_communities: vec![LargeCommunity {
            global_admin: 65000,
            local_data1: 1,
            local_data2: 2,
        }],
        unknown: vec![RawAttribute {
            flags: 0xe0,
            type_code: 99,
            value: vec![0xab, 0xcd],
        }],
    }
}

/// Every attribute the codec knows, 4-octet AS numbers, in type-code order.
#[rustfmt::skip]
const EVERY_ATTRIBUTE_4: &[u8] = &[
    0x40, 0x01, 0x01, 0x00, // ORIGIN: well-known, len 1, IGP
    0x40, 0x02, 0x0e, // AS_PATH: well-known, len 14
    0x02, 0x03, // AS_SEQUENCE of 3
    0x00, 0x00, 0xfd, 0xe8, // 65000
    0x00, 0x00, 0xfd, 0xe9, // 65001
    0xfa, 0x56, 0xea, 0x00, // 4200000000
    0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01, // NEXT_HOP 10.0.0.1
    0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x64, // MULTI_EXIT_DISC: optional, 100
    0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0xc8, // LOCAL_PREF 200
    0x40, 0x06, 0x00, // ATOMIC_AGGREGATE, len 0
    0xc0, 0x07, 0x08, // AGGREGATOR: optional transitive, len 8
    0x00, 0x00, 0xfd, 0xe8, 0x0a, 0x00, 0x00, 0x09, // AS 65000, 10.0.0.9
    0xc0, 0x08, 0x08, // COMMUNITIES, len 8
    0xfd, 0xe8, 0x00, 0x01, // 65000:1
    0xff, 0xff, 0xff, 0x01, // NO_EXPORT
    0xc0, 0x20, 0x0c, // LARGE_COMMUNITIES (type 32), len 12
    0x00, 0x00, 0xfd, 0xe8, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // 65000:1:2
    0xe0, 0x63, 0x02, 0xab, 0xcd, // type 99: optional transitive partial, 2 bytes
];

/// The same with 2-octet AS numbers (no 4-byte ASN in the path).
#[rustfmt::skip]
const EVERY_ATTRIBUTE_2: &[u8] = &[
    0x40, 0x01, 0x01, 0x00, // ORIGIN IGP
    0x40, 0x02, 0x06, 0x02, 0x02, 0xfd, 0xe8, 0xfd, 0xe9, // AS_PATH: SEQUENCE 65000 65001
    0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01, // NEXT_HOP 10.0.0.1
    0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x64, // MED 100
    0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0xc8, // LOCAL_PREF 200
    0x40, 0x06, 0x00, // ATOMIC_AGGREGATE
    0xc0, 0x07, 0x06, 0xfd, 0xe8, 0x0a, 0x00, 0x00, 0x09, // AGGREGATOR 65000 10.0.0.9
    0xc0, 0x08, 0x08, 0xfd, 0xe8, 0x00, 0x01, 0xff, 0xff, 0xff, 0x01, // COMMUNITIES
    0xc0, 0x20, 0x0c, 0x00, 0x00, 0xfd, 0xe8, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
    0xe0, 0x63, 0x02, 0xab, 0xcd, // type 99, kept
];

const WITHDRAWN: &[u8] = &[0x18, 0xc0, 0xa8, 0x01]; // 192.168.1.0/24
const NLRI: &[u8] = &[
    0x10, 0x0a, 0x01, // 10.1.0.0/16
    0x20, 0x0a, 0x02, 0x03, 0x04, // 10.2.3.4/32
    0x00, // 0.0.0.0/0
];

fn every_attribute_update(attributes: PathAttributes) -> Update {
    Update {
        withdrawn: vec![net("192.168.1.0/24")],
        attributes: Some(attributes),
        nlri: vec![net("10.1.0.0/16"), net("10.2.3.4/32"), net("0.0.0.0/0")],
        ..Update::default()
    }
}

#[test]
fn update_v4_every_attribute_four_octet() {
    let bytes = update_frame(WITHDRAWN, EVERY_ATTRIBUTE_4, NLRI);
    let expected = every_attribute_update(every_attribute());
    assert_eq!(decode_update(&bytes, &FOUR), expected);
    let msg = Message::Update(expected);
    assert_eq!(round_trip(&msg, &FOUR), bytes, "re-encoded byte for byte");
}

#[test]
fn update_v4_every_attribute_two_octet() {
    let bytes = update_frame(WITHDRAWN, EVERY_ATTRIBUTE_2, NLRI);
    let mut attrs = every_attribute();
    attrs.as_path = vec![seq(&[65000, 65001])];
    let expected = every_attribute_update(attrs);
    assert_eq!(decode_update(&bytes, &TWO), expected);
    assert_eq!(round_trip(&Message::Update(expected), &TWO), bytes);
}

#[rustfmt::skip]
const MP_REACH_V6: &[u8] = &[
    0x80, 0x0e, 0x35, // MP_REACH_NLRI: optional non-transitive, len 53
    0x00, 0x02, 0x01, // AFI 2, SAFI 1
    0x20, // next hop length 32: global then link-local
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // fe80::1
    0x00, // reserved
    0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, // 2001:db8:1::/48
    0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00, // 2001:db8:2::/64
    0x40, 0x01, 0x01, 0x02, // ORIGIN INCOMPLETE
    0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe8, // AS_PATH: SEQUENCE 65000
];

#[test]
fn update_v6_mp_reach_known_bytes() {
    let bytes = update_frame(&[], MP_REACH_V6, &[]);
    let expected = Update {
        attributes: Some(PathAttributes {
            origin: Origin::Incomplete,
            as_path: vec![seq(&[65000])],
            ..PathAttributes::default()
        }),
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hops: vec![ip("2001:db8::1"), ip("fe80::1")],
            nlri: vec![net("2001:db8:1::/48"), net("2001:db8:2::/64")],
        }),
        ..Update::default()
    };
    assert_eq!(decode_update(&bytes, &FOUR), expected);
    assert_eq!(round_trip(&Message::Update(expected), &FOUR), bytes);
}

#[test]
fn update_mp_unreach_known_bytes() {
    #[rustfmt::skip]
    let attrs = [
        0x80, 0x0f, 0x0a, // MP_UNREACH_NLRI, len 10
        0x00, 0x02, 0x01, // AFI 2, SAFI 1
        0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, // 2001:db8:1::/48
    ];
    let bytes = update_frame(&[], &attrs, &[]);
    let expected = Update {
        mp_unreach: Some(MpUnreach {
            family: Family::IPV6_UNICAST,
            withdrawn: vec![net("2001:db8:1::/48")],
        }),
        ..Update::default()
    };
    assert_eq!(decode_update(&bytes, &FOUR), expected);
    assert_eq!(round_trip(&Message::Update(expected), &FOUR), bytes);
    let built = encode_withdrawals(Family::IPV6_UNICAST, &[net("2001:db8:1::/48")], &FOUR);
    assert_eq!(built, vec![bytes]);
}

#[test]
fn update_v4_withdrawal_known_bytes() {
    let withdrawn = [0x10, 0x0a, 0x01, 0x18, 0x0a, 0x02, 0x03]; // 10.1.0.0/16, 10.2.3.0/24
    let bytes = update_frame(&withdrawn, &[], &[]);
    let expected = Update {
        withdrawn: vec![net("10.1.0.0/16"), net("10.2.3.0/24")],
        ..Update::default()
    };
    assert_eq!(decode_update(&bytes, &TWO), expected);
    assert_eq!(round_trip(&Message::Update(expected.clone()), &TWO), bytes);
    let built = encode_withdrawals(Family::IPV4_UNICAST, &expected.withdrawn, &TWO);
    assert_eq!(built, vec![bytes]);
}

#[test]
fn end_of_rib_markers() {
    // IPv4 unicast: an empty UPDATE.
    let v4 = update_frame(&[], &[], &[]);
    assert_eq!(encode_end_of_rib(Family::IPV4_UNICAST, &TWO), v4);
    assert_eq!(
        decode_update(&v4, &TWO).is_end_of_rib(),
        Some(Family::IPV4_UNICAST)
    );
    // IPv6 unicast: only an empty MP_UNREACH_NLRI.
    let v6 = update_frame(&[], &[0x80, 0x0f, 0x03, 0x00, 0x02, 0x01], &[]);
    assert_eq!(encode_end_of_rib(Family::IPV6_UNICAST, &FOUR), v6);
    assert_eq!(
        decode_update(&v6, &FOUR).is_end_of_rib(),
        Some(Family::IPV6_UNICAST)
    );
    // Never an End-of-RIB by accident from an empty withdrawal.
    assert!(encode_withdrawals(Family::IPV4_UNICAST, &[], &TWO).is_empty());
}

#[test]
fn two_octet_peer_gets_as_trans_and_as4_attributes() {
    let mut attrs = every_attribute();
    attrs.aggregator = Some((4_200_000_001, v4("10.0.0.9")));
    let update = every_attribute_update(attrs);
    let bytes = round_trip(&Message::Update(update), &TWO);
    // AS_PATH: SEQUENCE 65000 65001 AS_TRANS (RFC 6793 §4.2.2).
    let as_path = [
        0x40, 0x02, 0x08, 0x02, 0x03, 0xfd, 0xe8, 0xfd, 0xe9, 0x5b, 0xa0,
    ];
    assert!(bytes.windows(as_path.len()).any(|w| w == as_path));
    // AS4_PATH (type 17) with the real ASNs, AS4_AGGREGATOR (type 18).
    let as4_path = [0xc0, 0x11, 0x0e, 0x02, 0x03];
    assert!(bytes.windows(as4_path.len()).any(|w| w == as4_path));
    let as4_agg = [0xc0, 0x12, 0x08, 0xfa, 0x56, 0xea, 0x01];
    assert!(bytes.windows(as4_agg.len()).any(|w| w == as4_agg));
}

/// ORIGIN, NEXT_HOP and the NLRI 10.1.0.0/16 around AS attributes.
fn as_update(as_attrs: &[u8]) -> Vec<u8> {
    let mut attrs = vec![0x40, 0x01, 0x01, 0x00]; // ORIGIN IGP
    attrs.extend_from_slice(as_attrs);
    attrs.extend_from_slice(&[0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01]); // NEXT_HOP
    update_frame(&[], &attrs, &[0x10, 0x0a, 0x01])
}

#[test]
fn as4_path_merged_from_two_octet_peer() {
    #[rustfmt::skip]
    let bytes = as_update(&[
        0x40, 0x02, 0x08, 0x02, 0x03, // AS_PATH: SEQUENCE of 3 (2-octet)
        0xfd, 0xe8, 0x5b, 0xa0, 0x5b, 0xa0, // 65000 AS_TRANS AS_TRANS
        0xc0, 0x11, 0x0a, 0x02, 0x02, // AS4_PATH: SEQUENCE of 2 (4-octet)
        0xfa, 0x56, 0xea, 0x00, 0xfa, 0x56, 0xea, 0x01, // 4200000000 4200000001
    ]);
    let u = decode_update(&bytes, &TWO);
    let path = u.attributes.expect("attributes").as_path;
    assert_eq!(path, vec![seq(&[65000, 4_200_000_000, 4_200_000_001])]);
    assert!(u.discarded.is_empty() && u.treat_as_withdraw.is_none());
}

#[test]
fn as4_path_longer_than_as_path_is_ignored() {
    #[rustfmt::skip]
    let bytes = as_update(&[
        0x40, 0x02, 0x04, 0x02, 0x01, 0x5b, 0xa0, // AS_PATH: AS_TRANS
        0xc0, 0x11, 0x0a, 0x02, 0x02, // AS4_PATH: 2 ASNs, more than AS_PATH has
        0xfa, 0x56, 0xea, 0x00, 0xfa, 0x56, 0xea, 0x01,
    ]);
    let path = decode_update(&bytes, &TWO)
        .attributes
        .expect("attributes")
        .as_path;
    assert_eq!(path, vec![seq(&[AS_TRANS])]);
}

#[test]
fn as4_attributes_follow_the_aggregator() {
    let as_path = [0x40, 0x02, 0x04, 0x02, 0x01, 0x5b, 0xa0]; // AS_PATH: AS_TRANS
    let as4_path = [0xc0, 0x11, 0x06, 0x02, 0x01, 0xfa, 0x56, 0xea, 0x00]; // 4200000000
    #[rustfmt::skip]
    let as4_agg = [0xc0, 0x12, 0x08, 0xfa, 0x56, 0xea, 0x00, 0x0a, 0x00, 0x00, 0x09];
    // AGGREGATOR with AS_TRANS: AS4_AGGREGATOR and AS4_PATH are used.
    let agg_trans = [0xc0, 0x07, 0x06, 0x5b, 0xa0, 0x0a, 0x00, 0x00, 0x09];
    let bytes = as_update(&[&as_path[..], &agg_trans, &as4_path, &as4_agg].concat());
    let a = decode_update(&bytes, &TWO).attributes.expect("attributes");
    assert_eq!(a.aggregator, Some((4_200_000_000, v4("10.0.0.9"))));
    assert_eq!(a.as_path, vec![seq(&[4_200_000_000])]);
    // AGGREGATOR with a real 2-octet ASN: both AS4 attributes are ignored
    // (RFC 6793 §4.2.3).
    let agg_real = [0xc0, 0x07, 0x06, 0xfd, 0xe8, 0x0a, 0x00, 0x00, 0x09];
    let bytes = as_update(&[&as_path[..], &agg_real, &as4_path, &as4_agg].concat());
    let a = decode_update(&bytes, &TWO).attributes.expect("attributes");
    assert_eq!(a.aggregator, Some((65000, v4("10.0.0.9"))));
    assert_eq!(a.as_path, vec![seq(&[AS_TRANS])]);
}

#[test]
fn as4_path_ignored_between_four_octet_speakers() {
    #[rustfmt::skip]
    let bytes = as_update(&[
        0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe8, // AS_PATH: 65000 (4-octet)
        0xc0, 0x11, 0x06, 0x02, 0x01, 0xfa, 0x56, 0xea, 0x00, // AS4_PATH: must be ignored
    ]);
    let u = decode_update(&bytes, &FOUR);
    assert_eq!(
        u.attributes.expect("attributes").as_path,
        vec![seq(&[65000])]
    );
    assert!(u.discarded.is_empty() && u.treat_as_withdraw.is_none());
}

#[test]
fn long_as_path_and_long_values() {
    let mut attrs = every_attribute();
    let long: Vec<u32> = (1..=300).collect();
    attrs.as_path = vec![
        seq(&long),
        AsSegment {
            kind: SegmentKind::Set,
            asns: vec![7, 8],
        },
    ];
    attrs.communities = (0..100).collect(); // 400 bytes: Extended Length
    let update = every_attribute_update(attrs.clone());
    let bytes = encode_ok(&Message::Update(update), &FOUR);
    // COMMUNITIES written with the Extended Length bit and a 2-byte length.
    assert!(bytes.windows(4).any(|w| w == [0xd0, 0x08, 0x01, 0x90]));
    let back = decode_update(&bytes, &FOUR).attributes.expect("attributes");
    // 300 ASNs come back as segments of 255 and 45.
    assert_eq!(back.as_path.len(), 3);
    assert_eq!(back.as_path_flat(), attrs.as_path_flat());
    assert_eq!(back.as_path_len(), 301);
    assert_eq!(back.communities, attrs.communities);
}

fn v4_prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let len = 16 + (i % 17) as u8; // /16 to /32: 3 to 5 bytes each
            IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i << 8))), len)
                .expect("prefix")
                .trunc()
        })
        .collect()
}

fn v6_prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| net(&format!("2001:db8:{:x}:{:x}::/64", i / 7, i % 7)))
        .collect()
}

/// Checks each message fits, all but the last nearly full, and returns
/// all of them decoded.
fn decode_all(messages: &[Vec<u8>], ctx: &Context) -> Vec<Update> {
    for m in messages.iter().rev().skip(1) {
        assert!(m.len() > 4096 - 20, "message of only {} bytes", m.len());
    }
    messages
        .iter()
        .map(|m| {
            assert!(m.len() <= 4096, "message of {} bytes", m.len());
            let u = decode_update(m, ctx);
            assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
            u
        })
        .collect()
}

#[test]
fn announcements_split_2000_v4_prefixes() {
    let mut prefixes = v4_prefixes(2000);
    let attrs = every_attribute();
    let nh = [ip("192.0.2.1")];
    let messages = encode_announcements(&attrs, Family::IPV4_UNICAST, &nh, &prefixes, &FOUR);
    assert!(messages.len() > 1, "{} messages", messages.len());
    let mut got = Vec::new();
    for u in decode_all(&messages, &FOUR) {
        let expected = PathAttributes {
            next_hop: Some(v4("192.0.2.1")),
            ..attrs.clone()
        };
        assert_eq!(u.attributes.as_ref(), Some(&expected));
        assert!(u.mp_reach.is_none());
        got.extend(u.nlri);
    }
    prefixes.sort();
    got.sort();
    assert_eq!(got, prefixes);
}

#[test]
fn announcements_split_2000_v6_prefixes() {
    let mut prefixes = v6_prefixes(2000);
    let attrs = PathAttributes {
        as_path: vec![seq(&[65000])],
        // Ignored for IPv6: no NEXT_HOP goes with MP_REACH_NLRI.
        next_hop: Some(v4("192.0.2.1")),
        ..PathAttributes::default()
    };
    // An IPv4 next hop for IPv6 routes is sent IPv4-mapped.
    let nh = [ip("192.0.2.1")];
    let messages = encode_announcements(&attrs, Family::IPV6_UNICAST, &nh, &prefixes, &TWO);
    assert!(messages.len() > 1);
    let mut got = Vec::new();
    for u in decode_all(&messages, &TWO) {
        assert_eq!(u.attributes.as_ref().and_then(|a| a.next_hop), None);
        let reach = u.mp_reach.expect("MP_REACH_NLRI");
        assert_eq!(reach.family, Family::IPV6_UNICAST);
        assert_eq!(reach.next_hops, vec![ip("::ffff:192.0.2.1")]);
        got.extend(reach.nlri);
    }
    prefixes.sort();
    got.sort();
    assert_eq!(got, prefixes);
}

#[test]
fn withdrawals_split_2000_prefixes() {
    for (family, mut prefixes) in [
        (Family::IPV4_UNICAST, v4_prefixes(2000)),
        (Family::IPV6_UNICAST, v6_prefixes(2000)),
    ] {
        let messages = encode_withdrawals(family, &prefixes, &FOUR);
        assert!(messages.len() > 1);
        let mut got: Vec<IpNet> = decode_all(&messages, &FOUR)
            .iter()
            .flat_map(|u| {
                assert!(u.attributes.is_none(), "withdrawals carry no attributes");
                u.withdrawn_all().copied().collect::<Vec<_>>()
            })
            .collect();
        prefixes.sort();
        got.sort();
        assert_eq!(got, prefixes, "{family}");
    }
}

#[test]
fn announcements_need_a_next_hop_and_matching_prefixes() {
    let attrs = PathAttributes::default();
    let v4net = [net("10.0.0.0/8")];
    assert!(encode_announcements(&attrs, Family::IPV4_UNICAST, &[], &v4net, &TWO).is_empty());
    let v6hop = [ip("2001:db8::1")];
    // An IPv6 next hop takes IPv4 routes into MP_REACH_NLRI (RFC 8950).
    let m = encode_announcements(&attrs, Family::IPV4_UNICAST, &v6hop, &v4net, &TWO);
    let u = decode_update(&m[0], &TWO);
    assert!(u.nlri.is_empty());
    let reach = u.mp_reach.expect("MP_REACH_NLRI");
    assert_eq!(
        (reach.family, reach.next_hops),
        (Family::IPV4_UNICAST, v6hop.to_vec())
    );
    // An IPv4-mapped next hop is fine for IPv4 routes.
    let mapped = [ip("::ffff:10.0.0.1")];
    let m = encode_announcements(&attrs, Family::IPV4_UNICAST, &mapped, &v4net, &TWO);
    let u = decode_update(&m[0], &TWO);
    assert_eq!(u.attributes.and_then(|a| a.next_hop), Some(v4("10.0.0.1")));
    // IPv4 prefixes are not IPv6 routes.
    assert!(encode_announcements(&attrs, Family::IPV6_UNICAST, &v6hop, &v4net, &TWO).is_empty());
}
