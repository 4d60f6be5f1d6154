//! Routes between the BGP speaker's form (a prefix and its decoded path
//! attributes) and the plugins' form (`attributes` of `wit/policy.wit`,
//! shared by the routes that carry the same). The WIT attributes flatten
//! the AS path and leave out what plugins do not decide (ATOMIC_AGGREGATE,
//! AGGREGATOR, unknown transitive attributes): converting back takes those
//! from the original. Conversions only; no policy is applied here.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;

use crate::bgp::message::{self, AsSegment, PathAttributes, SegmentKind};
use crate::net_map::FastMap;
use crate::policy::{Attributes, IpAddress, LargeCommunity, Origin, Prefix, Route};

/// An address in the WIT encoding.
pub fn to_address(addr: IpAddr) -> IpAddress {
    match addr {
        IpAddr::V4(a) => IpAddress::V4(u32::from(a)),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            IpAddress::V6(((bits >> 64) as u64, bits as u64))
        }
    }
}

/// A prefix in the WIT encoding.
pub fn to_prefix(net: IpNet) -> Prefix {
    Prefix {
        address: to_address(net.network()),
        length: net.prefix_len(),
    }
}

/// A prefix from the WIT encoding (`None` for a length out of range).
pub fn from_prefix(p: &Prefix) -> Option<IpNet> {
    let addr = match p.address {
        IpAddress::V4(a) => IpAddr::V4(a.into()),
        IpAddress::V6((hi, lo)) => IpAddr::V6((u128::from(hi) << 64 | u128::from(lo)).into()),
    };
    IpNet::new(addr, p.length).ok()
}

/// The attributes of a static route: no BGP attributes.
pub fn static_attributes() -> Attributes {
    Attributes {
        next_hop: None,
        as_path: Vec::new(),
        origin: Origin::Igp,
        med: None,
        local_pref: None,
        communities: Vec::new(),
        large_communities: Vec::new(),
    }
}

/// A static route as the plugins see it: every static route shares one
/// attribute set.
pub fn static_route(prefix: IpNet) -> Route {
    static STATIC: LazyLock<Arc<Attributes>> = LazyLock::new(|| Arc::new(static_attributes()));
    Route::new(to_prefix(prefix), STATIC.clone())
}

/// BGP path attributes as the plugins see them.
pub fn to_attributes(attrs: &PathAttributes) -> Attributes {
    Attributes {
        next_hop: attrs.next_hop.map(|a| to_address(IpAddr::V4(a))),
        as_path: attrs.as_path_flat(),
        origin: match attrs.origin {
            message::Origin::Igp => Origin::Igp,
            message::Origin::Egp => Origin::Egp,
            message::Origin::Incomplete => Origin::Incomplete,
        },
        med: attrs.med,
        local_pref: attrs.local_pref,
        communities: attrs.communities.clone(),
        large_communities: attrs
            .large_communities
            .iter()
            .map(|c| LargeCommunity {
                global_admin: c.global_admin,
                local_data1: c.local_data1,
                local_data2: c.local_data2,
            })
            .collect(),
    }
}

/// A BGP route as the plugins see it, converted on its own (one-off
/// views; batches use [`ToRoutes`]).
pub fn to_route(prefix: IpNet, attrs: &PathAttributes) -> Route {
    Route::new(to_prefix(prefix), Arc::new(to_attributes(attrs)))
}

/// Converts the routes of a batch, each distinct attribute set once: the
/// routes of one UPDATE share an `Arc<PathAttributes>`, and so share one
/// converted set. It holds each `Arc` it has seen, so an address it keys
/// on is never reused while it lives.
#[derive(Default)]
pub struct ToRoutes {
    seen: FastMap<*const PathAttributes, (Arc<PathAttributes>, Arc<Attributes>)>,
    /// The set converted last (a batch's routes come in runs of one set):
    /// no lookup for the rest of its run.
    last: Option<(*const PathAttributes, Arc<Attributes>)>,
}

impl ToRoutes {
    pub fn route(&mut self, prefix: IpNet, attrs: &Arc<PathAttributes>) -> Route {
        let key = Arc::as_ptr(attrs);
        let converted = match &self.last {
            Some((last, converted)) if *last == key => converted.clone(),
            _ => {
                let (_, converted) = self
                    .seen
                    .entry(key)
                    .or_insert_with(|| (attrs.clone(), Arc::new(to_attributes(attrs))));
                self.last = Some((key, converted.clone()));
                converted.clone()
            }
        };
        Route::new(to_prefix(prefix), converted)
    }
}

/// The attributes of `original` changed as a plugin's `modify` verdict says.
/// The AS path keeps its segments unless the plugin changed the flat list
/// (then it is one AS_SEQUENCE); the next hop stays the host's.
pub fn modified(original: &PathAttributes, route: &Attributes) -> PathAttributes {
    let as_path = if route.as_path == original.as_path_flat() {
        original.as_path.clone()
    } else if route.as_path.is_empty() {
        Vec::new()
    } else {
        route
            .as_path
            .chunks(255)
            .map(|asns| AsSegment {
                kind: SegmentKind::Sequence,
                asns: asns.to_vec(),
            })
            .collect()
    };
    PathAttributes {
        origin: match route.origin {
            Origin::Igp => message::Origin::Igp,
            Origin::Egp => message::Origin::Egp,
            Origin::Incomplete => message::Origin::Incomplete,
        },
        as_path,
        med: route.med,
        local_pref: route.local_pref,
        communities: route.communities.clone(),
        large_communities: route
            .large_communities
            .iter()
            .map(|c| message::LargeCommunity {
                global_admin: c.global_admin,
                local_data1: c.local_data1,
                local_data2: c.local_data2,
            })
            .collect(),
        ..original.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_convert_to_the_wit_encoding() {
        let v4 = to_prefix("10.2.0.0/24".parse().unwrap());
        assert_eq!(v4.address, IpAddress::V4(0x0a02_0000));
        assert_eq!(v4.length, 24);
        let v6 = to_prefix("fd00:2::/64".parse().unwrap());
        assert_eq!(v6.address, IpAddress::V6((0xfd00_0002_0000_0000, 0)));
    }

    #[test]
    fn a_batch_converts_each_shared_set_once() {
        let shared = Arc::new(PathAttributes {
            med: Some(7),
            ..PathAttributes::default()
        });
        let mut batch = ToRoutes::default();
        let a = batch.route("10.1.0.0/24".parse().unwrap(), &shared);
        let b = batch.route("10.2.0.0/24".parse().unwrap(), &shared);
        assert!(Arc::ptr_eq(&a.attributes, &b.attributes));
        assert_eq!(a.med, Some(7));
        let other = batch.route(
            "10.3.0.0/24".parse().unwrap(),
            &Arc::new(PathAttributes::default()),
        );
        assert!(!Arc::ptr_eq(&a.attributes, &other.attributes));
        assert!(Arc::ptr_eq(
            &static_route("10.4.0.0/24".parse().unwrap()).attributes,
            &static_route("10.5.0.0/24".parse().unwrap()).attributes
        ));
    }

    #[test]
    fn modify_round_trips_and_keeps_what_plugins_do_not_see() {
        let original = PathAttributes {
            as_path: vec![
                AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: vec![65000, 65001],
                },
                AsSegment {
                    kind: SegmentKind::Set,
                    asns: vec![7, 8],
                },
            ],
            atomic_aggregate: true,
            communities: vec![0xfde8_0001],
            ..PathAttributes::default()
        };
        let prefix: IpNet = "10.1.0.0/24".parse().unwrap();
        let mut route = Attributes::clone(&to_route(prefix, &original));
        assert_eq!(route.as_path, vec![65000, 65001, 7, 8]);
        assert_eq!(modified(&original, &route), original, "unchanged route");
        route.local_pref = Some(200);
        route.as_path.insert(0, 65000);
        let changed = modified(&original, &route);
        assert_eq!(changed.local_pref, Some(200));
        assert_eq!(changed.as_path_flat(), vec![65000, 65000, 65001, 7, 8]);
        assert!(changed.atomic_aggregate);
    }
}
