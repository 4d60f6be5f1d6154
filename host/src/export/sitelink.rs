//! The `sitelink` format: a whole gateway config for the far side, of the
//! opposite role: one `[[endpoint]]` per distinct far address of the
//! tunnels, one connection (named after this gateway) with the same routing,
//! liveness and tunnels (same inside CIDRs, each pointing back at our
//! endpoint), and for a dynamic connection the mirrored ASNs. It must pass
//! `sitelink check` once the far key file is in place.

use std::fmt::Write as _;
use std::net::SocketAddr;

use ipnet::IpNet;

use super::{Export, ExportError, File, View};
use crate::config::{LivenessMode, Role, Routing, SessionAddresses};
use crate::keys;

/// Longest Linux interface name.
use super::wg_quick::IFNAMSIZ;

pub(super) fn export(v: &View, out: &mut Export) -> Result<(), ExportError> {
    let conn = v.conn;
    let far_key = conn.tunnels[0].remote_public_key;
    if conn.tunnels.iter().any(|t| t.remote_public_key != far_key) {
        return Err(ExportError::SeveralRemoteKeys {
            connection: conn.name.clone(),
        });
    }
    // The far side's endpoints: its distinct addresses, in tunnel order.
    let mut endpoints: Vec<SocketAddr> = Vec::new();
    for t in &conn.tunnels {
        if !endpoints.contains(&t.remote) {
            endpoints.push(t.remote);
        }
    }
    let mut ours = Vec::with_capacity(conn.tunnels.len());
    for (i, t) in conn.tunnels.iter().enumerate() {
        ours.push(v.our_endpoint(i, t)?);
    }

    let name = &v.far_name;
    let key_file = format!("{name}.key");
    let file = format!("{name}.toml");
    let mut s = v.header(
        &format!("the far gateway {name:?} for sitelink"),
        &format!(
            "Put its private key in {key_file} (chmod 600), then: sitelink check -c {file} && sitelink run -c {file}"
        ),
    );
    s.push_str(&gateway(v));
    s.push_str(&endpoint_tables(&endpoints));
    s.push_str("\n[route_table]\npropagation = true\nkernel_routes = true\n");
    s.push_str(&bgp_table(v));
    s.push_str(&connection(v));
    for (i, t) in conn.tunnels.iter().enumerate() {
        let ep = endpoints.iter().position(|e| *e == t.remote).unwrap_or(0);
        let _ = write!(
            s,
            "\n# Tunnel {n}, to endpoint {our_ep:?} of {gw:?}.\n[[connection.tunnel]]\n\
             endpoint = \"{}\"\nremote = \"{}\"\nremote_public_key = \"{}\"\ninside_cidr = \"{}\"\n",
            endpoint_name(ep),
            ours[i],
            keys::encode_key(v.cfg.public_key.as_bytes()),
            t.inside_cidr,
            n = i + 1,
            our_ep = v.cfg.endpoints[t.endpoint].name,
            gw = v.cfg.name,
        );
        if let Some(v6) = t.inside_ipv6 {
            let _ = writeln!(s, "inside_ipv6_cidr = \"{}\"", v6.cidr);
        }
    }
    out.files.push(File {
        name: file,
        text: s,
        secret: false,
    });

    match &v.req.private_key {
        Some(k) => out.out_only.push(File {
            name: key_file,
            text: format!("{}\n", keys::encode_key(&k.secret.to_bytes())),
            secret: true,
        }),
        None => out.warnings.push(format!(
            "no --private-key: put the far gateway's private key in {key_file} next to the config \
             (chmod 600); its public key must be {}",
            keys::encode_key(&far_key.to_bytes())
        )),
    }
    if conn.routing == Routing::Static && v.our_networks().is_empty() {
        out.warnings.push(format!(
            "gateway {:?} has no [bgp] networks: the far gateway gets no static route to this \
             site; list this site's prefixes in [bgp] networks (a static connection uses them for \
             export only)",
            v.cfg.name
        ));
    }
    if conn.routing == Routing::Dynamic {
        v.warn_no_far_networks(out);
    }
    Ok(())
}

fn endpoint_name(i: usize) -> String {
    match i {
        0 => "wan".into(),
        _ => format!("wan{}", i + 1),
    }
}

/// A TOML array of prefixes.
fn list(nets: &[IpNet]) -> String {
    let items: Vec<String> = nets.iter().map(|n| format!("\"{n}\"")).collect();
    format!("[{}]", items.join(", "))
}

fn gateway(v: &View) -> String {
    let name = &v.far_name;
    let role = match v.cfg.role {
        Role::Vgw => "cgw",
        Role::Cgw => "vgw",
    };
    let mut tun = format!("sl-{name}");
    tun.truncate(IFNAMSIZ);
    format!(
        "\n[gateway]\nname = \"{name}\"\nrole = \"{role}\"\nprivate_key_file = \"{name}.key\"\n\
         \n[tun]\nname = \"{tun}\"\nmtu = {}\n",
        // What every tunnel of the connection carries at both ends.
        v.conn
            .tunnels
            .iter()
            .map(|t| v.far_mtu(t))
            .min()
            .unwrap_or(v.cfg.tun.mtu)
    )
}

fn endpoint_tables(endpoints: &[SocketAddr]) -> String {
    let mut s = String::new();
    for (i, e) in endpoints.iter().enumerate() {
        let _ = write!(
            s,
            "\n[[endpoint]]\nname = \"{}\"\nlisten = \"{e}\"\n",
            endpoint_name(i)
        );
    }
    s
}

fn bgp_table(v: &View) -> String {
    match &v.conn.bgp {
        Some(bgp) => format!(
            "\n[bgp]\nasn = {}\n# This site's prefixes, advertised to {:?}.\nnetworks = {}\nhold_time_s = {}\n",
            bgp.remote_asn,
            v.cfg.name,
            list(&v.far_networks),
            v.cfg.bgp.hold_time
        ),
        None if v.far_networks.is_empty() => String::new(),
        None => format!(
            "\n[bgp]\n# This site's prefixes (a static connection uses them for `sitelink export` only).\nnetworks = {}\n",
            list(&v.far_networks)
        ),
    }
}

fn connection(v: &View) -> String {
    let c = v.conn;
    let mut s = format!(
        "\n[[connection]]\nname = \"{}\"\nrouting = \"{}\"\n",
        v.cfg.name,
        match c.routing {
            Routing::Static => "static",
            Routing::Dynamic => "dynamic",
        }
    );
    if c.routing == Routing::Static {
        let _ = write!(
            s,
            "# {:?}'s networks.\nstatic_routes = {}\nfailback_hold_ms = {}\n",
            v.cfg.name,
            list(v.our_networks()),
            c.failback_hold.as_millis()
        );
    }
    let _ = write!(
        s,
        "\n[connection.liveness]\nmode = {:?}\ninterval_ms = {}\nmultiplier = {}\n",
        match c.liveness.mode {
            LivenessMode::Bfd => "bfd",
            LivenessMode::Echo => "echo",
        },
        c.liveness.interval.as_millis(),
        c.liveness.multiplier
    );
    if let Some(bgp) = &c.bgp {
        let _ = write!(
            s,
            "\n[connection.bgp]\nremote_asn = {}\n# {:?} {}.\npassive = {}\n",
            bgp.local_asn,
            v.cfg.name,
            if bgp.passive {
                "waits for this side to connect"
            } else {
                "connects: this side waits"
            },
            !bgp.passive
        );
        if bgp.session == SessionAddresses::Ipv6 {
            s.push_str("session = \"ipv6\"\n");
        }
    }
    s
}
