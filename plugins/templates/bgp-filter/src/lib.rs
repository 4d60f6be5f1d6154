//! {{project-name}}: a sitelink bgp-filter plugin. Rejects AS paths longer
//! than `max_len` (default 10); everything else is accepted unchanged.

use sitelink_plugin::bgp_filter::{BgpFilter, Peer, Route, Verdict};
use sitelink_plugin::params;

/// The plugin.
pub struct Plugin;

/// The parameters it takes: a misspelt key or a bad value refuses the
/// plugin when the gateway loads it.
pub const PARAMS: &[params::Param] = &[params::Param {
    key: "max_len",
    kind: params::Kind::Unsigned,
}];

impl BgpFilter for Plugin {
    const PARAMS: Option<&'static [params::Param]> = Some(PARAMS);

    fn import_route(_peer: &Peer, route: Route<'_>) -> Verdict {
        decide(&route, params::get_or("max_len", 10))
    }
}

/// The decision, a plain function: tested natively below.
pub fn decide(route: &Route<'_>, max_len: usize) -> Verdict {
    if route.as_path.len() > max_len {
        Verdict::Reject
    } else {
        Verdict::Accept
    }
}

sitelink_plugin::export_bgp_filter!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use sitelink_plugin::types::{no_attributes, AttributeView, Attributes, IpAddress, Prefix};

    /// `decide` on a route of 10.1.0.0/24 with an AS path of `path` hops.
    fn decide_path(path: usize, max_len: usize) -> Verdict {
        let attributes = Attributes {
            as_path: vec![65000; path],
            ..no_attributes()
        };
        let prefix = Prefix {
            address: IpAddress::V4(0x0a01_0000),
            length: 24,
        };
        let attributes = AttributeView::from(&attributes);
        decide(&Route::new(prefix, &attributes), max_len)
    }

    #[test]
    fn long_paths_are_rejected() {
        assert_eq!(decide_path(3, 10), Verdict::Accept);
        assert_eq!(decide_path(11, 10), Verdict::Reject);
    }

    #[test]
    fn parameters_are_read_and_checked() {
        params::set_for_test(&[("max_len", "2")]);
        assert_eq!(params::get_or("max_len", 10), 2);
        assert!(params::check(PARAMS).is_ok());
        params::set_for_test(&[("max-len", "2")]);
        assert!(params::check(PARAMS).is_err(), "a misspelt key");
        params::set_for_test(&[]);
    }
}
