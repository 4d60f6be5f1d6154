//! The `[metrics]` table: where the Prometheus metrics are served
//! (`listen = "127.0.0.1:9464"`), off when the table or the key is absent.
//! The metrics tell anyone who can read them the gateway's tunnels, peers
//! and traffic, so an address other than loopback is refused unless
//! `allow_remote = true` says the operator means it. This module checks
//! what is written; it opens no socket (the driver binds the address at
//! start and fails there when it is taken).

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::model::MetricsConfig;

/// The port the examples and the fixes suggest (the OpenTelemetry
/// Prometheus exporter's default; any free port does).
pub const DEFAULT_PORT: u16 = 9464;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<Spanned<String>>,
    pub allow_remote: Option<Spanned<bool>>,
}

pub(crate) fn metrics(
    src: &Source,
    raw: Option<&Spanned<RawMetrics>>,
) -> Result<Option<MetricsConfig>, ConfigError> {
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return Ok(None);
    };
    let Some(v) = &raw.listen else {
        return Ok(None);
    };
    let s = v.get_ref().trim();
    let example = format!("\"127.0.0.1:{DEFAULT_PORT}\" or \"[::1]:{DEFAULT_PORT}\"");
    let listen = match s.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            let bare = s.trim_matches(|c| c == '[' || c == ']');
            if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
                return Err(src.err(
                    v.span(),
                    format!("[metrics] listen = {s:?} has no port"),
                    format!(
                        "add the TCP port, e.g. \"{}\"",
                        SocketAddr::new(ip, DEFAULT_PORT)
                    ),
                ));
            }
            return Err(src.err(
                v.span(),
                format!("[metrics] listen = {s:?} is not an IP address and port"),
                format!("write it as ADDRESS:PORT, e.g. {example} (host names are not resolved)"),
            ));
        }
    };
    if listen.port() == 0 {
        return Err(src.err(
            v.span(),
            format!("[metrics] listen = {s:?} has port 0"),
            format!(
                "use a fixed TCP port that Prometheus scrapes, e.g. \"{}\"",
                SocketAddr::new(listen.ip(), DEFAULT_PORT)
            ),
        ));
    }
    let allow_remote = raw.allow_remote.as_ref().is_some_and(|a| *a.get_ref());
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(src.err(
            v.span(),
            format!(
                "[metrics] listen = {s:?} is not a loopback address: anyone who reaches it \
                 could read the gateway's tunnels, peers and traffic"
            ),
            format!(
                "listen on loopback (e.g. \"127.0.0.1:{}\") and scrape through a local agent, \
                 or add allow_remote = true to [metrics] and restrict the port with a firewall",
                listen.port()
            ),
        ));
    }
    Ok(Some(MetricsConfig { listen }))
}
