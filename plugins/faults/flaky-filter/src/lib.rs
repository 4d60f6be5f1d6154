//! `fault-flaky-filter`: a test-only bgp-filter plugin whose first import
//! calls fault and whose later ones accept every route: a fault that
//! passes, as a call cut by its deadline on a busy machine would. The
//! host must refuse the routes of a faulted call (fail closed) and filter
//! them again a second later, when they are accepted.
//!
//! A faulting call answers one verdict short, a contract violation that
//! leaves the instance (and so the count of calls) in place; a trap would
//! start a new instance. Parameter `faults`: how many import calls fault
//! (default 1).

use std::sync::atomic::{AtomicU32, Ordering};

use sitelink_plugin::bgp_filter::{BgpFilter, Peer, Route, Verdict};
use sitelink_plugin::params;

pub struct FlakyFilter;

/// Import calls answered so far.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// The parameters it takes.
pub const PARAMS: &[params::Param] = &[params::Param {
    key: "faults",
    kind: params::Kind::Unsigned,
}];

impl BgpFilter for FlakyFilter {
    const PARAMS: Option<&'static [params::Param]> = Some(PARAMS);

    fn import_filter(_peer: Peer, routes: Vec<Route<'_>>) -> Vec<Verdict> {
        let faults: u32 = params::get_or("faults", 1);
        let mut verdicts = vec![Verdict::Accept; routes.len()];
        // Calls with no route (the host's check of the parameters) do not
        // count.
        if !routes.is_empty() && CALLS.fetch_add(1, Ordering::Relaxed) < faults {
            verdicts.pop();
        }
        verdicts
    }
}

sitelink_plugin::export_bgp_filter!(FlakyFilter);
