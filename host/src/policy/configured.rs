//! The plugins a config names, loaded as every path that takes them from a
//! config does (start, `sitelink check`, reload): compiled and checked
//! against the slot's world, then called once with no input, so that bad
//! parameters show before the plugin serves anything.
//!
//! Owns: that load and the wording of its refusals. Must not: write the
//! compile cache (the engine's settings decide) or install anything.

use std::fmt;

use super::{EngineSettings, Fault, Plugin, PluginError, PolicyEngine, Slot};
use crate::config::{PluginConfig, PluginsConfig};
use crate::control::admin::chain;

/// Why a plugin a config names cannot serve its slot.
#[derive(Debug)]
pub enum ConfiguredError {
    /// Unreadable, not a component, or not the slot's world.
    Load { slot: Slot, error: PluginError },
    /// It faulted on an empty call: it refused its parameters, mostly.
    Refused { slot: Slot, fault: Fault },
}

impl fmt::Display for ConfiguredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfiguredError::Load { slot, error } => {
                write!(f, "[plugins.{}]: {}", slot.world(), chain(error))
            }
            ConfiguredError::Refused { slot, fault } => write!(
                f,
                "[plugins.{0}]: the plugin faulted on an empty call: {fault}\n  fix: correct its \
                 parameters in [plugins.{0}.params] (or the plugin)",
                slot.world()
            ),
        }
    }
}

impl std::error::Error for ConfiguredError {}

impl PolicyEngine {
    /// Loads `plugin` for `slot` and calls it once with no input.
    pub fn load_configured(
        &self,
        slot: Slot,
        plugin: &PluginConfig,
    ) -> Result<Plugin, ConfiguredError> {
        let mut loaded = self
            .load(slot, &plugin.path, plugin.params.clone())
            .map_err(|error| ConfiguredError::Load { slot, error })?;
        loaded
            .try_empty()
            .map_err(|fault| ConfiguredError::Refused { slot, fault })?;
        Ok(loaded)
    }
}

/// The plugins `p` names, slot by slot.
pub fn configured(p: &PluginsConfig) -> [(Slot, Option<&PluginConfig>); 3] {
    [
        (Slot::Failover, p.failover.as_ref()),
        (Slot::RouteSelection, p.route_selection.as_ref()),
        (Slot::BgpFilter, p.bgp_filter.as_ref()),
    ]
}

/// Checks each plugin `p` names in turn (`sitelink check`), telling `ok` a
/// line for each that passes ("  plugin failover: prefer-zone 0.1.0
/// (/etc/sitelink/prefer_zone.wasm): ok"); the first refusal names the
/// slot and the fix.
pub fn check_configured(p: &PluginsConfig, ok: &mut dyn FnMut(String)) -> Result<(), String> {
    if configured(p).iter().all(|(_, c)| c.is_none()) {
        return Ok(());
    }
    let engine = PolicyEngine::new(EngineSettings {
        deadline: p.deadline,
        memory_limit_bytes: p.memory_limit,
        max_faults: p.max_faults,
        cache_dir: None,
    })
    .map_err(|e| format!("the plugin engine: {}", chain(&e)))?;
    for (slot, plugin) in configured(p) {
        let Some(plugin) = plugin else { continue };
        let loaded = engine
            .load_configured(slot, plugin)
            .map_err(|e| e.to_string())?;
        ok(format!(
            "  plugin {}: {} {} ({}): ok",
            slot.world(),
            loaded.info().name,
            loaded.info().version,
            plugin.path.display()
        ));
    }
    Ok(())
}
