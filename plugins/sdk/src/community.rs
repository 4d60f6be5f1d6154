//! BGP communities as the routes carry them: standard ones (RFC 1997) as
//! 32-bit values, `ASN << 16 | value` (what `"65000:100"` means), and large
//! ones (RFC 8092) as three 32-bit numbers. Parse, format, test and change a
//! route's communities without doing the bit arithmetic by hand (test a
//! [`Route`](crate::types::Route) or [`Attributes`]; change a copy with
//! `route.changed(|a| ...)`).
//!
//! ```
//! use sitelink_plugin::community;
//!
//! let no_export = community::parse("65535:65281").unwrap();
//! assert_eq!(no_export, community::NO_EXPORT);
//! assert_eq!(community::format(community::new(65000, 100)), "65000:100");
//! ```

use crate::types::{AttributeView, Attributes, LargeCommunity, Route};

/// What carries communities: a route, its attributes, or a copy of them
/// being changed.
pub trait Communities {
    /// The standard communities.
    fn standard(&self) -> &[u32];
    /// The large communities.
    fn large(&self) -> &[LargeCommunity];
}

impl Communities for Attributes {
    fn standard(&self) -> &[u32] {
        &self.communities
    }
    fn large(&self) -> &[LargeCommunity] {
        &self.large_communities
    }
}

impl Communities for AttributeView<'_> {
    fn standard(&self) -> &[u32] {
        self.communities
    }
    fn large(&self) -> &[LargeCommunity] {
        self.large_communities
    }
}

impl Communities for Route<'_> {
    fn standard(&self) -> &[u32] {
        self.attributes.standard()
    }
    fn large(&self) -> &[LargeCommunity] {
        self.attributes.large()
    }
}

/// NO_EXPORT (RFC 1997): do not advertise beyond the AS.
pub const NO_EXPORT: u32 = 0xFFFF_FF01;
/// NO_ADVERTISE (RFC 1997): do not advertise to any peer.
pub const NO_ADVERTISE: u32 = 0xFFFF_FF02;

/// `asn:value` as the 32-bit community.
pub const fn new(asn: u16, value: u16) -> u32 {
    (asn as u32) << 16 | value as u32
}

/// `"ASN:value"` (each 0-65535) as the 32-bit community.
pub fn parse(text: &str) -> Option<u32> {
    let (asn, value) = text.trim().split_once(':')?;
    Some(new(asn.trim().parse().ok()?, value.trim().parse().ok()?))
}

/// The community as `"ASN:value"`.
pub fn format(c: u32) -> String {
    format!("{}:{}", c >> 16, c & 0xffff)
}

/// `"global:local1:local2"` as a large community.
pub fn parse_large(text: &str) -> Option<LargeCommunity> {
    let mut parts = text.trim().split(':').map(|p| p.trim().parse::<u32>());
    let c = LargeCommunity {
        global_admin: parts.next()?.ok()?,
        local_data1: parts.next()?.ok()?,
        local_data2: parts.next()?.ok()?,
    };
    parts.next().is_none().then_some(c)
}

/// The large community as `"global:local1:local2"`.
pub fn format_large(c: &LargeCommunity) -> String {
    format!("{}:{}:{}", c.global_admin, c.local_data1, c.local_data2)
}

/// Whether the route carries community `c`.
pub fn has(route: &impl Communities, c: u32) -> bool {
    route.standard().contains(&c)
}

/// Whether the route carries the large community `c`.
pub fn has_large(route: &impl Communities, c: &LargeCommunity) -> bool {
    route.large().contains(c)
}

/// Adds community `c` to the route (once).
pub fn add(route: &mut Attributes, c: u32) {
    if !has(route, c) {
        route.communities.push(c);
    }
}

/// Takes community `c` off the route.
pub fn remove(route: &mut Attributes, c: u32) {
    route.communities.retain(|x| *x != c);
}

/// Adds the large community `c` to the route (once).
pub fn add_large(route: &mut Attributes, c: LargeCommunity) {
    if !has_large(route, &c) {
        route.large_communities.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::no_attributes;

    fn route() -> Attributes {
        Attributes {
            as_path: vec![65000],
            communities: vec![new(65000, 1)],
            ..no_attributes()
        }
    }

    #[test]
    fn text_and_values_round_trip() {
        assert_eq!(parse("65000:100"), Some(65000 << 16 | 100));
        assert_eq!(parse(" 65000 : 100 "), Some(65000 << 16 | 100));
        assert_eq!(parse("70000:1"), None, "an ASN beyond 16 bits");
        assert_eq!(parse("65000"), None);
        assert_eq!(format(parse("1:2").unwrap()), "1:2");
        assert_eq!(parse("65535:65282"), Some(NO_ADVERTISE));
        let large = parse_large("4200000000:1:2").unwrap();
        assert_eq!(format_large(&large), "4200000000:1:2");
        assert_eq!(parse_large("1:2"), None);
        assert_eq!(parse_large("1:2:3:4"), None);
    }

    #[test]
    fn a_route_gains_and_loses_communities() {
        let mut r = route();
        assert!(has(&r, new(65000, 1)));
        add(&mut r, new(65000, 1));
        add(&mut r, NO_EXPORT);
        assert_eq!(r.communities, vec![new(65000, 1), NO_EXPORT]);
        remove(&mut r, new(65000, 1));
        assert_eq!(r.communities, vec![NO_EXPORT]);
        let large = parse_large("65000:7:8").unwrap();
        add_large(&mut r, large);
        add_large(&mut r, large);
        assert_eq!(r.large_communities.len(), 1);
        assert!(has_large(&r, &large));
        let prefix = crate::types::Prefix {
            address: crate::types::IpAddress::V4(0x0a00_0000),
            length: 8,
        };
        let view = AttributeView::from(&r);
        let seen = Route::new(prefix, &view);
        assert!(has(&seen, NO_EXPORT) && has_large(&seen, &large));
        assert!(!has(seen.attributes, new(65000, 1)));
    }
}
