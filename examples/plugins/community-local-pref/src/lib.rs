//! `community-local-pref`: a BGP import filter that sets a route's
//! local-pref from the communities it carries, so a peer can signal which
//! paths to prefer (e.g. primary/backup) with communities.
//!
//! Parameter `map`: comma-separated `COMMUNITY=LOCAL_PREF` entries, e.g.
//! `map = "64512:100=200,64512:200=50"`. A community is `ASN:VALUE`
//! (standard, RFC 1997, both parts up to 65535) or `GLOBAL:DATA1:DATA2`
//! (large, RFC 8092). If a route carries several mapped communities, the
//! first entry of the map wins. Matched routes get the new local-pref;
//! others are accepted unchanged. Exports are not touched. A map that does
//! not parse is logged and nothing is changed.

use sitelink_plugin::bgp_filter::{BgpFilter, Peer, Route, Verdict};
use sitelink_plugin::log::{self, Level};
use sitelink_plugin::params;
use sitelink_plugin::types::LargeCommunity;

/// The plugin.
pub struct CommunityLocalPref;

impl BgpFilter for CommunityLocalPref {
    // A misspelt key or a bad map refuses the plugin at load.
    const PARAMS: Option<&'static [params::Param]> = Some(PARAMS);

    fn import_filter(_peer: Peer, routes: Vec<Route<'_>>) -> Vec<Verdict> {
        let map = match parse_map(&params::get("map").unwrap_or_default()) {
            Ok(map) => map,
            Err(e) => {
                log::once(Level::Error, format!("map: {e}; routes are left unchanged"));
                Vec::new()
            }
        };
        routes.into_iter().map(|r| apply(r, &map)).collect()
    }
}

sitelink_plugin::export_bgp_filter!(CommunityLocalPref);

/// The parameters it takes.
pub const PARAMS: &[params::Param] = &[params::Param {
    key: "map",
    kind: params::Kind::Custom {
        what: "a list of COMMUNITY=LOCAL_PREF (e.g. 65000:100=200,65000:1:2=50)",
        valid: |v| parse_map(v).is_ok(),
    },
}];

/// A community to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Community {
    /// `ASN << 16 | VALUE`, as in `Route::communities`.
    Standard(u32),
    Large(LargeCommunity),
}

/// Parses the `map` parameter.
pub fn parse_map(v: &str) -> Result<Vec<(Community, u32)>, String> {
    params::split_list(v)
        .map(|entry| {
            let bad = || format!("{entry:?} is not COMMUNITY=LOCAL_PREF");
            let (community, lp) = entry.split_once('=').ok_or_else(bad)?;
            let lp = lp.trim().parse().map_err(|_| bad())?;
            let parts: Vec<&str> = community.trim().split(':').collect();
            let community = match parts[..] {
                [asn, value] => {
                    let asn: u16 = asn.parse().map_err(|_| bad())?;
                    let value: u16 = value.parse().map_err(|_| bad())?;
                    Community::Standard(u32::from(asn) << 16 | u32::from(value))
                }
                [g, d1, d2] => Community::Large(LargeCommunity {
                    global_admin: g.parse().map_err(|_| bad())?,
                    local_data1: d1.parse().map_err(|_| bad())?,
                    local_data2: d2.parse().map_err(|_| bad())?,
                }),
                _ => return Err(bad()),
            };
            Ok((community, lp))
        })
        .collect()
}

/// The verdict on one route.
pub fn apply(route: Route<'_>, map: &[(Community, u32)]) -> Verdict {
    let carries = |c: &Community| match c {
        Community::Standard(c) => route.communities.contains(c),
        Community::Large(c) => route.large_communities.contains(c),
    };
    match map.iter().find(|(c, _)| carries(c)) {
        Some(&(_, lp)) if route.local_pref != Some(lp) => {
            Verdict::Modify(route.changed(|a| a.local_pref = Some(lp)))
        }
        _ => Verdict::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitelink_plugin::net;
    use sitelink_plugin::types::{no_attributes, AttributeView, Attributes};

    fn attrs(communities: Vec<u32>, large: Vec<LargeCommunity>, lp: Option<u32>) -> Attributes {
        Attributes {
            as_path: vec![64512],
            local_pref: lp,
            communities,
            large_communities: large,
            ..no_attributes()
        }
    }

    /// `apply` on a route of 10.1.0.0/16 with attributes `a`.
    fn apply_to(a: Attributes, map: &[(Community, u32)]) -> Verdict {
        let a = AttributeView::from(&a);
        apply(
            Route::new(net::parse_prefix("10.1.0.0/16").unwrap(), &a),
            map,
        )
    }

    const C100: u32 = 64512 << 16 | 100;
    const C200: u32 = 64512 << 16 | 200;

    fn map() -> Vec<(Community, u32)> {
        parse_map("64512:100=200, 64512:200=50, 4200000000:1:2=300").unwrap()
    }

    #[test]
    fn parses() {
        let m = map();
        assert_eq!(m[0], (Community::Standard(C100), 200));
        assert_eq!(m[1], (Community::Standard(C200), 50));
        let large = LargeCommunity {
            global_admin: 4_200_000_000,
            local_data1: 1,
            local_data2: 2,
        };
        assert_eq!(m[2], (Community::Large(large), 300));
        assert!(parse_map("").unwrap().is_empty());
        for bad in [
            "64512:100",
            "65536:1=5",
            "a:b=5",
            "1:2=x",
            "1:2:3:4=5",
            "1=5",
        ] {
            assert!(parse_map(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sets_local_pref_of_matched_routes() {
        let v = apply_to(attrs(vec![7, C200], vec![], None), &map());
        assert_eq!(v, Verdict::Modify(attrs(vec![7, C200], vec![], Some(50))));
        // First map entry wins when several match.
        let v = apply_to(attrs(vec![C200, C100], vec![], Some(10)), &map());
        assert_eq!(
            v,
            Verdict::Modify(attrs(vec![C200, C100], vec![], Some(200)))
        );
        let large = vec![LargeCommunity {
            global_admin: 4_200_000_000,
            local_data1: 1,
            local_data2: 2,
        }];
        let v = apply_to(attrs(vec![], large.clone(), None), &map());
        assert_eq!(v, Verdict::Modify(attrs(vec![], large, Some(300))));
    }

    #[test]
    fn leaves_others_alone() {
        assert_eq!(
            apply_to(attrs(vec![7], vec![], None), &map()),
            Verdict::Accept
        );
        // Already at the mapped value: nothing to modify.
        assert_eq!(
            apply_to(attrs(vec![C100], vec![], Some(200)), &map()),
            Verdict::Accept
        );
        assert_eq!(
            apply_to(attrs(vec![C100], vec![], None), &[]),
            Verdict::Accept
        );
    }

    #[test]
    fn the_whole_filter_reads_its_parameters_and_refuses_bad_ones() {
        use sitelink_plugin::params;
        params::set_for_test(&[("map", "64512:100=200")]);
        let a = attrs(vec![C100], vec![], None);
        let prefix = net::parse_prefix("10.1.0.0/16").unwrap();
        let a = AttributeView::from(&a);
        let verdicts = CommunityLocalPref::import_filter(peer(), vec![Route::new(prefix, &a)]);
        assert_eq!(
            verdicts,
            vec![Verdict::Modify(attrs(vec![C100], vec![], Some(200)))]
        );
        // What the export macro checks before every call.
        params::set_for_test(&[("mpa", "64512:100=200")]);
        assert!(params::check(PARAMS).is_err(), "a misspelt key is refused");
        params::set_for_test(&[("map", "64512=100")]);
        assert!(params::check(PARAMS).is_err(), "a bad map is refused");
        params::set_for_test(&[]);
    }

    fn peer() -> Peer {
        Peer {
            connection: "office".into(),
            tunnel: "169.254.10.0/30".into(),
            asn: 65000,
            address: sitelink_plugin::types::IpAddress::V4(0xa9fe_0a02),
        }
    }
}
