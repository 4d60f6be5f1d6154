//! `fault-flaky-filter`: a test-only bgp-filter plugin whose first import
//! calls fault and whose later ones accept every route: a fault that
//! passes, as a call cut by its deadline on a busy machine would. The
//! host must refuse the routes of a faulted call (fail closed) and filter
//! them again a second later, when they are accepted.
//!
//! A faulting call answers one verdict short, a contract violation that
//! leaves the instance (and so the count of calls) in place; a trap would
//! start a new instance. Parameters:
//! - `faults`: how many import calls fault (default 1);
//! - `poison`: N > 0 makes every import call that holds a poisoned prefix
//!   fault, for ever: a prefix whose network number (its address without
//!   its host bits, [`network_number`]) is a multiple of N. Off by default
//!   (0). The host's retries must split such calls until each poisoned
//!   prefix is alone, and accept every other route.

use std::sync::atomic::{AtomicU32, Ordering};

use sitelink_plugin::bgp_filter::{BgpFilter, Peer, Route, Verdict};
use sitelink_plugin::params;
use sitelink_plugin::types::{IpAddress, Prefix};

pub struct FlakyFilter;

/// Import calls answered so far.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// The parameters it takes.
pub const PARAMS: &[params::Param] = &[
    params::Param {
        key: "faults",
        kind: params::Kind::Unsigned,
    },
    params::Param {
        key: "poison",
        kind: params::Kind::Unsigned,
    },
];

/// The prefix's address shifted right by its host bits: 20.0.1.0/24 is
/// 0x140001, fd10:0:1::/48 is 0xfd10_0000_0001.
pub fn network_number(prefix: &Prefix) -> u128 {
    let (value, bits): (u128, u32) = match prefix.address {
        IpAddress::V4(a) => (u128::from(a), 32),
        IpAddress::V6((hi, lo)) => ((u128::from(hi) << 64) | u128::from(lo), 128),
    };
    let host = bits.saturating_sub(u32::from(prefix.length));
    value.checked_shr(host).unwrap_or(0)
}

impl BgpFilter for FlakyFilter {
    const PARAMS: Option<&'static [params::Param]> = Some(PARAMS);

    fn import_filter(_peer: Peer, routes: Vec<Route<'_>>) -> Vec<Verdict> {
        let faults: u32 = params::get_or("faults", 1);
        let poison: u64 = params::get_or("poison", 0);
        let mut verdicts = vec![Verdict::Accept; routes.len()];
        // Calls with no route (the host's check of the parameters) do not
        // count.
        let flaky = !routes.is_empty() && CALLS.fetch_add(1, Ordering::Relaxed) < faults;
        let poisoned = poison > 0
            && routes
                .iter()
                .any(|r| network_number(&r.prefix) % u128::from(poison) == 0);
        if flaky || poisoned {
            verdicts.pop();
        }
        verdicts
    }
}

sitelink_plugin::export_bgp_filter!(FlakyFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use sitelink_plugin::net::parse_prefix;

    #[test]
    fn network_numbers_drop_the_host_bits() {
        let n = |s: &str| network_number(&parse_prefix(s).expect(s));
        assert_eq!(n("20.0.1.0/24"), 0x14_0001);
        assert_eq!(n("fd10:0:1::/48"), 0xfd10_0000_0001);
        assert_eq!(n("0.0.0.0/0"), 0);
        assert_eq!(n("::/0"), 0);
        assert_eq!(n("10.0.0.1/32"), 0x0a00_0001);
    }
}
