//! The data path's threads: one reads the TUN device, one reads each endpoint,
//! each in batches, and passes packets to [`Dataplane`].
//!
//! This module owns the real file descriptors' readiness, the per-thread
//! buffers (allocated once, reused for every batch) and the sink that writes to
//! the TUN device and the sockets. It holds no protocol logic. Each thread
//! checks the shutdown flag at least every [`POLL_INTERVAL_MS`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tracing::{debug, warn};
use tun_rs::SyncDevice;

use super::fib::TunnelId;
use super::{Dataplane, ProbeKind, Sink, SCRATCH_LEN};

/// Packets read per batch before they are processed together.
pub const BATCH: usize = 64;
/// Largest packet read from the TUN device or a socket.
const MAX_PACKET: usize = 65_536;
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
        if let Err(e) = self.tun.send(packet) {
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
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
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
            && pfd.revents & libc::POLLIN == 0 =>
        {
            Err(io::Error::other(format!(
                "descriptor failed (poll revents {:#x})",
                pfd.revents
            )))
        }
        _ => Ok(true),
    }
}

/// A reusable set of packet buffers for one batch.
struct Batch {
    bufs: Vec<Vec<u8>>,
    lens: [usize; BATCH],
    from: Vec<Option<SocketAddr>>,
    len: usize,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            bufs: (0..BATCH).map(|_| vec![0u8; MAX_PACKET]).collect(),
            lens: [0; BATCH],
            from: vec![None; BATCH],
            len: 0,
        }
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

fn tun_reader(dp: &Dataplane, tun: &SyncDevice, probes: &ProbeHandler, shutdown: &AtomicBool) {
    let mut batch = Batch::new();
    let mut scratch = vec![0u8; SCRATCH_LEN];
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
        batch.len = 0;
        while batch.len < BATCH {
            let i = batch.len;
            match tun.recv(&mut batch.bufs[i]) {
                Ok(n) => {
                    batch.lens[i] = n;
                    batch.len += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!(error = %e, "TUN read failed");
                    break;
                }
            }
        }
        let mut sink = IoSink {
            dataplane: dp,
            tun,
            probe: probes,
        };
        let fib = dp.fib.load();
        for i in 0..batch.len {
            let len = batch.lens[i];
            if let Some(pkt) = batch.bufs[i].get_mut(..len) {
                dp.handle_tun_packet(&fib, pkt, &mut scratch, &mut sink);
            }
        }
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
    let mut batch = Batch::new();
    let mut scratch = vec![0u8; SCRATCH_LEN];
    let fd = ep.socket.as_raw_fd();
    while !shutdown.load(Ordering::Relaxed) {
        match wait_readable(fd, POLL_INTERVAL_MS) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                warn!(endpoint = %ep.name, error = %e, "socket poll failed; stopping its reader");
                return;
            }
        }
        batch.len = 0;
        while batch.len < BATCH {
            let i = batch.len;
            match ep.socket.recv_from(&mut batch.bufs[i]) {
                Ok((n, from)) => {
                    batch.lens[i] = n;
                    batch.from[i] = Some(from);
                    batch.len += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors for earlier sends surface here (e.g. port
                // unreachable while the peer restarts): not fatal.
                Err(e) => {
                    debug!(endpoint = %ep.name, error = %e, "receive failed");
                    break;
                }
            }
        }
        let mut sink = IoSink {
            dataplane: dp,
            tun,
            probe: probes,
        };
        let fib = dp.fib.load();
        for i in 0..batch.len {
            let (len, from) = (batch.lens[i], batch.from[i]);
            if let (Some(datagram), Some(from)) = (batch.bufs[i].get(..len), from) {
                dp.handle_datagram(&fib, index, from, datagram, &mut scratch, &mut sink);
            }
        }
    }
}
