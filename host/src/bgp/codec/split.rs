//! Ready-to-send UPDATEs for a set of routes: announcements and withdrawals
//! split over as many messages as the 4096-byte limit needs (RFC 4271
//! §4.1), IPv4 unicast in the NLRI and Withdrawn Routes fields and every
//! other family in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §3, §4), one
//! kind of route field per message (RFC 7606 §5.1), and the End-of-RIB
//! marker (RFC 4724 §2). It builds [`Update`] values and leaves the bytes to
//! `update` and `attr_encode`; it must not decide which routes to send.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::bgp::message::{
    Family, Message, MpReach, MpUnreach, PathAttributes, Update, MAX_MESSAGE_LEN,
};

use super::nlri::{self, Afi};
use super::{encode, Context};

/// UPDATE messages announcing `prefixes` (all of `family`) with `attrs`,
/// split so each fits 4096 bytes.
///
/// IPv4 unicast goes in the NLRI field with NEXT_HOP = `next_hops[0]`
/// (IPv4, or IPv4-mapped IPv6; `attrs.next_hop` if `next_hops` has
/// neither), unless `next_hops[0]` is a plain IPv6 address: then, as any
/// other family, in MP_REACH_NLRI (RFC 8950 §3: the caller checked that
/// the peer negotiated it). MP_REACH_NLRI carries up to two `next_hops`
/// (IPv6: global, then optionally link-local; an IPv4 address of an IPv6
/// route is sent IPv4-mapped) and no NEXT_HOP attribute (RFC 4760 §3).
///
/// Prefixes not of the family's address family are left out. Nothing is
/// returned when nothing can be announced: no prefixes, no usable next hop,
/// an AFI other than IPv4 or IPv6, or attributes too large to leave room
/// for a single prefix.
pub fn encode_announcements(
    attrs: &PathAttributes,
    family: Family,
    next_hops: &[IpAddr],
    prefixes: &[IpNet],
    ctx: &Context,
) -> Vec<Vec<u8>> {
    let Some(afi) = Afi::from_code(family.afi) else {
        return Vec::new();
    };
    let routes: Vec<IpNet> = prefixes.iter().filter(|p| afi.holds(p)).copied().collect();
    if routes.is_empty() {
        return Vec::new();
    }
    let ipv6_hop = matches!(next_hops.first(), Some(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none());
    let template = if family == Family::IPV4_UNICAST && !ipv6_hop {
        let Some(nh) = ipv4_next_hop(next_hops).or(attrs.next_hop) else {
            return Vec::new();
        };
        Update {
            attributes: Some(PathAttributes {
                next_hop: Some(nh),
                ..attrs.clone()
            }),
            ..Update::default()
        }
    } else {
        let hops = mp_next_hops(afi, next_hops);
        if hops.is_empty() {
            return Vec::new();
        }
        Update {
            attributes: Some(PathAttributes {
                next_hop: None,
                ..attrs.clone()
            }),
            mp_reach: Some(MpReach {
                family,
                next_hops: hops,
                nlri: Vec::new(),
            }),
            ..Update::default()
        }
    };
    pack(&template, &routes, ctx, |u, chunk| match &mut u.mp_reach {
        Some(reach) => reach.nlri = chunk,
        None => u.nlri = chunk,
    })
}

/// UPDATE messages withdrawing `prefixes` (Withdrawn Routes for IPv4
/// unicast, MP_UNREACH_NLRI otherwise, no other attribute), each within
/// 4096 bytes. Prefixes not of the family's address family are left out;
/// nothing is returned if none is left (never an End-of-RIB by accident).
pub fn encode_withdrawals(family: Family, prefixes: &[IpNet], ctx: &Context) -> Vec<Vec<u8>> {
    let Some(afi) = Afi::from_code(family.afi) else {
        return Vec::new();
    };
    let routes: Vec<IpNet> = prefixes.iter().filter(|p| afi.holds(p)).copied().collect();
    if routes.is_empty() {
        return Vec::new();
    }
    pack(
        &empty_update(family),
        &routes,
        ctx,
        |u, chunk| match &mut u.mp_unreach {
            Some(unreach) => unreach.withdrawn = chunk,
            None => u.withdrawn = chunk,
        },
    )
}

/// The End-of-RIB marker for `family` (RFC 4724 §2): an UPDATE with
/// nothing in it for IPv4 unicast, else one holding only an empty
/// MP_UNREACH_NLRI.
pub fn encode_end_of_rib(family: Family, ctx: &Context) -> Vec<u8> {
    let mut out = Vec::new();
    // At most 30 bytes: encoding cannot fail.
    let _ = encode(&Message::Update(empty_update(family)), ctx, &mut out);
    out
}

/// An UPDATE with no routes: the End-of-RIB shape for `family`.
fn empty_update(family: Family) -> Update {
    if family == Family::IPV4_UNICAST {
        return Update::default();
    }
    Update {
        mp_unreach: Some(MpUnreach {
            family,
            withdrawn: Vec::new(),
        }),
        ..Update::default()
    }
}

/// The IPv4 next hop in `next_hops[0]`, IPv4-mapped IPv6 included.
fn ipv4_next_hop(next_hops: &[IpAddr]) -> Option<Ipv4Addr> {
    match next_hops.first()? {
        IpAddr::V4(a) => Some(*a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

/// The next hops to put in MP_REACH_NLRI: for IPv6 routes, and IPv4 ones
/// with an IPv6 next hop (RFC 8950 §3), up to two (global, then link-local,
/// RFC 2545 §3), an IPv4 one as IPv4-mapped IPv6; for IPv4 otherwise one.
fn mp_next_hops(afi: Afi, next_hops: &[IpAddr]) -> Vec<IpAddr> {
    let ipv6_hop = matches!(next_hops.first(), Some(IpAddr::V6(_)));
    if afi == Afi::V4 && !ipv6_hop {
        return next_hops.iter().take(1).copied().collect();
    }
    next_hops
        .iter()
        .take(2)
        .map(|hop| match hop {
            IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
            v6 => *v6,
        })
        .collect()
}

/// Encodes `template` once per chunk of `routes`, `fill` putting the chunk
/// in place; each chunk is as large as still fits 4096 bytes.
fn pack(
    template: &Update,
    routes: &[IpNet],
    ctx: &Context,
    fill: impl Fn(&mut Update, Vec<IpNet>),
) -> Vec<Vec<u8>> {
    let mut base = Vec::new();
    if encode(&Message::Update(template.clone()), ctx, &mut base).is_err() {
        return Vec::new();
    }
    // One byte spare: an MP attribute's length may grow to 2 bytes
    // (Extended Length) once routes are in it.
    let Some(budget) = MAX_MESSAGE_LEN.checked_sub(base.len() + 1) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for chunk in chunks(routes, budget) {
        let mut update = template.clone();
        fill(&mut update, chunk);
        let mut m = Vec::new();
        if encode(&Message::Update(update), ctx, &mut m).is_ok() {
            out.push(m);
        }
    }
    out
}

/// `routes` in order, cut into runs whose encoded size is at most `budget`
/// bytes; none if a single route does not fit.
fn chunks(routes: &[IpNet], budget: usize) -> Vec<Vec<IpNet>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut used = 0;
    for route in routes {
        let len = nlri::wire_len(route);
        if len > budget {
            return Vec::new();
        }
        if used + len > budget {
            out.push(std::mem::take(&mut chunk));
            used = 0;
        }
        chunk.push(*route);
        used += len;
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}
