//! The three plugin slots as the control loop sees them: each holds at most
//! one [`Plugin`] and always answers, never failing towards the host. This
//! module owns the answer checks (the contract's rules on shapes and values)
//! and the fault rules (see [`DecidedBy`]); it must not compile or instantiate plugins, and must
//! not apply answers (the caller turns them into FIB or BGP changes).

use std::fmt;
use std::time::{Duration, Instant};

use super::batch::{self, PrefixCandidates, Route, SelectionInput, Verdict};
use super::bindings::{ConnectionHealth, IpAddress, Peer, Prefix};
use super::shadow::Shadow;
use super::{defaults, Fault, Plugin, PluginError, PluginInfo, Slot};

/// Where an answer came from, and the fault rules that decide it.
///
/// A call faults when the plugin traps, runs past its deadline,
/// exceeds its memory cap, or answers something the contract forbids (see
/// [`validate`]). The whole answer of a faulting call is discarded, never
/// partly used. Its place is taken:
/// - failover, per connection: by the weights in force now (the input's
///   `weight`, i.e. the last decision: [`DecidedBy::LastGood`]) if they are
///   still usable (some tunnel weighted, every weighted tunnel up, every
///   weight within 0..=1000); otherwise by the native default
///   ([`DecidedBy::Default`]), so a dead tunnel is never kept active because
///   a plugin failed;
/// - selection and filters: by the native default (a per-route "last good"
///   would need the RIB, which the caller has; note that the filter default
///   accepts every route).
///
/// Every fault is counted, kept as `last_fault` and logged (warn, with plugin,
/// slot and what was wrong). After `max_faults` consecutive faults the plugin
/// is quarantined: it gets no more calls, the native default answers, and an
/// error is logged; installing a plugin (the same one again included) or
/// removing it lifts the quarantine and resets the counters. A good answer
/// resets the consecutive count. A retry of routes a filter faulted on
/// ([`FilterSlot::import_filter_retry`]) is counted and logged but left out
/// of the consecutive count. With no plugin, the native default answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecidedBy {
    /// The plugin, whose answer passed the checks.
    Plugin,
    /// The native default.
    Default,
    /// The decision in force before the call (failover only).
    LastGood,
}

/// The failover slot's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Per connection, in input order, a weight per tunnel, in order.
    pub weights: Vec<Vec<u32>>,
    /// Per connection, where its weights came from.
    pub by: Vec<DecidedBy>,
    /// The plugin's fault, if it faulted on this call.
    pub fault: Option<Fault>,
}

/// The route-selection slot's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Per prefix, in input order, the candidate indexes to install.
    pub installed: Vec<Vec<u32>>,
    /// Where it came from.
    pub by: DecidedBy,
    /// The plugin's fault, if it faulted on this call.
    pub fault: Option<Fault>,
}

/// The bgp-filter slot's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdicts {
    /// Per route, in input order.
    pub verdicts: Vec<Verdict>,
    /// Where they came from.
    pub by: DecidedBy,
    /// The plugin's fault, if it faulted on this call.
    pub fault: Option<Fault>,
}

/// Which of the two filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Routes received from a peer.
    Import,
    /// Routes about to be advertised to a peer.
    Export,
}

/// Upper bounds of the call-time histogram's buckets, in µs (the last
/// bucket, beyond them, is +Inf).
pub const CALL_BOUNDS_US: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000,
];

/// A slot's counters since its plugin was installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotStats {
    /// Calls made to the plugin.
    pub calls: u64,
    /// Of which faulted.
    pub faults: u64,
    /// Faults since the last good answer.
    pub consecutive_faults: u32,
    /// Time spent in plugin calls, checks included.
    pub call_time: Duration,
    /// Calls per call-time bucket ([`CALL_BOUNDS_US`], then the rest).
    pub call_buckets: [u64; CALL_BOUNDS_US.len() + 1],
    /// No more calls: the default answers.
    pub quarantined: bool,
    /// The latest fault.
    pub last_fault: Option<Fault>,
}

impl SlotStats {
    /// The mean time of a plugin call.
    pub fn mean_call_time(&self) -> Option<Duration> {
        let calls = u32::try_from(self.calls).ok().filter(|&c| c > 0)?;
        Some(self.call_time / calls)
    }

    /// Counts one call that took `took`.
    fn record_call(&mut self, took: Duration) {
        self.calls += 1;
        self.call_time += took;
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let index = CALL_BOUNDS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(CALL_BOUNDS_US.len());
        if let Some(n) = self.call_buckets.get_mut(index) {
            *n += 1;
        }
    }

    /// The call-time histogram: (upper bound in µs, `None` for +Inf;
    /// calls in that bucket).
    pub fn call_histogram(&self) -> Vec<(Option<f64>, u64)> {
        self.call_buckets
            .iter()
            .enumerate()
            .map(|(i, n)| (CALL_BOUNDS_US.get(i).map(|b| *b as f64), *n))
            .collect()
    }
}

/// A slot as `sitelink plugin list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotStatus {
    /// Which slot.
    pub slot: Slot,
    /// The plugin, `None` for the native default.
    pub plugin: Option<PluginInfo>,
    /// Its counters.
    pub stats: SlotStats,
}

/// Whether a call's outcome counts toward the consecutive faults that
/// quarantine a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Streak {
    /// A call on the gateway's work: a fault adds to the streak, an answer
    /// ends it.
    Counts,
    /// A retry of routes the plugin faulted on: the host's own probe, which
    /// neither adds to the streak nor ends it (it is still counted and
    /// logged as a fault).
    Apart,
}

/// What the three slots share: the plugin, its counters, the fault rules.
struct Core {
    slot: Slot,
    max_faults: u32,
    plugin: Option<Plugin>,
    stats: SlotStats,
    /// Quarantined since the owner last asked ([`Core::take_quarantined`]).
    newly_quarantined: bool,
    /// A candidate run beside the plugin on the same inputs, never acted on.
    shadow: Option<Shadow>,
}

impl Core {
    fn take_quarantined(&mut self) -> bool {
        std::mem::take(&mut self.newly_quarantined)
    }

    fn new(slot: Slot, max_faults: u32) -> Core {
        Core {
            slot,
            max_faults,
            plugin: None,
            stats: SlotStats::default(),
            newly_quarantined: false,
            shadow: None,
        }
    }

    fn check_slot(&self, plugin: &Plugin) -> Result<(), PluginError> {
        if plugin.slot() != self.slot {
            return Err(PluginError::WrongSlot {
                path: plugin.info().path.clone(),
                prepared: plugin.slot(),
                slot: self.slot,
            });
        }
        Ok(())
    }

    fn install(&mut self, plugin: Plugin) -> Result<Option<Plugin>, PluginError> {
        self.check_slot(&plugin)?;
        let info = plugin.info();
        tracing::info!(slot = %self.slot, plugin = %info.name, version = %info.version,
            path = %info.path.display(), "plugin installed");
        self.stats = SlotStats::default();
        Ok(self.plugin.replace(plugin))
    }

    fn remove(&mut self) -> Option<Plugin> {
        self.stats = SlotStats::default();
        let old = self.plugin.take();
        if let Some(p) = &old {
            tracing::info!(slot = %self.slot, plugin = %p.info().name, "plugin removed: the native default answers");
        }
        old
    }

    fn status(&self) -> SlotStatus {
        SlotStatus {
            slot: self.slot,
            plugin: self.plugin.as_ref().map(|p| p.info().clone()),
            stats: self.stats.clone(),
        }
    }

    /// Calls the plugin, if there is one to call. `None`: no plugin or
    /// quarantined; `Some(Err)`: it faulted (counted and logged here).
    fn run<T>(
        &mut self,
        call: impl FnOnce(&mut Plugin) -> Result<T, Fault>,
    ) -> Option<Result<T, Fault>> {
        self.run_as(Streak::Counts, call)
    }

    /// [`Core::run`], the call's outcome counting toward quarantine or not
    /// (a retry's: [`Streak::Apart`]).
    fn run_as<T>(
        &mut self,
        streak: Streak,
        call: impl FnOnce(&mut Plugin) -> Result<T, Fault>,
    ) -> Option<Result<T, Fault>> {
        if self.stats.quarantined {
            return None;
        }
        let plugin = self.plugin.as_mut()?;
        let started = Instant::now();
        let result = call(plugin);
        self.stats.record_call(started.elapsed());
        match &result {
            Ok(_) if streak == Streak::Apart => {}
            Ok(_) => self.stats.consecutive_faults = 0,
            Err(fault) => {
                self.stats.faults += 1;
                self.stats.last_fault = Some(fault.clone());
                let name = &plugin.info().name;
                if streak == Streak::Apart {
                    tracing::warn!(slot = %self.slot, plugin = %name,
                        "plugin fault on a retry, its answer is discarded (not counted toward \
                         quarantine): {fault}");
                    return Some(result);
                }
                self.stats.consecutive_faults = self.stats.consecutive_faults.saturating_add(1);
                tracing::warn!(slot = %self.slot, plugin = %name,
                    consecutive = self.stats.consecutive_faults,
                    "plugin fault, its answer is discarded: {fault}");
                if self.stats.consecutive_faults >= self.max_faults {
                    self.stats.quarantined = true;
                    self.newly_quarantined = true;
                    tracing::error!(slot = %self.slot, plugin = %name,
                        "plugin quarantined after {} consecutive faults: the native default answers \
                         from now on; fix it and swap it in again", self.stats.consecutive_faults);
                }
            }
        }
        Some(result)
    }
}

macro_rules! slot_common {
    ($ty:ident, $slot:expr) => {
        impl $ty {
            /// An empty slot (the native default answers); a plugin is
            /// quarantined after `max_faults` consecutive faults.
            pub fn new(max_faults: u32) -> $ty {
                $ty(Core::new($slot, max_faults))
            }

            /// Installs `plugin` (prepared for this slot), returning the
            /// previous one. Counters restart; a quarantine is lifted.
            pub fn install(&mut self, plugin: Plugin) -> Result<Option<Plugin>, PluginError> {
                self.0.install(plugin)
            }

            /// Back to the native default, returning the plugin.
            pub fn remove(&mut self) -> Option<Plugin> {
                self.0.remove()
            }

            /// The plugin and counters.
            pub fn status(&self) -> SlotStatus {
                self.0.status()
            }

            /// Whether an operator's plugin is installed (quarantined or
            /// not): a default answer then stands in for a failed plugin.
            pub fn has_plugin(&self) -> bool {
                self.0.plugin.is_some()
            }

            /// Runs `plugin` in shadow mode from now on (replacing any
            /// shadow), returning the previous one.
            pub fn set_shadow(&mut self, plugin: Plugin) -> Result<Option<Shadow>, PluginError> {
                self.0.check_slot(&plugin)?;
                Ok(self.0.shadow.replace(Shadow::new(plugin)))
            }

            /// Ends shadow mode, returning the candidate.
            pub fn take_shadow(&mut self) -> Option<Shadow> {
                self.0.shadow.take()
            }

            /// The candidate in shadow mode, if any.
            pub fn shadow(&self) -> Option<&Shadow> {
                self.0.shadow.as_ref()
            }

            /// Whether the plugin was quarantined since the last call: what
            /// it decided (or failed to) must be decided again, by the
            /// native default.
            pub fn take_quarantined(&mut self) -> bool {
                self.0.take_quarantined()
            }
        }
    };
}

/// The failover slot.
pub struct FailoverSlot(Core);
slot_common!(FailoverSlot, Slot::Failover);

impl FailoverSlot {
    /// The weights for `input`: the plugin's if it answers correctly, else
    /// per connection the last good or the default (see the module docs).
    pub fn decide(&mut self, input: &[ConnectionHealth]) -> Decision {
        let decision = self.decide_active(input);
        if let Some(shadow) = &mut self.0.shadow {
            shadow.decide(input, &decision.weights);
        }
        decision
    }

    fn decide_active(&mut self, input: &[ConnectionHealth]) -> Decision {
        match self.0.run(|p| p.decide(input)) {
            Some(Ok(weights)) => Decision {
                by: vec![DecidedBy::Plugin; weights.len()],
                weights,
                fault: None,
            },
            Some(Err(fault)) => {
                let (weights, by) = input.iter().map(fallback).unzip();
                Decision {
                    weights,
                    by,
                    fault: Some(fault),
                }
            }
            None => Decision {
                weights: defaults::decide(input),
                by: vec![DecidedBy::Default; input.len()],
                fault: None,
            },
        }
    }
}

/// The last decision if still usable, else the default.
fn fallback(c: &ConnectionHealth) -> (Vec<u32>, DecidedBy) {
    let t = &c.tunnels;
    let usable = t.iter().any(|t| t.weight > 0)
        && t.iter()
            .all(|t| t.weight <= 1000 && (t.weight == 0 || t.up));
    if usable {
        (t.iter().map(|t| t.weight).collect(), DecidedBy::LastGood)
    } else {
        (defaults::decide_one(c), DecidedBy::Default)
    }
}

/// The route-selection slot.
pub struct SelectionSlot(Core);
slot_common!(SelectionSlot, Slot::RouteSelection);

impl SelectionSlot {
    /// Whether whatever answers [`SelectionSlot::select`] installs a
    /// prefix's only candidate, so that the caller may install it without
    /// asking: the native default does; a plugin must say so
    /// (`installs-lone-candidate`), and so must a candidate in shadow mode
    /// (it is compared on the same prefixes).
    pub fn installs_lone_candidate(&self) -> bool {
        let active = match &self.0.plugin {
            Some(p) if !self.0.stats.quarantined => p.info().installs_lone_candidate,
            _ => true,
        };
        let shadow = self
            .0
            .shadow
            .as_ref()
            .is_none_or(|s| s.plugin().info().installs_lone_candidate);
        active && shadow
    }

    /// The candidates to install for `input`: the plugin's if it answers
    /// correctly, else the default's.
    pub fn select(&mut self, input: &[PrefixCandidates]) -> Selection {
        let selection = match self.0.run(|p| p.select(input)) {
            Some(Ok(installed)) => Selection {
                installed,
                by: DecidedBy::Plugin,
                fault: None,
            },
            other => Selection {
                installed: defaults::select(input),
                by: DecidedBy::Default,
                fault: other.and_then(Result::err),
            },
        };
        if let Some(shadow) = &mut self.0.shadow {
            shadow.select(input, &selection.installed);
        }
        selection
    }
}

/// The bgp-filter slot.
pub struct FilterSlot(Core);
slot_common!(FilterSlot, Slot::BgpFilter);

impl FilterSlot {
    /// Verdicts on `routes` received from `peer`.
    pub fn import_filter(&mut self, peer: &Peer, routes: &[Route]) -> Verdicts {
        self.filter(Direction::Import, peer, routes)
    }

    /// [`FilterSlot::import_filter`] for routes it faulted on before, tried
    /// again: its faults here do not count toward quarantine, and its
    /// answers do not end a streak of faults.
    pub fn import_filter_retry(&mut self, peer: &Peer, routes: &[Route]) -> Verdicts {
        self.filter_as(Streak::Apart, Direction::Import, peer, routes)
    }

    /// Verdicts on `routes` about to be advertised to `peer`.
    pub fn export_filter(&mut self, peer: &Peer, routes: &[Route]) -> Verdicts {
        self.filter(Direction::Export, peer, routes)
    }

    /// Verdicts on `routes`: the plugin's if it answers correctly, else the
    /// default's.
    pub fn filter(&mut self, direction: Direction, peer: &Peer, routes: &[Route]) -> Verdicts {
        self.filter_as(Streak::Counts, direction, peer, routes)
    }

    fn filter_as(
        &mut self,
        streak: Streak,
        direction: Direction,
        peer: &Peer,
        routes: &[Route],
    ) -> Verdicts {
        let verdicts = match self.0.run_as(streak, |p| p.filter(direction, peer, routes)) {
            Some(Ok(verdicts)) => Verdicts {
                verdicts,
                by: DecidedBy::Plugin,
                fault: None,
            },
            other => Verdicts {
                verdicts: match direction {
                    Direction::Import => defaults::import_filter(routes),
                    Direction::Export => defaults::export_filter(routes),
                },
                by: DecidedBy::Default,
                fault: other.and_then(Result::err),
            },
        };
        if let Some(shadow) = &mut self.0.shadow {
            shadow.filter(direction, peer, routes, &verdicts.verdicts);
        }
        verdicts
    }
}

/// Checked calls, for the slots and for dry runs of a prepared plugin.
impl Plugin {
    /// One call with an empty input (no routes, no prefixes, no
    /// connections): a plugin that checks its parameters on every call
    /// (`sitelink_plugin::params::require`) refuses bad ones here, at load,
    /// rather than on the first live event.
    pub fn try_empty(&mut self) -> Result<(), Fault> {
        match self.slot() {
            Slot::Failover => self.decide(&[]).map(drop),
            Slot::RouteSelection => self.select(&[]).map(drop),
            Slot::BgpFilter => {
                let peer = Peer {
                    connection: String::new(),
                    tunnel: String::new(),
                    asn: 0,
                    address: super::IpAddress::V4(0),
                };
                self.filter(Direction::Import, &peer, &[]).map(drop)
            }
        }
    }

    /// The plugin's weights for `input`, checked by [`validate::weights`].
    pub fn decide(&mut self, input: &[ConnectionHealth]) -> Result<Vec<Vec<u32>>, Fault> {
        let answer = self.call_decide(input)?;
        validate::weights(input, &answer).map_err(Fault::invalid)?;
        Ok(answer)
    }

    /// The plugin's selection for `input`, cut at its ends by
    /// [`batch::selected`] and checked by [`validate::selection`].
    pub fn select(&mut self, input: &[PrefixCandidates]) -> Result<Vec<Vec<u32>>, Fault> {
        let answer = self.call_select(&SelectionInput::of(input))?;
        let answer = batch::selected(answer, input.len()).map_err(Fault::invalid)?;
        validate::selection(input, &answer).map_err(Fault::invalid)?;
        Ok(answer)
    }

    /// The plugin's verdicts on `routes`, checked by [`batch::verdicts`]
    /// (a verdict per route, each `modify` naming a set of the answer).
    pub fn filter(
        &mut self,
        direction: Direction,
        peer: &Peer,
        routes: &[Route],
    ) -> Result<Vec<Verdict>, Fault> {
        let answer = self.call_filter(direction == Direction::Export, peer, routes)?;
        let checked = batch::verdicts(routes, answer).map_err(Fault::invalid)?;
        if let Some(excess) = &checked.excess {
            tracing::warn!(plugin = %self.info().name, peer = %peer.tunnel, ?direction,
                rejected = checked.over_bounds,
                "routes the plugin modified beyond the answer bounds are rejected ({excess}); \
                 fix: keep AS paths, communities and large communities within 255, 255 and 64");
        }
        Ok(checked.verdicts)
    }
}

/// The contract's rules on answers (`wit/policy.wit`); an `Err` says what
/// was wrong, for the log.
pub mod validate {
    use super::*;

    /// A weight list per connection and a weight per tunnel, each at most
    /// 1000, and some tunnel above 0 in every connection that has tunnels.
    pub fn weights(input: &[ConnectionHealth], answer: &[Vec<u32>]) -> Result<(), String> {
        if answer.len() != input.len() {
            return Err(format!(
                "{} weight lists for {} connections",
                answer.len(),
                input.len()
            ));
        }
        for (c, w) in input.iter().zip(answer) {
            if w.len() != c.tunnels.len() {
                return Err(format!(
                    "connection `{}`: {} weights for {} tunnels",
                    c.name,
                    w.len(),
                    c.tunnels.len()
                ));
            }
            if let Some((t, w)) = c.tunnels.iter().zip(w).find(|(_, &w)| w > 1000) {
                return Err(format!(
                    "connection `{}`: weight {w} for tunnel {} (at most 1000)",
                    c.name, t.tunnel
                ));
            }
            if !w.is_empty() && w.iter().all(|&w| w == 0) {
                return Err(format!("connection `{}`: every tunnel at weight 0", c.name));
            }
        }
        Ok(())
    }

    /// Each prefix's indexes (an answer [`batch::selected`] cut, one list
    /// per prefix) in range and distinct.
    pub fn selection(input: &[PrefixCandidates], answer: &[Vec<u32>]) -> Result<(), String> {
        let mut seen = Vec::new();
        for (p, chosen) in input.iter().zip(answer) {
            let n = p.candidates.len();
            seen.clear();
            seen.resize(n, false);
            for &i in chosen {
                let slot = usize::try_from(i).ok().and_then(|i| seen.get_mut(i));
                match slot {
                    None => {
                        return Err(format!(
                            "prefix {}: index {i} out of range ({n} candidates)",
                            PrefixDisplay(&p.prefix)
                        ))
                    }
                    Some(true) => {
                        return Err(format!(
                            "prefix {}: index {i} twice",
                            PrefixDisplay(&p.prefix)
                        ))
                    }
                    Some(s) => *s = true,
                }
            }
        }
        Ok(())
    }
}

/// A prefix written the usual way.
struct PrefixDisplay<'a>(&'a Prefix);

impl fmt::Display for PrefixDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.address {
            IpAddress::V4(a) => write!(f, "{}/{}", std::net::Ipv4Addr::from(a), self.0.length),
            IpAddress::V6((h, l)) => {
                let a = (u128::from(h) << 64) | u128::from(l);
                write!(f, "{}/{}", std::net::Ipv6Addr::from(a), self.0.length)
            }
        }
    }
}
