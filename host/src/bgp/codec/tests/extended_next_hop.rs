//! Extended Next Hop Encoding (RFC 8950): the capability (§3) in bytes,
//! valid and malformed, and IPv4 routes with IPv6 next hops in
//! MP_REACH_NLRI (§3), received in both lengths RFC 2545 allows.

use super::graceful::{capabilities, open_with};
use super::*;
use crate::bgp::message::{Capability, ExtendedNextHop, Family, Open};

#[test]
fn capability_tuples_decode_and_encode_back() {
    // IPv4 unicast over IPv6 next hops; IPv4 SAFI 2 (multicast) likewise.
    let value = [
        0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x02, 0x00, 0x02,
    ];
    let caps = capabilities(&open_with(5, &value));
    let multicast = ExtendedNextHop {
        family: Family { afi: 1, safi: 2 },
        next_hop_afi: 2,
    };
    assert_eq!(
        caps,
        vec![Capability::ExtendedNextHop(vec![
            ExtendedNextHop::IPV4_OVER_IPV6,
            multicast
        ])]
    );
    let open = Open {
        asn: 65000,
        hold_time: 90,
        router_id: v4("10.0.0.1"),
        capabilities: caps,
    };
    assert!(open.offers_extended_next_hop(ExtendedNextHop::IPV4_OVER_IPV6));
    assert_eq!(encode_ok(&Message::Open(open), &TWO), open_with(5, &value));
}

#[test]
fn a_capability_of_another_length_is_kept_unknown_and_offers_nothing() {
    for value in [&[][..], &[0, 1, 0, 1, 0], &[0, 1, 0, 1, 0, 2, 0]] {
        let caps = capabilities(&open_with(5, value));
        assert_eq!(
            caps,
            vec![Capability::Unknown {
                code: 5,
                value: value.to_vec()
            }]
        );
    }
    // A SAFI beyond one byte names no family of ours: skipped, and a list
    // of nothing else is the unknown capability it is to us, with its bytes
    // (it was an empty list, which encoded as an empty value: the fuzzer's
    // round trip found it).
    let value = [0, 1, 0x01, 0x01, 0, 2];
    let caps = capabilities(&open_with(5, &value));
    assert_eq!(
        caps,
        vec![Capability::Unknown {
            code: 5,
            value: value.to_vec()
        }]
    );
    let mut mixed = value.to_vec();
    mixed.extend_from_slice(&[0, 1, 0, 1, 0, 2]);
    let caps = capabilities(&open_with(5, &mixed));
    assert_eq!(
        caps,
        vec![Capability::ExtendedNextHop(vec![
            ExtendedNextHop::IPV4_OVER_IPV6
        ])]
    );
}

/// An UPDATE announcing 10.2.0.0/24 in MP_REACH_NLRI of AFI 1 SAFI 1 with
/// the `next_hop` bytes, ORIGIN IGP and AS_PATH 65000.
fn ipv4_over_ipv6(next_hop: &[u8]) -> Vec<u8> {
    let mut reach = vec![0x00, 0x01, 0x01, next_hop.len() as u8];
    reach.extend_from_slice(next_hop);
    reach.extend_from_slice(&[0x00, 24, 10, 2, 0]);
    let mut attrs = vec![0x40, 0x01, 0x01, 0x00]; // ORIGIN IGP
    attrs.extend_from_slice(&[0x40, 0x02, 0x04, 0x02, 0x01, 0xfd, 0xe8]); // AS_PATH 65000
    attrs.extend_from_slice(&[0x80, 0x0e, reach.len() as u8]);
    attrs.extend_from_slice(&reach);
    let mut body = vec![0x00, 0x00];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    frame(TYPE_UPDATE, &body)
}

#[test]
fn ipv4_routes_with_an_ipv6_next_hop_of_16_or_32_bytes_are_received() {
    let global: std::net::Ipv6Addr = "fd00:0:0:10::2".parse().unwrap();
    let link_local: std::net::Ipv6Addr = "fe80::a9fe:a02".parse().unwrap();
    let mut both = global.octets().to_vec();
    both.extend_from_slice(&link_local.octets());
    for (bytes, want) in [
        (global.octets().to_vec(), vec![IpAddr::V6(global)]),
        (both, vec![IpAddr::V6(global), IpAddr::V6(link_local)]),
    ] {
        let Ok(Message::Update(u)) = decode(&ipv4_over_ipv6(&bytes), &TWO) else {
            panic!("an UPDATE expected");
        };
        let reach = u.mp_reach.expect("MP_REACH_NLRI");
        assert_eq!(reach.family, Family::IPV4_UNICAST);
        assert_eq!(reach.next_hops, want);
        assert_eq!(reach.nlri, vec![net("10.2.0.0/24")]);
    }
}
