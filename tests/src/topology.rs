//! The labs of ARCHITECTURE.md, "Topologies the tests build", as one [`SiteLab`]
//! parameterised by a [`Topology`]: 1 "static" and 2 "dynamic" share five
//! namespaces (site-a host, cgw, inet, vgw, site-b host) with the addresses
//! of `examples/{static,dynamic}/{cgw,vgw}.toml`; 3 "HA" gives the site's
//! edge router (the cgw namespace) two uplinks and runs both customer
//! gateways of `examples/ha/` in it. The "internet" namespace has one link
//! per public address (vgw az1 198.18.1.2, vgw az2 198.18.2.2, cgw uplink 1
//! 198.18.10.2, HA's cgw uplink 2 198.18.20.2); whichever side has two
//! uplinks routes by source address (one table per address, no main-table
//! default), so a cut link's traffic cannot escape through the other one.
//! Static and dynamic are also built over an IPv6-only internet
//! ([`Underlay::V6`]: the same links numbered 2001:db8:`n`::/64, configs
//! from `examples/ipv6-underlay/`); `underlay` numbers the links.
//!
//! This file builds the namespaces and links and offers the network-side
//! operations (cut/restore/flap a link, iperf3 across the lab); `gateways`
//! starts, kills and restarts the `sitelink` processes (keys made with
//! `sitelink genkey`, configs rendered from the example directory) and reads
//! their status, BGP peers and route tables, with bounded waits whose errors
//! carry the gateway logs; `link_cut` cuts the link under a ping train and
//! times how the routes follow.

use crate::error::{Error, Result};
use crate::gateway::{Gw, TomlSet};
use crate::measure::{self, Flows, IperfResult};
use crate::netns::{veth, Lab, Netns};
use crate::process::Spawned;
use std::path::PathBuf;
use std::time::Duration;

mod gateways;
mod link_cut;
mod underlay;

pub use link_cut::LinkCut;
pub use underlay::{Underlay, GATEWAY_SIDE, INET_SIDE};

/// Site A host (behind the cgw), IPv4.
pub const SITE_A_V4: &str = "10.1.0.10";
/// Site A host, IPv6.
pub const SITE_A_V6: &str = "fd00:1::10";
/// Site B host (behind the vgw), IPv4.
pub const SITE_B_V4: &str = "10.2.0.10";
/// Site B host, IPv6.
pub const SITE_B_V6: &str = "fd00:2::10";
/// Site A's IPv4 prefix (advertised by the customer gateways).
pub const SITE_A_NET_V4: &str = "10.1.0.0/24";
/// Site A's IPv6 prefix.
pub const SITE_A_NET_V6: &str = "fd00:1::/64";
/// Site B's IPv4 prefix (advertised by the VGW).
pub const SITE_B_NET_V4: &str = "10.2.0.0/24";
/// Site B's IPv6 prefix.
pub const SITE_B_NET_V6: &str = "fd00:2::/64";
/// The customer gateways' ASN in the examples.
pub const CGW_ASN: u64 = 65000;
/// The VGW's ASN in the examples (AWS's default).
pub const VGW_ASN: u64 = 64512;
/// VGW endpoint az1 (link 1).
pub const VGW_AZ1: &str = "198.18.1.2";
/// VGW endpoint az2 (link 2).
pub const VGW_AZ2: &str = "198.18.2.2";
/// The CGW's uplink address (HA: uplink 1, CGW1's endpoint).
pub const CGW_WAN: &str = "198.18.10.2";
/// HA: the site's uplink 2, CGW2's endpoint.
pub const CGW_WAN2: &str = "198.18.20.2";
/// The preferred tunnel (on az1 / link 1); HA: CGW1's first.
pub const TUNNEL_1: &str = "169.254.10.0/30";
/// The second tunnel (on az2 / link 2); HA: CGW1's second.
pub const TUNNEL_2: &str = "169.254.11.0/30";
/// HA: CGW2's first tunnel (on az1).
pub const TUNNEL_3: &str = "169.254.12.0/30";
/// HA: CGW2's second tunnel (on az2).
pub const TUNNEL_4: &str = "169.254.13.0/30";

/// Which lab of ARCHITECTURE.md to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// 1: one CGW, one VGW, a static connection of two tunnels.
    Static,
    /// 2: the same namespaces, a dynamic (BGP) connection.
    Dynamic,
    /// 3: two CGWs on two uplinks of site A's edge router, two dynamic
    /// connections to the VGW, four tunnels.
    Ha,
    /// 4: the namespaces of 1 and 2, a sitelink VGW only: site A's edge
    /// router runs stock software (wireguard-go, BIRD 2 or GoBGP) that the
    /// test configures from `sitelink export`. Its key comes from `wg genkey`.
    Interop,
}

impl Topology {
    /// The directory under `examples/` the gateway configs come from.
    pub fn example_dir(self) -> &'static str {
        match self {
            Topology::Static => "static",
            Topology::Dynamic => "dynamic",
            Topology::Ha => "ha",
            Topology::Interop => "interop",
        }
    }

    /// The gateways it runs, in start order (the VGW first: it listens).
    pub fn gateways(self) -> &'static [Gw] {
        match self {
            Topology::Static | Topology::Dynamic => &[Gw::Vgw, Gw::Cgw],
            Topology::Ha => &[Gw::Vgw, Gw::Cgw, Gw::Cgw2],
            Topology::Interop => &[Gw::Vgw],
        }
    }

    /// The far gateways run by stock software, not sitelink: their keys are
    /// made with `wg genkey` (`<name>.key` in the lab directory).
    pub fn stock_gateways(self) -> &'static [Gw] {
        match self {
            Topology::Interop => &[Gw::Cgw],
            _ => &[],
        }
    }

    /// The name of a gateway here: its example file (`<name>.toml`), key,
    /// log and socket file names, its public-key placeholder
    /// (`<NAME>_PUBLIC_KEY`) and messages. HA's first CGW is `cgw1`.
    pub fn gw_name(self, gw: Gw) -> &'static str {
        match (self, gw) {
            (Topology::Ha, Gw::Cgw) => "cgw1",
            (_, gw) => gw.name(),
        }
    }

    /// True for the topologies whose connections run BGP.
    pub fn is_dynamic(self) -> bool {
        self != Topology::Static
    }

    /// The tunnels (inside CIDRs) of a gateway in the examples.
    pub fn tunnels(self, gw: Gw) -> &'static [&'static str] {
        match (self, gw) {
            (Topology::Ha, Gw::Vgw) => &[TUNNEL_1, TUNNEL_2, TUNNEL_3, TUNNEL_4],
            (Topology::Ha, Gw::Cgw2) => &[TUNNEL_3, TUNNEL_4],
            (_, Gw::Cgw2) => &[],
            _ => &[TUNNEL_1, TUNNEL_2],
        }
    }
}

/// What [`SiteLab::flap_vgw_link`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flapped {
    /// Down-and-up cycles done.
    pub cycles: u32,
    /// From the first toggle until the link was up for good.
    pub took: Duration,
    /// The latest a toggle came after its scheduled time.
    pub late_max: Duration,
}

/// Options for [`SiteLab::start_with`].
#[derive(Debug, Clone, Default)]
pub struct SiteOptions {
    /// The sitelink binary (default: [`crate::gateway::sitelink_bin`]).
    pub bin: Option<PathBuf>,
    /// `RUST_LOG` for the gateways (default: inherited, else `info`).
    pub rust_log: Option<String>,
    /// Config keys to set, per gateway (see [`TomlSet`]).
    pub set: Vec<(Gw, TomlSet)>,
    /// Extra environment, per gateway (e.g. `NOTIFY_SOCKET`), kept across
    /// restarts.
    pub env: Vec<(Gw, String, String)>,
    /// Text replaced in the example before it is rendered, per gateway
    /// (for what [`TomlSet`] cannot say, such as another `[[endpoint]]`).
    pub replace: Vec<(Gw, String, String)>,
    /// The family of the "internet" between the gateways (configs from
    /// `examples/ipv6-underlay/` for [`Underlay::V6`]).
    pub underlay: Underlay,
}

impl SiteOptions {
    /// Replaces `from` with `to` in `gw`'s example config.
    pub fn replace(mut self, gw: Gw, from: &str, to: &str) -> Self {
        self.replace.push((gw, from.to_string(), to.to_string()));
        self
    }

    /// Adds `[table] key = value` (TOML) to `gw`'s config.
    pub fn set(mut self, gw: Gw, table: &str, key: &str, value: impl Into<String>) -> Self {
        self.set.push((gw, TomlSet::new(table, key, value)));
        self
    }

    /// Builds the lab over `underlay`.
    pub fn underlay(mut self, underlay: Underlay) -> Self {
        self.underlay = underlay;
        self
    }

    /// Sets `key=value` in `gw`'s environment.
    pub fn env(mut self, gw: Gw, key: &str, value: impl Into<String>) -> Self {
        self.env.push((gw, key.to_string(), value.into()));
        self
    }
}

/// A lab of one [`Topology`]. Fields drop in order: gateways, namespaces,
/// then the lab directory.
pub struct SiteLab {
    runs: Vec<gateways::GwRun>,
    topology: Topology,
    underlay: Underlay,
    bin: Option<PathBuf>,
    log_level: String,
    env: Vec<(Gw, String, String)>,
    /// Site A host: 10.1.0.10, fd00:1::10 on `eth0`.
    pub site_a: Netns,
    /// Site A's edge router, where the customer gateway(s) run: `lan`
    /// 10.1.0.1 / fd00:1::1; `wan` 198.18.10.2 (HA: `wan1` 198.18.10.2 and
    /// `wan2` 198.18.20.2; over [`Underlay::V6`], 2001:db8:10::2).
    pub cgw: Netns,
    /// The "internet": `inet1` 198.18.1.1, `inet2` 198.18.2.1, `inet10`
    /// 198.18.10.1 (HA also `inet20` 198.18.20.1), or their
    /// [`Underlay::V6`] twins 2001:db8:1::1, ...
    pub inet: Netns,
    /// The VGW: `wan1` 198.18.1.2 (2001:db8:1::2), `wan2` 198.18.2.2
    /// (2001:db8:2::2), `lan` 10.2.0.1 / fd00:2::1.
    pub vgw: Netns,
    /// Site B host: 10.2.0.10, fd00:2::10 on `eth0`.
    pub site_b: Netns,
    lab: Lab,
}

impl SiteLab {
    /// Builds the namespaces and links only (no gateways), over IPv4.
    pub fn build(topology: Topology) -> Result<SiteLab> {
        Self::build_on(topology, Underlay::V4)
    }

    /// Builds the namespaces and links only (no gateways), over `underlay`.
    pub fn build_on(topology: Topology, underlay: Underlay) -> Result<SiteLab> {
        underlay.example_dir(topology)?;
        let lab = Lab::new()?;
        let site_a = lab.netns("sa")?;
        let cgw = lab.netns("cgw")?;
        let inet = lab.netns("inet")?;
        let vgw = lab.netns("vgw")?;
        let site_b = lab.netns("sb")?;
        let me = SiteLab {
            runs: Vec::new(),
            topology,
            underlay,
            bin: None,
            log_level: String::new(),
            env: Vec::new(),
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
        let u = self.underlay;
        for ns in [c, i, v] {
            ns.enable_forwarding()?;
            u.prepare(ns)?;
        }
        // The internet: one link per public address.
        let link = |inet_dev: &str, gw: &Netns, gw_dev: &str, n: u8| -> Result<()> {
            veth(i, inet_dev, gw, gw_dev)?;
            i.add_addr(inet_dev, &u.cidr(n, INET_SIDE))?;
            gw.add_addr(gw_dev, &u.cidr(n, GATEWAY_SIDE))
        };
        link("inet1", v, "wan1", 1)?;
        link("inet2", v, "wan2", 2)?;
        // VGW: each endpoint address leaves by its own link; no main default.
        u.source_routed(v, "wan1", 1, 101)?;
        u.source_routed(v, "wan2", 2, 102)?;
        if self.topology == Topology::Ha {
            // The site's edge router: one table per uplink, like the VGW.
            link("inet10", c, "wan1", 10)?;
            link("inet20", c, "wan2", 20)?;
            u.source_routed(c, "wan1", 10, 111)?;
            u.source_routed(c, "wan2", 20, 112)?;
        } else {
            link("inet10", c, "wan", 10)?;
            c.add_route("default", &u.addr(10, INET_SIDE), None)?;
        }
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

    /// Builds the lab and starts its gateways with default options.
    pub fn start(topology: Topology) -> Result<SiteLab> {
        Self::start_with(topology, SiteOptions::default())
    }

    /// Builds the lab and starts its gateways.
    pub fn start_with(topology: Topology, opts: SiteOptions) -> Result<SiteLab> {
        let bin = match opts.bin {
            Some(b) => b,
            None => crate::gateway::sitelink_bin()?,
        };
        let mut me = Self::build_on(topology, opts.underlay)?;
        me.env = opts.env;
        me.start_gateways(&bin, opts.rust_log.as_deref(), &opts.set, &opts.replace)?;
        Ok(me)
    }

    /// [`SiteLab::start_with`], then waits until every tunnel is up and, in
    /// a dynamic topology, every BGP session established (errors carry the
    /// gateway logs).
    pub fn start_settled(topology: Topology, opts: SiteOptions) -> Result<SiteLab> {
        let lab = Self::start_with(topology, opts)?;
        lab.wait_all_tunnels_up(Duration::from_secs(15))?;
        if topology.is_dynamic() {
            lab.wait_all_established(Duration::from_secs(20))?;
        }
        Ok(lab)
    }

    /// The topology.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// The family of the links between the gateways.
    pub fn underlay(&self) -> Underlay {
        self.underlay
    }

    /// The lab (id, directory).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The namespace of a gateway (both HA customer gateways run in `cgw`).
    pub fn ns(&self, gw: Gw) -> &Netns {
        match gw {
            Gw::Cgw | Gw::Cgw2 => &self.cgw,
            Gw::Vgw => &self.vgw,
        }
    }

    /// The name of a gateway in this topology (see [`Topology::gw_name`]).
    pub fn gw_name(&self, gw: Gw) -> &'static str {
        self.topology.gw_name(gw)
    }

    /// Names of the five namespaces.
    pub fn netns_names(&self) -> Vec<String> {
        [&self.site_a, &self.cgw, &self.inet, &self.vgw, &self.site_b]
            .iter()
            .map(|n| n.name().to_string())
            .collect()
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

    /// Flaps VGW endpoint link `n`: down for `half`, up for `half`, again
    /// and again for `total`, on a fixed schedule (a late toggle does not
    /// shift the next ones). The link is up when this returns, whatever
    /// happened.
    pub fn flap_vgw_link(&self, n: u8, half: Duration, total: Duration) -> Result<Flapped> {
        let dev = Self::inet_dev(n)?;
        let start = std::time::Instant::now();
        let mut flapped = Flapped::default();
        let mut run = Ok(());
        // Toggle i (even: down, odd: up) is due at start + i x half; a
        // cycle starts only if it ends within `total`.
        let mut i = 0;
        while run.is_ok() && (i % 2 == 1 || half * (i + 2) <= total) {
            let at = start + half * i;
            match at.checked_duration_since(std::time::Instant::now()) {
                Some(wait) => std::thread::sleep(wait),
                None => flapped.late_max = flapped.late_max.max(at.elapsed()),
            }
            run = if i % 2 == 0 {
                self.inet.link_down(dev)
            } else {
                flapped.cycles += 1;
                self.inet.link_up(dev)
            };
            i += 1;
        }
        let restored = self.inet.link_up(dev);
        flapped.took = start.elapsed();
        run.and(restored).map(|_| flapped)
    }

    fn uplink_dev(&self, n: u8) -> Result<&'static str> {
        match (n, self.topology) {
            (1, _) => Ok("inet10"),
            (2, Topology::Ha) => Ok("inet20"),
            _ => Err(Error::msg(format!(
                "site A uplink {n} does not exist in topology {:?}",
                self.topology
            ))),
        }
    }

    /// Cuts site A's uplink `n` (1, or 2 in HA) on the inet side.
    pub fn cut_cgw_uplink(&self, n: u8) -> Result<()> {
        self.inet.link_down(self.uplink_dev(n)?)
    }

    /// Restores site A's uplink `n`.
    pub fn restore_cgw_uplink(&self, n: u8) -> Result<()> {
        self.inet.link_up(self.uplink_dev(n)?)
    }

    /// Waits (each up to `timeout`) until site A pings site B and site B
    /// pings site A, over IPv4 and IPv6; returns a line per pair saying how
    /// long it took.
    pub fn sites_ping(&self, timeout: Duration) -> Result<Vec<String>> {
        let mut report = Vec::new();
        for (from, to) in [
            (&self.site_a, SITE_B_V4),
            (&self.site_a, SITE_B_V6),
            (&self.site_b, SITE_A_V4),
            (&self.site_b, SITE_A_V6),
        ] {
            let took =
                self.wait_until(&format!("{} to ping {to}", from.name()), timeout, || {
                    measure::ping_ok(from, to)
                })?;
            report.push(format!("{} -> {to}: replies (after {took:?})", from.name()));
        }
        Ok(report)
    }

    /// [`SiteLab::sites_ping`] for a test: prints each line as `[test] ...`
    /// and panics, naming the test, when a pair does not answer in time.
    pub fn assert_sites_ping(&self, test: &str, timeout: Duration) {
        let report = self
            .sites_ping(timeout)
            .unwrap_or_else(|e| panic!("{test}: {e}"));
        for line in report {
            println!("[{test}] {line}");
        }
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

    /// Parallel TCP `flows` from `from` to `dst` in `to` (an iperf3 server
    /// is started there for them).
    pub fn iperf3_flows(
        &self,
        from: &Netns,
        to: &Netns,
        dst: &str,
        port: u16,
        flows: Flows,
    ) -> Result<IperfResult> {
        let _server = self.iperf3_server(to, port)?;
        measure::iperf3_flows(from, dst, port, flows).map_err(|e| self.with_logs(e))
    }
}
