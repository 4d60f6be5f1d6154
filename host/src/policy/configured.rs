//! The plugins a config names, compiled and checked as `run` will load
//! them (`sitelink check`): each against its slot's world, and called once
//! with no input, so that bad parameters show before a start.
//!
//! Owns: that pass and its wording. Must not: write the compile cache or
//! install anything.

use super::{EngineSettings, PolicyEngine, Slot};
use crate::config::PluginsConfig;
use crate::control::admin::chain;

/// Checks each plugin `p` names in turn, telling `ok` a line for each that
/// passes ("  plugin failover: prefer-zone 0.1.0
/// (/etc/sitelink/prefer_zone.wasm): ok"); the first refusal names the
/// slot and the fix.
pub fn check_configured(p: &PluginsConfig, ok: &mut dyn FnMut(String)) -> Result<(), String> {
    let configured = [
        (Slot::Failover, &p.failover),
        (Slot::RouteSelection, &p.route_selection),
        (Slot::BgpFilter, &p.bgp_filter),
    ];
    if configured.iter().all(|(_, c)| c.is_none()) {
        return Ok(());
    }
    let engine = PolicyEngine::new(EngineSettings {
        deadline: p.deadline,
        memory_limit_bytes: p.memory_limit,
        max_faults: p.max_faults,
        cache_dir: None,
    })
    .map_err(|e| format!("the plugin engine: {}", chain(&e)))?;
    for (slot, plugin) in configured {
        let Some(plugin) = plugin else { continue };
        let mut loaded = engine
            .load(slot, &plugin.path, plugin.params.clone())
            .map_err(|e| format!("[plugins.{}]: {}", slot.world(), chain(&e)))?;
        loaded.try_empty().map_err(|fault| {
            format!(
                "[plugins.{0}]: the plugin refused to start: {fault}\n  fix: correct its parameters in [plugins.{0}.params] (or the plugin)",
                slot.world()
            )
        })?;
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
