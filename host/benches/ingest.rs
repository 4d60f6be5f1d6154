//! Benchmark of the control plane's ingest, without I/O: a full table
//! received over one BGP session, through the gateway core as the control
//! thread drives it (decoding, the Adj-RIB-In, the import filter, the
//! Loc-RIB and the FIB), on a fake clock. The routes benchmark
//! (`scripts/bench-routes.sh`) measures the same work end to end beside
//! BIRD, but on a shared 2-core machine its CPU times move by a fifth from
//! run to run; this one runs the core alone, and under
//! `valgrind --tool=callgrind` counts the same instructions every time.
//!
//! Run: `cargo bench -p sitelink --bench ingest [-- V4 V6 RUNS]` (defaults
//! 1,000,000 IPv4 /24s, 200,000 IPv6 /48s, 5 runs). The routes arrive in a
//! scattered order, as BIRD sends a table (its own hash order), in UPDATEs
//! of one attribute set each, cut into 16 KiB reads as the transport hands
//! them over. With `SITELINK_BENCH_WASM=1` the `bgp-filter` and
//! `route-selection` slots hold the Wasm default plugins
//! (`scripts/build-plugins.sh`), as in the routes benchmark; else the
//! native defaults. Then every route leaves, and the benchmark gives the
//! longest turn and the time until the FIB holds none of them, as
//! `SITELINK_BENCH_END` says: `cut` (the default), the tunnel carrying the
//! session stops answering its probes; `restart`, the peer's connection
//! drops with graceful restart and the peer never comes back (its restart
//! time is 1 s); `partial`, the peer restarts, comes back, announces half
//! the table again (not timed) and sends its End-of-RIBs, which sweep the
//! other half; `redrop`, as `partial`, but the connection drops again
//! right after the End-of-RIBs, while that sweep is under way (the half
//! announced again stays, stale; the time is until the other half is
//! out); `reback`, as `redrop`, and the peer is back at once (after one
//! turn), the sweep still under way; `none`, nothing (to profile the
//! ingest alone).
//! `SITELINK_BENCH_FEED` says how the table arrives: `bulk` (the default),
//! a peer faster than the gateway, 16 KiB reads while the driver's backlog
//! allows; `trickle`, a gateway that keeps up, a 4 KiB read per turn, so
//! that each turn empties the selection's queue. This file
//! owns only measurement; it asserts nothing but that every route arrived
//! and left.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sitelink::bgp::codec::{self, Context};
use sitelink::bgp::message::{
    AsSegment, Capability, Family, GracefulRestart, Message, Open, PathAttributes, SegmentKind,
};
use sitelink::bgp::transport::{PeerId, TransportEvent};
use sitelink::dataplane::fib::Fib;
use sitelink::dataplane::ProbeKind;
use sitelink::gateway::{Action, Budget, Event, Gateway, Settings, Slots};
use sitelink::liveness::bfd::{ControlPacket, State};
use sitelink::policy::{EngineSettings, PolicyEngine, Slot};
use sitelink::topology::TunnelId;

// The binary's allocator and options (`sitelink::control::heap`), so that
// the ingest pays what the gateway pays (4-13% more than on glibc's
// malloc, BENCHMARKS-routes.md, twenty-first sitting). Under callgrind,
// `_RJEM_MALLOC_CONF=background_thread:false` keeps jemalloc's purging
// thread out of the count.
sitelink::gateway_allocator!();

const PEER_ASN: u32 = 65000;
/// How the feed arrives (`SITELINK_BENCH_FEED`).
#[derive(Clone, Copy)]
struct Pace {
    /// Bytes the transport hands over per read.
    read: usize,
    /// No read while this many routes wait (the driver's backlog).
    backlog: usize,
}

/// A peer faster than the gateway: full 16 KiB reads, read until the
/// driver's backlog is reached.
const BULK: Pace = Pace {
    read: 16 * 1024,
    backlog: 16 * 1024,
};
/// A gateway that keeps up with its peer: a 4 KiB read (about 1,000
/// routes) per turn, each turn's work emptying the queue.
const TRICKLE: Pace = Pace {
    read: 4 * 1024,
    backlog: 1,
};
/// Route work per turn: a fixed count, so that runs do the same work
/// whatever the machine's speed (the control thread uses 20 ms).
const TURN_ROUTES: usize = 8 * 1024;
/// Fake time per turn.
const TURN: Duration = Duration::from_millis(2);

type Error = Box<dyn std::error::Error>;

fn config(dir: &Path, routes: usize) -> Result<sitelink::config::GatewayConfig, Error> {
    let own = sitelink::keys::generate_private_key()?;
    let key = dir.join("gw.key");
    std::fs::write(&key, sitelink::keys::encode_key(&own))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    let far = sitelink::keys::generate_private_key()?;
    let far = sitelink::keys::encode_key(&sitelink::keys::public_key_of(&far));
    let tunnel = |endpoint: &str, cidr: &str| {
        format!(
            "[[connection.tunnel]]\nendpoint = \"{endpoint}\"\nremote = \"198.18.10.2:51820\"\n\
             remote_public_key = \"{far}\"\ninside_cidr = \"{cidr}\"\n"
        )
    };
    let text = format!(
        "[gateway]\nname = \"vgw\"\nrole = \"vgw\"\nprivate_key_file = \"gw.key\"\n\n\
         [tun]\nname = \"sl-bench\"\nmtu = 1420\n\n\
         [[endpoint]]\nname = \"az1\"\nlisten = \"198.18.1.2:51820\"\n\n\
         [[endpoint]]\nname = \"az2\"\nlisten = \"198.18.2.2:51820\"\n\n\
         [route_table]\nkernel_routes = false\n\n\
         [[connection]]\nname = \"office\"\nrouting = \"dynamic\"\n\n\
         [connection.bgp]\nremote_asn = {PEER_ASN}\nmax_prefixes = {}\n\n{}\n{}\n\
         [bgp]\nnetworks = [\"10.2.0.0/24\"]\n",
        routes + 1000,
        tunnel("az1", "169.254.10.0/30"),
        tunnel("az2", "169.254.11.0/30"),
    );
    Ok(sitelink::config::parse(
        &text,
        Path::new("bench.toml"),
        dir,
    )?)
}

fn slots(wasm: bool) -> Result<Slots, Error> {
    let mut slots = Slots {
        failover: sitelink::policy::FailoverSlot::new(3),
        selection: sitelink::policy::SelectionSlot::new(3),
        filter: sitelink::policy::FilterSlot::new(3),
    };
    if wasm {
        let dir = std::env::var_os("SITELINK_PLUGIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../plugins/target/wasm32-wasip2/release")
            });
        let engine = PolicyEngine::new(EngineSettings::default())?;
        let load = |slot, file: &str| engine.load(slot, &dir.join(file), BTreeMap::new());
        slots
            .filter
            .install(load(Slot::BgpFilter, "default_bgp_filter.wasm")?)?;
        slots
            .selection
            .install(load(Slot::RouteSelection, "default_route_selection.wasm")?)?;
    }
    Ok(slots)
}

/// The core on a fake clock, playing the far side.
struct Core {
    gw: Gateway,
    now: Instant,
    our_discr: [u32; 2],
    fib: Option<Arc<Fib>>,
    since_probe: Duration,
    /// The far side answers the probes of these tunnels.
    alive: [bool; 2],
}

impl Core {
    fn drain(&mut self) {
        while let Some(action) = self.gw.poll_action() {
            match action {
                Action::SendBfd { tunnel, packet } => {
                    if let (Ok(p), Some(d)) = (
                        ControlPacket::decode(&packet),
                        self.our_discr.get_mut(tunnel.index()),
                    ) {
                        *d = p.my_discr;
                    }
                }
                Action::PublishFib(fib) => self.fib = Some(fib),
                _ => {}
            }
        }
    }

    fn event(&mut self, event: Event) {
        self.gw.handle(event, self.now);
        self.drain();
    }

    fn bfd(&mut self, tunnel: usize, state: State) {
        let packet = ControlPacket {
            diag: 0,
            state,
            poll: false,
            final_: false,
            detect_mult: 3,
            my_discr: 1000 + tunnel as u32,
            your_discr: self.our_discr.get(tunnel).copied().unwrap_or(0),
            desired_min_tx_us: 200_000,
            required_min_rx_us: 200_000,
            required_min_echo_rx_us: 0,
            control_plane_independent: false,
            demand: false,
        };
        self.event(Event::Probe {
            tunnel: TunnelId(tunnel),
            kind: ProbeKind::Bfd,
            payload: packet.encode().to_vec(),
            received: self.now,
        });
    }

    /// One turn of the control loop: the clock moves, timers and a
    /// budget's worth of route work run, and the far side's probes keep
    /// coming (one every 100 ms of fake time).
    fn turn(&mut self) {
        self.now += TURN;
        self.since_probe += TURN;
        if self.since_probe >= Duration::from_millis(100) {
            self.since_probe = Duration::ZERO;
            for t in 0..2 {
                if self.alive[t] {
                    self.bfd(t, State::Up);
                }
            }
        }
        if self.now >= self.gw.poll_timeout() {
            self.gw.handle_timeout(self.now);
        }
        self.drain();
    }

    fn data(&mut self, bytes: Vec<u8>) {
        self.data_on(1, bytes);
    }

    fn data_on(&mut self, conn: u64, bytes: Vec<u8>) {
        self.event(Event::Transport(TransportEvent::Data {
            peer: PeerId(0),
            conn,
            bytes,
        }));
    }

    fn fib_routes(&self) -> usize {
        self.fib.as_ref().map_or(0, |f| f.len())
    }
}

fn wire(msg: &Message) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    codec::encode(msg, &ctx(), &mut out)?;
    Ok(out)
}

fn ctx() -> Context {
    Context {
        four_octet_as: true,
    }
}

/// `n` items in a scattered order: `i * step mod n` with `step` prime to
/// `n`, about n / golden ratio.
fn scattered(n: usize) -> impl Iterator<Item = usize> {
    let mut step = ((n as f64) * 0.618_033_988_7) as usize | 1;
    while gcd(step, n.max(1)) != 1 {
        step += 2;
    }
    (0..n).map(move |i| (i * step) % n)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The feed as the peer sends it: UPDATEs of 1,024 prefixes (about what
/// BIRD packs in 4 KiB), each its own attribute set, cut into reads.
fn feed(v4: usize, v6: usize, read: usize) -> Result<Vec<Vec<u8>>, Error> {
    let v4_prefixes: Vec<IpNet> = scattered(v4)
        .map(|i| {
            let a = Ipv4Addr::from((20u32 << 24) + ((i as u32) << 8));
            Ok(IpNet::V4(Ipv4Net::new(a, 24)?))
        })
        .collect::<Result<_, Error>>()?;
    let v6_prefixes: Vec<IpNet> = scattered(v6)
        .map(|i| {
            let a = (0xfd10u128 << 112) | ((i as u128) << 80);
            Ok(IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), 48)?))
        })
        .collect::<Result<_, Error>>()?;
    let mut stream = Vec::new();
    let families = [
        (
            Family::IPV4_UNICAST,
            &v4_prefixes,
            IpAddr::V4(Ipv4Addr::new(169, 254, 10, 2)),
        ),
        (
            Family::IPV6_UNICAST,
            &v6_prefixes,
            IpAddr::V6("fd99::1".parse()?),
        ),
    ];
    for (family, prefixes, hop) in families {
        for (n, chunk) in prefixes.chunks(1024).enumerate() {
            let attrs = PathAttributes {
                as_path: vec![AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: vec![PEER_ASN, 65010 + (n % 1000) as u32],
                }],
                ..PathAttributes::default()
            };
            for msg in codec::encode_announcements(&attrs, family, &[hop], chunk, &ctx()) {
                stream.extend(msg);
            }
        }
    }
    Ok(stream.chunks(read).map(<[u8]>::to_vec).collect())
}

/// How the routes leave after the ingest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Cut,
    Restart,
    Partial,
    Redrop,
    Reback,
    None,
}

/// One run: a fresh core, its probes and session up, then the feed, read
/// while fewer than `backlog` routes wait, a turn between reads. Returns
/// the time from the first read to every route in the published FIB.
fn run(
    dir: &Path,
    wasm: bool,
    end: End,
    reads: &[Vec<u8>],
    backlog: usize,
    (v4, v6): (usize, usize),
) -> Result<Run, Error> {
    let routes = v4 + v6;
    let cfg = Arc::new(config(dir, routes)?);
    let settings = Settings {
        budget: Budget {
            time: None,
            routes: TURN_ROUTES,
        },
        seed: 7,
        changes_shown: 0,
    };
    let now = Instant::now();
    let gw = Gateway::new(cfg, slots(wasm)?, settings, now);
    let mut core = Core {
        gw,
        now,
        our_discr: [0; 2],
        fib: None,
        since_probe: Duration::ZERO,
        alive: [true; 2],
    };
    core.drain();
    for t in 0..2 {
        core.event(Event::Handshake {
            tunnel: TunnelId(t),
            established: true,
        });
    }
    core.turn();
    for t in 0..2 {
        for state in [State::Down, State::Init, State::Up] {
            core.bfd(t, state);
        }
    }
    core.event(Event::Transport(TransportEvent::Connected {
        peer: PeerId(0),
        conn: 1,
    }));
    let mut open = Open {
        asn: PEER_ASN,
        hold_time: 90,
        router_id: Ipv4Addr::new(10, 255, 0, 2),
        capabilities: vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(PEER_ASN),
        ],
    };
    let back = matches!(end, End::Partial | End::Redrop | End::Reback);
    if end == End::Restart || back {
        open.capabilities
            .push(Capability::GracefulRestart(GracefulRestart {
                // The peer that comes back must be back in time.
                restart_time: if back { 120 } else { 1 },
                families: vec![(Family::IPV4_UNICAST, true), (Family::IPV6_UNICAST, true)],
                ..GracefulRestart::default()
            }));
    }
    let mut hello = wire(&Message::Open(open))?;
    hello.extend(wire(&Message::Keepalive)?);
    core.data(hello.clone());
    core.turn();
    let mut before = core.fib_routes();
    let start = Instant::now();
    let mut next = reads.iter();
    let mut pending = next.next();
    while core.fib_routes() < before + routes {
        while let Some(bytes) = pending.filter(|_| core.gw.backlog() < backlog) {
            core.data(bytes.clone());
            pending = next.next();
        }
        core.turn();
        if pending.is_none() && !core.gw.has_work() && !core.gw.publish_pending() {
            break;
        }
    }
    let took = start.elapsed();
    let got = core.fib_routes() - before;
    if got != routes {
        return Err(format!("{got} of {routes} routes reached the FIB").into());
    }
    let mut start = Instant::now();
    // The longest step before the timed turns, if it is not all of them.
    let mut first_steps = None;
    match end {
        End::None => {
            return Ok(Run {
                ingest: took,
                down_turn: Duration::ZERO,
                down: Duration::ZERO,
            })
        }
        // The peer's connection drops, with graceful restart: its routes
        // are kept as stale, and go when its restart time (1 s) runs out.
        End::Restart => core.event(Event::Transport(TransportEvent::Closed {
            peer: PeerId(0),
            conn: 1,
        })),
        // The tunnel carrying the session stops answering its probes:
        // after the detection time its routes go (the session is reset
        // with it).
        End::Cut => core.alive[0] = false,
        // The peer restarts, comes back, announces half its table again
        // (worked off before the clock starts again) and ends with its
        // End-of-RIBs: the other half is swept. With `Redrop` its
        // connection drops again at once, the sweep under way.
        End::Partial | End::Redrop | End::Reback => {
            core.event(Event::Transport(TransportEvent::Closed {
                peer: PeerId(0),
                conn: 1,
            }));
            // Back after 2 s (the session's idle hold), probes kept up.
            for _ in 0..1000 {
                core.turn();
            }
            core.event(Event::Transport(TransportEvent::Connected {
                peer: PeerId(0),
                conn: 2,
            }));
            core.data_on(2, hello.clone());
            for bytes in feed(v4 / 2, v6 / 2, 16 * 1024)? {
                core.data_on(2, bytes);
                while core.gw.backlog() >= 16 * 1024 {
                    core.turn();
                }
            }
            while core.gw.has_work() || core.gw.publish_pending() {
                core.turn();
            }
            before += v4 / 2 + v6 / 2;
            start = Instant::now();
            let mut eor = codec::encode_end_of_rib(Family::IPV4_UNICAST, &ctx());
            eor.extend(codec::encode_end_of_rib(Family::IPV6_UNICAST, &ctx()));
            core.data_on(2, eor);
            if end != End::Partial {
                core.event(Event::Transport(TransportEvent::Closed {
                    peer: PeerId(0),
                    conn: 2,
                }));
            }
            if end == End::Reback {
                // Back at once: the idle hold (2 s) over in one turn, the
                // sweep barely begun; the return is a step of its own.
                let mut longest = start.elapsed();
                core.now += Duration::from_secs(2);
                core.since_probe = Duration::from_millis(100);
                let turn = Instant::now();
                core.turn();
                longest = longest.max(turn.elapsed());
                let step = Instant::now();
                core.event(Event::Transport(TransportEvent::Connected {
                    peer: PeerId(0),
                    conn: 3,
                }));
                core.data_on(3, hello);
                first_steps = Some(longest.max(step.elapsed()));
            }
        }
    }
    let mut longest = first_steps.unwrap_or_else(|| start.elapsed());
    while core.fib_routes() > before || core.gw.has_work() || core.gw.publish_pending() {
        let turn = Instant::now();
        core.turn();
        longest = longest.max(turn.elapsed());
        if start.elapsed() > Duration::from_secs(60) {
            return Err("the routes never left the FIB".into());
        }
    }
    Ok(Run {
        ingest: took,
        down_turn: longest,
        down: start.elapsed(),
    })
}

/// One run's times.
struct Run {
    /// From the first read to every route in the published FIB.
    ingest: Duration,
    /// The longest turn after the end began (a restart's drop included).
    down_turn: Duration,
    /// From the tunnel's last probe, or the peer's drop, to every route
    /// out of the published FIB (the detection and restart times are fake,
    /// so nearly all of it is work).
    down: Duration,
}

fn main() -> Result<(), Error> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let v4 = args.first().copied().unwrap_or(1_000_000);
    let v6 = args.get(1).copied().unwrap_or(200_000);
    let runs = args.get(2).copied().unwrap_or(5).max(1);
    let wasm = std::env::var_os("SITELINK_BENCH_WASM").is_some_and(|v| v == "1");
    let end = match std::env::var("SITELINK_BENCH_END").as_deref() {
        Err(_) | Ok("cut") => End::Cut,
        Ok("restart") => End::Restart,
        Ok("partial") => End::Partial,
        Ok("redrop") => End::Redrop,
        Ok("reback") => End::Reback,
        Ok("none") => End::None,
        Ok(other) => {
            return Err(format!(
                "SITELINK_BENCH_END={other}: use cut, restart, partial, redrop, reback or none"
            )
            .into())
        }
    };
    let pace = match std::env::var("SITELINK_BENCH_FEED").as_deref() {
        Err(_) | Ok("bulk") => BULK,
        Ok("trickle") => TRICKLE,
        Ok(other) => return Err(format!("SITELINK_BENCH_FEED={other}: use bulk or trickle").into()),
    };
    let dir = std::env::temp_dir().join(format!("sitelink-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let reads = feed(v4, v6, pace.read)?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = run(&dir, wasm, end, &reads, pace.backlog, (v4, v6));
        if let Err(e) = &t {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("{e}").into());
        }
        times.extend(t);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let median = |f: fn(&Run) -> Duration| {
        let mut v: Vec<Duration> = times.iter().map(f).collect();
        v.sort();
        (
            v.get(v.len() / 2).copied().unwrap_or_default(),
            v.first().copied().unwrap_or_default(),
            v.last().copied().unwrap_or_default(),
        )
    };
    let (ingest, min, max) = median(|r| r.ingest);
    let per_route = ingest.as_nanos() as f64 / (v4 + v6) as f64;
    println!(
        "ingest of {v4} IPv4 + {v6} IPv6 routes, {} plugins: median {:.3} s of {runs} \
         (min {:.3}, max {:.3}), {per_route:.0} ns per route, {:.0}k routes/s",
        if wasm {
            "Wasm default"
        } else {
            "native default"
        },
        ingest.as_secs_f64(),
        min.as_secs_f64(),
        max.as_secs_f64(),
        (v4 + v6) as f64 / ingest.as_secs_f64() / 1e3,
    );
    let (turn, ..) = median(|r| r.down_turn);
    let (down, ..) = median(|r| r.down);
    let what = match end {
        End::None => return Ok(()),
        End::Cut => "the tunnel carrying them fails",
        End::Restart => "the peer restarts and never comes back (restart time 1 s)",
        End::Partial => "the peer restarts, sends half again and its End-of-RIBs",
        End::Redrop => "the same, and it drops again during the End-of-RIBs' sweep",
        End::Reback => "the same, and it is back at once, the sweep under way",
    };
    println!(
        "{what} (medians): longest turn {:.1} ms, every route out of the FIB in {:.3} s",
        turn.as_secs_f64() * 1e3,
        down.as_secs_f64(),
    );
    Ok(())
}
