//! How the bench starts each system's pair of peers: sitelink gateways from
//! a generated config, and the plain WireGuard daemons (wireguard-go,
//! boringtun-cli, GotaTun) in the foreground, configured through their UAPI
//! socket with `wg set`, as a user of them would. Also each system's
//! version, for the report.
//!
//! A pair carries [`Pair::tunnels`] tunnels (1 but in the N-tunnel mode,
//! [`crate::tunnels`]). Tunnel `i` has its own UDP port on both sides
//! (51820 + `i`), its own inside /30 (169.254.(77 + `i`).0/30: b has .1, a
//! .2) and nothing else in common with the others but the keys and the
//! outer addresses. sitelink: one gateway per side with `N` endpoints (one
//! socket and one `udp-rx` thread each) and `N` static connections of one
//! tunnel each; a tunnel's inside /30 is routed over it, so a flow to b's
//! inside address of tunnel `i` takes tunnel `i`. The plain daemons: `N`
//! interfaces per side, one daemon process each, one peer per interface (a
//! WireGuard interface has one key, so `N` peers on one interface would
//! need `N` keys on the far side, i.e. `N` interfaces there anyway).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sitelink_lab::gateway::make_key;
use sitelink_lab::process::{self, wait_until, Spawned};
use sitelink_lab::{Error, Netns, Result};

use crate::{Pair, A_OUTER, B_OUTER, MTU, PORT};

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

    /// Its outer address and the remote's.
    fn addrs(self) -> (&'static str, &'static str) {
        match self {
            Side::A => (A_OUTER, B_OUTER),
            Side::B => (B_OUTER, A_OUTER),
        }
    }

    /// Its inside address in tunnel `i` (b: .1, a: .2 of the tunnel's /30).
    pub fn inner(self, i: usize) -> String {
        let host = match self {
            Side::A => 2,
            Side::B => 1,
        };
        format!("169.254.{}.{host}", 77 + i)
    }
}

/// Tunnel `i`'s inside /30.
fn inside_net(i: usize) -> String {
    format!("169.254.{}.0/30", 77 + i)
}

/// Tunnel `i`'s UDP port, the same on both sides.
fn port(i: usize) -> u16 {
    // At most MAX_TUNNELS (main.rs) tunnels: no overflow.
    PORT + i as u16
}

/// Brings up the [`Pair::tunnels`] tunnels of `system` and waits until each
/// carries a ping.
pub fn bring_up(system: System, p: &mut Pair, sitelink: &Path) -> Result<()> {
    let dir = p.lab.dir().to_path_buf();
    let (ka, kb) = (dir.join("a.key"), dir.join("b.key"));
    let pub_a = make_key(sitelink, &ka)?;
    let pub_b = make_key(sitelink, &kb)?;
    for (side, key, peer) in [(Side::A, &ka, &pub_b), (Side::B, &kb, &pub_a)] {
        if system == System::Sitelink {
            let proc = sitelink_gateway(p, side, key, peer, sitelink)?;
            p.procs.push(proc);
        } else {
            for i in 0..p.tunnels {
                let proc = plain_peer(system, p, side, key, peer, i)?;
                p.procs.push(proc);
            }
        }
    }
    for i in 0..p.tunnels {
        let to = Side::B.inner(i);
        wait_until(
            &format!("tunnel {i} to carry a ping to {to}"),
            Duration::from_secs(20),
            Duration::from_millis(200),
            || {
                p.a.exec("ping", &["-c", "1", "-W", "1", &to], Duration::from_secs(3))
                    .is_ok_and(|o| o.status.success())
            },
        )?;
    }
    Ok(())
}

/// The config of one sitelink gateway of the bench (a: the CGW, b: the VGW)
/// with `tunnels` tunnels: an endpoint and a static connection per tunnel.
fn sitelink_config(side: Side, key: &Path, socket: &Path, peer: &str, tunnels: usize) -> String {
    let name = side.name();
    let role = if side == Side::A { "cgw" } else { "vgw" };
    let (outer, remote) = side.addrs();
    let mut config = format!(
        "[gateway]\nname = \"bench-{name}\"\nrole = \"{role}\"\nprivate_key_file = \"{}\"\n\
         admin_socket = \"{}\"\n\n[tun]\nname = \"sl{name}\"\nmtu = {MTU}\n\n\
         [route_table]\nkernel_routes = false\n",
        key.display(),
        socket.display()
    );
    for i in 0..tunnels {
        let port = port(i);
        config.push_str(&format!(
            "\n[[endpoint]]\nname = \"wan{i}\"\nlisten = \"{outer}:{port}\"\n"
        ));
    }
    for i in 0..tunnels {
        let (port, inside) = (port(i), inside_net(i));
        config.push_str(&format!(
            "\n[[connection]]\nname = \"bench{i}\"\nrouting = \"static\"\n\
             static_routes = [\"10.77.{i}.0/24\"]\n\n\
             [[connection.tunnel]]\nendpoint = \"wan{i}\"\nremote = \"{remote}:{port}\"\n\
             remote_public_key = \"{peer}\"\ninside_cidr = \"{inside}\"\n"
        ));
    }
    config
}

/// One sitelink gateway (a: the CGW, b: the VGW) with the pair's tunnels.
fn sitelink_gateway(
    p: &Pair,
    side: Side,
    key: &Path,
    peer: &str,
    sitelink: &Path,
) -> Result<Spawned> {
    let dir = p.lab.dir();
    let name = side.name();
    let config = dir.join(format!("{name}.toml"));
    let socket = dir.join(format!("{name}.sock"));
    std::fs::write(
        &config,
        sitelink_config(side, key, &socket, peer, p.tunnels),
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

/// A plain daemon's interface for tunnel `i` on `side`. The names differ per
/// side and per lab: the UAPI socket path (/var/run/wireguard/IFACE.sock) is
/// shared by all namespaces. At most 15 bytes: "wg", the lab's `<pid>x<n>`,
/// the side and `i`.
fn iface(p: &Pair, side: Side, i: usize) -> String {
    format!("wg{}{}{i}", p.lab.short(), side.name())
}

/// Where the plain daemon of tunnel `i` on `side` listens for `wg`. The
/// daemons leave it behind when they are killed; the [`Pair`] removes it
/// when dropped.
pub fn uapi_socket(p: &Pair, side: Side, i: usize) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{}.sock", iface(p, side, i)))
}

/// One side of tunnel `i` of a plain WireGuard daemon: started in the
/// foreground in its namespace, then configured with `wg set` over its UAPI
/// socket.
fn plain_peer(
    system: System,
    p: &Pair,
    side: Side,
    key: &Path,
    peer: &str,
    i: usize,
) -> Result<Spawned> {
    let name = format!("{}{i}", side.name());
    let (_, remote) = side.addrs();
    let (inner, port) = (side.inner(i), port(i));
    let iface = iface(p, side, i);
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
    let sock = uapi_socket(p, side, i);
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
            &port.to_string(),
            "peer",
            peer,
            "endpoint",
            &format!("{remote}:{port}"),
            "allowed-ips",
            &inside_net(i),
        ],
    )?;
    ns.add_addr(&iface, &format!("{inner}/30"))?;
    ns.ip(&["link", "set", &iface, "mtu", MTU, "up"])?;
    Ok(spawned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tunnel_has_its_own_endpoint_port_connection_and_inside_net() {
        let config = sitelink_config(Side::B, Path::new("/k"), Path::new("/s.sock"), "PEER", 3);
        assert_eq!(config.matches("[[endpoint]]").count(), 3, "{config}");
        assert_eq!(config.matches("[[connection]]").count(), 3, "{config}");
        assert_eq!(config.matches("remote_public_key = \"PEER\"").count(), 3);
        for (i, port) in [51820, 51821, 51822].into_iter().enumerate() {
            for line in [
                format!("name = \"wan{i}\"\nlisten = \"{B_OUTER}:{port}\""),
                format!("endpoint = \"wan{i}\"\nremote = \"{A_OUTER}:{port}\""),
                format!("inside_cidr = \"169.254.{}.0/30\"", 77 + i),
                format!("static_routes = [\"10.77.{i}.0/24\"]"),
            ] {
                assert!(config.contains(&line), "no {line:?} in\n{config}");
            }
        }
        assert_eq!(Side::B.inner(0), crate::B_INNER);
        assert_eq!(Side::A.inner(2), "169.254.79.2");
    }
}
