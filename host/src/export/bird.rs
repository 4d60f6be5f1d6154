//! The `bird` format: a BIRD 2.0 `bird.conf` for the far side of a dynamic
//! connection, to run beside the wg-quick files: the far site's networks
//! originated by `protocol static` (blackhole routes, advertised only), a
//! BGP session over each tunnel with filters (import only our `[bgp]
//! networks`, export only the far networks), BFD with our liveness timers so
//! the session follows sitelink's probe, and kernel protocols that install
//! what BGP learns. Graceful restart (RFC 4724) is on in the sessions and
//! the kernel protocols: after `birdc graceful restart` and `bird -R`, the
//! kernel routes stay and sitelink keeps BIRD's routes meanwhile (with
//! `mode = "echo"` liveness; a BFD probe sees BIRD's BFD go away and fails
//! the tunnels over). IPv6 routes use link-local next hops over the IPv4
//! sessions: the wg-quick files put the matching fe80::/64 address on each
//! tunnel interface. One small function per protocol, so each is easy to
//! change on its own.

use std::fmt::Write as _;

use ipnet::IpNet;

use super::wg_quick::interface;
use super::{link_local, Export, ExportError, File, View};
use crate::config::{ConnectionBgp, SessionAddresses, TunnelConfig};
use crate::dataplane::own_traffic;

pub(super) fn export(v: &View, out: &mut Export) -> Result<(), ExportError> {
    let bgp = v.connection_bgp()?;
    v.warn_no_far_networks(out);
    v.warn_liveness(out, true);
    let names: Vec<String> = (1..=v.conn.tunnels.len())
        .map(|n| format!("./{}.conf", interface(&v.conn.name, n)))
        .collect();
    let mut parts = vec![
        v.header(
            "BIRD 2 configuration (BGP over each tunnel)",
            &format!(
                "Bring the tunnels up (wg-quick up {}), then: bird -c ./bird.conf (or install it as /etc/bird/bird.conf)",
                names.join(", wg-quick up ")
            ),
        ) + &router_id(v),
        device(),
    ];
    parts.extend(static_networks(v));
    parts.push(filters(v));
    parts.push(bfd(v));
    parts.push(kernel(v));
    for (i, t) in v.conn.tunnels.iter().enumerate() {
        parts.push(session(v, bgp, i, t));
    }
    out.files.push(File {
        name: "bird.conf".into(),
        text: parts.join("\n"),
        secret: false,
    });
    Ok(())
}

/// A BIRD symbol from a connection name (which may hold `-` or start with a
/// digit).
pub(crate) fn symbol(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("c{s}")
    } else {
        s
    }
}

/// The prefixes of one family: `v6` false for IPv4.
fn family(nets: &[IpNet], v6: bool) -> Vec<IpNet> {
    nets.iter()
        .filter(|n| matches!(n, IpNet::V6(_)) == v6)
        .copied()
        .collect()
}

fn router_id(v: &View) -> String {
    let id = v.conn.tunnels.first().map(|t| t.inside_remote);
    match id {
        Some(id) => format!("\n# This side's inside address of tunnel 1.\nrouter id {id};\n"),
        None => String::new(),
    }
}

fn device() -> String {
    "protocol device {\n}\n".into()
}

/// The far site's networks, as routes BGP can advertise (`blackhole`: they
/// are never exported to the kernel, only to BGP).
fn static_networks(v: &View) -> Vec<String> {
    let sym = symbol(&v.conn.name);
    [(false, '4'), (true, '6')]
        .into_iter()
        .filter_map(|(v6, d)| {
            let nets = family(&v.far_networks, v6);
            if nets.is_empty() {
                return None;
            }
            let mut s = format!(
                "# This site's IPv{d} networks, advertised to {:?} (never to the kernel).\n\
                 protocol static {sym}_networks{d} {{\n  ipv{d};\n",
                v.cfg.name
            );
            for n in nets {
                let _ = writeln!(s, "  route {n} blackhole;");
            }
            s.push_str("}\n");
            Some(s)
        })
        .collect()
}

/// A filter accepting exactly `nets` of one family.
fn filter(name: &str, nets: &[IpNet], what: &str) -> String {
    let body = if nets.is_empty() {
        format!("  # {what}: none of this family.\n  reject;\n")
    } else {
        let set: Vec<String> = nets.iter().map(ToString::to_string).collect();
        format!(
            "  if net ~ [ {} ] then accept;\n  reject;\n",
            set.join(", ")
        )
    };
    format!("filter {name} {{\n{body}}}\n")
}

fn filters(v: &View) -> String {
    let sym = symbol(&v.conn.name);
    let ours = format!("{:?}'s [bgp] networks", v.cfg.name);
    let theirs = "this site's networks";
    format!(
        "# Accept only {ours}; advertise only {theirs}.\n{}{}{}{}",
        filter(
            &format!("{sym}_import4"),
            &family(v.our_networks(), false),
            &ours
        ),
        filter(
            &format!("{sym}_import6"),
            &family(v.our_networks(), true),
            &ours
        ),
        filter(
            &format!("{sym}_export4"),
            &family(&v.far_networks, false),
            theirs
        ),
        filter(
            &format!("{sym}_export6"),
            &family(&v.far_networks, true),
            theirs
        ),
    )
}

/// BFD with sitelink's probe timers: sessions are made only for the BGP
/// neighbors below (`bfd on`), and sitelink's probe answers them.
fn bfd(v: &View) -> String {
    let ms = v.conn.liveness.interval.as_millis();
    format!(
        "# BFD at sitelink's liveness timers, for the BGP sessions below (bfd on).\n\
         protocol bfd {{\n  interface \"*\" {{\n    min rx interval {ms} ms;\n    \
         min tx interval {ms} ms;\n    multiplier {};\n  }};\n}}\n",
        v.conn.liveness.multiplier
    )
}

/// Kernel routes for what BGP learned; `merge paths` spreads a prefix
/// learned over both tunnels over both (ECMP), as sitelink does; `graceful
/// restart` keeps them through BIRD's own graceful restart (`bird -R`
/// defers the kernel sync until BGP has recovered).
fn kernel(v: &View) -> String {
    let (v4, v6) = v.default_families();
    let syncer = |d: char, name: &str, extra: &str, channel: &str| {
        format!(
            "protocol kernel {name} {{\n{extra}  merge paths on;\n  graceful restart on;\n  \
             ipv{d} {{\n{channel}  }};\n}}\n"
        )
    };
    let mut s = String::from("# Install the routes learned over BGP (only those).\n");
    for (d, default) in [('4', v4), ('6', v6)] {
        if !default {
            let channel = "    import none;\n    export where source = RTS_BGP;\n";
            s.push_str(&syncer(d, &format!("kernel{d}"), "", channel));
            continue;
        }
        let channel = "    import none;\n    export where source = RTS_BGP && net.len > 0;\n";
        s.push_str(&syncer(d, &format!("kernel{d}"), "", channel));
        // One kernel syncer per BIRD table: the default route reaches its
        // own through a pipe.
        let table = own_traffic::TABLE;
        let _ = write!(
            s,
            "# The default route goes into kernel table {table}, read only by traffic without \
             WireGuard's\n# mark (the wg-quick files' FwMark and rules): never the tunnels' own \
             datagrams.\nipv{d} table default{d};\nprotocol pipe default{d}_pipe {{\n  \
             table master{d};\n  peer table default{d};\n  import none;\n  \
             export where source = RTS_BGP && net.len = 0;\n}}\n"
        );
        let channel = format!("    table default{d};\n    import none;\n    export all;\n");
        let extra = format!("  kernel table {table};\n");
        s.push_str(&syncer(d, &format!("kernel{d}_default"), &extra, &channel));
    }
    s
}

fn session(v: &View, bgp: &ConnectionBgp, i: usize, t: &TunnelConfig) -> String {
    let n = i + 1;
    let sym = symbol(&v.conn.name);
    let hold = v.cfg.bgp.hold_time;
    let timers = if hold == 0 {
        "  hold time 0;\n".to_string()
    } else {
        format!("  hold time {hold};\n  keepalive time {};\n", hold / 3)
    };
    // Over the IPv6 inside addresses (`session = "ipv6"`), IPv4 routes
    // carry IPv6 next hops (RFC 8950), as sitelink offers.
    let (local, peer, extended) = match (bgp.session, t.inside_ipv6) {
        (SessionAddresses::Ipv6, Some(v6)) => (
            v6.remote.to_string(),
            v6.local.to_string(),
            "    # IPv4 routes with IPv6 next hops (RFC 8950), over the IPv6 session.\n    \
             extended next hop on;\n",
        ),
        _ => (t.inside_remote.to_string(), t.inside_local.to_string(), ""),
    };
    format!(
        "# Tunnel {n} (inside {cidr}, interface {ifname}) to {gw:?}.\n\
         protocol bgp {sym}_tunnel{n} {{\n  \
         description \"sitelink {gw}, connection {conn}, tunnel {n}\";\n  \
         local {local} as {las};\n  neighbor {peer} as {pas};\n{timers}  bfd on;\n  \
         # Graceful restart (RFC 4724): sitelink keeps this side's routes while\n  \
         # BIRD restarts (`birdc graceful restart`, then `bird -R`).\n  \
         graceful restart on;\n  \
         # sitelink waits for this side to connect: reconnect soon after a\n  \
         # tunnel comes back (BIRD's default waits 60 s after an error).\n  \
         connect retry time 5;\n  error wait time 5, 30;\n  \
         ipv4 {{\n    import filter {sym}_import4;\n    export filter {sym}_export4;\n    \
         gateway direct;\n{extended}  }};\n{ipv6}}}\n",
        cidr = t.inside_cidr,
        ifname = interface(&v.conn.name, n),
        gw = v.cfg.name,
        conn = v.conn.name,
        local = local,
        las = bgp.remote_asn,
        peer = peer,
        pas = bgp.local_asn,
        extended = extended,
        ipv6 = ipv6_channel(&sym, &interface(&v.conn.name, n), t),
    )
}

/// The IPv6 channel of a tunnel's session: IPv6 routes ride the IPv4
/// session (MP-BGP, RFC 4760). With an IPv6 inside /126 both sides send its
/// addresses as next hops; without one, link-local next hops from the addresses the wg-quick file
/// puts on the interface (`next hop self` would send ::, as the interface
/// then has no global IPv6 address).
fn ipv6_channel(sym: &str, ifname: &str, t: &TunnelConfig) -> String {
    let (comment, next_hop) = match t.inside_ipv6 {
        Some(v6) => (
            format!(
                "  # IPv6 routes ride this session (MP-BGP, RFC 4760) with the tunnel's IPv6\n  \
                 # inside addresses as next hops: sitelink sends {}; this side\n  \
                 # sends {}.\n",
                v6.local, v6.remote
            ),
            v6.remote.to_string(),
        ),
        None => (
            format!(
                "  # IPv6 routes ride this IPv4 session (MP-BGP, RFC 4760) with link-local next\n  \
                 # hops: sitelink sends {}; this side sends the address its wg-quick\n  \
                 # file puts on {ifname} (`next hop self` would send ::, as the interface\n  \
                 # has no global IPv6 address).\n",
                link_local(t.inside_local)
            ),
            link_local(t.inside_remote).to_string(),
        ),
    };
    format!(
        "{comment}  ipv6 {{\n    import filter {sym}_import6;\n    export filter {sym}_export6;\n    \
         next hop address {next_hop};\n  }};\n"
    )
}
