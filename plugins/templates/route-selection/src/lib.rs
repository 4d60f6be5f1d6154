//! {{project-name}}: a sitelink route-selection plugin. Installs a
//! prefix's static routes if it has any, else every BGP candidate with the
//! highest local-pref (ECMP among them).

use sitelink_plugin::route_selection::{PrefixCandidates, RouteSelection, Source};

/// The plugin.
pub struct Plugin;

impl RouteSelection for Plugin {
    /// `select_one` installs a prefix's only candidate (it is its own best):
    /// the gateway need not ask about those prefixes. Remove this line if
    /// your rule may refuse a lone candidate.
    const INSTALLS_LONE_CANDIDATE: bool = true;

    fn select(prefixes: Vec<PrefixCandidates<'_>>) -> Vec<Vec<u32>> {
        prefixes.iter().map(select_one).collect()
    }
}

/// The decision for one prefix: indexes of the candidates to install.
pub fn select_one(p: &PrefixCandidates<'_>) -> Vec<u32> {
    let indexes = 0..p.candidates.len() as u32;
    let of = |i: &u32| &p.candidates[*i as usize];
    let statics: Vec<u32> = indexes
        .clone()
        .filter(|i| of(i).source == Source::StaticRoute)
        .collect();
    if !statics.is_empty() {
        return statics;
    }
    let best = p.candidates.iter().filter_map(|c| c.route.local_pref).max();
    indexes.filter(|i| of(i).route.local_pref == best).collect()
}

sitelink_plugin::export_route_selection!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use sitelink_plugin::route_selection::Candidate;
    use sitelink_plugin::types::{no_attributes, AttributeView, Attributes, IpAddress, Prefix, Route};

    const PREFIX: Prefix = Prefix {
        address: IpAddress::V4(0x0a01_0000),
        length: 24,
    };

    fn local_pref(local_pref: Option<u32>) -> Attributes {
        Attributes {
            local_pref,
            ..no_attributes()
        }
    }

    fn candidate<'a>(source: Source, attributes: &'a AttributeView<'a>) -> Candidate<'a> {
        Candidate {
            source,
            connection: "office",
            tunnel: None,
            route: Route::new(PREFIX, attributes),
        }
    }

    fn prefix(candidates: Vec<Candidate<'_>>) -> PrefixCandidates<'_> {
        PrefixCandidates {
            prefix: PREFIX,
            candidates,
        }
    }

    #[test]
    fn statics_first_then_the_highest_local_pref() {
        let (none, lp100, lp200) = (local_pref(None), local_pref(Some(100)), local_pref(Some(200)));
        let (none, lp100, lp200) = (
            AttributeView::from(&none),
            AttributeView::from(&lp100),
            AttributeView::from(&lp200),
        );
        let p = prefix(vec![
            candidate(Source::Bgp, &lp200),
            candidate(Source::StaticRoute, &none),
        ]);
        assert_eq!(select_one(&p), vec![1]);
        let p = prefix(vec![
            candidate(Source::Bgp, &lp100),
            candidate(Source::Bgp, &lp200),
            candidate(Source::Bgp, &lp200),
        ]);
        assert_eq!(select_one(&p), vec![1, 2]);
    }
}
