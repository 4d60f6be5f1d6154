//! The interop lab (topology 4 of ARCHITECTURE.md) as the interop and
//! graceful-restart tests share it: the VGW alone, its far side built by
//! the test from `sitelink export` files (wg-quick tunnels, BIRD or GoBGP).
//! These helpers panic with the test's name: they are test steps (but
//! [`try_stock_tunnels`], for programs).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::stock;
use crate::topology::{SiteOptions, Topology, SITE_A_NET_V4, SITE_A_NET_V6, TUNNEL_1, TUNNEL_2};
use crate::{Error, Gw, Result, SiteLab};

/// How long sessions and routes get to come up.
pub const UP: Duration = Duration::from_secs(30);

/// The VGW alone, its far side left to the test.
pub fn interop_lab(test: &str, opts: SiteOptions) -> SiteLab {
    SiteLab::start_with(Topology::Interop, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the interop lab: {e}"))
}

/// `sitelink export ARGS` for the VGW's connection "office", into `dir`.
pub fn export(lab: &SiteLab, format: &str, dir: &Path, extra: &[&str]) -> Vec<PathBuf> {
    stock::export_office(lab, format, dir, extra)
        .unwrap_or_else(|e| panic!("sitelink export --format {format}: {e}"))
}

/// Brings up both tunnels on the site's edge router from exported wg-quick
/// files; returns the interface names. Each file is renamed after the lab
/// (wg-quick names the interface after the file): wireguard-go's control
/// sockets live in /run/wireguard, shared by every namespace, so two labs
/// running at once must not both have an `office-tunnel1`.
pub fn stock_tunnels(lab: &SiteLab, test: &str) -> Vec<String> {
    try_stock_tunnels(lab).unwrap_or_else(|e| panic!("{test}: {e}"))
}

/// [`stock_tunnels`] for a program: an error (with the gateway logs where
/// a tunnel failed to come up) instead of a panic.
pub fn try_stock_tunnels(lab: &SiteLab) -> Result<Vec<String>> {
    let dir = lab.lab().dir().join("wg");
    let files = stock::export_office(lab, "wg-quick", &dir, &[])?;
    if files.len() != 2 {
        return Err(Error::msg(format!(
            "sitelink export --format wg-quick: not one file per tunnel: {files:?}"
        )));
    }
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let unique = dir.join(format!("wg{}t{}.conf", lab.lab().short(), i + 1));
            std::fs::rename(f, &unique)
                .map_err(|e| Error::msg(format!("renaming {}: {e}", f.display())))?;
            stock::wg_quick_up(&lab.cgw, &unique).map_err(|e| lab.with_logs(e))
        })
        .collect()
}

/// Waits until the VGW has site A's prefixes (IPv4 and IPv6) from AS 65000
/// over both tunnels, selected.
pub fn wait_site_a_routes(lab: &SiteLab, test: &str) {
    lab.wait_routes(
        Gw::Vgw,
        &[SITE_A_NET_V4, SITE_A_NET_V6],
        &[TUNNEL_1, TUNNEL_2],
        &[65000],
        true,
        UP,
    )
    .unwrap_or_else(|e| panic!("{test}: {e}"));
}

/// The `--network` arguments naming site A's prefixes.
pub fn far_networks() -> Vec<&'static str> {
    vec!["--network", SITE_A_NET_V4, "--network", SITE_A_NET_V6]
}

/// The far side's `bird.conf` from `sitelink export --format bird` with
/// site A's networks, written under the lab directory.
pub fn bird_conf(lab: &SiteLab) -> PathBuf {
    let dir = lab.lab().dir().join("bird");
    export(lab, "bird", &dir, &far_networks())
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "conf"))
        .expect("bird.conf")
}

/// BIRD run from `conf` on the site's edge router.
pub fn start_bird(lab: &SiteLab, conf: &Path, test: &str) -> stock::Bird {
    stock::Bird::start(&lab.cgw, conf, lab.lab().dir()).unwrap_or_else(|e| panic!("{test}: {e}"))
}
