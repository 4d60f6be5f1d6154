//! The transport's events for the speaker's sessions: a connection made,
//! refused, closed or failing, bytes received. Collisions are settled as
//! RFC 4271 section 6.8 says (the connection in place wins), a passive
//! session's peer connecting again while established has restarted (RFC
//! 4724, `graceful`) and before that has tried again (either way the new
//! connection is taken), and a peer that stops reading is dropped as
//! wedged.

use std::time::Instant;

use tracing::{info, warn};

use super::{graceful, Speaker};
use crate::bgp::fsm::State;
use crate::bgp::transport::{ConnId, PeerId, TransportAction, TransportEvent};
use crate::policy::FilterSlot;

impl Speaker {
    /// Handles one transport event; true when learned routes changed.
    pub fn on_event(
        &mut self,
        event: TransportEvent,
        now: Instant,
        filter: &mut FilterSlot,
    ) -> bool {
        match event {
            TransportEvent::Connected { peer, conn } => {
                let Some(p) = self.peers.get_mut(peer.index()).filter(|p| !p.retired) else {
                    self.actions.push(TransportAction::Refuse { conn });
                    return false;
                };
                let outgoing = p.attempt == Some(conn);
                // A passive session takes a connection while it waits
                // (Active); anything else is a collision or stale, and the
                // connection in place wins (RFC 4271 section 6.8).
                let incoming_ok =
                    p.settings.passive && p.tcp.is_none() && p.session.state() == State::Active;
                // Only its peer connects to a passive session, so a second
                // connection is no collision: the peer tried again. Before
                // Established (its host restarted after its last connection
                // came up, say), the old one would hold for the OpenSent
                // hold time (240 s) with every retry refused; established,
                // the peer restarted (RFC 4724).
                let retried = p.tcp.is_some()
                    && matches!(p.session.state(), State::OpenSent | State::OpenConfirm);
                if !outgoing && p.settings.passive && (retried || graceful::restarted(p)) {
                    return self.reconnected(peer, conn, now, filter);
                }
                if !(outgoing || incoming_ok) {
                    self.actions.push(TransportAction::Refuse { conn });
                    return false;
                }
                p.attempt = None;
                p.tcp = Some(conn);
                self.actions.push(TransportAction::Adopt { peer, conn });
                let outputs = p.session.tcp_connected(now);
                self.drive(peer.index(), outputs, now, filter)
            }
            TransportEvent::ConnectFailed { peer, conn, error } => {
                let Some(p) = self.peers.get_mut(peer.index()) else {
                    return false;
                };
                if p.attempt != Some(conn) {
                    return false;
                }
                p.attempt = None;
                p.last_error = Some(error);
                let outputs = p.session.tcp_failed(now);
                self.drive(peer.index(), outputs, now, filter)
            }
            TransportEvent::ListenFailed { peer, error } => {
                let Some(p) = self.peers.get_mut(peer.index()) else {
                    return false;
                };
                warn!(tunnel = %p.tunnel_name, error = %error,
                    "cannot listen for BGP: the session will not come up");
                p.last_error = Some(error);
                false
            }
            TransportEvent::Data { peer, conn, bytes } => {
                let Some(p) = self.peers.get_mut(peer.index()) else {
                    return false;
                };
                if p.tcp != Some(conn) {
                    return false;
                }
                let outputs = p.session.received(&bytes, now);
                self.drive(peer.index(), outputs, now, filter)
            }
            TransportEvent::Closed { peer, conn } => {
                let Some(p) = self.peers.get_mut(peer.index()) else {
                    return false;
                };
                if p.tcp != Some(conn) {
                    return false;
                }
                p.tcp = None;
                self.actions.push(TransportAction::Close { peer });
                let outputs = p.session.tcp_failed(now);
                self.drive(peer.index(), outputs, now, filter)
            }
            TransportEvent::WriteFailed { peer, conn } => {
                let Some(p) = self.peers.get_mut(peer.index()) else {
                    return false;
                };
                if p.tcp != Some(conn) {
                    return false;
                }
                // The peer stopped reading what we have to say: wedged, not
                // restarting, so its routes do not stay as stale (as a hold
                // timer expiry would have cleared them).
                const WHY: &str = "the peer does not read: connection dropped";
                p.tcp = None;
                self.actions.push(TransportAction::Close { peer });
                let outputs = p.session.tcp_failed(now);
                let changed = self.drive(peer.index(), outputs, now, filter);
                // Said after the session's own reason (a closed
                // connection), which it is more precise than.
                if let Some(p) = self.peers.get_mut(peer.index()) {
                    p.last_error = Some(WHY.into());
                }
                self.gr_end(peer.index(), "the peer does not read") || changed
            }
        }
    }

    /// The peer of a passive session connected again while a connection
    /// was in place (see `on_event`): the old connection is closed as if
    /// the peer had closed it (an established session's routes kept as
    /// stale by its graceful restart), and the new one is taken.
    fn reconnected(
        &mut self,
        peer: PeerId,
        conn: ConnId,
        now: Instant,
        filter: &mut FilterSlot,
    ) -> bool {
        let id = peer.index();
        let Some(p) = self.peers.get_mut(id) else {
            return false;
        };
        info!(tunnel = %p.tunnel_name, connection = %p.connection_name,
            state = ?p.session.state(),
            "BGP peer connected again: the old connection is closed and the new one taken");
        p.tcp = None;
        self.actions.push(TransportAction::Close { peer });
        let outputs = p.session.tcp_failed(now);
        let mut changed = self.drive(id, outputs, now, filter);
        let Some(p) = self.peers.get_mut(id) else {
            return changed;
        };
        // Passive: waiting again (Active) at once, not after the idle hold.
        let outputs = p.session.start(now);
        changed |= self.drive(id, outputs, now, filter);
        let Some(p) = self.peers.get_mut(id) else {
            return changed;
        };
        p.tcp = Some(conn);
        self.actions.push(TransportAction::Adopt { peer, conn });
        let outputs = p.session.tcp_connected(now);
        changed | self.drive(id, outputs, now, filter)
    }
}
