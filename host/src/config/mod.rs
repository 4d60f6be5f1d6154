//! The gateway configuration: reading a TOML file (format: see
//! `examples/static/vgw.toml` and `cgw.toml`), checking every rule, and
//! producing the validated [`GatewayConfig`] of `model` that the rest of the
//! host consumes. It owns the file format, the rules and the wording of every
//! configuration error (`PATH:LINE:COL: error: WHAT` then `  fix: HOW`), and
//! reads the private key file through `keys`. It must not open sockets or
//! devices, start anything, or apply a configuration: it is a pure function
//! from text (plus the key file) to a value, so reload can diff two results.

mod bgp;
mod dataplane;
mod error;
mod log;
mod metrics;
pub mod model;
mod plugins;
mod raw;
mod rules;
mod validate;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_bgp;
#[cfg(test)]
mod tests_conn;
#[cfg(test)]
mod tests_dataplane;
#[cfg(test)]
mod tests_metrics;
#[cfg(test)]
mod tests_mtu;
#[cfg(test)]
mod tests_plugins;
#[cfg(test)]
mod tests_tunnel;

use std::path::Path;

pub use bgp::DEFAULT_VGW_ASN;
pub use error::{ConfigError, Location};
pub use model::*;

/// Reads, parses and validates the configuration file at `path`. Relative
/// paths inside it (`private_key_file`, `admin_socket`) are relative to the
/// file's directory.
pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let fix = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "check the path given with -c (examples are in examples/static/)"
            }
            std::io::ErrorKind::PermissionDenied => {
                "make the file readable by the user running sitelink"
            }
            std::io::ErrorKind::InvalidData => "save the file as UTF-8 text",
            _ => "check that the path names a readable text file",
        };
        ConfigError::file(
            path,
            format!("cannot read the configuration file: {e}"),
            fix,
        )
    })?;
    let base_dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    parse(&text, path, base_dir)
}

/// Parses and validates configuration `text`; `source` names it in errors and
/// in [`GatewayConfig::source`], and relative paths inside it are resolved
/// against `base_dir`. The private key file is read.
pub fn parse(text: &str, source: &Path, base_dir: &Path) -> Result<GatewayConfig, ConfigError> {
    parse_with_keys(text, source, base_dir, &crate::keys::read_private_key_file)
}

/// [`parse`] with the private key file read by `read_key` instead of from
/// the disk: the same checks, for a caller that holds the key (the config
/// fuzz target, which must not touch files).
pub fn parse_with_keys(
    text: &str,
    source: &Path,
    base_dir: &Path,
    read_key: &dyn Fn(&Path) -> Result<boringtun::x25519::StaticSecret, crate::keys::KeyError>,
) -> Result<GatewayConfig, ConfigError> {
    let src = error::Source { path: source, text };
    let raw = raw::parse_raw(text).map_err(|e| src.toml_error(&e))?;
    validate::validate(&src, raw, base_dir, read_key)
}
