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
/// How long a listener waits after an accept error before it tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
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
    /// Listening sessions.
    listeners: HashMap<PeerId, Listening>,
    /// Reported connections waiting for `Adopt` or `Refuse`.
    pending: HashMap<ConnId, TcpStream>,
}

/// A passive session's listener thread, as the control thread holds it.
/// The thread blocks in `accept` (an idle listener never wakes: it polled
/// ten times a second before); dropping this stops it.
struct Listening {
    stop: Arc<AtomicBool>,
    /// The listening socket (a second handle of it), to shut down.
    socket: TcpListener,
}

impl Drop for Listening {
    /// Stops listening at once, without waiting for the thread: shutting a
    /// listening socket down ends its `accept` (EINVAL) and takes it out of
    /// the listening state, so that a session listening on the address
    /// next can bind it (both sockets have `SO_REUSEADDR`). Nothing waits
    /// for the thread. The control thread joined it before, and could wait
    /// up to a poll (100 ms) with the probes, or for ever had the thread
    /// been blocked handing the control thread a connection.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Err(e) = socket2::SockRef::from(&self.socket).shutdown(Shutdown::Read) {
            let local = self.socket.local_addr().ok();
            warn!(error = %e, ?local, "BGP listener not shut down: it listens until its next connection, and the address stays in use until then");
        }
    }
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
                // Dropped: stopped (see `Listening`).
                self.listeners.remove(&peer);
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
        let socket = listener.try_clone()?;
        let notify = self.notify.clone();
        let shutdown = self.shutdown.clone();
        // Numbers for accepted connections come from a range of their own
        // per listener, so the listener thread needs no shared counter.
        let base = (peer.index() as u64 + 1) << 40;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::Builder::new()
            .name(format!("bgp-listen-{peer}"))
            .spawn(move || {
                accept_loop(listener, peer, remote, base, notify, &[&shutdown, &stopped])
            })?;
        self.listeners.insert(peer, Listening { stop, socket });
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

    /// Closes every connection and stops every listener at once
    /// (shutdown).
    pub fn close_all(&mut self) {
        self.listeners.clear();
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
    let stopped = || stop.iter().any(|s| s.load(Ordering::Acquire));
    while !stopped() {
        let accepted = listener.accept();
        if stopped() {
            break;
        }
        match accepted {
            Ok((stream, from)) if from.ip() == remote => {
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
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                warn!(%peer, error = %e, "BGP listener failed; retrying");
                thread::sleep(ACCEPT_RETRY);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn transport() -> (Transport, mpsc::Receiver<Report>) {
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let notify: Notify = Arc::new(move |r| {
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(r);
            }
        });
        (Transport::new(notify, Arc::new(AtomicBool::new(false))), rx)
    }

    fn free_local_address() -> SocketAddr {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("address")
    }

    fn connected(rx: &mpsc::Receiver<Report>) {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Report::Connected { .. }) => {}
            Ok(Report::Event(e)) => panic!("expected a connection, got {e:?}"),
            Err(e) => panic!("no connection reported: {e}"),
        }
    }

    #[test]
    fn a_listener_stops_at_once_and_frees_its_address_for_the_next() {
        let (mut t, rx) = transport();
        let peer = PeerId(3);
        let local = free_local_address();
        let listen = TransportAction::Listen {
            peer,
            local,
            remote: local.ip(),
        };
        assert_eq!(t.execute(listen.clone()), None);
        let _first = TcpStream::connect(local).expect("connect");
        connected(&rx);
        // Stopping does not wait for the listener thread (the control
        // thread runs the probes), and the address is free at once.
        let started = Instant::now();
        assert_eq!(t.execute(TransportAction::Unlisten { peer }), None);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "unlisten took {took:?}");
        assert_eq!(t.execute(listen), None, "the address is free again");
        let _second = TcpStream::connect(local).expect("connect again");
        connected(&rx);
        t.close_all();
        assert!(
            TcpStream::connect(local).is_err(),
            "nobody listens after close_all"
        );
    }
}
