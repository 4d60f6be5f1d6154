//! The configuration file as written: serde structs that mirror the TOML
//! tables and keys one to one (see `examples/static/*.toml`), with every value
//! kept as a `toml::Spanned` so that `validate` can point an error at its line
//! and column. Every struct denies unknown keys, so a misspelt key is an error
//! rather than a silently ignored setting. Values are kept in their written
//! form (strings, `i64`): this module must not interpret, default or check
//! anything beyond TOML types; that is `validate`'s job.

use serde::Deserialize;
use toml::Spanned;

/// A list of tables (`[[name]]`), with the span of the whole list and of each
/// table.
pub type SpannedTables<T> = Spanned<Vec<Spanned<T>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub gateway: Spanned<RawGateway>,
    pub tun: Spanned<RawTun>,
    pub endpoint: Option<SpannedTables<RawEndpoint>>,
    pub route_table: Option<Spanned<RawRouteTable>>,
    pub connection: Option<SpannedTables<RawConnection>>,
    pub bgp: Option<Spanned<super::bgp::RawBgp>>,
    pub plugins: Option<super::plugins::RawPlugins>,
    pub metrics: Option<Spanned<super::metrics::RawMetrics>>,
    pub log: Option<Spanned<super::log::RawLog>>,
    pub dataplane: Option<Spanned<super::dataplane::RawDataplane>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    pub private_key_file: Spanned<String>,
    pub admin_socket: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTun {
    pub name: Spanned<String>,
    pub mtu: Option<Spanned<i64>>,
    pub offload: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub name: Spanned<String>,
    pub listen: Spanned<String>,
    pub mtu: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouteTable {
    pub propagation: Option<Spanned<bool>>,
    pub kernel_routes: Option<Spanned<bool>>,
    pub kernel_metric: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnection {
    pub name: Spanned<String>,
    pub routing: Spanned<String>,
    pub static_routes: Option<Spanned<Vec<Spanned<String>>>>,
    pub failback_hold_ms: Option<Spanned<i64>>,
    pub liveness: Option<Spanned<RawLiveness>>,
    pub tunnel: Option<SpannedTables<RawTunnel>>,
    pub bgp: Option<Spanned<super::bgp::RawConnectionBgp>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLiveness {
    pub mode: Option<Spanned<String>>,
    pub interval_ms: Option<Spanned<i64>>,
    pub multiplier: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTunnel {
    pub endpoint: Spanned<String>,
    pub remote: Spanned<String>,
    pub remote_public_key: Spanned<String>,
    pub inside_cidr: Spanned<String>,
    pub inside_ipv6_cidr: Option<Spanned<String>>,
}

/// Parses the text into the raw structs (TOML syntax and types only).
pub fn parse_raw(text: &str) -> Result<RawConfig, toml::de::Error> {
    toml::from_str(text)
}
