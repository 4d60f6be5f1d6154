//! The labs of DESIGN.md, "Topologies the tests build". Topology 1, static:
//! [`StaticLab`] builds five namespaces (site-a host, cgw, inet, vgw, site-b
//! host) with the addresses of `examples/static/{cgw,vgw}.toml`; the "internet"
//! namespace has one link per public endpoint (vgw az1 198.18.1.2, vgw az2
//! 198.18.2.2, cgw 198.18.10.2), and the vgw routes by source address (one
//! table per endpoint, no main-table default) so a cut link's traffic cannot
//! escape through the other one. It can start both gateways (keys made with
//! `sitelink genkey`, configs rendered from the examples) and offers the
//! operations the tests need: cut/restore an endpoint link, read status, find
//! the active tunnel, and bounded waits whose errors carry the gateway logs.

use crate::error::{Error, Result};
use crate::gateway::{self, ConfigEdits, Gw, Status};
use crate::measure::{self, IperfResult};
use crate::netns::{veth, Lab, Netns};
use crate::process::{self, Spawned};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Site A host (behind the cgw), IPv4.
pub const SITE_A_V4: &str = "10.1.0.10";
/// Site A host, IPv6.
pub const SITE_A_V6: &str = "fd00:1::10";
/// Site B host (behind the vgw), IPv4.
pub const SITE_B_V4: &str = "10.2.0.10";
/// Site B host, IPv6.
pub const SITE_B_V6: &str = "fd00:2::10";
/// VGW endpoint az1 (link 1).
pub const VGW_AZ1: &str = "198.18.1.2";
/// VGW endpoint az2 (link 2).
pub const VGW_AZ2: &str = "198.18.2.2";
/// The CGW's uplink address.
pub const CGW_WAN: &str = "198.18.10.2";
/// The preferred tunnel (on az1 / link 1).
pub const TUNNEL_1: &str = "169.254.10.0/30";
/// The second tunnel (on az2 / link 2).
pub const TUNNEL_2: &str = "169.254.11.0/30";

/// Options for [`StaticLab::start_with`].
#[derive(Debug, Clone, Default)]
pub struct StaticOptions {
    /// The sitelink binary (default: [`gateway::sitelink_bin`]).
    pub bin: Option<PathBuf>,
    /// `RUST_LOG` for the gateways (default: inherited, else `info`).
    pub rust_log: Option<String>,
}

struct GwRun {
    proc: Spawned,
    socket: PathBuf,
    config: PathBuf,
}

/// Topology 1, "static". Fields drop in order: gateways, namespaces, then the
/// lab directory.
pub struct StaticLab {
    cgw_run: Option<GwRun>,
    vgw_run: Option<GwRun>,
    bin: Option<PathBuf>,
    /// Site A host: 10.1.0.10, fd00:1::10 on `eth0`.
    pub site_a: Netns,
    /// Customer gateway: `wan` 198.18.10.2, `lan` 10.1.0.1 / fd00:1::1.
    pub cgw: Netns,
    /// The "internet": `inet1` 198.18.1.1, `inet2` 198.18.2.1, `inet10` 198.18.10.1.
    pub inet: Netns,
    /// The VGW: `wan1` 198.18.1.2, `wan2` 198.18.2.2, `lan` 10.2.0.1 / fd00:2::1.
    pub vgw: Netns,
    /// Site B host: 10.2.0.10, fd00:2::10 on `eth0`.
    pub site_b: Netns,
    lab: Lab,
}

impl StaticLab {
    /// Builds the namespaces and links only (no gateways).
    pub fn build() -> Result<StaticLab> {
        let lab = Lab::new()?;
        let site_a = lab.netns("sa")?;
        let cgw = lab.netns("cgw")?;
        let inet = lab.netns("inet")?;
        let vgw = lab.netns("vgw")?;
        let site_b = lab.netns("sb")?;
        let me = StaticLab {
            cgw_run: None,
            vgw_run: None,
            bin: None,
            site_a,
            cgw,
            inet,
            vgw,
            site_b,
            lab,
        };
        me.plumb()?;
        Ok(me)
    }

    fn plumb(&self) -> Result<()> {
        let (a, c, i, v, b) = (&self.site_a, &self.cgw, &self.inet, &self.vgw, &self.site_b);
        for ns in [c, i, v] {
            ns.enable_forwarding()?;
        }
        // The internet: one link per public endpoint.
        veth(i, "inet1", v, "wan1")?;
        veth(i, "inet2", v, "wan2")?;
        veth(i, "inet10", c, "wan")?;
        i.add_addr("inet1", "198.18.1.1/24")?;
        i.add_addr("inet2", "198.18.2.1/24")?;
        i.add_addr("inet10", "198.18.10.1/24")?;
        v.add_addr("wan1", "198.18.1.2/24")?;
        v.add_addr("wan2", "198.18.2.2/24")?;
        c.add_addr("wan", "198.18.10.2/24")?;
        c.add_route("default", "198.18.10.1", None)?;
        // VGW: each endpoint address leaves by its own link; no main default.
        v.add_dev_route("198.18.1.0/24", "wan1", Some(101))?;
        v.add_route("default", "198.18.1.1", Some(101))?;
        v.add_rule_from(VGW_AZ1, 101, 1001)?;
        v.add_dev_route("198.18.2.0/24", "wan2", Some(102))?;
        v.add_route("default", "198.18.2.1", Some(102))?;
        v.add_rule_from(VGW_AZ2, 102, 1002)?;
        // Sites.
        veth(c, "lan", a, "eth0")?;
        c.add_addr("lan", "10.1.0.1/24")?;
        c.add_addr("lan", "fd00:1::1/64")?;
        a.add_addr("eth0", "10.1.0.10/24")?;
        a.add_addr("eth0", "fd00:1::10/64")?;
        a.add_route("default", "10.1.0.1", None)?;
        a.add_route("default", "fd00:1::1", None)?;
        veth(v, "lan", b, "eth0")?;
        v.add_addr("lan", "10.2.0.1/24")?;
        v.add_addr("lan", "fd00:2::1/64")?;
        b.add_addr("eth0", "10.2.0.10/24")?;
        b.add_addr("eth0", "fd00:2::10/64")?;
        b.add_route("default", "10.2.0.1", None)?;
        b.add_route("default", "fd00:2::1", None)?;
        Ok(())
    }

    /// Builds the lab and starts both gateways with default options.
    pub fn start() -> Result<StaticLab> {
        Self::start_with(StaticOptions::default())
    }

    /// Builds the lab and starts both gateways.
    pub fn start_with(opts: StaticOptions) -> Result<StaticLab> {
        let bin = match opts.bin {
            Some(b) => b,
            None => gateway::sitelink_bin()?,
        };
        let mut me = Self::build()?;
        me.start_gateways(&bin, opts.rust_log.as_deref())?;
        Ok(me)
    }

    /// Makes keys and configs in the lab directory and starts `sitelink run`
    /// in the cgw and vgw namespaces; returns once both admin sockets exist.
    pub fn start_gateways(&mut self, bin: &Path, rust_log: Option<&str>) -> Result<()> {
        let dir = self.lab.dir().to_path_buf();
        let vgw_pub = gateway::make_key(bin, &dir.join("vgw.key"))?;
        let cgw_pub = gateway::make_key(bin, &dir.join("cgw.key"))?;
        let examples = gateway::workspace_dir().join("examples/static");
        let short = self.lab.short().to_string();
        let log_level = rust_log
            .map(str::to_string)
            .or_else(|| std::env::var("RUST_LOG").ok())
            .unwrap_or_else(|| "info".into());
        self.bin = Some(bin.to_path_buf());
        for gw in [Gw::Vgw, Gw::Cgw] {
            let name = gw.name();
            let example = examples.join(format!("{name}.toml"));
            let text = fs::read_to_string(&example)
                .map_err(|e| Error::msg(format!("cannot read {}: {e}", example.display())))?;
            let socket = dir.join(format!("{name}.sock"));
            let edits = ConfigEdits {
                replace: vec![
                    ("CGW_PUBLIC_KEY".into(), cgw_pub.clone()),
                    ("VGW_PUBLIC_KEY".into(), vgw_pub.clone()),
                ],
                admin_socket: Some(socket.clone()),
                tun_name: Some(tun_name(&short, &name[..1])),
            };
            let config = dir.join(format!("{name}.toml"));
            fs::write(&config, gateway::render_config(&text, &edits))?;
            let conf = config.to_string_lossy().into_owned();
            let mut cmd = self.ns(gw).command(bin, &["run", "-c", &conf]);
            cmd.env("RUST_LOG", &log_level).env("NO_COLOR", "1");
            let proc = Spawned::start(name, cmd, &dir.join(format!("{name}.log")))?;
            let run = GwRun {
                proc,
                socket,
                config,
            };
            match gw {
                Gw::Vgw => self.vgw_run = Some(run),
                Gw::Cgw => self.cgw_run = Some(run),
            }
        }
        for gw in [Gw::Vgw, Gw::Cgw] {
            let socket = self.socket(gw)?;
            let mut died = false;
            let r = process::wait_until(
                &format!("{} admin socket {}", gw.name(), socket.display()),
                Duration::from_secs(10),
                Duration::from_millis(20),
                || {
                    died = !self.gateway(gw).is_alive();
                    died || socket.exists()
                },
            );
            if died {
                return Err(self.with_logs(Error::msg(format!(
                    "gateway {} exited during start-up",
                    gw.name()
                ))));
            }
            r.map_err(|e| self.with_logs(e))?;
        }
        Ok(())
    }

    /// The lab (id, directory).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The namespace of a gateway.
    pub fn ns(&self, gw: Gw) -> &Netns {
        match gw {
            Gw::Cgw => &self.cgw,
            Gw::Vgw => &self.vgw,
        }
    }

    /// Names of the five namespaces.
    pub fn netns_names(&self) -> Vec<String> {
        [&self.site_a, &self.cgw, &self.inet, &self.vgw, &self.site_b]
            .iter()
            .map(|n| n.name().to_string())
            .collect()
    }

    fn run_of(&self, gw: Gw) -> Result<&GwRun> {
        match gw {
            Gw::Cgw => self.cgw_run.as_ref(),
            Gw::Vgw => self.vgw_run.as_ref(),
        }
        .ok_or_else(|| Error::msg(format!("gateway {} was not started", gw.name())))
    }

    /// The process guard of a gateway (kill -9 it, read its log, ...).
    /// Panics if the gateways were not started.
    pub fn gateway(&mut self, gw: Gw) -> &mut Spawned {
        let run = match gw {
            Gw::Cgw => self.cgw_run.as_mut(),
            Gw::Vgw => self.vgw_run.as_mut(),
        };
        &mut run.expect("gateway not started").proc
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

    /// The inside CIDR of the active tunnel of a gateway.
    pub fn active_tunnel(&self, gw: Gw) -> Result<Option<String>> {
        Ok(self.status(gw)?.active_tunnel())
    }

    /// The last 80 log lines of each started gateway, and their status.
    pub fn gateway_logs(&self) -> String {
        let mut s = String::new();
        for (gw, run) in [(Gw::Cgw, &self.cgw_run), (Gw::Vgw, &self.vgw_run)] {
            if let Some(run) = run {
                let log = run.proc.log();
                let lines: Vec<&str> = log.lines().collect();
                let from = lines.len().saturating_sub(80);
                s.push_str(&format!(
                    "----- {} log ({}), last {} lines -----\n{}\n",
                    gw.name(),
                    run.proc.log_path().display(),
                    lines.len() - from,
                    lines[from..].join("\n")
                ));
                match self.status(gw) {
                    Ok(st) => s.push_str(&format!("status {}\n", st.summary())),
                    Err(e) => s.push_str(&format!("status of {}: {e}\n", gw.name())),
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

    /// Waits until both gateways report every tunnel "up".
    pub fn wait_all_tunnels_up(&self, timeout: Duration) -> Result<Duration> {
        self.wait_until("both gateways to report all tunnels up", timeout, || {
            [Gw::Cgw, Gw::Vgw]
                .iter()
                .all(|gw| self.status(*gw).is_ok_and(|s| s.all_tunnels_up()))
        })
    }

    /// Waits until both gateways name `inside_cidr` as their active tunnel.
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
    /// vgw's status (falling back to the example's layout).
    pub fn vgw_link_of_tunnel(&self, inside_cidr: &str) -> Result<u8> {
        let ep = self.status(Gw::Vgw).ok().and_then(|s| {
            s.tunnel(inside_cidr)?["endpoint"]
                .as_str()
                .map(str::to_string)
        });
        match (ep.as_deref(), inside_cidr) {
            (Some("az1"), _) | (None, TUNNEL_1) => Ok(1),
            (Some("az2"), _) | (None, TUNNEL_2) => Ok(2),
            (ep, t) => Err(Error::msg(format!(
                "no VGW link known for tunnel {t} (endpoint {ep:?})"
            ))),
        }
    }

    fn inet_dev(n: u8) -> Result<&'static str> {
        match n {
            1 => Ok("inet1"),
            2 => Ok("inet2"),
            _ => Err(Error::msg(format!("VGW link {n} does not exist (1 or 2)"))),
        }
    }

    /// Cuts VGW endpoint link `n` (1 = az1, 2 = az2): its inet-side veth goes down.
    pub fn cut_vgw_link(&self, n: u8) -> Result<()> {
        self.inet.link_down(Self::inet_dev(n)?)
    }

    /// Restores VGW endpoint link `n`.
    pub fn restore_vgw_link(&self, n: u8) -> Result<()> {
        self.inet.link_up(Self::inet_dev(n)?)
    }

    /// Starts an iperf3 server (one test) on `port` in `ns`, logging to the lab
    /// directory, and waits until it listens.
    pub fn iperf3_server(&self, ns: &Netns, port: u16) -> Result<Spawned> {
        let log = self
            .lab
            .dir()
            .join(format!("iperf3-{}-{port}.log", ns.name()));
        measure::iperf3_server(ns, port, &log)
    }

    /// A TCP stream of `seconds` from site A to site B (`dst`), through an
    /// iperf3 server started for it.
    pub fn iperf3_a_to_b(&self, dst: &str, port: u16, seconds: u32) -> Result<IperfResult> {
        let _server = self.iperf3_server(&self.site_b, port)?;
        measure::iperf3_client(&self.site_a, dst, port, seconds).map_err(|e| self.with_logs(e))
    }
}

/// `sl<short><suffix>`, cut to the 15-byte interface name limit (keeping the suffix).
fn tun_name(short: &str, suffix: &str) -> String {
    let keep = 15 - 2 - suffix.len();
    let short = &short[short.len().saturating_sub(keep)..];
    format!("sl{short}{suffix}")
}
