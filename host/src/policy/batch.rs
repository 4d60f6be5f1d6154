//! The host's side of a batch crossing (`sitelink:policy@0.3.0`): routes
//! and selection candidates as the host holds them (a prefix and an
//! attribute set shared by `Arc`), and their encoding for a call, in which
//! each distinct attribute set and each source of candidates is listed once
//! and the routes point at them by index; the sets' lists lie end to end
//! in three pools, so that a batch crosses as a handful of lists however
//! many sets it has. A full table has a few thousand distinct sets for a
//! million prefixes, so most of a batch crosses as a prefix and an index.
//! Answers come back the same way and are checked here. This module owns
//! the encoding only; it applies no policy.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::bindings::wire;
use super::bindings::{AttributeSet, AttributeSets, Attributes, CandidateSource, Prefix};
use crate::net_map::FastMap;

/// A route: its prefix and its attributes, shared with the other routes
/// that carry the same (read and write them through `Deref`:
/// `route.as_path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub prefix: Prefix,
    pub attributes: Arc<Attributes>,
}

impl Route {
    pub fn new(prefix: Prefix, attributes: Arc<Attributes>) -> Route {
        Route { prefix, attributes }
    }
}

impl Deref for Route {
    type Target = Attributes;

    fn deref(&self) -> &Attributes {
        &self.attributes
    }
}

/// Copy on write: changing one route's attributes leaves the routes that
/// shared them as they were.
impl DerefMut for Route {
    fn deref_mut(&mut self) -> &mut Attributes {
        Arc::make_mut(&mut self.attributes)
    }
}

/// A filter's verdict on one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Reject,
    Accept,
    /// Accept with these attributes (the prefix stays).
    Modify(Arc<Attributes>),
}

/// One candidate of a prefix for the route-selection slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub source: CandidateSource,
    /// The connection the route leads to (shared: a call names a few
    /// connections for a thousand candidates).
    pub connection: Arc<str>,
    /// For BGP routes, the tunnel (inside CIDR) it was learned over.
    pub tunnel: Option<Arc<str>>,
    pub route: Route,
}

/// A prefix and its candidates, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixCandidates {
    pub prefix: Prefix,
    pub candidates: Vec<Candidate>,
}

/// Attribute sets listed once each, keyed by their `Arc`'s address (the
/// routes of one UPDATE share one), in the form they cross: fixed fields
/// per set, lists end to end in three pools. The index is cleared at each
/// batch: an address is compared only while the batch's routes hold its
/// `Arc`, and kept as a number, so that a plugin may keep the buffers.
struct Sets {
    index: FastMap<usize, u32>,
    /// The set the last route named: the next route of the same UPDATE
    /// names it again, and needs no lookup.
    last: Option<(usize, u32)>,
    wire: AttributeSets,
}

impl Default for Sets {
    fn default() -> Sets {
        Sets {
            index: FastMap::default(),
            last: None,
            wire: AttributeSets {
                sets: Vec::new(),
                as_paths: Vec::new(),
                communities: Vec::new(),
                large_communities: Vec::new(),
            },
        }
    }
}

impl Sets {
    /// Empty, with room for `n` sets.
    fn with_room(n: usize) -> Sets {
        let mut sets = Sets::default();
        sets.clear(n);
        sets
    }

    /// Empty, with the room it had, and room for `n` sets (a batch of `n`
    /// routes has at most `n`).
    fn clear(&mut self, n: usize) {
        self.index.clear();
        self.last = None;
        let w = &mut self.wire;
        w.sets.clear();
        w.sets.reserve(n);
        w.as_paths.clear();
        w.communities.clear();
        w.large_communities.clear();
    }

    fn of(&mut self, attributes: &Arc<Attributes>) -> u32 {
        let key = Arc::as_ptr(attributes) as usize;
        if let Some((last, i)) = self.last {
            if last == key {
                return i;
            }
        }
        let wire = &mut self.wire;
        let i = *self
            .index
            .entry(key)
            .or_insert_with(|| wire.push(attributes));
        self.last = Some((key, i));
        i
    }
}

impl AttributeSets {
    /// Appends a set; returns its index.
    fn push(&mut self, a: &Attributes) -> u32 {
        let index = count(self.sets.len());
        self.as_paths.extend_from_slice(&a.as_path);
        self.communities.extend_from_slice(&a.communities);
        self.large_communities
            .extend_from_slice(&a.large_communities);
        self.sets.push(AttributeSet {
            next_hop: a.next_hop,
            origin: a.origin,
            med: a.med,
            local_pref: a.local_pref,
            as_path_end: count(self.as_paths.len()),
            communities_end: count(self.communities.len()),
            large_communities_end: count(self.large_communities.len()),
        });
        index
    }
}

/// `n` as a list index or end of a batch. A batch is at most FILTER_CHUNK
/// routes, or a selection call's candidates, each set within MAX_AS_PATH,
/// MAX_COMMUNITIES and MAX_LARGE_COMMUNITIES: its counts fit a u32 with
/// room to spare. Were one to saturate, the plugin would trap on it and the
/// default would answer the call.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A filter call's input: each attribute set once, routes by index. A
/// plugin keeps one from call to call: [`FilterInput::fill`] replaces the
/// last batch and keeps the room it had, so that once the first batches
/// have grown it a call allocates nothing to send its routes.
#[derive(Default)]
pub struct FilterInput {
    sets: Sets,
    routes: Vec<wire::Route>,
}

impl FilterInput {
    /// Makes this the input for `routes`.
    pub fn fill(&mut self, routes: &[Route]) {
        self.sets.clear(routes.len());
        self.routes.clear();
        self.routes.extend(routes.iter().map(|r| wire::Route {
            prefix: r.prefix,
            attributes: self.sets.of(&r.attributes),
        }));
    }

    pub fn attributes(&self) -> &AttributeSets {
        &self.sets.wire
    }

    pub fn routes(&self) -> &[wire::Route] {
        &self.routes
    }
}

/// The most ASNs a filter's answer may put in an AS path: one AS_SEQUENCE
/// segment, prepends included (`wit/policy.wit`).
pub const MAX_AS_PATH: usize = 255;
/// The most standard communities in an answer's attribute set.
pub const MAX_COMMUNITIES: usize = 255;
/// The most large communities in an answer's attribute set.
pub const MAX_LARGE_COMMUNITIES: usize = 64;

/// Which bound a route's attributes exceed, if any: the bounds on what a
/// filter may answer, which import also holds received routes to (so a
/// plugin that keeps a route's lists as they are never exceeds them).
/// Together they keep the plugin's part of a route's attributes within
/// about 3.4 KB (256 ASNs sent twice to a 2-octet peer, as AS_PATH and
/// AS4_PATH, 1 KB of communities, 768 bytes of large ones), so that it fits
/// one 4,096-byte UPDATE with its prefix (the `plugin_answers` fuzz target
/// checks it). Attributes a route brings that no plugin sets (unknown
/// transitive ones, AGGREGATOR) come on top: a route they push past 4,096
/// bytes is not advertised.
pub fn bound_exceeded(as_path: usize, communities: usize, large: usize) -> Option<String> {
    [
        ("ASNs in the AS path", as_path, MAX_AS_PATH),
        ("communities", communities, MAX_COMMUNITIES),
        ("large communities", large, MAX_LARGE_COMMUNITIES),
    ]
    .into_iter()
    .find(|(_, len, max)| len > max)
    .map(|(what, len, max)| format!("{len} {what}, more than the {max} allowed"))
}

fn exceeded(a: &Attributes) -> Option<String> {
    bound_exceeded(
        a.as_path.len(),
        a.communities.len(),
        a.large_communities.len(),
    )
}

/// A filter's answer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Per route, in input order.
    pub verdicts: Vec<Verdict>,
    /// Routes the plugin modified beyond the bounds: rejected.
    pub over_bounds: usize,
    /// The first such set's excess, for the log.
    pub excess: Option<String>,
}

/// A filter's answer for `routes`, checked: a verdict per route, each
/// `modify` naming an attribute set of the answer, no more sets than
/// routes (else the answer is refused whole, a fault). A route modified
/// beyond [`MAX_AS_PATH`], [`MAX_COMMUNITIES`] or [`MAX_LARGE_COMMUNITIES`]
/// is rejected, alone: the rest of the answer stands, so a route cannot
/// make the whole batch fall back to the default.
pub fn verdicts(routes: &[Route], answer: wire::Verdicts) -> Result<Checked, String> {
    if answer.verdicts.len() != routes.len() {
        return Err(format!(
            "{} verdicts for {} routes",
            answer.verdicts.len(),
            routes.len()
        ));
    }
    if answer.attributes.len() > routes.len() {
        return Err(format!(
            "{} attribute sets for {} routes (at most one per route)",
            answer.attributes.len(),
            routes.len()
        ));
    }
    let mut excess = None;
    let sets: Vec<Option<Arc<Attributes>>> = answer
        .attributes
        .into_iter()
        .enumerate()
        .map(|(i, a)| match exceeded(&a) {
            None => Some(Arc::new(a)),
            Some(e) => {
                excess.get_or_insert_with(|| format!("attribute set {i}: {e}"));
                None
            }
        })
        .collect();
    let mut over_bounds = 0;
    let verdicts = answer
        .verdicts
        .into_iter()
        .map(|v| match v {
            wire::Verdict::Reject => Ok(Verdict::Reject),
            wire::Verdict::Accept => Ok(Verdict::Accept),
            wire::Verdict::Modify(i) => match sets.get(i as usize) {
                Some(Some(a)) => Ok(Verdict::Modify(a.clone())),
                Some(None) => {
                    over_bounds += 1;
                    Ok(Verdict::Reject)
                }
                None => Err(format!(
                    "modify names attribute set {i}, but the answer lists {}",
                    sets.len()
                )),
            },
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Checked {
        verdicts,
        over_bounds,
        excess,
    })
}

/// A selection call's input: each attribute set and each source of
/// candidates once, candidates by index.
///
/// Every prefix's candidates lie end to end in `candidates`
/// (`wire::PrefixCandidates::candidates_end`), so that a call lowers one
/// list for them, not one per prefix.
pub struct SelectionInput {
    pub attributes: AttributeSets,
    pub vias: Vec<wire::Via>,
    pub prefixes: Vec<wire::PrefixCandidates>,
    pub candidates: Vec<wire::Candidate>,
}

impl SelectionInput {
    pub fn of(input: &[PrefixCandidates]) -> SelectionInput {
        let total = input.iter().map(|p| p.candidates.len()).sum();
        let mut sets = Sets::with_room(total);
        let mut vias: Vec<wire::Via> = Vec::new();
        let mut via_index: FastMap<(CandidateSource, &str, Option<&str>), u32> = FastMap::default();
        let mut candidates = Vec::with_capacity(total);
        let mut prefixes = Vec::with_capacity(input.len());
        for p in input {
            for c in &p.candidates {
                let key = (c.source, &*c.connection, c.tunnel.as_deref());
                let next = count(vias.len());
                let via = *via_index.entry(key).or_insert_with(|| {
                    vias.push(wire::Via {
                        source: c.source,
                        connection: c.connection.to_string(),
                        tunnel: c.tunnel.as_deref().map(str::to_string),
                    });
                    next
                });
                candidates.push(wire::Candidate {
                    via,
                    attributes: sets.of(&c.route.attributes),
                });
            }
            prefixes.push(wire::PrefixCandidates {
                prefix: p.prefix,
                candidates_end: count(candidates.len()),
            });
        }
        SelectionInput {
            attributes: sets.wire,
            vias,
            prefixes,
            candidates,
        }
    }
}

/// A selection's answer for `prefixes` prefixes, cut into each prefix's
/// indexes: one end per prefix, in order, the last at the end of the
/// indexes (else the answer is refused, as a fault: an answer that wrote
/// each list's start instead of its end must not install the wrong
/// candidates). Whether each index is in range and distinct is
/// `validate::selection`'s to check.
pub fn selected(answer: wire::Selected, prefixes: usize) -> Result<Vec<Vec<u32>>, String> {
    if answer.ends.len() != prefixes {
        return Err(format!(
            "{} ends for {prefixes} prefixes",
            answer.ends.len()
        ));
    }
    let total = answer.indexes.len();
    let mut lists = Vec::with_capacity(prefixes);
    let mut start = 0;
    for (i, &end) in answer.ends.iter().enumerate() {
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        if end < start {
            return Err(format!(
                "prefix {i}'s indexes end at {end}, before the previous prefix's end {start}"
            ));
        }
        let Some(list) = answer.indexes.get(start..end) else {
            return Err(format!(
                "prefix {i}'s indexes end at {end}, past the {total} indexes"
            ));
        };
        lists.push(list.to_vec());
        start = end;
    }
    if start != total {
        return Err(format!(
            "the last prefix's indexes end at {start}, but there are {total} indexes"
        ));
    }
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{IpAddress, LargeCommunity, Origin};

    fn attrs(lp: u32) -> Arc<Attributes> {
        Arc::new(Attributes {
            next_hop: None,
            as_path: vec![65000, 65010],
            origin: Origin::Igp,
            med: None,
            local_pref: Some(lp),
            communities: vec![],
            large_communities: vec![],
        })
    }

    fn prefix(n: u32) -> Prefix {
        Prefix {
            address: IpAddress::V4(0x0a00_0000 | n << 8),
            length: 24,
        }
    }

    #[test]
    fn routes_sharing_attributes_cross_them_once() {
        let (a, b) = (attrs(100), attrs(200));
        let routes: Vec<Route> = (0..6)
            .map(|n| Route::new(prefix(n), if n % 3 == 0 { b.clone() } else { a.clone() }))
            .collect();
        let mut input = FilterInput::default();
        input.fill(&routes);
        let sets = input.attributes();
        assert_eq!(sets.sets.len(), 2);
        assert_eq!(sets.sets[0].local_pref, Some(200));
        assert_eq!(sets.sets[1].local_pref, Some(100));
        let idx: Vec<u32> = input.routes().iter().map(|r| r.attributes).collect();
        assert_eq!(idx, [0, 1, 1, 0, 1, 1]);
        assert_eq!(input.routes()[4].prefix, prefix(4));
        // Filled again, it holds the new batch only: one set, its lists
        // alone in the pools.
        input.fill(&routes[1..3]);
        let sets = input.attributes();
        assert_eq!(sets.sets.len(), 1);
        assert_eq!(sets.as_paths, [65000, 65010]);
        assert_eq!(sets.sets[0].as_path_end, 2);
        assert!(sets.communities.is_empty() && sets.large_communities.is_empty());
        let idx: Vec<u32> = input.routes().iter().map(|r| r.attributes).collect();
        assert_eq!(idx, [0, 0]);
    }

    #[test]
    fn the_lists_of_every_set_lie_end_to_end_in_the_pools() {
        let large = |n: u32| LargeCommunity {
            global_admin: n,
            local_data1: 0,
            local_data2: 0,
        };
        let set = |path: Vec<u32>, communities: Vec<u32>, large: Vec<LargeCommunity>| {
            Arc::new(Attributes {
                next_hop: Some(IpAddress::V4(7)),
                as_path: path,
                origin: Origin::Egp,
                med: Some(5),
                local_pref: None,
                communities,
                large_communities: large,
            })
        };
        let routes = [
            Route::new(prefix(0), set(vec![1, 2], vec![], vec![large(9)])),
            Route::new(prefix(1), set(vec![], vec![10, 11, 12], vec![])),
            Route::new(prefix(2), set(vec![3], vec![13], vec![large(8), large(7)])),
        ];
        let mut input = FilterInput::default();
        input.fill(&routes);
        let w = input.attributes();
        assert_eq!(w.as_paths, [1, 2, 3]);
        assert_eq!(w.communities, [10, 11, 12, 13]);
        assert_eq!(w.large_communities, [large(9), large(8), large(7)]);
        let ends: Vec<(u32, u32, u32)> = w
            .sets
            .iter()
            .map(|s| (s.as_path_end, s.communities_end, s.large_communities_end))
            .collect();
        assert_eq!(ends, [(2, 0, 1), (2, 3, 1), (3, 4, 3)]);
        assert!(w.sets.iter().all(|s| s.next_hop == Some(IpAddress::V4(7))
            && s.origin == Origin::Egp
            && s.med == Some(5)
            && s.local_pref.is_none()));
    }

    #[test]
    fn answers_are_checked_and_decoded() {
        let routes = vec![Route::new(prefix(1), attrs(100)); 3];
        let answer = |verdicts: Vec<wire::Verdict>| wire::Verdicts {
            attributes: vec![(*attrs(300)).clone()],
            verdicts,
        };
        use wire::Verdict::{Accept, Modify, Reject};
        let v = verdicts(&routes, answer(vec![Accept, Reject, Modify(0)]))
            .unwrap()
            .verdicts;
        assert_eq!(v[..2], [Verdict::Accept, Verdict::Reject]);
        assert!(matches!(&v[2], Verdict::Modify(a) if a.local_pref == Some(300)));
        assert_eq!(
            verdicts(&routes, answer(vec![Accept])).unwrap_err(),
            "1 verdicts for 3 routes"
        );
        assert_eq!(
            verdicts(&routes, answer(vec![Accept, Accept, Modify(1)])).unwrap_err(),
            "modify names attribute set 1, but the answer lists 1"
        );
    }

    #[test]
    fn a_route_modified_past_the_bounds_is_rejected_alone() {
        let routes = vec![Route::new(prefix(1), attrs(100)); 3];
        let mut long = (*attrs(300)).clone();
        long.large_communities = vec![
            LargeCommunity {
                global_admin: 1,
                local_data1: 2,
                local_data2: 3,
            };
            MAX_LARGE_COMMUNITIES + 1
        ];
        use wire::Verdict::{Accept, Modify};
        let answer = wire::Verdicts {
            attributes: vec![(*attrs(300)).clone(), long],
            verdicts: vec![Modify(0), Modify(1), Accept],
        };
        let checked = verdicts(&routes, answer).expect("the answer stands");
        assert!(matches!(&checked.verdicts[0], Verdict::Modify(a) if a.local_pref == Some(300)));
        assert_eq!(checked.verdicts[1..], [Verdict::Reject, Verdict::Accept]);
        assert_eq!(checked.over_bounds, 1);
        assert_eq!(
            checked.excess.as_deref(),
            Some("attribute set 1: 65 large communities, more than the 64 allowed")
        );
        assert_eq!(bound_exceeded(255, 255, 64), None);
        assert!(bound_exceeded(256, 0, 0).is_some_and(|e| e.contains("256 ASNs")));
    }

    #[test]
    fn candidates_name_their_via_and_attributes_by_index() {
        let a = attrs(100);
        let cand = |connection: &str, tunnel: Option<&str>| Candidate {
            source: CandidateSource::Bgp,
            connection: connection.into(),
            tunnel: tunnel.map(Into::into),
            route: Route::new(prefix(0), a.clone()),
        };
        let input = [
            PrefixCandidates {
                prefix: prefix(0),
                candidates: vec![cand("vpn-1", Some("t1")), cand("vpn-1", Some("t2"))],
            },
            PrefixCandidates {
                prefix: prefix(1),
                candidates: vec![cand("vpn-1", Some("t2"))],
            },
        ];
        let w = SelectionInput::of(&input);
        assert_eq!(w.attributes.sets.len(), 1);
        assert_eq!(w.vias.len(), 2);
        assert_eq!(w.vias[1].tunnel.as_deref(), Some("t2"));
        let vias: Vec<u32> = w.candidates.iter().map(|c| c.via).collect();
        assert_eq!(vias, [0, 1, 1]);
        let ends: Vec<u32> = w.prefixes.iter().map(|p| p.candidates_end).collect();
        assert_eq!(
            ends,
            [2, 3],
            "prefix 0 has candidates 0-1, prefix 1 candidate 2"
        );
    }

    #[test]
    fn a_selection_answer_is_cut_at_its_ends() {
        let answer = |indexes: Vec<u32>, ends: Vec<u32>| wire::Selected { indexes, ends };
        assert_eq!(
            selected(answer(vec![1, 0, 2, 0], vec![1, 1, 4]), 3),
            Ok(vec![vec![1], vec![], vec![0, 2, 0]])
        );
        assert_eq!(selected(answer(vec![], vec![]), 0), Ok(vec![]));
        assert_eq!(
            selected(answer(vec![0], vec![1]), 2).unwrap_err(),
            "1 ends for 2 prefixes"
        );
        assert_eq!(
            selected(answer(vec![0, 1], vec![2, 1]), 2).unwrap_err(),
            "prefix 1's indexes end at 1, before the previous prefix's end 2"
        );
        assert_eq!(
            selected(answer(vec![0, 1], vec![1, 3]), 2).unwrap_err(),
            "prefix 1's indexes end at 3, past the 2 indexes"
        );
        // Starts written for ends: [a], [b, c] sent as ends [0, 1].
        assert_eq!(
            selected(answer(vec![7, 8, 9], vec![0, 1]), 2).unwrap_err(),
            "the last prefix's indexes end at 1, but there are 3 indexes"
        );
        assert!(selected(answer(vec![0], vec![]), 0).is_err());
    }
}
