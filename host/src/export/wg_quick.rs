//! The `wg-quick` format: one file per tunnel, each its own WireGuard
//! interface on the far side (`<connection>-tunnel<N>.conf`, so the interface
//! is `<connection>-tunnel<N>`), listening on the port of the tunnel's
//! `remote`, with the tunnel's inside address and `Table = off`. A dynamic
//! connection's routes come from BGP (see `bird`); a static one's from
//! `PostUp` routes whose metrics prefer the tunnel sitelink prefers (the
//! lowest inside CIDR).

use std::fmt::Write as _;

use ipnet::Ipv4Net;

use super::{link_local, Export, ExportError, File, View};
use crate::config::{Routing, TunnelConfig};
use crate::dataplane::own_traffic;
use crate::keys;

/// What a file says when no `--private-key` was given.
pub(crate) const KEY_PLACEHOLDER: &str = "<paste the far side's private key here>";

/// Longest Linux interface name.
pub(super) const IFNAMSIZ: usize = 15;

pub(super) fn export(v: &View, out: &mut Export) -> Result<(), ExportError> {
    let tunnels = &v.conn.tunnels;
    for (i, a) in tunnels.iter().enumerate() {
        for (j, b) in tunnels.iter().enumerate().skip(i + 1) {
            if a.remote == b.remote {
                return Err(ExportError::SameRemote {
                    connection: v.conn.name.clone(),
                    first: i + 1,
                    second: j + 1,
                    remote: a.remote,
                });
            }
            if a.remote.port() == b.remote.port() {
                out.warnings.push(format!(
                    "tunnels {} and {} both end at port {}: if they end on one far-side host, \
                     its two WireGuard interfaces cannot both listen on it; give each tunnel's \
                     `remote` its own port",
                    i + 1,
                    j + 1,
                    a.remote.port()
                ));
            }
        }
    }
    let private_key = match &v.req.private_key {
        Some(k) => keys::encode_key(&k.secret.to_bytes()),
        None => {
            let far: Vec<String> = tunnels
                .iter()
                .map(|t| keys::encode_key(&t.remote_public_key.to_bytes()))
                .collect();
            out.warnings.push(format!(
                "no --private-key: the files say `PrivateKey = {KEY_PLACEHOLDER}`; paste in the \
                 far side's private key (its public key must be {})",
                far.first().cloned().unwrap_or_default()
            ));
            KEY_PLACEHOLDER.to_string()
        }
    };
    if v.conn.routing == Routing::Static && v.our_networks().is_empty() {
        out.warnings.push(format!(
            "gateway {:?} has no [bgp] networks: the far side gets no route to this site; list \
             this site's prefixes in [bgp] networks (a static connection uses them for export only)",
            v.cfg.name
        ));
    }
    v.warn_networks_unused(out);
    // wg-quick alone answers no BFD (its kernel answers our echo probes).
    if v.conn.routing == Routing::Static {
        v.warn_liveness(out, false);
    }
    for (i, t) in tunnels.iter().enumerate() {
        let text = file(v, i, t, &private_key)?;
        out.files.push(File {
            name: format!("{}.conf", interface(&v.conn.name, i + 1)),
            text,
            secret: true,
        });
    }
    Ok(())
}

/// Where our networks hold a default route: WireGuard's mark and the two
/// rules per family of `dataplane::own_traffic` (added once, whichever
/// tunnel comes up first; removed by the last WireGuard interface with the
/// mark to go down: the table is empty for a moment whenever the tunnel
/// carrying the default goes), so that the default route, in a table of
/// its own, never carries the tunnels' own datagrams.
fn own_traffic(v: &View) -> String {
    let (v4, v6) = v.default_families();
    if !v4 && !v6 {
        return String::new();
    }
    let (mark, table) = (own_traffic::MARK, own_traffic::TABLE);
    let (main, own) = (own_traffic::PRIO_MAIN, own_traffic::PRIO_TABLE);
    let mut s = format!(
        "# {:?} advertises a default route: it goes into table {table}, which only traffic \
         without WireGuard's mark reads, after the main table without its default route; so \
         this host's own routes still win, and the tunnels' datagrams keep its uplink.\n\
         FwMark = {mark:#x}\n",
        v.cfg.name
    );
    for (on, f) in [(v4, "-4"), (v6, "-6")] {
        if !on {
            continue;
        }
        let _ = write!(
            s,
            "PostUp = ip {f} rule add priority {main} table main suppress_prefixlength 0 \
             2>/dev/null || true\n\
             PostUp = ip {f} rule add priority {own} not fwmark {mark:#x} table {table} \
             2>/dev/null || true\n\
             PostDown = wg show all fwmark | grep -q {mark:#x} || \
             {{ ip {f} rule del priority {own}; ip {f} rule del priority {main}; }} 2>/dev/null \
             || true\n"
        );
    }
    s
}

/// The wg-quick interface (and file) name of tunnel `n` (1-based):
/// `<connection>-tunnel<n>`, or `<connection, cut>-t<n>` where that is
/// longer than Linux allows.
pub(crate) fn interface(connection: &str, n: usize) -> String {
    let full = format!("{connection}-tunnel{n}");
    if full.len() <= IFNAMSIZ {
        return full;
    }
    let suffix = format!("-t{n}");
    let keep = IFNAMSIZ.saturating_sub(suffix.len()).min(connection.len());
    format!("{}{suffix}", &connection[..keep])
}

/// The rank of tunnel `i` in sitelink's active/standby order (0 is
/// preferred): by inside CIDR, then position.
fn preference(tunnels: &[TunnelConfig], i: usize) -> usize {
    let key = |j: usize, n: Ipv4Net| (u32::from(n.network()), n.prefix_len(), j);
    let mine = key(i, tunnels[i].inside_cidr);
    tunnels
        .iter()
        .enumerate()
        .filter(|(j, t)| key(*j, t.inside_cidr) < mine)
        .count()
}

fn file(v: &View, i: usize, t: &TunnelConfig, private_key: &str) -> Result<String, ExportError> {
    let n = i + 1;
    let name = interface(&v.conn.name, n);
    let endpoint = v.our_endpoint(i, t)?;
    let mut s = v.header(
        &format!(
            "tunnel {n} of {} (inside {}), for wg-quick",
            v.conn.tunnels.len(),
            t.inside_cidr
        ),
        &format!("As root on the far side: wg-quick up ./{name}.conf   (interface {name})"),
    );
    let _ = write!(s, "\n[Interface]\nPrivateKey = {private_key}\n");
    let mut address = format!("{}/{}", t.inside_remote, t.inside_cidr.prefix_len());
    if let Some(v6) = t.inside_ipv6 {
        let _ = write!(address, ", {}/{}", v6.remote, v6.cidr.prefix_len());
    }
    if v.conn.routing == Routing::Dynamic {
        match t.inside_ipv6 {
            Some(v6) => {
                let _ = writeln!(
                    s,
                    "# sitelink's IPv6 next hop ({}) is on-link through the IPv6 inside /126.\n\
                     Address = {address}",
                    v6.local
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "# The link-local address makes sitelink's IPv6 next hop ({}) on-link for BGP.\n\
                     Address = {address}, {}/64",
                    link_local(t.inside_local),
                    link_local(t.inside_remote),
                );
            }
        }
    } else {
        let _ = writeln!(s, "Address = {address}");
    }
    let _ = write!(
        s,
        "ListenPort = {}\n# At most what this tunnel carries at our end and a 1,500-byte uplink \
         carries; lower it if this host's uplink carries less.\nMTU = {}\n",
        t.remote.port(),
        v.far_mtu(t)
    );
    s.push_str(&own_traffic(v));
    let allowed = match v.conn.routing {
        Routing::Dynamic => {
            s.push_str("# Routes come from BGP (BIRD's kernel protocol), not from wg-quick.\n");
            s.push_str("Table = off\n");
            "0.0.0.0/0, ::/0".to_string()
        }
        Routing::Static => {
            let metric = 100 * (preference(&v.conn.tunnels, i) + 1);
            let _ = writeln!(
                s,
                "# Routes to {:?}'s networks; the lower metric prefers the tunnel sitelink \
                 prefers (the lowest inside CIDR).\n# This side has no failover of its own: \
                 with [connection.liveness] mode = \"echo\" sitelink moves to the other tunnel \
                 when this one dies, but traffic from here stays on the lower metric.",
                v.cfg.name
            );
            s.push_str("Table = off\n");
            for net in v.our_networks() {
                let table = match net.prefix_len() {
                    0 => format!(" table {}", own_traffic::TABLE),
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "PostUp = ip route replace {net} dev %i metric {metric}{table}"
                );
            }
            let mut nets = vec![t.inside_cidr.to_string()];
            nets.extend(t.inside_ipv6.map(|i| i.cidr.to_string()));
            nets.extend(v.our_networks().iter().map(ToString::to_string));
            nets.join(", ")
        }
    };
    let ep = &v.cfg.endpoints[t.endpoint];
    let _ = write!(
        s,
        "\n[Peer]\n# Gateway {:?}, endpoint {:?}.\nPublicKey = {}\nEndpoint = {endpoint}\n",
        v.cfg.name,
        ep.name,
        keys::encode_key(v.cfg.public_key.as_bytes()),
    );
    if v.conn.routing == Routing::Dynamic {
        s.push_str("# Each tunnel is its own interface: BGP decides what goes over it.\n");
    }
    let _ = write!(s, "AllowedIPs = {allowed}\nPersistentKeepalive = 25\n");
    Ok(s)
}
