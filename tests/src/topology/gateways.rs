//! The `sitelink` processes of a [`SiteLab`]: keys and configs in the lab
//! directory (rendered from `examples/<topology>/<name>.toml`, or
//! `examples/ipv6-underlay/<topology>/` over an IPv6 underlay, with the
//! public keys filled in and the admin socket, key file and TUN name made
//! unique), start, `kill -9`, restart with the same config and keys (or with
//! some keys changed), and what the tests read from them: status, BGP peers,
//! route tables, per-tunnel counters, logs. Every wait is bounded and its
//! error carries the gateway logs.
//!
//! A gateway process dies with the thread that started it
//! (`PR_SET_PDEATHSIG`): start and restart gateways from the test's own
//! thread, never from a scoped helper thread.

use super::{SiteLab, TUNNEL_1, TUNNEL_2, TUNNEL_3, TUNNEL_4};
use crate::error::{Error, Result};
use crate::gateway::{self, ConfigEdits, Gw, Status, TomlSet};
use crate::process::{self, Spawned};
use crate::routing::{self, Bgp, Routes};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bound for a gateway's admin socket to answer after a (re)start.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Routes listed per gateway in [`SiteLab::gateway_logs`] (a large table
/// would drown the message).
const LOGGED_ROUTES: usize = 40;

/// One gateway of the lab.
pub(super) struct GwRun {
    gw: Gw,
    proc: Spawned,
    socket: PathBuf,
    config: PathBuf,
    example: PathBuf,
    edits: ConfigEdits,
    starts: u32,
}

impl SiteLab {
    /// Makes keys and configs in the lab directory and starts `sitelink run`
    /// for every gateway of the topology, with `set` applied to their
    /// configs; returns once every admin socket answers.
    pub fn start_gateways(
        &mut self,
        bin: &Path,
        rust_log: Option<&str>,
        set: &[(Gw, TomlSet)],
        replace: &[(Gw, String, String)],
    ) -> Result<()> {
        let dir = self.lab.dir().to_path_buf();
        let topo = self.topology;
        let mut keys = Vec::new();
        for &gw in topo.gateways() {
            let name = topo.gw_name(gw);
            let public = gateway::make_key(bin, &dir.join(format!("{name}.key")))?;
            keys.push((format!("{}_PUBLIC_KEY", name.to_uppercase()), public));
        }
        for &gw in topo.stock_gateways() {
            let name = topo.gw_name(gw);
            let public = crate::stock::wg_genkey(&dir.join(format!("{name}.key")))?;
            keys.push((format!("{}_PUBLIC_KEY", name.to_uppercase()), public));
        }
        self.log_level = rust_log
            .map(str::to_string)
            .or_else(|| std::env::var("RUST_LOG").ok())
            .unwrap_or_else(|| "info".into());
        self.bin = Some(bin.to_path_buf());
        let examples = gateway::workspace_dir()
            .join("examples")
            .join(self.underlay.example_dir(topo)?);
        let short = self.lab.short().to_string();
        for &gw in topo.gateways() {
            let name = topo.gw_name(gw);
            let edits = ConfigEdits {
                replace: replace
                    .iter()
                    .filter(|(g, _, _)| *g == gw)
                    .map(|(_, from, to)| (from.clone(), to.clone()))
                    .chain(keys.iter().cloned())
                    .collect(),
                admin_socket: Some(dir.join(format!("{name}.sock"))),
                private_key_file: Some(dir.join(format!("{name}.key"))),
                tun_name: Some(tun_name(&short, &tun_suffix(name))),
                set: set
                    .iter()
                    .filter(|(g, _)| *g == gw)
                    .map(|(_, s)| s.clone())
                    .collect(),
            };
            let run = self.spawn(gw, examples.join(format!("{name}.toml")), edits, 1)?;
            self.runs.push(run);
        }
        for &gw in topo.gateways() {
            self.wait_ready(gw)?;
        }
        Ok(())
    }

    /// Renders `example` with `edits` into `<name>.toml` and starts it
    /// (log `<name>.log`, or `<name>.<starts>.log` after a restart).
    fn spawn(&self, gw: Gw, example: PathBuf, edits: ConfigEdits, starts: u32) -> Result<GwRun> {
        let name = self.gw_name(gw);
        let dir = self.lab.dir();
        let text = fs::read_to_string(&example)
            .map_err(|e| Error::msg(format!("cannot read {}: {e}", example.display())))?;
        let config = dir.join(format!("{name}.toml"));
        fs::write(&config, gateway::render_config(&text, &edits))?;
        let conf = config.to_string_lossy().into_owned();
        let mut cmd = self.ns(gw).command(self.bin()?, &["run", "-c", &conf]);
        cmd.env("RUST_LOG", &self.log_level).env("NO_COLOR", "1");
        // systemd's variables only where a test gives them (see SiteOptions::env).
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            cmd.env_remove(key);
        }
        for (_, key, value) in self.env.iter().filter(|(g, _, _)| *g == gw) {
            cmd.env(key, value);
        }
        let log = if starts == 1 {
            dir.join(format!("{name}.log"))
        } else {
            dir.join(format!("{name}.{starts}.log"))
        };
        let proc = Spawned::start(name, cmd, &log)?;
        Ok(GwRun {
            gw,
            proc,
            socket: edits
                .admin_socket
                .clone()
                .expect("lab configs set a socket"),
            config,
            example,
            edits,
            starts,
        })
    }

    /// Waits until `gw`'s admin socket accepts a connection (a stale socket
    /// file of a killed process does not), or the process dies.
    fn wait_ready(&mut self, gw: Gw) -> Result<Duration> {
        let socket = self.socket(gw)?;
        let name = self.gw_name(gw);
        let mut died = false;
        let r = process::wait_until(
            &format!("{name} admin socket {}", socket.display()),
            START_TIMEOUT,
            Duration::from_millis(20),
            || {
                died = !self.gateway(gw).is_alive();
                died || UnixStream::connect(&socket).is_ok()
            },
        );
        if died {
            return Err(
                self.with_logs(Error::msg(format!("gateway {name} exited during start-up")))
            );
        }
        r.map_err(|e| self.with_logs(e))
    }

    fn index(&self, gw: Gw) -> Result<usize> {
        self.runs
            .iter()
            .position(|r| r.gw == gw)
            .ok_or_else(|| Error::msg(format!("gateway {} was not started", self.gw_name(gw))))
    }

    fn run_of(&self, gw: Gw) -> Result<&GwRun> {
        Ok(&self.runs[self.index(gw)?])
    }

    /// The process guard of a gateway (read its log, ...).
    /// Panics if the gateway was not started.
    pub fn gateway(&mut self, gw: Gw) -> &mut Spawned {
        let i = self.index(gw).expect("gateway not started");
        &mut self.runs[i].proc
    }

    /// Sends SIGKILL to a gateway (a crash: no goodbye to its peers; its TUN
    /// and kernel routes vanish with it). Takes `&self`, so a test can crash
    /// a gateway while its measuring threads borrow the lab; the process is
    /// reaped by the next look at it (or by [`SiteLab::restart`]).
    pub fn kill9(&self, gw: Gw) -> Result<()> {
        let pid = self.run_of(gw)?.proc.pid();
        // SAFETY: kill(2) on our own child, not yet reaped (a zombie at
        // worst), so the pid cannot belong to another process.
        if unsafe { libc::kill(pid as i32, libc::SIGKILL) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::msg(format!(
                "kill -9 {pid} ({}): {e}",
                self.gw_name(gw)
            )));
        }
        Ok(())
    }

    /// Stops a gateway if it still runs (SIGTERM, then SIGKILL after 5 s)
    /// and starts it again with the same config and keys; returns once its
    /// admin socket answers (the time that took).
    pub fn restart(&mut self, gw: Gw) -> Result<Duration> {
        self.restart_with(gw, None)
    }

    /// Like [`SiteLab::restart`], but with the config re-rendered from the
    /// example with `set` in place of the keys set so far (`None`: keep them).
    pub fn restart_with(&mut self, gw: Gw, set: Option<Vec<TomlSet>>) -> Result<Duration> {
        let i = self.index(gw)?;
        self.runs[i].proc.terminate(Duration::from_secs(5));
        let (example, mut edits, starts) = {
            let r = &self.runs[i];
            (r.example.clone(), r.edits.clone(), r.starts + 1)
        };
        if let Some(set) = set {
            edits.set = set;
        }
        let run = self.spawn(gw, example, edits, starts)?;
        // The old guard's drop finds its process already reaped.
        self.runs[i] = run;
        self.wait_ready(gw)
    }

    /// The admin socket of a gateway.
    pub fn socket(&self, gw: Gw) -> Result<PathBuf> {
        Ok(self.run_of(gw)?.socket.clone())
    }

    /// The rendered config file of a gateway.
    pub fn config_path(&self, gw: Gw) -> Result<PathBuf> {
        Ok(self.run_of(gw)?.config.clone())
    }

    /// The sitelink binary in use.
    pub fn bin(&self) -> Result<&Path> {
        self.bin
            .as_deref()
            .ok_or_else(|| Error::msg("gateways were not started"))
    }

    /// `sitelink status --json` of a gateway.
    pub fn status(&self, gw: Gw) -> Result<Status> {
        gateway::status_json(self.ns(gw), self.bin()?, &self.socket(gw)?)
    }

    /// `sitelink status` (human table) of a gateway.
    pub fn status_text(&self, gw: Gw) -> Result<String> {
        gateway::status_text(self.ns(gw), self.bin()?, &self.socket(gw)?)
    }

    /// `sitelink bgp --json` of a gateway.
    pub fn bgp(&self, gw: Gw) -> Result<Bgp> {
        routing::bgp_json(self.ns(gw), self.bin()?, &self.socket(gw)?)
    }

    /// `sitelink routes --json` of a gateway (at most 10,000 routes: for a
    /// large table, ask for a prefix with [`SiteLab::routes_of`]).
    pub fn routes(&self, gw: Gw) -> Result<Routes> {
        routing::routes_json(self.ns(gw), self.bin()?, &self.socket(gw)?)
    }

    /// `sitelink routes --prefix PREFIX --json` of a gateway: the
    /// candidates of `prefix` (and of the prefixes holding it), cheap at
    /// any table size.
    pub fn routes_of(&self, gw: Gw, prefix: &str) -> Result<Routes> {
        routing::routes_json_with(
            self.ns(gw),
            self.bin()?,
            &self.socket(gw)?,
            &["--prefix", prefix],
        )
    }

    /// `inside_cidr -> counter` (e.g. `tx_packets`) of a gateway's tunnels.
    pub fn tunnel_counters(&self, gw: Gw, counter: &str) -> Result<BTreeMap<String, u64>> {
        Ok(self.status(gw)?.tunnel_counters(counter))
    }

    /// The inside CIDR of the active tunnel of a gateway.
    pub fn active_tunnel(&self, gw: Gw) -> Result<Option<String>> {
        Ok(self.status(gw)?.active_tunnel())
    }

    /// The whole log of `gw` so far (empty when it was not started).
    pub fn log_of(&self, gw: Gw) -> String {
        self.runs
            .iter()
            .filter(|run| run.gw == gw)
            .map(|run| run.proc.log())
            .collect()
    }

    /// The last 80 log lines of each started gateway, and its status (and
    /// BGP peers and its first 40 routes, in a dynamic topology).
    pub fn gateway_logs(&self) -> String {
        let mut s = String::new();
        for run in &self.runs {
            let name = self.gw_name(run.gw);
            let log = run.proc.log();
            let lines: Vec<&str> = log.lines().collect();
            let from = lines.len().saturating_sub(80);
            s.push_str(&format!(
                "----- {name} log ({}), last {} lines -----\n{}\n",
                run.proc.log_path().display(),
                lines.len() - from,
                lines[from..].join("\n")
            ));
            match self.status(run.gw) {
                Ok(st) => s.push_str(&format!("status {}\n", st.summary())),
                Err(e) => {
                    s.push_str(&format!("status of {name}: {e}\n"));
                    continue;
                }
            }
            if self.topology.is_dynamic() {
                match self.bgp(run.gw) {
                    Ok(b) => s.push_str(&format!("bgp {}\n", b.summary())),
                    Err(e) => s.push_str(&format!("bgp of {name}: {e}\n")),
                }
                let limit = LOGGED_ROUTES.to_string();
                let routes = self.bin().and_then(|bin| {
                    routing::routes_json_with(
                        self.ns(run.gw),
                        bin,
                        &run.socket,
                        &["--limit", &limit],
                    )
                });
                match routes {
                    Ok(r) => s.push_str(&format!("routes {}\n", r.summary())),
                    Err(e) => s.push_str(&format!("routes of {name}: {e}\n")),
                }
            }
        }
        s
    }

    /// Appends the gateway logs to an error.
    pub fn with_logs(&self, e: Error) -> Error {
        e.context(self.gateway_logs())
    }

    /// [`process::wait_until`] (50 ms poll) whose error carries the gateway logs.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl FnMut() -> bool,
    ) -> Result<Duration> {
        process::wait_until(what, timeout, Duration::from_millis(50), cond)
            .map_err(|e| self.with_logs(e))
    }

    /// Waits until every gateway reports every tunnel "up".
    pub fn wait_all_tunnels_up(&self, timeout: Duration) -> Result<Duration> {
        self.wait_until("every gateway to report all tunnels up", timeout, || {
            self.runs
                .iter()
                .all(|r| self.status(r.gw).is_ok_and(|s| s.all_tunnels_up()))
        })
    }

    /// Waits until `gw`'s BGP peers over `tunnels` are all established.
    pub fn wait_established(
        &self,
        gw: Gw,
        tunnels: &[&str],
        timeout: Duration,
    ) -> Result<Duration> {
        self.wait_until(
            &format!(
                "{}'s BGP sessions over {tunnels:?} to be established",
                self.gw_name(gw)
            ),
            timeout,
            || {
                self.bgp(gw)
                    .is_ok_and(|b| tunnels.iter().all(|t| b.is_established(t)))
            },
        )
    }

    /// Waits until every gateway has one established BGP session per tunnel
    /// of the example ([`Topology::tunnels`]).
    pub fn wait_all_established(&self, timeout: Duration) -> Result<Duration> {
        self.wait_until(
            "every gateway's BGP sessions to be established",
            timeout,
            || {
                self.runs.iter().all(|r| {
                    let want = self.topology.tunnels(r.gw);
                    self.bgp(r.gw).is_ok_and(|b| {
                        b.peers().len() == want.len() && want.iter().all(|t| b.is_established(t))
                    })
                })
            },
        )
    }

    /// Waits until `gw`'s route table has, for each of `prefixes`, a BGP
    /// candidate over each of `tunnels` with this AS path, selected or not
    /// as `selected` says.
    pub fn wait_routes(
        &self,
        gw: Gw,
        prefixes: &[&str],
        tunnels: &[&str],
        as_path: &[u64],
        selected: bool,
        timeout: Duration,
    ) -> Result<Duration> {
        self.wait_until(
            &format!(
                "{} to have {prefixes:?} over {tunnels:?} with AS path {as_path:?}, selected={selected}",
                self.gw_name(gw)
            ),
            timeout,
            || {
                self.routes(gw).is_ok_and(|r| {
                    prefixes.iter().all(|p| {
                        tunnels
                            .iter()
                            .all(|t| r.has_bgp(p, t, as_path, selected))
                    })
                })
            },
        )
    }

    /// Waits until both gateways name `inside_cidr` as their active tunnel
    /// (static connections).
    pub fn wait_active(&self, inside_cidr: &str, timeout: Duration) -> Result<Duration> {
        self.wait_until(
            &format!("both gateways to make {inside_cidr} active"),
            timeout,
            || {
                [Gw::Cgw, Gw::Vgw].iter().all(|gw| {
                    self.active_tunnel(*gw)
                        .is_ok_and(|a| a.as_deref() == Some(inside_cidr))
                })
            },
        )
    }

    /// The active tunnel both gateways agree on (an error if they differ).
    pub fn agreed_active_tunnel(&self) -> Result<String> {
        let c = self.active_tunnel(Gw::Cgw)?;
        let v = self.active_tunnel(Gw::Vgw)?;
        match (c, v) {
            (Some(c), Some(v)) if c == v => Ok(c),
            (c, v) => Err(self.with_logs(Error::msg(format!(
                "gateways disagree on the active tunnel: cgw {c:?}, vgw {v:?}"
            )))),
        }
    }

    /// The VGW endpoint link (1 = az1, 2 = az2) a tunnel runs over, from the
    /// vgw's status (falling back to the examples' layout).
    pub fn vgw_link_of_tunnel(&self, inside_cidr: &str) -> Result<u8> {
        let ep = self.status(Gw::Vgw).ok().and_then(|s| {
            s.tunnel(inside_cidr)?["endpoint"]
                .as_str()
                .map(str::to_string)
        });
        match (ep.as_deref(), inside_cidr) {
            (Some("az1"), _) | (None, TUNNEL_1 | TUNNEL_3) => Ok(1),
            (Some("az2"), _) | (None, TUNNEL_2 | TUNNEL_4) => Ok(2),
            (ep, t) => Err(Error::msg(format!(
                "no VGW link known for tunnel {t} (endpoint {ep:?})"
            ))),
        }
    }
}

/// The TUN suffix of a gateway: its first letter and any trailing digit
/// (`vgw` -> `v`, `cgw1` -> `c1`).
fn tun_suffix(name: &str) -> String {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    format!("{}{}", &name[..1], &name[name.len() - digits..])
}

/// `sl<short><suffix>`, cut to the 15-byte interface name limit (keeping the suffix).
fn tun_name(short: &str, suffix: &str) -> String {
    let keep = 15 - 2 - suffix.len();
    let short = &short[short.len().saturating_sub(keep)..];
    format!("sl{short}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::super::Topology;
    use super::*;

    #[test]
    fn tun_names_fit_and_differ() {
        assert_eq!(tun_suffix("vgw"), "v");
        assert_eq!(tun_suffix("cgw1"), "c1");
        assert_eq!(tun_name("4242x0", "c2"), "sl4242x0c2");
        let long = tun_name("4194304x12345", "c1");
        assert!(long.len() <= 15 && long.ends_with("c1"), "{long}");
        assert_eq!(Topology::Ha.gw_name(Gw::Cgw), "cgw1");
        assert_eq!(Topology::Dynamic.gw_name(Gw::Cgw), "cgw");
    }
}
