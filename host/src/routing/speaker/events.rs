//! The transport's events for the speaker's sessions: a connection made,
//! refused, closed or failing, bytes received. Collisions are settled as
//! RFC 4271 section 6.8 says (the connection in place wins), a passive
//! session's peer connecting again while established has restarted (RFC
//! 4724, `graceful`), and a peer that stops reading is dropped as wedged.

use std::time::Instant;

use tracing::warn;

use super::{graceful, Speaker};
use crate::bgp::fsm::State;
use crate::bgp::transport::{TransportAction, TransportEvent};
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
                if !outgoing && p.settings.passive && graceful::restarted(p) {
                    return self.gr_reconnected(peer, conn, now, filter);
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
}
