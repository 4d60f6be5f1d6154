//! The soak's lab: topology 4 (interop) of ARCHITECTURE.md. A sitelink VGW
//! (release build, the default Wasm plugins in its `bgp-filter` and
//! `route-selection` slots, max-prefix raised for the churn, a tunnel log)
//! and, as the customer gateway, stock software configured from `sitelink
//! export`: wireguard-go tunnels and BIRD 2, whose config gets one more
//! `protocol static` holding the churn routes (IPv4 /24s from 20.0.0.0 up,
//! blackholes: advertised, never installed by BIRD), exported to the VGW
//! with community 65000:999 (which the community-local-pref swap maps),
//! disabled at start. `birdc enable/disable churn4` then announces or
//! withdraws all of them at once.

use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sitelink_lab::gateway::{self, sitelink_bin};
use sitelink_lab::interop::{far_networks, try_stock_tunnels, UP};
use sitelink_lab::plugins::plugin;
use sitelink_lab::routing::slash24s;
use sitelink_lab::stock::{self, Bird};
use sitelink_lab::topology::{
    SiteOptions, Topology, SITE_A_NET_V4, SITE_A_NET_V6, SITE_B_NET_V4, TUNNEL_1, TUNNEL_2,
};
use sitelink_lab::{Error, Gw, Result, SiteLab};

/// The BIRD protocol holding the churn routes.
pub const CHURN_PROTOCOL: &str = "churn4";
/// The community BIRD tags the churn routes with (BIRD's syntax).
pub const CHURN_COMMUNITY: &str = "(65000, 999)";
/// The first churn prefix.
pub const CHURN_BASE: Ipv4Addr = Ipv4Addr::new(20, 0, 0, 0);
/// The customer's AS (BIRD's, from the export).
const PEER_ASN: u64 = 65000;
/// Bound on one status read.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// The running lab. Fields drop in order: BIRD, then the lab (gateway,
/// namespaces, directory).
pub struct Soaked {
    pub bird: Bird,
    pub lab: SiteLab,
    pub bin: PathBuf,
    pub socket: PathBuf,
    /// The VGW's process.
    pub pid: u32,
    /// The VGW's FIB (IPv4 prefixes) without the churn routes.
    pub base_v4: u64,
    /// How many churn routes.
    pub routes: u32,
}

impl Soaked {
    /// The VGW's IPv4 FIB size, read from its admin socket directly (no
    /// CLI start-up: cheap enough to poll).
    pub fn fib_v4(&self) -> Result<u64> {
        let (status, _) = gateway::status_timed(&self.socket, STATUS_TIMEOUT)?;
        status
            .fib_routes()
            .map(|(v4, _)| v4)
            .ok_or_else(|| Error::msg("the VGW's status has no fib counts"))
    }

    /// `birdc enable|disable churn4`; an error unless BIRD says it did.
    pub fn churn(&self, announce: bool) -> Result<()> {
        let verb = if announce { "enable" } else { "disable" };
        let out = self.bird.birdc(&[verb, CHURN_PROTOCOL])?;
        let done = if announce { "enabled" } else { "disabled" };
        if out.contains(done) {
            Ok(())
        } else {
            Err(Error::msg(format!(
                "birdc {verb} {CHURN_PROTOCOL}: {}",
                out.trim()
            )))
        }
    }

    /// The VGW's rendered config file.
    pub fn config_path(&self) -> Result<PathBuf> {
        self.lab.config_path(Gw::Vgw)
    }

    /// The VGW's log file.
    pub fn log_path(&self) -> PathBuf {
        self.lab.lab().dir().join("vgw.log")
    }

    /// The VGW's tunnel log (`[log] tunnel_log`, next to its config).
    pub fn tunnel_log_path(&self) -> PathBuf {
        self.lab.lab().dir().join("vgw-tunnels.log")
    }

    /// Copies the lab's logs and configs (not its keys) into `dir`, to
    /// read after the lab is gone.
    pub fn keep_files(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir)?;
        let mut from = vec![self.lab.lab().dir().to_path_buf()];
        from.push(self.lab.lab().dir().join("bird"));
        for d in from {
            for entry in fs::read_dir(&d)? {
                let path = entry?.path();
                let keep = path
                    .extension()
                    .is_some_and(|e| e == "log" || e == "toml" || e == "conf");
                if keep && path.is_file() {
                    if let Some(name) = path.file_name() {
                        fs::copy(&path, dir.join(name))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The exported BIRD config as the soak's peer: its BGP sessions export
/// every static route (the export allowed only the site's networks), the
/// churn routes tagged with [`CHURN_COMMUNITY`], and a disabled `protocol
/// static` holds `routes` churn routes.
pub fn peer_config(exported: &str, routes: u32) -> Result<String> {
    let from = "export filter office_export4;";
    if !exported.contains(from) {
        return Err(Error::msg(format!(
            "the exported BIRD config has no `{from}`: update the soak"
        )));
    }
    // A filter is defined before the protocols that name it.
    let mut text = format!(
        "# The soak's exports: every static route, the churn routes tagged.\n\
         filter soak_export4 {{\n  if source != RTS_STATIC then reject;\n  \
         if proto = \"{CHURN_PROTOCOL}\" then bgp_community.add({CHURN_COMMUNITY});\n  \
         accept;\n}}\n\n{}",
        exported.replace(from, "export filter soak_export4;")
    );
    let _ = writeln!(
        text,
        "\n# The soak's route churn: {routes} routes, toggled with birdc enable/disable.\n\
         protocol static {CHURN_PROTOCOL} {{\n  disabled;\n  ipv4;"
    );
    for prefix in slash24s(CHURN_BASE, routes) {
        let _ = writeln!(text, "  route {prefix} blackhole;");
    }
    text.push_str("}\n");
    Ok(text)
}

/// Builds the lab and waits until it carries traffic: tunnels up, both BGP
/// sessions established, site A's routes selected on the VGW, site B's in
/// BIRD's kernel table, and the sites pinging each other.
pub fn start(routes: u32) -> Result<Soaked> {
    let bin = sitelink_bin()?;
    let opts = SiteOptions {
        bin: Some(bin.clone()),
        ..SiteOptions::default()
    }
    .set(
        Gw::Vgw,
        "connection.bgp",
        "max_prefixes",
        (2 * u64::from(routes) + 1000).to_string(),
    )
    .with_default_plugins(Gw::Vgw)?
    .set(Gw::Vgw, "log", "tunnel_log", "\"vgw-tunnels.log\"");
    // Fail early, before the lab, on a plugin the swaps need.
    plugin("community_local_pref")?;
    let mut lab = SiteLab::start_with(Topology::Interop, opts)?;
    try_stock_tunnels(&lab)?;
    let dir = lab.lab().dir().join("bird");
    let files = stock::export_office(&lab, "bird", &dir, &far_networks())?;
    let exported = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "conf"))
        .ok_or_else(|| Error::msg("sitelink export --format bird wrote no .conf"))?;
    let conf = dir.join("peer.conf");
    fs::write(&conf, peer_config(&fs::read_to_string(exported)?, routes)?)?;
    let bird = Bird::start(&lab.cgw, &conf, lab.lab().dir())?;
    let both = [TUNNEL_1, TUNNEL_2];
    lab.wait_established(Gw::Vgw, &both, UP)
        .map_err(|e| e.context(bird.log()))?;
    lab.wait_routes(
        Gw::Vgw,
        &[SITE_A_NET_V4, SITE_A_NET_V6],
        &both,
        &[PEER_ASN],
        true,
        UP,
    )?;
    lab.wait_until("BIRD to install site B's prefix", UP, || {
        lab.cgw
            .exec_ok("ip", &["route", "show", SITE_B_NET_V4])
            .is_ok_and(|r| r.contains("dev"))
    })
    .map_err(|e| e.context(bird.log()))?;
    for line in lab.sites_ping(Duration::from_secs(10))? {
        eprintln!("[soak] {line}");
    }
    let socket = lab.socket(Gw::Vgw)?;
    let pid = lab.gateway(Gw::Vgw).pid();
    let mut soaked = Soaked {
        bird,
        lab,
        bin,
        socket,
        pid,
        base_v4: 0,
        routes,
    };
    soaked.base_v4 = soaked.fib_v4()?;
    Ok(soaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_config_exports_statics_and_holds_the_churn() {
        let exported =
            "protocol bgp office_tunnel1 {\n  ipv4 {\n    export filter office_export4;\n  };\n}\n";
        let text = peer_config(exported, 3).expect("config");
        assert!(text.starts_with("# The soak's exports"));
        assert!(text.contains("export filter soak_export4;"));
        assert!(text.contains("if proto = \"churn4\" then bgp_community.add((65000, 999));"));
        assert!(!text.contains("office_export4"));
        assert!(text.contains("protocol static churn4 {\n  disabled;\n  ipv4;\n"));
        assert!(text.contains("  route 20.0.2.0/24 blackhole;\n}\n"));
        assert_eq!(text.matches(" blackhole;").count(), 3);
        assert!(peer_config("protocol bgp x {}", 3).is_err());
    }
}
