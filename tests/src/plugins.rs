//! Policy plugins in the lab: where the built `.wasm` components are, and
//! `sitelink plugin ...` run against a lab gateway's admin socket.
//!
//! The components are built by `scripts/build-plugins.sh` (a workspace of its
//! own, target wasm32-wasip2); this module only finds them and drives the CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::gateway::{workspace_dir, Gw};
use crate::process::{self, CmdOutput};
use crate::topology::SiteLab;
use crate::{Error, Result};

/// Bound for one `sitelink plugin` call (a swap may compile the component).
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory holding the built plugins: `SITELINK_PLUGIN_DIR`, else the
/// plugins workspace's release output.
pub fn plugin_dir() -> PathBuf {
    std::env::var_os("SITELINK_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("plugins/target/wasm32-wasip2/release"))
}

/// The path of plugin `name` (e.g. `"default_failover"`); an error naming the
/// build command if it is not built.
pub fn plugin(name: &str) -> Result<PathBuf> {
    let path = plugin_dir().join(format!("{name}.wasm"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::msg(format!(
            "{} is missing: build the plugins first: scripts/build-plugins.sh",
            path.display()
        )))
    }
}

/// Runs `sitelink plugin ARGS --socket SOCKET --json` against gateway `gw`.
/// (The admin socket is a file: no need to enter the namespace.)
pub fn plugin_cmd(lab: &SiteLab, gw: Gw, args: &[&str]) -> Result<CmdOutput> {
    let socket = lab.socket(gw)?;
    let mut cmd = Command::new(lab.bin()?);
    cmd.arg("plugin")
        .args(args)
        .arg("--socket")
        .arg(socket)
        .arg("--json");
    process::run(&mut cmd, PLUGIN_TIMEOUT)
}

/// `sitelink plugin ARGS --socket SOCKET` for people (the rendered text).
pub fn plugin_cmd_text(lab: &SiteLab, gw: Gw, args: &[&str]) -> Result<String> {
    let socket = lab.socket(gw)?;
    let mut cmd = Command::new(lab.bin()?);
    cmd.arg("plugin").args(args).arg("--socket").arg(socket);
    process::run_ok(&mut cmd, PLUGIN_TIMEOUT)
}

/// Compiles `files` for `slot` on both gateways ahead of time (a dry-run
/// swap each), so that later swaps load them from the cache.
pub fn compile_ahead(lab: &SiteLab, slot: &str, files: &[&Path]) -> Result<()> {
    for gw in [Gw::Cgw, Gw::Vgw] {
        for file in files {
            plugin_cmd(
                lab,
                gw,
                &["swap", slot, &file.to_string_lossy(), "--dry-run"],
            )?;
        }
    }
    Ok(())
}

/// `sitelink plugin swap SLOT FILE [--param K=V]...`; the JSON answer, or an
/// error with what the CLI printed.
pub fn swap(lab: &SiteLab, gw: Gw, slot: &str, file: &Path, params: &[&str]) -> Result<Value> {
    let file = file.to_string_lossy();
    let mut args = vec!["swap", slot, &file];
    for p in params {
        args.push("--param");
        args.push(p);
    }
    json_answer(plugin_cmd(lab, gw, &args)?)
}

/// `sitelink plugin swap --force SLOT FILE`: installed even if it faults on
/// the stored state.
pub fn swap_forced(lab: &SiteLab, gw: Gw, slot: &str, file: &Path) -> Result<Value> {
    let file = file.to_string_lossy();
    json_answer(plugin_cmd(lab, gw, &["swap", "--force", slot, &file])?)
}

/// `sitelink plugin remove SLOT`; the JSON answer.
pub fn remove(lab: &SiteLab, gw: Gw, slot: &str) -> Result<Value> {
    json_answer(plugin_cmd(lab, gw, &["remove", slot])?)
}

/// `sitelink plugin list`; the JSON answer.
pub fn list(lab: &SiteLab, gw: Gw) -> Result<Value> {
    json_answer(plugin_cmd(lab, gw, &["list"])?)
}

/// The `list` entry of `slot`.
pub fn slot_entry(list: &Value, slot: &str) -> Option<Value> {
    list["slots"]
        .as_array()?
        .iter()
        .find(|s| s["slot"] == slot)
        .cloned()
}

fn json_answer(out: CmdOutput) -> Result<Value> {
    if !out.status.success() {
        return Err(Error::msg(format!(
            "sitelink plugin failed ({}): {}",
            out.status,
            out.stderr.trim()
        )));
    }
    serde_json::from_str(&out.stdout).map_err(|e| {
        Error::msg(format!(
            "bad JSON from sitelink plugin ({e}): {}",
            out.stdout
        ))
    })
}

impl crate::SiteOptions {
    /// These options with `gw` running the built default `bgp-filter` and
    /// `route-selection` plugins from its config (`[plugins.SLOT] path`).
    pub fn with_default_plugins(self, gw: crate::Gw) -> Result<Self> {
        let q = |p: PathBuf| format!("{:?}", p.to_string_lossy());
        Ok(self
            .set(
                gw,
                "plugins.bgp-filter",
                "path",
                q(plugin("default_bgp_filter")?),
            )
            .set(
                gw,
                "plugins.route-selection",
                "path",
                q(plugin("default_route_selection")?),
            ))
    }
}
