//! The gateway's BGP speaker: one session per tunnel of each dynamic
//! connection (the sans-IO FSM of `bgp::fsm`), each with its Adj-RIB-In
//! (pre-policy, max-prefix enforced), the routes the import filter accepted,
//! the stored routes waiting to be filtered again, and its Adj-RIB-Out (the
//! gateway's networks after the export filter).
//!
//! Sans-IO like the FSM: it takes transport events, timeouts and liveness
//! changes with the caller's `now`, and emits [`TransportAction`]s
//! ([`Speaker::take_actions`]) for the driver's transport to carry out. A
//! received UPDATE goes into the Adj-RIB-In at once, and its announced
//! routes cross the import filter with the rest of the event's UPDATEs in
//! batches of at most 1,024 (`import::Batch`), recorded before anything
//! else of the session runs: a transport event is at most one read of
//! 16 KiB, so its filter calls are bounded too. Stored routes filtered
//! again (a plugin swap, a refresh, a quarantine) wait in a queue that
//! [`Speaker::filter_queued`] works off in bounded chunks across peers;
//! until the filter has seen one, the route it accepted before stays in
//! force. A withdrawal applies at once.
//!
//! Owns: sessions, Adj-RIB-In/Out, import results. Must not: touch a
//! socket, the FIB or the data path; call plugins other than through the
//! filter it is handed.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tracing::{info, warn};

mod accepted;
mod adopt;
mod check;
mod events;
mod export;
mod export_job;
mod graceful;
mod guard;
mod import;
mod overlay;
mod peers;
mod refilter;
mod reselect;
mod retry;
mod views;

use crate::bgp::codec;
use crate::bgp::fsm::{DownReason, Output, Session, State};
use crate::bgp::message::{error_code, Family, GracefulRestart, Notification, BGP_PORT};
use crate::bgp::rib::{AdjRibIn, AdjRibOut, Prefixes, Walk};
use crate::bgp::transport::{ConnId, PeerId, TransportAction};
use crate::config::{ConnectionBgp, GatewayConfig};
use crate::dataplane::fib::{ConnectionId, TunnelId};
use crate::policy::{FilterSlot, Peer};
use crate::topology::TunnelInfo;
use accepted::Accepted;
pub use export::{DRAIN_MED, DRAIN_PREPEND};
use guard::Guard;
pub use overlay::Overlay;
use peers::peer_for;
use reselect::Reselect;
pub use reselect::SessionsWalk;
pub use views::{DryRunFor, FilterDryRun, Learned};

/// One session and its RIBs.
struct BgpPeer {
    tunnel: TunnelId,
    tunnel_name: String,
    connection: ConnectionId,
    connection_name: String,
    local: Ipv4Addr,
    /// The addresses the session runs between (`[connection.bgp] session`).
    addresses: (IpAddr, IpAddr),
    /// The next hops our routes go out with (`export::NextHops`).
    next_hops: export::NextHops,
    settings: ConnectionBgp,
    session: Session,
    /// The adopted TCP connection, and an outgoing attempt in progress.
    tcp: Option<ConnId>,
    attempt: Option<ConnId>,
    /// When a warning about this peer's routes was last logged (they are
    /// rate-limited: a peer must not flood the log).
    last_warned: Option<Instant>,
    /// When a route refresh answer was last logged, and the answers since
    /// (logged at most once per interval, with the count).
    refresh_log: (Option<Instant>, u64),
    adj_in: AdjRibIn,
    /// Adj-RIB-In after the import filter (its exceptions).
    accepted: Accepted,
    adj_out: AdjRibOut,
    /// Our networks on their way to the peer, a chunk at a time.
    export_job: Option<export_job::ExportJob>,
    /// Drained by the operator: our routes go out with a worse MED and a
    /// prepended AS path, so the peer sends over the other tunnels.
    drained: bool,
    /// Its connection was removed by a reload: stopped for good.
    retired: bool,
    /// Stored prefixes waiting to go through the import filter again (a
    /// filter swap, a refresh, a quarantine), oldest first (a prefix may be
    /// queued twice: the second look changes nothing). Received routes do
    /// not wait here: they cross in `import::Batch`es.
    to_filter: VecDeque<IpNet>,
    /// Every stored route goes through the import filter again: the walk
    /// over the Adj-RIB-In that fills `to_filter` a map at a time, so no
    /// turn lists a million prefixes.
    refilter: Option<Walk>,
    /// When the routes the filter faulted on go through it again.
    retry: retry::FaultRetry,
    last_error: Option<String>,
    /// The peer as filter plugins see it.
    filter_peer: Peer,
    /// The peer's Graceful Restart capability in the last session that
    /// negotiated it (kept across the drop: it says what to keep).
    peer_gr: Option<GracefulRestart>,
    /// A graceful restart in progress: the stale routes kept.
    restart: Option<graceful::Restart>,
    /// Routes on their way out of the Adj-RIB-In a map at a time
    /// (`Speaker::sweep_step`): what a graceful restart swept but for the
    /// whole table. A prefix announced again leaves them.
    sweeping: Vec<Prefixes>,
}

impl BgpPeer {
    /// Routes swept and still in the Adj-RIB-In, on their way out.
    fn leaving(&self) -> usize {
        self.sweeping.iter().map(Prefixes::len).sum()
    }

    /// Whether its accepted routes count: while the session is
    /// established, or while a graceful restart keeps them.
    fn routes_in_force(&self) -> bool {
        self.session.state() == State::Established
            || self.restart.as_ref().is_some_and(|r| r.keeps_routes())
    }

    /// Forgets what the import side holds or has queued for the routes (a
    /// session gone, or its whole table swept): the filter's results, the
    /// prefixes waiting for it (a refilter, a retry), the routes on their
    /// way out. The Adj-RIB-In itself is the caller's to hand over.
    fn forget_import(&mut self) {
        self.sweeping.clear();
        self.accepted.clear();
        self.to_filter.clear();
        self.refilter = None;
        self.retry = Default::default();
    }

    /// Moves the refilter's next stored prefixes (a chunk at least, a map
    /// of the Adj-RIB-In at a time) into `to_filter`; false when no
    /// refilter is under way.
    fn refill(&mut self) -> bool {
        let Some(walk) = self.refilter.as_mut() else {
            return false;
        };
        self.adj_in.walk(walk, FILTER_CHUNK, &mut self.to_filter);
        if walk.is_over() {
            self.refilter = None;
        }
        true
    }
}

pub struct Speaker {
    peers: Vec<BgpPeer>,
    /// Prefixes whose accepted routes may have changed since the control
    /// loop last took them (see [`Speaker::take_dirty`]).
    dirty: Vec<IpNet>,
    /// What the transport must do, in order.
    actions: Vec<TransportAction>,
    /// Session state changes for the tunnel log: (tunnel, state, detail).
    events: Vec<(TunnelId, String, String)>,
    /// The number of the next connection this speaker opens.
    next_conn: ConnId,
    /// Where [`Speaker::filter_queued`] starts, so that peers take turns.
    next_to_filter: usize,
    /// Tables whose every prefix the route selection must look at again,
    /// walked a map at a time into `dirty` ([`Speaker::reselect_step`]) so
    /// that no turn lists a million prefixes.
    reselect: VecDeque<(Reselect, Walk)>,
    /// Received routes waiting for one import-filter call; empty between
    /// events ([`import::Batch`]).
    batch: import::Batch,
    guard: Guard,
    networks: Vec<IpNet>,
    asn: u32,
    router_id: Ipv4Addr,
    /// A checked filter swap lists the route changes (`adopt.rs`).
    tracking: bool,
    /// A checked filter swap's dry-run results being recorded.
    adopting: Option<adopt::Adopt>,
    /// What abandoned adoptions had left, for the gateway to free.
    abandoned: Vec<Overlay>,
}

fn family_of(prefix: &IpNet) -> Family {
    match prefix {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}

impl Speaker {
    /// A session for every tunnel of every dynamic connection (none started).
    pub fn new(cfg: &GatewayConfig, tunnels: &[TunnelInfo]) -> Speaker {
        let peers = tunnels.iter().filter_map(|t| peer_for(cfg, t)).collect();
        Speaker {
            peers,
            dirty: Vec::new(),
            actions: Vec::new(),
            events: Vec::new(),
            next_conn: 1,
            next_to_filter: 0,
            reselect: VecDeque::new(),
            batch: import::Batch::default(),
            guard: Guard::new(cfg),
            networks: cfg.bgp.networks.clone(),
            asn: cfg.bgp.asn,
            router_id: cfg.bgp.router_id,
            tracking: false,
            adopting: None,
            abandoned: Vec::new(),
        }
    }

    /// Starts every session (passive ones listen on their inside address).
    pub fn start(&mut self, now: Instant, filter: &mut FilterSlot) {
        for id in 0..self.peers.len() {
            self.start_peer(id, now, filter);
        }
    }

    fn start_peer(&mut self, id: usize, now: Instant, filter: &mut FilterSlot) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        if peer.retired {
            return;
        }
        if peer.settings.passive {
            self.actions.push(TransportAction::Listen {
                peer: PeerId(id),
                local: SocketAddr::new(peer.addresses.0, BGP_PORT),
                remote: peer.addresses.1,
            });
        }
        let outputs = peer.session.start(now);
        self.drive(id, outputs, now, filter);
    }

    /// Session state changes since the last call: (tunnel, state, detail).
    pub fn take_events(&mut self) -> Vec<(TunnelId, String, String)> {
        std::mem::take(&mut self.events)
    }

    /// What the transport must do now, in order.
    pub fn take_actions(&mut self) -> Vec<TransportAction> {
        std::mem::take(&mut self.actions)
    }

    /// The earliest timer of any session or graceful restart.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .iter()
            .filter_map(|p| p.session.poll_timeout())
            .chain(self.gr_poll_timeout())
            .chain(self.peers.iter().filter_map(|p| p.retry.poll_timeout()))
            .min()
    }

    /// Runs the sessions' due timers and starts the retries due; true when
    /// learned routes changed.
    pub fn on_timeouts(&mut self, now: Instant, filter: &mut FilterSlot) -> bool {
        self.retries_due(now);
        let mut changed = self.gr_timeouts(now);
        for id in 0..self.peers.len() {
            let due = self
                .peers
                .get(id)
                .and_then(|p| p.session.poll_timeout())
                .is_some_and(|t| t <= now);
            if due {
                let outputs = match self.peers.get_mut(id) {
                    Some(p) => p.session.handle_timeout(now),
                    None => continue,
                };
                changed |= self.drive(id, outputs, now, filter);
            }
        }
        changed
    }

    /// Drains (or undrains) the session over `tunnel`: our routes are sent
    /// again with a worse MED and our AS prepended (or as before), without
    /// a reset. False when no session runs over the tunnel.
    pub fn set_drained(
        &mut self,
        tunnel: TunnelId,
        drained: bool,
        now: Instant,
        filter: &mut FilterSlot,
    ) -> bool {
        let Some(id) = self.peers.iter().position(|p| p.tunnel == tunnel) else {
            return false;
        };
        let Some(p) = self.peers.get_mut(id) else {
            return false;
        };
        p.drained = drained;
        if p.session.state() == State::Established {
            let outputs = self.export(id, now, filter, false);
            self.drive(id, outputs, now, filter);
        }
        true
    }

    /// The tunnel's liveness probe failed: its session cannot be reached,
    /// so it goes down now (RFC 5882 section 4.3) rather than when the hold
    /// timer expires, and restarts after its idle hold.
    pub fn tunnel_down(&mut self, tunnel: TunnelId, now: Instant, filter: &mut FilterSlot) -> bool {
        let Some(id) = self.peers.iter().position(|p| p.tunnel == tunnel) else {
            return false;
        };
        // Failover beats graceful restart: stale routes over a dead tunnel
        // go (its session is down already, so nothing else would take them).
        let swept = self.gr_end(id, "the tunnel's liveness probe failed");
        let Some(p) = self.peers.get_mut(id) else {
            return swept;
        };
        if p.session.state() == State::Idle {
            return swept;
        }
        let idle_hold = p.session.config().idle_hold;
        info!(tunnel = %p.tunnel_name, "liveness probe failed: BGP session reset");
        p.last_error = Some("the tunnel's liveness probe failed".into());
        let cease = Notification::new(error_code::CEASE, error_code::BFD_DOWN, Vec::new());
        let outputs = p.session.stop(Some(cease), Some(idle_hold), now);
        self.drive(id, outputs, now, filter) || swept
    }

    /// The prefixes whose accepted routes may have changed since the last
    /// call (in no order, possibly repeated): what the route selection must
    /// look at again.
    pub fn take_dirty(&mut self) -> Vec<IpNet> {
        // The next list gets as much room as this one needed, up to a few
        // filter calls' worth (a whole table swept at once must not leave
        // a list of a million empty slots behind).
        let room = self.dirty.len().min(4 * FILTER_CHUNK);
        std::mem::replace(&mut self.dirty, Vec::with_capacity(room))
    }

    /// The settings of `cfg` that change in place (a reload): the networks
    /// we advertise, the guard's view of our networks and static routes,
    /// max-prefix limits. Every stored route goes through the guard and the
    /// import filter again and every session gets our routes again (as
    /// after a filter swap); no session is reset.
    pub fn reconfigure(&mut self, cfg: &GatewayConfig, now: Instant, filter: &mut FilterSlot) {
        self.networks = cfg.bgp.networks.clone();
        self.guard = Guard::new(cfg);
        for p in &mut self.peers {
            if let Some(bgp) = cfg
                .connections
                .get(p.connection.index())
                .and_then(|c| c.bgp.as_ref())
            {
                p.settings.max_prefixes = bgp.max_prefixes;
                p.settings.graceful_restart = bgp.graceful_restart;
                if let (Some(r), Some(l)) = (p.restart.as_mut(), bgp.graceful_restart) {
                    r.recap(l.max_restart);
                }
                p.session
                    .set_graceful_restart(bgp.graceful_restart.map(|_| HELPER_RESTART_TIME));
            }
            p.session.set_hold_time(cfg.bgp.hold_time);
        }
        for id in 0..self.peers.len() {
            if self
                .peers
                .get(id)
                .is_some_and(|p| p.settings.graceful_restart.is_none())
            {
                self.gr_end(id, "graceful_restart turned off");
            }
        }
        self.refilter(now, filter);
    }

    /// Sends ROUTE-REFRESH (RFC 2918) for every negotiated family to the
    /// established sessions that support it (all, or the one over
    /// `tunnel`); returns their tunnels.
    pub fn refresh(
        &mut self,
        tunnel: Option<&str>,
        now: Instant,
        filter: &mut FilterSlot,
    ) -> Vec<String> {
        let mut asked = Vec::new();
        for id in 0..self.peers.len() {
            let Some(p) = self.peers.get_mut(id) else {
                continue;
            };
            if tunnel.is_some_and(|t| t != p.tunnel_name) {
                continue;
            }
            let Some(n) = p.session.negotiated().filter(|n| n.route_refresh) else {
                continue;
            };
            let mut outputs = Vec::new();
            for family in n.families.clone() {
                outputs.extend(p.session.request_refresh(family, now));
            }
            if !outputs.is_empty() {
                asked.push(p.tunnel_name.clone());
                info!(tunnel = %p.tunnel_name, "route refresh asked");
            }
            self.drive(id, outputs, now, filter);
        }
        asked
    }

    /// Tells every established peer we are leaving (Cease / administrative
    /// shutdown, RFC 4486) and closes the connections (as actions).
    pub fn stop_all(&mut self, now: Instant, filter: &mut FilterSlot) {
        for id in 0..self.peers.len() {
            let Some(p) = self.peers.get_mut(id) else {
                continue;
            };
            let cease = Notification::new(
                error_code::CEASE,
                error_code::ADMINISTRATIVE_SHUTDOWN,
                Vec::new(),
            );
            let outputs = p.session.stop(Some(cease), None, now);
            self.drive(id, outputs, now, filter);
        }
    }

    /// Carries out a session's outputs (and what they lead to); true when
    /// learned routes changed.
    fn drive(
        &mut self,
        id: usize,
        outputs: Vec<Output>,
        now: Instant,
        filter: &mut FilterSlot,
    ) -> bool {
        // The batch is kept between events for its memory: its prefix set,
        // grown anew at every read, cost a rehash per route.
        let mut batch = std::mem::take(&mut self.batch);
        let changed = self.drive_with(id, outputs, now, filter, &mut batch);
        self.batch = batch;
        changed
    }

    fn drive_with(
        &mut self,
        id: usize,
        outputs: Vec<Output>,
        now: Instant,
        filter: &mut FilterSlot,
        batch: &mut import::Batch,
    ) -> bool {
        let mut queue: VecDeque<Output> = outputs.into();
        let mut changed = false;
        while let Some(output) = queue.pop_front() {
            // Anything but an UPDATE or a write may read or clear what the
            // batched routes would record.
            if !matches!(output, Output::Update(_) | Output::Send(_)) {
                self.flush(id, batch, now, filter);
            }
            let Some(p) = self.peers.get_mut(id) else {
                return changed;
            };
            match output {
                Output::Connect => {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    p.attempt = Some(conn);
                    self.actions.push(TransportAction::Connect {
                        peer: PeerId(id),
                        conn,
                        local: SocketAddr::new(p.addresses.0, 0),
                        remote: SocketAddr::new(p.addresses.1, BGP_PORT),
                    });
                }
                // A write that cannot be queued comes back as an event
                // (`WriteFailed`), after the outputs that follow it here
                // (a `Down` included) have been carried out.
                Output::Send(bytes) => self.actions.push(TransportAction::Write {
                    peer: PeerId(id),
                    bytes,
                }),
                Output::Close => {
                    p.tcp = None;
                    p.attempt = None;
                    self.actions
                        .push(TransportAction::Close { peer: PeerId(id) });
                }
                Output::Established(n) => {
                    info!(tunnel = %p.tunnel_name, connection = %p.connection_name,
                        remote_asn = n.remote_asn, router_id = %n.remote_router_id,
                        hold_time = n.hold_time, "BGP session established");
                    p.last_error = None;
                    self.events.push((
                        p.tunnel,
                        "established".into(),
                        format!("peer AS {}, router ID {}", n.remote_asn, n.remote_router_id),
                    ));
                    self.gr_established(id, &n, now);
                    queue.extend(self.export(id, now, filter, true));
                }
                // UPDATEs decoded from a read that ended the session (a
                // max-prefix close; a NOTIFICATION or a decode error later in
                // the read) are not applied: its Down, queued behind them,
                // clears the whole Adj-RIB-In. Were a Down ever to keep the
                // routes (RFC 8538 graceful restart on a NOTIFICATION), this
                // would have to apply them.
                Output::Update(_) if p.session.state() != State::Established => {}
                Output::Update(update) => {
                    let (routes_changed, more) = self.import(id, update, now, batch, filter);
                    changed |= routes_changed;
                    queue.extend(more);
                }
                Output::RouteRefresh(family) => {
                    // Requests that arrived together are answered once, at
                    // the last of them: each answer is the whole
                    // Adj-RIB-Out, and a burst of requests must not fill
                    // the connection's write queue with copies of it.
                    let later = |o: &Output| matches!(o, Output::RouteRefresh(f) if *f == family);
                    if !queue.iter().any(later) {
                        queue.extend(self.resend(id, family, now));
                    }
                }
                Output::Down { reason } => {
                    warn!(tunnel = %p.tunnel_name, connection = %p.connection_name,
                        "BGP session down: {reason}");
                    // A stop we asked for already said why.
                    if !matches!(reason, DownReason::Stopped) || p.last_error.is_none() {
                        p.last_error = Some(reason.to_string());
                    }
                    self.events
                        .push((p.tunnel, "down".into(), reason.to_string()));
                    if self.failed_return(id, &reason) || self.keep_on_down(id, &reason, now) {
                        continue;
                    }
                    let Some(p) = self.peers.get_mut(id) else {
                        return changed;
                    };
                    p.restart = None;
                    p.peer_gr = None;
                    changed |= p.accepted.len(&p.adj_in) > 0;
                    p.forget_import();
                    let gone = std::mem::take(&mut p.adj_in);
                    p.adj_out.clear();
                    p.export_job = None;
                    reselect::queue_gone(&mut self.reselect, gone);
                }
            }
        }
        self.flush(id, batch, now, filter);
        changed
    }

    /// Runs the import filter over the routes `batch` holds for peer `id`
    /// and records them.
    fn flush(
        &mut self,
        id: usize,
        batch: &mut import::Batch,
        now: Instant,
        filter: &mut FilterSlot,
    ) {
        if batch.is_empty() {
            return;
        }
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        let refused = batch.flush(p, filter, &self.guard, &mut self.dirty);
        warn_refused(p, &refused, now);
        p.retry.arm(now, p.accepted.faulted_len());
    }

    /// The export set for a peer through the export filter, sent as the
    /// difference to what it has (`full`: a new session, so End-of-RIB
    /// follows).
    fn export(
        &mut self,
        id: usize,
        now: Instant,
        filter: &mut FilterSlot,
        full: bool,
    ) -> Vec<Output> {
        let Some(p) = self.peers.get_mut(id) else {
            return Vec::new();
        };
        let Some(negotiated) = p.session.negotiated() else {
            return Vec::new();
        };
        let families = negotiated.families.clone();
        p.export_job = Some(export_job::ExportJob::start(
            p.export_job.take(),
            &self.networks,
            &families,
            full,
        ));
        self.export_step(id, FILTER_CHUNK, now, filter).1
    }

    /// Runs up to `max` networks of peer `id`'s export in progress; returns
    /// how many it took and the session's outputs (the UPDATEs).
    fn export_step(
        &mut self,
        id: usize,
        max: usize,
        now: Instant,
        filter: &mut FilterSlot,
    ) -> (usize, Vec<Output>) {
        let Some(p) = self.peers.get_mut(id) else {
            return (0, Vec::new());
        };
        let (Some(mut job), Some(negotiated)) = (p.export_job.take(), p.session.negotiated())
        else {
            return (0, Vec::new());
        };
        let families = negotiated.families.clone();
        let target = export_job::Target {
            families: &families,
            local_asn: p.settings.local_asn,
            local: p.local,
            peer: &p.filter_peer,
            drained: p.drained,
        };
        let step = job.step(max, &target, filter, &mut p.adj_out);
        if job.backlog() > 0 {
            p.export_job = Some(job);
        }
        if step.unanswered {
            warn_refused(
                p,
                &[
                    "the bgp-filter plugin did not answer the export: the peer keeps what it has"
                        .into(),
                ],
                now,
            );
        }
        let hops = p
            .next_hops
            .for_peer(negotiated_extended_next_hop(&p.session));
        let ctx = p.session.codec_context();
        let mut messages = export::encode_diff(&step.diff, &hops, &ctx);
        messages.extend(
            step.end_of_rib
                .iter()
                .map(|f| codec::encode_end_of_rib(*f, &ctx)),
        );
        let outputs = messages
            .into_iter()
            .flat_map(|m| p.session.send_update(m, now))
            .collect();
        (step.done, outputs)
    }

    /// Networks waiting to go to the peers (exports in progress).
    pub fn export_backlog(&self) -> usize {
        self.peers
            .iter()
            .filter_map(|p| p.export_job.as_ref())
            .map(export_job::ExportJob::backlog)
            .sum()
    }

    /// Runs the exports in progress, up to `max` networks, the peers taking
    /// turns a chunk at a time; returns how many networks went.
    pub fn export_queued(
        &mut self,
        max: usize,
        now: Instant,
        filter: &mut FilterSlot,
        out_of_time: &dyn Fn() -> bool,
    ) -> usize {
        let mut done = 0;
        for id in 0..self.peers.len() {
            while done < max && self.peers.get(id).is_some_and(|p| p.export_job.is_some()) {
                let chunk = FILTER_CHUNK.min(max - done);
                let (n, outputs) = self.export_step(id, chunk, now, filter);
                done += n.max(1);
                self.drive(id, outputs, now, filter);
                // Each step may call the export filter: the turn's time
                // is checked between them.
                if out_of_time() {
                    return done;
                }
            }
        }
        done
    }

    /// Everything advertised in `family` again, for a ROUTE-REFRESH
    /// (RFC 2918 section 4), then End-of-RIB.
    fn resend(&mut self, id: usize, family: Family, now: Instant) -> Vec<Output> {
        let Some(p) = self.peers.get_mut(id) else {
            return Vec::new();
        };
        let mut all = p.adj_out.all();
        for (_, prefixes) in &mut all.announce {
            prefixes.retain(|n| family_of(n) == family);
        }
        all.announce.retain(|(_, prefixes)| !prefixes.is_empty());
        let ctx = p.session.codec_context();
        let hops = p
            .next_hops
            .for_peer(negotiated_extended_next_hop(&p.session));
        let mut messages = export::encode_diff(&all, &hops, &ctx);
        messages.push(codec::encode_end_of_rib(family, &ctx));
        let (logged, since) = &mut p.refresh_log;
        *since += 1;
        if logged.is_none_or(|t| now.saturating_duration_since(t) >= WARN_INTERVAL) {
            info!(tunnel = %p.tunnel_name, %family, answers = *since,
                "route refresh: Adj-RIB-Out sent again");
            *logged = Some(now);
            *since = 0;
        }
        messages
            .into_iter()
            .flat_map(|m| p.session.send_update(m, now))
            .collect()
    }
}

/// Logs problems with a peer's routes, at most once per interval per peer
/// (with how many there were), so that a peer cannot flood the log.
fn warn_refused(p: &mut BgpPeer, problems: &[String], now: Instant) {
    let Some(first) = problems.first() else {
        return;
    };
    if p.last_warned
        .is_some_and(|t| now.saturating_duration_since(t) < WARN_INTERVAL)
    {
        return;
    }
    p.last_warned = Some(now);
    warn!(tunnel = %p.tunnel_name, connection = %p.connection_name, more = problems.len() - 1,
        "{first}");
}

/// The Restart Time we announce as a helper. We list no families, so a
/// peer keeps none of our routes whatever it says; 120 s is BIRD's and
/// FRR's default.
pub const HELPER_RESTART_TIME: u16 = 120;

/// Routes per import-filter call: small enough for a plugin's deadline and
/// memory cap, large enough that the call overhead does not matter.
pub const FILTER_CHUNK: usize = 1024;

/// Shortest time between two warnings about one peer's routes.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Whether the session's peer negotiated IPv4 routes over IPv6 next hops
/// (RFC 8950).
fn negotiated_extended_next_hop(session: &Session) -> bool {
    session.negotiated().is_some_and(|n| n.extended_next_hop)
}
