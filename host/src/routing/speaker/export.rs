//! The export side of a session: the gateway's networks as it originates
//! them toward an external peer, run through the export filter, with the
//! rules no filter may break (our AS first in the path, no LOCAL_PREF), and
//! encoded as the UPDATEs for an Adj-RIB-Out difference. A filter plugin
//! that faults leaves the peer with what it has. Pure functions; no session
//! or transport is touched.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::family_of;
use crate::bgp::codec;
use crate::bgp::message::{AsSegment, Family, PathAttributes, SegmentKind};
use crate::bgp::rib::OutDiff;
use crate::policy::{FilterSlot, Peer, Route};
use crate::routing::wit_route;

use super::import::ModifiedSets;

/// The attributes of a network this gateway originates toward an external
/// peer: ORIGIN IGP, AS_PATH of our ASN, NEXT_HOP our inside address (IPv6
/// routes carry it in MP_REACH_NLRI instead, RFC 4760 section 3).
pub fn own_attributes(local_asn: u32, local: Ipv4Addr, prefix: &IpNet) -> PathAttributes {
    PathAttributes {
        as_path: vec![AsSegment {
            kind: SegmentKind::Sequence,
            asns: vec![local_asn],
        }],
        next_hop: matches!(prefix, IpNet::V4(_)).then_some(local),
        ..PathAttributes::default()
    }
}

/// What the export filter may not change: the path toward an external
/// peer starts with our AS (RFC 4271 section 5.1.2), and LOCAL_PREF is
/// never sent to one (section 5.1.5).
fn sendable(mut attrs: PathAttributes, local_asn: u32) -> PathAttributes {
    attrs.local_pref = None;
    if attrs.as_path_flat().first() != Some(&local_asn) {
        match attrs.as_path.first_mut() {
            Some(s) if s.kind == SegmentKind::Sequence && s.asns.len() < 255 => {
                s.asns.insert(0, local_asn)
            }
            _ => attrs.as_path.insert(
                0,
                AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: vec![local_asn],
                },
            ),
        }
    }
    attrs
}

/// The routes to advertise: `networks` of the negotiated `families`
/// through the export filter. `None` when the operator's filter faulted on
/// this call: the peer keeps what it has rather than what the default says
/// (a quarantined filter is not called: the default answers).
pub fn wanted(
    networks: &[IpNet],
    families: &[Family],
    local_asn: u32,
    local: Ipv4Addr,
    peer: &Peer,
    filter: &mut FilterSlot,
) -> Option<BTreeMap<IpNet, PathAttributes>> {
    // One attribute set per family, shared by every network: it crosses
    // to the filter once, whatever the number of networks.
    let own = |family: IpNet| Arc::new(own_attributes(local_asn, local, &family));
    let (v4, v6) = (
        own(IpNet::V4(Default::default())),
        own(IpNet::V6(Default::default())),
    );
    let candidates: Vec<(IpNet, Arc<PathAttributes>)> = networks
        .iter()
        .filter(|n| families.contains(&family_of(n)))
        .map(|n| match n {
            IpNet::V4(_) => (*n, v4.clone()),
            IpNet::V6(_) => (*n, v6.clone()),
        })
        .collect();
    let mut convert = wit_route::ToRoutes::default();
    let routes: Vec<Route> = candidates
        .iter()
        .map(|(prefix, attrs)| convert.route(*prefix, attrs))
        .collect();
    let verdicts = filter.export_filter(peer, &routes);
    // This call faulted: nothing changes. A quarantined plugin is not
    // called at all, and the native default answers for it.
    if verdicts.fault.is_some() {
        return None;
    }
    let mut apply = ModifiedSets::default();
    Some(
        candidates
            .iter()
            .zip(verdicts.verdicts.iter())
            .filter_map(|((prefix, attrs), verdict)| {
                let kept = apply.apply(attrs, verdict)?;
                Some((*prefix, sendable((*kept).clone(), local_asn)))
            })
            .collect(),
    )
}

/// How often a drained session's routes carry our AS in front (a path this
/// much longer loses to any equal route over another tunnel).
pub const DRAIN_PREPEND: usize = 3;
/// The MED of a drained session's routes (RFC 4271: lower is better).
pub const DRAIN_MED: u32 = 1_000_000;

/// The routes of a drained session: each with our AS prepended
/// [`DRAIN_PREPEND`] more times and MED [`DRAIN_MED`], so the peer prefers
/// the same routes over its other tunnels (planned maintenance).
pub fn drained(
    wanted: BTreeMap<IpNet, PathAttributes>,
    local_asn: u32,
) -> BTreeMap<IpNet, PathAttributes> {
    wanted
        .into_iter()
        .map(|(prefix, mut attrs)| {
            match attrs.as_path.first_mut() {
                Some(s)
                    if s.kind == SegmentKind::Sequence && s.asns.len() + DRAIN_PREPEND <= 255 =>
                {
                    for _ in 0..DRAIN_PREPEND {
                        s.asns.insert(0, local_asn);
                    }
                }
                _ => attrs.as_path.insert(
                    0,
                    AsSegment {
                        kind: SegmentKind::Sequence,
                        asns: vec![local_asn; DRAIN_PREPEND],
                    },
                ),
            }
            attrs.med = Some(DRAIN_MED);
            (prefix, attrs)
        })
        .collect()
}

/// The next hops a session sends with our routes: our inside IPv4 address
/// for IPv4 routes; for IPv6 routes, the tunnel's IPv6 inside address when
/// it has one (16 bytes, global), else the link-local address derived from
/// the IPv4 inside address (16 bytes, link-local). The far side forwards
/// over the tunnel, whatever the next hop.
///
/// Why not RFC 2545's 32-byte pair (global, then link-local): FRR's bgpd run
/// without zebra (route servers, containers) cannot tell that a link-local
/// next hop is on-link ("sent a v6 LL next-hop and there's no peer interface
/// information"), treats the attribute as malformed, and its NLRI parse then
/// resets the session, every time. A global next hop alone is what BIRD,
/// GoBGP, FRR and sitelink all accept; the lone link-local one (no IPv6
/// inside address) suits BIRD, GoBGP and sitelink only. An IPv4-mapped
/// address is refused by BIRD as of the wrong family.
///
/// Over a session whose peer negotiated Extended Next Hop Encoding for
/// IPv4 (RFC 8950), IPv4 routes go out with the IPv6 inside address too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHops {
    v4: IpAddr,
    v6: IpAddr,
    /// The IPv6 inside address, if the tunnel has one.
    global_v6: Option<Ipv6Addr>,
}

impl NextHops {
    pub fn new(local: Ipv4Addr, local_v6: Option<Ipv6Addr>) -> NextHops {
        let v6 = local_v6.unwrap_or_else(|| crate::bgp::link_local_next_hop(local));
        NextHops {
            v4: IpAddr::V4(local),
            v6: IpAddr::V6(v6),
            global_v6: local_v6,
        }
    }

    /// The next hops for a peer that did (`true`) or did not negotiate
    /// IPv4 routes over IPv6 next hops: with it, and an IPv6 inside
    /// address, IPv4 routes carry that address (in MP_REACH_NLRI).
    pub fn for_peer(&self, extended_next_hop: bool) -> NextHops {
        match self.global_v6 {
            Some(global) if extended_next_hop => NextHops {
                v4: IpAddr::V6(global),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// The next hop of a route of `family`.
    fn of(&self, family: Family) -> IpAddr {
        if family == Family::IPV4_UNICAST {
            self.v4
        } else {
            self.v6
        }
    }
}

/// The UPDATEs for an Adj-RIB-Out difference, with `hops` as next hops.
pub fn encode_diff(diff: &OutDiff, hops: &NextHops, ctx: &codec::Context) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let withdrawn: Vec<IpNet> = diff
            .withdraw
            .iter()
            .filter(|n| family_of(n) == family)
            .copied()
            .collect();
        if !withdrawn.is_empty() {
            out.extend(codec::encode_withdrawals(family, &withdrawn, ctx));
        }
    }
    for (attrs, prefixes) in &diff.announce {
        for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
            let list: Vec<IpNet> = prefixes
                .iter()
                .filter(|n| family_of(n) == family)
                .copied()
                .collect();
            if list.is_empty() {
                continue;
            }
            out.extend(codec::encode_announcements(
                attrs,
                family,
                &[hops.of(family)],
                &list,
                ctx,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_session_sends_a_longer_path_and_a_worse_med() {
        let prefix: IpNet = "10.2.0.0/24".parse().unwrap();
        let own = own_attributes(64512, Ipv4Addr::new(169, 254, 10, 1), &prefix);
        let out = drained(BTreeMap::from([(prefix, own)]), 64512);
        let attrs = &out[&prefix];
        assert_eq!(attrs.as_path_flat(), vec![64512; 1 + DRAIN_PREPEND]);
        assert_eq!(attrs.med, Some(DRAIN_MED));
        assert_eq!(attrs.next_hop, Some(Ipv4Addr::new(169, 254, 10, 1)));
    }

    #[test]
    fn a_filter_cannot_take_our_as_off_the_path_or_send_local_pref() {
        let mut attrs = own_attributes(
            64512,
            Ipv4Addr::new(169, 254, 10, 1),
            &"10.2.0.0/24".parse().unwrap(),
        );
        attrs.as_path.clear();
        attrs.local_pref = Some(200);
        let sent = sendable(attrs.clone(), 64512);
        assert_eq!(sent.as_path_flat(), vec![64512]);
        assert_eq!(sent.local_pref, None);
        attrs.as_path = vec![AsSegment {
            kind: SegmentKind::Sequence,
            asns: vec![65099],
        }];
        assert_eq!(
            sendable(attrs.clone(), 64512).as_path_flat(),
            vec![64512, 65099]
        );
        // Prepending by a plugin is kept.
        attrs.as_path[0].asns = vec![64512, 64512];
        assert_eq!(sendable(attrs, 64512).as_path_flat(), vec![64512, 64512]);
    }

    /// The announcement of `fd00:2::/64` sent with `hops`: its decoded
    /// next hops and the MP_REACH_NLRI value's next-hop field as sent
    /// (length byte, then the addresses).
    fn ipv6_announcement(hops: &NextHops) -> (Vec<IpAddr>, Vec<u8>) {
        let local = Ipv4Addr::new(169, 254, 10, 1);
        let v6: IpNet = "fd00:2::/64".parse().unwrap();
        let diff = OutDiff {
            withdraw: vec!["10.3.0.0/24".parse().unwrap()],
            announce: vec![(own_attributes(64512, local, &v6), vec![v6])],
        };
        let ctx = codec::Context {
            four_octet_as: true,
        };
        let messages = encode_diff(&diff, hops, &ctx);
        assert_eq!(messages.len(), 2, "one withdrawal, one announcement");
        let Ok(crate::bgp::message::Message::Update(u)) = codec::decode(&messages[1], &ctx) else {
            panic!("not an UPDATE");
        };
        assert_eq!(
            u.attributes.as_ref().and_then(|a| a.next_hop),
            None,
            "no NEXT_HOP beside MP_REACH"
        );
        let reach = u.mp_reach.expect("MP_REACH_NLRI");
        assert_eq!(reach.nlri, vec![v6]);
        // AFI 2, SAFI 1, then the next hop's length and bytes.
        let raw = &messages[1];
        let at = raw
            .windows(3)
            .position(|w| w == [0, 2, 1])
            .expect("MP_REACH_NLRI's AFI/SAFI in the bytes");
        let len = usize::from(raw[at + 3]);
        (reach.next_hops, raw[at + 3..at + 4 + len].to_vec())
    }

    #[test]
    fn ipv6_routes_get_a_link_local_next_hop_without_an_ipv6_inside_address() {
        let hops = NextHops::new(Ipv4Addr::new(169, 254, 10, 1), None);
        let (decoded, field) = ipv6_announcement(&hops);
        assert_eq!(decoded, vec![IpAddr::V6("fe80::a9fe:a01".parse().unwrap())]);
        let mut expected = vec![16, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(&[169, 254, 10, 1]);
        assert_eq!(field, expected);
    }

    #[test]
    fn ipv6_routes_get_the_ipv6_inside_address_alone_as_next_hop() {
        let global: Ipv6Addr = "fd00:0:0:10::1".parse().unwrap();
        let hops = NextHops::new(Ipv4Addr::new(169, 254, 10, 1), Some(global));
        let (decoded, field) = ipv6_announcement(&hops);
        assert_eq!(decoded, vec![IpAddr::V6(global)]);
        // 16 bytes, global: no link-local address a peer without interface
        // information would refuse.
        let expected = vec![16, 0xfd, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(field, expected);
    }

    #[test]
    fn with_extended_next_hop_ipv4_routes_go_in_mp_reach_with_the_ipv6_inside_address() {
        let local = Ipv4Addr::new(169, 254, 10, 1);
        let global: Ipv6Addr = "fd00:0:0:10::1".parse().unwrap();
        let v4: IpNet = "10.2.0.0/24".parse().unwrap();
        let diff = OutDiff {
            withdraw: vec![],
            announce: vec![(own_attributes(64512, local, &v4), vec![v4])],
        };
        let ctx = codec::Context {
            four_octet_as: true,
        };
        let hops = NextHops::new(local, Some(global)).for_peer(true);
        let messages = encode_diff(&diff, &hops, &ctx);
        assert_eq!(messages.len(), 1);
        let Ok(crate::bgp::message::Message::Update(u)) = codec::decode(&messages[0], &ctx) else {
            panic!("not an UPDATE");
        };
        assert!(u.nlri.is_empty(), "not in the IPv4 NLRI field");
        assert_eq!(u.attributes.as_ref().and_then(|a| a.next_hop), None);
        let reach = u.mp_reach.expect("MP_REACH_NLRI");
        assert_eq!(reach.family, Family::IPV4_UNICAST);
        assert_eq!(reach.next_hops, vec![IpAddr::V6(global)]);
        assert_eq!(reach.nlri, vec![v4]);
        // AFI 1, SAFI 1, next hop length 16, the address (RFC 8950 section 3).
        let raw = &messages[0];
        let mut field = vec![0, 1, 1, 16];
        field.extend_from_slice(&global.octets());
        assert!(
            raw.windows(field.len()).any(|w| w == field.as_slice()),
            "{raw:02x?}"
        );
        // Without the capability, or without an IPv6 inside address: IPv4.
        let plain = NextHops::new(local, Some(global)).for_peer(false);
        assert_eq!(plain.of(Family::IPV4_UNICAST), IpAddr::V4(local));
        let no_v6 = NextHops::new(local, None).for_peer(true);
        assert_eq!(no_v6.of(Family::IPV4_UNICAST), IpAddr::V4(local));
    }

    #[test]
    fn ipv4_routes_keep_the_inside_ipv4_next_hop() {
        let global: Ipv6Addr = "fd00:0:0:10::1".parse().unwrap();
        let hops = NextHops::new(Ipv4Addr::new(169, 254, 10, 1), Some(global));
        assert_eq!(
            hops.of(Family::IPV4_UNICAST),
            IpAddr::V4(Ipv4Addr::new(169, 254, 10, 1))
        );
    }
}
