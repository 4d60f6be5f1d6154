//! The data path: TUN <-> FIB <-> WireGuard tunnel <-> UDP endpoint.
//!
//! [`Dataplane`] holds the tunnels, the endpoints' sockets and the current FIB
//! snapshot, and turns packets and datagrams into what must be sent, through
//! a [`Sink`] the caller provides. It is sans-IO at this level: the threads in
//! [`io`] read batches and own the real TUN and sockets and spread each
//! batch's crypto over a worker pool in order ([`pipeline`]; the steps are
//! [`outbound`] and [`inbound`]), unit tests pass byte vectors and record
//! what comes out, through the same steps run in a row. It never blocks on the control plane:
//! liveness probes that arrive are handed to the sink, and the FIB is read
//! lock-free. It must not decide routes or failover (the route table and the
//! liveness module do that and publish a new FIB).

pub mod batch;
pub mod endpoint;
pub mod fib;
mod flow;
pub mod inbound;
pub mod io;
pub mod kernel_routes;
pub mod outbound;
pub mod own_traffic;
pub mod pipeline;
pub mod tun;
pub mod tunnel;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::{ArcSwap, Guard};

use boringtun::x25519::StaticSecret;
use tracing::debug;

use crate::packet;
use crate::wg::{Gate, StaticKeys};
pub use flow::{flow_hash, flow_queue};

use endpoint::Endpoint;
use fib::{Fib, FibCell, TunnelId};
use tunnel::{Tunnel, TunnelSpec, TunnelState};

/// Size of a per-thread scratch buffer: the largest UDP datagram plus
/// WireGuard's overhead.
pub const SCRATCH_LEN: usize = 65_536 + 64;

/// Handshake messages per second a gateway takes before it asks for
/// cookies (WireGuard's DoS mitigation): past it, a handshake message
/// without a valid MAC2 for its source is answered with a cookie reply,
/// before the initiator's key is looked up (`wg::Gate`).
const HANDSHAKE_RATE_LIMIT: u64 = 100;

/// Where the data path's output goes.
pub trait Sink {
    /// A decrypted packet for the local network.
    fn to_tun(&mut self, packet: &[u8]);
    /// An encrypted datagram to send from local endpoint `endpoint`.
    fn to_network(&mut self, endpoint: usize, to: SocketAddr, datagram: &[u8]);
    /// A liveness probe received over `tunnel`: for BFD, `payload` is the
    /// control packet (the UDP payload); an echo reply has none.
    fn probe(&mut self, tunnel: TunnelId, kind: ProbeKind, payload: &[u8]);
}

/// Which liveness probe arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// A BFD control packet.
    Bfd,
    /// An answer to one of our ICMP echo requests, with its sequence number.
    EchoReply { seq: u16 },
}

/// The ICMP identifier of a tunnel's echo requests ("SL" with the tunnel
/// number), so that replies to other pings are left alone.
pub fn echo_ident(tunnel: TunnelId) -> u16 {
    0x534c ^ (tunnel.index() as u16)
}

/// Gateway-wide counters of packets the data path could not forward.
#[derive(Default, Debug)]
pub struct DataplaneCounters {
    /// Packets read from the TUN device with no route in the FIB.
    pub tun_no_route: AtomicU64,
    /// Packets read from the TUN device that are not IPv4 or IPv6, or that
    /// forge one of our liveness probes.
    pub tun_malformed: AtomicU64,
    /// Packets that could not be written to the TUN device.
    pub tun_write_failed: AtomicU64,
    /// Liveness probes received but dropped: over their tunnel's budget
    /// (`tunnel::PROBES_PER_SECOND`), or the control thread's queue was
    /// full.
    pub probes_dropped: AtomicU64,
}

/// The tunnels by id, with the index that places handshake initiations.
/// Replaced whole (copy on write) when a reload adds or retires tunnels;
/// a batch holds one for its length.
#[derive(Default)]
pub struct Tunnels {
    list: Vec<Arc<Tunnel>>,
    /// Live tunnels by (local endpoint, peer public key), to place
    /// handshake initiations, which carry no receiver index.
    by_peer: HashMap<(usize, [u8; 32]), Vec<TunnelId>>,
}

impl Tunnels {
    fn new(list: Vec<Arc<Tunnel>>) -> Tunnels {
        let mut by_peer: HashMap<(usize, [u8; 32]), Vec<TunnelId>> = HashMap::new();
        for t in list.iter().filter(|t| !t.is_retired()) {
            by_peer
                .entry((t.endpoint, t.remote_public_key.to_bytes()))
                .or_default()
                .push(t.id);
        }
        Tunnels { list, by_peer }
    }

    /// A live (not retired) tunnel by id.
    pub fn live(&self, id: TunnelId) -> Option<&Tunnel> {
        self.list
            .get(id.index())
            .map(|t| t.as_ref())
            .filter(|t| !t.is_retired())
    }
}

impl std::ops::Deref for Tunnels {
    type Target = [Arc<Tunnel>];

    fn deref(&self) -> &[Arc<Tunnel>] {
        &self.list
    }
}

pub struct Dataplane {
    tunnels: ArcSwap<Tunnels>,
    /// Held while the tunnel list is replaced (one writer at a time).
    tunnels_writer: Mutex<()>,
    pub endpoints: Vec<Endpoint>,
    pub fib: FibCell,
    pub counters: DataplaneCounters,
    keys: Arc<StaticKeys>,
    gate: Gate,
}

impl Dataplane {
    pub fn new(
        private_key: StaticSecret,
        endpoints: Vec<Endpoint>,
        tunnels: Vec<TunnelSpec>,
    ) -> Result<Dataplane, &'static str> {
        let keys = Arc::new(StaticKeys::new(private_key));
        let mut built = Vec::with_capacity(tunnels.len());
        for (id, spec) in tunnels.into_iter().enumerate() {
            built.push(Arc::new(Tunnel::new(TunnelId(id), spec, keys.clone())?));
        }
        Ok(Dataplane {
            tunnels: ArcSwap::from_pointee(Tunnels::new(built)),
            tunnels_writer: Mutex::new(()),
            endpoints,
            fib: FibCell::new(Fib::default()),
            counters: DataplaneCounters::default(),
            gate: Gate::new(keys.clone(), HANDSHAKE_RATE_LIMIT),
            keys,
        })
    }

    /// The tunnels by id (retired ones included: ids are never reused).
    pub fn tunnels(&self) -> Guard<Arc<Tunnels>> {
        self.tunnels.load()
    }

    /// Counts `n` liveness probes from `tunnel` dropped before the control
    /// plane, on the tunnel and for the gateway.
    pub fn probes_dropped(&self, tunnel: &Tunnel, n: u64) {
        self.counters.probes_dropped.fetch_add(n, Ordering::Relaxed);
        tunnel
            .counters
            .rx_probes_dropped
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Adds tunnels (a reload added a connection), numbered after the last:
    /// `specs` must be for ids `len..`. Returns their ids.
    pub fn add_tunnels(&self, specs: Vec<TunnelSpec>) -> Result<Vec<TunnelId>, &'static str> {
        let _writer = self
            .tunnels_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut list = self.tunnels.load().list.clone();
        let mut added = Vec::with_capacity(specs.len());
        for spec in specs {
            let id = TunnelId(list.len());
            list.push(Arc::new(Tunnel::new(id, spec, self.keys.clone())?));
            added.push(id);
        }
        self.tunnels.store(Arc::new(Tunnels::new(list)));
        Ok(added)
    }

    /// Retires tunnels (a reload removed their connection): datagrams for
    /// them are dropped from now on and no handshake is answered; their ids
    /// stay taken until the gateway restarts.
    pub fn retire_tunnels(&self, ids: &[TunnelId]) {
        let _writer = self
            .tunnels_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let list = self.tunnels.load().list.clone();
        for id in ids {
            if let Some(t) = list.get(id.index()) {
                t.retire();
            }
        }
        self.tunnels.store(Arc::new(Tunnels::new(list)));
    }

    /// Forwards one packet read from the TUN device into its tunnel.
    #[cfg(test)]
    pub fn handle_tun_packet(
        &self,
        fib: &Fib,
        pkt: &mut [u8],
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        self.handle_tun_batch(fib, std::iter::once(pkt), scratch, sink);
    }

    /// Forwards a batch of packets read from the TUN device into their
    /// tunnels: the three steps of [`outbound`] in a row, on this thread.
    #[cfg(test)]
    pub fn handle_tun_batch<'p>(
        &self,
        fib: &Fib,
        packets: impl IntoIterator<Item = &'p mut [u8]>,
        _scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        use pipeline::Job;
        let mut job = outbound::OutJob::of(packets.into_iter().map(|p| &*p));
        self.prepare_out(fib, &mut job, Instant::now(), sink);
        job.work(self);
        job.emit_to(sink);
    }

    /// The tunnel that carries `pkt`; None (counted) for a packet that is
    /// not IP, has no route, or forges one of our liveness probes.
    fn route_tun_packet<'t>(
        &self,
        fib: &Fib,
        tunnels: &'t Tunnels,
        pkt: &[u8],
    ) -> Option<&'t Tunnel> {
        let Some(dst) = packet::dst_addr(pkt) else {
            self.counters.tun_malformed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let Some(tunnel) = fib
            .lookup(dst)
            .and_then(|nh| nh.tunnel_for(flow_hash(pkt)))
            .and_then(|id| tunnels.live(id))
        else {
            self.counters.tun_no_route.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // Liveness probes are ours alone: a local process sending UDP to the
        // far side's inside address, port 3784, TTL 255, must not fake them.
        let faked = tunnel
            .inside_addresses_of_far_side()
            .any(|far| packet::parse_bfd(pkt, far).is_some());
        if faked {
            self.counters.tun_malformed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(tunnel)
    }

    /// Encrypts `pkt` for `tunnel` and hands the datagram to the sink (the
    /// control thread's own packets: probes). Without a session the packet
    /// waits in the tunnel and a handshake goes out instead. Returns false
    /// when it could not be sealed.
    pub fn encapsulate(
        &self,
        tunnel: &Tunnel,
        pkt: &[u8],
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) -> bool {
        let now = Instant::now();
        let mut state = tunnel.lock();
        match state.peer.encapsulate(pkt, scratch, now) {
            Ok(len) => {
                let remote = state.remote;
                sink.to_network(
                    tunnel.endpoint,
                    remote,
                    scratch.get(..len).unwrap_or_default(),
                );
                tunnel.counters.tx_packets.fetch_add(1, Ordering::Relaxed);
                tunnel
                    .counters
                    .tx_bytes
                    .fetch_add(pkt.len() as u64, Ordering::Relaxed);
                true
            }
            Err(crate::wg::Error::NoSession) => {
                state.queue(pkt);
                self.drive_peer(tunnel, &mut state, now, sink);
                true
            }
            Err(e) => {
                tunnel.counters.tx_failed.fetch_add(1, Ordering::Relaxed);
                debug!(tunnel = %tunnel.inside_cidr, error = %e, "encapsulation failed");
                false
            }
        }
    }

    /// Handles one UDP datagram received on local endpoint `endpoint` from
    /// `from`.
    #[cfg(test)]
    pub fn handle_datagram(
        &self,
        fib: &Fib,
        endpoint: usize,
        from: SocketAddr,
        datagram: &[u8],
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        self.handle_datagrams(
            fib,
            endpoint,
            from,
            std::iter::once(datagram),
            scratch,
            sink,
        );
    }

    /// Handles UDP datagrams received together on local endpoint `endpoint`
    /// from `from` (a GRO train): the three steps of [`inbound`] in a row,
    /// on this thread.
    #[cfg(test)]
    pub fn handle_datagrams<'d>(
        &self,
        fib: &Fib,
        endpoint: usize,
        from: SocketAddr,
        datagrams: impl IntoIterator<Item = &'d [u8]>,
        _scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        use pipeline::Job;
        let mut job = inbound::InJob::of(endpoint, from, datagrams);
        job.fib = Some(Arc::new(fib.clone()));
        self.prepare_in(&mut job, Instant::now(), sink);
        job.work(self);
        self.finish_in(&job, sink);
    }

    /// Fires what is due of `tunnel`'s WireGuard timers (handshakes,
    /// keepalives), sending through `sink`.
    fn drive_peer(
        &self,
        tunnel: &Tunnel,
        state: &mut TunnelState,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        let mut out = [0u8; 256];
        // A call sends at most one message; a few in a row catch up.
        for _ in 0..4 {
            match state.peer.handle_timeout(now, &mut out) {
                Ok(Some(len)) => sink.to_network(
                    tunnel.endpoint,
                    state.remote,
                    out.get(..len).unwrap_or_default(),
                ),
                Ok(None) => break,
                Err(e) => {
                    debug!(tunnel = %tunnel.inside_cidr, error = %e, "wireguard timer");
                    break;
                }
            }
        }
        if state.peer.take_gave_up() && !state.queued.is_empty() {
            debug!(tunnel = %tunnel.inside_cidr, dropped = state.queued.len(),
                "handshake attempts gave up: the packets waiting for a session are dropped");
            state.queued = std::collections::VecDeque::new();
        }
    }

    /// Drives WireGuard's timers (rekeying, keepalives, retransmitted
    /// handshakes) of every tunnel. Call about every 100 ms.
    pub fn tick_timers(&self, sink: &mut impl Sink) {
        let now = Instant::now();
        let tunnels = self.tunnels.load();
        for tunnel in tunnels.iter().filter(|t| !t.is_retired()) {
            let mut state = tunnel.lock();
            if state.peer.poll_timeout().is_some_and(|due| due <= now) {
                self.drive_peer(tunnel, &mut state, now, sink);
            }
        }
    }

    /// Starts counting handshake messages afresh and forgets idle sources;
    /// call once a second.
    pub fn reset_rate_limiter(&self) {
        self.gate.reset(Instant::now());
    }

    /// Starts a handshake on every tunnel, so sessions exist before traffic
    /// needs them.
    pub fn initiate_handshakes(&self, sink: &mut impl Sink) {
        let tunnels = self.tunnels.load();
        for tunnel in tunnels.iter() {
            self.initiate_handshake(tunnel.id, sink);
        }
    }

    /// Starts a handshake on one tunnel (a reload added it).
    pub fn initiate_handshake(&self, id: TunnelId, sink: &mut impl Sink) {
        let tunnels = self.tunnels.load();
        let Some(tunnel) = tunnels.live(id) else {
            return;
        };
        let mut state = tunnel.lock();
        let mut out = [0u8; 256];
        match state.peer.initiate(Instant::now(), &mut out) {
            Ok(len) => sink.to_network(
                tunnel.endpoint,
                state.remote,
                out.get(..len).unwrap_or_default(),
            ),
            Err(e) => debug!(tunnel = %tunnel.inside_cidr, error = %e, "handshake not started"),
        }
    }

    /// Datagrams per GSO send that every endpoint accepts.
    pub fn max_gso_segments(&self) -> usize {
        self.endpoints
            .iter()
            .map(|ep| ep.udp.max_gso_segments())
            .min()
            .unwrap_or(1)
    }

    /// Sends a liveness probe payload over `tunnel`, from our inside address
    /// to the far side's (the IPv6 ones where BFD runs over them).
    pub fn send_probe(
        &self,
        tunnel: TunnelId,
        payload: &[u8],
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        let src_port = 49152 + (tunnel.index() % 16384) as u16;
        self.send_own(tunnel, scratch, sink, |t, out| {
            let (src, dst) = t.bfd_addresses();
            packet::build_bfd(src, dst, src_port, payload, out)
        });
    }

    /// Sends ICMP echo request `seq` to the far inside address of `tunnel`
    /// (the liveness probe for a far side that does not speak BFD).
    pub fn send_echo(&self, tunnel: TunnelId, seq: u16, scratch: &mut [u8], sink: &mut impl Sink) {
        self.send_own(tunnel, scratch, sink, |t, out| {
            packet::echo::build_echo_request(
                t.inside_local,
                t.inside_remote,
                echo_ident(tunnel),
                seq,
                out,
            )
        });
    }

    /// Builds a packet of our own with `build` (into a small buffer) and
    /// sends it over `tunnel`.
    fn send_own(
        &self,
        tunnel: TunnelId,
        scratch: &mut [u8],
        sink: &mut impl Sink,
        build: impl FnOnce(&Tunnel, &mut [u8]) -> Option<usize>,
    ) {
        let tunnels = self.tunnels.load();
        let Some(t) = tunnels.live(tunnel) else {
            return;
        };
        let mut packet = [0u8; 128];
        if let Some(bytes) = build(t, &mut packet).and_then(|len| packet.get(..len)) {
            self.encapsulate(t, bytes, scratch, sink);
        }
    }
}

#[cfg(test)]
mod offload_tests;
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod tests;
