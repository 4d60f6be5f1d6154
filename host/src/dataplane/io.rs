//! The data path's threads: one reads each TUN queue, one reads each
//! endpoint socket, each in batches (jobs) that it prepares in order and hands to
//! the worker pool for the crypto (`pipeline`); the lanes' emitters send and
//! write the finished jobs in order.
//!
//! This module owns the real file descriptors' readiness, the jobs' buffers
//! (allocated once per lane, reused for every batch) and the sinks that
//! write to the TUN device and the sockets: [`IoSink`] one packet at a time
//! (the control loop's probes and handshakes, the readers' handshake
//! replies), the emitters in batches (TUN super-packets split by `tun_rs`,
//! datagrams sent with UDP GSO, received with recvmmsg and GRO through
//! `quinn_udp`, decrypted packets coalesced into one TUN write). It holds no
//! protocol logic. Each thread checks the shutdown flag at least every
//! [`POLL_INTERVAL_MS`].

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, warn};
use tun_rs::{GROTable, SyncDevice, VIRTIO_NET_HDR_LEN};

use super::batch::{TunBatch, TUN_HEADROOM};
use super::endpoint::Endpoint;
use super::fib::TunnelId;
use super::inbound::InJob;
use super::outbound::OutJob;
use super::pipeline::{next_job, Emitter, Job, Lane, Pool};
use super::{Dataplane, ProbeKind, Sink};

/// Packets (TUN segments, or datagrams) handled as one batch.
pub const BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;
/// Datagrams (each possibly a GRO train of up to 64 of them) one recvmmsg
/// may return: at most 512 datagrams per job.
const RX_MESSAGES: usize = 8;
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
    /// When it was read (a probe's round trip ends here).
    pub received: Instant,
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
        send_one(self.dataplane, endpoint, to, datagram);
    }

    fn probe(&mut self, tunnel: TunnelId, kind: ProbeKind, payload: &[u8]) {
        (self.probe)(ProbeReceived {
            tunnel,
            kind,
            payload: payload.to_vec(),
            received: Instant::now(),
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

/// Jobs in flight per reader: enough to keep every worker busy, few enough
/// that a tunnel's counters stay inside the replay window. Out: 4 jobs of
/// at most 2 x [`BATCH`] packets, 1,024 counters per lane, 4,096 with the
/// most TUN queues allowed while the lanes keep pace (kernel WireGuard's
/// and wireguard-go's windows are 8,128; one lane is always in counter
/// order; nothing holds a lane back for a delayed one, so several TUN
/// queues stay opt-in). In: 8 jobs of at most
/// 512 datagrams, 4,096 (our window: 8,128).
const OUT_JOBS_PER_LANE: usize = 4;
/// Segments of one outgoing job: room for two reads of a full batch.
const OUT_SEGMENTS: usize = 2 * BATCH;
const IN_JOBS_PER_LANE: usize = 8;

/// Told the name of a reader thread that ended while the gateway was not
/// stopping (its device gone, a panic): forwarding in that direction has
/// stopped, and the driver stops the gateway for it.
pub type OnEnded = Arc<dyn Fn(&str) + Send + Sync>;

/// Held by each reader thread; dropped (the reader returned or unwound)
/// while the gateway is not stopping, it tells [`OnEnded`]. Without it the
/// process ran on, its control loop keeping systemd's watchdog happy, with
/// nothing forwarded.
struct Lifeline {
    name: String,
    shutdown: Arc<AtomicBool>,
    on_ended: OnEnded,
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        if !self.shutdown.load(Ordering::Relaxed) {
            (self.on_ended)(&self.name);
        }
    }
}

/// Starts the worker pool (`workers` threads; 0: every reader does its own
/// crypto), a reader for the TUN device's queue and for each of
/// `extra_queues`, and one reader per endpoint socket. Decrypted packets
/// are written through the queue of their flow (see [`BatchSink`]).
pub fn spawn(
    dataplane: Arc<Dataplane>,
    tun: Arc<SyncDevice>,
    extra_queues: Vec<SyncDevice>,
    probes: Arc<ProbeHandler>,
    shutdown: Arc<AtomicBool>,
    workers: usize,
    on_ended: OnEnded,
) -> io::Result<Vec<JoinHandle<()>>> {
    tun.set_nonblocking(true)?;
    let mut queues = vec![tun.clone()];
    for queue in extra_queues {
        queue.set_nonblocking(true)?;
        queues.push(Arc::new(queue));
    }
    let mut threads = Vec::new();
    let pool = if workers > 0 {
        let (pool, handles) = Pool::spawn(workers, shutdown.clone())?;
        threads.extend(handles);
        Some(pool)
    } else {
        None
    };
    let segment_len = usize::from(tun.mtu().unwrap_or(1500)).max(1500);
    for (n, queue) in queues.iter().enumerate() {
        let jobs = (0..OUT_JOBS_PER_LANE)
            .map(|_| OutJob::new(OUT_SEGMENTS, segment_len))
            .collect();
        let lane = Lane::new(dataplane.clone(), jobs, OutEmitter);
        let (dp, queue, probes, shutdown, pool) = (
            dataplane.clone(),
            queue.clone(),
            probes.clone(),
            shutdown.clone(),
            pool.clone(),
        );
        let name = if n == 0 {
            "tun-rx".to_string()
        } else {
            format!("tun-rx-{n}")
        };
        let lifeline = Lifeline {
            name: name.clone(),
            shutdown: shutdown.clone(),
            on_ended: on_ended.clone(),
        };
        threads.push(std::thread::Builder::new().name(name).spawn(move || {
            let _lifeline = lifeline;
            tun_reader(
                &dp,
                &lane,
                pool.as_deref(),
                &queue,
                probes.as_ref(),
                &shutdown,
            )
        })?);
    }
    for (index, ep) in dataplane.endpoints.iter().enumerate() {
        for socket in 0..ep.sockets().count() {
            let jobs = (0..IN_JOBS_PER_LANE)
                .map(|_| InJob::new(index, RX_MESSAGES * MAX_PACKET))
                .collect();
            let emitter = InEmitter {
                sink: BatchSink::new(&queues, probes.clone()),
            };
            let lane = Lane::new(dataplane.clone(), jobs, emitter);
            let (dp, tun, probes, shutdown, pool) = (
                dataplane.clone(),
                tun.clone(),
                probes.clone(),
                shutdown.clone(),
                pool.clone(),
            );
            let name = if socket == 0 {
                format!("udp-rx-{index}")
            } else {
                format!("udp-rx-{index}-{socket}")
            };
            let lifeline = Lifeline {
                name: name.clone(),
                shutdown: shutdown.clone(),
                on_ended: on_ended.clone(),
            };
            threads.push(std::thread::Builder::new().name(name).spawn(move || {
                let _lifeline = lifeline;
                let reader = EndpointReader {
                    dp: &dp,
                    index,
                    socket,
                    lane: &lane,
                    pool: pool.as_deref(),
                };
                reader.run(&tun, probes.as_ref(), &shutdown)
            })?);
        }
    }
    Ok(threads)
}

/// Sends an outbound lane's jobs: each job's GSO runs, in order.
struct OutEmitter;

impl Emitter for OutEmitter {
    type Job = OutJob;

    fn emit(&mut self, dp: &Dataplane, job: &mut OutJob) {
        let udp = job.udp();
        if udp.is_empty() {
            return;
        }
        let deadline = Instant::now() + SEND_WAIT;
        for (run, bytes) in udp.runs() {
            if let Some(ep) = dp.endpoints.get(run.endpoint) {
                send_run(ep, run.to, bytes, run.segment, run.count, deadline);
            }
        }
    }

    fn flush(&mut self, _dp: &Dataplane) {}
}

/// Writes an inbound lane's jobs to the TUN device, in order, coalesced.
struct InEmitter {
    sink: BatchSink,
}

impl Emitter for InEmitter {
    type Job = InJob;

    fn emit(&mut self, dp: &Dataplane, job: &mut InJob) {
        dp.finish_in(
            job,
            &mut BoundSink {
                dp,
                sink: &mut self.sink,
            },
        );
    }

    fn flush(&mut self, dp: &Dataplane) {
        self.sink.flush_tun(dp);
    }
}

/// The inbound emitter's TUN output: decrypted packets queued per TUN queue
/// and written in one coalescing write per queue and run of jobs.
///
/// Each packet is written through the queue its flow hashes to, both
/// directions alike ([`super::flow_queue`]): the kernel sends a flow's
/// packets to the queue that last wrote one of them, so the flow's other
/// direction is read from that queue too, and flows spread over the
/// queues' readers (written all through one queue, every flow would be
/// read from it).
pub struct BatchSink {
    queues: Vec<Queued>,
    probe: Arc<ProbeHandler>,
}

/// One TUN queue and what waits to be written to it.
struct Queued {
    tun: Arc<SyncDevice>,
    out: TunBatch,
    /// Made at the first write: about 1 MB, which a queue that is never
    /// written to does without.
    gro: Option<Box<GROTable>>,
}

impl BatchSink {
    /// A sink writing through `queues` (at least one).
    pub fn new(queues: &[Arc<SyncDevice>], probe: Arc<ProbeHandler>) -> Self {
        BatchSink {
            queues: queues
                .iter()
                .map(|tun| Queued {
                    tun: tun.clone(),
                    out: TunBatch::new(BATCH),
                    gro: None,
                })
                .collect(),
            probe,
        }
    }

    fn flush_tun(&mut self, dp: &Dataplane) {
        for q in &mut self.queues {
            q.flush(dp);
        }
    }
}

impl Queued {
    fn flush(&mut self, dp: &Dataplane) {
        if self.out.is_empty() {
            return;
        }
        let queued = self.out.queued();
        let packets = queued.len() as u64;
        let gro = self.gro.get_or_insert_with(Box::default);
        if let Err(e) = self.tun.send_multiple(gro, queued, TUN_HEADROOM) {
            // Counted as the whole batch: a failed coalescing write may
            // have lost them all.
            dp.counters
                .tun_write_failed
                .fetch_add(packets, Ordering::Relaxed);
            debug!(error = %e, "TUN write failed");
        }
        self.out.clear();
    }
}

/// A [`BatchSink`] with the data path it writes for.
struct BoundSink<'a> {
    dp: &'a Dataplane,
    sink: &'a mut BatchSink,
}

impl Sink for BoundSink<'_> {
    fn to_tun(&mut self, packet: &[u8]) {
        let n = self.sink.queues.len();
        let Some(q) = self.sink.queues.get_mut(super::flow_queue(packet, n)) else {
            return;
        };
        if !q.out.push(packet) {
            q.flush(self.dp);
            q.out.push(packet);
        }
    }

    fn to_network(&mut self, endpoint: usize, to: SocketAddr, datagram: &[u8]) {
        send_one(self.dp, endpoint, to, datagram);
    }

    fn probe(&mut self, tunnel: TunnelId, kind: ProbeKind, payload: &[u8]) {
        (self.sink.probe)(ProbeReceived {
            tunnel,
            kind,
            payload: payload.to_vec(),
            received: Instant::now(),
        });
    }
}

/// Sends one datagram at once (handshakes, keepalives, probes).
fn send_one(dp: &Dataplane, endpoint: usize, to: SocketAddr, datagram: &[u8]) {
    let Some(ep) = dp.endpoints.get(endpoint) else {
        return;
    };
    if let Err(e) = ep.socket.send_to(datagram, to) {
        ep.counters.tx_failed.fetch_add(1, Ordering::Relaxed);
        debug!(endpoint = %ep.name, %to, error = %e, "send failed");
    }
}

/// Sends `count` datagrams of `segment` bytes (the last may be shorter) in
/// one system call. While the socket buffer is full the send is retried
/// until `deadline` (one per job), then the run is dropped and counted.
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

fn tun_reader(
    dp: &Dataplane,
    lane: &Arc<Lane<OutEmitter>>,
    pool: Option<&Pool>,
    tun: &SyncDevice,
    probes: &ProbeHandler,
    shutdown: &AtomicBool,
) {
    let mut original = vec![0u8; VIRTIO_NET_HDR_LEN + MAX_PACKET];
    // Handshakes the reader starts go out at once.
    let mut direct = IoSink {
        dataplane: dp,
        tun,
        probe: probes,
    };
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
        let Some((seq, mut job)) = next_job(lane, pool, shutdown) else {
            return;
        };
        // A segment is at most one MTU; a super-packet splits into at most
        // BATCH of them, so reading goes on only while that many are free.
        let mut count = 0;
        while count + BATCH <= job.bufs.count() {
            let out = &mut *job;
            // Every free segment is offered (a super-packet of small
            // segments may need more than BATCH); tun_rs wants as many
            // lengths as buffers.
            let free = (out.bufs.count() - count).min(OUT_SEGMENTS);
            let mut window = out.bufs.window::<OUT_SEGMENTS>(count);
            let (Some(bufs), Some(lens)) = (
                window.get_mut(..free),
                out.sizes.get_mut(count..count + free),
            ) else {
                break;
            };
            match tun.recv_multiple(&mut original, bufs, lens, 0) {
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
        job.count = count;
        if count == 0 {
            continue;
        }
        let fib = dp.fib.load();
        dp.prepare_out(&fib, &mut job, Instant::now(), &mut direct);
        let len = job.packets();
        drop(job);
        if len > 0 {
            lane.submit(seq, len, pool);
        }
    }
}

/// One reader of one socket of an endpoint.
struct EndpointReader<'a> {
    dp: &'a Dataplane,
    /// The endpoint's index.
    index: usize,
    /// Which of its sockets.
    socket: usize,
    lane: &'a Arc<Lane<InEmitter>>,
    pool: Option<&'a Pool>,
}

impl EndpointReader<'_> {
    fn run(&self, tun: &SyncDevice, probes: &ProbeHandler, shutdown: &AtomicBool) {
        let (dp, lane, pool) = (self.dp, self.lane, self.pool);
        let Some(ep) = dp.endpoints.get(self.index) else {
            return;
        };
        let Some((socket, udp)) = ep.sockets().nth(self.socket) else {
            return;
        };
        let mut metas = [quinn_udp::RecvMeta::default(); RX_MESSAGES];
        let mut direct = IoSink {
            dataplane: dp,
            tun,
            probe: probes,
        };
        let fd = socket.as_raw_fd();
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
            let Some((seq, mut job)) = next_job(lane, pool, shutdown) else {
                return;
            };
            let received = {
                let mut chunks = job.storage.chunks_mut(MAX_PACKET);
                let mut iovs: [IoSliceMut; RX_MESSAGES] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                udp.recv(socket.into(), &mut iovs, &mut metas)
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
            job.datagrams.clear();
            for (m, meta) in metas.iter().enumerate().take(messages) {
                // GRO joins datagrams of one sender: `stride` bytes each, the
                // last perhaps shorter.
                let base = m * MAX_PACKET;
                let len = meta.len.min(MAX_PACKET);
                let stride = if meta.stride == 0 { len } else { meta.stride }.max(1);
                let mut at = 0;
                while at < len {
                    let end = (at + stride).min(len);
                    job.datagrams.push((base + at..base + end, meta.addr));
                    at = end;
                }
            }
            dp.prepare_in(&mut job, Instant::now(), &mut direct);
            let len = job.packets();
            drop(job);
            if len > 0 {
                lane.submit(seq, len, pool);
            }
        }
    }
}
