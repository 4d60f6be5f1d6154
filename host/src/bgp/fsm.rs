//! The BGP-4 session finite state machine (RFC 4271 section 8), sans-IO, in
//! the style of boringtun's `Tunn`: a [`Session`] owns one BGP session's state
//! (Idle, Connect, Active, OpenSent, OpenConfirm, Established), its timers
//! (ConnectRetry, Hold, Keepalive and the IdleHold of automatic restarts), the
//! OPEN exchange and its checks and negotiation (hold time, families, 4-octet
//! AS, route refresh), and the framing of the TCP byte stream into messages
//! with `codec`. Every input takes the caller's `now: Instant` and returns
//! [`Output`]s for the shell to carry out; the shell calls
//! [`Session::handle_timeout`] at [`Session::poll_timeout`]. It must not touch
//! sockets, threads or the clock, nor the RIB or policy: UPDATEs leave as
//! decoded values and enter as bytes the RIB has encoded. One session runs per
//! tunnel and one side of each is passive, so there is only ever one TCP
//! connection per session and no connection collision detection (RFC 4271
//! section 6.8); the optional DelayOpen and peer oscillation damping of
//! section 8.1.1 are not implemented beyond a fixed IdleHold before restarts.

use std::time::{Duration, Instant};

use super::codec;
use super::message::{
    error_code, Capability, ExtendedNextHop, Family, GracefulRestart, Message, Notification, Open,
    AS_TRANS, HEADER_LEN,
};

mod types;

use types::counted_as;

pub use types::{
    DownReason, Negotiated, Output, SessionConfig, SessionStats, State, DEFAULT_CONNECT_RETRY,
    DEFAULT_HOLD_TIME, DEFAULT_IDLE_HOLD, OPEN_HOLD_TIME,
};

// FSM error subcodes (RFC 6608 section 3).
const FSM_UNEXPECTED_IN_OPENSENT: u8 = 1;
const FSM_UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
const FSM_UNEXPECTED_IN_ESTABLISHED: u8 = 3;

/// One BGP session. See the module documentation.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    /// Bytes of the current connection not yet framed; cleared on every
    /// reset and every new connection.
    buf: Vec<u8>,
    /// Set once both OPENs agreed (OpenConfirm and Established).
    negotiated: Option<Negotiated>,
    established_since: Option<Instant>,
    connect_retry_at: Option<Instant>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    idle_hold_at: Option<Instant>,
    stats: SessionStats,
    /// What our OPEN on this connection offered (hold time, graceful
    /// restart): negotiation follows it, not a reload made since.
    offered: Option<(u16, Option<u16>)>,
}

/// Whether an armed timer is due.
fn due(timer: Option<Instant>, now: Instant) -> bool {
    timer.is_some_and(|t| t <= now)
}

impl Session {
    /// A session in Idle, not started, no timers armed.
    pub fn new(cfg: SessionConfig) -> Session {
        Session {
            cfg,
            state: State::Idle,
            buf: Vec::new(),
            negotiated: None,
            established_since: None,
            connect_retry_at: None,
            hold_at: None,
            keepalive_at: None,
            idle_hold_at: None,
            stats: SessionStats::default(),
            offered: None,
        }
    }

    // Events 1/3/4/5 (ManualStart, AutomaticStart,
    // ManualStart_with_PassiveTcpEstablishment,
    // AutomaticStart_with_PassiveTcpEstablishment), RFC 4271 section 8.2.2
    // Idle state.
    /// Starts the session from Idle (a no-op in any other state): a passive
    /// one waits for the peer in Active, an active one connects (Connect)
    /// with the ConnectRetry timer armed.
    pub fn start(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        self.start_into(now, &mut out);
        out
    }

    // Events 2/8 (ManualStop, AutomaticStop), RFC 4271 section 8.2.2.
    /// Stops the session: sends `notification` (default Cease/Administrative
    /// Shutdown, RFC 4486) if a connection is open, closes it, goes to Idle.
    /// Restarts automatically after `restart_after` if given (e.g. after a
    /// max-prefix Cease), else stays Idle with no timer until [`start`].
    /// Emits `Down` if the session was Established: with reason
    /// `NotificationSent` when the caller gave the NOTIFICATION, else
    /// `Stopped`.
    ///
    /// [`start`]: Session::start
    pub fn stop(
        &mut self,
        notification: Option<Notification>,
        restart_after: Option<Duration>,
        now: Instant,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let (reason, notification) = match notification {
            Some(n) => (DownReason::NotificationSent(n.clone()), n),
            None => (
                DownReason::Stopped,
                Notification::new(
                    error_code::CEASE,
                    error_code::ADMINISTRATIVE_SHUTDOWN,
                    Vec::new(),
                ),
            ),
        };
        self.reset(
            reason,
            Some(notification),
            restart_after,
            false,
            now,
            &mut out,
        );
        out
    }

    // Events 16/17 (Tcp_CR_Acked, TcpConnectionConfirmed), RFC 4271 section
    // 8.2.2 Connect and Active states.
    /// The TCP connection is up: our attempt succeeded (Connect) or the
    /// shell accepted the peer's connection (Active). Sends our OPEN and
    /// waits for the peer's in OpenSent, the HoldTimer at 4 minutes. In Idle
    /// the connection is refused (`Close`). In OpenSent and later a second
    /// connection would be a collision (section 6.8), which cannot happen
    /// with one passive side: it is ignored, and the shell, which keeps one
    /// connection per session, must close the newcomer itself.
    pub fn tcp_connected(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        match self.state {
            State::Connect | State::Active => {
                self.connect_retry_at = None;
                self.idle_hold_at = None;
                self.buf.clear();
                let ours = self.our_open();
                self.offered = Some((ours.hold_time, self.cfg.graceful_restart));
                self.send(&Message::Open(ours), &mut out);
                self.hold_at = now.checked_add(OPEN_HOLD_TIME);
                self.state = State::OpenSent;
            }
            State::Idle => out.push(Output::Close),
            State::OpenSent | State::OpenConfirm | State::Established => {}
        }
        out
    }

    // Event 18 (TcpConnectionFails), RFC 4271 section 8.2.2: the connection
    // attempt failed, or the peer closed (or reset) the connection.
    /// In Connect: wait in Active for the ConnectRetry timer, then connect
    /// again. In OpenSent, OpenConfirm, Established: close, go to Idle and
    /// restart after the IdleHold (`Down` only if it was Established).
    pub fn tcp_failed(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        match self.state {
            State::Connect => {
                self.state = State::Active;
                self.connect_retry_at = now.checked_add(self.cfg.connect_retry);
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                let restart = Some(self.cfg.idle_hold);
                self.reset(
                    DownReason::ConnectionClosed,
                    None,
                    restart,
                    false,
                    now,
                    &mut out,
                );
            }
            State::Idle | State::Active => {}
        }
        out
    }

    // Events 19, 21, 22, 24-28 (BGPOpen, BGPHeaderErr, BGPOpenMsgErr,
    // NotifMsgVerErr, NotifMsg, KeepAliveMsg, UpdateMsg, UpdateMsgErr), RFC
    // 4271 section 8.2.2. Events 20 and 23 (DelayOpen, collision) never occur.
    /// Bytes read from the TCP connection, in any split. They are buffered,
    /// framed and decoded (4-octet AS numbers once both OPENs offered them),
    /// and each message runs through the FSM. Ignored while no connection is
    /// up (after a `Close`, before the next `tcp_connected`).
    pub fn received(&mut self, bytes: &[u8], now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.state.connected() {
            return out;
        }
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while self.state.connected() {
            let Some(rest) = self.buf.get(start..) else {
                break;
            };
            let len = match codec::frame_len(rest) {
                Ok(None) => break,
                Ok(Some(len)) => len,
                Err(n) => {
                    self.fail(n, now, &mut out);
                    break;
                }
            };
            if len < HEADER_LEN {
                // The codec promises at least a header; anything shorter is
                // a bad length, not trusted (and would never make progress).
                let field = rest.get(16..18).map(<[u8]>::to_vec).unwrap_or_default();
                let n = Notification::new(
                    error_code::MESSAGE_HEADER,
                    error_code::BAD_MESSAGE_LENGTH,
                    field,
                );
                self.fail(n, now, &mut out);
                break;
            }
            let Some(frame) = rest.get(..len) else {
                break; // the rest of the message is still on its way
            };
            let decoded = codec::decode(frame, &self.codec_context());
            start += len;
            match decoded {
                Ok(msg) => self.message(msg, now, &mut out),
                Err(n) => self.fail(n, now, &mut out),
            }
        }
        // A reset cleared the buffer; otherwise drop what was framed.
        let framed = start.min(self.buf.len());
        self.buf.drain(..framed);
        out
    }

    /// An UPDATE encoded by the RIB (with [`codec_context`]), sent only in
    /// Established (else dropped: nothing returned). Restarts the
    /// KeepaliveTimer (RFC 4271 section 4.4).
    ///
    /// [`codec_context`]: Session::codec_context
    pub fn send_update(&mut self, bytes: Vec<u8>, now: Instant) -> Vec<Output> {
        if self.state != State::Established {
            return Vec::new();
        }
        self.stats.messages_sent += 1;
        self.stats.updates_sent += 1;
        self.restart_keepalive(now);
        vec![Output::Send(bytes)]
    }

    /// Asks the peer to re-send its routes of `family` (RFC 2918 section 3):
    /// only in Established, with route refresh and the family negotiated.
    pub fn request_refresh(&mut self, family: Family, _now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let allowed = self.state == State::Established
            && self
                .negotiated
                .as_ref()
                .is_some_and(|n| n.route_refresh && n.families.contains(&family));
        if allowed {
            // The KeepaliveTimer is not restarted: a peer following RFC 4271
            // section 8.2.2 restarts its HoldTimer only on KEEPALIVE/UPDATE.
            self.send(&Message::RouteRefresh(family), &mut out);
        }
        out
    }

    /// The earliest armed timer: call [`handle_timeout`] then.
    ///
    /// [`handle_timeout`]: Session::handle_timeout
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_retry_at,
            self.hold_at,
            self.keepalive_at,
            self.idle_hold_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // Events 9, 10, 11, 13 (ConnectRetryTimer_Expires, HoldTimer_Expires,
    // KeepaliveTimer_Expires, IdleHoldTimer_Expires; the latter, section
    // 8.1.1, leads to Event 3, AutomaticStart). Event 12 (DelayOpenTimer)
    // never occurs.
    /// Runs every timer due at `now`. Early calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        // Which timers were due on entry: a timer armed while handling
        // another one fires on a later call.
        let hold = due(self.hold_at, now);
        let keepalive = due(self.keepalive_at, now);
        let connect_retry = due(self.connect_retry_at, now);
        let idle_hold = due(self.idle_hold_at, now);

        if hold {
            // RFC 4271 section 6.5 and 8.2.2: NOTIFICATION Hold Timer
            // Expired, then Idle.
            self.hold_at = None;
            let n = Notification::new(error_code::HOLD_TIMER_EXPIRED, 0, Vec::new());
            let restart = Some(self.cfg.idle_hold);
            self.reset(
                DownReason::HoldTimerExpired,
                Some(n),
                restart,
                true,
                now,
                &mut out,
            );
        }
        if keepalive && due(self.keepalive_at, now) {
            self.keepalive_at = None;
            if matches!(self.state, State::OpenConfirm | State::Established) {
                self.send(&Message::Keepalive, &mut out);
                self.restart_keepalive(now);
            }
        }
        if connect_retry && due(self.connect_retry_at, now) {
            // RFC 4271 section 8.2.2, Connect and Active states, Event 9:
            // (re)initiate the connection, restart the timer, Connect.
            self.connect_retry_at = None;
            if matches!(self.state, State::Connect | State::Active) && !self.cfg.passive {
                self.connect(now, &mut out);
            }
        }
        if idle_hold && due(self.idle_hold_at, now) {
            self.idle_hold_at = None;
            self.start_into(now, &mut out);
        }
        out
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The hold time offered from the next OPEN on (a running session
    /// keeps the one it negotiated).
    pub fn set_hold_time(&mut self, hold_time: u16) {
        self.cfg.hold_time = hold_time;
    }

    /// Whether (and with which Restart Time) the next OPEN offers graceful
    /// restart.
    pub fn set_graceful_restart(&mut self, restart_time: Option<u16>) {
        self.cfg.graceful_restart = restart_time;
    }

    /// What both OPENs agreed on, from OpenConfirm on (`None` before, and
    /// after every reset).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The codec context of the current connection, for the RIB to encode
    /// UPDATEs: 4-octet AS numbers once both OPENs offered them.
    pub fn codec_context(&self) -> codec::Context {
        codec::Context {
            four_octet_as: self.negotiated.as_ref().is_some_and(|n| n.four_octet_as),
        }
    }

    /// When the session last reached Established, while it is.
    pub fn established_since(&self) -> Option<Instant> {
        self.established_since
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    fn start_into(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.state != State::Idle {
            return;
        }
        self.idle_hold_at = None;
        if self.cfg.passive {
            // Passive: no ConnectRetry timer, since its expiry would connect
            // out (section 8.2.2, Active state, Event 9).
            self.state = State::Active;
        } else {
            self.connect(now, out);
        }
    }

    /// Initiates a connection: Connect, ConnectRetry timer (re)started.
    fn connect(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.state = State::Connect;
        self.connect_retry_at = now.checked_add(self.cfg.connect_retry);
        out.push(Output::Connect);
    }

    /// One decoded message in OpenSent, OpenConfirm or Established (section
    /// 8.2.2; the FSM error subcodes of RFC 6608 for unexpected ones).
    fn message(&mut self, msg: Message, now: Instant, out: &mut Vec<Output>) {
        self.stats.messages_received += 1;
        match (self.state, msg) {
            // Events 24/25 in any of the three states: Idle, no reply.
            (_, Message::Notification(n)) => {
                self.stats.notifications_received += 1;
                let (code, subcode) = counted_as(n.code, n.subcode);
                *self
                    .stats
                    .notifications
                    .entry((false, code, subcode))
                    .or_default() += 1;
                let restart = Some(self.cfg.idle_hold);
                self.reset(
                    DownReason::NotificationReceived(n),
                    None,
                    restart,
                    true,
                    now,
                    out,
                );
            }
            // Event 19 in OpenSent.
            (State::OpenSent, Message::Open(open)) => self.open_received(&open, now, out),
            // Event 26 in OpenConfirm: restart the HoldTimer, Established.
            (State::OpenConfirm, Message::Keepalive) => {
                self.restart_hold(now);
                self.state = State::Established;
                self.established_since = Some(now);
                self.stats.established_transitions += 1;
                if let Some(n) = &self.negotiated {
                    out.push(Output::Established(n.clone()));
                }
            }
            // Event 26 in Established.
            (State::Established, Message::Keepalive) => self.restart_hold(now),
            // Event 27 in Established (a treat-as-withdraw UPDATE, RFC 7606,
            // arrives here too: the RIB withdraws its routes).
            (State::Established, Message::Update(update)) => {
                self.stats.updates_received += 1;
                self.restart_hold(now);
                out.push(Output::Update(update));
            }
            // RFC 2918 section 4: we always advertise the capability, so a
            // peer may ask for any family of the session whether or not it
            // advertised the capability itself; the peer is alive, so the
            // HoldTimer restarts as for a KEEPALIVE.
            (State::Established, Message::RouteRefresh(family)) => {
                self.restart_hold(now);
                let accepted = self
                    .negotiated
                    .as_ref()
                    .is_some_and(|n| n.families.contains(&family));
                if accepted {
                    out.push(Output::RouteRefresh(family));
                } else {
                    self.stats.last_error = Some(format!(
                        "ignored ROUTE-REFRESH for {family}: not negotiated"
                    ));
                }
            }
            // Anything else: Events 9-28 "other" (section 8.2.2), an FSM
            // error.
            (state, _) => {
                let subcode = match state {
                    State::OpenSent => FSM_UNEXPECTED_IN_OPENSENT,
                    State::OpenConfirm => FSM_UNEXPECTED_IN_OPENCONFIRM,
                    _ => FSM_UNEXPECTED_IN_ESTABLISHED,
                };
                let n = Notification::new(error_code::FSM, subcode, Vec::new());
                self.fail(n, now, out);
            }
        }
    }

    /// The peer's OPEN in OpenSent (section 8.2.2, Event 19): checked
    /// (section 6.2), negotiated (section 4.2), KEEPALIVE sent, OpenConfirm.
    fn open_received(&mut self, open: &Open, now: Instant, out: &mut Vec<Output>) {
        if let Some(n) = self.check_open(open) {
            self.fail(n, now, out);
            return;
        }
        let negotiated = self.negotiate(open);
        self.negotiated = Some(negotiated);
        self.connect_retry_at = None;
        self.send(&Message::Keepalive, out);
        self.restart_keepalive(now);
        self.restart_hold(now);
        self.state = State::OpenConfirm;
    }

    /// The OPEN checks of RFC 4271 section 6.2 not done by the codec (which
    /// checks the version, the parameters and the capabilities' syntax).
    fn check_open(&self, open: &Open) -> Option<Notification> {
        use error_code::{BAD_BGP_IDENTIFIER, BAD_PEER_AS, OPEN_MESSAGE, UNACCEPTABLE_HOLD_TIME};
        if open.asn != self.cfg.remote_asn {
            // Data: the 2-octet My AS field as it was on the wire (AS_TRANS
            // for an ASN that does not fit, RFC 6793 section 4.2.1).
            let field = u16::try_from(open.asn).unwrap_or(AS_TRANS as u16);
            return Some(Notification::new(
                OPEN_MESSAGE,
                BAD_PEER_AS,
                field.to_be_bytes().to_vec(),
            ));
        }
        if matches!(open.hold_time, 1 | 2) {
            return Some(Notification::new(
                OPEN_MESSAGE,
                UNACCEPTABLE_HOLD_TIME,
                Vec::new(),
            ));
        }
        // Zero is never valid; equal to ours is refused even from an
        // external peer (stricter than RFC 6286 section 2.1): two gateways
        // with one identifier are a misconfiguration.
        if open.router_id.is_unspecified() || open.router_id == self.cfg.router_id {
            return Some(Notification::new(
                OPEN_MESSAGE,
                BAD_BGP_IDENTIFIER,
                Vec::new(),
            ));
        }
        None
    }

    /// What both OPENs agree on: the smaller hold time (section 4.2), the
    /// families both offered (RFC 4760 section 8), 4-octet AS (RFC 6793
    /// section 4) and route refresh (RFC 2918) if both offered them (we
    /// always do), the peer's graceful restart (RFC 4724) if we offered it.
    fn negotiate(&self, open: &Open) -> Negotiated {
        let (offered_hold, offered_gr) = self
            .offered
            .unwrap_or((self.cfg.offered_hold_time(), self.cfg.graceful_restart));
        let hold_time = offered_hold.min(open.hold_time);
        let keepalive = Duration::from_secs(u64::from(hold_time)) / 3;
        let theirs = open.families();
        let mut families: Vec<Family> = Vec::new();
        for f in self.cfg.offered_families() {
            if theirs.contains(&f) && !families.contains(&f) {
                families.push(f);
            }
        }
        Negotiated {
            remote_asn: open.asn,
            remote_router_id: open.router_id,
            hold_time,
            keepalive,
            families,
            four_octet_as: open.four_octet_as(),
            route_refresh: open.route_refresh(),
            graceful_restart: offered_gr.and_then(|_| open.graceful_restart().cloned()),
            extended_next_hop: self.cfg.extended_next_hop
                && open.offers_extended_next_hop(ExtendedNextHop::IPV4_OVER_IPV6),
        }
    }

    /// Our OPEN (section 4.2) with its capabilities (RFC 5492): one
    /// Multiprotocol per family, RouteRefresh, FourOctetAs, Extended Next
    /// Hop Encoding for IPv4 over IPv6 when configured (RFC 8950), and Graceful
    /// Restart as a helper (RFC 4724 section 3: no families, since we keep
    /// no forwarding state across our own restart; R and N clear).
    fn our_open(&self) -> Open {
        let mut capabilities: Vec<Capability> = self
            .cfg
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        capabilities.push(Capability::RouteRefresh);
        capabilities.push(Capability::FourOctetAs(self.cfg.local_asn));
        if self.cfg.extended_next_hop {
            capabilities.push(Capability::ExtendedNextHop(vec![
                ExtendedNextHop::IPV4_OVER_IPV6,
            ]));
        }
        if let Some(restart_time) = self.cfg.graceful_restart {
            capabilities.push(Capability::GracefulRestart(GracefulRestart {
                restart_time,
                ..GracefulRestart::default()
            }));
        }
        Open {
            asn: self.cfg.local_asn,
            hold_time: self.cfg.offered_hold_time(),
            router_id: self.cfg.router_id,
            capabilities,
        }
    }

    /// The negotiated hold time, if not zero.
    fn hold_duration(&self) -> Option<Duration> {
        self.negotiated
            .as_ref()
            .filter(|n| n.hold_time > 0)
            .map(|n| Duration::from_secs(u64::from(n.hold_time)))
    }

    fn restart_hold(&mut self, now: Instant) {
        self.hold_at = self.hold_duration().and_then(|d| now.checked_add(d));
    }

    /// The KeepaliveTimer restarts whenever we send a KEEPALIVE or an UPDATE
    /// (section 4.4); not armed when the negotiated hold time is zero.
    fn restart_keepalive(&mut self, now: Instant) {
        self.keepalive_at = self
            .negotiated
            .as_ref()
            .filter(|n| n.hold_time > 0 && !n.keepalive.is_zero())
            .and_then(|n| now.checked_add(n.keepalive));
    }

    /// Encodes and queues one message; false (with `last_error` set) if it
    /// could not be encoded.
    fn send(&mut self, msg: &Message, out: &mut Vec<Output>) -> bool {
        let mut bytes = Vec::new();
        match codec::encode(msg, &self.codec_context(), &mut bytes) {
            Ok(()) => {
                self.stats.messages_sent += 1;
                out.push(Output::Send(bytes));
                true
            }
            Err(e) => {
                self.stats.last_error = Some(format!("cannot encode {}: {e}", kind(msg)));
                false
            }
        }
    }

    /// Queues a NOTIFICATION; if it cannot be encoded (data too long), sends
    /// it without data.
    fn send_notification(&mut self, n: Notification, out: &mut Vec<Output>) {
        let sent = self.send(&Message::Notification(n.clone()), out)
            || self.send(
                &Message::Notification(Notification::new(n.code, n.subcode, Vec::new())),
                out,
            );
        if sent {
            self.stats.notifications_sent += 1;
            *self
                .stats
                .notifications
                .entry((true, n.code, n.subcode))
                .or_default() += 1;
        }
    }

    /// An error on the connection: send `n`, close, Idle, restart after the
    /// IdleHold.
    fn fail(&mut self, n: Notification, now: Instant, out: &mut Vec<Output>) {
        let restart = Some(self.cfg.idle_hold);
        self.reset(
            DownReason::NotificationSent(n.clone()),
            Some(n),
            restart,
            true,
            now,
            out,
        );
    }

    /// Back to Idle from any state (section 8.2.2, the "release all BGP
    /// resources" steps): NOTIFICATION if a connection is up, `Close` if a
    /// connection is up or being attempted, `Down` if Established (or, when
    /// `failure`, in OpenSent/OpenConfirm), every timer stopped, the buffer
    /// and the negotiation dropped; the IdleHold timer armed to `restart`.
    fn reset(
        &mut self,
        reason: DownReason,
        notification: Option<Notification>,
        restart: Option<Duration>,
        failure: bool,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let was = self.state;
        if was.connected() {
            if let Some(n) = notification {
                self.send_notification(n, out);
            }
        }
        if was.connected() || was == State::Connect {
            out.push(Output::Close);
        }
        let down = was == State::Established
            || (failure && matches!(was, State::OpenSent | State::OpenConfirm));
        if reason != DownReason::Stopped && was.connected() {
            self.stats.last_error = Some(reason.to_string());
        }
        if down {
            out.push(Output::Down { reason });
        }
        self.state = State::Idle;
        self.buf.clear();
        self.negotiated = None;
        self.established_since = None;
        self.connect_retry_at = None;
        self.hold_at = None;
        self.keepalive_at = None;
        self.idle_hold_at = restart.and_then(|d| now.checked_add(d));
    }
}

/// A message's type, for error text.
fn kind(msg: &Message) -> &'static str {
    match msg {
        Message::Open(_) => "OPEN",
        Message::Update(_) => "UPDATE",
        Message::Notification(_) => "NOTIFICATION",
        Message::Keepalive => "KEEPALIVE",
        Message::RouteRefresh(_) => "ROUTE-REFRESH",
    }
}

#[cfg(test)]
mod tests;
