//! Everything about the `sitelink` binary as the tests see it: where it is
//! (`SITELINK_BIN`, else `<workspace>/target/debug/sitelink`), making keys with
//! `sitelink genkey` / `sitelink pubkey`, turning an example config into a
//! lab config (public keys filled in, admin socket and TUN name made unique),
//! and reading `sitelink status --json` through [`Status`], a thin view over
//! the JSON the host prints.

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::{self, SHORT};
use serde_json::Value;
use std::fs;
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The two gateways of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gw {
    /// The customer gateway (site A's side).
    Cgw,
    /// The virtual private gateway (the "AWS" side, site B).
    Vgw,
}

impl Gw {
    /// `"cgw"` or `"vgw"`.
    pub fn name(self) -> &'static str {
        match self {
            Gw::Cgw => "cgw",
            Gw::Vgw => "vgw",
        }
    }
}

/// The cargo workspace root (parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `sitelink` binary: `$SITELINK_BIN`, else `<workspace>/target/debug/sitelink`.
pub fn sitelink_bin() -> Result<PathBuf> {
    let p = match std::env::var_os("SITELINK_BIN") {
        Some(p) => PathBuf::from(p),
        None => workspace_dir().join("target/debug/sitelink"),
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::msg(format!(
            "sitelink binary not found at {}: build it first: cargo build -p sitelink \
             (or set SITELINK_BIN)",
            p.display()
        )))
    }
}

/// Writes a new private key to `path` (mode 600) with `sitelink genkey`, and
/// returns its public key from `sitelink pubkey`.
pub fn make_key(bin: &Path, path: &Path) -> Result<String> {
    let private = process::run_ok(Command::new(bin).arg("genkey"), SHORT)?;
    let private = private.trim();
    if private.is_empty() {
        return Err(Error::msg("`sitelink genkey` printed nothing"));
    }
    fs::write(path, format!("{private}\n"))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    let mut cmd = Command::new(bin);
    cmd.arg("pubkey");
    let out = process::run_with_input(&mut cmd, format!("{private}\n").as_bytes(), SHORT)?;
    let public = out.stdout.trim().to_string();
    if !out.status.success() || public.is_empty() {
        return Err(Error::msg(format!(
            "`sitelink pubkey` failed ({}): {}",
            out.status,
            out.stderr.trim()
        )));
    }
    Ok(public)
}

/// Edits applied to an example config to make it a lab config.
#[derive(Debug, Clone, Default)]
pub struct ConfigEdits {
    /// Placeholder -> value (e.g. `CGW_PUBLIC_KEY` -> the key).
    pub replace: Vec<(String, String)>,
    /// `admin_socket` to set under `[gateway]` (replacing any, even commented, line).
    pub admin_socket: Option<PathBuf>,
    /// `name` to set under `[tun]`.
    pub tun_name: Option<String>,
}

fn section_of(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .map(|s| s.trim_matches(|c| c == '[' || c == ']').trim())
}

fn is_key(line: &str, key: &str) -> bool {
    let t = line.trim_start().trim_start_matches('#').trim_start();
    t.strip_prefix(key)
        .is_some_and(|r| r.trim_start().starts_with('='))
}

/// Applies `edits` to the text of an example TOML config.
pub fn render_config(example: &str, edits: &ConfigEdits) -> String {
    let mut text = example.to_string();
    for (from, to) in &edits.replace {
        text = text.replace(from.as_str(), to);
    }
    let mut out = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(s) = section_of(line) {
            section = s.to_string();
            out.push(line.to_string());
            if section == "gateway" {
                if let Some(sock) = &edits.admin_socket {
                    out.push(format!("admin_socket = \"{}\"", sock.display()));
                }
            }
            continue;
        }
        if section == "gateway" && edits.admin_socket.is_some() && is_key(line, "admin_socket") {
            continue;
        }
        if section == "tun" && !line.trim_start().starts_with('#') && is_key(line, "name") {
            if let Some(name) = &edits.tun_name {
                out.push(format!("name = \"{name}\""));
                continue;
            }
        }
        out.push(line.to_string());
    }
    out.join("\n") + "\n"
}

/// `sitelink status --json` output, with helpers; derefs to the JSON value.
#[derive(Debug, Clone)]
pub struct Status(pub Value);

impl Deref for Status {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl Status {
    /// All tunnels of all connections.
    pub fn tunnels(&self) -> Vec<&Value> {
        self.0["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["tunnels"].as_array().into_iter().flatten())
            .collect()
    }

    /// The tunnel with this inside CIDR.
    pub fn tunnel(&self, inside_cidr: &str) -> Option<&Value> {
        self.tunnels()
            .into_iter()
            .find(|t| t["inside_cidr"] == inside_cidr)
    }

    /// The active tunnel of the first connection: its `active_tunnel` field,
    /// else the first tunnel marked `"active": true`.
    pub fn active_tunnel(&self) -> Option<String> {
        let conn = &self.0["connections"][0];
        if let Some(s) = conn["active_tunnel"].as_str() {
            return Some(s.to_string());
        }
        conn["tunnels"]
            .as_array()?
            .iter()
            .find(|t| t["active"] == true)
            .and_then(|t| t["inside_cidr"].as_str())
            .map(str::to_string)
    }

    /// True if there is at least one tunnel and every tunnel's liveness is "up".
    pub fn all_tunnels_up(&self) -> bool {
        let t = self.tunnels();
        !t.is_empty() && t.iter().all(|t| t["liveness"] == "up")
    }

    /// `inside_cidr=liveness` for each tunnel, for messages.
    pub fn summary(&self) -> String {
        let tunnels: Vec<String> = self
            .tunnels()
            .iter()
            .map(|t| {
                format!(
                    "{}={}{}",
                    t["inside_cidr"].as_str().unwrap_or("?"),
                    t["liveness"].as_str().unwrap_or("?"),
                    if t["active"] == true { "*" } else { "" }
                )
            })
            .collect();
        format!(
            "{}: active={:?} [{}]",
            self.0["gateway"].as_str().unwrap_or("?"),
            self.active_tunnel(),
            tunnels.join(" ")
        )
    }

    /// The endpoint object with this name.
    pub fn endpoint(&self, name: &str) -> Option<&Value> {
        self.0["endpoints"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
    }

    /// A numeric counter of an endpoint (e.g. `dropped_datagrams`).
    pub fn endpoint_counter(&self, endpoint: &str, counter: &str) -> Option<u64> {
        self.endpoint(endpoint)?[counter].as_u64()
    }
}

/// Bound for one `sitelink status` call.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `sitelink status --socket SOCKET --json` inside `ns` and parses it.
pub fn status_json(ns: &Netns, bin: &Path, socket: &Path) -> Result<Status> {
    let sock = socket.to_string_lossy();
    let out = process::run_ok(
        &mut ns.command(bin, &["status", "--socket", &sock, "--json"]),
        STATUS_TIMEOUT,
    )?;
    serde_json::from_str(&out).map(Status).map_err(|e| {
        Error::msg(format!(
            "`sitelink status --json` printed bad JSON ({e}):\n{out}"
        ))
    })
}

/// Runs `sitelink status --socket SOCKET` (the human table) inside `ns`.
pub fn status_text(ns: &Netns, bin: &Path, socket: &Path) -> Result<String> {
    let sock = socket.to_string_lossy();
    process::run_ok(
        &mut ns.command(bin, &["status", "--socket", &sock]),
        STATUS_TIMEOUT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VGW: &str = "[gateway]\nname = \"vgw\"\n# admin_socket = \"/run/sitelink/vgw.sock\"\n\n[tun]\nname = \"sl-vgw\"\nmtu = 1420\n\n[[connection]]\nname = \"office\"\n[[connection.tunnel]]\nremote_public_key = \"CGW_PUBLIC_KEY\"\n";

    #[test]
    fn renders_lab_config() {
        let edits = ConfigEdits {
            replace: vec![("CGW_PUBLIC_KEY".into(), "abc=".into())],
            admin_socket: Some("/tmp/x/vgw.sock".into()),
            tun_name: Some("slv1x0".into()),
        };
        let out = render_config(VGW, &edits);
        assert!(out.contains("[gateway]\nadmin_socket = \"/tmp/x/vgw.sock\"\nname = \"vgw\"\n"));
        assert!(!out.contains("/run/sitelink"));
        assert!(out.contains("[tun]\nname = \"slv1x0\"\n"));
        assert!(out.contains("[[connection]]\nname = \"office\""));
        assert!(out.contains("remote_public_key = \"abc=\""));
    }

    #[test]
    fn reads_status() {
        let s = Status(serde_json::json!({
            "gateway": "cgw",
            "connections": [{"name": "aws", "routing": "static", "active_tunnel": "169.254.10.0/30",
                "tunnels": [
                    {"inside_cidr": "169.254.10.0/30", "endpoint": "wan", "liveness": "up", "active": true},
                    {"inside_cidr": "169.254.11.0/30", "endpoint": "wan", "liveness": "down", "active": false}]}],
            "endpoints": [{"name": "wan", "listen": "198.18.10.2:51820", "rx_datagrams": 7, "dropped_datagrams": 3}]
        }));
        assert_eq!(s.active_tunnel().as_deref(), Some("169.254.10.0/30"));
        assert!(!s.all_tunnels_up());
        assert_eq!(s.endpoint_counter("wan", "dropped_datagrams"), Some(3));
        assert_eq!(s.tunnel("169.254.11.0/30").unwrap()["liveness"], "down");
    }
}
