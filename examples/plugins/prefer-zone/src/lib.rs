//! `prefer-zone`: a failover plugin that keeps each connection on the
//! tunnels the operator prefers (e.g. those landing in one availability
//! zone) while they are up, and otherwise applies the default rule.
//!
//! Parameter `prefer`: a comma-separated list of tunnel inside CIDRs, e.g.
//! `prefer = "169.254.11.0/30"`. Tunnels are named by inside CIDR, not by
//! endpoint, because the inside CIDR is the same on both ends of a tunnel
//! while endpoint names are local to each gateway: set the **same list on
//! both gateways** and both pick the same tunnel, which a static connection
//! needs (asymmetric paths break stateful firewalls).
//!
//! Rule, per connection: a preferred tunnel is eligible when it is up and
//! either already carries traffic or has been up for the connection's
//! failback hold (so a flapping tunnel is not taken back at once, and both
//! ends, which see it come up at slightly different times, agree). Static
//! routing: the best-ranked eligible tunnel (ranked as by the default rule)
//! gets 100, the others 0. Dynamic routing: every eligible tunnel gets 100.
//! No eligible tunnel: the default rule.

use sitelink_plugin::defaults::failover as default_rule;
use sitelink_plugin::failover::{ConnectionHealth, Failover, Routing, TunnelHealth};
use sitelink_plugin::log::{self, Level};
use sitelink_plugin::{net, params};

/// The plugin.
pub struct PreferZone;

/// The parameters it takes: a misspelt key or a list that does not parse
/// refuses the plugin at load (`plugin swap`, `sitelink check`), not an
/// error in the log after it was installed.
pub const PARAMS: &[params::Param] = &[params::Param {
    key: "prefer",
    kind: params::Kind::Custom {
        what: "a comma-separated list of tunnel inside CIDRs (e.g. \"169.254.11.0/30\")",
        valid: valid_prefer,
    },
}];

fn valid_prefer(v: &str) -> bool {
    parse_prefer(v).is_ok()
}

impl Failover for PreferZone {
    const PARAMS: Option<&'static [params::Param]> = Some(PARAMS);

    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        let prefer = match params::get("prefer").as_deref().map(parse_prefer) {
            Some(Ok(list)) => list,
            Some(Err(e)) => {
                log::once(
                    Level::Error,
                    format!("prefer: {e}; applying the default rule"),
                );
                Vec::new()
            }
            None => {
                log::once(
                    Level::Warn,
                    "parameter prefer is not set; applying the default rule",
                );
                Vec::new()
            }
        };
        connections.iter().map(|c| decide(c, &prefer)).collect()
    }
}

sitelink_plugin::export_failover!(PreferZone);

/// Parses the `prefer` list into (network, length) pairs.
pub fn parse_prefer(v: &str) -> Result<Vec<(u32, u8)>, String> {
    params::split_list(v)
        .map(|s| net::parse_ipv4_cidr(s).ok_or_else(|| format!("{s:?} is not an IPv4 CIDR")))
        .collect()
}

/// The weights of one connection's tunnels.
pub fn decide(c: &ConnectionHealth, prefer: &[(u32, u8)]) -> Vec<u32> {
    let hold = u64::from(c.failback_hold_ms);
    let eligible = |t: &TunnelHealth| {
        t.up && (t.weight > 0 || t.up_for_ms >= hold)
            && net::parse_ipv4_cidr(&t.tunnel).is_some_and(|n| prefer.contains(&n))
    };
    if !c.tunnels.iter().any(eligible) {
        return default_rule::decide_connection(c);
    }
    match c.routing {
        Routing::DynamicRouting => c
            .tunnels
            .iter()
            .map(|t| if eligible(t) { default_rule::ACTIVE } else { 0 })
            .collect(),
        Routing::StaticRouting => {
            let ranks = default_rule::ranks(&c.tunnels);
            match default_rule::most_preferred(&c.tunnels, &ranks, |_, t| eligible(t)) {
                Some(i) => default_rule::only(c.tunnels.len(), i),
                None => default_rule::decide_connection(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "169.254.10.0/30";
    const B: &str = "169.254.11.0/30";

    #[test]
    fn a_misspelt_key_or_a_bad_list_is_refused() {
        params::set_for_test(&[("prefer", "169.254.11.0/30, 169.254.10.0/30")]);
        assert!(params::check(PARAMS).is_ok());
        params::set_for_test(&[("prefr", "169.254.11.0/30")]);
        assert!(params::check(PARAMS).is_err(), "a misspelt key");
        params::set_for_test(&[("prefer", "az1")]);
        let problems = params::check(PARAMS).unwrap_err();
        assert!(problems[0].contains("inside CIDRs"), "{problems:?}");
        params::set_for_test(&[]);
    }

    /// `(cidr, up, up_for_ms, weight)`
    fn conn(routing: Routing, ts: &[(&str, bool, u64, u32)]) -> ConnectionHealth {
        ConnectionHealth {
            name: "vpn-1".into(),
            routing,
            detection_ms: 600,
            failback_hold_ms: 3000,
            tunnels: ts
                .iter()
                .map(|&(cidr, up, up_for_ms, weight)| TunnelHealth {
                    tunnel: cidr.into(),
                    endpoint: "az1".into(),
                    up,
                    coming_up: false,
                    up_for_ms,
                    weight,
                })
                .collect(),
        }
    }

    fn prefer_b() -> Vec<(u32, u8)> {
        parse_prefer(B).unwrap()
    }

    #[test]
    fn parses_the_list() {
        assert_eq!(
            parse_prefer(" 169.254.11.0/30, 169.254.12.1/30 ").unwrap(),
            [(0xa9fe_0b00, 30), (0xa9fe_0c00, 30)]
        );
        assert!(parse_prefer("az2").is_err());
        assert!(parse_prefer("").unwrap().is_empty());
    }

    #[test]
    fn prefers_b_over_default_a() {
        let c = conn(
            Routing::StaticRouting,
            &[(A, true, 9000, 100), (B, true, 9000, 0)],
        );
        assert_eq!(decide(&c, &prefer_b()), [0, 100]);
        // Without a preference, the default keeps A (lowest CIDR).
        assert_eq!(decide(&c, &[]), [100, 0]);
    }

    #[test]
    fn waits_for_the_hold_before_moving_back_to_b() {
        let c = conn(
            Routing::StaticRouting,
            &[(A, true, 9000, 100), (B, true, 2999, 0)],
        );
        assert_eq!(decide(&c, &prefer_b()), [100, 0]);
        // Once on B, it stays there as long as B is up.
        let c = conn(
            Routing::StaticRouting,
            &[(A, true, 9000, 0), (B, true, 10, 100)],
        );
        assert_eq!(decide(&c, &prefer_b()), [0, 100]);
    }

    #[test]
    fn falls_back_to_default_when_b_is_down() {
        let c = conn(
            Routing::StaticRouting,
            &[(A, true, 9000, 0), (B, false, 0, 100)],
        );
        assert_eq!(decide(&c, &prefer_b()), [100, 0]);
    }

    #[test]
    fn dynamic_spreads_over_eligible_preferred_tunnels() {
        let c = conn(
            Routing::DynamicRouting,
            &[
                (A, true, 9000, 100),
                (B, true, 9000, 100),
                ("169.254.12.0/30", true, 9000, 100),
            ],
        );
        let prefer = parse_prefer("169.254.11.0/30, 169.254.12.0/30").unwrap();
        assert_eq!(decide(&c, &prefer), [0, 100, 100]);
    }
}
