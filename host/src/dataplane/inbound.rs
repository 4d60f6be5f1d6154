//! Datagrams in: UDP -> open -> source check -> TUN, in three steps so that
//! the opening can run on any core (see `pipeline`).
//!
//! 1. [`Dataplane::prepare_in`], on the endpoint reader's thread, in order:
//!    each datagram's kind read; handshake messages and cookie replies are
//!    handled at once (`handle_control`: the gate's MAC checks and cookie
//!    replies under load, then the tunnel's peer), data messages are
//!    grouped into runs for one tunnel and receiver index, each run taking
//!    the tunnel's lock once to find its session.
//! 2. [`InJob::work`], on any thread: every data message opened in place
//!    (the session's replay window is safe under concurrent openers), the
//!    padding cut off, liveness probes picked out, the inner source checked
//!    against the route table (cryptokey routing) and TCP SYNs clamped.
//! 3. [`Dataplane::finish_in`], in order: the tunnel's timers and roaming
//!    under its lock once per run, counters, and the packets to the sink
//!    (the lane's coalescing TUN writer, or a test's recorder).
//!
//! Every byte is untrusted: anything that is not a valid WireGuard message
//! for one of our tunnels is dropped and counted, never a panic. It must not
//! decide routes or failover.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rand_core::OsRng;
use tracing::{debug, info};

use super::fib::{Fib, TunnelId};
use super::pipeline::Job;
use super::tunnel::{Tally, Tunnel, TunnelState};
use super::{echo_ident, Dataplane, ProbeKind, Sink, Tunnels};
use crate::packet;
use crate::wg::{self, Admit, Outcome, Session, COOKIE_REPLY_LEN, DATA_OVERHEAD};

/// What became of one data message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Not opened yet (or its run had no session).
    Pending,
    /// Refused by WireGuard: not authentic, replayed, expired.
    Invalid,
    Keepalive,
    /// An inner packet for the TUN device, at this range of the storage.
    Deliver(Range<usize>),
    /// One of our liveness probes, for the control plane.
    Probe(ProbeKind, Vec<u8>),
    /// Authentic, but its inner source is not routed over this tunnel's
    /// connection.
    SourceRefused,
}

#[derive(Debug, Clone)]
struct InItem {
    start: usize,
    len: usize,
    verdict: Verdict,
}

struct InRun {
    tunnel: Arc<Tunnel>,
    receiver: u32,
    session: Option<Arc<Session>>,
    from: SocketAddr,
    /// Into the job's `items`.
    items: Range<usize>,
}

/// A batch of datagrams received on one endpoint, on their way in.
pub struct InJob {
    pub endpoint: usize,
    /// The received bytes (the reader receives into it).
    pub storage: Vec<u8>,
    /// The datagrams: where each is in `storage`, and its sender.
    pub datagrams: Vec<(Range<usize>, SocketAddr)>,
    items: Vec<InItem>,
    runs: Vec<InRun>,
    now: Option<Instant>,
    /// The route table to check sources against; None: the data path's
    /// current one, read when the job is worked.
    pub fib: Option<Arc<Fib>>,
}

impl InJob {
    /// An empty job for `endpoint` whose storage holds `bytes`.
    pub fn new(endpoint: usize, bytes: usize) -> InJob {
        InJob {
            endpoint,
            storage: vec![0u8; bytes],
            datagrams: Vec::new(),
            items: Vec::new(),
            runs: Vec::new(),
            now: None,
            fib: None,
        }
    }

    /// A job holding copies of `datagrams` from `from` (tests, one-offs).
    pub fn of<'d>(
        endpoint: usize,
        from: SocketAddr,
        datagrams: impl IntoIterator<Item = &'d [u8]>,
    ) -> InJob {
        let mut job = InJob::new(endpoint, 0);
        for d in datagrams {
            let start = job.storage.len();
            job.storage.extend_from_slice(d);
            job.datagrams.push((start..job.storage.len(), from));
        }
        job
    }
}

impl Job for InJob {
    fn work(&mut self, dp: &Dataplane) {
        let Some(now) = self.now else {
            return;
        };
        // The route table as it is now, for the source checks.
        let current;
        let fib: &Fib = match &self.fib {
            Some(fib) => fib,
            None => {
                current = dp.fib.load();
                &current
            }
        };
        let InJob {
            storage,
            items,
            runs,
            ..
        } = self;
        for run in runs.iter() {
            let Some(session) = &run.session else {
                continue;
            };
            for item in items.get_mut(run.items.clone()).unwrap_or_default() {
                let Some(datagram) = storage.get_mut(item.start..item.start + item.len) else {
                    item.verdict = Verdict::Invalid;
                    continue;
                };
                item.verdict = match session.open_in_place(datagram, now) {
                    Ok(plain) if plain.is_empty() => Verdict::Keepalive,
                    Ok(plain) => classify(fib, &run.tunnel, datagram, plain, item.start),
                    Err(_) => Verdict::Invalid,
                };
            }
        }
    }

    fn discard(&mut self) {
        self.runs.clear();
        self.items.clear();
    }

    fn emitted(&mut self) {
        self.runs.clear();
        self.items.clear();
        self.fib = None;
    }

    fn packets(&self) -> usize {
        self.items.len()
    }
}

/// What to do with a decrypted packet at `plain` of `datagram` (which sits
/// at `offset` of the job's storage).
fn classify(
    fib: &Fib,
    tunnel: &Tunnel,
    datagram: &mut [u8],
    plain: Range<usize>,
    offset: usize,
) -> Verdict {
    let Some(padded) = datagram.get_mut(plain.clone()) else {
        return Verdict::Invalid;
    };
    // The padding is not part of the packet.
    let Some(len) = packet::ip_len(padded) else {
        return Verdict::Invalid;
    };
    let Some(pkt) = padded.get_mut(..len) else {
        return Verdict::Invalid;
    };
    if let Some(payload) = packet::parse_bfd(pkt, tunnel.bfd_addresses().0) {
        return Verdict::Probe(ProbeKind::Bfd, payload.to_vec());
    }
    if let Some(seq) = packet::echo::parse_echo_reply(
        pkt,
        tunnel.inside_local,
        tunnel.inside_remote,
        echo_ident(tunnel.id),
    ) {
        return Verdict::Probe(ProbeKind::EchoReply { seq }, Vec::new());
    }
    let allowed =
        packet::src_addr(pkt).is_some_and(|src: IpAddr| fib.source_allowed(src, tunnel.connection));
    if !allowed {
        return Verdict::SourceRefused;
    }
    packet::clamp_mss(pkt, tunnel.mtu);
    let start = offset + plain.start;
    Verdict::Deliver(start..start + len)
}

impl Dataplane {
    /// Step 1 (see the module documentation). Replies to handshakes go to
    /// `sink` at once.
    pub fn prepare_in(&self, job: &mut InJob, now: Instant, sink: &mut impl Sink) {
        job.items.clear();
        job.runs.clear();
        job.now = Some(now);
        let Some(ep) = self.endpoints.get(job.endpoint) else {
            return;
        };
        let tunnels = self.tunnels.load();
        let mut dropped = 0u64;
        for (range, from) in &job.datagrams {
            let Some(datagram) = job.storage.get(range.clone()) else {
                dropped += 1;
                continue;
            };
            let data = datagram.first() == Some(&4) && datagram.len() >= DATA_OVERHEAD;
            let receiver = datagram
                .get(4..8)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let (true, Some(receiver)) = (data, receiver) else {
                if !self.handle_control(&tunnels, job.endpoint, *from, datagram, now, sink) {
                    dropped += 1;
                }
                continue;
            };
            let Some(tunnel) = tunnels
                .live(TunnelId((receiver >> 8) as usize))
                .filter(|t| t.endpoint == job.endpoint)
            else {
                dropped += 1;
                continue;
            };
            let k = job.items.len();
            job.items.push(InItem {
                start: range.start,
                len: range.len(),
                verdict: Verdict::Pending,
            });
            match job.runs.last_mut() {
                Some(run)
                    if run.tunnel.id == tunnel.id
                        && run.receiver == receiver
                        && run.from == *from =>
                {
                    run.items.end = k + 1;
                }
                _ => {
                    let Some(tunnel) = tunnels.get(tunnel.id.index()).cloned() else {
                        continue;
                    };
                    let session = tunnel.lock().peer.session(receiver);
                    job.runs.push(InRun {
                        tunnel,
                        receiver,
                        session,
                        from: *from,
                        items: k..k + 1,
                    });
                }
            }
        }
        ep.counters
            .rx_datagrams
            .fetch_add(job.datagrams.len() as u64, Ordering::Relaxed);
        if dropped > 0 {
            ep.counters
                .dropped_datagrams
                .fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Step 3 (see the module documentation): timers, roaming and counters
    /// per run, then the packets to `sink`, in order.
    pub fn finish_in(&self, job: &InJob, sink: &mut impl Sink) {
        let Some(now) = job.now else {
            return;
        };
        let mut invalid = 0u64;
        for run in &job.runs {
            let items = job.items.get(run.items.clone()).unwrap_or_default();
            let opened = |v: &Verdict| !matches!(v, Verdict::Pending | Verdict::Invalid);
            if let (Some(session), true) = (&run.session, items.iter().any(|i| opened(&i.verdict)))
            {
                let data = items
                    .iter()
                    .any(|i| opened(&i.verdict) && i.verdict != Verdict::Keepalive);
                let mut state = run.tunnel.lock();
                state.peer.opened(session, data, now);
                // Only a message that proved the peer's key may move the
                // tunnel (roaming).
                if state.remote != run.from {
                    info!(tunnel = %run.tunnel.inside_cidr, old = %state.remote, new = %run.from, "peer address changed");
                    state.remote = run.from;
                }
                self.send_queued(&run.tunnel, &mut state, now, sink);
            }
            let (mut tally, mut refused, mut run_invalid) = (Tally::default(), 0u64, 0u64);
            let mut probes_over = 0u64;
            for item in items {
                match &item.verdict {
                    Verdict::Deliver(range) => {
                        if let Some(pkt) = job.storage.get(range.clone()) {
                            sink.to_tun(pkt);
                            tally.add(pkt.len());
                        }
                    }
                    Verdict::Probe(kind, payload) => {
                        if run.tunnel.take_probe_budget(now) {
                            sink.probe(run.tunnel.id, *kind, payload);
                        } else {
                            probes_over += 1;
                        }
                    }
                    Verdict::SourceRefused => refused += 1,
                    Verdict::Pending | Verdict::Invalid => run_invalid += 1,
                    Verdict::Keepalive => {}
                }
            }
            if probes_over > 0 {
                self.probes_dropped(&run.tunnel, probes_over);
            }
            let counters = &run.tunnel.counters;
            counters.add_rx_tally(&tally);
            if refused > 0 {
                counters
                    .rx_source_refused
                    .fetch_add(refused, Ordering::Relaxed);
            }
            if run_invalid > 0 {
                counters
                    .rx_invalid
                    .fetch_add(run_invalid, Ordering::Relaxed);
                debug!(tunnel = %run.tunnel.inside_cidr, from = %run.from, datagrams = run_invalid, "data messages refused");
            }
            invalid += run_invalid;
        }
        if let (Some(ep), true) = (self.endpoints.get(job.endpoint), invalid > 0) {
            ep.counters
                .dropped_datagrams
                .fetch_add(invalid, Ordering::Relaxed);
        }
    }

    /// A handshake message or cookie reply from `from`: checked by the gate,
    /// handed to its tunnel's peer, answered through `sink`. Returns whether
    /// it was taken.
    fn handle_control(
        &self,
        tunnels: &Tunnels,
        endpoint: usize,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        sink: &mut impl Sink,
    ) -> bool {
        let mut cookie = [0u8; COOKIE_REPLY_LEN];
        // A tunnel's peer: where one of this endpoint's tunnels sends now.
        let known = |ip: IpAddr| {
            tunnels
                .iter()
                .any(|t| t.endpoint == endpoint && !t.is_retired() && t.remote().ip() == ip)
        };
        match self
            .gate
            .admit(datagram, from, now, &mut cookie, &mut OsRng, known)
        {
            Ok(Admit::Pass) => {}
            Ok(Admit::CookieReply) => {
                sink.to_network(endpoint, from, &cookie);
                return true;
            }
            Err(e) => {
                debug!(%from, error = %e, "datagram refused");
                return false;
            }
        }
        let Some(tunnel) = self.control_tunnel(tunnels, endpoint, from, datagram) else {
            return false;
        };
        let mut state = tunnel.lock();
        // Retired since the look-up (`Tunnel::retire` marks it under this
        // lock): no new session for it.
        if tunnel.is_retired() {
            return false;
        }
        let before = state.peer.handshakes();
        let mut out = [0u8; 256];
        match state.peer.decapsulate(from, datagram, &mut out, now, false) {
            Ok(Outcome::Reply(n)) => {
                if let Some(reply) = out.get(..n) {
                    sink.to_network(tunnel.endpoint, from, reply);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tunnel.counters.rx_invalid.fetch_add(1, Ordering::Relaxed);
                debug!(tunnel = %tunnel.inside_cidr, %from, error = %e, "handshake refused");
                return false;
            }
        }
        if state.peer.handshakes() > before {
            // A handshake proved the peer's key: it may move the tunnel.
            tunnel.counters.handshakes.fetch_add(1, Ordering::Relaxed);
            debug!(tunnel = %tunnel.inside_cidr, %from, "handshake");
            if state.remote != from {
                info!(tunnel = %tunnel.inside_cidr, old = %state.remote, new = %from, "peer address changed");
                state.remote = from;
            }
            self.send_queued(tunnel, &mut state, now, sink);
        }
        true
    }

    /// The tunnel a handshake message or cookie reply belongs to: by our
    /// receiver index for responses and cookies; by the initiator's static
    /// key (and, if two tunnels share it on this endpoint, its address) for
    /// initiations.
    fn control_tunnel<'t>(
        &self,
        tunnels: &'t Tunnels,
        endpoint: usize,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Option<&'t Tunnel> {
        let id = match wg::receiver_index(datagram).ok()? {
            Some(receiver) => TunnelId((receiver >> 8) as usize),
            None => {
                let key = self.keys.initiator_of(datagram).ok()?;
                let candidates = tunnels.by_peer.get(&(endpoint, key.to_bytes()))?;
                match candidates.as_slice() {
                    [only] => *only,
                    many => *many
                        .iter()
                        .find(|id| tunnels.live(**id).is_some_and(|t| t.remote() == from))?,
                }
            }
        };
        tunnels.live(id).filter(|t| t.endpoint == endpoint)
    }

    /// Sends the packets `tunnel` held for want of a session, if it has one
    /// now.
    pub(super) fn send_queued(
        &self,
        tunnel: &Tunnel,
        state: &mut TunnelState,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        if state.queued.is_empty() || state.peer.current().is_none() {
            return;
        }
        let n = state.queued.len() as u64;
        let Ok((session, counters)) = state.peer.reserve_send(n, true, now) else {
            return;
        };
        let remote = state.remote;
        let mut out = Vec::new();
        let mut tally = Tally::default();
        for (counter, pkt) in counters.zip(state.queued.drain(..)) {
            out.resize(wg::Peer::<OsRng>::max_datagram(pkt.len()), 0);
            if let Ok(len) = session.seal_within(counter, &pkt, &mut out, usize::from(tunnel.mtu)) {
                sink.to_network(tunnel.endpoint, remote, out.get(..len).unwrap_or_default());
                tally.add(pkt.len());
            }
        }
        tunnel.counters.add_tx_tally(&tally);
    }
}
