//! FRR's bgpd as a stock peer, run the way route servers and containers run
//! it: without zebra (`bgpd -Z`), so it cannot look at interfaces to tell
//! whether a next hop is on-link, and installs nothing in the kernel. It is
//! configured by hand (sitelink exports no FRR format): [`FrrConfig`]
//! renders the far side of the lab's connection "office" from the tunnels'
//! inside addresses. The daemon runs in the foreground as a [`Spawned`]
//! child, its vty socket and log in the lab directory; `vtysh` reaches it
//! through that socket.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::netns::Netns;
use crate::process::{self, Spawned, SHORT};
use crate::{Error, Result};

/// Where Debian installs the daemon.
const BGPD: &str = "/usr/lib/frr/bgpd";

/// One BGP neighbor of the far side: the VGW's inside address of a tunnel,
/// and the IPv6 next hop this side sends (its own IPv6 inside address).
pub struct FrrNeighbor {
    pub address: String,
    pub ipv6_next_hop: Option<String>,
}

/// The far side's bgpd.conf: AS `asn` with `router_id`, originating
/// `networks` (IPv4 and IPv6), one eBGP session per neighbor to AS
/// `remote_asn`, both families activated on each (IPv6 routes over the IPv4
/// sessions, RFC 4760).
pub struct FrrConfig {
    pub asn: u64,
    pub router_id: String,
    pub remote_asn: u64,
    pub networks: Vec<String>,
    pub neighbors: Vec<FrrNeighbor>,
}

impl FrrConfig {
    pub fn render(&self) -> String {
        let mut s = String::from("frr defaults traditional\nhostname far-side\n!\n");
        let _ = writeln!(s, "router bgp {}", self.asn);
        let _ = writeln!(s, " bgp router-id {}", self.router_id);
        // Without zebra there is no RIB to check networks against, and FRR
        // 8 sends nothing over eBGP without a policy unless told so.
        s.push_str(" no bgp network import-check\n no bgp ebgp-requires-policy\n");
        for n in &self.neighbors {
            let _ = writeln!(s, " neighbor {} remote-as {}", n.address, self.remote_asn);
            let _ = writeln!(s, " neighbor {} timers connect 2", n.address);
        }
        for (afi, v6) in [("ipv4", false), ("ipv6", true)] {
            let _ = writeln!(s, " address-family {afi} unicast");
            for net in self.networks.iter().filter(|n| n.contains(':') == v6) {
                let _ = writeln!(s, "  network {net}");
            }
            for (i, n) in self.neighbors.iter().enumerate() {
                let _ = writeln!(s, "  neighbor {} activate", n.address);
                if v6 && n.ipv6_next_hop.is_some() {
                    let _ = writeln!(s, "  neighbor {} route-map nh6-{i} out", n.address);
                }
            }
            s.push_str(" exit-address-family\n");
        }
        s.push_str("!\n");
        for (i, n) in self.neighbors.iter().enumerate() {
            if let Some(hop) = &n.ipv6_next_hop {
                let _ = writeln!(
                    s,
                    "route-map nh6-{i} permit 10\n set ipv6 next-hop global {hop}\n!"
                );
            }
        }
        s
    }
}

/// A bgpd without zebra in a namespace.
pub struct Frr {
    proc: Spawned,
    vty: PathBuf,
}

impl Frr {
    /// Whether FRR's bgpd is installed (`scripts/install-deps.sh` installs
    /// Debian's `frr`).
    pub fn installed() -> bool {
        Path::new(BGPD).exists()
    }

    /// Writes `conf` to `dir/bgpd.conf`, checks it (`bgpd -C`) and runs
    /// `bgpd -Z` in `ns` with its vty socket and log in `dir`.
    pub fn start(ns: &Netns, conf: &FrrConfig, dir: &Path) -> Result<Frr> {
        fs::create_dir_all(dir)?;
        let file = dir.join("bgpd.conf");
        fs::write(&file, conf.render())?;
        let vty = dir.to_path_buf();
        let pid = dir.join("bgpd.pid");
        let log = format!("file:{}", dir.join("bgpd.log").display());
        let mut args: Vec<String> = vec![
            "-Z".into(),
            "-S".into(),
            "-f".into(),
            file.display().to_string(),
            "-i".into(),
            pid.display().to_string(),
            "--vty_socket".into(),
            vty.display().to_string(),
            "-P".into(),
            "0".into(),
        ];
        let mut check = Command::new(BGPD);
        check.args(&args).arg("-C");
        let out = process::run(&mut check, SHORT)?;
        if !out.status.success() {
            return Err(Error::msg(format!(
                "bgpd -C refused {}: {}{}",
                file.display(),
                out.stdout.trim(),
                out.stderr.trim()
            )));
        }
        args.extend(["--log".into(), log]);
        let proc = Spawned::start("bgpd", ns.command(BGPD, &args), &dir.join("bgpd.out"))?;
        let me = Frr { proc, vty };
        process::wait_until(
            "bgpd's vty socket",
            Duration::from_secs(10),
            Duration::from_millis(100),
            || me.vtysh("show bgp summary").is_ok(),
        )?;
        Ok(me)
    }

    /// `vtysh -d bgpd -c COMMAND` through the daemon's vty socket.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        let mut cmd = Command::new("vtysh");
        cmd.arg("--vty_socket")
            .arg(&self.vty)
            .args(["-d", "bgpd", "-c", command]);
        process::run_ok(&mut cmd, SHORT)
    }

    /// `COMMAND json`, parsed.
    pub fn json(&self, command: &str) -> Result<Value> {
        let text = self.vtysh(&format!("{command} json"))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::msg(format!("vtysh {command:?}: not JSON ({e}): {text}")))
    }

    /// The paths FRR holds for `prefix` of `afi` ("ipv4" or "ipv6"), as
    /// `show bgp AFI unicast PREFIX json` lists them (empty if none).
    pub fn paths(&self, afi: &str, prefix: &str) -> Vec<Value> {
        self.json(&format!("show bgp {afi} unicast {prefix}"))
            .ok()
            .and_then(|v| v.get("paths").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    }

    /// How many times the session with `neighbor` came up
    /// (`connectionsEstablished`), and its state.
    pub fn neighbor(&self, neighbor: &str) -> Option<(u64, String)> {
        let v = self.json(&format!("show bgp neighbors {neighbor}")).ok()?;
        let n = v.get(neighbor)?;
        Some((
            n.get("connectionsEstablished")?.as_u64()?,
            n.get("bgpState")?.as_str()?.to_string(),
        ))
    }

    /// Its log so far (the log file, then what it printed).
    pub fn log(&self) -> String {
        let file = fs::read_to_string(self.vty.join("bgpd.log")).unwrap_or_default();
        format!("{file}{}", self.proc.log())
    }
}
