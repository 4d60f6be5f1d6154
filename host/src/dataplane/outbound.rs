//! Packets out: TUN -> FIB -> seal -> UDP, in three steps so that the
//! sealing can run on any core (see `pipeline`).
//!
//! 1. [`Dataplane::prepare_out`], on the reader's thread, in order: each
//!    packet routed (longest prefix, ECMP by flow), its TCP SYN clamped;
//!    runs of packets for one tunnel take the tunnel's lock once to reserve
//!    consecutive counters of its current session. Without a session the
//!    packets wait in the tunnel and a handshake goes out.
//! 2. [`OutJob::work`], on any thread: every packet sealed with its
//!    counter, straight into the job's GSO runs.
//! 3. The lane's emitter sends the runs (`io`), or the sink does in tests
//!    ([`OutJob::emit_to`]).
//!
//! It owns the job's buffers and the run bookkeeping. It must not decide
//! routes (the FIB does) and does no I/O of its own but the handshakes it
//! starts through the caller's sink.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tracing::debug;

use super::batch::{Segments, UdpBatch};
use super::pipeline::Job;
use super::tunnel::{Tally, Tunnel};
use super::{Dataplane, Sink};
use crate::packet;
use crate::wg::{Peer, Session};

/// One run of packets for one tunnel, with the counters reserved for them.
struct OutRun {
    tunnel: Arc<Tunnel>,
    /// None: no session, the packets were queued in the tunnel.
    session: Option<Arc<Session>>,
    first_counter: u64,
    to: SocketAddr,
    /// Into the job's `order`.
    packets: Range<usize>,
}

/// A batch of packets read from the TUN device, on its way out.
pub struct OutJob {
    /// Segment buffers (the reader reads into them) and their lengths.
    pub bufs: Segments,
    pub sizes: Vec<usize>,
    /// How many of `bufs` hold a packet.
    pub count: usize,
    /// The routed packets' buffer indexes, in order.
    order: Vec<usize>,
    runs: Vec<OutRun>,
    /// The sealed datagrams, grouped for GSO.
    udp: UdpBatch,
}

impl OutJob {
    /// A job of `capacity` buffers of `segment_len` bytes each.
    pub fn new(capacity: usize, segment_len: usize) -> OutJob {
        OutJob {
            bufs: Segments::new(capacity, segment_len),
            sizes: vec![0; capacity],
            count: 0,
            order: Vec::with_capacity(capacity),
            runs: Vec::new(),
            udp: UdpBatch::new(1),
        }
    }

    /// A job holding copies of `packets` (for tests and one-off sends).
    pub fn of<'p>(packets: impl IntoIterator<Item = &'p [u8]>) -> OutJob {
        let packets: Vec<&[u8]> = packets.into_iter().collect();
        let sizes: Vec<usize> = packets.iter().map(|p| p.len()).collect();
        OutJob {
            count: sizes.len(),
            order: Vec::with_capacity(sizes.len()),
            bufs: Segments::of(packets),
            sizes,
            runs: Vec::new(),
            udp: UdpBatch::new(1),
        }
    }

    /// The sealed datagrams' GSO runs, in order.
    pub fn udp(&self) -> &UdpBatch {
        &self.udp
    }

    /// Hands every sealed datagram to `sink`, one at a time, in order.
    pub fn emit_to(&self, sink: &mut impl Sink) {
        for (run, bytes) in self.udp.runs() {
            for datagram in bytes.chunks(run.segment.max(1)) {
                sink.to_network(run.endpoint, run.to, datagram);
            }
        }
    }
}

impl Job for OutJob {
    fn work(&mut self, _dp: &Dataplane) {
        let OutJob {
            bufs,
            sizes,
            order,
            runs,
            udp,
            ..
        } = self;
        for run in runs.iter() {
            let Some(session) = &run.session else {
                continue;
            };
            let packets = order.get(run.packets.clone()).unwrap_or_default();
            let mut failed = 0;
            for (counter, &i) in (run.first_counter..).zip(packets) {
                let Some(pkt) = sizes.get(i).and_then(|len| bufs.get(i, *len)) else {
                    continue;
                };
                let max = Peer::<rand_core::OsRng>::max_datagram(pkt.len());
                let sealed = udp.push_with(run.tunnel.endpoint, run.to, max, |out| {
                    session
                        .seal_within(counter, pkt, out, usize::from(run.tunnel.mtu))
                        .ok()
                });
                if !sealed {
                    failed += 1;
                }
            }
            if failed > 0 {
                run.tunnel
                    .counters
                    .tx_failed
                    .fetch_add(failed, Ordering::Relaxed);
            }
        }
    }

    fn discard(&mut self) {
        self.udp.clear();
    }

    fn emitted(&mut self) {
        self.runs.clear();
        self.order.clear();
        self.udp.clear();
    }

    fn packets(&self) -> usize {
        self.order.len()
    }
}

impl Dataplane {
    /// Step 1 (see the module documentation): routes the job's packets and
    /// reserves their counters. Handshakes it must start go to `sink` at once.
    pub fn prepare_out(
        &self,
        fib: &super::fib::Fib,
        job: &mut OutJob,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        job.order.clear();
        job.runs.clear();
        job.udp.clear();
        job.udp.set_max_segments(self.max_gso_segments());
        let tunnels = self.tunnels.load();
        for i in 0..job.count {
            let Some(pkt) = job.sizes.get(i).and_then(|len| job.bufs.get_mut(i, *len)) else {
                continue;
            };
            let Some(tunnel) = self.route_tun_packet(fib, &tunnels, pkt) else {
                continue;
            };
            packet::clamp_mss(pkt, tunnel.mtu);
            let k = job.order.len();
            job.order.push(i);
            match job.runs.last_mut() {
                Some(run) if run.tunnel.id == tunnel.id => run.packets.end = k + 1,
                _ => {
                    let Some(tunnel) = tunnels.get(tunnel.id.index()).cloned() else {
                        continue;
                    };
                    job.runs.push(OutRun {
                        tunnel,
                        session: None,
                        first_counter: 0,
                        to: SocketAddr::from(([0, 0, 0, 0], 0)),
                        packets: k..k + 1,
                    });
                }
            }
        }
        for run in &mut job.runs {
            let packets = job.order.get(run.packets.clone()).unwrap_or_default();
            let tunnel = &run.tunnel;
            let mut state = tunnel.lock();
            run.to = state.remote;
            match state.peer.reserve_send(packets.len() as u64, true, now) {
                Ok((session, counters)) => {
                    run.session = Some(session);
                    run.first_counter = counters.start;
                    let mut tally = Tally::default();
                    for &i in packets {
                        tally.add(job.sizes.get(i).copied().unwrap_or(0));
                    }
                    tunnel.counters.add_tx_tally(&tally);
                }
                // Retired since the lookup: nothing is held for it.
                Err(_) if tunnel.is_retired() => {}
                Err(e) => {
                    debug!(tunnel = %tunnel.inside_cidr, error = %e, "no session: packets held for the handshake");
                    for &i in packets {
                        if let Some(pkt) = job.sizes.get(i).and_then(|len| job.bufs.get(i, *len)) {
                            state.queue(pkt);
                        }
                    }
                    self.drive_peer(tunnel, &mut state, now, sink);
                }
            }
        }
    }
}
