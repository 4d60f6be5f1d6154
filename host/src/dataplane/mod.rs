//! The data path: TUN <-> FIB <-> WireGuard tunnel <-> UDP endpoint.
//!
//! [`Dataplane`] holds the tunnels, the endpoints' sockets and the current FIB
//! snapshot, and turns one packet or datagram into what must be sent, through
//! a [`Sink`] the caller provides. It is sans-IO at this level: the threads in
//! [`io`] read batches and own the real TUN and sockets, unit tests pass byte
//! vectors and record what comes out. It never blocks on the control plane:
//! liveness probes that arrive are handed to the sink, and the FIB is read
//! lock-free. It must not decide routes or failover (the route table and the
//! liveness module do that and publish a new FIB).

pub mod batch;
pub mod endpoint;
pub mod fib;
pub mod io;
pub mod kernel_routes;
pub mod own_traffic;
pub mod tun;
pub mod tunnel;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::{ArcSwap, Guard};

use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use tracing::{debug, info};

use crate::packet;
use endpoint::Endpoint;
use fib::{Fib, FibCell, TunnelId};
use tunnel::{Tally, Tunnel, TunnelSpec, TunnelState};

/// Size of a per-thread scratch buffer: the largest UDP datagram plus
/// WireGuard's overhead.
pub const SCRATCH_LEN: usize = 65_536 + 64;

/// Handshakes per second a gateway answers before it asks for cookies
/// (WireGuard's DoS mitigation). Checked once per datagram, before the
/// initiator's key is looked up; each tunnel's `Tunn` keeps its own limiter.
const HANDSHAKE_RATE_LIMIT: u64 = 100;
/// WireGuard's message type of a cookie reply.
const COOKIE_REPLY: u8 = 3;

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
    /// Liveness probes received but dropped: the control thread's queue was
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
    private_key: StaticSecret,
    public_key: PublicKey,
    rate_limiter: Arc<RateLimiter>,
}

impl Dataplane {
    pub fn new(
        private_key: StaticSecret,
        endpoints: Vec<Endpoint>,
        tunnels: Vec<TunnelSpec>,
    ) -> Result<Dataplane, &'static str> {
        let public_key = PublicKey::from(&private_key);
        let rate_limiter = Arc::new(RateLimiter::new(&public_key, HANDSHAKE_RATE_LIMIT));
        let mut built = Vec::with_capacity(tunnels.len());
        for (id, spec) in tunnels.into_iter().enumerate() {
            built.push(Arc::new(Tunnel::new(
                TunnelId(id),
                spec,
                private_key.clone(),
            )?));
        }
        Ok(Dataplane {
            tunnels: ArcSwap::from_pointee(Tunnels::new(built)),
            tunnels_writer: Mutex::new(()),
            endpoints,
            fib: FibCell::new(Fib::default()),
            counters: DataplaneCounters::default(),
            private_key,
            public_key,
            rate_limiter,
        })
    }

    /// The tunnels by id (retired ones included: ids are never reused).
    pub fn tunnels(&self) -> Guard<Arc<Tunnels>> {
        self.tunnels.load()
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
            list.push(Arc::new(Tunnel::new(id, spec, self.private_key.clone())?));
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
    /// tunnels. A run of packets for one tunnel takes its lock and updates
    /// its counters once.
    pub fn handle_tun_batch<'p>(
        &self,
        fib: &Fib,
        packets: impl IntoIterator<Item = &'p mut [u8]>,
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        let tunnels = self.tunnels.load();
        let mut held: Option<Held<'_>> = None;
        for pkt in packets {
            let Some(tunnel) = self.route_tun_packet(fib, &tunnels, pkt) else {
                continue;
            };
            packet::clamp_mss(pkt, tunnel.mtu);
            let held = Held::take(&mut held, tunnel);
            if encapsulate_locked(tunnel, &mut held.state, pkt, scratch, sink) {
                held.tally.add(pkt.len());
            }
        }
        if let Some(held) = held {
            held.tunnel.counters.add_tx_tally(&held.tally);
        }
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

    /// Encrypts `pkt` for `tunnel` and hands the datagram to the sink. Without
    /// a session, WireGuard queues the packet and a handshake goes out instead.
    /// Returns false when WireGuard refused the packet.
    pub fn encapsulate(
        &self,
        tunnel: &Tunnel,
        pkt: &[u8],
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) -> bool {
        encapsulate_locked(tunnel, &mut tunnel.lock(), pkt, scratch, sink)
    }

    /// Handles one UDP datagram received on local endpoint `endpoint` from
    /// `from`.
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
    /// from `from` (a GRO train). Every byte is untrusted: anything that is
    /// not a valid WireGuard message for one of our tunnels is dropped and
    /// counted. A run of data messages for one tunnel takes its lock once.
    pub fn handle_datagrams<'d>(
        &self,
        fib: &Fib,
        endpoint: usize,
        from: SocketAddr,
        datagrams: impl IntoIterator<Item = &'d [u8]>,
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        let Some(ep) = self.endpoints.get(endpoint) else {
            return;
        };
        let tunnels = self.tunnels.load();
        let mut held: Option<Held<'_>> = None;
        let mut received = 0;
        for datagram in datagrams {
            received += 1;
            let parsed = match self
                .rate_limiter
                .verify_packet(Some(from.ip()), datagram, scratch)
            {
                Ok(parsed) => parsed,
                Err(TunnResult::WriteToNetwork(cookie)) => {
                    // Under load: answer with a cookie instead of a handshake.
                    sink.to_network(endpoint, from, cookie);
                    continue;
                }
                Err(_) => {
                    ep.counters
                        .dropped_datagrams
                        .fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let kind = Kind::of(&parsed);
            if kind != Kind::Data {
                // Placing an initiation may read another tunnel's state.
                if let Some(h) = held.take() {
                    h.tunnel.counters.add_rx_tally(&h.tally);
                }
            }
            let Some(tunnel) = self.tunnel_of(&tunnels, endpoint, from, &parsed) else {
                ep.counters
                    .dropped_datagrams
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let held = Held::take_rx(&mut held, tunnel);
            self.receive(fib, ep, endpoint, from, kind, datagram, held, scratch, sink);
        }
        ep.counters
            .rx_datagrams
            .fetch_add(received, Ordering::Relaxed);
        if let Some(held) = held {
            held.tunnel.counters.add_rx_tally(&held.tally);
        }
    }

    /// Decrypts or answers one datagram of `held`'s tunnel.
    #[allow(clippy::too_many_arguments)]
    fn receive(
        &self,
        fib: &Fib,
        ep: &Endpoint,
        endpoint: usize,
        from: SocketAddr,
        kind: Kind,
        datagram: &[u8],
        held: &mut Held<'_>,
        scratch: &mut [u8],
        sink: &mut impl Sink,
    ) {
        let tunnel = held.tunnel;
        let state = &mut held.state;
        let result = state.tunn.decapsulate(Some(from.ip()), datagram, scratch);
        if let TunnResult::Err(e) = result {
            tunnel.counters.rx_invalid.fetch_add(1, Ordering::Relaxed);
            ep.counters
                .dropped_datagrams
                .fetch_add(1, Ordering::Relaxed);
            debug!(tunnel = %tunnel.inside_cidr, %from, error = ?e, "datagram refused");
            return;
        }
        // Only a message that proved the peer's key may move the tunnel
        // (roaming): decrypted data, a keepalive, or a handshake answered
        // with a handshake. A cookie reply (type 3, sent when under load to
        // any sender with a valid mac1) proves nothing.
        let authenticated = match &result {
            TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => true,
            TunnResult::WriteToNetwork(reply) => reply.first() != Some(&COOKIE_REPLY),
            TunnResult::Done => kind == Kind::Data,
            TunnResult::Err(_) => false,
        };
        if authenticated && state.remote != from {
            info!(tunnel = %tunnel.inside_cidr, old = %state.remote, new = %from, "peer address changed");
            state.remote = from;
        }
        if authenticated && kind == Kind::Handshake {
            tunnel.counters.handshakes.fetch_add(1, Ordering::Relaxed);
            debug!(tunnel = %tunnel.inside_cidr, %from, "handshake");
        }
        match result {
            TunnResult::WriteToNetwork(reply) => {
                sink.to_network(endpoint, from, reply);
                // Packets queued while the handshake was under way go now.
                while let TunnResult::WriteToNetwork(queued) =
                    state.tunn.decapsulate(None, &[], scratch)
                {
                    sink.to_network(endpoint, from, queued);
                }
            }
            TunnResult::WriteToTunnelV4(pkt, src) => {
                if self.deliver(fib, tunnel, pkt, IpAddr::V4(src), sink) {
                    held.tally.add(pkt.len());
                }
            }
            TunnResult::WriteToTunnelV6(pkt, src) => {
                if self.deliver(fib, tunnel, pkt, IpAddr::V6(src), sink) {
                    held.tally.add(pkt.len());
                }
            }
            TunnResult::Done | TunnResult::Err(_) => {}
        }
    }

    /// Finds the tunnel a parsed WireGuard message belongs to: by our receiver
    /// index for responses, cookies and data; by the initiator's static key
    /// (and, if two tunnels share it on this endpoint, its address) for
    /// handshake initiations.
    fn tunnel_of<'t>(
        &self,
        tunnels: &'t Tunnels,
        endpoint: usize,
        from: SocketAddr,
        parsed: &Packet,
    ) -> Option<&'t Tunnel> {
        let id = match parsed {
            Packet::HandshakeInit(init) => {
                let half = parse_handshake_anon(&self.private_key, &self.public_key, init).ok()?;
                let candidates = tunnels.by_peer.get(&(endpoint, half.peer_static_public))?;
                match candidates.as_slice() {
                    [only] => *only,
                    many => *many
                        .iter()
                        .find(|id| tunnels.live(**id).is_some_and(|t| t.remote() == from))?,
                }
            }
            Packet::HandshakeResponse(p) => TunnelId((p.receiver_idx >> 8) as usize),
            Packet::PacketCookieReply(p) => TunnelId((p.receiver_idx >> 8) as usize),
            Packet::PacketData(p) => TunnelId((p.receiver_idx >> 8) as usize),
        };
        tunnels.live(id).filter(|t| t.endpoint == endpoint)
    }

    /// Delivers a decrypted packet: liveness probes to the control plane,
    /// everything else to the TUN device if its source is routed back over the
    /// same connection (cryptokey routing, extended to the route table).
    /// Returns whether the packet went to the TUN device.
    fn deliver(
        &self,
        fib: &Fib,
        tunnel: &Tunnel,
        pkt: &mut [u8],
        src: IpAddr,
        sink: &mut impl Sink,
    ) -> bool {
        if let Some(payload) = packet::parse_bfd(pkt, tunnel.bfd_addresses().0) {
            sink.probe(tunnel.id, ProbeKind::Bfd, payload);
            return false;
        }
        if let Some(seq) = packet::echo::parse_echo_reply(
            pkt,
            tunnel.inside_local,
            tunnel.inside_remote,
            echo_ident(tunnel.id),
        ) {
            sink.probe(tunnel.id, ProbeKind::EchoReply { seq }, &[]);
            return false;
        }
        if !fib.source_allowed(src, tunnel.connection) {
            tunnel
                .counters
                .rx_source_refused
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        packet::clamp_mss(pkt, tunnel.mtu);
        sink.to_tun(pkt);
        true
    }

    /// Drives WireGuard's timers (rekeying, keepalives, retransmitted
    /// handshakes) of every tunnel. Call about every 100 ms.
    pub fn tick_timers(&self, scratch: &mut [u8], sink: &mut impl Sink) {
        let tunnels = self.tunnels.load();
        for tunnel in tunnels.iter().filter(|t| !t.is_retired()) {
            let mut state = tunnel.lock();
            let remote = state.remote;
            match state.tunn.update_timers(scratch) {
                TunnResult::WriteToNetwork(datagram) => {
                    sink.to_network(tunnel.endpoint, remote, datagram)
                }
                TunnResult::Err(e) => {
                    debug!(tunnel = %tunnel.inside_cidr, error = ?e, "wireguard timer")
                }
                _ => {}
            }
        }
    }

    /// Resets the handshake rate limiter's count; call once a second.
    pub fn reset_rate_limiter(&self) {
        self.rate_limiter.reset_count();
    }

    /// Starts a handshake on every tunnel, so sessions exist before traffic
    /// needs them.
    pub fn initiate_handshakes(&self, scratch: &mut [u8], sink: &mut impl Sink) {
        let tunnels = self.tunnels.load();
        for tunnel in tunnels.iter() {
            self.initiate_handshake(tunnel.id, scratch, sink);
        }
    }

    /// Starts a handshake on one tunnel (a reload added it).
    pub fn initiate_handshake(&self, id: TunnelId, scratch: &mut [u8], sink: &mut impl Sink) {
        let tunnels = self.tunnels.load();
        let Some(tunnel) = tunnels.live(id) else {
            return;
        };
        let mut state = tunnel.lock();
        let remote = state.remote;
        if let TunnResult::WriteToNetwork(datagram) =
            state.tunn.format_handshake_initiation(scratch, false)
        {
            sink.to_network(tunnel.endpoint, remote, datagram);
        }
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

/// Encrypts `pkt` with the tunnel's state already locked; see
/// [`Dataplane::encapsulate`].
fn encapsulate_locked(
    tunnel: &Tunnel,
    state: &mut TunnelState,
    pkt: &[u8],
    scratch: &mut [u8],
    sink: &mut impl Sink,
) -> bool {
    let remote = state.remote;
    match state.tunn.encapsulate(pkt, scratch) {
        TunnResult::WriteToNetwork(datagram) => {
            sink.to_network(tunnel.endpoint, remote, datagram);
            true
        }
        TunnResult::Done => true,
        TunnResult::Err(e) => {
            tunnel.counters.tx_failed.fetch_add(1, Ordering::Relaxed);
            debug!(tunnel = %tunnel.inside_cidr, error = ?e, "encapsulation failed");
            false
        }
        TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => false,
    }
}

/// What kind of WireGuard message a datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handshake,
    Cookie,
    Data,
}

impl Kind {
    fn of(parsed: &Packet) -> Kind {
        match parsed {
            Packet::HandshakeInit(_) | Packet::HandshakeResponse(_) => Kind::Handshake,
            Packet::PacketCookieReply(_) => Kind::Cookie,
            Packet::PacketData(_) => Kind::Data,
        }
    }
}

/// A tunnel's state, locked for a run of packets of one batch, and the
/// packets and bytes counted for it meanwhile.
struct Held<'t> {
    tunnel: &'t Tunnel,
    state: MutexGuard<'t, TunnelState>,
    tally: Tally,
}

impl<'t> Held<'t> {
    /// The held lock of `tunnel`: the one in `slot` if it is that tunnel's,
    /// else (after releasing and counting the other) a new one. Outgoing.
    fn take<'s>(slot: &'s mut Option<Held<'t>>, tunnel: &'t Tunnel) -> &'s mut Held<'t> {
        Self::switch(slot, tunnel, |t, tally| t.counters.add_tx_tally(tally))
    }

    /// As [`Held::take`], for incoming packets.
    fn take_rx<'s>(slot: &'s mut Option<Held<'t>>, tunnel: &'t Tunnel) -> &'s mut Held<'t> {
        Self::switch(slot, tunnel, |t, tally| t.counters.add_rx_tally(tally))
    }

    fn switch<'s>(
        slot: &'s mut Option<Held<'t>>,
        tunnel: &'t Tunnel,
        count: impl FnOnce(&Tunnel, &Tally),
    ) -> &'s mut Held<'t> {
        if slot.as_ref().is_some_and(|h| h.tunnel.id != tunnel.id) {
            // Released before the next lock is taken: never two at once.
            if let Some(old) = slot.take() {
                count(old.tunnel, &old.tally);
            }
        }
        slot.get_or_insert_with(|| Held {
            tunnel,
            state: tunnel.lock(),
            tally: Tally::default(),
        })
    }
}

/// A hash of the packet's addresses, protocol and ports, so that all packets
/// of one flow take the same tunnel when several are active (ECMP).
pub fn flow_hash(pkt: &[u8]) -> u64 {
    // FNV-1a over the fields that name a flow.
    fn mix(h: u64, bytes: &[u8]) -> u64 {
        bytes
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    }
    let h = 0xcbf2_9ce4_8422_2325;
    let (addrs, proto, l4) = match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(pkt.first().copied().unwrap_or(0) & 0x0f) * 4;
            // Fragments (MF set or an offset) carry no ports, or someone
            // else's: hash addresses and protocol only, so all fragments of a
            // datagram take one tunnel.
            let frag = pkt
                .get(6..8)
                .is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & 0x3fff != 0);
            let l4 = if frag { usize::MAX } else { ihl };
            (pkt.get(12..20), pkt.get(9).copied(), l4)
        }
        Some(6) => (pkt.get(8..40), pkt.get(6).copied(), 40),
        _ => (None, None, 0),
    };
    let h = mix(h, addrs.unwrap_or(&[]));
    let h = mix(h, &[proto.unwrap_or(0)]);
    match proto {
        Some(6) | Some(17) => mix(h, pkt.get(l4..l4.saturating_add(4)).unwrap_or(&[])),
        _ => h,
    }
}

#[cfg(test)]
mod offload_tests;
#[cfg(test)]
mod tests;
