//! The policy-plugin replies: `plugin-list`, and what a `plugin-swap` or
//! `plugin-remove` changed (or, for a dry run, would change).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ids::TunnelCidr;

/// The `plugin-list` reply: every slot, in the order the gateway lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginList {
    pub slots: Vec<SlotStatus>,
}

/// One policy slot with its plugin and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotStatus {
    /// "failover", "route-selection" or "bgp-filter".
    pub slot: String,
    /// The plugin's name, or "built-in default".
    pub plugin: String,
    /// `null` for the built-in default.
    pub version: Option<String>,
    /// The component file; `null` for the built-in default.
    pub path: Option<String>,
    pub calls: u64,
    /// Calls that faulted.
    pub faults: u64,
    /// No more calls: the built-in default answers.
    pub quarantined: bool,
    /// Mean time of a call, checks included; `null` before the first.
    pub mean_call_us: Option<f64>,
    /// Calls by time: (upper bound in µs, `null` for the rest; calls above
    /// the previous bound and up to this one).
    #[serde(default)]
    pub call_histogram: Vec<(Option<f64>, u64)>,
    pub last_fault: Option<String>,
    /// route-selection only: whether the plugin (or the built-in default)
    /// installs a prefix's only candidate, so that it is asked only about
    /// prefixes with several (`installs-lone-candidate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installs_lone_candidate: Option<bool>,
}

/// The `plugin-swap` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapResult {
    pub slot: String,
    /// "name version".
    pub plugin: String,
    /// Nothing was changed: `changes` is what the plugin would do.
    pub dry_run: bool,
    pub changes: Changes,
    /// From the request's arrival to the new plugin answering, compile
    /// time included; absent for a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_ms: Option<f64>,
}

/// The `plugin-shadow`, `plugin-diff` and `plugin-unshadow` reply: a slot's
/// candidate in shadow mode (run beside the plugin on the same inputs, never
/// acted on) and where its answers differed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowReport {
    pub slot: String,
    /// "name version" of the candidate.
    pub plugin: String,
    /// Calls made to it.
    pub calls: u64,
    /// Decisions compared: routes' verdicts, prefixes' selections or
    /// connections' weights.
    pub compared: u64,
    /// Of which differed from the plugin in force.
    pub differed: u64,
    /// Calls it faulted on.
    pub faults: u64,
    pub last_fault: Option<String>,
    /// The first differences, for people.
    pub examples: Vec<String>,
}

/// The `plugin-remove` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveResult {
    pub slot: String,
    /// The plugin's name; `null` when the slot already used the default.
    pub removed: Option<String>,
    pub changes: Changes,
}

/// What a slot's new answer changed: tunnel weights (the failover slot) or
/// installed routes (the route-selection and BGP-filter slots). On the
/// wire: `{"weights": [...]}` or `{"routes": [...], "routes_changed": N}`
/// (the list may be cut; the count is of all the changes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<WeightChange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteChange>>,
    /// How many routes changed, listed or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_changed: Option<u64>,
    /// For a bgp-filter: the received routes whose verdict or attributes
    /// change, "PREFIX over TUNNEL: accept -> modify (local_pref: 100 ->
    /// 200)" (the list may be cut), and how many in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdicts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdicts_changed: Option<u64>,
    /// For a bgp-filter: the stored routes the check (or the dry run)
    /// looked at, session by session (those the host's guard refuses
    /// included). A swap records their results rather than filtering them
    /// again; routes that changed meanwhile go through the slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_checked: Option<u64>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.weights.as_ref().is_none_or(|w| w.is_empty())
            && self.routes.as_ref().is_none_or(|r| r.is_empty())
    }
}

/// A tunnel whose weight changed (0: standby).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightChange {
    /// The VPN connection.
    pub connection: String,
    pub tunnel: TunnelCidr,
    pub from: u32,
    pub to: u32,
}

/// A prefix whose placement changed: where it was installed and where it
/// is, as connection names with the tunnel for BGP routes ("office via
/// 169.254.10.0/30"); empty: not installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteChange {
    pub prefix: IpNet,
    pub from: Vec<String>,
    pub to: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::round_trips;

    #[test]
    fn todays_plugin_list_round_trips() {
        let list: PluginList = round_trips(include_str!("testdata/plugin_list.json"));
        assert_eq!(list.slots[0].version, None);
        assert_eq!(list.slots[1].mean_call_us, Some(35.25));
        assert_eq!(list.slots[1].installs_lone_candidate, Some(false));
        assert_eq!(list.slots[0].installs_lone_candidate, None);
        assert!(list.slots[2].quarantined);
    }

    #[test]
    fn todays_swap_and_remove_answers_round_trip() {
        let swap: SwapResult = round_trips(include_str!("testdata/swap_failover.json"));
        assert_eq!(swap.swap_ms, Some(12.75));
        assert!(matches!(&swap.changes.weights, Some(w) if w.len() == 2 && w[0].to == 0));
        let dry: SwapResult = round_trips(include_str!("testdata/swap_dry_run.json"));
        assert_eq!(dry.swap_ms, None);
        assert!(matches!(&dry.changes.routes, Some(r) if r[1].from.is_empty()));
        let none: SwapResult = round_trips(include_str!("testdata/swap_no_changes.json"));
        assert!(none.changes.is_empty());
        let removed: RemoveResult = round_trips(include_str!("testdata/remove.json"));
        assert_eq!(removed.removed.as_deref(), Some("prefer-zone"));
        let default: RemoveResult = round_trips(include_str!("testdata/remove_default.json"));
        assert_eq!(default.removed, None);
    }

    #[test]
    fn route_changes_carry_their_count() {
        let cut = r#"{"routes": [], "routes_changed": 200000}"#;
        let c: Changes = serde_json::from_str(cut).unwrap();
        assert_eq!(c.routes_changed, Some(200_000));
        assert!(c.is_empty(), "nothing listed");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::from_str::<serde_json::Value>(cut).unwrap()
        );
    }
}
