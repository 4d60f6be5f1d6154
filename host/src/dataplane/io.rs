//! The data path's threads: one reads the TUN device, one reads each endpoint,
//! each in batches, and passes packets to [`Dataplane`].
//!
//! This module owns the real file descriptors' readiness, the per-thread
//! buffers (allocated once, reused for every batch) and the sinks that write
//! to the TUN device and the sockets: [`IoSink`] one packet at a time (the
//! control loop's probes and handshakes), [`BatchSink`] in batches (the data
//! threads: TUN super-packets split by `tun_rs`, datagrams sent with UDP GSO,
//! received with recvmmsg and GRO through `quinn_udp`, decrypted packets
//! coalesced into one TUN write). It holds no protocol logic. Each thread
//! checks the shutdown flag at least every [`POLL_INTERVAL_MS`].

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, warn};
use tun_rs::{GROTable, SyncDevice, VIRTIO_NET_HDR_LEN};

use super::batch::{TunBatch, UdpBatch, TUN_HEADROOM};
use super::endpoint::Endpoint;
use super::fib::TunnelId;
use super::{Dataplane, ProbeKind, Sink, SCRATCH_LEN};

/// Packets (TUN segments, or datagrams) handled as one batch.
pub const BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;
/// Datagrams (each possibly a GRO train of them) one recvmmsg may return.
const RX_MESSAGES: usize = 32;
/// Largest packet read from the TUN device or a socket.
const MAX_PACKET: usize = 65_536;
/// How long a full socket buffer may hold up one flush before its datagrams
/// are dropped: a short backpressure on the reader (never under a tunnel's
/// lock), then loss, as a full socket would cause anyway.
const SEND_WAIT: Duration = Duration::from_millis(20);
/// Pause between sends retried on a full socket buffer.
const SEND_RETRY: Duration = Duration::from_micros(200);
/// How often a reader wakes up to look at the shutdown flag.
pub const POLL_INTERVAL_MS: i32 = 250;

/// A liveness probe received over a tunnel, for the control loop.
#[derive(Debug)]
pub struct ProbeReceived {
    pub tunnel: TunnelId,
    pub kind: ProbeKind,
    pub payload: Vec<u8>,
}

/// Hands a received probe to the control plane.
pub type ProbeHandler = dyn Fn(ProbeReceived) + Send + Sync;

/// Writes the data path's output to the real TUN device and sockets.
pub struct IoSink<'a> {
    pub dataplane: &'a Dataplane,
    pub tun: &'a SyncDevice,
    pub probe: &'a ProbeHandler,
}

impl Sink for IoSink<'_> {
    fn to_tun(&mut self, packet: &[u8]) {
        // With offloads on, every write starts with a virtio-net header; an
        // all-zero one says "one plain packet, checksums done".
        let header = [0u8; TUN_HEADROOM];
        let header: &[u8] = if self.tun.tcp_gso() { &header } else { &[] };
        let written = self
            .tun
            .send_vectored(&[IoSlice::new(header), IoSlice::new(packet)]);
        if let Err(e) = written {
            self.dataplane
                .counters
                .tun_write_failed
                .fetch_add(1, Ordering::Relaxed);
            debug!(error = %e, "TUN write failed");
        }
    }

    fn to_network(&mut self, endpoint: usize, to: SocketAddr, datagram: &[u8]) {
        let Some(ep) = self.dataplane.endpoints.get(endpoint) else {
            return;
        };
        if let Err(e) = ep.socket.send_to(datagram, to) {
            ep.counters.tx_failed.fetch_add(1, Ordering::Relaxed);
            debug!(endpoint = %ep.name, %to, error = %e, "send failed");
        }
    }

    fn probe(&mut self, tunnel: TunnelId, kind: ProbeKind, payload: &[u8]) {
        (self.probe)(ProbeReceived {
            tunnel,
            kind,
            payload: payload.to_vec(),
        });
    }
}

/// Waits until `fd` is readable or `timeout_ms` passes. Returns whether it is
/// readable; an error when the descriptor is gone (hang-up, error, invalid),
/// so a reader stops instead of spinning on it.
pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    wait_for(fd, libc::POLLIN, timeout_ms)
}

fn wait_for(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid, initialised pollfd that lives across the call,
    // and we pass a count of exactly one.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    match n {
        n if n < 0 => {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(err)
            }
        }
        0 => Ok(false),
        _ if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
            && pfd.revents & events == 0 =>
        {
            Err(io::Error::other(format!(
                "descriptor failed (poll revents {:#x})",
                pfd.revents
            )))
        }
        _ => Ok(true),
    }
}

/// Starts the TUN reader and one reader per endpoint.
pub fn spawn(
    dataplane: Arc<Dataplane>,
    tun: Arc<SyncDevice>,
    probes: Arc<ProbeHandler>,
    shutdown: Arc<AtomicBool>,
) -> io::Result<Vec<JoinHandle<()>>> {
    tun.set_nonblocking(true)?;
    let mut threads = Vec::new();
    {
        let (dp, tun, probes, shutdown) = (
            dataplane.clone(),
            tun.clone(),
            probes.clone(),
            shutdown.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name("tun-rx".into())
                .spawn(move || tun_reader(&dp, &tun, probes.as_ref(), &shutdown))?,
        );
    }
    for index in 0..dataplane.endpoints.len() {
        let (dp, tun, probes, shutdown) = (
            dataplane.clone(),
            tun.clone(),
            probes.clone(),
            shutdown.clone(),
        );
        threads.push(
            std::thread::Builder::new()
                .name(format!("udp-rx-{index}"))
                .spawn(move || endpoint_reader(&dp, index, &tun, probes.as_ref(), &shutdown))?,
        );
    }
    Ok(threads)
}

/// The data threads' sink: queues what a batch produces and sends it at
/// [`BatchSink::flush`], datagrams in GSO runs, TUN packets in one
/// coalescing write.
pub struct BatchSink<'a> {
    dataplane: &'a Dataplane,
    tun: &'a SyncDevice,
    probe: &'a ProbeHandler,
    udp: UdpBatch,
    tun_out: TunBatch,
    gro: GROTable,
}

impl<'a> BatchSink<'a> {
    pub fn new(dataplane: &'a Dataplane, tun: &'a SyncDevice, probe: &'a ProbeHandler) -> Self {
        BatchSink {
            dataplane,
            tun,
            probe,
            udp: UdpBatch::new(max_gso_segments(dataplane)),
            tun_out: TunBatch::new(BATCH),
            gro: GROTable::default(),
        }
    }

    /// Sends everything queued.
    pub fn flush(&mut self) {
        self.flush_udp();
        self.flush_tun();
    }

    fn flush_tun(&mut self) {
        if self.tun_out.is_empty() {
            return;
        }
        let queued = self.tun_out.queued();
        let packets = queued.len() as u64;
        if let Err(e) = self.tun.send_multiple(&mut self.gro, queued, TUN_HEADROOM) {
            // Counted as the whole batch: a failed coalescing write may
            // have lost them all.
            self.dataplane
                .counters
                .tun_write_failed
                .fetch_add(packets, Ordering::Relaxed);
            debug!(error = %e, "TUN write failed");
        }
        self.tun_out.clear();
    }

    fn flush_udp(&mut self) {
        if self.udp.is_empty() {
            return;
        }
        let deadline = Instant::now() + SEND_WAIT;
        for (run, bytes) in self.udp.runs() {
            if let Some(ep) = self.dataplane.endpoints.get(run.endpoint) {
                send_run(ep, run.to, bytes, run.segment, run.count, deadline);
            }
        }
        self.udp.clear();
        // A kernel or driver that refused GSO turned it off on its socket.
        self.udp.set_max_segments(max_gso_segments(self.dataplane));
    }
}

impl Sink for BatchSink<'_> {
    fn to_tun(&mut self, packet: &[u8]) {
        if !self.tun_out.push(packet) {
            self.flush_tun();
            self.tun_out.push(packet);
        }
    }

    fn to_network(&mut self, endpoint: usize, to: SocketAddr, datagram: &[u8]) {
        self.udp.push(endpoint, to, datagram);
    }

    fn probe(&mut self, tunnel: TunnelId, kind: ProbeKind, payload: &[u8]) {
        (self.probe)(ProbeReceived {
            tunnel,
            kind,
            payload: payload.to_vec(),
        });
    }
}

/// Datagrams per GSO send that every endpoint accepts.
fn max_gso_segments(dp: &Dataplane) -> usize {
    dp.endpoints
        .iter()
        .map(|ep| ep.udp.max_gso_segments())
        .min()
        .unwrap_or(1)
}

/// Sends `count` datagrams of `segment` bytes (the last may be shorter) in
/// one system call. While the socket buffer is full the send is retried
/// until `deadline` (one per flush), then the run is dropped and counted.
/// A run the kernel refuses otherwise is sent again one datagram at a time:
/// a socket or device without GSO, or segments larger than the path MTU
/// (the kernel never fragments a GSO segment: EINVAL or EMSGSIZE, while a
/// single datagram may still be fragmented), must not black-hole a flow.
fn send_run(
    ep: &Endpoint,
    to: SocketAddr,
    bytes: &[u8],
    segment: usize,
    count: usize,
    deadline: Instant,
) {
    let transmit = quinn_udp::Transmit {
        destination: to,
        ecn: None,
        contents: bytes,
        segment_size: (count > 1).then_some(segment),
        src_ip: None,
    };
    let result = loop {
        match ep.udp.try_send((&ep.socket).into(), &transmit) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(SEND_RETRY);
            }
            other => break other,
        }
    };
    let Err(e) = result else {
        return;
    };
    if count > 1 && e.kind() != io::ErrorKind::WouldBlock {
        debug!(endpoint = %ep.name, %to, segment, error = %e, "GSO send refused; sending one by one");
        for datagram in bytes.chunks(segment.max(1)) {
            send_run(ep, to, datagram, segment, 1, deadline);
        }
        return;
    }
    let counter = if e.kind() == io::ErrorKind::WouldBlock {
        &ep.counters.tx_queue_full
    } else {
        &ep.counters.tx_failed
    };
    counter.fetch_add(count as u64, Ordering::Relaxed);
    debug!(endpoint = %ep.name, %to, datagrams = count, error = %e, "send failed");
}

fn tun_reader(dp: &Dataplane, tun: &SyncDevice, probes: &ProbeHandler, shutdown: &AtomicBool) {
    // A segment is at most one MTU; a super-packet splits into at most
    // BATCH of them, so reading goes on only while that many are free.
    let segment_len = usize::from(tun.mtu().unwrap_or(1500)).max(1500);
    let mut original = vec![0u8; VIRTIO_NET_HDR_LEN + MAX_PACKET];
    let mut bufs: Vec<Vec<u8>> = (0..2 * BATCH).map(|_| vec![0u8; segment_len]).collect();
    let mut sizes = vec![0usize; 2 * BATCH];
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut sink = BatchSink::new(dp, tun, probes);
    let fd = tun.as_raw_fd();
    while !shutdown.load(Ordering::Relaxed) {
        match wait_readable(fd, POLL_INTERVAL_MS) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                warn!(error = %e, "TUN poll failed; stopping the TUN reader");
                return;
            }
        }
        let mut count = 0;
        while count + BATCH <= bufs.len() {
            let (Some(out), Some(lens)) = (bufs.get_mut(count..), sizes.get_mut(count..)) else {
                break;
            };
            match tun.recv_multiple(&mut original, out, lens, 0) {
                Ok(n) => count += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    dp.counters.tun_malformed.fetch_add(1, Ordering::Relaxed);
                    debug!(error = %e, "TUN read failed");
                    break;
                }
            }
        }
        let fib = dp.fib.load();
        let packets = bufs
            .iter_mut()
            .zip(&sizes)
            .take(count)
            .filter_map(|(buf, len)| buf.get_mut(..*len));
        dp.handle_tun_batch(&fib, packets, &mut scratch, &mut sink);
        sink.flush();
    }
}

fn endpoint_reader(
    dp: &Dataplane,
    index: usize,
    tun: &SyncDevice,
    probes: &ProbeHandler,
    shutdown: &AtomicBool,
) {
    let Some(ep) = dp.endpoints.get(index) else {
        return;
    };
    let mut storage = vec![0u8; RX_MESSAGES * MAX_PACKET];
    let mut metas = [quinn_udp::RecvMeta::default(); RX_MESSAGES];
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let mut sink = BatchSink::new(dp, tun, probes);
    let fd = ep.socket.as_raw_fd();
    // After a full read, read again before polling: more is likely queued.
    let mut readable = false;
    while !shutdown.load(Ordering::Relaxed) {
        if !readable {
            match wait_readable(fd, POLL_INTERVAL_MS) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    warn!(endpoint = %ep.name, error = %e, "socket poll failed; stopping its reader");
                    return;
                }
            }
        }
        let received = {
            let mut chunks = storage.chunks_mut(MAX_PACKET);
            let mut iovs: [IoSliceMut; RX_MESSAGES] =
                std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
            ep.udp.recv((&ep.socket).into(), &mut iovs, &mut metas)
        };
        let messages = match received {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // ICMP errors for earlier sends surface here (e.g. port
                // unreachable while the peer restarts): not fatal.
                if e.kind() != io::ErrorKind::WouldBlock {
                    debug!(endpoint = %ep.name, error = %e, "receive failed");
                }
                readable = false;
                continue;
            }
        };
        readable = messages == RX_MESSAGES;
        let fib = dp.fib.load();
        for (meta, buf) in metas.iter().zip(storage.chunks(MAX_PACKET)).take(messages) {
            let Some(data) = buf.get(..meta.len) else {
                continue;
            };
            // GRO joins datagrams of one sender: `stride` bytes each, the
            // last perhaps shorter.
            let stride = if meta.stride == 0 {
                data.len()
            } else {
                meta.stride
            };
            let datagrams = data.chunks(stride.max(1));
            dp.handle_datagrams(&fib, index, meta.addr, datagrams, &mut scratch, &mut sink);
        }
        sink.flush();
    }
}
