//! systemd integration: the service notification protocol of sd_notify(3),
//! for a `Type=notify` unit with `WatchdogSec=` (see
//! `examples/sitelink.service`).
//!
//! - `READY=1` (with a first `STATUS=`) once every tunnel has been tried,
//!   at a precise moment: start-up is done (endpoints bound, TUN up, the
//!   admin socket and metrics, when on, serve), and the control thread has
//!   finished a turn in which the core's timers ran and their actions were
//!   carried out. By then the start-up actions (a customer gateway's
//!   handshake initiations) and the probes due at start have been sent; a
//!   VGW, which leaves the first handshake to the customer side, is
//!   listening on every tunnel. The core's timers run at least every 100 ms
//!   (the failover tick), so READY follows start-up by that much at most,
//!   and `sitelink status` answers as soon as `systemctl start` returns.
//! - `STATUS=` a one-line summary ("2/2 tunnels up, 1/1 BGP sessions
//!   established, 1000003 routes"), sent when it changes, looked at once a
//!   second from the control loop.
//! - `WATCHDOG=1` when systemd watches the process (`$WATCHDOG_USEC`, and
//!   `$WATCHDOG_PID` if set is ours), every half of that interval, sent by
//!   the control loop itself: a loop that is stuck stops sending and systemd
//!   restarts the service.
//! - `STOPPING=1` as soon as SIGINT or SIGTERM arrives.
//!
//! Everything is a no-op without `$NOTIFY_SOCKET`. A notification is one
//! datagram sent on a non-blocking socket (a full queue at the service
//! manager drops it: the control thread never waits); errors are logged
//! (the first of a run at warn, the rest at debug) and otherwise ignored.
//!
//! Hand-written rather than the `sd-notify` crate: its `notify` opens a
//! blocking socket per call (a send would wait while the manager's queue is
//! full, on the control thread) and reads the environment each time; the
//! protocol is one datagram to an address read once, which std covers,
//! abstract-namespace addresses (`@name`) included.
//!
//! Owns: the notification socket and the notification schedule. Must not:
//! decide anything about the gateway (it only reports what the core and the
//! data path show).

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::dataplane::Dataplane;
use crate::gateway::Gateway;
use crate::liveness::bfd::State;

/// How often the control loop looks whether the STATUS line changed.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Where notifications go, from the environment systemd gives a service.
pub struct Notifier {
    target: Option<Target>,
    /// The watchdog timeout (`$WATCHDOG_USEC`), when it is this process's.
    watchdog: Option<Duration>,
    /// Start-up is done: the admin socket serves (READY waits for it).
    serving: AtomicBool,
    /// A send failed and no send succeeded since (logged once at warn).
    failing: AtomicBool,
}

struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// `$NOTIFY_SOCKET` as given, for messages.
    shown: String,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`; a
    /// notifier that does nothing when systemd did not start the process
    /// (or the variables are unusable: logged).
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var_os("WATCHDOG_USEC");
        let pid = std::env::var_os("WATCHDOG_PID");
        Notifier::new(
            socket.as_deref(),
            usec.as_deref(),
            pid.as_deref(),
            std::process::id(),
        )
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
            serving: AtomicBool::new(false),
            failing: AtomicBool::new(false),
        }
    }

    fn new(
        socket: Option<&OsStr>,
        usec: Option<&OsStr>,
        pid: Option<&OsStr>,
        own_pid: u32,
    ) -> Notifier {
        let mut me = Notifier::disabled();
        let Some(path) = socket.filter(|s| !s.is_empty()) else {
            return me;
        };
        let shown = path.to_string_lossy().into_owned();
        let target = parse_address(path).and_then(|addr| {
            let socket = UnixDatagram::unbound()?;
            // MSG_DONTWAIT for every send: a full queue is an error, not a wait.
            socket.set_nonblocking(true)?;
            Ok((socket, addr))
        });
        match target {
            Ok((socket, addr)) => {
                me.target = Some(Target {
                    socket,
                    addr,
                    shown,
                })
            }
            Err(error) => {
                warn!(notify_socket = %shown, %error, "systemd: cannot use NOTIFY_SOCKET; no notifications");
                return me;
            }
        }
        me.watchdog = watchdog_timeout(usec, pid, own_pid);
        if let Some(timeout) = me.watchdog {
            info!(
                timeout_ms = timeout.as_millis() as u64,
                "systemd watchdog enabled: the control loop pings it every half of that"
            );
        }
        me
    }

    /// True when notifications go somewhere.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often the control loop sends `WATCHDOG=1`: half of systemd's
    /// timeout, or `None` when nothing watches.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.target.as_ref()?;
        self.watchdog.map(|t| t / 2)
    }

    /// Start-up is done (every listener serves): READY may follow.
    pub fn set_serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    fn serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// `READY=1` with the first status line.
    pub fn ready(&self, status: &str) {
        if self.send(&format!("READY=1\nSTATUS={}\n", one_line(status))) {
            info!(
                status,
                "systemd: told the service manager the gateway is ready"
            );
        }
    }

    /// `STATUS=` a one-line summary.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}\n", one_line(status)));
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1\n");
    }

    /// `STOPPING=1`: the gateway is shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping\n");
    }

    /// Sends one datagram without waiting; true when it was sent.
    fn send(&self, message: &str) -> bool {
        let Some(target) = &self.target else {
            return false;
        };
        match target.socket.send_to_addr(message.as_bytes(), &target.addr) {
            Ok(_) => {
                self.failing.store(false, Ordering::Relaxed);
                true
            }
            Err(error) => {
                let kind = message.split('=').next().unwrap_or("");
                if self.failing.swap(true, Ordering::Relaxed) {
                    debug!(notify_socket = %target.shown, %error, kind, "systemd: notification not sent");
                } else {
                    warn!(notify_socket = %target.shown, %error, kind, "systemd: notification not sent (further failures are logged at debug)");
                }
                false
            }
        }
    }
}

/// `$NOTIFY_SOCKET`: an absolute path, or `@name` in the abstract namespace.
fn parse_address(path: &OsStr) -> io::Result<SocketAddr> {
    let bytes = path.as_bytes();
    match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(path),
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract name (@name)",
        )),
    }
}

/// The watchdog timeout when `$WATCHDOG_USEC` is a positive number and
/// `$WATCHDOG_PID`, if given, is this process (sd_watchdog_enabled(3)).
fn watchdog_timeout(usec: Option<&OsStr>, pid: Option<&OsStr>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.to_str()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid {
        let pid: u32 = pid.to_str()?.trim().parse().ok()?;
        if pid != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// A STATUS value must be one line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The STATUS line's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Tunnels whose liveness probe is up.
    pub tunnels_up: usize,
    pub tunnels: usize,
    /// BGP sessions established, of those configured.
    pub sessions_established: usize,
    pub sessions: usize,
    /// Prefixes in the FIB in force, IPv4 and IPv6 (as `sitelink status`).
    pub routes: usize,
}

impl Summary {
    /// Read off the data path (liveness, FIB) and the core (BGP sessions):
    /// per tunnel and per session, never per route.
    pub fn of(core: &Gateway, dataplane: &Dataplane, now: Instant) -> Summary {
        let all = dataplane.tunnels();
        let tunnels: Vec<_> = all.iter().filter(|t| !t.is_retired()).collect();
        let bgp = core.snapshot(now).bgp;
        let (v4, v6) = dataplane.fib.load().counts();
        Summary {
            tunnels_up: tunnels.iter().filter(|t| t.liveness() == State::Up).count(),
            tunnels: tunnels.len(),
            sessions_established: bgp
                .peers
                .iter()
                .filter(|p| p.state == crate::api::SessionState::Established)
                .count(),
            sessions: bgp.peers.len(),
            routes: v4 + v6,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} tunnels up", self.tunnels_up, self.tunnels)?;
        if self.sessions > 0 {
            write!(
                f,
                ", {}/{} BGP sessions established",
                self.sessions_established, self.sessions
            )?;
        }
        let s = if self.routes == 1 { "" } else { "s" };
        write!(f, ", {} route{s}", self.routes)
    }
}

/// The control thread's side: when READY, STATUS and WATCHDOG are due. A
/// disabled one (the default) does nothing and never wakes the loop.
#[derive(Default)]
pub struct Heartbeat {
    notifier: Option<Arc<Notifier>>,
    ready: bool,
    every: Option<Duration>,
    next_watchdog: Option<Instant>,
    next_status: Option<Instant>,
    last_status: String,
}

impl Heartbeat {
    /// Notifications through `notifier` (nothing if it is disabled).
    pub fn new(notifier: Arc<Notifier>) -> Heartbeat {
        if !notifier.enabled() {
            return Heartbeat::default();
        }
        Heartbeat {
            every: notifier.watchdog_every(),
            notifier: Some(notifier),
            ..Heartbeat::default()
        }
    }

    /// When the loop must wake next for the watchdog, if it is on.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.every.map(|_| self.next_watchdog.unwrap_or(now))
    }

    /// Called at the end of each turn of the control loop; `timers_ran`:
    /// the core's timers ran in this turn and their actions were carried
    /// out. Sends WATCHDOG when due, READY at the first such turn once the
    /// admin socket serves, and STATUS when the summary changed (looked at
    /// once a second; `summary` is called only then).
    pub fn turn(&mut self, now: Instant, timers_ran: bool, summary: impl FnOnce() -> Summary) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        if let Some(every) = self.every {
            let due = match self.next_watchdog {
                Some(at) => now >= at,
                None => true,
            };
            if due {
                notifier.watchdog();
                self.next_watchdog = Some(now + every);
            }
        }
        if !self.ready {
            if timers_ran && notifier.serving() {
                self.ready = true;
                self.last_status = summary().to_string();
                self.next_status = Some(now + STATUS_EVERY);
                notifier.ready(&self.last_status);
            }
            return;
        }
        if self.next_status.is_some_and(|at| now >= at) {
            self.next_status = Some(now + STATUS_EVERY);
            let status = summary().to_string();
            if status != self.last_status {
                notifier.status(&status);
                self.last_status = status;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A datagram socket in a fresh directory, removed on drop.
    struct Listener {
        dir: PathBuf,
        socket: UnixDatagram,
    }

    impl Listener {
        fn new(name: &str) -> Listener {
            let dir =
                std::env::temp_dir().join(format!("sitelink-notify-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let socket = UnixDatagram::bind(dir.join("notify")).unwrap();
            socket.set_nonblocking(true).unwrap();
            Listener { dir, socket }
        }

        fn path(&self) -> PathBuf {
            self.dir.join("notify")
        }

        fn notifier(&self, usec: Option<&str>) -> Notifier {
            Notifier::new(
                Some(self.path().as_os_str()),
                usec.map(OsStr::new),
                None,
                std::process::id(),
            )
        }

        fn take(&self) -> Vec<String> {
            let mut out = Vec::new();
            let mut buf = [0u8; 512];
            while let Ok(n) = self.socket.recv(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            out
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn summary(up: usize) -> Summary {
        Summary {
            tunnels_up: up,
            tunnels: 2,
            sessions_established: 1,
            sessions: 1,
            routes: 1_000_003,
        }
    }

    #[test]
    fn parses_the_environment() {
        assert!(parse_address(OsStr::new("/run/systemd/notify")).is_ok());
        let abs = parse_address(OsStr::new("@sitelink/notify")).unwrap();
        assert_eq!(abs.as_abstract_name(), Some(&b"sitelink/notify"[..]));
        assert!(parse_address(OsStr::new("relative/notify")).is_err());
        assert!(parse_address(OsStr::new("vsock:2:1234")).is_err());
        let me = 4242;
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            watchdog_timeout(os("2000000"), None, me),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            watchdog_timeout(os("2000000"), os("4242"), me),
            Some(Duration::from_secs(2))
        );
        assert_eq!(watchdog_timeout(os("2000000"), os("1"), me), None);
        assert_eq!(watchdog_timeout(os("0"), None, me), None);
        assert_eq!(watchdog_timeout(os("soon"), None, me), None);
        assert_eq!(watchdog_timeout(None, os("4242"), me), None);
        assert!(!Notifier::new(None, os("2000000"), None, me).enabled());
        assert!(!Notifier::new(os(""), None, None, me).enabled());
        assert!(!Notifier::new(os("notify"), None, None, me).enabled());
    }

    #[test]
    fn summary_is_one_line() {
        assert_eq!(
            summary(2).to_string(),
            "2/2 tunnels up, 1/1 BGP sessions established, 1000003 routes"
        );
        let static_one = Summary {
            sessions: 0,
            sessions_established: 0,
            routes: 1,
            ..summary(0)
        };
        assert_eq!(static_one.to_string(), "0/2 tunnels up, 1 route");
        assert_eq!(one_line("a\nb\r"), "a b ");
    }

    #[test]
    fn without_a_socket_nothing_is_sent_or_scheduled() {
        let notifier = Arc::new(Notifier::disabled());
        assert_eq!(notifier.watchdog_every(), None);
        let mut beat = Heartbeat::new(notifier.clone());
        let now = Instant::now();
        assert_eq!(beat.poll_timeout(now), None);
        notifier.set_serving();
        beat.turn(now, true, || panic!("no summary is computed"));
        assert!(!notifier.send("READY=1\n"));
    }

    #[test]
    fn ready_waits_for_timers_and_the_admin_socket_then_status_on_change() {
        let l = Listener::new("ready");
        let notifier = Arc::new(l.notifier(None));
        assert!(notifier.enabled());
        assert_eq!(notifier.watchdog_every(), None);
        let mut beat = Heartbeat::new(notifier.clone());
        let t0 = Instant::now();
        assert_eq!(beat.poll_timeout(t0), None, "no watchdog: no wake-up");
        beat.turn(t0, false, || summary(0));
        notifier.set_serving();
        beat.turn(t0, false, || summary(0));
        assert!(l.take().is_empty(), "no READY before the core's timers ran");
        beat.turn(t0, true, || summary(0));
        assert_eq!(
            l.take(),
            ["READY=1\nSTATUS=0/2 tunnels up, 1/1 BGP sessions established, 1000003 routes\n"]
        );
        // Looked at once a second, sent only when it changed.
        beat.turn(t0 + Duration::from_millis(500), true, || summary(2));
        beat.turn(t0 + Duration::from_millis(1000), true, || summary(0));
        assert!(l.take().is_empty());
        beat.turn(t0 + Duration::from_millis(2000), true, || summary(2));
        beat.turn(t0 + Duration::from_millis(2500), true, || summary(1));
        assert_eq!(
            l.take(),
            ["STATUS=2/2 tunnels up, 1/1 BGP sessions established, 1000003 routes\n"]
        );
        notifier.stopping();
        assert_eq!(l.take(), ["STOPPING=1\nSTATUS=stopping\n"]);
    }

    #[test]
    fn watchdog_at_half_the_interval() {
        let l = Listener::new("watchdog");
        let notifier = Arc::new(l.notifier(Some("2000000")));
        assert_eq!(notifier.watchdog_every(), Some(Duration::from_secs(1)));
        let mut beat = Heartbeat::new(notifier);
        let t0 = Instant::now();
        assert_eq!(
            beat.poll_timeout(t0),
            Some(t0),
            "the first ping is due at once"
        );
        beat.turn(t0, false, || summary(0));
        assert_eq!(l.take(), ["WATCHDOG=1\n"]);
        assert_eq!(beat.poll_timeout(t0), Some(t0 + Duration::from_secs(1)));
        beat.turn(t0 + Duration::from_millis(999), false, || summary(0));
        assert!(l.take().is_empty());
        beat.turn(t0 + Duration::from_millis(1000), false, || summary(0));
        assert_eq!(l.take(), ["WATCHDOG=1\n"]);
    }

    #[test]
    fn a_full_queue_never_blocks_the_sender() {
        let l = Listener::new("full");
        let notifier = l.notifier(None);
        // Nobody reads: the receiver's queue fills (net.unix.max_dgram_qlen,
        // 10 by default) and every further send fails at once.
        let start = Instant::now();
        let sent = (0..200).filter(|_| notifier.send("WATCHDOG=1\n")).count();
        assert!(sent < 200, "the queue never filled ({sent} sent)");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "sending waited: {:?}",
            start.elapsed()
        );
        assert_eq!(l.take().len(), sent);
        assert!(notifier.send("WATCHDOG=1\n"), "sends again once read");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let l = Listener::new("gone");
        let notifier = l.notifier(None);
        let path = l.path();
        drop(l);
        assert!(!path.exists());
        assert!(!notifier.send("READY=1\n"));
        assert!(!notifier.send("READY=1\n"));
    }
}
