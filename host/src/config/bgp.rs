//! The `[bgp]` table (the gateway's ASN, router ID, the networks it
//! advertises, the hold time) and each dynamic connection's
//! `[connection.bgp]` table (the far side's ASN, who connects, the
//! max-prefix limit and its action). This module checks and resolves what is
//! written; it opens no socket and knows nothing of sessions.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::model::{
    BgpConfig, ConnectionBgp, EndpointConfig, GracefulRestartLimits, MaxPrefixAction, MaxPrefixes,
    Role, Routing, SessionAddresses, TunnelConfig,
};
use super::rules;

/// The ASN of the VGW side when `[bgp] asn` is not set (AWS's default).
pub const DEFAULT_VGW_ASN: u32 = 64512;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBgp {
    pub asn: Option<Spanned<i64>>,
    pub router_id: Option<Spanned<String>>,
    pub networks: Option<Spanned<Vec<Spanned<String>>>>,
    pub hold_time_s: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnectionBgp {
    pub remote_asn: Spanned<i64>,
    pub local_asn: Option<Spanned<i64>>,
    pub passive: Option<Spanned<bool>>,
    pub max_prefixes: Option<Spanned<i64>>,
    pub max_prefixes_warning_pct: Option<Spanned<i64>>,
    pub max_prefixes_action: Option<Spanned<String>>,
    pub max_prefixes_restart_s: Option<Spanned<i64>>,
    pub graceful_restart: Option<Spanned<bool>>,
    pub graceful_restart_max_s: Option<Spanned<i64>>,
    pub graceful_restart_stale_s: Option<Spanned<i64>>,
    pub session: Option<Spanned<String>>,
}

/// The gateway's `[bgp]` table, with defaults. `asn` is `None` when neither
/// written nor defaulted (a customer gateway without `[bgp] asn`); a dynamic
/// connection then refuses to load.
pub(crate) struct GatewayBgp {
    pub asn: Option<u32>,
    pub router_id: Option<Ipv4Addr>,
    pub networks: Vec<IpNet>,
    pub hold_time: u16,
}

pub(crate) fn gateway(
    src: &Source,
    raw: Option<&Spanned<RawBgp>>,
    role: Role,
    endpoints: &[EndpointConfig],
) -> Result<GatewayBgp, ConfigError> {
    let default_asn = (role == Role::Vgw).then_some(DEFAULT_VGW_ASN);
    let Some(raw) = raw else {
        return Ok(GatewayBgp {
            asn: default_asn,
            router_id: None,
            networks: Vec::new(),
            hold_time: 30,
        });
    };
    let raw = raw.get_ref();
    let asn = match &raw.asn {
        Some(v) => Some(asn(src, v, "asn")?),
        None => default_asn,
    };
    let router_id = match &raw.router_id {
        None => None,
        Some(v) => match v.get_ref().trim().parse::<Ipv4Addr>() {
            Ok(id) if !id.is_unspecified() => Some(id),
            _ => {
                return Err(src.err(
                    v.span(),
                    format!("router_id {:?} is not a non-zero IPv4 address", v.get_ref()),
                    "write it as an IPv4 address unique among the BGP speakers, e.g. \
                     router_id = \"198.18.1.2\", or leave it out to use the first tunnel's \
                     inside address",
                ))
            }
        },
    };
    let mut networks: Vec<IpNet> = Vec::new();
    // The duplicate check looks up a set: a list of 100,000 networks loads
    // in linear time (a scan of the list per network took 30 s in debug).
    let mut listed: HashSet<IpNet> = HashSet::new();
    for v in raw.networks.iter().flat_map(|l| l.get_ref()) {
        let net = rules::prefix(src, v, "network")?;
        // A default route is fine: the far side keeps its tunnels' own
        // datagrams off learned default routes (sitelink does, with a mark
        // and a policy rule, as wg-quick does).
        if let Some(ep) = endpoints
            .iter()
            .find(|e| net.prefix_len() > 0 && net.contains(&e.listen.ip()))
        {
            return Err(src.err(
                v.span(),
                format!(
                    "network {net} holds endpoint {:?}'s address {}: the far side would route \
                     this gateway's tunnels into themselves",
                    ep.name,
                    ep.listen.ip()
                ),
                "advertise only the site's own prefixes, not the gateway's public addresses",
            ));
        }
        if !listed.insert(net) {
            return Err(src.err(
                v.span(),
                format!("network {net} is listed twice"),
                "list each network once",
            ));
        }
        networks.push(net);
    }
    let hold = rules::int_in(src, raw.hold_time_s.as_ref(), "hold_time_s", 0..=65535, 30)?;
    if hold == 1 || hold == 2 {
        let at = raw.hold_time_s.as_ref().map_or(0..0, |v| v.span());
        return Err(src.err(
            at,
            format!("hold_time_s = {hold} is not allowed by BGP (RFC 4271 section 4.2)"),
            "use 0 (no keepalives) or at least 3; AWS uses 30",
        ));
    }
    Ok(GatewayBgp {
        asn,
        router_id,
        networks,
        hold_time: u16::try_from(hold).unwrap_or(30),
    })
}

/// The router ID: as written, else the first tunnel's inside address.
pub(crate) fn router_id(gw: &GatewayBgp, tunnels: &[&TunnelConfig]) -> Ipv4Addr {
    gw.router_id
        .or_else(|| tunnels.first().map(|t| t.inside_local))
        .unwrap_or(Ipv4Addr::new(192, 0, 2, 1))
}

/// The finished gateway-wide settings.
pub(crate) fn finish(gw: &GatewayBgp, router_id: Ipv4Addr) -> BgpConfig {
    BgpConfig {
        asn: gw.asn.unwrap_or(DEFAULT_VGW_ASN),
        router_id,
        router_id_derived: gw.router_id.is_none(),
        networks: gw.networks.clone(),
        hold_time: gw.hold_time,
    }
}

/// A connection's `[connection.bgp]`: required for a dynamic connection,
/// refused for a static one.
pub(crate) fn connection(
    src: &Source,
    raw: Option<&Spanned<RawConnectionBgp>>,
    routing: &Spanned<String>,
    kind: Routing,
    name: &str,
    gw: &GatewayBgp,
    role: Role,
) -> Result<Option<ConnectionBgp>, ConfigError> {
    let raw = match (kind, raw) {
        (Routing::Static, None) => return Ok(None),
        (Routing::Static, Some(r)) => {
            return Err(src.err(
                r.span(),
                format!("connection {name:?} is static but has a [connection.bgp] table"),
                "set routing = \"dynamic\" to run BGP over its tunnels, or remove the table",
            ))
        }
        (Routing::Dynamic, None) => {
            return Err(src.err(
                routing.span(),
                format!("dynamic connection {name:?} has no [connection.bgp] table"),
                "add [connection.bgp] with the far side's ASN, e.g. remote_asn = 65000",
            ))
        }
        (Routing::Dynamic, Some(r)) => r,
    };
    let at = raw.span();
    let raw = raw.get_ref();
    let remote_asn = asn(src, &raw.remote_asn, "remote_asn")?;
    let local_asn = match (&raw.local_asn, gw.asn) {
        (Some(v), _) => asn(src, v, "local_asn")?,
        (None, Some(a)) => a,
        (None, None) => {
            return Err(src.err(
                at,
                format!("dynamic connection {name:?} needs this gateway's ASN"),
                "set asn in a [bgp] table (e.g. asn = 65000), or local_asn in [connection.bgp]",
            ))
        }
    };
    if local_asn == remote_asn {
        let v = &raw.remote_asn;
        return Err(src.err(
            v.span(),
            format!(
                "remote_asn {remote_asn} is this gateway's own ASN: that would be internal BGP"
            ),
            "sitelink speaks external BGP only: give each side of the connection its own ASN",
        ));
    }
    let limit = rules::int_in(
        src,
        raw.max_prefixes.as_ref(),
        "max_prefixes",
        1..=10_000_000,
        100,
    )?;
    let pct = rules::int_in(
        src,
        raw.max_prefixes_warning_pct.as_ref(),
        "max_prefixes_warning_pct",
        1..=100,
        80,
    )?;
    let restart = rules::int_in(
        src,
        raw.max_prefixes_restart_s.as_ref(),
        "max_prefixes_restart_s",
        1..=86_400,
        30,
    )?;
    let action = match raw.max_prefixes_action.as_ref() {
        None => MaxPrefixAction::Close {
            restart_after: Duration::from_secs(restart.unsigned_abs()),
        },
        Some(v) => match v.get_ref().as_str() {
            "close" => MaxPrefixAction::Close {
                restart_after: Duration::from_secs(restart.unsigned_abs()),
            },
            "drop" => MaxPrefixAction::Drop,
            other => {
                return Err(src.err(
                    v.span(),
                    format!("unknown max_prefixes_action {other:?}"),
                    "use \"close\" (send Cease / maximum prefixes, retry after \
                     max_prefixes_restart_s) or \"drop\" (keep the session, ignore the excess \
                     routes and warn)",
                ))
            }
        },
    };
    let limit = u32::try_from(limit).unwrap_or(100);
    let warning = u32::try_from((u64::from(limit) * pct.unsigned_abs()).div_ceil(100))
        .unwrap_or(limit)
        .max(1);
    Ok(Some(ConnectionBgp {
        local_asn,
        remote_asn,
        passive: raw
            .passive
            .as_ref()
            .map_or(role == Role::Vgw, |v| *v.get_ref()),
        max_prefixes: MaxPrefixes {
            limit,
            warning,
            action,
        },
        graceful_restart: graceful_restart(src, raw)?,
        session: match raw.session.as_ref() {
            None => SessionAddresses::Ipv4,
            Some(v) => match v.get_ref().as_str() {
                "ipv4" => SessionAddresses::Ipv4,
                "ipv6" => SessionAddresses::Ipv6,
                other => {
                    return Err(src.err(
                        v.span(),
                        format!("unknown session {other:?}"),
                        "use session = \"ipv4\" (between the tunnels' IPv4 inside addresses, \
                         the default) or session = \"ipv6\" (between their IPv6 inside \
                         addresses: set inside_ipv6_cidr on every tunnel)",
                    ))
                }
            },
        },
    }))
}

/// `graceful_restart` (on by default) and its two limits, which make sense
/// only with it on.
fn graceful_restart(
    src: &Source,
    raw: &RawConnectionBgp,
) -> Result<Option<GracefulRestartLimits>, ConfigError> {
    let d = GracefulRestartLimits::DEFAULT;
    let on = raw.graceful_restart.as_ref().is_none_or(|v| *v.get_ref());
    if !on {
        let limit = [
            ("graceful_restart_max_s", &raw.graceful_restart_max_s),
            ("graceful_restart_stale_s", &raw.graceful_restart_stale_s),
        ]
        .into_iter()
        .find_map(|(k, v)| v.as_ref().map(|v| (k, v.span())));
        if let Some((key, at)) = limit {
            return Err(src.err(
                at,
                format!("{key} is set but graceful_restart = false"),
                format!("remove {key}, or set graceful_restart = true"),
            ));
        }
        return Ok(None);
    }
    let max = rules::int_in(
        src,
        raw.graceful_restart_max_s.as_ref(),
        "graceful_restart_max_s",
        1..=4095,
        d.max_restart.as_secs() as i64,
    )?;
    let stale = rules::int_in(
        src,
        raw.graceful_restart_stale_s.as_ref(),
        "graceful_restart_stale_s",
        1..=3600,
        d.stale.as_secs() as i64,
    )?;
    Ok(Some(GracefulRestartLimits {
        max_restart: Duration::from_secs(max.unsigned_abs()),
        stale: Duration::from_secs(stale.unsigned_abs()),
    }))
}

/// An AS number: 1 to 4294967294, not AS_TRANS (RFC 6793).
fn asn(src: &Source, v: &Spanned<i64>, key: &str) -> Result<u32, ConfigError> {
    let n = *v.get_ref();
    match u32::try_from(n) {
        Ok(a) if a != 0 && a != u32::MAX && a != 23456 => Ok(a),
        _ => Err(src.err(
            v.span(),
            format!("{key} = {n} is not a usable AS number"),
            "use an AS number from 1 to 4294967294 other than 23456 (AS_TRANS); \
             private ones are 64512-65534 and 4200000000-4294967294",
        )),
    }
}
