//! The thin I/O shell under the BGP sessions: TCP connections over the
//! tunnels' inside addresses (the kernel's TCP, routed into sitelink's TUN
//! and through the tunnel), one reader and one writer thread per
//! connection, one listener per passive session. It carries out the
//! speaker's [`TransportAction`]s and reports what happened through a
//! callback ([`Report`]); the control thread turns reports into the
//! speaker's [`TransportEvent`]s ([`Transport::receive`]), keeping the
//! streams of reported connections until the speaker adopts or refuses
//! them. It never interprets a byte: framing and the protocol are the
//! FSM's (`bgp::fsm`), and it must not touch the RIB or the FIB.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::bgp::transport::{ConnId, PeerId, TransportAction, TransportEvent};
use tracing::{debug, warn};

/// How long an outgoing connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a listener looks at the shutdown flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
/// Read size.
const READ_CHUNK: usize = 16 * 1024;
/// Messages queued for one connection at most. A peer that stops reading
/// while we have this much to say is treated as gone.
const WRITE_QUEUE: usize = 4096;
/// Shortest time between two log lines about refused connections.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Longest a single write may block before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the transport's threads report.
pub enum Report {
    /// A connection is up (outgoing, or accepted from the expected
    /// address); its stream waits in the transport for the speaker's word.
    Connected {
        peer: PeerId,
        conn: ConnId,
        stream: TcpStream,
    },
    /// Anything else, as the speaker takes it.
    Event(TransportEvent),
}

/// Where reports go. It may block (the readers then stop reading, and TCP
/// pushes back on the peer).
pub type Notify = Arc<dyn Fn(Report) + Send + Sync>;

struct Live {
    id: ConnId,
    writer: SyncSender<Vec<u8>>,
    stream: TcpStream,
}

/// The connections of every session.
pub struct Transport {
    notify: Notify,
    shutdown: Arc<AtomicBool>,
    live: HashMap<PeerId, Live>,
    /// Listening sessions: the listener thread's stop flag and handle.
    listeners: HashMap<PeerId, (Arc<AtomicBool>, thread::JoinHandle<()>)>,
    /// Reported connections waiting for `Adopt` or `Refuse`.
    pending: HashMap<ConnId, TcpStream>,
}

/// Reported connections kept waiting at most; beyond, the oldest go.
const PENDING_MAX: usize = 64;

impl Transport {
    pub fn new(notify: Notify, shutdown: Arc<AtomicBool>) -> Transport {
        Transport {
            notify,
            shutdown,
            live: HashMap::new(),
            listeners: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Turns a report into the speaker's event, keeping a new connection's
    /// stream until the speaker adopts or refuses it.
    pub fn receive(&mut self, report: Report) -> TransportEvent {
        match report {
            Report::Connected { peer, conn, stream } => {
                if self.pending.len() >= PENDING_MAX {
                    // The speaker answers every report; this only bounds a bug.
                    if let Some(oldest) = self.pending.keys().min().copied() {
                        self.drop_pending(oldest);
                    }
                }
                self.pending.insert(conn, stream);
                TransportEvent::Connected { peer, conn }
            }
            Report::Event(event) => event,
        }
    }

    /// Carries out one of the speaker's actions; what failed at once comes
    /// back as the event the speaker must see.
    pub fn execute(&mut self, action: TransportAction) -> Option<TransportEvent> {
        match action {
            TransportAction::Listen {
                peer,
                local,
                remote,
            } => self
                .listen(peer, local, remote)
                .err()
                .map(|e| TransportEvent::ListenFailed {
                    peer,
                    error: format!("cannot listen on {local}: {e}"),
                }),
            TransportAction::Connect {
                peer,
                conn,
                local,
                remote,
            } => self.connect(peer, conn, local, remote).err().map(|e| {
                TransportEvent::ConnectFailed {
                    peer,
                    conn,
                    error: format!("cannot start a connection: {e}"),
                }
            }),
            TransportAction::Adopt { peer, conn } => {
                let adopted = match self.pending.remove(&conn) {
                    Some(stream) => self.adopt(peer, conn, stream).is_ok(),
                    None => false,
                };
                (!adopted).then_some(TransportEvent::Closed { peer, conn })
            }
            TransportAction::Refuse { conn } => {
                self.drop_pending(conn);
                None
            }
            TransportAction::Write { peer, bytes } => {
                let conn = self.current(peer)?;
                self.write(peer, bytes)
                    .is_err()
                    .then_some(TransportEvent::WriteFailed { peer, conn })
            }
            TransportAction::Close { peer } => {
                self.close(peer);
                None
            }
            TransportAction::Unlisten { peer } => {
                self.close(peer);
                if let Some((stop, handle)) = self.listeners.remove(&peer) {
                    stop.store(true, Ordering::Relaxed);
                    // At most one accept poll: the address must be free
                    // for a session that listens on it next.
                    let _ = handle.join();
                }
                None
            }
        }
    }

    fn drop_pending(&mut self, conn: ConnId) {
        if let Some(stream) = self.pending.remove(&conn) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Starts an outgoing connection from `local` to `remote` in the
    /// background. The outcome arrives as a report.
    fn connect(
        &mut self,
        peer: PeerId,
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> io::Result<()> {
        let notify = self.notify.clone();
        thread::Builder::new()
            .name(format!("bgp-connect-{peer}"))
            .spawn(move || {
                let report = match connect(local, remote) {
                    Ok(stream) => Report::Connected { peer, conn, stream },
                    Err(e) => Report::Event(TransportEvent::ConnectFailed {
                        peer,
                        conn,
                        error: format!("cannot connect to {remote}: {e}"),
                    }),
                };
                notify(report);
            })?;
        Ok(())
    }

    /// Listens on `local` for the peer at `remote`; connections from any
    /// other address are refused. Each accepted one is reported as
    /// `Connected` with a new number.
    fn listen(&mut self, peer: PeerId, local: SocketAddr, remote: IpAddr) -> io::Result<()> {
        let listener = listener(local)?;
        let notify = self.notify.clone();
        let shutdown = self.shutdown.clone();
        // Numbers for accepted connections come from a range of their own
        // per listener, so the listener thread needs no shared counter.
        let base = (peer.index() as u64 + 1) << 40;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = thread::Builder::new()
            .name(format!("bgp-listen-{peer}"))
            .spawn(move || {
                accept_loop(listener, peer, remote, base, notify, &[&shutdown, &stopped])
            })?;
        self.listeners.insert(peer, (stop, handle));
        Ok(())
    }

    /// Makes `stream` the session's connection (closing any previous one)
    /// and starts reading it. On an error nothing is kept: the caller
    /// treats the connection as failed.
    fn adopt(&mut self, peer: PeerId, conn: ConnId, stream: TcpStream) -> io::Result<()> {
        self.close(peer);
        let _ = stream.set_nodelay(true);
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let reader = stream.try_clone()?;
        let writer_stream = stream.try_clone()?;
        let (tx, rx) = mpsc::sync_channel(WRITE_QUEUE);
        let notify = self.notify.clone();
        let started = thread::Builder::new()
            .name(format!("bgp-read-{peer}"))
            .spawn(move || read_loop(reader, peer, conn, notify))
            .and_then(|_| {
                thread::Builder::new()
                    .name(format!("bgp-write-{peer}"))
                    .spawn(move || write_loop(writer_stream, rx))
            });
        if let Err(e) = started {
            // The reader, if it started, ends on the shutdown.
            let _ = stream.shutdown(Shutdown::Both);
            return Err(e);
        }
        self.live.insert(
            peer,
            Live {
                id: conn,
                writer: tx,
                stream,
            },
        );
        Ok(())
    }

    /// The session's current connection, if any.
    pub fn current(&self, peer: PeerId) -> Option<ConnId> {
        self.live.get(&peer).map(|l| l.id)
    }

    /// Queues bytes on the session's connection (dropped if it has none).
    /// Fails when the queue is full (the peer does not read) or the writer
    /// stopped.
    fn write(&mut self, peer: PeerId, bytes: Vec<u8>) -> Result<(), ()> {
        let Some(live) = self.live.get(&peer) else {
            return Ok(());
        };
        match live.writer.try_send(bytes) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(()),
        }
    }

    /// Closes the session's connection: reading stops at once, what was
    /// queued is still written (within the write timeout), then the socket
    /// is shut down.
    fn close(&mut self, peer: PeerId) {
        if let Some(live) = self.live.remove(&peer) {
            let _ = live.stream.shutdown(Shutdown::Read);
            drop(live.writer);
            debug!(%peer, conn = live.id, "BGP connection closing");
        }
    }

    /// Closes every connection at once (shutdown).
    pub fn close_all(&mut self) {
        for (_, live) in self.live.drain() {
            let _ = live.stream.shutdown(Shutdown::Both);
        }
        for (_, stream) in self.pending.drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn socket_for(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    // The inside address may not be on the TUN yet when a session starts.
    socket.set_freebind(true)?;
    Ok(socket)
}

fn connect(local: SocketAddr, remote: SocketAddr) -> io::Result<TcpStream> {
    let socket = socket_for(local)?;
    socket.bind(&local.into())?;
    socket.connect_timeout(&remote.into(), CONNECT_TIMEOUT)?;
    Ok(socket.into())
}

fn listener(local: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(local)?;
    socket.bind(&local.into())?;
    socket.listen(4)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn accept_loop(
    listener: TcpListener,
    peer: PeerId,
    remote: IpAddr,
    base: ConnId,
    notify: Notify,
    stop: &[&AtomicBool],
) {
    let mut next = base;
    // Refusals are logged at most once per interval: anyone who reaches the
    // inside address could otherwise flood the log.
    let mut last_warned: Option<std::time::Instant> = None;
    while !stop.iter().any(|s| s.load(Ordering::Relaxed)) {
        match listener.accept() {
            Ok((stream, from)) if from.ip() == remote => {
                if stream.set_nonblocking(false).is_err() {
                    continue;
                }
                next += 1;
                notify(Report::Connected {
                    peer,
                    conn: next,
                    stream,
                });
            }
            Ok((stream, from)) => {
                if last_warned.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_INTERVAL) {
                    warn!(%peer, %from, expected = %remote, "BGP connection from an unexpected address refused");
                    last_warned = Some(std::time::Instant::now());
                }
                let _ = stream.shutdown(Shutdown::Both);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                warn!(%peer, error = %e, "BGP listener failed; retrying");
                thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

fn read_loop(mut stream: TcpStream, peer: PeerId, conn: ConnId, notify: Notify) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => notify(Report::Event(TransportEvent::Data {
                peer,
                conn,
                bytes: buf.get(..n).map(<[u8]>::to_vec).unwrap_or_default(),
            })),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    notify(Report::Event(TransportEvent::Closed { peer, conn }));
}

fn write_loop(mut stream: TcpStream, queue: Receiver<Vec<u8>>) {
    while let Ok(bytes) = queue.recv() {
        if stream.write_all(&bytes).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}
