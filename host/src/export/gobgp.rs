//! The `gobgp` format: a gobgpd TOML configuration for the far side of a
//! dynamic connection, to run beside the wg-quick files: a neighbor per
//! tunnel between the inside addresses, IPv4 and IPv6 unicast, and global
//! policies (import only our `[bgp] networks` and the far networks added
//! locally, export only the far networks, default reject). gobgpd cannot originate networks from its file nor speak
//! BFD: the file says which `gobgp` commands advertise the far networks.

use std::fmt::Write as _;

use ipnet::IpNet;

use super::wg_quick::interface;
use super::{Export, ExportError, File, View};
use crate::config::{ConnectionBgp, SessionAddresses, TunnelConfig};

pub(super) fn export(v: &View, out: &mut Export) -> Result<(), ExportError> {
    let bgp = v.connection_bgp()?;
    if bgp.session == SessionAddresses::Ipv6 {
        return Err(ExportError::NeedsIpv4Sessions {
            format: v.req.format,
            connection: v.conn.name.clone(),
        });
    }
    v.warn_no_far_networks(out);
    v.warn_liveness(out, false);
    v.warn_default_route(out);
    let mut s = v.header(
        "gobgpd configuration (BGP over each tunnel)",
        "Bring the tunnels up (the wg-quick files), then: gobgpd -f ./gobgpd.toml -t toml, \
         and run the `gobgp global rib add` commands below",
    );
    s.push_str(&originate(v));
    s.push_str(&global(v, bgp));
    s.push_str(&policies(v));
    for (i, t) in v.conn.tunnels.iter().enumerate() {
        s.push_str(&neighbor(v, bgp, i, t));
    }
    out.files.push(File {
        name: "gobgpd.toml".into(),
        text: s,
        secret: false,
    });
    Ok(())
}

/// The commands that advertise the far networks, and what gobgpd leaves to
/// the operator.
fn originate(v: &View) -> String {
    let mut s = String::from(
        "#\n# gobgpd cannot originate networks from this file. Once it runs, advertise this \
         site's networks:\n",
    );
    if v.far_networks.is_empty() {
        s.push_str("#   (none given: gobgp global rib add -a ipv4 PREFIX)\n");
    }
    for n in &v.far_networks {
        let afi = match n {
            IpNet::V4(_) => "ipv4",
            IpNet::V6(_) => "ipv6",
        };
        let _ = writeln!(s, "#   gobgp global rib add -a {afi} {n}");
    }
    let _ = write!(
        s,
        "# gobgpd installs no kernel routes by itself: use its zebra integration (FRR), or route \
         {:?}'s networks over the tunnels.\n# gobgpd has no BFD: a dead tunnel is noticed after \
         the hold time ({} s).\n",
        v.cfg.name, v.cfg.bgp.hold_time
    );
    s
}

fn global(v: &View, bgp: &ConnectionBgp) -> String {
    let id = v
        .conn
        .tunnels
        .first()
        .map(|t| t.inside_remote.to_string())
        .unwrap_or_default();
    format!(
        "\n[global.config]\n  as = {}\n  # This side's inside address of tunnel 1.\n  router-id = \"{id}\"\n",
        bgp.remote_asn
    )
}

/// The prefix sets of `nets`, one per family: (name, TOML).
fn sets(prefix: &str, nets: &[IpNet]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (v6, d) in [(false, '4'), (true, '6')] {
        let fam: Vec<&IpNet> = nets
            .iter()
            .filter(|n| matches!(n, IpNet::V6(_)) == v6)
            .collect();
        if fam.is_empty() {
            continue;
        }
        let name = format!("{prefix}{d}");
        let mut toml = format!("\n[[defined-sets.prefix-sets]]\n  prefix-set-name = \"{name}\"\n");
        for n in fam {
            let _ = write!(
                toml,
                "  [[defined-sets.prefix-sets.prefix-list]]\n    ip-prefix = \"{n}\"\n"
            );
        }
        out.push((name, toml));
    }
    out
}

/// A statement accepting the routes of prefix set `set`; `local`: only
/// those added on this side (`gobgp global rib add`).
fn statement(name: &str, set: &str, local: bool) -> String {
    let mut s = format!(
        "  [[policy-definitions.statements]]\n    name = \"{name}\"\n    \
         [policy-definitions.statements.conditions.match-prefix-set]\n      \
         prefix-set = \"{set}\"\n      match-set-options = \"any\"\n"
    );
    if local {
        s.push_str(
            "    [policy-definitions.statements.conditions.bgp-conditions]\n      \
             route-type = \"local\"\n",
        );
    }
    s.push_str(
        "    [policy-definitions.statements.actions]\n      route-disposition = \"accept-route\"\n",
    );
    s
}

/// Global policies (gobgpd applies them to every neighbor): import only our
/// networks, plus this site's own as added locally (the import policy sees
/// those too); export only this site's networks; reject the rest.
fn policies(v: &View) -> String {
    let conn = &v.conn.name;
    let ours = sets(&format!("{conn}-import"), v.our_networks());
    let theirs = sets(&format!("{conn}-export"), &v.far_networks);
    let mut import: String = ours
        .iter()
        .map(|(set, _)| statement(&format!("accept-{set}"), set, false))
        .collect();
    import.extend(
        theirs
            .iter()
            .map(|(set, _)| statement(&format!("originate-{set}"), set, true)),
    );
    let export: String = theirs
        .iter()
        .map(|(set, _)| statement(&format!("accept-{set}"), set, false))
        .collect();
    let list = |name: &str, statements: &str| {
        if statements.is_empty() {
            "[]".to_string()
        } else {
            format!("[\"{conn}-{name}\"]")
        }
    };
    let mut s = format!(
        "\n# Accept only {:?}'s [bgp] networks (and this site's own, added here); advertise \
         only this site's networks.\n[global.apply-policy.config]\n  import-policy-list = {}\n  \
         default-import-policy = \"reject-route\"\n  export-policy-list = {}\n  \
         default-export-policy = \"reject-route\"\n",
        v.cfg.name,
        list("import", &import),
        list("export", &export),
    );
    for (_, toml) in ours.iter().chain(&theirs) {
        s.push_str(toml);
    }
    for (name, statements) in [("import", &import), ("export", &export)] {
        if !statements.is_empty() {
            let _ = write!(
                s,
                "\n[[policy-definitions]]\n  name = \"{conn}-{name}\"\n{statements}"
            );
        }
    }
    s
}

fn neighbor(v: &View, bgp: &ConnectionBgp, i: usize, t: &TunnelConfig) -> String {
    let n = i + 1;
    let hold = v.cfg.bgp.hold_time;
    format!(
        "\n# Tunnel {n} (inside {cidr}, interface {ifname}) to {gw:?}.\n[[neighbors]]\n  \
         [neighbors.config]\n    neighbor-address = \"{peer}\"\n    peer-as = {pas}\n    \
         description = \"sitelink {gw}, connection {conn}, tunnel {n}\"\n  \
         [neighbors.transport.config]\n    local-address = \"{local}\"\n  \
         [neighbors.timers.config]\n    hold-time = {hold}\n    keepalive-interval = {ka}\n  \
         [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      \
         afi-safi-name = \"ipv4-unicast\"\n  \
         [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      \
         afi-safi-name = \"ipv6-unicast\"\n",
        cidr = t.inside_cidr,
        ifname = interface(&v.conn.name, n),
        gw = v.cfg.name,
        conn = v.conn.name,
        peer = t.inside_local,
        pas = bgp.local_asn,
        local = t.inside_remote,
        ka = hold / 3,
    )
}
