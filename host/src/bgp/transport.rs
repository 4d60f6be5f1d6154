//! What a BGP speaker and the transport under it say to each other, as
//! values: the speaker (sans-IO) emits [`TransportAction`]s and takes
//! [`TransportEvent`]s; the driver's transport (`driver::transport`) does
//! the TCP work and reports back. No stream, socket or thread appears here,
//! so the speaker is tested with scripted events.
//!
//! Connections are numbered. The speaker numbers the connections it opens
//! (from 1); the transport numbers those a listener accepts, in a range of
//! their own (`(peer + 1) << 40` onward), so numbers never collide. An
//! event of a connection that has since been replaced or closed carries its
//! old number, so the speaker can ignore it.

use std::net::{IpAddr, SocketAddr};

/// A BGP session: its index among the speaker's peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub usize);

impl PeerId {
    /// The index into the speaker's list of peers.
    pub fn index(self) -> usize {
        self.0
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer #{}", self.0)
    }
}
/// A connection's number, unique for the life of the process.
pub type ConnId = u64;

/// What the transport must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportAction {
    /// Listen on `local` for the peer at `remote` (a passive session);
    /// connections from any other address are refused.
    Listen {
        peer: PeerId,
        local: SocketAddr,
        remote: IpAddr,
    },
    /// Open a connection from `local` to `remote`, numbered `conn`.
    Connect {
        peer: PeerId,
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Make the reported connection `conn` the session's (closing any
    /// previous one) and start reading it.
    Adopt { peer: PeerId, conn: ConnId },
    /// Drop a reported connection the session does not take.
    Refuse { conn: ConnId },
    /// Queue bytes on the session's connection (dropped if it has none).
    Write { peer: PeerId, bytes: Vec<u8> },
    /// Close the session's connection after writing what is queued.
    Close { peer: PeerId },
    /// Stop listening for the peer (its session was removed); the address
    /// is free again when this returns.
    Unlisten { peer: PeerId },
}

/// What happened to a session's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// An outgoing connection is up, or a listener accepted one from the
    /// expected address: the speaker answers `Adopt` or `Refuse`.
    Connected { peer: PeerId, conn: ConnId },
    /// An outgoing connection attempt failed.
    ConnectFailed {
        peer: PeerId,
        conn: ConnId,
        error: String,
    },
    /// A listener could not be set up.
    ListenFailed { peer: PeerId, error: String },
    /// Bytes read from an adopted connection.
    Data {
        peer: PeerId,
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// An adopted connection was closed by the peer or failed (also when
    /// an `Adopt` could not be carried out).
    Closed { peer: PeerId, conn: ConnId },
    /// A `Write` could not be queued: the peer stopped reading what we have
    /// to say (or the writer stopped). The connection is to be dropped.
    WriteFailed { peer: PeerId, conn: ConnId },
}
