//! systemd integration, end to end, without systemd: the static lab's VGW
//! runs with `NOTIFY_SOCKET` pointing at a Unix datagram socket of the
//! test's own and `WATCHDOG_USEC=2000000`, as a `Type=notify` unit with
//! `WatchdogSec=2s` would. The test sees READY=1 once start-up is done (the
//! admin socket answers at once, the log shows the TUN up and the gateway
//! running before it), a STATUS= line that follows the tunnels (and agrees
//! with `sitelink status`), WATCHDOG=1 about every second from the control
//! loop, and STOPPING=1 when the gateway is stopped with SIGTERM. The CGW
//! runs without `NOTIFY_SOCKET` and logs nothing about systemd. Run with
//! `cargo build -p sitelink && cargo test -p sitelink-lab --test service --
//! --nocapture --test-threads=1` to see the timings.

use sitelink_lab::cleanup::Watchdog;
use sitelink_lab::{Gw, SiteLab, SiteOptions, Topology};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const UP_TIMEOUT: Duration = Duration::from_secs(15);
/// The watchdog timeout given to the VGW: it must ping every second.
const WATCHDOG_USEC: u64 = 2_000_000;
/// Longest gap allowed between two WATCHDOG=1 (half the timeout, plus the
/// control loop's jitter; systemd would act at 2 s).
const MAX_WATCHDOG_GAP: Duration = Duration::from_millis(1250);

/// One datagram received, with when.
#[derive(Debug, Clone)]
struct Note {
    at: Instant,
    text: String,
}

/// A notification socket of the test's own, read by a thread into a list;
/// its directory is removed on drop.
struct NotifySocket {
    dir: PathBuf,
    notes: Arc<Mutex<Vec<Note>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl NotifySocket {
    fn bind(test: &str) -> NotifySocket {
        let dir = std::env::temp_dir().join(format!("sitelink-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("notify socket directory");
        let socket = UnixDatagram::bind(dir.join("notify")).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let notes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (notes, stop) = (notes.clone(), stop.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        let note = Note {
                            at: Instant::now(),
                            text,
                        };
                        notes.lock().expect("notes").push(note);
                    }
                }
            })
        };
        NotifySocket {
            dir,
            notes,
            stop,
            reader: Some(reader),
        }
    }

    fn path(&self) -> String {
        self.dir.join("notify").to_string_lossy().into_owned()
    }

    fn notes(&self) -> Vec<Note> {
        self.notes.lock().expect("notes").clone()
    }

    /// The first datagram with a line `line` (or starting with it, when it
    /// ends in `=`), waiting up to `timeout`.
    fn wait_line(&self, line: &str, timeout: Duration) -> Option<Note> {
        self.wait(timeout, |text| has_line(text, line))
    }

    /// The first datagram `matches` accepts, waiting up to `timeout`.
    fn wait(&self, timeout: Duration, matches: impl Fn(&str) -> bool) -> Option<Note> {
        let start = Instant::now();
        loop {
            if let Some(n) = self.notes().into_iter().find(|n| matches(&n.text)) {
                return Some(n);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `text` has the line `line` (a prefix of a line when `line` ends in `=`).
fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| {
        if line.ends_with('=') {
            l.starts_with(line)
        } else {
            l == line
        }
    })
}

/// The value of the `STATUS=` line of a datagram.
fn status_of(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("STATUS="))
}

/// The `N routes` at the end of a STATUS line.
fn routes_of(status: &str) -> Option<u64> {
    let last = status.rsplit(", ").next()?;
    last.split(' ').next()?.parse().ok()
}

/// Where in `log` the first line containing `what` is.
fn log_position(log: &str, what: &str) -> Option<usize> {
    log.lines().position(|l| l.contains(what))
}

#[test]
fn vgw_notifies_ready_status_watchdog_and_stopping() {
    let test = "service";
    let _wd = Watchdog::arm(test, Duration::from_secs(90));
    let notify = NotifySocket::bind(test);
    let opts = SiteOptions::default()
        .env(Gw::Vgw, "NOTIFY_SOCKET", notify.path())
        .env(Gw::Vgw, "WATCHDOG_USEC", WATCHDOG_USEC.to_string());
    let started = Instant::now();
    let mut lab = SiteLab::start_with(Topology::Static, opts)
        .unwrap_or_else(|e| panic!("{test}: starting the static lab: {e}"));

    // READY: start-up is done and the control loop has turned.
    let ready = notify
        .wait_line("READY=1", Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "{test}: no READY=1 within 10 s; got {:?}\n{}",
                notify.notes(),
                lab.gateway_logs()
            )
        });
    println!(
        "[{test}] READY=1 {:?} after the lab began (namespaces, keys, start): {:?}",
        ready.at.saturating_duration_since(started),
        ready.text
    );
    let status = lab
        .status(Gw::Vgw)
        .unwrap_or_else(|e| panic!("{test}: `sitelink status` right after READY: {e}"));
    let log = lab.gateway(Gw::Vgw).log();
    let at = |what: &str| {
        log_position(&log, what)
            .unwrap_or_else(|| panic!("{test}: the VGW log has no {what:?}:\n{log}"))
    };
    let ready_line = at("told the service manager the gateway is ready");
    for before in ["TUN device up", "gateway running"] {
        assert!(
            at(before) < ready_line,
            "{test}: READY logged before {before:?}:\n{log}"
        );
    }
    let first = status_of(&ready.text)
        .unwrap_or_else(|| panic!("{test}: READY came without STATUS=: {:?}", ready.text));
    assert!(
        first.contains("/2 tunnels up, ") && !first.contains("BGP"),
        "{test}: a static VGW's summary: {first:?}"
    );
    let fib = &status["fib"];
    let fib_routes =
        fib["routes_v4"].as_u64().unwrap_or(0) + fib["routes_v6"].as_u64().unwrap_or(0);
    assert_eq!(
        routes_of(first),
        Some(fib_routes),
        "{test}: STATUS routes vs `sitelink status` FIB: {first:?}, {fib}"
    );

    // STATUS follows the tunnels.
    let took = lab
        .wait_all_tunnels_up(UP_TIMEOUT)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    println!("[{test}] both gateways report all tunnels up after {took:?}");
    let up = notify
        .wait(Duration::from_secs(3), |text| {
            status_of(text).is_some_and(|s| s.starts_with("2/2 tunnels up, "))
        })
        .unwrap_or_else(|| {
            panic!(
                "{test}: no STATUS with 2/2 tunnels up within 3 s of `sitelink status` showing it; got {:?}",
                notify.notes()
            )
        });
    println!("[{test}] {:?}", up.text.trim());

    // WATCHDOG from the control loop, about every second.
    thread::sleep(Duration::from_secs(3));
    let before_stop = notify.notes();
    let pings: Vec<Instant> = before_stop
        .iter()
        .filter(|n| has_line(&n.text, "WATCHDOG=1"))
        .map(|n| n.at)
        .collect();
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    let max_gap = gaps.iter().max().copied().unwrap_or_default();
    let span = pings
        .last()
        .zip(pings.first())
        .map(|(l, f)| *l - *f)
        .unwrap_or_default();
    println!(
        "[{test}] {} WATCHDOG=1 over {span:?}, longest gap {max_gap:?}",
        pings.len()
    );
    assert!(
        pings.len() >= 4,
        "{test}: too few WATCHDOG=1: {before_stop:?}"
    );
    assert!(
        max_gap <= MAX_WATCHDOG_GAP,
        "{test}: WATCHDOG=1 gaps {gaps:?} (the timeout is 2 s)"
    );
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(500)),
        "{test}: WATCHDOG=1 sent far more often than half the timeout: {gaps:?}"
    );

    // STOPPING on SIGTERM, and the process ends cleanly.
    let stop_at = Instant::now();
    let exit = lab.gateway(Gw::Vgw).terminate(Duration::from_secs(5));
    let exited_at = Instant::now();
    let stopping = notify
        .wait_line("STOPPING=1", Duration::from_secs(1))
        .unwrap_or_else(|| panic!("{test}: no STOPPING=1; got {:?}", notify.notes()));
    println!(
        "[{test}] STOPPING=1 {:?} after SIGTERM; the gateway exited after {:?} ({exit:?})",
        stopping.at.saturating_duration_since(stop_at),
        exited_at - stop_at
    );
    assert!(
        stopping.at <= exited_at,
        "{test}: STOPPING=1 came after the exit"
    );
    assert!(
        exit.is_some_and(|s| s.success()),
        "{test}: the VGW did not exit cleanly on SIGTERM: {exit:?}\n{}",
        lab.gateway(Gw::Vgw).log()
    );
    let log = lab.gateway(Gw::Vgw).log();
    assert!(
        !log.contains("notification not sent") && !log.contains("cannot use NOTIFY_SOCKET"),
        "{test}: notifications failed:\n{log}"
    );
    let cgw_log = lab.gateway(Gw::Cgw).log();
    assert!(
        !cgw_log.contains("systemd"),
        "{test}: the CGW has no NOTIFY_SOCKET and must say nothing about systemd:\n{cgw_log}"
    );
}

#[test]
fn status_line_helpers() {
    assert!(has_line("READY=1\nSTATUS=x\n", "READY=1"));
    assert!(has_line("READY=1\nSTATUS=x\n", "STATUS="));
    assert!(!has_line("READY=10\n", "READY=1"));
    assert_eq!(
        status_of("READY=1\nSTATUS=0/2 tunnels up, 5 routes\n"),
        Some("0/2 tunnels up, 5 routes")
    );
    assert_eq!(
        routes_of("2/2 tunnels up, 1/1 BGP sessions established, 1000003 routes"),
        Some(1_000_003)
    );
    assert_eq!(routes_of("0/2 tunnels up, 1 route"), Some(1));
}
