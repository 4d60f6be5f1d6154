//! The gateway core without I/O: a config, a fake clock (a base `Instant`
//! plus `Duration`s), the far side played with bytes (BFD packets, BGP
//! messages encoded by the codec), and assertions on the actions.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::*;
use crate::bgp::codec;
use crate::bgp::message::{
    AsSegment, Capability, Family, Message, Open, PathAttributes, SegmentKind,
};
use crate::bgp::transport::{PeerId, TransportAction, TransportEvent};
use crate::config::tests::Fixture;
use crate::dataplane::fib::{ConnectionId, Fib};
use crate::dataplane::ProbeKind;
use crate::liveness::bfd::{ControlPacket, State};
use crate::policy::{EngineSettings, Plugin, PolicyEngine, Slot};
use crate::topology::TunnelId;

const PEER_ASN: u32 = 65000;

/// The large-table tests' turn: 4,096 routes of work, not a time, so that
/// what a turn may do does not depend on the machine.
const ROUTE_TURNS: Budget = Budget {
    time: None,
    routes: 4096,
};
const LISTENER_CONN: u64 = 1 << 40;

/// The most prefixes the selection's queue may hold at once while a table
/// of `routes` is walked: a chunk waiting, and one of the Adj-RIB-In's maps
/// (a 64th of the table) walked on top of it, twice for slack.
fn chunk_and_map(routes: usize) -> usize {
    1024 + 2 * routes / 64
}

/// A VGW with one dynamic connection of two tunnels (the peer runs over the
/// first), our network 10.2.0.0/24, and room for `max` routes.
fn config(fx: &Fixture, connection: &str, max: u32) -> Arc<crate::config::GatewayConfig> {
    config_with(fx, connection, max, "")
}

/// [`config`] with more `[connection.bgp]` lines.
fn config_with(
    fx: &Fixture,
    connection: &str,
    max: u32,
    bgp: &str,
) -> Arc<crate::config::GatewayConfig> {
    config_advertising(fx, connection, max, bgp, &["10.2.0.0/24".to_string()])
}

/// [`config_with`] advertising `networks`.
fn config_advertising(
    fx: &Fixture,
    connection: &str,
    max: u32,
    bgp: &str,
    networks: &[String],
) -> Arc<crate::config::GatewayConfig> {
    let text = fx
        .base()
        .replace("name = \"office\"", &format!("name = \"{connection}\""))
        .replace(
            "routing = \"static\"\nstatic_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
            &format!(
                "routing = \"dynamic\"\n\n[connection.bgp]\nremote_asn = {PEER_ASN}\n\
                 max_prefixes = {max}\n{bgp}"
            ),
        );
    let quoted: Vec<String> = networks.iter().map(|n| format!("{n:?}")).collect();
    let text = format!("{text}\n[bgp]\nnetworks = [{}]\n", quoted.join(", "));
    Arc::new(fx.parse(&text).expect("test config"))
}

fn slots() -> Slots {
    Slots {
        failover: crate::policy::FailoverSlot::new(3),
        selection: crate::policy::SelectionSlot::new(3),
        filter: crate::policy::FilterSlot::new(3),
    }
}

/// The core, the clock, and what it did, with the far side's moves.
struct Harness {
    gw: Gateway,
    now: Instant,
    /// Our BFD discriminator per tunnel (from what we sent).
    our_discr: Vec<u32>,
    fib: Option<Arc<Fib>>,
    writes: Vec<Vec<u8>>,
    replies: Vec<(RequestId, serde_json::Value)>,
    liveness: Vec<(usize, State)>,
    /// Every Active action: (tunnel, active).
    active: Vec<(usize, bool)>,
    /// Every BFD packet we sent: (tunnel, state).
    sent_bfd: Vec<(usize, State)>,
    /// Every BFD packet we sent, whole: (tunnel, packet).
    sent_packets: Vec<(usize, ControlPacket)>,
    /// Per tunnel: we sent a Poll the far side has not answered yet (its
    /// next packet from [`Harness::bfd`] carries the Final, as RFC 5880
    /// section 6.5 has it).
    polled: Vec<bool>,
    conn: u64,
    /// Every Tunnels action: (added, retired) by index.
    tunnel_changes: Vec<(Vec<usize>, Vec<usize>)>,
    /// Peers whose connection we closed.
    closed: Vec<usize>,
    /// The most route work seen in one `handle_timeout`.
    max_turn: usize,
    /// The C bit of the far side's BFD packets (its BFD survives a
    /// control-plane restart).
    far_bfd_independent: bool,
    /// Kernel-route changes asked for, in order.
    kernel: Vec<(IpNet, bool)>,
}

impl Harness {
    fn new(cfg: Arc<crate::config::GatewayConfig>, budget: Budget) -> Harness {
        let now = Instant::now();
        let settings = Settings {
            budget,
            seed: 7,
            changes_shown: usize::MAX,
        };
        let gw = Gateway::new(cfg, slots(), settings, now);
        let n = gw.tunnels().len();
        let mut h = Harness {
            gw,
            now,
            our_discr: vec![0; n],
            fib: None,
            writes: Vec::new(),
            replies: Vec::new(),
            liveness: Vec::new(),
            active: Vec::new(),
            sent_bfd: Vec::new(),
            sent_packets: Vec::new(),
            polled: Vec::new(),
            conn: LISTENER_CONN,
            tunnel_changes: Vec::new(),
            closed: Vec::new(),
            max_turn: 0,
            far_bfd_independent: false,
            kernel: Vec::new(),
        };
        h.drain();
        h
    }

    /// Takes every action, as a driver whose writes all succeed.
    fn drain(&mut self) {
        while let Some(action) = self.gw.poll_action() {
            match action {
                Action::SendBfd { tunnel, packet } => {
                    if let Ok(p) = ControlPacket::decode(&packet) {
                        if self.our_discr.len() <= tunnel.index() {
                            self.our_discr.resize(tunnel.index() + 1, 0);
                        }
                        self.our_discr[tunnel.index()] = p.my_discr;
                        if self.polled.len() <= tunnel.index() {
                            self.polled.resize(tunnel.index() + 1, false);
                        }
                        self.polled[tunnel.index()] |= p.poll;
                        self.sent_bfd.push((tunnel.index(), p.state));
                        self.sent_packets.push((tunnel.index(), p));
                    }
                }
                Action::PublishFib(fib) => self.fib = Some(fib),
                Action::KernelRoutes(changes) => self.kernel.extend(changes),
                Action::Transport(TransportAction::Write { bytes, .. }) => self.writes.push(bytes),
                Action::Transport(TransportAction::Close { peer }) => {
                    self.closed.push(peer.index())
                }
                Action::Tunnels { added, retired, .. } => self.tunnel_changes.push((
                    added.iter().map(|t| t.index()).collect(),
                    retired.iter().map(|t| t.index()).collect(),
                )),
                Action::Reply { id, reply } => self.replies.push((id, reply.to_value())),
                Action::Liveness { tunnel, state } => self.liveness.push((tunnel.index(), state)),
                Action::Weight { tunnel, weight } => self.active.push((tunnel.index(), weight > 0)),
                _ => {}
            }
        }
    }

    /// Advances the clock by `step` and runs what is due.
    fn tick(&mut self, step: Duration) {
        self.now += step;
        if self.now >= self.gw.poll_timeout() {
            self.gw.handle_timeout(self.now);
            self.max_turn = self.max_turn.max(self.gw.last_turn_work());
        }
        self.drain();
    }

    fn event(&mut self, event: Event) {
        self.gw.handle(event, self.now);
        self.drain();
    }

    /// A BFD packet from the far side of `tunnel` in `state`; it answers
    /// our latest Poll with Final, as a far side does.
    fn bfd(&mut self, tunnel: usize, state: State) {
        let answer = self.polled.get_mut(tunnel).is_some_and(std::mem::take);
        self.bfd_with(tunnel, state, answer);
    }

    /// [`Harness::bfd`], with Final set as `final_` says (an answer to
    /// our Poll).
    fn bfd_with(&mut self, tunnel: usize, state: State, final_: bool) {
        let packet = ControlPacket {
            diag: 0,
            state,
            poll: false,
            final_,
            detect_mult: 3,
            my_discr: 1000 + tunnel as u32,
            your_discr: self.our_discr[tunnel],
            desired_min_tx_us: 200_000,
            required_min_rx_us: 200_000,
            required_min_echo_rx_us: 0,
            control_plane_independent: self.far_bfd_independent,
            demand: false,
        };
        self.event(Event::Probe {
            tunnel: TunnelId(tunnel),
            kind: ProbeKind::Bfd,
            payload: packet.encode().to_vec(),
            received: self.now,
        });
    }

    /// Brings `tunnel`'s probe up (the three-way handshake of RFC 5880).
    fn probe_up(&mut self, tunnel: usize) {
        self.probe_up_keeping(tunnel, &[]);
    }

    /// [`Harness::probe_up`] while the far side keeps the probes of `keep`
    /// up.
    fn probe_up_keeping(&mut self, tunnel: usize, keep: &[usize]) {
        // The VGW probes once the customer side has made a handshake.
        self.handshake(tunnel);
        for t in keep {
            self.bfd(*t, State::Up);
        }
        self.tick(Duration::from_millis(250));
        for t in keep {
            self.bfd(*t, State::Up);
        }
        self.bfd(tunnel, State::Down);
        self.bfd(tunnel, State::Init);
        self.bfd(tunnel, State::Up);
        assert!(
            self.liveness.contains(&(tunnel, State::Up)),
            "probe of tunnel {tunnel} up: {:?}",
            self.liveness
        );
    }

    /// A WireGuard handshake made on `tunnel`: the VGW may probe it.
    fn handshake(&mut self, tunnel: usize) {
        self.event(Event::Handshake {
            tunnel: TunnelId(tunnel),
            established: true,
        });
    }

    /// `steps` ticks of 100 ms, the far side's BFD up on both tunnels at
    /// each (a session's idle hold, say).
    fn idle_with_probes_up(&mut self, steps: usize) {
        for _ in 0..steps {
            self.tick(Duration::from_millis(100));
            self.bfd(0, State::Up);
            self.bfd(1, State::Up);
        }
    }

    /// Whether an UPDATE written since `writes` was last cleared announces
    /// `net`.
    fn announced(&self, net: &str) -> bool {
        let Ok(net) = net.parse::<IpNet>() else {
            return false;
        };
        self.writes.iter().any(
            |w| matches!(codec::decode(w, &ctx()), Ok(Message::Update(u)) if u.nlri.contains(&net)),
        )
    }

    /// The peer connects to our passive session over tunnel 0 and opens it.
    fn session_up(&mut self) {
        self.session_up_with(vec![]);
    }

    /// [`Harness::session_up`] with more capabilities in the peer's OPEN.
    fn session_up_with(&mut self, more: Vec<Capability>) {
        self.conn += 1;
        self.event(Event::Transport(TransportEvent::Connected {
            peer: PeerId(0),
            conn: self.conn,
        }));
        let mut capabilities = vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(PEER_ASN),
        ];
        capabilities.extend(more);
        let open = Open {
            asn: PEER_ASN,
            hold_time: 90,
            router_id: Ipv4Addr::new(10, 255, 0, 2),
            capabilities,
        };
        let mut bytes = wire(&Message::Open(open));
        bytes.extend(wire(&Message::Keepalive));
        self.data(bytes);
        assert_eq!(self.bgp_state(), "established");
    }

    fn data(&mut self, bytes: Vec<u8>) {
        self.event(Event::Transport(TransportEvent::Data {
            peer: PeerId(0),
            conn: self.conn,
            bytes,
        }));
    }

    /// The peer announces `prefixes` (path 65000 65010).
    fn announce(&mut self, prefixes: &[IpNet]) {
        let attrs = PathAttributes {
            as_path: vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![PEER_ASN, 65010],
            }],
            ..PathAttributes::default()
        };
        let hop = [IpAddr::V4(Ipv4Addr::new(169, 254, 10, 2))];
        for msg in codec::encode_announcements(&attrs, Family::IPV4_UNICAST, &hop, prefixes, &ctx())
        {
            self.data(msg);
        }
    }

    fn bgp_state(&mut self) -> String {
        let id = RequestId(u64::MAX);
        self.event(Event::Admin {
            id,
            command: AdminCommand::Bgp,
        });
        let reply = self.reply(id);
        reply["peers"][0]["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn reply(&mut self, id: RequestId) -> serde_json::Value {
        let at = self.replies.iter().position(|(i, _)| *i == id);
        at.map(|i| self.replies.remove(i).1)
            .unwrap_or(serde_json::Value::Null)
    }

    /// Runs turns of `step` until the core has no route work left, keeping
    /// every probe alive as the far side would (a packet every 100 ms).
    fn settle(&mut self, step: Duration, up: &[usize]) {
        let mut since_probe = Duration::ZERO;
        for _ in 0..1_000_000 {
            if !self.gw.has_work() && !self.gw.publish_pending() {
                return;
            }
            self.tick(step);
            since_probe += step;
            if since_probe >= Duration::from_millis(100) {
                since_probe = Duration::ZERO;
                for t in up {
                    self.bfd(*t, State::Up);
                }
            }
        }
        panic!("the core never finished its route work");
    }

    /// [`Harness::settle`] in 1 ms steps, on at least until `until` (the
    /// timers due by then fire), the far side keeping both probes up; the
    /// most prefixes the selection's queue held at once.
    fn settle_watching_queue(&mut self, until: Instant) -> usize {
        let (mut longest, mut turns) = (0, 0);
        while self.now < until || self.gw.has_work() || self.gw.publish_pending() {
            self.tick(Duration::from_millis(1));
            if turns % 100 == 0 {
                self.bfd(0, State::Up);
                self.bfd(1, State::Up);
            }
            longest = longest.max(self.gw.rib.pending());
            turns += 1;
            assert!(turns < 100_000, "the core never finished its route work");
        }
        longest
    }

    /// IPv4 prefixes in the published FIB (`None`: nothing published).
    fn fib_v4(&self) -> Option<usize> {
        self.fib.as_ref().map(|f| f.counts().0)
    }

    fn routed(&self, prefix: &str) -> Option<Vec<usize>> {
        let ip: IpAddr = prefix.parse().unwrap();
        let fib = self.fib.as_ref()?;
        fib.lookup(ip)
            .map(|hop| hop.tunnels.iter().map(|(t, _)| t.index()).collect())
    }
}

fn ctx() -> codec::Context {
    codec::Context {
        four_octet_as: true,
    }
}

fn wire(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(msg, &ctx(), &mut out).unwrap();
    out
}

/// `n` distinct /24s from 11.0.0.0 on.
fn prefixes(n: usize) -> Vec<IpNet> {
    (0..n as u32)
        .map(|i| {
            let a = Ipv4Addr::from(0x0b00_0000 + (i << 8));
            IpNet::V4(ipnet::Ipv4Net::new(a, 24).unwrap())
        })
        .collect()
}

/// A dynamic gateway with `n` routes learned over tunnel 0, all installed.
fn learned(fx: &Fixture, connection: &str, n: usize, budget: Budget) -> Harness {
    learned_within(fx, connection, n, n as u32 + 10, budget)
}

/// [`learned`], with `max_prefixes` = `max`.
fn learned_within(fx: &Fixture, connection: &str, n: usize, max: u32, budget: Budget) -> Harness {
    let mut h = Harness::new(config(fx, connection, max), budget);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up();
    h.announce(&prefixes(n));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]), "learned over tunnel 0");
    h
}

#[test]
fn learned_routes_become_kernel_routes_unless_kernel_routes_is_off() {
    let fx = Fixture::new();
    let h = learned(&fx, "office", 3, Budget::DEFAULT);
    let net: IpNet = "11.0.1.0/24".parse().unwrap();
    assert!(h.kernel.contains(&(net, true)), "{:?}", h.kernel);

    let mut cfg = crate::config::GatewayConfig::clone(&config(&fx, "office", 13));
    cfg.route_table.kernel_routes = false;
    let cfg = Arc::new(cfg);
    assert!(!cfg.route_table.kernel_routes);
    let mut h = Harness::new(cfg, Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up();
    h.announce(&prefixes(3));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(h.routed("11.0.1.1"), Some(vec![0]), "in the FIB");
    assert!(h.kernel.is_empty(), "{:?}", h.kernel);
}

#[test]
fn a_peer_announcing_a_route_over_our_network_may_not_send_from_it() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 3, Budget::DEFAULT);
    let covering: Vec<IpNet> = ["0.0.0.0/0", "10.0.0.0/8"]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    h.announce(&covering);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let fib = h.fib.as_ref().expect("a FIB was published");
    let from = |a: &str| fib.source_allowed(a.parse().unwrap(), ConnectionId(0));
    assert!(
        from("10.9.0.1") && from("192.0.2.1"),
        "the peer's routes are its sources"
    );
    // 10.2.0.0/24 is ours ([bgp] networks): refused from every peer.
    assert!(
        !from("10.2.0.5"),
        "a packet from our own network over a tunnel"
    );
    assert_eq!(
        h.routed("10.9.0.1"),
        Some(vec![0]),
        "the routes are installed"
    );
}

#[test]
fn a_failed_notification_write_still_withdraws_and_our_routes_go_out_again() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    // A message with a broken marker: we answer with a NOTIFICATION, which
    // the transport cannot write (the peer stopped reading).
    let mut bad = wire(&Message::Keepalive);
    bad[0] = 0;
    h.data(bad);
    h.event(Event::Transport(TransportEvent::WriteFailed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    h.settle(Duration::from_millis(1), &[0, 1]);
    assert_eq!(
        h.routed("11.0.0.1"),
        None,
        "the peer's routes are withdrawn"
    );
    // The session comes back after its idle hold; ours are announced again.
    h.idle_with_probes_up(100);
    h.writes.clear();
    h.session_up();
    assert!(
        h.announced("10.2.0.0/24"),
        "our network is advertised again"
    );
}

fn drain(h: &mut Harness, id: u64, tunnel: &str, drain: bool) -> Option<serde_json::Value> {
    let id = RequestId(id);
    h.event(Event::Admin {
        id,
        command: AdminCommand::Drain {
            tunnel: tunnel.into(),
            drain,
        },
    });
    let reply = h.reply(id);
    (!reply.is_null()).then_some(reply)
}

#[test]
fn a_static_drain_tells_the_far_side_in_bfd_and_moves_at_once() {
    let fx = Fixture::new();
    let cfg = Arc::new(fx.parse(&fx.base()).expect("static config"));
    let mut h = Harness::new(cfg, Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    for _ in 0..40 {
        h.tick(Duration::from_millis(100));
        h.bfd(0, State::Up);
        h.bfd(1, State::Up);
    }
    assert_eq!(
        h.routed("10.1.0.1"),
        Some(vec![0]),
        "the preferred tunnel carries it"
    );
    h.sent_bfd.clear();
    let reply = drain(&mut h, 1, "169.254.10.0/30", true).expect("answered at once");
    assert_eq!(reply["drain"], "drained", "{reply}");
    assert_eq!(
        h.routed("10.1.0.1"),
        Some(vec![1]),
        "moved in the same step"
    );
    h.tick(Duration::from_millis(300));
    assert!(
        h.sent_bfd.contains(&(0, State::AdminDown)),
        "the far side is told: {:?}",
        h.sent_bfd
    );
    // The far side answers Down: the drained tunnel stays out.
    h.bfd(0, State::Down);
    h.bfd(1, State::Up);
    h.tick(Duration::from_millis(300));
    assert_eq!(h.routed("10.1.0.1"), Some(vec![1]));
    let again = drain(&mut h, 2, "169.254.10.0/30", true).expect("answer");
    assert_eq!(again["detail"], "already drained");
    let back = drain(&mut h, 3, "169.254.10.0/30", false).expect("answer");
    assert_eq!(back["drain"], "none", "{back}");
    assert!(
        drain(&mut h, 4, "169.254.99.0/30", true).expect("answer")["error"]
            .as_str()
            .is_some_and(|e| e.contains("no tunnel"))
    );
}

#[test]
fn a_dynamic_drain_sends_a_worse_path_and_waits_for_the_peer_to_move() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    h.writes.clear();
    h.active.clear();
    assert!(
        drain(&mut h, 1, "169.254.10.0/30", true).is_none(),
        "answered when moved"
    );
    let worse = h.writes.iter().any(|w| {
        matches!(codec::decode(w, &ctx()), Ok(Message::Update(u))
        if u.nlri.contains(&"10.2.0.0/24".parse().unwrap())
            && u.attributes.as_ref().is_some_and(|a| {
                a.med == Some(crate::routing::speaker::DRAIN_MED)
                    && a.as_path_flat().len() == 4
            }))
    });
    assert!(
        worse,
        "our route goes out again with a longer path and a worse MED"
    );
    // The peer keeps sending for a while: still draining, still active.
    let mut rx = 1000;
    for _ in 0..10 {
        rx += 20;
        h.event(Event::Traffic {
            rx_packets: vec![rx, 0],
        });
        h.tick(Duration::from_millis(100));
        h.bfd(0, State::Up);
        h.bfd(1, State::Up);
    }
    assert!(
        h.reply(RequestId(1)).is_null(),
        "not drained while traffic arrives"
    );
    assert!(!h.active.contains(&(0, false)));
    // Then nothing more arrives: drained, and our traffic leaves it.
    let mut answered = serde_json::Value::Null;
    for _ in 0..20 {
        h.event(Event::Traffic {
            rx_packets: vec![rx, 0],
        });
        h.tick(Duration::from_millis(100));
        h.bfd(0, State::Up);
        h.bfd(1, State::Up);
        answered = h.reply(RequestId(1));
        if !answered.is_null() {
            break;
        }
    }
    assert_eq!(answered["drain"], "drained", "{answered}");
    assert!(h.active.contains(&(0, false)), "{:?}", h.active);
    assert_eq!(h.bgp_state(), "established", "no session reset");
    // Undrained: the ordinary path again.
    h.writes.clear();
    let back = drain(&mut h, 2, "169.254.10.0/30", false).expect("answered at once");
    assert_eq!(back["drain"], "none");
    let normal = h.writes.iter().any(|w| {
        matches!(codec::decode(w, &ctx()), Ok(Message::Update(u))
            if u.attributes.as_ref().is_some_and(|a| a.med.is_none() && a.as_path_flat().len() == 1))
    });
    assert!(normal, "our route goes out as before");
}

#[test]
fn a_burst_of_route_refreshes_is_answered_once_and_the_session_stays() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    h.writes.clear();
    let refresh = wire(&Message::RouteRefresh(Family::IPV4_UNICAST));
    let eors = |h: &Harness| {
        h.writes
            .iter()
            .filter(|w| {
                matches!(codec::decode(w, &ctx()), Ok(Message::Update(u))
                    if u.is_end_of_rib() == Some(Family::IPV4_UNICAST))
            })
            .count()
    };
    // A thousand requests read at once: one answer (what we advertise,
    // then End-of-RIB), not a thousand copies for the write queue.
    h.data(refresh.repeat(1000));
    assert_eq!(eors(&h), 1, "{} writes", h.writes.len());
    // A request read later is answered again.
    h.data(refresh.clone());
    assert_eq!(eors(&h), 2);
    assert_eq!(h.bgp_state(), "established");
}

#[test]
fn a_long_list_of_networks_goes_out_a_chunk_at_a_time_then_end_of_rib() {
    const NETWORKS: u32 = 5_000;
    let fx = Fixture::new();
    let networks: Vec<String> = (0..NETWORKS)
        .map(|i| format!("{}/24", Ipv4Addr::from(0x1e00_0000 + (i << 8))))
        .collect();
    let budget = Budget {
        time: None,
        routes: 2048,
    };
    let mut h = Harness::new(
        config_advertising(&fx, "office", 100, "", &networks),
        budget,
    );
    h.probe_up(0);
    h.probe_up(1);
    // What the peer was sent: prefixes announced, in order, and where the
    // End-of-RIB came.
    let sent = |h: &Harness| {
        let mut announced = Vec::new();
        let mut eor = None;
        for w in &h.writes {
            if let Ok(Message::Update(u)) = codec::decode(w, &ctx()) {
                if u.is_end_of_rib() == Some(Family::IPV4_UNICAST) {
                    eor.get_or_insert(announced.len());
                }
                announced.extend(u.nlri.iter().copied());
            }
        }
        (announced, eor)
    };
    h.session_up();
    let (first, eor) = sent(&h);
    assert!(
        first.len() < NETWORKS as usize && eor.is_none(),
        "the session's first step sent {} networks, not all",
        first.len()
    );
    h.settle(Duration::from_millis(1), &[0, 1]);
    let (all, eor) = sent(&h);
    let distinct: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (NETWORKS as usize, NETWORKS as usize),
        "every network once"
    );
    assert_eq!(eor, Some(all.len()), "End-of-RIB after the last of them");
    assert!(
        h.max_turn <= budget.routes + 1024,
        "a turn did {} networks' work",
        h.max_turn
    );
    assert_eq!(h.bgp_state(), "established");
}

#[test]
fn a_tunnel_losing_its_probe_round_trips_loses_the_traffic_until_it_answers_again() {
    let fx = Fixture::new();
    let cfg = Arc::new(fx.parse(&fx.base()).expect("static config"));
    let mut h = Harness::new(cfg, Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    // Both answer for a while: the preferred tunnel carries the traffic.
    let run = |h: &mut Harness, ms: u64, answer_0: bool| {
        for _ in 0..ms / 100 {
            h.tick(Duration::from_millis(100));
            if answer_0 {
                h.bfd(0, State::Up);
            } else {
                // BFD keeps it up, but our Polls go unanswered (lost).
                h.polled[0] = false;
                h.bfd_with(0, State::Up, false);
            }
            h.bfd(1, State::Up);
        }
    };
    run(&mut h, 5_000, true);
    assert_eq!(h.routed("10.1.0.1"), Some(vec![0]));
    // Its round trips are lost (BFD still up): degraded after 3 of 8.
    let seen = h.liveness.len();
    run(&mut h, 2_500, false);
    assert_eq!(
        h.routed("10.1.0.1"),
        Some(vec![0]),
        "two lost are not enough"
    );
    run(&mut h, 2_000, false);
    assert_eq!(
        h.routed("10.1.0.1"),
        Some(vec![1]),
        "degraded: the other tunnel carries it"
    );
    assert!(
        h.liveness[seen..].iter().all(|(t, _)| *t != 0),
        "BFD never changed: {:?}",
        &h.liveness[seen..]
    );
    // Answered again: healthy after 8 in a row, then the failback hold (3 s).
    run(&mut h, 7_000, true);
    assert_eq!(h.routed("10.1.0.1"), Some(vec![1]), "not yet 8 in a row");
    run(&mut h, 2_000, true);
    assert_eq!(
        h.routed("10.1.0.1"),
        Some(vec![1]),
        "recovered, in its hold"
    );
    run(&mut h, 3_500, true);
    assert_eq!(h.routed("10.1.0.1"), Some(vec![0]), "back after the hold");
}

mod adopt;
mod fault_retry;
mod graceful;
mod graceful_edges;
mod graceful_sweep;
mod liveness_bgp;
mod plugins;
mod probe_timing;
mod publish;
mod reload;
mod scale;
mod sessions;
mod view;
