//! `bgp-stress`: a small scripted BGP-4 speaker for the lab's fault-injection
//! tests (`tests/tests/bgp_stress.rs`). It stands where a stock BGP daemon
//! stands in the interop lab: in the far side's namespace, beside the
//! wireguard-go tunnels `sitelink export --format wg-quick` made, and connects
//! from a tunnel's inside address to sitelink's (TCP 179; the VGW is
//! passive). Its messages are encoded by hand (`wire.rs`): OPEN with the
//! Multiprotocol (IPv4 unicast, RFC 4760), Route Refresh (RFC 2918) and
//! 4-octet AS (RFC 6793) capabilities, KEEPALIVE, UPDATE with IPv4 NLRI (RFC
//! 4271) and ROUTE-REFRESH (type 5). This file holds the command line, the
//! sessions and the modes.
//!
//! Modes (`--mode`):
//! - `steady`: a well-behaved peer: announces `--announce`, reads everything,
//!   sends a KEEPALIVE every third of the hold time, and connects again if
//!   the session drops.
//! - `stall`: announces, sends one KEEPALIVE, prints `stalled`, then neither
//!   reads nor writes (with `--rcvbuf` small, its receive window fills) until
//!   `--resume-file` exists; then it reads what the old connection still
//!   holds up to its end (printing any NOTIFICATION) and goes on as `steady`
//!   over a new connection.
//! - `flood`: announces, then for each of `--rounds` rounds (round 2 on
//!   once the file `GO.N` exists, `--go-file GO`; KEEPALIVEs meanwhile)
//!   sends `--updates` UPDATEs back to back: each announces the next of a
//!   pool of `--pool` /24s from `--pool-base` with a MED of its own (the
//!   step number) and withdraws the one announced `--window` steps before;
//!   every third step also re-announces the previous prefix with a new MED
//!   (the step with bit 31 set), an implicit withdraw. So at most
//!   `--window` flood prefixes are in force at any time. Then `--refreshes`
//!   ROUTE-REFRESH messages back to back (reading nothing from then on for
//!   `--pause-ms`, as over a path that stalls, then `reading-resumed`).
//!   After each round it prints the routes it holds announced (`final
//!   round=R count=N prefix=med ...`, `-`: no MED). Once `GO.<rounds+1>`
//!   exists and the answers have stopped coming, one more ROUTE-REFRESH,
//!   timed to its End-of-RIB (`refresh-probe answered_ms=T`). Then it goes
//!   on as `steady` (without reconnecting: a lost session ends it).
//!
//! Output: one line per event on stdout, words the tests parse
//! (`established hold=6 four_octet_as=true`, `stalled unix_ms=T`,
//! `flood-updates round=R sent=N secs=S`, `stats ... eor=N max_gap_ms=G`,
//! `notification-received code=C subcode=S`, `session-ended WHY`, ...).
//! Anything unexpected from the peer is reported and ends the program with
//! status 1; it never panics on what it reads.
//!
//! Usage: `bgp-stress --remote 169.254.10.1 --asn 65000 --peer-asn 64512
//! --router-id 169.254.10.2 --next-hop 169.254.10.2 --mode steady --announce
//! 10.1.0.0/24[,...] [--hold 90] [--rcvbuf BYTES] [--resume-file PATH]
//! [--updates N --refreshes N --rounds N --go-file PATH --pause-ms MS --pool N
//! --window N --pool-base A.B.C.D]`.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod wire;

use wire::{
    end_of_rib, keepalive, open, parse_open, read_msg, route_refresh, update, Prefix, Res, Speaker,
    KEEPALIVE, NOTIFICATION, OPEN, UPDATE,
};

/// How long connecting and the OPEN exchange may take, over all retries.
const ESTABLISH_WITHIN: Duration = Duration::from_secs(60);
/// Longest wait for a resume or go file.
const WAIT_MAX: Duration = Duration::from_secs(120);
/// How long the old connection may take to end after a stall.
const DRAIN_WITHIN: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Steady,
    Stall,
    Flood,
}

struct Args {
    remote: Ipv4Addr,
    asn: u32,
    peer_asn: u32,
    router_id: Ipv4Addr,
    next_hop: Ipv4Addr,
    hold: u16,
    mode: Mode,
    announce: Vec<Prefix>,
    rcvbuf: Option<i32>,
    resume_file: Option<PathBuf>,
    updates: u32,
    refreshes: u32,
    rounds: u32,
    go_file: Option<PathBuf>,
    pause_ms: u64,
    pool: u32,
    window: u32,
    pool_base: Ipv4Addr,
}

/// `--key value` pairs into [`Args`].
fn parse_args(argv: &[String]) -> Res<Args> {
    let mut kv: HashMap<&str, &str> = HashMap::new();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let key = k.strip_prefix("--").ok_or(format!("unexpected {k:?}"))?;
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        kv.insert(key, v);
    }
    let num = |k: &str| -> Option<Res<u64>> {
        kv.get(k)
            .map(|v| v.parse().map_err(|e| format!("--{k} {v:?}: {e}")))
    };
    let int = |k: &str, d: u32| -> Res<u32> {
        let v = num(k).unwrap_or(Ok(u64::from(d)))?;
        u32::try_from(v).map_err(|_| format!("--{k}: {v} is too large"))
    };
    let addr = |k: &str| -> Res<Ipv4Addr> {
        let v = kv.get(k).ok_or(format!("--{k} is required"))?;
        v.parse().map_err(|e| format!("--{k} {v:?}: {e}"))
    };
    let mode = match kv.get("mode").copied() {
        Some("steady") => Mode::Steady,
        Some("stall") => Mode::Stall,
        Some("flood") => Mode::Flood,
        other => return Err(format!("--mode steady|stall|flood, not {other:?}")),
    };
    let announce = kv
        .get("announce")
        .map(|s| s.split(',').filter(|p| !p.is_empty()).map(Prefix::parse))
        .into_iter()
        .flatten()
        .collect::<Res<Vec<_>>>()?;
    let args = Args {
        remote: addr("remote")?,
        asn: int("asn", 0)?,
        peer_asn: int("peer-asn", 0)?,
        router_id: addr("router-id")?,
        next_hop: addr("next-hop")?,
        hold: u16::try_from(int("hold", 90)?).map_err(|_| "--hold: at most 65535")?,
        mode,
        announce,
        rcvbuf: num("rcvbuf")
            .transpose()?
            .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
        resume_file: kv.get("resume-file").map(PathBuf::from),
        updates: int("updates", 0)?,
        refreshes: int("refreshes", 0)?,
        rounds: int("rounds", 1)?,
        go_file: kv.get("go-file").map(PathBuf::from),
        pause_ms: num("pause-ms").unwrap_or(Ok(0))?,
        pool: int("pool", 4096)?,
        window: int("window", 64)?,
        pool_base: match kv.get("pool-base") {
            Some(_) => addr("pool-base")?,
            None => Ipv4Addr::new(10, 128, 0, 0),
        },
    };
    if args.asn == 0 || args.peer_asn == 0 {
        return Err("--asn and --peer-asn are required (and not 0)".into());
    }
    if matches!(args.hold, 1 | 2) {
        return Err("--hold must be 0 or at least 3 (RFC 4271 section 4.2)".into());
    }
    let flood = args.mode == Mode::Flood;
    if flood && (args.window < 2 || args.pool <= args.window || args.pool > 1 << 16) {
        return Err("--window at least 2, below --pool, which holds at most 65536 /24s".into());
    }
    if flood && u64::from(args.rounds) * u64::from(args.updates) >= 1 << 31 {
        return Err("a flood has fewer than 2^31 steps".into());
    }
    Ok(args)
}

struct Session {
    stream: TcpStream,
    /// How our UPDATEs are encoded on this connection.
    me: Speaker,
    /// The negotiated hold time.
    hold: u16,
}

impl Session {
    fn send(&mut self, m: &[u8]) -> Res<()> {
        self.stream.write_all(m).map_err(|e| format!("write: {e}"))
    }

    fn keepalive_every(&self) -> Duration {
        match self.hold {
            0 => Duration::from_secs(30),
            h => Duration::from_secs(u64::from(h)) / 3,
        }
    }
}

/// setsockopt(SOL_SOCKET, `opt`, `value`).
fn set_opt<T>(fd: &OwnedFd, opt: libc::c_int, value: &T) -> io::Result<()> {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: setsockopt reads `len` bytes from a live reference to a T.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (value as *const T).cast(),
            len,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A TCP connection to `remote` with SO_RCVBUF set before the handshake (so
/// the window it offers is small from the start), within 3 s.
fn connect(remote: SocketAddrV4, rcvbuf: Option<i32>) -> io::Result<TcpStream> {
    // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some(size) = rcvbuf {
        set_opt(&fd, libc::SO_RCVBUF, &size)?;
    }
    // A blocking connect gives up after SO_SNDTIMEO.
    let timeout = libc::timeval {
        tv_sec: 3,
        tv_usec: 0,
    };
    set_opt(&fd, libc::SO_SNDTIMEO, &timeout)?;
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: remote.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*remote.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let sa_ptr = (&sa as *const libc::sockaddr_in).cast();
    // SAFETY: `sa` is a valid sockaddr_in and `len` its size.
    if unsafe { libc::connect(fd.as_raw_fd(), sa_ptr, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let stream = TcpStream::from(fd);
    stream.set_write_timeout(None)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects and runs the OPEN exchange (RFC 4271 section 8.2.2), retrying
/// (every second) a refused or closed attempt for up to a minute.
fn establish(a: &Args) -> Res<Session> {
    let deadline = Instant::now() + ESTABLISH_WITHIN;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match try_establish(a) {
            Ok(s) => {
                println!(
                    "established hold={} four_octet_as={} attempts={attempts}",
                    s.hold, s.me.four_octet
                );
                return Ok(s);
            }
            Err((e, fatal)) if fatal || Instant::now() >= deadline => {
                return Err(format!("establishing: {e} (attempt {attempts})"))
            }
            Err((e, _)) => {
                println!("connect-retry {e}");
                thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// One attempt; the error says whether another attempt could not help.
fn try_establish(a: &Args) -> Result<Session, (String, bool)> {
    let soft = |e: String| (e, false);
    let stream = connect(SocketAddrV4::new(a.remote, 179), a.rcvbuf)
        .map_err(|e| soft(format!("connect {}:179: {e}", a.remote)))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| soft(e.to_string()))?;
    let mut s = Session {
        stream,
        me: Speaker {
            asn: a.asn,
            four_octet: false,
            next_hop: a.next_hop,
        },
        hold: a.hold,
    };
    s.send(&open(a.asn, a.hold, a.router_id)).map_err(soft)?;
    let mut opened = false;
    loop {
        let msg = read_msg(&mut s.stream)
            .map_err(soft)?
            .ok_or_else(|| soft("the peer closed during the OPEN exchange".into()))?;
        match (msg.kind, opened) {
            (OPEN, false) => {
                let o = parse_open(&msg.body).map_err(|e| (format!("peer's OPEN: {e}"), true))?;
                if o.asn != a.peer_asn {
                    return Err((format!("peer AS {} is not {}", o.asn, a.peer_asn), true));
                }
                if !o.route_refresh {
                    println!("warning: the peer did not offer route refresh");
                }
                s.me.four_octet = o.four_octet;
                s.hold = s.hold.min(o.hold);
                if !o.four_octet && a.asn > 0xffff {
                    return Err(("no 4-octet AS from the peer for our AS".into(), true));
                }
                s.send(&keepalive()).map_err(soft)?;
                opened = true;
            }
            (KEEPALIVE, true) => break,
            (NOTIFICATION, _) => {
                let (c, sc) = (msg.body.first(), msg.body.get(1));
                let e = format!("NOTIFICATION {c:?}/{sc:?} during the OPEN exchange");
                return Err(soft(e));
            }
            (k, _) => return Err((format!("unexpected message type {k} in OpenSent"), true)),
        }
    }
    s.stream
        .set_read_timeout(None)
        .map_err(|e| soft(e.to_string()))?;
    Ok(s)
}

/// What the reader thread saw from the peer.
#[derive(Default)]
struct Stats {
    messages: u64,
    updates: u64,
    end_of_rib: u64,
    keepalives: u64,
    /// The end of the stream (or why reading stopped), once it came.
    ended: Option<String>,
    last_rx: Option<Instant>,
    /// Longest time between two messages (since the flood began).
    max_gap: Duration,
    /// Reading stops until then (set by the flood before its refreshes).
    pause_until: Option<Instant>,
}

type Shared = Arc<Mutex<Stats>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn stats_line(s: &Shared) -> String {
    let s = lock(s);
    format!(
        "stats messages={} updates={} eor={} keepalives={} max_gap_ms={}",
        s.messages,
        s.updates,
        s.end_of_rib,
        s.keepalives,
        s.max_gap.as_millis()
    )
}

/// Reads and counts the peer's messages until the stream ends.
fn spawn_reader(stream: &TcpStream) -> Res<Shared> {
    let mut r = stream.try_clone().map_err(|e| format!("clone: {e}"))?;
    let stats: Shared = Arc::default();
    let shared = stats.clone();
    let read = move || {
        let ended = loop {
            let pause = lock(&shared).pause_until.take();
            if let Some(t) = pause {
                thread::sleep(t.saturating_duration_since(Instant::now()));
                println!("reading-resumed");
            }
            let msg = match read_msg(&mut r) {
                Ok(Some(m)) => m,
                Ok(None) => break "eof".to_string(),
                Err(e) => break e,
            };
            let now = Instant::now();
            let mut s = lock(&shared);
            if let Some(last) = s.last_rx {
                s.max_gap = s.max_gap.max(now - last);
            }
            s.last_rx = Some(now);
            s.messages += 1;
            match msg.kind {
                KEEPALIVE => s.keepalives += 1,
                UPDATE => match end_of_rib(&msg.body) {
                    Ok(true) => s.end_of_rib += 1,
                    Ok(false) => s.updates += 1,
                    Err(e) => break format!("malformed UPDATE: {e}"),
                },
                NOTIFICATION => {
                    let b = |i: usize| msg.body.get(i).map_or(-1, |v| i32::from(*v));
                    println!("notification-received code={} subcode={}", b(0), b(1));
                }
                k => break format!("unexpected message type {k} in Established"),
            }
        };
        println!("session-ended {ended}");
        lock(&shared).ended = Some(ended);
    };
    thread::Builder::new()
        .name("reader".into())
        .spawn(read)
        .map_err(|e| format!("reader thread: {e}"))?;
    Ok(stats)
}

fn announce(s: &mut Session, a: &Args) -> Res<()> {
    if !a.announce.is_empty() {
        let m = update(&s.me, &[], &a.announce, None);
        s.send(&m)?;
        println!("announced {}", a.announce.len());
    }
    Ok(())
}

/// Keeps a session alive (KEEPALIVEs, a stats line each time); when it
/// ends, connects again if `reconnect`, else returns the reason.
fn behave(mut s: Session, a: &Args, mut stats: Shared, reconnect: bool) -> Res<()> {
    loop {
        thread::sleep(s.keepalive_every());
        let ended = lock(&stats).ended.clone();
        if let Some(why) = ended {
            if !reconnect {
                return Err(format!("session ended: {why}"));
            }
            s = establish(a)?;
            stats = spawn_reader(&s.stream)?;
            announce(&mut s, a)?;
            continue;
        }
        if let Err(e) = s.send(&keepalive()) {
            println!("keepalive-failed {e}");
        }
        println!("{}", stats_line(&stats));
    }
}

/// Waits until `file` exists (at most [`WAIT_MAX`]), sending KEEPALIVEs
/// over `keep` if given.
fn wait_for(file: &Path, mut keep: Option<&mut Session>) -> Res<Duration> {
    let started = Instant::now();
    let mut sent = Instant::now();
    while !file.exists() {
        if started.elapsed() > WAIT_MAX {
            return Err(format!("no {} after {WAIT_MAX:?}", file.display()));
        }
        if let Some(s) = keep
            .as_deref_mut()
            .filter(|s| sent.elapsed() >= s.keepalive_every())
        {
            s.send(&keepalive())?;
            sent = Instant::now();
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(started.elapsed())
}

/// Stops reading and writing until the resume file exists, then reads the
/// old connection to its end and behaves over a new one.
fn stall(mut s: Session, a: &Args) -> Res<()> {
    s.send(&keepalive())?;
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    println!("stalled unix_ms={unix_ms}");
    let resume = a
        .resume_file
        .as_ref()
        .ok_or("--mode stall needs --resume-file")?;
    let waited = wait_for(resume, None)?;
    println!("resumed after_ms={}", waited.as_millis());
    s.stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let until = Instant::now() + DRAIN_WITHIN;
    let mut buf = vec![0u8; 64 * 1024];
    let mut held = Vec::new();
    let end = loop {
        if Instant::now() > until {
            break "still open".to_string();
        }
        match s.stream.read(&mut buf) {
            Ok(0) => break "eof".into(),
            Ok(n) => held.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break format!("error {e}"),
        }
    };
    // What the stalled connection held: count it, name any NOTIFICATION.
    let mut r = &held[..];
    let mut kinds: BTreeMap<u8, u32> = BTreeMap::new();
    while let Ok(Some(m)) = read_msg(&mut r) {
        *kinds.entry(m.kind).or_default() += 1;
        if m.kind == NOTIFICATION {
            let b = |i: usize| m.body.get(i).copied().unwrap_or(0);
            println!("old-session-notification code={} subcode={}", b(0), b(1));
        }
    }
    println!(
        "old-session-drained bytes={} end={end:?} messages_by_type={kinds:?}",
        held.len()
    );
    drop(s);
    let mut s = establish(a)?;
    let stats = spawn_reader(&s.stream)?;
    announce(&mut s, a)?;
    behave(s, a, stats, true)
}

/// What a flood holds announced: prefix -> MED.
type Held = BTreeMap<Prefix, Option<u32>>;

/// One round of the flood: steps `(round - 1) * updates` to `round *
/// updates`, then the ROUTE-REFRESHes; `held` tracks what is announced.
fn flood(s: &Session, a: &Args, stats: &Shared, round: u32, held: &mut Held) -> Res<()> {
    let base = u32::from(a.pool_base);
    let pool = |k: u32| Prefix(Ipv4Addr::from(base + ((k % a.pool) << 8)), 24);
    let stream = s.stream.try_clone().map_err(|e| e.to_string())?;
    let mut w = BufWriter::with_capacity(64 * 1024, stream);
    let mut put = |m: &[u8]| w.write_all(m).map_err(|e| format!("flood write: {e}"));
    let (started, mut sent) = (Instant::now(), 0);
    for i in (round - 1) * a.updates..round * a.updates {
        let old = (i >= a.window).then(|| pool(i - a.window));
        put(&update(&s.me, old.as_slice(), &[pool(i)], Some(i)))?;
        if let Some(p) = old {
            held.remove(&p);
        }
        held.insert(pool(i), Some(i));
        sent += 1;
        if i % 3 == 2 {
            // An implicit withdraw: the previous prefix again, a new MED.
            let med = i | 1 << 31;
            put(&update(&s.me, &[], &[pool(i - 1)], Some(med)))?;
            held.insert(pool(i - 1), Some(med));
            sent += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("flood-updates round={round} sent={sent} secs={secs:.2}");
    let started = Instant::now();
    if a.pause_ms > 0 {
        lock(stats).pause_until = Some(started + Duration::from_millis(a.pause_ms));
    }
    for _ in 0..a.refreshes {
        put(&route_refresh())?;
    }
    put(&keepalive())?;
    w.flush().map_err(|e| format!("flood flush: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "flood-refreshes round={round} sent={} secs={secs:.2}",
        a.refreshes
    );
    Ok(())
}

/// Once no End-of-RIB has come for a second (the flood's answers are in),
/// one ROUTE-REFRESH: prints `refresh-probe answered_ms=T` when an
/// End-of-RIB comes within 10 s, else `refresh-probe unanswered`.
fn refresh_probe(s: &mut Session, stats: &Shared) -> Res<()> {
    let eor = || lock(stats).end_of_rib;
    let until = Instant::now() + Duration::from_secs(20);
    let mut seen = (eor(), Instant::now());
    while seen.1.elapsed() < Duration::from_secs(1) && Instant::now() < until {
        thread::sleep(Duration::from_millis(50));
        if eor() != seen.0 {
            seen = (eor(), Instant::now());
        }
    }
    let sent = Instant::now();
    s.send(&route_refresh())?;
    while eor() == seen.0 && sent.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(10));
    }
    if eor() > seen.0 {
        println!("refresh-probe answered_ms={}", sent.elapsed().as_millis());
    } else {
        println!("refresh-probe unanswered eor={}", seen.0);
    }
    Ok(())
}

fn run(a: &Args) -> Res<()> {
    let mut s = establish(a)?;
    if a.mode == Mode::Stall {
        announce(&mut s, a)?;
        return stall(s, a);
    }
    let stats = spawn_reader(&s.stream)?;
    announce(&mut s, a)?;
    if a.mode == Mode::Steady {
        return behave(s, a, stats, true);
    }
    let go = |n: u32| {
        a.go_file
            .as_ref()
            .map(|g| PathBuf::from(format!("{}.{n}", g.display())))
    };
    let mut held: Held = a.announce.iter().map(|p| (*p, None)).collect();
    lock(&stats).max_gap = Duration::ZERO;
    for round in 1..=a.rounds {
        if let Some(file) = go(round).filter(|_| round > 1) {
            wait_for(&file, Some(&mut s))?;
        }
        flood(&s, a, &stats, round, &mut held)?;
        let list: Vec<String> = held
            .iter()
            .map(|(p, m)| format!("{p}={}", m.map_or("-".into(), |m| m.to_string())))
            .collect();
        let n = held.len();
        println!("final round={round} count={n} {}", list.join(" "));
        println!("{}", stats_line(&stats));
    }
    if let Some(file) = go(a.rounds + 1) {
        wait_for(&file, Some(&mut s))?;
        refresh_probe(&mut s, &stats)?;
    }
    behave(s, a, stats, false)
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bgp-stress: {e}\nsee the module documentation for the usage");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        println!("error {e}");
        eprintln!("bgp-stress: {e}");
        std::process::exit(1);
    }
}
