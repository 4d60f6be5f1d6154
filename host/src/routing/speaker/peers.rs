//! The speaker's sessions as the config makes them: one per tunnel of each
//! running dynamic connection, added and retired by a reload.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use tracing::info;

use super::{Accepted, BgpPeer, Speaker};
use crate::bgp::fsm::{Session, SessionConfig};
use crate::bgp::message::{error_code, Notification};
use crate::bgp::rib::{AdjRibIn, AdjRibOut};
use crate::bgp::transport::{PeerId, TransportAction};
use crate::config::{GatewayConfig, SessionAddresses};
use crate::policy::{FilterSlot, Peer};
use crate::routing::wit_route;
use crate::topology::{TunnelId, TunnelInfo};

/// The session over `t`, if its connection is dynamic and running.
pub(super) fn peer_for(cfg: &GatewayConfig, t: &TunnelInfo) -> Option<BgpPeer> {
    let conn = cfg
        .connections
        .get(t.connection.index())
        .filter(|c| c.is_live())?;
    let settings = conn.bgp.clone()?;
    let mut session_cfg =
        SessionConfig::new(settings.local_asn, settings.remote_asn, cfg.bgp.router_id);
    session_cfg.hold_time = cfg.bgp.hold_time;
    session_cfg.passive = settings.passive;
    let addresses = match (settings.session, t.inside_ipv6) {
        (SessionAddresses::Ipv6, Some(v6)) => (IpAddr::V6(v6.local), IpAddr::V6(v6.remote)),
        _ => (IpAddr::V4(t.inside_local), IpAddr::V4(t.inside_remote)),
    };
    session_cfg.extended_next_hop = addresses.0.is_ipv6();
    session_cfg.graceful_restart = settings
        .graceful_restart
        .map(|_| super::HELPER_RESTART_TIME);
    Some(BgpPeer {
        tunnel: t.id,
        tunnel_name: t.inside_cidr.to_string(),
        connection: t.connection,
        connection_name: conn.name.clone(),
        local: t.inside_local,
        addresses,
        next_hops: super::export::NextHops::new(t.inside_local, t.inside_ipv6.map(|i| i.local)),
        session: Session::new(session_cfg),
        tcp: None,
        attempt: None,
        last_warned: None,
        refresh_log: (None, 0),
        adj_in: AdjRibIn::default(),
        accepted: Accepted::default(),
        adj_out: AdjRibOut::default(),
        export_job: None,
        to_filter: VecDeque::new(),
        refilter: None,
        drained: false,
        retired: false,
        last_error: None,
        filter_peer: Peer {
            connection: conn.name.clone(),
            tunnel: t.inside_cidr.to_string(),
            asn: settings.remote_asn,
            address: wit_route::to_address(addresses.1),
        },
        settings,
        peer_gr: None,
        restart: None,
        sweeping: Vec::new(),
        retry: Default::default(),
    })
}

impl Speaker {
    /// Sessions for the tunnels a reload added (of dynamic connections),
    /// started; the ones already running are untouched.
    pub fn add_tunnels(
        &mut self,
        cfg: &GatewayConfig,
        tunnels: &[TunnelInfo],
        now: Instant,
        filter: &mut FilterSlot,
    ) {
        let first = self.peers.len();
        self.peers
            .extend(tunnels.iter().filter_map(|t| peer_for(cfg, t)));
        for id in first..self.peers.len() {
            self.start_peer(id, now, filter);
        }
    }

    /// The sessions over tunnels a reload removed: each says goodbye (Cease
    /// / peer de-configured, RFC 4486), its connection and listener close,
    /// its routes are withdrawn, and it never starts again.
    pub fn retire_tunnels(&mut self, tunnels: &[TunnelId], now: Instant, filter: &mut FilterSlot) {
        for id in 0..self.peers.len() {
            let Some(p) = self.peers.get_mut(id) else {
                continue;
            };
            if p.retired || !tunnels.contains(&p.tunnel) {
                continue;
            }
            p.retired = true;
            info!(tunnel = %p.tunnel_name, connection = %p.connection_name,
                "connection removed: BGP session closed");
            p.last_error = Some("the connection was removed from the config".into());
            let passive = p.settings.passive;
            let cease =
                Notification::new(error_code::CEASE, error_code::PEER_DECONFIGURED, Vec::new());
            let outputs = p.session.stop(Some(cease), None, now);
            self.drive(id, outputs, now, filter);
            self.gr_end(id, "connection removed");
            if passive {
                self.actions
                    .push(TransportAction::Unlisten { peer: PeerId(id) });
            }
        }
    }
}
