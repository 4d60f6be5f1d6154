//! `sitelink export`: the far side's configuration of one VPN connection, as
//! AWS's downloadable configuration is, so that a stock Linux router
//! (wg-quick with BIRD 2 or GoBGP) or another sitelink gateway of the
//! opposite role can be the other end. It turns a validated
//! [`GatewayConfig`] and a [`Request`] into text files ([`Export`]); each
//! format is rendered by its own module (`wg_quick`, `bird`, `gobgp`,
//! `sitelink`) as a pure function of the two, so tests compare text. The only
//! I/O is reading the far side's key ([`read_far_key`]) and writing the result
//! ([`write_files`]); warnings are returned, not printed. Every error names
//! its fix ([`ExportError`]). It must not change the gateway's config.

mod bird;
mod error;
mod gobgp;
mod sitelink;
mod wg_quick;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bgp;

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use boringtun::x25519::{PublicKey, StaticSecret};
use ipnet::IpNet;

use crate::config::{
    ConnectionBgp, ConnectionConfig, GatewayConfig, LivenessMode, Role, TunnelConfig,
};
use crate::keys;

pub use error::ExportError;

/// What the far side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One wg-quick file per tunnel (wireguard-tools, wireguard-go).
    WgQuick,
    /// BIRD 2: a BGP session over each tunnel, filters, BFD, kernel routes.
    Bird,
    /// gobgpd's TOML: a neighbor per tunnel and an import policy.
    Gobgp,
    /// A sitelink gateway of the opposite role.
    Sitelink,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::WgQuick,
        Format::Bird,
        Format::Gobgp,
        Format::Sitelink,
    ];

    /// The name given to `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::WgQuick => "wg-quick",
            Format::Bird => "bird",
            Format::Gobgp => "gobgp",
            Format::Sitelink => "sitelink",
        }
    }
}

impl FromStr for Format {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Format, ExportError> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| ExportError::UnknownFormat(s.to_string()))
    }
}

/// The far side's private key, read from `--private-key`.
pub struct FarKey {
    pub path: PathBuf,
    pub secret: StaticSecret,
}

impl FarKey {
    fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }
}

/// What to export.
pub struct Request {
    /// The VPN connection, by name.
    pub connection: String,
    pub format: Format,
    /// The far side's private key, checked against the tunnels'
    /// `remote_public_key`.
    pub private_key: Option<FarKey>,
    /// The far site's own prefixes (`--network`); `None`: the connection's
    /// `static_routes`.
    pub networks: Option<Vec<IpNet>>,
    /// The far gateway's name (`--name`, sitelink format); `None`: "cgw" if
    /// we are the VGW, else "vgw".
    pub far_name: Option<String>,
    /// Replaces an endpoint's unspecified listen address (0.0.0.0 or ::) in
    /// what the far side connects to.
    pub endpoint_address: Option<IpAddr>,
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// A file name (no directory).
    pub name: String,
    pub text: String,
    /// Holds a private key: written with mode 0600.
    pub secret: bool,
}

/// The result of an export.
#[derive(Debug, Default)]
pub struct Export {
    /// Printed or written.
    pub files: Vec<File>,
    /// Written with `--out` only, never printed (a copy of the far key).
    pub out_only: Vec<File>,
    /// For the operator, on stderr.
    pub warnings: Vec<String>,
}

/// Reads the far side's private key file (the rules of any key file: it
/// must not be accessible by group or others).
pub fn read_far_key(path: &Path) -> Result<FarKey, ExportError> {
    let secret = keys::read_private_key_file(path).map_err(ExportError::Key)?;
    Ok(FarKey {
        path: path.to_path_buf(),
        secret,
    })
}

/// Parses a `--network` prefix: network form, not link-local (the rules of
/// `[bgp] networks`).
pub fn parse_network(text: &str) -> Result<IpNet, ExportError> {
    let bad = |problem: String, fix: String| ExportError::BadNetwork {
        text: text.to_string(),
        problem,
        fix,
    };
    let s = text.trim();
    let net: IpNet = match s.parse() {
        Ok(n) => n,
        Err(_) => {
            let fix = match s.parse::<IpAddr>() {
                Ok(ip) => format!("give a prefix, e.g. --network {}", IpNet::from(ip)),
                Err(_) => "give ADDRESS/LENGTH, e.g. --network 10.1.0.0/24".to_string(),
            };
            return Err(bad("is not an IPv4 or IPv6 prefix".into(), fix));
        }
    };
    if net.trunc() != net {
        return Err(bad(
            "has host bits set".into(),
            format!("did you mean --network {}?", net.trunc()),
        ));
    }
    let link_local: IpNet = match net {
        IpNet::V4(_) => "169.254.0.0/16",
        IpNet::V6(_) => "fe80::/10",
    }
    .parse()
    .unwrap_or(net);
    if link_local.contains(&net) {
        return Err(bad(
            format!("is inside {link_local}, which holds the tunnels' inside addresses"),
            "give the far site's own prefixes".into(),
        ));
    }
    Ok(net)
}

/// Parses `--endpoint-address`.
pub fn parse_endpoint_address(text: &str) -> Result<IpAddr, ExportError> {
    match text.trim().parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => Ok(ip),
        _ => Err(ExportError::BadEndpointAddress(text.to_string())),
    }
}

/// Checks `--name` as a gateway name (1 to 32 of A-Z a-z 0-9 _ -).
pub fn parse_far_name(text: &str) -> Result<String, ExportError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !text.is_empty() && text.len() <= 32 && text.chars().all(ok) {
        Ok(text.to_string())
    } else {
        Err(ExportError::BadName(text.to_string()))
    }
}

/// Renders the far side's configuration of `req.connection` of `cfg`.
pub fn export(cfg: &GatewayConfig, req: &Request) -> Result<Export, ExportError> {
    let Some(conn) = cfg.connections.iter().find(|c| c.name == req.connection) else {
        return Err(ExportError::UnknownConnection {
            name: req.connection.clone(),
            known: cfg.connections.iter().map(|c| c.name.clone()).collect(),
        });
    };
    if let Some(key) = &req.private_key {
        check_key(conn, key)?;
    }
    let view = View::new(cfg, conn, req);
    let mut out = Export::default();
    match req.format {
        Format::WgQuick => wg_quick::export(&view, &mut out)?,
        Format::Bird => bird::export(&view, &mut out)?,
        Format::Gobgp => gobgp::export(&view, &mut out)?,
        Format::Sitelink => sitelink::export(&view, &mut out)?,
    }
    Ok(out)
}

/// The far key's public half must be every tunnel's `remote_public_key`.
fn check_key(conn: &ConnectionConfig, key: &FarKey) -> Result<(), ExportError> {
    let public = key.public();
    for (i, t) in conn.tunnels.iter().enumerate() {
        if t.remote_public_key.to_bytes() != public {
            return Err(ExportError::KeyMismatch {
                file: key.path.clone(),
                public: keys::encode_key(&public),
                expected: keys::encode_key(&t.remote_public_key.to_bytes()),
                connection: conn.name.clone(),
                tunnel: i + 1,
            });
        }
    }
    Ok(())
}

/// What every format is made from: the exporting gateway, the connection,
/// and the request with its defaults applied.
pub(crate) struct View<'a> {
    pub cfg: &'a GatewayConfig,
    pub conn: &'a ConnectionConfig,
    pub req: &'a Request,
    /// The far site's prefixes (`--network`, else the static routes).
    pub far_networks: Vec<IpNet>,
    /// Whether they came from `--network`.
    pub networks_given: bool,
    pub far_name: String,
}

impl<'a> View<'a> {
    fn new(cfg: &'a GatewayConfig, conn: &'a ConnectionConfig, req: &'a Request) -> View<'a> {
        let mut far_networks: Vec<IpNet> = Vec::new();
        for n in req.networks.as_ref().unwrap_or(&conn.static_routes) {
            if !far_networks.contains(n) {
                far_networks.push(*n);
            }
        }
        let far_name = req.far_name.clone().unwrap_or_else(|| {
            match cfg.role {
                Role::Vgw => "cgw",
                Role::Cgw => "vgw",
            }
            .to_string()
        });
        View {
            cfg,
            conn,
            req,
            far_networks,
            networks_given: req.networks.is_some(),
            far_name,
        }
    }

    /// The connection's BGP settings; BGP formats need a dynamic connection.
    pub fn connection_bgp(&self) -> Result<&'a ConnectionBgp, ExportError> {
        self.conn
            .bgp
            .as_ref()
            .ok_or_else(|| ExportError::NeedsDynamic {
                format: self.req.format,
                connection: self.conn.name.clone(),
            })
    }

    /// Our `[bgp] networks`: what the far side learns from us.
    pub fn our_networks(&self) -> &[IpNet] {
        &self.cfg.bgp.networks
    }

    /// The first lines of every file: where it comes from and `usage`.
    pub fn header(&self, what: &str, usage: &str) -> String {
        format!(
            "# Generated by `sitelink export` from gateway {:?} ({}), connection {:?}: {what}.\n# {usage}\n",
            self.cfg.name,
            self.cfg.source.display(),
            self.conn.name,
        )
    }

    /// The MTU for the far side's end of tunnel `t`: what the tunnel
    /// carries at our end, and no more than a standard uplink (1,500 bytes)
    /// carries under its outer header, since we do not know the far
    /// side's uplink: a gateway on jumbo frames must not hand an office
    /// 8,920 bytes.
    pub fn far_mtu(&self, t: &TunnelConfig) -> u16 {
        let outer = crate::mtu::Outer::of(t.remote);
        self.cfg
            .tunnel_mtu(t)
            .min(outer.inner_mtu(crate::mtu::DEFAULT_UPLINK_MTU))
    }

    /// Our endpoint of tunnel `i` as the far side reaches it: its listen
    /// address, with `--endpoint-address` in place of an unspecified one.
    pub fn our_endpoint(&self, i: usize, t: &TunnelConfig) -> Result<SocketAddr, ExportError> {
        let ep = &self.cfg.endpoints[t.endpoint];
        if !ep.listen.ip().is_unspecified() {
            return Ok(ep.listen);
        }
        let Some(ip) = self.req.endpoint_address else {
            return Err(ExportError::UnspecifiedEndpoint {
                endpoint: ep.name.clone(),
                listen: ep.listen,
                connection: self.conn.name.clone(),
                tunnel: i + 1,
            });
        };
        // The far side sends from its own address (the tunnel's remote):
        // ours must be of that family.
        if ip.is_ipv4() != t.remote.is_ipv4() {
            return Err(ExportError::EndpointFamily {
                endpoint: ep.name.clone(),
                address: ip,
                remote: t.remote,
            });
        }
        Ok(SocketAddr::new(ip, ep.listen.port()))
    }

    /// Warns when the far site's prefixes are unknown.
    pub fn warn_no_far_networks(&self, out: &mut Export) {
        if self.far_networks.is_empty() {
            out.warnings.push(format!(
                "no far-side networks: connection {:?} has no static_routes and no --network \
                 was given, so the far side advertises nothing; give --network PREFIX (repeatable) \
                 with the far site's prefixes",
                self.conn.name
            ));
        }
    }

    /// Warns when the far side's software cannot answer the liveness probe
    /// our connection runs: then our tunnels never come up (BFD without a
    /// BFD peer) or the far side notices a dead tunnel only after the hold
    /// time (BIRD's `bfd on` against our echo probe).
    pub fn warn_liveness(&self, out: &mut Export, far_has_bfd: bool) {
        match (self.conn.liveness.mode, far_has_bfd) {
            (LivenessMode::Bfd, false) => out.warnings.push(format!(
                "connection {:?} probes its tunnels with BFD, which the {} format's far side does \
                 not speak: its tunnels would never count as up; set mode = \"echo\" in its \
                 [connection.liveness]",
                self.conn.name,
                self.req.format.name()
            )),
            (LivenessMode::Echo, true) => out.warnings.push(format!(
                "connection {:?} probes its tunnels with ICMP echo, so BIRD's BFD (bfd on) gets \
                 no answer and BIRD notices a dead tunnel only after the hold time; set mode = \
                 \"bfd\" in its [connection.liveness] for failover within a second",
                self.conn.name
            )),
            _ => {}
        }
    }

    /// The families (IPv4, IPv6) in which our networks hold a default
    /// route: the far side then routes everything into the tunnels, its
    /// own WireGuard datagrams to our endpoints too, unless it keeps them
    /// off that route. The wg-quick files do as sitelink does
    /// (`dataplane::own_traffic`): WireGuard marks its datagrams, the
    /// default route goes into a table of its own that only unmarked
    /// traffic reads (the BIRD file's kernel protocol, or wg-quick's
    /// `PostUp` routes), after the main table without its default.
    pub fn default_families(&self) -> (bool, bool) {
        let has = |v6: bool| {
            self.our_networks()
                .iter()
                .any(|n| n.prefix_len() == 0 && matches!(n, IpNet::V6(_)) == v6)
        };
        (has(false), has(true))
    }

    /// Warns, for a far side whose routes this export does not install
    /// (gobgpd), that a default route among our networks must go where
    /// the wg-quick files' rules expect it.
    pub fn warn_default_route(&self, out: &mut Export) {
        for net in self.our_networks().iter().filter(|n| n.prefix_len() == 0) {
            out.warnings.push(format!(
                "[bgp] networks holds the default route {net}: whatever installs the far side's \
                 learned routes must put it in table {} (the wg-quick files' rules read it only \
                 for traffic without WireGuard's mark), not in main, or the tunnels' own \
                 datagrams follow it into the tunnels",
                crate::dataplane::own_traffic::TABLE
            ));
        }
    }

    /// Warns when `--network` was given to a format that does not use it.
    pub fn warn_networks_unused(&self, out: &mut Export) {
        if self.networks_given {
            out.warnings.push(format!(
                "--network is not used by the {} format (the far side routes our [bgp] networks)",
                self.req.format.name()
            ));
        }
    }
}

pub(crate) use crate::bgp::link_local_next_hop as link_local;

/// The files as printed without `--out`: one file as it is; several, each
/// preceded by a `# ==> NAME <==` line.
pub fn to_stdout(export: &Export) -> String {
    if let [only] = export.files.as_slice() {
        return only.text.clone();
    }
    let parts: Vec<String> = export
        .files
        .iter()
        .map(|f| format!("# ==> {} <==\n{}", f.name, f.text))
        .collect();
    parts.join("\n")
}

/// Writes every file (and the `--out`-only ones) into `dir`, created if
/// missing; files holding a key get mode 0600. Each file is written whole
/// to a new file beside it and renamed over the old one: a reader sees the
/// old file or the new one, never a part, and a symbolic link planted at
/// the name is replaced, never followed. Returns the paths written.
pub fn write_files(dir: &Path, export: &Export) -> Result<Vec<PathBuf>, ExportError> {
    let err = |path: &Path, source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut written = Vec::new();
    for f in export.files.iter().chain(&export.out_only) {
        let path = dir.join(&f.name);
        let mode = if f.secret { 0o600 } else { 0o644 };
        let tmp = dir.join(format!(".{}.{}.tmp", f.name, std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        // A file replaced keeps its owner where we may give it (root
        // exporting for a gateway that runs as a user of its own).
        let owner = std::fs::symlink_metadata(&path)
            .ok()
            .filter(|m| m.file_type().is_file())
            .map(|m| (m.uid(), m.gid()));
        let result = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .and_then(|mut file| {
                // The umask may have taken bits off: set the mode itself.
                file.set_permissions(std::fs::Permissions::from_mode(mode))?;
                if let Some((uid, gid)) = owner {
                    let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
                }
                file.write_all(f.text.as_bytes())?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(&path, e));
        }
        written.push(path);
    }
    // The renames last once the directory is on disk too.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(dir, e))?;
    Ok(written)
}
