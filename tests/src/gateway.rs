//! Everything about the `sitelink` binary as the tests see it: where it is
//! (`SITELINK_BIN`, else `<workspace>/target/debug/sitelink`), making keys with
//! `sitelink genkey` / `sitelink pubkey`, turning an example config into a
//! lab config (public keys filled in, admin socket, key file and TUN name made
//! unique, chosen keys set with [`TomlSet`]), and reading `sitelink status
//! --json` through [`Status`], a thin view over the JSON the host prints
//! (other `--json` answers: [`admin_json`], and [`crate::routing`]).

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::{self, SHORT};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The gateways of a lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Gw {
    /// The customer gateway (site A's side); in topology 3 (HA), the first
    /// of the two (`cgw1`, on uplink 1).
    Cgw,
    /// The second customer gateway of topology 3 (HA), `cgw2`, on uplink 2,
    /// in the same namespace as the first.
    Cgw2,
    /// The virtual private gateway (the "AWS" side, site B).
    Vgw,
}

impl Gw {
    /// `"cgw"`, `"cgw2"` or `"vgw"` (the lab names a gateway after its
    /// topology: see `SiteLab::gw_name`, where HA's first CGW is `"cgw1"`).
    pub fn name(self) -> &'static str {
        match self {
            Gw::Cgw => "cgw",
            Gw::Cgw2 => "cgw2",
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
    /// `private_key_file` to set under `[gateway]` (replacing the example's).
    pub private_key_file: Option<PathBuf>,
    /// `name` to set under `[tun]`.
    pub tun_name: Option<String>,
    /// Keys to set (or add) in chosen tables, e.g. `[route_table] propagation = false`.
    pub set: Vec<TomlSet>,
}

/// One key set by [`render_config`]: `key = value` in every table whose
/// header is `table` (`[table]` or `[[table]]`), replacing the key's
/// uncommented line there (a multi-line array too). A table the example does
/// not have is appended at the end as `[table]`, so only name top-level
/// tables (`route_table`, `bgp`, ...) that may be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlSet {
    /// The table header without brackets, e.g. `connection.bgp`.
    pub table: String,
    /// The key, e.g. `max_prefixes`.
    pub key: String,
    /// The value as TOML, e.g. `3`, `"drop"`, `["10.1.0.0/24"]`.
    pub value: String,
}

impl TomlSet {
    /// `[table] key = value` (`value` is TOML: quote strings yourself).
    pub fn new(table: &str, key: &str, value: impl Into<String>) -> TomlSet {
        TomlSet {
            table: table.to_string(),
            key: key.to_string(),
            value: value.into(),
        }
    }
}

/// A TOML array of strings: `["a", "b"]`.
pub fn toml_strings<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{:?}", s.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
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

/// How many lines a value that starts on `line` spans (a multi-line array).
fn value_lines(lines: &[&str], at: usize) -> usize {
    let open = |l: &str| l.matches('[').count() as i64 - l.matches(']').count() as i64;
    let mut depth = open(lines[at].split_once('=').map_or("", |(_, v)| v));
    let mut n = 1;
    while depth > 0 && at + n < lines.len() {
        depth += open(lines[at + n]);
        n += 1;
    }
    n
}

/// Applies `edits` to the text of an example TOML config.
pub fn render_config(example: &str, edits: &ConfigEdits) -> String {
    let mut text = example.to_string();
    for (from, to) in &edits.replace {
        text = text.replace(from.as_str(), to);
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut section = String::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if let Some(s) = section_of(line) {
            section = s.to_string();
            seen.insert(section.clone());
            out.push(line.to_string());
            if section == "gateway" {
                if let Some(sock) = &edits.admin_socket {
                    out.push(format!("admin_socket = \"{}\"", sock.display()));
                }
                if let Some(key) = &edits.private_key_file {
                    out.push(format!("private_key_file = \"{}\"", key.display()));
                }
            }
            for set in edits.set.iter().filter(|e| e.table == section) {
                out.push(format!("{} = {}", set.key, set.value));
            }
            continue;
        }
        let live = !line.trim_start().starts_with('#');
        let replaced =
            (section == "gateway" && edits.admin_socket.is_some() && is_key(line, "admin_socket"))
                || (section == "gateway"
                    && live
                    && edits.private_key_file.is_some()
                    && is_key(line, "private_key_file"))
                || (live
                    && edits
                        .set
                        .iter()
                        .any(|e| e.table == section && is_key(line, &e.key)));
        if replaced {
            if live {
                i += value_lines(&lines, i - 1) - 1;
            }
            continue;
        }
        if section == "tun" && live && is_key(line, "name") {
            if let Some(name) = &edits.tun_name {
                out.push(format!("name = \"{name}\""));
                continue;
            }
        }
        out.push(line.to_string());
    }
    let mut missing: Vec<&str> = Vec::new();
    for set in &edits.set {
        if !seen.contains(&set.table) && !missing.contains(&set.table.as_str()) {
            missing.push(&set.table);
        }
    }
    for table in missing {
        out.push(String::new());
        out.push(format!("[{table}]"));
        for set in edits.set.iter().filter(|e| e.table == table) {
            out.push(format!("{} = {}", set.key, set.value));
        }
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

    /// How many IPv4 and IPv6 prefixes the FIB in force holds (`fib`:
    /// learned and static routes plus the tunnels' inside /30s), cheap to
    /// read whatever the table size.
    pub fn fib_routes(&self) -> Option<(u64, u64)> {
        let fib = &self.0["fib"];
        Some((fib["routes_v4"].as_u64()?, fib["routes_v6"].as_u64()?))
    }

    /// `inside_cidr -> counter` (e.g. `tx_packets`) for every tunnel.
    pub fn tunnel_counters(&self, counter: &str) -> BTreeMap<String, u64> {
        self.tunnels()
            .iter()
            .map(|t| {
                (
                    t["inside_cidr"].as_str().unwrap_or("?").to_string(),
                    t[counter].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }
}

/// Per-tunnel growth of a counter between two [`Status::tunnel_counters`]
/// snapshots (a tunnel missing before counts from 0).
pub fn counter_delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| {
            let b = before.get(k).copied().unwrap_or(0);
            (k.clone(), v.saturating_sub(b))
        })
        .collect()
}

/// Each tunnel's share (0..=1) of the sum of `delta`.
pub fn shares(delta: &BTreeMap<String, u64>) -> BTreeMap<String, f64> {
    let total: u64 = delta.values().sum();
    delta
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64 / total.max(1) as f64))
        .collect()
}

/// Bound for one `sitelink status` call.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `sitelink ARGS --socket SOCKET --json` inside `ns` (e.g. `["bgp"]`,
/// `["routes"]`) and parses the answer.
pub fn admin_json(ns: &Netns, bin: &Path, socket: &Path, args: &[&str]) -> Result<Value> {
    let sock = socket.to_string_lossy();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--socket", &sock, "--json"]);
    let out = process::run_ok(&mut ns.command(bin, &all), STATUS_TIMEOUT)?;
    serde_json::from_str(&out).map_err(|e| {
        Error::msg(format!(
            "`sitelink {} --json` printed bad JSON ({e}):\n{out}",
            args.join(" ")
        ))
    })
}

/// Runs `sitelink status --socket SOCKET --json` inside `ns` and parses it.
pub fn status_json(ns: &Netns, bin: &Path, socket: &Path) -> Result<Status> {
    admin_json(ns, bin, socket, &["status"]).map(Status)
}

/// The admin API's `status` request, one line (see the host's `api` module).
const STATUS_REQUEST: &[u8] = b"{\"version\":1,\"cmd\":\"status\"}\n";

/// Asks the admin socket at `socket` for `status` itself, as the CLI does
/// (one request line, one answer line), and returns the answer with the
/// time from connecting to its last byte: the gateway's answer time,
/// without the CLI's start-up. (The socket is a file: no namespace needed.)
pub fn status_timed(socket: &Path, timeout: Duration) -> Result<(Status, Duration)> {
    use std::io::Read;
    let start = std::time::Instant::now();
    let fail = |e: std::io::Error| Error::msg(format!("status on {}: {e}", socket.display()));
    let stream = crate::unix_socket::connect(socket, timeout).map_err(fail)?;
    let mut io = crate::unix_socket::Deadline::new(&stream, timeout);
    io.write_all(STATUS_REQUEST).map_err(fail)?;
    let mut answer = String::new();
    io.read_to_string(&mut answer).map_err(fail)?;
    let took = start.elapsed();
    let value: Value = serde_json::from_str(&answer).map_err(|e| {
        Error::msg(format!(
            "status on {} answered bad JSON ({e}): {answer}",
            socket.display()
        ))
    })?;
    if let Some(err) = value["error"].as_str() {
        return Err(Error::msg(format!(
            "status on {} answered an error: {err}",
            socket.display()
        )));
    }
    Ok((Status(value), took))
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
            ..ConfigEdits::default()
        };
        let out = render_config(VGW, &edits);
        assert!(out.contains("[gateway]\nadmin_socket = \"/tmp/x/vgw.sock\"\nname = \"vgw\"\n"));
        assert!(!out.contains("/run/sitelink"));
        assert!(out.contains("[tun]\nname = \"slv1x0\"\n"));
        assert!(out.contains("[[connection]]\nname = \"office\""));
        assert!(out.contains("remote_public_key = \"abc=\""));
    }

    const DYN: &str = "[gateway]\nname = \"cgw\"\nprivate_key_file = \"cgw.key\"\n\n[bgp]\nasn = 65000\nnetworks = [\n  \"10.1.0.0/24\",\n  \"fd00:1::/64\",\n]\n\n[[connection]]\nname = \"a\"\n\n[connection.bgp]\nremote_asn = 64512\n# max_prefixes = 100\nmax_prefixes_action = \"close\"\n\n[[connection]]\nname = \"b\"\n\n[connection.bgp]\nremote_asn = 64512\n";

    #[test]
    fn sets_keys_in_tables() {
        let edits = ConfigEdits {
            private_key_file: Some("/lab/cgw.key".into()),
            set: vec![
                TomlSet::new(
                    "bgp",
                    "networks",
                    toml_strings(&["10.1.0.0/24", "10.1.1.0/24"]),
                ),
                TomlSet::new("connection.bgp", "max_prefixes", "3"),
                TomlSet::new("connection.bgp", "max_prefixes_action", "\"drop\""),
                TomlSet::new("route_table", "propagation", "false"),
            ],
            ..ConfigEdits::default()
        };
        let out = render_config(DYN, &edits);
        assert!(out.contains("[gateway]\nprivate_key_file = \"/lab/cgw.key\"\nname = \"cgw\"\n\n"));
        assert!(!out.contains("\"cgw.key\""));
        assert!(out.contains(
            "[bgp]\nnetworks = [\"10.1.0.0/24\", \"10.1.1.0/24\"]\nasn = 65000\n\n[[connection]]"
        ));
        assert!(!out.contains("fd00:1::/64"));
        assert_eq!(out.matches("max_prefixes = 3\n").count(), 2);
        assert_eq!(out.matches("max_prefixes_action = \"drop\"").count(), 2);
        assert!(!out.contains("\"close\""));
        assert!(out.contains("# max_prefixes = 100\n"));
        assert!(out.ends_with("remote_asn = 64512\n\n[route_table]\npropagation = false\n"));
    }

    #[test]
    fn counter_growth_and_shares() {
        let before = BTreeMap::from([("t1".to_string(), 10), ("t2".to_string(), 5)]);
        let after = BTreeMap::from([
            ("t1".to_string(), 40),
            ("t2".to_string(), 95),
            ("t3".to_string(), 30),
        ]);
        let d = counter_delta(&before, &after);
        assert_eq!(d["t1"], 30);
        assert_eq!(d["t2"], 90);
        assert_eq!(d["t3"], 30);
        let s = shares(&d);
        assert!((s["t2"] - 0.6).abs() < 1e-9);
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
        assert_eq!(s.fib_routes(), None);
        let s = Status(serde_json::json!({"fib": {"routes_v4": 100_003, "routes_v6": 1}}));
        assert_eq!(s.fib_routes(), Some((100_003, 1)));
    }
}
