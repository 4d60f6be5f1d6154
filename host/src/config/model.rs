//! The validated gateway configuration: what the rest of the host consumes.
//!
//! Everything here has passed every rule in `validate`; the data path and the
//! control plane never re-check it. It owns no I/O and must not hold raw TOML
//! types (those live in `raw`). Indices (`endpoint`, `connection`) point into
//! the vectors of [`GatewayConfig`].

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use boringtun::x25519::{PublicKey, StaticSecret};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Which side of a VPN connection this gateway plays. It decides which address
/// of each tunnel's inside /30 is ours: AWS gives the first usable address
/// (`.1`) to the virtual private gateway and the second (`.2`) to the customer
/// gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Vgw,
    Cgw,
}

#[derive(Clone)]
pub struct GatewayConfig {
    /// The file it was read from (for messages).
    pub source: PathBuf,
    pub name: String,
    pub role: Role,
    pub private_key: StaticSecret,
    pub public_key: PublicKey,
    pub admin_socket: PathBuf,
    pub tun: TunConfig,
    pub endpoints: Vec<EndpointConfig>,
    pub connections: Vec<ConnectionConfig>,
    pub route_table: RouteTableConfig,
    pub bgp: BgpConfig,
    pub plugins: PluginsConfig,
    /// Where the Prometheus metrics are served; `None`: not served.
    pub metrics: Option<MetricsConfig>,
    /// The log's format and the tunnel log.
    pub log: LogConfig,
    pub dataplane: DataplaneConfig,
}

/// How the data path spreads its work (`[dataplane]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// Threads that seal and open packets; None: one per core; 0: none (each
    /// reader does its own crypto).
    pub workers: Option<usize>,
    /// Queues of the TUN device read, one thread each; None: one.
    pub tun_queues: Option<usize>,
    /// Sockets per endpoint (SO_REUSEPORT), one thread each; None: one per
    /// core, at most 4.
    pub endpoint_sockets: Option<usize>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl DataplaneConfig {
    /// The workers to start on this machine.
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or_else(cores)
    }

    /// The TUN queues to read on this machine.
    pub fn tun_queues(&self) -> usize {
        self.tun_queues.unwrap_or(1)
    }

    /// The sockets to bind per endpoint on this machine.
    pub fn endpoint_sockets(&self) -> usize {
        self.endpoint_sockets.unwrap_or_else(|| cores().min(4))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TunConfig {
    pub name: String,
    /// The largest inner packet: the file's, or the largest that fits every
    /// endpoint's uplink under its family's outer headers (`crate::mtu`).
    pub mtu: u16,
    /// Ask the kernel for TSO/checksum offloads (IFF_VNET_HDR): TCP
    /// super-packets in, coalesced packets out. On by default; off is for
    /// kernels or tools that mishandle them.
    pub offload: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    pub name: String,
    pub listen: SocketAddr,
    /// The MTU of the uplink it sends on (`mtu`, default 1500): `[tun] mtu`
    /// plus the outer headers of its family must fit it.
    pub uplink_mtu: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    Static,
    /// BGP over each tunnel.
    Dynamic,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionConfig {
    pub name: String,
    pub routing: Routing,
    /// One or two tunnels (AWS always has two).
    pub tunnels: Vec<TunnelConfig>,
    /// Prefixes of the far site reached over this connection.
    pub static_routes: Vec<IpNet>,
    pub liveness: LivenessConfig,
    /// How long a preferred tunnel must stay up before traffic moves back to it.
    pub failback_hold: Duration,
    /// For a dynamic connection, its BGP sessions' settings.
    pub bgp: Option<ConnectionBgp>,
    /// Never in a file: a reload removed (or replaced) this connection
    /// while the gateway runs. It keeps its place, so that the ids of the
    /// connections and tunnels after it do not move, but nothing of it
    /// runs; every reader of the running config skips it. A restart drops it.
    pub retired: bool,
}

impl ConnectionConfig {
    /// Whether it runs (see `retired`).
    pub fn is_live(&self) -> bool {
        !self.retired
    }
}

impl GatewayConfig {
    /// The largest inner packet tunnel `t` carries: the TUN's MTU, or less
    /// where its endpoint's uplink cannot carry that under the outer
    /// header (the data path clamps its TCP SYNs to this).
    pub fn tunnel_mtu(&self, t: &TunnelConfig) -> u16 {
        let uplink = self
            .endpoints
            .get(t.endpoint)
            .map_or(crate::mtu::DEFAULT_UPLINK_MTU, |e| e.uplink_mtu);
        crate::mtu::tunnel_mtu(self.tun.mtu, uplink, crate::mtu::Outer::of(t.remote))
    }

    /// The running connections with their ids (retired ones skipped).
    pub fn live_connections(
        &self,
    ) -> impl Iterator<Item = (crate::topology::ConnectionId, &ConnectionConfig)> {
        self.connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_live())
            .map(|(i, c)| (crate::topology::ConnectionId(i), c))
    }

    /// A running connection by name.
    pub fn live_connection(&self, name: &str) -> Option<&ConnectionConfig> {
        self.connections
            .iter()
            .find(|c| c.is_live() && c.name == name)
    }
}

/// The gateway's BGP speaker: one session per tunnel of each dynamic
/// connection.
#[derive(Debug, Clone, PartialEq)]
pub struct BgpConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// `router_id` was not written but taken from the first tunnel: a
    /// reload that changes the first tunnel keeps the running one.
    pub router_id_derived: bool,
    /// Prefixes advertised to every peer.
    pub networks: Vec<IpNet>,
    /// Hold time offered, in seconds (keepalives every third of it).
    pub hold_time: u16,
}

/// A dynamic connection's BGP settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionBgp {
    pub local_asn: u32,
    pub remote_asn: u32,
    /// Wait for the far side to connect (the VGW's default) instead of
    /// connecting out.
    pub passive: bool,
    pub max_prefixes: MaxPrefixes,
    /// BGP graceful restart (RFC 4724) as a helper; `None`: off.
    pub graceful_restart: Option<GracefulRestartLimits>,
    /// The inside addresses the sessions run between (`session`).
    pub session: SessionAddresses,
}

/// Which inside addresses a connection's BGP sessions run between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionAddresses {
    /// The IPv4 inside addresses (169.254.x.x), as AWS's IPv4 tunnels.
    #[default]
    Ipv4,
    /// The IPv6 inside addresses (`inside_ipv6_cidr`, needed on every
    /// tunnel), with IPv4 routes over IPv6 next hops where the peer offers
    /// it (RFC 8950).
    Ipv6,
}

/// How long we keep a restarting peer's routes (`graceful_restart_max_s`,
/// `graceful_restart_stale_s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartLimits {
    /// The longest Restart Time of a peer we honour (a peer may announce
    /// up to 4095 s): its routes stay this long at most while it is away.
    pub max_restart: Duration,
    /// After the peer is back, how long its routes not yet announced again
    /// stay if its End-of-RIB never comes.
    pub stale: Duration,
}

impl GracefulRestartLimits {
    pub const DEFAULT: GracefulRestartLimits = GracefulRestartLimits {
        max_restart: Duration::from_secs(300),
        stale: Duration::from_secs(360),
    };
}

/// How many prefixes a peer may send (AWS accepts 100 from a customer
/// gateway) and what happens beyond.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxPrefixes {
    pub limit: u32,
    /// Count at which a warning is logged.
    pub warning: u32,
    pub action: MaxPrefixAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxPrefixAction {
    /// Keep the session; ignore routes beyond the limit and warn.
    Drop,
    /// Send Cease / maximum number of prefixes reached, close, and retry
    /// after this long.
    Close { restart_after: Duration },
}

#[derive(Clone, PartialEq)]
pub struct TunnelConfig {
    /// Index into `GatewayConfig::endpoints`.
    pub endpoint: usize,
    pub remote: SocketAddr,
    pub remote_public_key: PublicKey,
    /// The /30 shared by both ends; also the tunnel's identity on both sides.
    pub inside_cidr: Ipv4Net,
    /// Our inside address (`.1` for a VGW, `.2` for a CGW).
    pub inside_local: Ipv4Addr,
    /// The far side's inside address.
    pub inside_remote: Ipv4Addr,
    /// The tunnel's IPv6 inside addresses (`inside_ipv6_cidr`), if given.
    pub inside_ipv6: Option<InsideV6>,
}

/// A tunnel's IPv6 inside /126 (from fd00::/8, as AWS gives) and the two
/// addresses in it: `::1` for the VGW, `::2` for the CGW, as in the IPv4
/// /30. On the TUN device, routed over the tunnel, and the (16-byte,
/// global) next hop of the IPv6 routes its session sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsideV6 {
    pub cidr: Ipv6Net,
    pub local: Ipv6Addr,
    pub remote: Ipv6Addr,
}

impl InsideV6 {
    /// The addresses of `cidr` for a gateway of `role`.
    pub fn new(cidr: Ipv6Net, role: Role) -> InsideV6 {
        let base = u128::from(cidr.network());
        let (local, remote) = match role {
            Role::Vgw => (base + 1, base + 2),
            Role::Cgw => (base + 2, base + 1),
        };
        InsideV6 {
            cidr,
            local: Ipv6Addr::from(local),
            remote: Ipv6Addr::from(remote),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivenessConfig {
    pub mode: LivenessMode,
    pub interval: Duration,
    pub multiplier: u8,
}

/// How a tunnel's liveness is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivenessMode {
    /// BFD control packets (RFC 5880/5881) over the inside addresses: a
    /// sitelink far side, or BIRD with `bfd on`.
    Bfd,
    /// ICMP echo to the far inside address: a far side that does not speak
    /// BFD (wireguard-go with wg-quick alone, GoBGP), whose kernel answers.
    Echo,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            mode: LivenessMode::Bfd,
            interval: Duration::from_millis(200),
            multiplier: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteTableConfig {
    /// Whether routes learned from dynamic connections enter the table.
    pub propagation: bool,
    /// Whether the table's prefixes are installed as kernel routes via the TUN.
    pub kernel_routes: bool,
    /// The metric (priority) of those kernel routes: when two gateways on
    /// one host route the same prefix, the lower metric wins.
    pub kernel_metric: u32,
}

/// The policy engine's limits and the plugin chosen for each slot (`None`:
/// the built-in default).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginsConfig {
    /// Longest a plugin call may run before it is interrupted.
    pub deadline: Duration,
    /// Most memory one plugin instance may grow to, in bytes.
    pub memory_limit: usize,
    /// Faults after which a plugin is quarantined (no longer called).
    pub max_faults: u32,
    /// Where compiled plugins are kept between runs.
    pub cache_dir: PathBuf,
    pub failover: Option<PluginConfig>,
    pub route_selection: Option<PluginConfig>,
    pub bgp_filter: Option<PluginConfig>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            deadline: Duration::from_millis(50),
            memory_limit: 64 << 20,
            max_faults: 5,
            cache_dir: PathBuf::from("/var/cache/sitelink"),
            failover: None,
            route_selection: None,
            bgp_filter: None,
        }
    }
}

/// The `[metrics]` table: the Prometheus endpoint (`GET /metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// A loopback address unless the file says `allow_remote = true`.
    pub listen: SocketAddr,
}

/// The `[log]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// Where tunnel events go, one JSON line each; `None`: nowhere.
    pub tunnel_log: Option<TunnelLog>,
}

/// The ordinary log's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For people (the default).
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Where the tunnel log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelLog {
    Stdout,
    /// Appended to (absolute, or relative to the config's directory).
    File(PathBuf),
}

/// One slot's plugin: the component file and its operator-set parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConfig {
    pub path: PathBuf,
    pub params: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("source", &self.source)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("private_key", &"<redacted>")
            .field("tun", &self.tun)
            .field("endpoints", &self.endpoints)
            .field("connections", &self.connections)
            .field("route_table", &self.route_table)
            .field("bgp", &self.bgp)
            .field("plugins", &self.plugins)
            .field("metrics", &self.metrics)
            .field("log", &self.log)
            .field("dataplane", &self.dataplane)
            .finish()
    }
}

impl std::fmt::Debug for TunnelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelConfig")
            .field("endpoint", &self.endpoint)
            .field("remote", &self.remote)
            .field("inside_cidr", &self.inside_cidr)
            .field("inside_ipv6", &self.inside_ipv6.map(|i| i.cidr))
            .finish_non_exhaustive()
    }
}
