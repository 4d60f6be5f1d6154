//! Prometheus metrics on `[metrics] listen` (off unless configured; loopback
//! unless `allow_remote = true`): a thread of its own answers `GET /metrics`
//! in the Prometheus text format (version 0.0.4, encoded by the
//! `prometheus-client` crate), one request per connection.
//!
//! What a scrape reads: the data path's atomic counters through
//! `control::status::status` (the reading behind `sitelink status`, so the
//! two always agree), the turn histogram, and the control plane's
//! [`Snapshot`] that the control thread publishes at most once a second
//! ([`Publisher`], an `ArcSwap` read without a lock). The thread never asks
//! the control thread anything and never waits for it: a stuck control loop
//! shows as a growing `sitelink_control_snapshot_age_seconds`.
//!
//! The metrics (labels in braces; AWS's CloudWatch name where there is one):
//!
//! | metric | type | meaning |
//! | --- | --- | --- |
//! | `sitelink_tunnel_state{connection,tunnel}` | gauge | AWS `TunnelState`: 1 up, 0 down. Static connection: the liveness probe is up. Dynamic: the probe is up and the tunnel's BGP session is established. |
//! | `sitelink_tunnel_data_in_bytes_total`, `_packets_total` | counter | AWS `TunnelDataIn`: received through the tunnel, counted after decryption (AWS has no packet count). |
//! | `sitelink_tunnel_data_out_bytes_total`, `_packets_total` | counter | AWS `TunnelDataOut`: sent through the tunnel, counted before encryption. |
//! | `sitelink_tunnel_handshake_age_seconds` | gauge | Since the latest WireGuard handshake (absent before the first). |
//! | `sitelink_tunnel_handshakes_total` | counter | WireGuard handshakes completed. |
//! | `sitelink_tunnel_probe_rtt_seconds` | gauge | The liveness probe's latest round trip: an echo request and its reply, or a BFD Poll and the peer's Final (one a second). |
//! | `sitelink_tunnel_probe_loss_ratio` | gauge | Share of the probe's latest 32 requests left unanswered. |
//! | `sitelink_tunnel_probe_requests_total`, `_answers_total` | counter | Probe requests whose outcome is known, and those answered. |
//! | `sitelink_tunnel_active` | gauge | 1 when the tunnel carries traffic (weight above 0). |
//! | `sitelink_tunnel_weight` | gauge | The failover slot's weight for the tunnel. |
//! | `sitelink_tunnel_failovers_total` | counter | Times traffic moved off the tunnel. |
//! | `sitelink_tunnel_drain` | gauge | Planned drain: 0 none, 1 draining, 2 drained. |
//! | `sitelink_bgp_session_state{connection,tunnel}` | gauge | BGP4-MIB `bgpPeerState`: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established. |
//! | `sitelink_bgp_session_established` | gauge | 1 when established (AWS `TunnelState` of a BGP VPN). |
//! | `sitelink_bgp_session_uptime_seconds` | gauge | Since the session was established; 0 when it is not. |
//! | `sitelink_bgp_prefixes_received`, `_accepted`, `_advertised` | gauge | Prefixes held from the peer, of which the import filter accepted, and advertised to it. |
//! | `sitelink_bgp_stale_routes` | gauge | Routes of a restarting peer kept as stale (graceful restart, RFC 4724); 0 when none. |
//! | `sitelink_bgp_updates_received_total`, `_sent_total` | counter | UPDATE messages. |
//! | `sitelink_bgp_messages_received_total`, `_sent_total` | counter | BGP messages of every type. |
//! | `sitelink_bgp_notifications_total{connection,tunnel,direction,code,subcode}` | counter | NOTIFICATIONs sent and received, by error code and subcode (a received code or subcode no RFC defines counts as 0/0). |
//! | `sitelink_bgp_established_transitions_total` | counter | Times the session became established. |
//! | `sitelink_plugin_calls_total{slot,plugin}`, `_faults_total` | counter | Calls into the slot's plugin, and those that faulted. |
//! | `sitelink_plugin_quarantined` | gauge | 1 when the plugin is no longer called (the built-in default answers). |
//! | `sitelink_plugin_call_seconds{slot,plugin}` | histogram | Call times, checks included (10 µs to 100 ms buckets). |
//! | `sitelink_plugin_call_mean_seconds` | gauge | Mean call time, checks included. |
//! | `sitelink_dropped_packets_total{reason}` | counter | Data-path drops, one reason each (they add up): `no_route` (TUN packet with no route), `malformed` (TUN packet not IP), `source_check` (decrypted packet whose source is not routed over its connection), `invalid` (tunnel datagram that failed authentication or was replayed), `endpoint_dropped` (datagram for no tunnel of ours, or not WireGuard), `tx_failed` (packet WireGuard could not encrypt), `send_failed` (datagram the kernel refused to send), `tun_write_failed` (packet the TUN device refused), `queue_full` (datagram whose socket send buffer stayed full, or liveness probe over its tunnel's budget or that the busy control thread's queue had no room for). |
//! | `sitelink_endpoint_received_datagrams_total{endpoint}` | counter | UDP datagrams received by the endpoint. |
//! | `sitelink_control_loop_turn_seconds` | histogram | Control-thread turn times (it runs the liveness probes: a long turn delays them). |
//! | `sitelink_control_snapshot_age_seconds` | gauge | Age of the control-plane snapshot the BGP, plugin, weight and route metrics come from. |
//! | `sitelink_routes_installed`, `sitelink_routes_queued` | gauge | Prefixes the route selection installed; routes waiting for the import filter or the selection. |
//! | `sitelink_fib_prefixes{family}` | gauge | Prefixes in the FIB in force. |
//! | `sitelink_gateway_info{gateway,role,version}` | gauge | Always 1. |
//!
//! The HTTP side is a `std` `TcpListener` served by one thread: one request
//! per connection, at most [`MAX_REQUEST`] bytes, the request read within
//! [`CLIENT_TIMEOUT`] of the accept and the answer written within as much
//! again, however a client trickles (a slow client delays the next scrape
//! by twice that at most), `GET` and `HEAD` on `/metrics`, 404 elsewhere, 405 for other
//! methods. The address is bound at start-up ([`bind`]), before the TUN
//! device is created, so a taken port stops the start with the fix.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tracing::{info, warn};

use super::turns::TurnStats;
use crate::api::{self, Liveness, Routing, SessionState, TunnelCidr};
use crate::config::GatewayConfig;
use crate::dataplane::Dataplane;
use crate::gateway::{Gateway, Snapshot};
use families::{clamp, counters, float_gauges, gauge, int_gauges, Counted, LabeledCounted};
use http::spawn;

/// Longest a client may take to send its request or read the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest request accepted (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;
/// How often the control thread publishes its snapshot at most.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// The `Content-Type` of the answer.
const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The metrics address could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics: {addr} is already in use\n  fix: stop the program holding it (`ss -ltnp sport = :{port}`) or choose another port in [metrics] listen")]
    InUse { addr: SocketAddr, port: u16 },
    #[error("metrics: {addr} is not an address of this machine\n  fix: use a loopback address in [metrics] listen, e.g. \"127.0.0.1:{port}\"")]
    NotLocal { addr: SocketAddr, port: u16 },
    #[error("metrics: cannot listen on {addr}\n  fix: check [metrics] listen, or remove the key to run without metrics")]
    Other {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// A control-plane snapshot and when it was taken.
#[derive(Debug)]
pub struct Stamped {
    pub at: Instant,
    pub snapshot: Snapshot,
}

/// The latest snapshot: the control thread stores, the metrics thread loads,
/// neither waits.
#[derive(Debug, Default)]
pub struct Published(ArcSwapOption<Stamped>);

impl Published {
    pub fn store(&self, at: Instant, snapshot: Snapshot) {
        self.0.store(Some(Arc::new(Stamped { at, snapshot })));
    }

    pub fn load(&self) -> Option<Arc<Stamped>> {
        self.0.load_full()
    }
}

/// The control thread's side: takes the core's snapshot when it is due.
pub struct Publisher {
    to: Arc<Published>,
    next: Instant,
}

impl Publisher {
    pub fn new(to: Arc<Published>) -> Publisher {
        Publisher {
            to,
            next: Instant::now(),
        }
    }

    /// Publishes `core`'s snapshot if the last one is [`PUBLISH_EVERY`] old
    /// (cheap: per session and per slot, never per route).
    pub fn tick(&mut self, now: Instant, core: &Gateway) {
        if now < self.next {
            return;
        }
        self.to.store(now, core.snapshot(now));
        self.next = now + PUBLISH_EVERY;
    }
}

/// The bound metrics address, not yet served.
pub struct MetricsListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl MetricsListener {
    /// The address bound (the port chosen when the config said 0, in tests).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.addr)
    }
}

/// Binds the metrics address (at start-up, so a taken port stops the start).
pub fn bind(addr: SocketAddr) -> Result<MetricsListener, MetricsError> {
    let listener = TcpListener::bind(addr).map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => MetricsError::InUse {
            addr,
            port: addr.port(),
        },
        io::ErrorKind::AddrNotAvailable => MetricsError::NotLocal {
            addr,
            port: addr.port(),
        },
        _ => MetricsError::Other { addr, source },
    })?;
    Ok(MetricsListener { listener, addr })
}

/// What a scrape reads; all shared with the threads that write it.
pub struct Sources {
    /// The running config (replaced by a reload).
    pub cfg: Arc<ArcSwap<GatewayConfig>>,
    pub dataplane: Arc<Dataplane>,
    pub turns: Arc<TurnStats>,
    pub published: Arc<Published>,
}

/// Serves `/metrics` from `sources` on its own thread, for the life of the
/// process.
pub fn serve(listener: MetricsListener, sources: Sources) -> io::Result<()> {
    let addr = listener.local_addr();
    let mut floors = Floors::default();
    spawn(listener, move || sources.render(&mut floors))?;
    info!(listen = %addr, "metrics served on GET /metrics");
    Ok(())
}

/// Values kept between scrapes so that a counter computed as a difference
/// of two counters never goes back.
#[derive(Debug, Default)]
struct Floors {
    endpoint_dropped: u64,
}

impl Sources {
    /// One scrape's text.
    fn render(&self, floors: &mut Floors) -> String {
        let cfg = self.cfg.load();
        let status = crate::control::status::status(&cfg, &self.dataplane, &self.turns);
        // Tunnel ids (the snapshot's per-tunnel vectors) to their labels;
        // none for a retired tunnel (its connection was removed).
        let tunnels: Vec<Option<TunnelLabels>> = self
            .dataplane
            .tunnels()
            .iter()
            .map(|t| {
                let conn = cfg.connections.get(t.connection.index())?;
                (!t.is_retired() && !conn.retired).then(|| TunnelLabels {
                    connection: conn.name.clone(),
                    tunnel: TunnelCidr::from(t.inside_cidr).to_string(),
                })
            })
            .collect();
        let stamped = self.published.load();
        let now = Instant::now();
        let reading = Reading {
            status: &status,
            tunnels: &tunnels,
            snapshot: stamped
                .as_deref()
                .map(|s| (&s.snapshot, now.saturating_duration_since(s.at))),
            version: env!("CARGO_PKG_VERSION"),
        };
        encode(&reading, floors).unwrap_or_else(|e| {
            warn!(error = %e, "metrics: cannot encode");
            String::new()
        })
    }
}

/// What one scrape shows.
struct Reading<'a> {
    status: &'a api::Status,
    /// By tunnel id: the labels of the snapshot's per-tunnel values.
    tunnels: &'a [Option<TunnelLabels>],
    /// The control plane's snapshot and its age.
    snapshot: Option<(&'a Snapshot, Duration)>,
    version: &'a str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    connection: String,
    tunnel: String,
    direction: String,
    code: String,
    subcode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TunnelLabels {
    connection: String,
    tunnel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlotLabels {
    slot: String,
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FamilyLabel {
    family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    gateway: String,
    role: &'static str,
    version: String,
}

/// BGP4-MIB's `bgpPeerState` (RFC 4273): idle(1) .. established(6).
fn bgp_state_number(state: SessionState) -> i64 {
    match state {
        SessionState::Idle => 1,
        SessionState::Connect => 2,
        SessionState::Active => 3,
        SessionState::OpenSent => 4,
        SessionState::OpenConfirm => 5,
        SessionState::Established => 6,
    }
}

/// The text of one scrape. Names are registered without the `sitelink_`
/// prefix (the registry adds it) and counters without `_total` (the encoder
/// adds it); the registry ends every help text with a period.
fn encode(r: &Reading, floors: &mut Floors) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix("sitelink");
    tunnels(&mut reg, r);
    bgp(&mut reg, r);
    plugins(&mut reg, r);
    drops(&mut reg, r, floors);
    control_loop(&mut reg, r);
    reg.register(
        "gateway",
        "The gateway's name, role and sitelink version; always 1",
        Info::new(InfoLabels {
            gateway: r.status.gateway.clone(),
            role: r.status.role.as_str(),
            version: r.version.to_string(),
        }),
    );
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &reg)?;
    Ok(text)
}

fn tunnels(reg: &mut Registry, r: &Reading) {
    let established = |t: &TunnelLabels| {
        r.snapshot.is_some_and(|(s, _)| {
            s.bgp.peers.iter().any(|p| {
                p.connection == t.connection
                    && p.tunnel.to_string() == t.tunnel
                    && p.state == SessionState::Established
            })
        })
    };
    let mut rows = Vec::new();
    for c in &r.status.connections {
        for t in &c.tunnels {
            let labels = TunnelLabels {
                connection: c.name.clone(),
                tunnel: t.inside_cidr.to_string(),
            };
            let up = t.liveness == Liveness::Up
                && (c.routing == Routing::Static || established(&labels));
            rows.push((labels, t, up));
        }
    }
    let each = |f: &dyn Fn(&api::TunnelStatus) -> u64| {
        rows.iter()
            .map(|(l, t, _)| (l.clone(), f(t)))
            .collect::<Vec<_>>()
    };
    reg.register(
        "tunnel_state",
        "AWS TunnelState: 1 up, 0 down. A static connection's tunnel is up when its \
         liveness probe is; a dynamic connection's when its probe is up and its BGP session \
         is established",
        int_gauges(rows.iter().map(|(l, _, up)| (l.clone(), i64::from(*up)))),
    );
    reg.register(
        "tunnel_drain",
        "Planned drain (sitelink tunnel drain): 0 none, 1 draining (the far side is being \
         moved off it), 2 drained (no traffic either way)",
        int_gauges(rows.iter().map(|(l, t, _)| {
            let code = match t.drain {
                api::Drain::None => 0,
                api::Drain::Draining => 1,
                api::Drain::Drained => 2,
            };
            (l.clone(), code)
        })),
    );
    reg.register(
        "tunnel_data_in_bytes",
        "AWS TunnelDataIn: bytes received through the tunnel, counted after decryption",
        counters(each(&|t| t.rx_bytes)),
    );
    reg.register(
        "tunnel_data_in_packets",
        "Packets received through the tunnel, counted after decryption (the packets of AWS \
         TunnelDataIn)",
        counters(each(&|t| t.rx_packets)),
    );
    reg.register(
        "tunnel_data_out_bytes",
        "AWS TunnelDataOut: bytes sent through the tunnel, counted before encryption",
        counters(each(&|t| t.tx_bytes)),
    );
    reg.register(
        "tunnel_data_out_packets",
        "Packets sent through the tunnel, counted before encryption (the packets of AWS \
         TunnelDataOut)",
        counters(each(&|t| t.tx_packets)),
    );
    reg.register(
        "tunnel_handshake_age_seconds",
        "Seconds since the tunnel's latest WireGuard handshake (absent before the first)",
        float_gauges(rows.iter().filter_map(|(l, t, _)| {
            t.handshake_age_ms
                .map(|ms| (l.clone(), Duration::from_millis(ms).as_secs_f64()))
        })),
    );
    reg.register(
        "tunnel_handshakes",
        "WireGuard handshakes the tunnel completed",
        counters(each(&|t| t.handshakes)),
    );
    reg.register(
        "tunnel_probe_rtt_seconds",
        "The liveness probe's latest round trip through the tunnel: an echo request and its \
         reply, or a BFD Poll and the peer's Final, sent once a second (absent before the \
         first)",
        float_gauges(rows.iter().filter_map(|(l, t, _)| {
            t.probe_rtt_us
                .map(|us| (l.clone(), Duration::from_micros(us).as_secs_f64()))
        })),
    );
    reg.register(
        "tunnel_probe_loss_ratio",
        "Share of the liveness probe's latest 32 requests left unanswered (absent before the \
         first outcome)",
        float_gauges(rows.iter().filter_map(|(l, t, _)| {
            t.probe_loss_permille
                .map(|p| (l.clone(), f64::from(p) / 1000.0))
        })),
    );
    reg.register(
        "tunnel_probe_requests",
        "Liveness probe requests whose outcome is known (answered or given up on)",
        counters(each(&|t| t.probe_requests)),
    );
    reg.register(
        "tunnel_probe_answers",
        "Liveness probe requests answered",
        counters(each(&|t| t.probe_answers)),
    );
    reg.register(
        "tunnel_active",
        "1 when the tunnel carries traffic (its weight is above 0), else 0",
        int_gauges(
            rows.iter()
                .map(|(l, t, _)| (l.clone(), i64::from(t.active))),
        ),
    );
    let Some((snapshot, _)) = r.snapshot else {
        return;
    };
    let by_id = |values: &[u64]| -> Vec<(TunnelLabels, u64)> {
        r.tunnels
            .iter()
            .zip(values.iter().copied())
            .filter_map(|(l, v)| Some((l.clone()?, v)))
            .collect()
    };
    let weights: Vec<u64> = snapshot.weights.iter().map(|w| u64::from(*w)).collect();
    reg.register(
        "tunnel_weight",
        "The tunnel's weight from the failover slot: traffic is shared over the tunnels \
         above 0",
        int_gauges(by_id(&weights).into_iter().map(|(l, w)| (l, clamp(w)))),
    );
    reg.register(
        "tunnel_failovers",
        "Times traffic moved off the tunnel (its weight went to 0)",
        counters(by_id(&snapshot.failovers)),
    );
}

fn bgp(reg: &mut Registry, r: &Reading) {
    let Some((snapshot, _)) = r.snapshot else {
        return;
    };
    let peers: Vec<(TunnelLabels, &api::BgpPeer)> = snapshot
        .bgp
        .peers
        .iter()
        .map(|p| {
            (
                TunnelLabels {
                    connection: p.connection.clone(),
                    tunnel: p.tunnel.to_string(),
                },
                p,
            )
        })
        .collect();
    let ints =
        |f: &dyn Fn(&api::BgpPeer) -> i64| int_gauges(peers.iter().map(|(l, p)| (l.clone(), f(p))));
    let counts =
        |f: &dyn Fn(&api::BgpPeer) -> u64| counters(peers.iter().map(|(l, p)| (l.clone(), f(p))));
    reg.register(
        "bgp_session_state",
        "The BGP session's state as BGP4-MIB bgpPeerState numbers it: 1 idle, 2 connect, \
         3 active, 4 opensent, 5 openconfirm, 6 established",
        ints(&|p| bgp_state_number(p.state)),
    );
    reg.register(
        "bgp_session_established",
        "1 when the BGP session is established (AWS TunnelState of a BGP VPN), else 0",
        ints(&|p| i64::from(p.state == SessionState::Established)),
    );
    reg.register(
        "bgp_session_uptime_seconds",
        "Seconds since the BGP session was established; 0 when it is not",
        float_gauges(
            peers
                .iter()
                .map(|(l, p)| (l.clone(), p.uptime_s.unwrap_or(0.0))),
        ),
    );
    reg.register(
        "bgp_prefixes_received",
        "Prefixes held from the peer (its Adj-RIB-In)",
        ints(&|p| clamp(p.prefixes_received)),
    );
    reg.register(
        "bgp_prefixes_accepted",
        "Prefixes from the peer that the import filter accepted",
        ints(&|p| clamp(p.prefixes_accepted)),
    );
    reg.register(
        "bgp_prefixes_refused_for_fault",
        "Prefixes from the peer refused because the bgp-filter plugin faulted on them; \
         they go through it again after a wait",
        ints(&|p| clamp(p.prefixes_refused_for_fault)),
    );
    reg.register(
        "bgp_prefixes_advertised",
        "Prefixes advertised to the peer (its Adj-RIB-Out)",
        ints(&|p| clamp(p.prefixes_advertised)),
    );
    reg.register(
        "bgp_stale_routes",
        "Routes of a restarting peer kept as stale, still installed, until it sends them \
         again or they are swept (graceful restart, RFC 4724); 0 when none",
        ints(&|p| clamp(p.graceful_restart.as_ref().map_or(0, |g| g.stale_routes))),
    );
    reg.register(
        "bgp_updates_received",
        "BGP UPDATE messages received from the peer",
        counts(&|p| p.updates_received),
    );
    reg.register(
        "bgp_updates_sent",
        "BGP UPDATE messages sent to the peer",
        counts(&|p| p.updates_sent),
    );
    reg.register(
        "bgp_messages_received",
        "BGP messages of every type received from the peer",
        counts(&|p| p.messages_received),
    );
    reg.register(
        "bgp_messages_sent",
        "BGP messages of every type sent to the peer",
        counts(&|p| p.messages_sent),
    );
    reg.register(
        "bgp_notifications",
        "BGP NOTIFICATION messages, by direction (sent, received), error code and subcode \
         (RFC 4271 section 4.5; 6 is Cease; 0/0: a received code or subcode no RFC defines)",
        counters(peers.iter().flat_map(|(l, p)| {
            p.notifications.iter().map(move |n| {
                (
                    NotificationLabels {
                        connection: l.connection.clone(),
                        tunnel: l.tunnel.clone(),
                        direction: n.direction.clone(),
                        code: n.code.to_string(),
                        subcode: n.subcode.to_string(),
                    },
                    n.count,
                )
            })
        })),
    );
    reg.register(
        "bgp_established_transitions",
        "Times the BGP session became established",
        counts(&|p| p.established_transitions),
    );
}

fn plugins(reg: &mut Registry, r: &Reading) {
    let Some((snapshot, _)) = r.snapshot else {
        return;
    };
    let slots: Vec<(SlotLabels, &api::SlotStatus)> = snapshot
        .plugins
        .iter()
        .map(|s| {
            (
                SlotLabels {
                    slot: s.slot.clone(),
                    plugin: s.plugin.clone(),
                },
                s,
            )
        })
        .collect();
    reg.register(
        "plugin_calls",
        "Calls into the slot's plugin (or its built-in default)",
        counters(slots.iter().map(|(l, s)| (l.clone(), s.calls))),
    );
    reg.register(
        "plugin_faults",
        "Calls into the slot's plugin that faulted (trap, deadline, memory limit, bad answer)",
        counters(slots.iter().map(|(l, s)| (l.clone(), s.faults))),
    );
    reg.register(
        "plugin_quarantined",
        "1 when the slot's plugin is quarantined (no longer called: the built-in default \
         answers), else 0",
        int_gauges(
            slots
                .iter()
                .map(|(l, s)| (l.clone(), i64::from(s.quarantined))),
        ),
    );
    reg.register(
        "plugin_call_seconds",
        "How long calls into the slot's plugin take, checks included",
        LabeledCounted(
            slots
                .iter()
                .map(|(l, s)| {
                    let count = s.calls;
                    let sum = s.mean_call_us.unwrap_or(0.0) * count as f64 / 1e6;
                    let buckets = s
                        .call_histogram
                        .iter()
                        .map(|(bound, n)| (bound.map_or(f64::INFINITY, |us| us / 1e6), *n))
                        .collect();
                    (
                        l.clone(),
                        Counted {
                            sum,
                            count,
                            buckets,
                        },
                    )
                })
                .collect(),
        ),
    );
    reg.register(
        "plugin_call_mean_seconds",
        "Mean time of a call into the slot's plugin, checks included (absent before the \
         first call)",
        float_gauges(
            slots
                .iter()
                .filter_map(|(l, s)| s.mean_call_us.map(|us| (l.clone(), us / 1e6))),
        ),
    );
}

fn drops(reg: &mut Registry, r: &Reading, floors: &mut Floors) {
    let s = r.status;
    let tunnels = || s.connections.iter().flat_map(|c| &c.tunnels);
    let invalid: u64 = tunnels().map(|t| t.rx_invalid).sum();
    let endpoint_dropped: u64 = s.endpoints.iter().map(|e| e.dropped_datagrams).sum();
    // An endpoint counts the tunnels' invalid datagrams among its drops:
    // what is left are datagrams that reached no tunnel. Read apart, the
    // two may disagree for an instant; the floor keeps the counter from
    // going back.
    floors.endpoint_dropped = floors
        .endpoint_dropped
        .max(endpoint_dropped.saturating_sub(invalid));
    let rows = [
        ("no_route", s.tun_no_route),
        ("malformed", s.tun_malformed),
        ("source_check", tunnels().map(|t| t.rx_source_refused).sum()),
        ("invalid", invalid),
        ("endpoint_dropped", floors.endpoint_dropped),
        ("tx_failed", tunnels().map(|t| t.tx_failed).sum()),
        ("send_failed", s.endpoints.iter().map(|e| e.tx_failed).sum()),
        ("tun_write_failed", s.tun_write_failed),
        (
            "queue_full",
            s.probes_dropped + s.endpoints.iter().map(|e| e.tx_queue_full).sum::<u64>(),
        ),
    ];
    reg.register(
        "dropped_packets",
        "Packets and datagrams the data path dropped, by reason: no_route (from the TUN \
         device, no route), malformed (from the TUN device, not IP), source_check (decrypted, \
         source not routed over its connection), invalid (a tunnel's datagram that failed \
         authentication or was replayed), endpoint_dropped (a datagram for no tunnel of ours, \
         or not WireGuard), tx_failed (WireGuard could not encrypt), send_failed (the kernel \
         refused the datagram), tun_write_failed (the TUN device refused the packet), \
         queue_full (a datagram whose socket send buffer stayed full, or a liveness probe \
         over its tunnel's budget or that the busy control thread's queue had no room for)",
        counters(rows.map(|(reason, v)| (ReasonLabel { reason }, v))),
    );
    reg.register(
        "endpoint_received_datagrams",
        "UDP datagrams the endpoint received",
        counters(s.endpoints.iter().map(|e| {
            (
                EndpointLabel {
                    endpoint: e.name.clone(),
                },
                e.rx_datagrams,
            )
        })),
    );
}

fn control_loop(reg: &mut Registry, r: &Reading) {
    let s = r.status;
    if let Some(turns) = &s.control_loop {
        reg.register(
            "control_loop_turn_seconds",
            "How long the control thread's turns take (it runs the liveness probes and BGP: \
             a long turn delays them)",
            Counted {
                sum: turns.mean_ms * turns.turns as f64 / 1e3,
                count: turns.turns,
                buckets: turns
                    .histogram
                    .iter()
                    .map(|(bound, n)| (bound.map_or(f64::INFINITY, |ms| ms / 1e3), *n))
                    .collect(),
            },
        );
    }
    reg.register(
        "fib_prefixes",
        "Prefixes in the forwarding table in force, by address family",
        int_gauges([
            (FamilyLabel { family: "ipv4" }, clamp(s.fib.routes_v4)),
            (FamilyLabel { family: "ipv6" }, clamp(s.fib.routes_v6)),
        ]),
    );
    let Some((snapshot, age)) = r.snapshot else {
        return;
    };
    reg.register(
        "control_snapshot_age_seconds",
        "Age of the control plane's snapshot that the BGP, plugin, weight, failover and route \
         metrics come from (published about once a second; growing: the control thread is \
         stuck)",
        {
            let g = Gauge::<f64, AtomicU64>::default();
            g.set(age.as_secs_f64());
            g
        },
    );
    reg.register(
        "routes_installed",
        "Prefixes the route selection installed",
        gauge(clamp(snapshot.routes_installed)),
    );
    reg.register(
        "routes_queued",
        "Routes waiting for the import filter or the route selection",
        gauge(clamp(snapshot.routes_queued)),
    );
}

mod families;
mod http;
#[cfg(test)]
mod tests;
