//! How the bench starts each system's pair of peers: sitelink gateways from
//! a generated config, and the plain WireGuard daemons (wireguard-go,
//! boringtun-cli, GotaTun) in the foreground, configured through their UAPI
//! socket with `wg set`, as a user of them would. Also each system's
//! version, for the report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sitelink_lab::gateway::make_key;
use sitelink_lab::process::{self, wait_until, Spawned};
use sitelink_lab::{Error, Netns, Result};

use crate::{Pair, A_INNER, A_OUTER, B_INNER, B_OUTER, MTU, PORT};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum System {
    Sitelink,
    WireguardGo,
    Boringtun,
    Gotatun,
}

impl System {
    pub const ALL: [System; 4] = [
        System::Sitelink,
        System::WireguardGo,
        System::Boringtun,
        System::Gotatun,
    ];

    pub fn name(self) -> &'static str {
        match self {
            System::Sitelink => "sitelink",
            System::WireguardGo => "wireguard-go",
            System::Boringtun => "boringtun-cli",
            System::Gotatun => "gotatun",
        }
    }

    /// The binary (from the environment, else the place
    /// `scripts/bench-datapath.sh` puts it).
    pub fn bin(self) -> PathBuf {
        match self {
            System::Sitelink => env_bin("SITELINK_BIN", "target/release/sitelink"),
            System::WireguardGo => env_bin("WIREGUARD_GO_BIN", "wireguard-go"),
            System::Boringtun => env_bin("BORINGTUN_BIN", "target/bench-tools/bin/boringtun-cli"),
            System::Gotatun => env_bin("GOTATUN_BIN", "target/bench-tools/bin/gotatun"),
        }
    }
}

fn env_bin(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The first line `BIN --version` prints, or why there is none.
fn first_line_of(cmd: &mut Command) -> String {
    match process::run(cmd, Duration::from_secs(10)) {
        Ok(out) => {
            let text = if out.stdout.trim().is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            text.lines()
                .next()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .unwrap_or("(no version printed)")
                .to_string()
        }
        Err(e) => format!("(no version: {e})"),
    }
}

/// What each system says of its version; sitelink's with the commit it was
/// built from (`git describe` of the working tree the bench runs in).
pub fn version(system: System) -> String {
    let own = first_line_of(Command::new(system.bin()).arg("--version"));
    if system != System::Sitelink {
        return own;
    }
    let git =
        first_line_of(Command::new("git").args(["describe", "--always", "--dirty", "--tags"]));
    format!("{own}, git {git}")
}

/// One end of the tunnel: namespace a runs the iperf3 client (it sends the
/// data of the TCP test), b the server.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }

    pub fn ns(self, p: &Pair) -> &Netns {
        match self {
            Side::A => &p.a,
            Side::B => &p.b,
        }
    }

    /// Its outer address, the remote's, and its inside address.
    fn addrs(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Side::A => (A_OUTER, B_OUTER, A_INNER),
            Side::B => (B_OUTER, A_OUTER, B_INNER),
        }
    }
}

/// Brings up the tunnel of `system` and waits until it carries a ping.
pub fn bring_up(system: System, p: &mut Pair, sitelink: &Path) -> Result<()> {
    let dir = p.lab.dir().to_path_buf();
    let (ka, kb) = (dir.join("a.key"), dir.join("b.key"));
    let pub_a = make_key(sitelink, &ka)?;
    let pub_b = make_key(sitelink, &kb)?;
    for (side, key, peer) in [(Side::A, &ka, &pub_b), (Side::B, &kb, &pub_a)] {
        let proc = if system == System::Sitelink {
            sitelink_gateway(p, side, key, peer, sitelink)?
        } else {
            plain_peer(system, p, side, key, peer)?
        };
        p.procs.push(proc);
    }
    wait_until(
        "the tunnel to carry a ping",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            p.a.exec(
                "ping",
                &["-c", "1", "-W", "1", B_INNER],
                Duration::from_secs(3),
            )
            .is_ok_and(|o| o.status.success())
        },
    )?;
    Ok(())
}

/// One sitelink gateway (a: the CGW, b: the VGW) with one tunnel.
fn sitelink_gateway(
    p: &Pair,
    side: Side,
    key: &Path,
    peer: &str,
    sitelink: &Path,
) -> Result<Spawned> {
    let dir = p.lab.dir();
    let name = side.name();
    let role = if side == Side::A { "cgw" } else { "vgw" };
    let (outer, remote, _) = side.addrs();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[gateway]\nname = \"bench-{name}\"\nrole = \"{role}\"\nprivate_key_file = \"{}\"\n\
             admin_socket = \"{}\"\n\n[tun]\nname = \"sl{name}\"\nmtu = {MTU}\n\n\
             [[endpoint]]\nname = \"wan\"\nlisten = \"{outer}:{PORT}\"\n\n\
             [route_table]\nkernel_routes = false\n\n[[connection]]\nname = \"bench\"\n\
             routing = \"static\"\nstatic_routes = [\"10.77.0.0/24\"]\n\n\
             [[connection.tunnel]]\nendpoint = \"wan\"\nremote = \"{remote}:{PORT}\"\n\
             remote_public_key = \"{peer}\"\ninside_cidr = \"169.254.77.0/30\"\n",
            key.display(),
            dir.join(format!("{name}.sock")).display()
        ),
    )
    .map_err(|e| Error::msg(format!("write config: {e}")))?;
    let cmd = side
        .ns(p)
        .command(sitelink, &["run", "-c", &config.to_string_lossy()]);
    Spawned::start(
        &format!("sitelink-{name}"),
        cmd,
        &dir.join(format!("{name}.log")),
    )
}

/// A plain daemon's interface on `side`. The names differ per side and per
/// lab: the UAPI socket path (/var/run/wireguard/IFACE.sock) is shared by
/// all namespaces.
fn iface(p: &Pair, side: Side) -> String {
    format!("wg{}{}", p.lab.short(), side.name())
}

/// Where a plain daemon on `side` listens for `wg`. The daemons leave it
/// behind when they are killed; the [`Pair`] removes it when dropped.
pub fn uapi_socket(p: &Pair, side: Side) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{}.sock", iface(p, side)))
}

/// One side of a plain WireGuard daemon: started in the foreground in its
/// namespace, then configured with `wg set` over its UAPI socket.
fn plain_peer(system: System, p: &Pair, side: Side, key: &Path, peer: &str) -> Result<Spawned> {
    let name = side.name();
    let (_, remote, inner) = side.addrs();
    let iface = iface(p, side);
    let ns = side.ns(p);
    let cmd = if system == System::WireguardGo {
        ns.command(system.bin(), &["-f", &iface])
    } else {
        // boringtun-cli and GotaTun (its fork) take the same flags. Run as
        // root, they keep their privileges (as the bench's `wg` expects).
        let mut c = ns.command(system.bin(), &["-f", "--disable-drop-privileges", &iface]);
        c.env("WG_SUDO", "1");
        c
    };
    let spawned = Spawned::start(
        &format!("{}-{name}", system.name()),
        cmd,
        &p.lab.dir().join(format!("{name}.log")),
    )?;
    let sock = uapi_socket(p, side);
    wait_until(
        &format!("{iface} to appear"),
        Duration::from_secs(10),
        Duration::from_millis(50),
        || sock.exists(),
    )?;
    ns.exec_ok(
        "wg",
        &[
            "set",
            &iface,
            "private-key",
            &key.to_string_lossy(),
            "listen-port",
            &PORT.to_string(),
            "peer",
            peer,
            "endpoint",
            &format!("{remote}:{PORT}"),
            "allowed-ips",
            "169.254.77.0/30",
        ],
    )?;
    ns.add_addr(&iface, &format!("{inner}/30"))?;
    ns.ip(&["link", "set", &iface, "mtu", MTU, "up"])?;
    Ok(spawned)
}
