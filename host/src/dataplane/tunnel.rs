//! One tunnel: a WireGuard peer (our sans-IO `wg::Peer`) bound to a local
//! endpoint and a remote address, with its inside /30 and its counters.
//!
//! This module owns the per-tunnel crypto state (behind one lock, taken once
//! per run of packets to reserve counters or look up a session, never while
//! sealing or opening: `wg::Session` does that through `&self` on any
//! thread), the packets held while a handshake is under way, and the
//! counters that status output and metrics read. It does not choose which
//! tunnel carries a packet (the FIB and failover do) and does no I/O:
//! callers pass buffers in and send what comes out.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use boringtun::x25519::PublicKey;
use ipnet::Ipv4Net;
use rand_core::OsRng;

use super::fib::{ConnectionId, TunnelId};
use crate::config::InsideV6;
use crate::liveness::bfd::State as LivenessState;
use crate::liveness::ProbeStats;
use crate::wg::{Peer, PeerConfig, StaticKeys, Tai64nClock};

/// Packet and byte counters of one tunnel (inner packets, as AWS's
/// TunnelDataIn / TunnelDataOut count them).
#[derive(Default, Debug)]
pub struct TunnelCounters {
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    /// Datagrams for this tunnel that failed authentication, were replayed or
    /// were otherwise refused by WireGuard.
    pub rx_invalid: AtomicU64,
    /// Decrypted packets whose inner source is not routed over this tunnel's
    /// connection (cryptokey routing).
    pub rx_source_refused: AtomicU64,
    /// Liveness probes received over the tunnel's budget (a flood), not
    /// handed to the control plane.
    pub rx_probes_dropped: AtomicU64,
    /// Outgoing packets WireGuard could not encrypt.
    pub tx_failed: AtomicU64,
    /// Completed handshakes seen (new sessions).
    pub handshakes: AtomicU64,
}

/// Packets and bytes counted locally during a batch, added to the shared
/// counters once (two threads update one tunnel's counters: fewer atomic
/// writes, less cache-line traffic between them).
#[derive(Default, Debug, Clone, Copy)]
pub struct Tally {
    pub packets: u64,
    pub bytes: u64,
}

impl Tally {
    pub fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

impl TunnelCounters {
    pub fn add_tx_tally(&self, t: &Tally) {
        if t.packets > 0 {
            self.tx_packets.fetch_add(t.packets, Ordering::Relaxed);
            self.tx_bytes.fetch_add(t.bytes, Ordering::Relaxed);
        }
    }

    pub fn add_rx_tally(&self, t: &Tally) {
        if t.packets > 0 {
            self.rx_packets.fetch_add(t.packets, Ordering::Relaxed);
            self.rx_bytes.fetch_add(t.bytes, Ordering::Relaxed);
        }
    }
}

/// Packets a tunnel holds while its first (or an expired session's)
/// handshake is under way; older ones are dropped past this, as WireGuard
/// implementations do.
pub const MAX_QUEUED: usize = 128;

/// The mutable part of a tunnel, under one lock.
pub struct TunnelState {
    pub peer: Peer<OsRng>,
    /// Where datagrams go. Starts at the configured remote and follows the
    /// peer when an authenticated datagram arrives from elsewhere (roaming).
    pub remote: SocketAddr,
    /// Packets waiting for a session, sent once the handshake completes.
    pub queued: VecDeque<Vec<u8>>,
}

impl TunnelState {
    /// Holds `pkt` until a session exists, dropping the oldest past
    /// [`MAX_QUEUED`].
    pub fn queue(&mut self, pkt: &[u8]) {
        if self.queued.len() >= MAX_QUEUED {
            self.queued.pop_front();
        }
        self.queued.push_back(pkt.to_vec());
    }
}

pub struct Tunnel {
    pub id: TunnelId,
    pub connection: ConnectionId,
    /// Index of the local endpoint (UDP socket) the tunnel uses.
    pub endpoint: usize,
    pub remote_public_key: PublicKey,
    pub inside_cidr: Ipv4Net,
    pub inside_local: Ipv4Addr,
    pub inside_remote: Ipv4Addr,
    pub inside_ipv6: Option<InsideV6>,
    /// BFD runs over the IPv6 inside addresses (the connection's BGP
    /// sessions do: a far side's BFD follows its session).
    pub bfd_over_ipv6: bool,
    /// Largest inner packet the tunnel carries (the TUN MTU).
    pub mtu: u16,
    state: Mutex<TunnelState>,
    pub counters: TunnelCounters,
    /// Liveness state as last decided by the control plane (a
    /// [`LivenessState`] as u8), for status output.
    liveness: AtomicU8,
    /// The failover decision's weight for it (0: no traffic over it).
    weight: AtomicU32,
    /// The operator's drain (see `gateway::drain`), as a [`DrainState`] code.
    drain: AtomicU8,
    /// Its connection was removed by a reload: it carries nothing more.
    retired: AtomicBool,
    /// What its liveness probe measured, as the control plane last said.
    probe: ProbeCounters,
    /// The probes it may still hand the control plane this second.
    probe_budget: Mutex<ProbeBudget>,
}

/// Probes one tunnel may hand the control plane a second: well above what
/// a peer sends at the fastest interval a connection may set (10 ms, with
/// its Polls and Finals), and a quarter of the control loop's queue
/// (`driver::control::EVENT_QUEUE`), which the control loop drains many
/// times a second: one flooding tunnel takes no more than its share.
pub const PROBES_PER_SECOND: u32 = 250;

/// A tunnel's probe count in the current one-second window.
#[derive(Debug)]
struct ProbeBudget {
    window: Option<Instant>,
    taken: u32,
}

impl ProbeBudget {
    /// Takes one probe's place at `now`, if the window has one left.
    fn take(&mut self, now: Instant) -> bool {
        let fresh = self
            .window
            .is_none_or(|start| now.saturating_duration_since(start) >= Duration::from_secs(1));
        if fresh {
            self.window = Some(now);
            self.taken = 0;
        }
        if self.taken >= PROBES_PER_SECOND {
            return false;
        }
        self.taken += 1;
        true
    }
}

/// A probe's measurements for status and metrics (see
/// `liveness::ProbeStats`); `u64::MAX` / `u32::MAX`: none yet.
#[derive(Debug)]
struct ProbeCounters {
    rtt_us: AtomicU64,
    loss_permille: AtomicU32,
    requests: AtomicU64,
    answers: AtomicU64,
}

impl Default for ProbeCounters {
    fn default() -> Self {
        ProbeCounters {
            rtt_us: AtomicU64::new(u64::MAX),
            loss_permille: AtomicU32::new(u32::MAX),
            requests: AtomicU64::new(0),
            answers: AtomicU64::new(0),
        }
    }
}

/// Where a planned drain of a tunnel stands, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainState {
    /// Carries traffic as the failover decision says.
    None,
    /// The far side is being moved off it.
    Draining,
    /// No traffic either way.
    Drained,
}

/// Parameters to build a [`Tunnel`].
pub struct TunnelSpec {
    pub connection: ConnectionId,
    pub endpoint: usize,
    pub remote: SocketAddr,
    pub remote_public_key: PublicKey,
    pub inside_cidr: Ipv4Net,
    pub inside_local: Ipv4Addr,
    pub inside_remote: Ipv4Addr,
    pub inside_ipv6: Option<InsideV6>,
    pub bfd_over_ipv6: bool,
    pub mtu: u16,
}

/// WireGuard's keepalive for an idle tunnel. Liveness probes keep tunnels
/// busy anyway; this keeps NAT mappings open if probes are ever disabled.
const PERSISTENT_KEEPALIVE_SECS: u64 = 25;

/// Largest tunnel index a WireGuard receiver index can carry (24 bits; the low
/// 8 bits count sessions).
pub const MAX_TUNNELS: usize = 1 << 24;

impl Tunnel {
    pub fn new(
        id: TunnelId,
        spec: TunnelSpec,
        keys: Arc<StaticKeys>,
    ) -> Result<Tunnel, &'static str> {
        let index = u32::try_from(id.index())
            .ok()
            .filter(|i| (*i as usize) < MAX_TUNNELS)
            .ok_or("too many tunnels")?;
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let config = PeerConfig {
            remote_public: spec.remote_public_key,
            preshared_key: None,
            persistent_keepalive: Some(Duration::from_secs(PERSISTENT_KEEPALIVE_SECS)),
            index_base: index,
            clock: Tai64nClock::new(Instant::now(), since_epoch),
        };
        let peer = Peer::new(keys, config, OsRng).map_err(|_| "the peer's public key is weak")?;
        Ok(Tunnel {
            id,
            connection: spec.connection,
            endpoint: spec.endpoint,
            remote_public_key: spec.remote_public_key,
            inside_cidr: spec.inside_cidr,
            inside_local: spec.inside_local,
            inside_remote: spec.inside_remote,
            inside_ipv6: spec.inside_ipv6,
            bfd_over_ipv6: spec.bfd_over_ipv6 && spec.inside_ipv6.is_some(),
            mtu: spec.mtu,
            state: Mutex::new(TunnelState {
                peer,
                remote: spec.remote,
                queued: VecDeque::new(),
            }),
            counters: TunnelCounters::default(),
            liveness: AtomicU8::new(1),
            weight: AtomicU32::new(0),
            drain: AtomicU8::new(0),
            retired: AtomicBool::new(false),
            probe_budget: Mutex::new(ProbeBudget {
                window: None,
                taken: 0,
            }),
            probe: ProbeCounters::default(),
        })
    }

    /// Whether a probe received at `now` may go to the control plane: at
    /// most [`PROBES_PER_SECOND`] a second per tunnel, so a peer flooding
    /// probes on its tunnel cannot crowd out the other tunnels' probes.
    pub fn take_probe_budget(&self, now: Instant) -> bool {
        self.probe_budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(now)
    }

    /// The tunnel's crypto state. A poisoned lock (a panic elsewhere while
    /// holding it) still yields the state: the peer's state stays valid
    /// between calls.
    pub fn lock(&self) -> MutexGuard<'_, TunnelState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn remote(&self) -> SocketAddr {
        self.lock().remote
    }

    /// Time since the last completed handshake, if any.
    pub fn handshake_age(&self) -> Option<Duration> {
        let last = self.lock().peer.last_handshake()?;
        Some(Instant::now().saturating_duration_since(last))
    }

    pub fn set_liveness(&self, state: LivenessState) {
        let code = match state {
            LivenessState::AdminDown => 0,
            LivenessState::Down => 1,
            LivenessState::Init => 2,
            LivenessState::Up => 3,
        };
        self.liveness.store(code, Ordering::Relaxed);
    }

    pub fn liveness(&self) -> LivenessState {
        match self.liveness.load(Ordering::Relaxed) {
            0 => LivenessState::AdminDown,
            2 => LivenessState::Init,
            3 => LivenessState::Up,
            _ => LivenessState::Down,
        }
    }

    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Whether the failover decision currently sends traffic over it.
    pub fn is_active(&self) -> bool {
        self.weight() > 0
    }

    /// Stops the tunnel for good (its connection was removed, after the
    /// goodbye's grace): the data path neither sends nor accepts anything
    /// over it again, and what it held goes now: the packets waiting for a
    /// session, the sessions and their keys. The tunnel itself keeps its id
    /// (about a kilobyte) until the gateway restarts. Marked under its
    /// lock, so a thread that found it live before takes the lock after
    /// and sees it retired ([`Tunnel::is_retired`]).
    pub fn retire(&self) {
        let mut state = self.lock();
        self.retired.store(true, Ordering::Relaxed);
        self.set_weight(0);
        state.queued = std::collections::VecDeque::new();
        state.peer.forget_sessions();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// The addresses BFD runs between, ours first: the IPv6 inside ones
    /// where the connection's sessions run over them, else the IPv4 ones.
    pub fn bfd_addresses(&self) -> (IpAddr, IpAddr) {
        match (self.bfd_over_ipv6, self.inside_ipv6) {
            (true, Some(v6)) => (IpAddr::V6(v6.local), IpAddr::V6(v6.remote)),
            _ => (
                IpAddr::V4(self.inside_local),
                IpAddr::V4(self.inside_remote),
            ),
        }
    }

    /// The far side's inside addresses (IPv4, and IPv6 if configured).
    pub fn inside_addresses_of_far_side(&self) -> impl Iterator<Item = IpAddr> {
        let v6 = self.inside_ipv6.map(|i| IpAddr::V6(i.remote));
        std::iter::once(IpAddr::V4(self.inside_remote)).chain(v6)
    }

    /// Our inside addresses with their prefix lengths, as the TUN device
    /// carries them: the IPv4 one first, then the IPv6 one if configured.
    pub fn inside_addresses(&self) -> impl Iterator<Item = (IpAddr, u8)> {
        let v4 = (IpAddr::V4(self.inside_local), self.inside_cidr.prefix_len());
        let v6 = self
            .inside_ipv6
            .map(|i| (IpAddr::V6(i.local), i.cidr.prefix_len()));
        std::iter::once(v4).chain(v6)
    }

    pub fn set_probe_stats(&self, stats: &ProbeStats) {
        let p = &self.probe;
        let rtt = stats.rtt.map_or(u64::MAX, |d| {
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX - 1)
        });
        p.rtt_us.store(rtt, Ordering::Relaxed);
        p.loss_permille
            .store(stats.loss_permille().unwrap_or(u32::MAX), Ordering::Relaxed);
        p.requests.store(stats.requests, Ordering::Relaxed);
        p.answers.store(stats.answers, Ordering::Relaxed);
    }

    /// The probe's latest round trip in µs, its loss over the latest
    /// requests in thousandths, and its requests and answers so far.
    pub fn probe_stats(&self) -> (Option<u64>, Option<u32>, u64, u64) {
        let p = &self.probe;
        let rtt = p.rtt_us.load(Ordering::Relaxed);
        let loss = p.loss_permille.load(Ordering::Relaxed);
        (
            (rtt != u64::MAX).then_some(rtt),
            (loss != u32::MAX).then_some(loss),
            p.requests.load(Ordering::Relaxed),
            p.answers.load(Ordering::Relaxed),
        )
    }

    pub fn set_drain(&self, state: DrainState) {
        let code = match state {
            DrainState::None => 0,
            DrainState::Draining => 1,
            DrainState::Drained => 2,
        };
        self.drain.store(code, Ordering::Relaxed);
    }

    pub fn drain(&self) -> DrainState {
        match self.drain.load(Ordering::Relaxed) {
            1 => DrainState::Draining,
            2 => DrainState::Drained,
            _ => DrainState::None,
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn a_tunnel_hands_on_at_most_its_budget_a_second() {
        let t0 = Instant::now();
        let mut b = ProbeBudget {
            window: None,
            taken: 0,
        };
        let taken =
            |b: &mut ProbeBudget, at: Instant, n: u32| (0..n).filter(|_| b.take(at)).count();
        assert_eq!(taken(&mut b, t0, 1000), PROBES_PER_SECOND as usize);
        let later = t0 + Duration::from_millis(999);
        assert_eq!(taken(&mut b, later, 10), 0, "the same second");
        let next = t0 + Duration::from_secs(1);
        assert_eq!(taken(&mut b, next, 10), 10, "a new second");
    }
}
