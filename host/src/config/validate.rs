//! From the raw file to the agreed [`GatewayConfig`]: applies the rules that
//! relate values to each other (unique names and addresses, references from
//! tunnels to endpoints, one owner per static route, non-overlapping inside
//! CIDRs, unambiguous tunnels, tunnel counts), fills in defaults, reads the
//! private key file (relative to the configuration file's directory) and
//! derives each tunnel's inside addresses from the role. Checks run in
//! document order and the first failure is returned. Single-value rules are
//! in `rules`; this module must not do any I/O other than reading the key
//! file, and must not keep raw types in its output.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use boringtun::x25519::{PublicKey, StaticSecret};
use ipnet::IpNet;
use toml::Spanned;

use super::error::{ConfigError, Location, Source};
use super::model::{
    ConnectionConfig, EndpointConfig, GatewayConfig, InsideV6, LivenessConfig, LivenessMode, Role,
    RouteTableConfig, Routing, SessionAddresses, TunConfig, TunnelConfig,
};
use super::raw::{RawConfig, RawConnection, RawTunnel};
use super::rules;
use crate::keys::{self, KeyError};
use crate::mtu::{self, Outer};

/// Longest path a Unix socket address holds (`sun_path` is 108 bytes with
/// the terminating NUL).
const SUN_PATH_MAX: usize = 107;

/// What earlier connections and tunnels have claimed, for the rules across
/// the whole gateway.
#[derive(Default)]
struct Claims {
    /// Static route -> (connection, where).
    routes: Vec<(IpNet, String, Location)>,
    /// Inside CIDR (IPv4 /30 or IPv6 /126) -> (tunnel label, where).
    inside: Vec<(IpNet, String, Location)>,
    /// (endpoint, remote key, remote) -> (tunnel label, where).
    peers: Vec<(usize, [u8; 32], SocketAddr, String, Location)>,
}

/// No static route (but a default one) may hold a far gateway's address or
/// an endpoint's: the kernel would send the tunnels' own datagrams into the
/// TUN device, and no tunnel would come up. (`[bgp] networks` are checked
/// against the endpoints, learned routes against the remotes, the same
/// way.) `connections` are the validated `raw`, in their order.
fn static_routes_off_the_underlay(
    src: &Source,
    raw: &[Spanned<RawConnection>],
    connections: &[ConnectionConfig],
    endpoints: &[(EndpointConfig, Location)],
) -> Result<(), ConfigError> {
    let remotes = connections.iter().flat_map(|c| {
        c.tunnels.iter().map(move |t| {
            (
                t.remote.ip(),
                format!("connection {:?}'s tunnel {}", c.name, t.inside_cidr),
            )
        })
    });
    let listening = endpoints
        .iter()
        .filter(|(e, _)| !e.listen.ip().is_unspecified())
        .map(|(e, _)| (e.listen.ip(), format!("endpoint {:?}", e.name)));
    let underlay: Vec<(std::net::IpAddr, String)> = remotes.chain(listening).collect();
    for r in raw
        .iter()
        .flat_map(|c| c.get_ref().static_routes.iter().flat_map(|l| l.get_ref()))
    {
        let net = rules::static_route(src, r)?;
        if net.prefix_len() == 0 {
            continue;
        }
        if let Some((ip, what)) = underlay.iter().find(|(ip, _)| net.contains(ip)) {
            return Err(src.err(
                r.span(),
                format!(
                    "static route {net} holds {ip}, the underlay address of {what}: the \
                     tunnels' own datagrams would be routed into the tunnels"
                ),
                "route only the far site's prefixes, not the gateways' public addresses",
            ));
        }
    }
    Ok(())
}

/// The gateway-wide facts a tunnel is checked against.
struct Gateway<'a> {
    role: Role,
    bgp: &'a super::bgp::GatewayBgp,
    private_key: &'a StaticSecret,
    public_key: [u8; 32],
    endpoints: &'a [(EndpointConfig, Location)],
}

pub(crate) fn validate(
    src: &Source,
    raw: RawConfig,
    base_dir: &Path,
    read_key: &dyn Fn(&Path) -> Result<StaticSecret, KeyError>,
) -> Result<GatewayConfig, ConfigError> {
    let gw = raw.gateway.get_ref();
    let name = rules::name(src, &gw.name, "gateway name", "vgw")?;
    let role = match gw.role.get_ref().as_str() {
        "vgw" => Role::Vgw,
        "cgw" => Role::Cgw,
        other => {
            return Err(src.err(
                gw.role.span(),
                format!("unknown role {other:?}"),
                "use role = \"vgw\" (the AWS side: takes .1 of each tunnel's inside /30) \
                 or role = \"cgw\" (the customer side: .2)",
            ))
        }
    };
    let key_path = resolve(
        base_dir,
        rules::path_text(src, &gw.private_key_file, "private_key_file", "vgw.key")?,
    );
    let private_key =
        read_key(&key_path).map_err(|e| key_file_error(src, &gw.private_key_file, &e))?;
    let public_key = PublicKey::from(&private_key);
    let admin_socket = match &gw.admin_socket {
        None => PathBuf::from(format!("/run/sitelink/{name}.sock")),
        Some(v) => {
            let p = resolve(
                base_dir,
                rules::path_text(src, v, "admin_socket", "/run/sitelink/vgw.sock")?,
            );
            if p.as_os_str().len() > SUN_PATH_MAX {
                return Err(src.err(
                    v.span(),
                    format!(
                        "admin_socket path is {} bytes long; a Unix socket path holds at most {SUN_PATH_MAX}",
                        p.as_os_str().len()
                    ),
                    format!("use a shorter path, e.g. admin_socket = \"/run/sitelink/{name}.sock\""),
                ));
            }
            p
        }
    };

    let raw_tun = raw.tun.get_ref();
    let tun_name = rules::tun_name(src, &raw_tun.name)?;
    let endpoints = endpoints(src, &raw)?;
    let tun = TunConfig {
        name: tun_name,
        mtu: tun_mtu(src, raw_tun.mtu.as_ref(), &endpoints)?,
        offload: raw_tun.offload.unwrap_or(true),
    };

    let route_table = match &raw.route_table {
        None => RouteTableConfig {
            propagation: true,
            kernel_routes: true,
            kernel_metric: 0,
        },
        Some(t) => RouteTableConfig {
            propagation: flag(&t.get_ref().propagation, true),
            kernel_routes: flag(&t.get_ref().kernel_routes, true),
            kernel_metric: rules::int_in(
                src,
                t.get_ref().kernel_metric.as_ref(),
                "kernel_metric",
                0..=i64::from(u32::MAX),
                0,
            )?
            .try_into()
            .unwrap_or(0),
        },
    };

    let listening: Vec<EndpointConfig> = endpoints.iter().map(|(e, _)| e.clone()).collect();
    let gw_bgp = super::bgp::gateway(src, raw.bgp.as_ref(), role, &listening)?;
    let gateway = Gateway {
        role,
        bgp: &gw_bgp,
        private_key: &private_key,
        public_key: public_key.to_bytes(),
        endpoints: &endpoints,
    };
    let conns = match &raw.connection {
        Some(c) if !c.get_ref().is_empty() => c,
        other => {
            return Err(src.err(
                other.as_ref().map_or(0..0, |c| c.span()),
                "no [[connection]] is defined",
                "add a [[connection]] with its [[connection.tunnel]] tables \
                 (see examples/static/vgw.toml)",
            ))
        }
    };
    let mut claims = Claims::default();
    let mut names: Vec<(String, Location)> = Vec::new();
    let mut connections = Vec::with_capacity(conns.get_ref().len());
    for c in conns.get_ref() {
        let c = c.get_ref();
        let cname = rules::name(src, &c.name, "connection name", "office")?;
        unique_name(src, &mut names, &cname, &c.name, "connection")?;
        connections.push(connection(src, c, cname, &gateway, &mut claims)?);
    }

    static_routes_off_the_underlay(src, conns.get_ref(), &connections, &endpoints)?;

    let all_tunnels: Vec<&TunnelConfig> = connections.iter().flat_map(|c| &c.tunnels).collect();
    let bgp = super::bgp::finish(&gw_bgp, super::bgp::router_id(&gw_bgp, &all_tunnels));

    let plugins = super::plugins::plugins(src, raw.plugins.as_ref(), base_dir)?;
    super::plugins::deadline_fits_liveness(
        src,
        raw.plugins.as_ref(),
        &plugins,
        &connections,
        conns.get_ref(),
    )?;
    let metrics = super::metrics::metrics(src, raw.metrics.as_ref())?;
    let log = super::log::log(src, raw.log.as_ref(), base_dir)?;
    let dataplane = super::dataplane::dataplane(src, raw.dataplane.as_ref())?;

    Ok(GatewayConfig {
        source: src.path.to_path_buf(),
        name,
        role,
        private_key,
        public_key,
        admin_socket,
        tun,
        endpoints: endpoints.into_iter().map(|(e, _)| e).collect(),
        connections,
        route_table,
        bgp,
        plugins,
        metrics,
        log,
        dataplane,
    })
}

/// An optional boolean, `default` when absent.
fn flag(v: &Option<Spanned<bool>>, default: bool) -> bool {
    match v {
        Some(v) => *v.get_ref(),
        None => default,
    }
}

/// A path from the file, relative to the file's directory when relative.
pub(super) fn resolve(base_dir: &Path, text: &str) -> PathBuf {
    let p = Path::new(text);
    if p.is_relative() {
        base_dir.join(p)
    } else {
        p.to_path_buf()
    }
}

fn key_file_error(src: &Source, v: &Spanned<String>, e: &KeyError) -> ConfigError {
    let what = match e {
        KeyError::Unreadable { source, .. } => format!("{}: {source}", e.problem()),
        _ => e.problem(),
    };
    let fix = e
        .fix()
        .unwrap_or_else(|| "check the private key file and retry".to_string());
    src.err(v.span(), what, fix)
}

/// Refuses a name already used by an earlier item of the same kind.
fn unique_name(
    src: &Source,
    seen: &mut Vec<(String, Location)>,
    name: &str,
    v: &Spanned<String>,
    kind: &str,
) -> Result<(), ConfigError> {
    if let Some((_, at)) = seen.iter().find(|(n, _)| n == name) {
        return Err(src.err(
            v.span(),
            format!("{kind} name {name:?} is already used at line {}", at.line),
            format!("give every {kind} a different name"),
        ));
    }
    seen.push((name.to_string(), src.locate(v.span().start)));
    Ok(())
}

fn endpoints(
    src: &Source,
    raw: &RawConfig,
) -> Result<Vec<(EndpointConfig, Location)>, ConfigError> {
    let list = match &raw.endpoint {
        Some(l) if !l.get_ref().is_empty() => l,
        other => {
            return Err(src.err(
                other.as_ref().map_or(0..0, |l| l.span()),
                "no [[endpoint]] is defined",
                "add an [[endpoint]] with a name and a listen address, \
                 e.g. name = \"az1\" and listen = \"198.18.1.2:51820\"",
            ))
        }
    };
    let mut names = Vec::new();
    let mut out: Vec<(EndpointConfig, Location)> = Vec::new();
    for e in list.get_ref() {
        let e = e.get_ref();
        let name = rules::name(src, &e.name, "endpoint name", "az1")?;
        unique_name(src, &mut names, &name, &e.name, "endpoint")?;
        let listen = rules::socket_addr(src, &e.listen, "listen")?;
        let uplink_mtu = rules::int_in(
            src,
            e.mtu.as_ref(),
            "mtu",
            i64::from(mtu::MIN_TUN_MTU)..=i64::from(u16::MAX),
            i64::from(mtu::DEFAULT_UPLINK_MTU),
        )?
        .try_into()
        .unwrap_or(mtu::DEFAULT_UPLINK_MTU);
        for (other, at) in &out {
            let o = other.listen;
            let clash = o == listen
                || (o.port() == listen.port()
                    && o.is_ipv4() == listen.is_ipv4()
                    && (o.ip().is_unspecified() || listen.ip().is_unspecified()));
            if clash {
                return Err(src.err(
                    e.listen.span(),
                    format!(
                        "endpoint {name:?} listens on {listen}, which clashes with endpoint {:?} on {o} (line {})",
                        other.name, at.line
                    ),
                    "give each endpoint its own address or port",
                ));
            }
        }
        let at = src.locate(e.listen.span().start);
        let outer = Outer::of(listen);
        if outer.inner_mtu(uplink_mtu) < mtu::MIN_TUN_MTU {
            let span = e.mtu.as_ref().map_or(e.listen.span(), |m| m.span());
            return Err(src.err(
                span,
                format!(
                    "endpoint {name:?}'s uplink MTU of {uplink_mtu} leaves {} bytes for the \
                     tunnels under {} bytes of {} outer headers, less than the {} a tunnel must carry",
                    outer.inner_mtu(uplink_mtu),
                    outer.overhead(),
                    outer.name(),
                    mtu::MIN_TUN_MTU
                ),
                format!(
                    "give the endpoint an uplink of at least {} bytes (mtu = {})",
                    outer.outer_len(mtu::MIN_TUN_MTU),
                    outer.outer_len(mtu::MIN_TUN_MTU)
                ),
            ));
        }
        out.push((
            EndpointConfig {
                name,
                listen,
                uplink_mtu,
            },
            at,
        ));
    }
    Ok(out)
}

/// `[tun] mtu`: the file's, which must fit every endpoint's uplink with the
/// outer headers of the endpoint's family, or the largest that does.
fn tun_mtu(
    src: &Source,
    written: Option<&Spanned<i64>>,
    endpoints: &[(EndpointConfig, Location)],
) -> Result<u16, ConfigError> {
    let paths = endpoints
        .iter()
        .map(|(e, _)| (e.uplink_mtu, Outer::of(e.listen)));
    let fits = mtu::default_tun_mtu(paths).unwrap_or(mtu::DEFAULT_UPLINK_MTU);
    let Some(v) = written else {
        return Ok(fits);
    };
    let range = i64::from(mtu::MIN_TUN_MTU)..=i64::from(mtu::MAX_TUN_MTU);
    let n = rules::int_in(src, Some(v), "mtu", range, i64::from(fits))?;
    let n = u16::try_from(n).unwrap_or(mtu::MAX_TUN_MTU);
    let tight = endpoints
        .iter()
        .find(|(e, _)| Outer::of(e.listen).outer_len(n) > e.uplink_mtu);
    if let Some((e, at)) = tight {
        let outer = Outer::of(e.listen);
        return Err(src.err(
            v.span(),
            format!(
                "mtu = {n} does not fit endpoint {:?} (line {}): {n} + {} bytes of {} outer \
                 headers ({} IP, {} UDP, {} WireGuard) = {}, over its uplink MTU of {}; full-size \
                 packets would be fragmented or lost",
                e.name,
                at.line,
                outer.overhead(),
                outer.name(),
                outer.ip_header(),
                mtu::UDP_HEADER,
                mtu::WIREGUARD_OVERHEAD,
                outer.outer_len(n),
                e.uplink_mtu
            ),
            format!(
                "use mtu = {fits} or less (or leave mtu out: the default fits every endpoint), \
                 or set mtu in that [[endpoint]] to its uplink's MTU if it carries more than {}",
                e.uplink_mtu
            ),
        ));
    }
    Ok(n)
}

fn connection(
    src: &Source,
    c: &RawConnection,
    name: String,
    gw: &Gateway,
    claims: &mut Claims,
) -> Result<ConnectionConfig, ConfigError> {
    let routing = match c.routing.get_ref().as_str() {
        "static" => Routing::Static,
        "dynamic" => Routing::Dynamic,
        other => {
            return Err(src.err(
                c.routing.span(),
                format!("unknown routing {other:?}"),
                "use routing = \"static\" (static routes, active/standby tunnels) or \
                 routing = \"dynamic\" (BGP over both tunnels)",
            ))
        }
    };
    let bgp = super::bgp::connection(
        src,
        c.bgp.as_ref(),
        &c.routing,
        routing,
        &name,
        gw.bgp,
        gw.role,
    )?;

    let mut static_routes = Vec::new();
    for r in c.static_routes.iter().flat_map(|l| l.get_ref()) {
        let net = rules::static_route(src, r)?;
        if let Some((_, owner, at)) = claims.routes.iter().find(|(n, _, _)| *n == net) {
            return Err(src.err(
                r.span(),
                format!(
                    "static route {net} is already listed at line {} (connection {owner:?})",
                    at.line
                ),
                "list each prefix once in the whole gateway: remove one of them",
            ));
        }
        claims
            .routes
            .push((net, name.clone(), src.locate(r.span().start)));
        static_routes.push(net);
    }

    let failback_hold = rules::int_in(
        src,
        c.failback_hold_ms.as_ref(),
        "failback_hold_ms",
        0..=600_000,
        3000,
    )?;
    let liveness = match &c.liveness {
        None => LivenessConfig::default(),
        Some(l) => {
            let l = l.get_ref();
            let mode = match l.mode.as_ref() {
                None => LivenessMode::Bfd,
                Some(v) => match v.get_ref().as_str() {
                    "bfd" => LivenessMode::Bfd,
                    "echo" => LivenessMode::Echo,
                    other => {
                        return Err(src.err(
                            v.span(),
                            format!("unknown liveness mode {other:?}"),
                            "use mode = \"bfd\" (BFD, for a sitelink or BIRD far side) or \
                             mode = \"echo\" (ICMP echo to the far inside address, for a far \
                             side that does not speak BFD, such as wireguard-go alone or GoBGP)",
                        ))
                    }
                },
            };
            let interval =
                rules::int_in(src, l.interval_ms.as_ref(), "interval_ms", 10..=10_000, 200)?;
            let multiplier = rules::int_in(src, l.multiplier.as_ref(), "multiplier", 1..=50, 3)?;
            LivenessConfig {
                mode,
                interval: Duration::from_millis(interval.unsigned_abs()),
                multiplier: u8::try_from(multiplier).unwrap_or(3),
            }
        }
    };

    let raw_tunnels = c
        .tunnel
        .as_ref()
        .map_or(&[][..], |t| t.get_ref().as_slice());
    if raw_tunnels.is_empty() {
        return Err(src.err(
            c.tunnel.as_ref().map_or(c.name.span(), |t| t.span()),
            format!("connection {name:?} has no tunnel"),
            "add one or two [[connection.tunnel]] tables (AWS uses two, \
             to two different endpoints of the far side)",
        ));
    }
    if let Some(third) = raw_tunnels.get(2) {
        return Err(src.err(
            third.span(),
            format!(
                "connection {name:?} has {} tunnels; a connection has at most 2",
                raw_tunnels.len()
            ),
            "remove the extra [[connection.tunnel]] tables, or put them in another [[connection]]",
        ));
    }
    let mut tunnels = Vec::with_capacity(raw_tunnels.len());
    for (i, t) in raw_tunnels.iter().enumerate() {
        let label = format!("tunnel {} of connection {name:?}", i + 1);
        tunnels.push(tunnel(src, t.get_ref(), label, gw, claims)?);
    }
    let session = c.bgp.as_ref().and_then(|b| b.get_ref().session.as_ref());
    if let (Some(v), Some(b)) = (session, &bgp) {
        if let Some(n) = tunnels.iter().position(|t| t.inside_ipv6.is_none()) {
            if b.session == SessionAddresses::Ipv6 {
                return Err(src.err(
                    v.span(),
                    format!(
                        "session = \"ipv6\" but tunnel {} of connection {name:?} has no \
                         inside_ipv6_cidr",
                        n + 1
                    ),
                    "give every tunnel of the connection an inside_ipv6_cidr (a /126 from \
                     fd00::/8), or use session = \"ipv4\"",
                ));
            }
        }
    }

    Ok(ConnectionConfig {
        name,
        routing,
        tunnels,
        static_routes,
        liveness,
        failback_hold: Duration::from_millis(failback_hold.unsigned_abs()),
        retired: false,
        bgp,
    })
}

fn tunnel(
    src: &Source,
    t: &RawTunnel,
    label: String,
    gw: &Gateway,
    claims: &mut Claims,
) -> Result<TunnelConfig, ConfigError> {
    let wanted = t.endpoint.get_ref();
    let Some(endpoint) = gw.endpoints.iter().position(|(e, _)| &e.name == wanted) else {
        let known: Vec<String> = gw
            .endpoints
            .iter()
            .map(|(e, _)| format!("{:?}", e.name))
            .collect();
        return Err(src.err(
            t.endpoint.span(),
            format!("{label} uses endpoint {wanted:?}, which is not defined"),
            format!("use one of the [[endpoint]] names: {}", known.join(", ")),
        ));
    };
    let listen = gw.endpoints.get(endpoint).map(|(e, _)| e.listen);

    let remote = rules::remote_addr(src, &t.remote)?;
    if let Some(listen) = listen {
        // An IPv6 endpoint's socket is IPv6-only (IPV6_V6ONLY), [::] too.
        if listen.is_ipv4() != remote.is_ipv4() {
            let fam = |a: SocketAddr| Outer::of(a).name();
            return Err(src.err(
                t.remote.span(),
                format!(
                    "{label}: remote {remote} is {} but endpoint {wanted:?} listens on {} ({listen})",
                    fam(remote),
                    fam(listen)
                ),
                format!(
                    "use a remote of the endpoint's address family, or an endpoint that listens \
                     on that family (e.g. listen = \"{}\"; an endpoint on [::] takes IPv6 only)",
                    if remote.is_ipv4() { "0.0.0.0:51820" } else { "[::]:51820" }
                ),
            ));
        }
    }

    let key = keys::decode_key(t.remote_public_key.get_ref()).map_err(|e| {
        src.err(
            t.remote_public_key.span(),
            format!("{label}: remote_public_key: {}", e.problem()),
            "use the far gateway's public key, as printed by `sitelink pubkey` or `wg pubkey` \
             from its private key",
        )
    })?;
    if key == gw.public_key {
        return Err(src.err(
            t.remote_public_key.span(),
            format!("{label}: remote_public_key is this gateway's own public key"),
            "use the far gateway's public key (the far side's `sitelink pubkey` or `wg pubkey`), \
             not this one's",
        ));
    }
    if keys::is_weak_peer_key(gw.private_key, &key) {
        return Err(src.err(
            t.remote_public_key.span(),
            format!(
                "{label}: remote_public_key is a weak key (a point of small order: every \
                 shared secret with it is zero, so no handshake can succeed)"
            ),
            "use the far gateway's real public key (the far side's `sitelink pubkey` or `wg \
             pubkey`); an all-zero or placeholder key is not one",
        ));
    }

    let inside = rules::inside_cidr(src, &t.inside_cidr)?;
    claim_inside(src, claims, &label, IpNet::V4(inside), &t.inside_cidr)?;
    let inside_ipv6 = match &t.inside_ipv6_cidr {
        Some(v) => {
            let cidr = rules::inside_ipv6_cidr(src, v)?;
            claim_inside(src, claims, &label, IpNet::V6(cidr), v)?;
            Some(InsideV6::new(cidr, gw.role))
        }
        None => None,
    };

    if let Some((_, _, _, owner, at)) = claims
        .peers
        .iter()
        .find(|(e, k, r, _, _)| *e == endpoint && *k == key && *r == remote)
    {
        return Err(src.err(
            t.remote.span(),
            format!(
                "{label} has the same endpoint, remote and remote_public_key as {owner} (line {}): \
                 their packets could not be told apart",
                at.line
            ),
            "give the two tunnels different endpoints, remote addresses or far-side keys",
        ));
    }
    claims.peers.push((
        endpoint,
        key,
        remote,
        label,
        src.locate(t.remote.span().start),
    ));

    let base = u32::from(inside.network());
    let (local, far) = match gw.role {
        Role::Vgw => (base + 1, base + 2),
        Role::Cgw => (base + 2, base + 1),
    };
    Ok(TunnelConfig {
        endpoint,
        remote,
        remote_public_key: PublicKey::from(key),
        inside_cidr: inside,
        inside_local: Ipv4Addr::from(local),
        inside_remote: Ipv4Addr::from(far),
        inside_ipv6,
    })
}

/// Records a tunnel's inside CIDR (`value` where it is written), refusing
/// one that overlaps another tunnel's.
fn claim_inside(
    src: &Source,
    claims: &mut Claims,
    label: &str,
    net: IpNet,
    value: &Spanned<String>,
) -> Result<(), ConfigError> {
    let (key, range) = match net {
        IpNet::V4(_) => ("inside_cidr", "its own /30 from 169.254.0.0/16"),
        IpNet::V6(_) => ("inside_ipv6_cidr", "its own /126 from fd00::/8"),
    };
    if let Some((other, owner, at)) = claims.inside.iter().find(|(n, _, _)| overlaps(*n, net)) {
        return Err(src.err(
            value.span(),
            format!(
                "{label}: {key} {net} overlaps {other} of {owner} (line {})",
                at.line
            ),
            format!("give every tunnel of the gateway {range}"),
        ));
    }
    claims
        .inside
        .push((net, label.to_string(), src.locate(value.span().start)));
    Ok(())
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}
