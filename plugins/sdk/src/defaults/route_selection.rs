//! The default route selection, per prefix: static routes beat BGP routes
//! (if any candidate is static, only static candidates compete); then the
//! highest local preference (missing = 100); then the shortest AS path; then
//! the lowest MED (missing = 0). All candidates left are installed (ECMP),
//! by ascending index. No candidates: nothing installed.

use std::cmp::Reverse;

use crate::route_selection::{Candidate, PrefixCandidates, Source};

/// Local preference of a route that has none.
pub const DEFAULT_LOCAL_PREF: u32 = 100;
/// MED of a route that has none.
pub const DEFAULT_MED: u32 = 0;

/// The default rule over a batch: [`select_candidates`] per prefix.
pub fn select(prefixes: &[PrefixCandidates]) -> Vec<Vec<u32>> {
    prefixes
        .iter()
        .map(|p| select_candidates(&p.candidates))
        .collect()
}

/// The indexes (ascending) of the candidates of one prefix to install.
pub fn select_candidates(candidates: &[Candidate]) -> Vec<u32> {
    let any_static = candidates.iter().any(|c| c.source == Source::StaticRoute);
    let competes = |c: &Candidate| !any_static || c.source == Source::StaticRoute;
    let Some(best) = candidates.iter().filter(|c| competes(c)).map(key).min() else {
        return Vec::new();
    };
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| competes(c) && key(c) == best)
        .map(|(i, _)| i as u32)
        .collect()
}

/// Lower is better: highest local-pref, shortest AS path, lowest MED.
fn key(c: &Candidate) -> (Reverse<u32>, usize, u32) {
    let r = &c.route;
    (
        Reverse(r.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
        r.as_path.len(),
        r.med.unwrap_or(DEFAULT_MED),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{no_attributes, AttributeView, Attributes, IpAddress, Prefix, Route};

    /// Candidates over attribute sets that live as long as the test.
    fn cand(source: Source, lp: Option<u32>, path: usize, med: Option<u32>) -> Candidate<'static> {
        let attributes: &'static Attributes = Box::leak(Box::new(Attributes {
            as_path: vec![65000; path],
            med,
            local_pref: lp,
            ..no_attributes()
        }));
        let attributes: &'static AttributeView = Box::leak(Box::new(attributes.into()));
        let prefix = Prefix {
            address: IpAddress::V4(0x0a00_0000),
            length: 16,
        };
        Candidate {
            source,
            connection: "vpn-1",
            tunnel: None,
            route: Route::new(prefix, attributes),
        }
    }

    use Source::{Bgp, StaticRoute};

    #[test]
    fn empty() {
        assert_eq!(select_candidates(&[]), Vec::<u32>::new());
        assert_eq!(select(&[]), Vec::<Vec<u32>>::new());
    }

    #[test]
    fn static_beats_bgp_whatever_its_attributes() {
        let c = [
            cand(Bgp, Some(500), 0, None),
            cand(StaticRoute, None, 0, None),
            cand(Bgp, None, 0, None),
            cand(StaticRoute, None, 0, None),
        ];
        assert_eq!(select_candidates(&c), [1, 3]);
    }

    #[test]
    fn local_pref_then_path_then_med() {
        // Missing local-pref is 100, so explicit 100 ties with it.
        let c = [
            cand(Bgp, None, 2, None),
            cand(Bgp, Some(100), 2, Some(0)),
            cand(Bgp, Some(99), 0, None),
        ];
        assert_eq!(select_candidates(&c), [0, 1]);
        let c = [
            cand(Bgp, None, 3, None),
            cand(Bgp, None, 1, Some(50)),
            cand(Bgp, None, 1, Some(10)),
            cand(Bgp, Some(200), 9, Some(99)),
        ];
        assert_eq!(select_candidates(&c), [3]);
        let c = [
            cand(Bgp, None, 3, None),
            cand(Bgp, None, 1, Some(50)),
            cand(Bgp, None, 1, Some(10)),
            cand(Bgp, None, 1, Some(10)),
        ];
        assert_eq!(select_candidates(&c), [2, 3]);
        // Missing MED is 0: best.
        let c = [cand(Bgp, None, 1, Some(1)), cand(Bgp, None, 1, None)];
        assert_eq!(select_candidates(&c), [1]);
    }
}
