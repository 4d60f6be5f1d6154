//! The `[plugins]` table: the policy engine's limits and the plugin loaded in
//! each slot (`failover`, `route-selection`, `bgp-filter`) with its
//! parameters. This module checks and resolves what is written; it does not
//! open or compile the plugins (the policy runtime does that at start, and
//! refuses a file that is not a component of the slot's world).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::model::{ConnectionConfig, PluginConfig, PluginsConfig};
use super::raw::RawConnection;
use super::rules;
use super::validate::resolve;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugins {
    pub deadline_ms: Option<Spanned<i64>>,
    pub memory_limit_mb: Option<Spanned<i64>>,
    pub max_faults: Option<Spanned<i64>>,
    pub cache_dir: Option<Spanned<String>>,
    pub failover: Option<RawPlugin>,
    #[serde(rename = "route-selection")]
    pub route_selection: Option<RawPlugin>,
    #[serde(rename = "bgp-filter")]
    pub bgp_filter: Option<RawPlugin>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub path: Spanned<String>,
    pub params: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
}

/// Where compiled plugins are kept between runs, unless `cache_dir` says.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/sitelink";

pub(crate) fn plugins(
    src: &Source,
    raw: Option<&RawPlugins>,
    base_dir: &Path,
) -> Result<PluginsConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(PluginsConfig::default());
    };
    let deadline_ms = rules::int_in(src, raw.deadline_ms.as_ref(), "deadline_ms", 1..=10_000, 50)?;
    let memory_mb = rules::int_in(
        src,
        raw.memory_limit_mb.as_ref(),
        "memory_limit_mb",
        1..=4096,
        64,
    )?;
    let max_faults = rules::int_in(src, raw.max_faults.as_ref(), "max_faults", 1..=1_000_000, 5)?;
    let cache_dir = match &raw.cache_dir {
        None => PathBuf::from(DEFAULT_CACHE_DIR),
        Some(v) => resolve(
            base_dir,
            rules::path_text(src, v, "cache_dir", DEFAULT_CACHE_DIR)?,
        ),
    };
    Ok(PluginsConfig {
        deadline: Duration::from_millis(deadline_ms.unsigned_abs()),
        memory_limit: usize::try_from(memory_mb).unwrap_or(64) << 20,
        max_faults: u32::try_from(max_faults).unwrap_or(5),
        cache_dir,
        failover: slot(src, raw.failover.as_ref(), "failover", base_dir)?,
        route_selection: slot(
            src,
            raw.route_selection.as_ref(),
            "route-selection",
            base_dir,
        )?,
        bgp_filter: slot(src, raw.bgp_filter.as_ref(), "bgp-filter", base_dir)?,
    })
}

/// A plugin call blocks the control loop (and so the liveness probes) for up
/// to `deadline` of CPU time, and twice it on the wall when the host keeps
/// the thread waiting (`policy::deadline`): twice the deadline must stay
/// under the shortest detection time, or one slow plugin call could make
/// the far side declare tunnels down.
/// `connections` are the validated `raw_connections`, in their order.
pub(crate) fn deadline_fits_liveness(
    src: &Source,
    raw: Option<&RawPlugins>,
    plugins: &PluginsConfig,
    connections: &[ConnectionConfig],
    raw_connections: &[Spanned<RawConnection>],
) -> Result<(), ConfigError> {
    let Some((i, conn, detection)) = connections
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c, c.liveness.interval * u32::from(c.liveness.multiplier)))
        .min_by_key(|(_, _, d)| *d)
    else {
        return Ok(());
    };
    if plugins.deadline * 2 < detection {
        return Ok(());
    }
    let Some(deadline) = raw.and_then(|r| r.deadline_ms.as_ref()) else {
        // The deadline is the default: the error is the liveness the
        // operator wrote (its interval, its table, or the connection).
        let raw_conn = raw_connections.get(i);
        let liveness = raw_conn.and_then(|c| c.get_ref().liveness.as_ref());
        let span = liveness
            .and_then(|l| l.get_ref().interval_ms.as_ref().map(Spanned::span))
            .or_else(|| liveness.map(Spanned::span))
            .or_else(|| raw_conn.map(Spanned::span))
            .unwrap_or(0..0);
        return Err(src.err(
            span,
            format!(
                "connection {:?}'s liveness detection time ({} ms: interval_ms x multiplier) \
                 is not over twice the plugin deadline ({} ms, the default): a slow plugin call \
                 would delay the probes past it",
                conn.name,
                detection.as_millis(),
                plugins.deadline.as_millis()
            ),
            format!(
                "lengthen its liveness to over {} ms (interval_ms x multiplier), or set \
                 [plugins] deadline_ms below {}",
                plugins.deadline.as_millis() * 2,
                detection.as_millis() / 2
            ),
        ));
    };
    Err(src.err(
        deadline.span(),
        format!(
            "plugin deadline_ms = {} is not under half the shortest liveness detection time \
             ({} ms, connection {:?}): a slow plugin call would delay the probes past it",
            plugins.deadline.as_millis(),
            detection.as_millis(),
            conn.name
        ),
        format!(
            "lengthen that connection's liveness, or set [plugins] deadline_ms below {}",
            detection.as_millis() / 2
        ),
    ))
}

fn slot(
    src: &Source,
    raw: Option<&RawPlugin>,
    slot: &str,
    base_dir: &Path,
) -> Result<Option<PluginConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let example = format!("{slot}.wasm");
    let path = resolve(
        base_dir,
        rules::path_text(src, &raw.path, "path", &example)?,
    );
    if !path.is_file() {
        return Err(src.err(
            raw.path.span(),
            format!("plugin file {} does not exist", path.display()),
            format!(
                "build the plugin (cargo build --release --target wasm32-wasip2) and give \
                 the path of its .wasm file, or remove [plugins.{slot}] to use the built-in default"
            ),
        ));
    }
    let mut params = BTreeMap::new();
    for (key, value) in raw
        .params
        .as_ref()
        .map(Spanned::get_ref)
        .into_iter()
        .flatten()
    {
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(src.err(
                    value.span(),
                    format!("parameter {key:?} of the {slot} plugin is a table or an array"),
                    format!("plugin parameters are single values: write {key} = \"...\" and let the plugin parse it"),
                ))
            }
        };
        params.insert(key.clone(), text);
    }
    Ok(Some(PluginConfig { path, params }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::Fixture;
    use std::time::Duration;

    #[test]
    fn absent_table_means_built_in_defaults() {
        let fx = Fixture::new();
        let cfg = fx.parse(&fx.base()).unwrap();
        assert!(cfg.plugins.failover.is_none());
        assert_eq!(cfg.plugins.deadline, Duration::from_millis(50));
        assert_eq!(cfg.plugins.memory_limit, 64 << 20);
    }

    #[test]
    fn a_slot_with_path_params_and_limits() {
        let fx = Fixture::new();
        std::fs::write(fx.dir.join("prefer.wasm"), b"\0asm").unwrap();
        let text = fx.base()
            + r#"
[plugins]
deadline_ms = 20
memory_limit_mb = 16
max_faults = 3

[plugins.failover]
path = "prefer.wasm"

[plugins.failover.params]
prefer = "169.254.11.0/30"
weight = 7
"#;
        let cfg = fx.parse(&text).unwrap();
        let slot = cfg.plugins.failover.unwrap();
        assert_eq!(slot.path, fx.dir.join("prefer.wasm"));
        assert_eq!(slot.params["prefer"], "169.254.11.0/30");
        assert_eq!(slot.params["weight"], "7");
        assert_eq!(cfg.plugins.deadline, Duration::from_millis(20));
        assert_eq!(cfg.plugins.memory_limit, 16 << 20);
        assert_eq!(cfg.plugins.max_faults, 3);
    }

    #[test]
    fn a_missing_plugin_file_is_refused_with_the_build_command() {
        let fx = Fixture::new();
        let text = fx.base() + "\n[plugins.route-selection]\npath = \"nope.wasm\"\n";
        let err = fx.parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("plugin file") && err.contains("does not exist"),
            "{err}"
        );
        assert!(err.contains("wasm32-wasip2"), "{err}");
        let line = text.lines().position(|l| l.contains("nope.wasm")).unwrap() + 1;
        assert!(err.contains(&format!("test.toml:{line}:")), "{err}");
    }

    #[test]
    fn unknown_slots_and_structured_params_are_refused() {
        let fx = Fixture::new();
        let err = fx
            .parse(&(fx.base() + "\n[plugins.failovr]\npath = \"x.wasm\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("failovr"), "{err}");
        std::fs::write(fx.dir.join("f.wasm"), b"\0asm").unwrap();
        let text = fx.base()
            + "\n[plugins.bgp-filter]\npath = \"f.wasm\"\n[plugins.bgp-filter.params]\nlist = [1, 2]\n";
        let err = fx.parse(&text).unwrap_err().to_string();
        assert!(err.contains("table or an array"), "{err}");
    }

    #[test]
    fn a_deadline_longer_than_half_the_detection_time_is_refused() {
        let fx = Fixture::new();
        let text = fx.base().replace(
            "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
            "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]\n[connection.liveness]\ninterval_ms = 50\nmultiplier = 3",
        ) + "\n[plugins]\ndeadline_ms = 100\n";
        let err = fx.parse(&text).unwrap_err().to_string();
        assert!(err.contains("150 ms"), "{err}");
        assert!(err.contains("deadline_ms below 75"), "{err}");
        // The default 50 ms against the default 600 ms detection is fine.
        assert!(fx.parse(&fx.base()).is_ok());
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        let fx = Fixture::new();
        let err = fx
            .parse(&(fx.base() + "\n[plugins]\ndeadline_ms = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("deadline_ms = 0 is out of range"), "{err}");
    }
}
