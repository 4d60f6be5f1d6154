//! Shadow mode: a candidate plugin runs beside a slot's plugin on the live
//! events (the same inputs, in the same calls) and its answers are compared
//! with the ones acted on, never acted on themselves. An operator watches
//! where the two differ (`sitelink plugin diff`) and promotes the candidate
//! only after a clean period. A faulting candidate is counted, never
//! quarantined or retried differently: it changes nothing.
//!
//! Owns: the candidate and its comparison counters. Must not: act on an
//! answer or change what the slot decides.

use super::{ConnectionHealth, Direction, Fault, Peer, Plugin, PrefixCandidates, Route, Verdict};
use crate::routing::wit_route::from_prefix;

/// Differences kept as examples (the first ones; counts go on).
pub const EXAMPLES: usize = 20;

/// What a shadow saw so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShadowStats {
    /// Calls made to the candidate.
    pub calls: u64,
    /// Decisions compared (a route's verdict, a prefix's selection, a
    /// connection's weights).
    pub compared: u64,
    /// Of which differed from the active plugin's.
    pub differed: u64,
    /// Calls the candidate faulted on.
    pub faults: u64,
    pub last_fault: Option<String>,
    /// The first [`EXAMPLES`] differences, for people.
    pub examples: Vec<String>,
}

/// A candidate in shadow mode.
pub struct Shadow {
    plugin: Plugin,
    stats: ShadowStats,
}

impl Shadow {
    pub fn new(plugin: Plugin) -> Shadow {
        Shadow {
            plugin,
            stats: ShadowStats::default(),
        }
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    pub fn into_plugin(self) -> Plugin {
        self.plugin
    }

    pub fn stats(&self) -> &ShadowStats {
        &self.stats
    }

    /// Counts `compared` decisions and each of the `differing`; only the
    /// ones kept as examples are described (a shadow that differs on a
    /// whole table formats 20 lines, not a million).
    fn record<D>(
        &mut self,
        compared: usize,
        differing: impl Iterator<Item = D>,
        mut describe: impl FnMut(D) -> String,
    ) {
        self.stats.compared += compared as u64;
        for difference in differing {
            self.stats.differed += 1;
            if self.stats.examples.len() < EXAMPLES {
                self.stats.examples.push(describe(difference));
            }
        }
    }

    fn call<T>(&mut self, call: impl FnOnce(&mut Plugin) -> Result<T, Fault>) -> Option<T> {
        self.stats.calls += 1;
        match call(&mut self.plugin) {
            Ok(answer) => Some(answer),
            Err(fault) => {
                self.stats.faults += 1;
                self.stats.last_fault = Some(fault.to_string());
                None
            }
        }
    }

    /// The candidate's verdicts on what the active filter just judged.
    pub fn filter(
        &mut self,
        direction: Direction,
        peer: &Peer,
        routes: &[Route],
        active: &[Verdict],
    ) {
        let Some(answer) = self.call(|p| p.filter(direction, peer, routes)) else {
            return;
        };
        let way = match direction {
            Direction::Import => "import",
            Direction::Export => "export",
        };
        let differing = routes
            .iter()
            .zip(active.iter().zip(&answer))
            .filter(|(_, (a, s))| a != s);
        self.record(routes.len(), differing, |(route, (a, s))| {
            format!(
                "{way} {} ({} over {}): active {}, shadow {}",
                prefix_text(route),
                peer.connection,
                peer.tunnel,
                verdict_text(route, a),
                verdict_text(route, s)
            )
        });
    }

    /// The candidate's selection over what the active selection just chose.
    pub fn select(&mut self, input: &[PrefixCandidates], active: &[Vec<u32>]) {
        let Some(answer) = self.call(|p| p.select(input)) else {
            return;
        };
        let differing = input
            .iter()
            .zip(active.iter().zip(&answer))
            .filter(|(_, (a, s))| a != s);
        self.record(input.len(), differing, |(prefix, (a, s))| {
            let name = |picked: &[u32]| -> String {
                let list: Vec<String> = picked
                    .iter()
                    .filter_map(|i| prefix.candidates.get(*i as usize))
                    .map(|c| match &c.tunnel {
                        Some(t) => format!("{} via {t}", c.connection),
                        None => format!("{} (static)", c.connection),
                    })
                    .collect();
                if list.is_empty() {
                    "nothing".into()
                } else {
                    list.join(", ")
                }
            };
            let text = from_prefix(&prefix.prefix).map_or_else(|| "?".into(), |p| p.to_string());
            format!("{text}: active {}, shadow {}", name(a), name(s))
        });
    }

    /// The candidate's weights beside the ones in force.
    pub fn decide(&mut self, input: &[ConnectionHealth], active: &[Vec<u32>]) {
        let Some(answer) = self.call(|p| p.decide(input)) else {
            return;
        };
        let differing = input
            .iter()
            .zip(active.iter().zip(&answer))
            .filter(|(_, (a, s))| a != s);
        self.record(input.len(), differing, |(c, (a, s))| {
            format!("{}: active weights {a:?}, shadow {s:?}", c.name)
        });
    }
}

fn prefix_text(route: &Route) -> String {
    from_prefix(&route.prefix).map_or_else(|| "?".into(), |p| p.to_string())
}

fn verdict_text(route: &Route, v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Reject => "reject".into(),
        Verdict::Modify(after) => {
            format!("modify ({})", super::offline::diff(route, after).join("; "))
        }
    }
}
