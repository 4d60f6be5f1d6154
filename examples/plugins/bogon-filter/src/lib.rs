//! `bogon-filter`: a BGP import filter that rejects routes no peer should
//! send: bogon prefixes (RFC 1918, RFC 6598, loopback, link-local,
//! multicast, reserved, documentation, IPv6 bogons: see
//! `sitelink_plugin::net::BOGONS_V4`/`BOGONS_V6`), the default route,
//! prefixes longer than /24 (IPv4) or /48 (IPv6), and AS paths longer than
//! `max_as_path`. Everything else is accepted unchanged; exports are not
//! filtered.
//!
//! Parameters: `max_as_path` (default 50); `allow_ula` (default false: let
//! fc00::/7 through); `allow_private` (default false: let RFC 1918, RFC 6598
//! and ULA prefixes through). Site-to-site VPNs usually carry private
//! prefixes, so on such a connection set `allow_private = "true"`.

use sitelink_plugin::bgp_filter::{BgpFilter, Peer, Route, Verdict};
use sitelink_plugin::types::IpAddress;
use sitelink_plugin::{log, net, params};

/// The plugin.
pub struct BogonFilter;

/// The parameters it takes.
pub const PARAMS: &[params::Param] = &[
    params::Param {
        key: "max_as_path",
        kind: params::Kind::Unsigned,
    },
    params::Param {
        key: "allow_ula",
        kind: params::Kind::Bool,
    },
    params::Param {
        key: "allow_private",
        kind: params::Kind::Bool,
    },
];

impl BgpFilter for BogonFilter {
    // A misspelt key or a bad value refuses the plugin at load.
    const PARAMS: Option<&'static [params::Param]> = Some(PARAMS);

    fn import_filter(peer: Peer, routes: Vec<Route<'_>>) -> Vec<Verdict> {
        let cfg = Config {
            max_as_path: params::get_or("max_as_path", 50),
            allow_ula: params::get_bool("allow_ula", false),
            allow_private: params::get_bool("allow_private", false),
        };
        let mut rejected = Vec::new();
        let verdicts = routes
            .iter()
            .map(|r| match check(r, &cfg) {
                Ok(()) => Verdict::Accept,
                Err(why) => {
                    rejected.push((net::format_prefix(&r.prefix), why));
                    Verdict::Reject
                }
            })
            .collect();
        if let Some((prefix, why)) = rejected.first() {
            log::info(format!(
                "rejected {} of {} routes from AS{} over {} (first: {prefix}: {why})",
                rejected.len(),
                routes.len(),
                peer.asn,
                peer.tunnel
            ));
        }
        verdicts
    }
}

sitelink_plugin::export_bgp_filter!(BogonFilter);

/// The plugin's parameters.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_as_path: usize,
    pub allow_ula: bool,
    pub allow_private: bool,
}

/// `Ok` if `route` may be imported, else why not.
pub fn check(route: &Route, cfg: &Config) -> Result<(), String> {
    let p = &route.prefix;
    if net::is_default(p) {
        return Err("default route".into());
    }
    let (v6, max_len) = match p.address {
        IpAddress::V4(_) => (false, 24),
        IpAddress::V6(_) => (true, 48),
    };
    if p.length > max_len {
        return Err(format!("longer than /{max_len}"));
    }
    if let Some(b) = net::bogon(p) {
        let allowed = b.private && (cfg.allow_private || (v6 && cfg.allow_ula));
        if !allowed {
            return Err(format!("within {} ({})", b.cidr, b.what));
        }
    }
    if route.as_path.len() > cfg.max_as_path {
        return Err(format!(
            "AS path of {} > {}",
            route.as_path.len(),
            cfg.max_as_path
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitelink_plugin::types::{no_attributes, AttributeView, Attributes};

    /// `check` on a route for `prefix` with an AS path of `path` hops.
    fn check_route(prefix: &str, path: usize, cfg: &Config) -> Result<(), String> {
        let a = Attributes {
            as_path: vec![64512; path],
            ..no_attributes()
        };
        let a = AttributeView::from(&a);
        check(&Route::new(net::parse_prefix(prefix).unwrap(), &a), cfg)
    }

    const STRICT: Config = Config {
        max_as_path: 50,
        allow_ula: false,
        allow_private: false,
    };

    fn ok(prefix: &str, cfg: &Config) -> bool {
        check_route(prefix, 1, cfg).is_ok()
    }

    #[test]
    fn accepts_global_unicast() {
        assert!(ok("8.8.8.0/24", &STRICT));
        assert!(ok("2600:1f00::/24", &STRICT));
        assert!(ok("2a00:1450::/32", &STRICT));
    }

    #[test]
    fn rejects_bogons_v4() {
        for p in [
            "10.0.0.0/8",
            "172.20.0.0/16",
            "192.168.1.0/24",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.10.0/24",
            "224.0.0.0/4",
            "240.0.0.0/8",
            "192.0.2.0/24",
            "0.0.0.0/8",
        ] {
            assert!(!ok(p, &STRICT), "{p}");
        }
    }

    #[test]
    fn rejects_bogons_v6_default_and_too_specific() {
        for p in [
            "2001:db8::/32",
            "fe80::/10",
            "ff02::/16",
            "::1/128",
            "fd12::/16",
            "0.0.0.0/0",
            "::/0",
        ] {
            assert!(!ok(p, &STRICT), "{p}");
        }
        assert!(!ok("8.8.8.0/25", &STRICT));
        assert!(!ok("2600:1f00:1:1::/64", &STRICT));
        assert!(ok("2600:1f00:1::/48", &STRICT));
    }

    #[test]
    fn private_and_ula_switches() {
        let ula = Config {
            allow_ula: true,
            ..STRICT
        };
        assert!(ok("fd12::/16", &ula));
        assert!(!ok("10.0.0.0/8", &ula));
        let private = Config {
            allow_private: true,
            ..STRICT
        };
        assert!(ok("10.1.0.0/16", &private));
        assert!(ok("100.64.0.0/10", &private));
        assert!(ok("fd12::/16", &private));
        // Still no loopback, documentation or too-specific private prefixes.
        assert!(!ok("127.0.0.0/8", &private));
        assert!(!ok("2001:db8::/32", &private));
        assert!(!ok("10.1.1.0/25", &private));
    }

    #[test]
    fn as_path_length() {
        assert!(check_route("8.8.8.0/24", 50, &STRICT).is_ok());
        assert!(check_route("8.8.8.0/24", 51, &STRICT).is_err());
        let short = Config {
            max_as_path: 3,
            ..STRICT
        };
        assert!(check_route("8.8.8.0/24", 4, &short).is_err());
    }
}
