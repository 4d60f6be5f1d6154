//! Last-resort cleanup. Every namespace and process the lab creates is entered
//! in a process-wide registry while it lives; normal teardown is `Drop`, but if
//! the process is interrupted (SIGINT/SIGTERM, via the self-pipe hook installed
//! by [`install_signal_cleanup`]) or a [`Watchdog`] fires, [`emergency_cleanup`]
//! kills the registered processes and deletes the registered namespaces before
//! the process exits. What even this misses (SIGKILL of the test process) is
//! caught by `PR_SET_PDEATHSIG` on spawned children and by the stale-lab sweep
//! in [`crate::netns::sweep_stale`].

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard, Once};
use std::thread::{self, JoinHandle};
use std::time::Duration;

struct Registry {
    netns: BTreeSet<String>,
    pids: BTreeSet<i32>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    netns: BTreeSet::new(),
    pids: BTreeSet::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn register_netns(name: &str) {
    registry().netns.insert(name.to_string());
}

pub(crate) fn unregister_netns(name: &str) {
    registry().netns.remove(name);
}

pub(crate) fn register_pid(pid: u32) {
    registry().pids.insert(pid as i32);
}

pub(crate) fn unregister_pid(pid: u32) {
    registry().pids.remove(&(pid as i32));
}

/// Kills every process in namespace `name` with SIGKILL (`ip netns pids`).
pub(crate) fn kill_netns_pids(name: &str) {
    let out = Command::new("ip")
        .args(["netns", "pids", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = out {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) with a pid read from `ip netns pids`.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Deletes namespace `name` (after killing what still runs in it).
pub(crate) fn delete_netns(name: &str) {
    kill_netns_pids(name);
    let _ = Command::new("ip")
        .args(["netns", "del", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills every registered process (SIGKILL) and deletes every registered
/// namespace of this process. Safe to call from any thread, more than once.
pub fn emergency_cleanup() {
    let (pids, netns) = {
        let mut r = registry();
        (std::mem::take(&mut r.pids), std::mem::take(&mut r.netns))
    };
    for pid in pids {
        // SAFETY: kill(2) on a child we spawned and registered.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for name in netns {
        delete_netns(&name);
    }
}

static PIPE_WR: AtomicI32 = AtomicI32::new(-1);
static INSTALL: Once = Once::new();

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WR.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; one byte from a live local.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// Installs SIGINT/SIGTERM handlers that run [`emergency_cleanup`] and exit
/// with status 128+signal. For binaries (the demo); `cargo test` is covered by
/// `Drop`, the watchdog and the stale sweep. Idempotent.
pub fn install_signal_cleanup() {
    INSTALL.call_once(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe(2) into a two-element array.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            eprintln!("sitelink-lab: pipe() failed; no signal cleanup");
            return;
        }
        PIPE_WR.store(fds[1], Ordering::Relaxed);
        let rd = fds[0];
        thread::Builder::new()
            .name("lab-signal".into())
            .spawn(move || {
                let mut b = 0u8;
                loop {
                    // SAFETY: read(2) of one byte into a live local.
                    let n = unsafe { libc::read(rd, &mut b as *mut u8 as *mut libc::c_void, 1) };
                    if n == 1 {
                        break;
                    }
                    if n < 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                        continue;
                    }
                    return;
                }
                eprintln!(
                    "\nsitelink-lab: signal {b} received: cleaning up namespaces and processes"
                );
                emergency_cleanup();
                // SAFETY: _exit(2) ends the process without running other threads' code.
                unsafe { libc::_exit(128 + b as libc::c_int) };
            })
            .expect("spawn signal thread");
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: installing an async-signal-safe handler.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    });
}

/// Aborts the process (after [`emergency_cleanup`]) if it is still armed when
/// `limit` has passed: a safety net above the bounded waits. Disarmed on drop.
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Arms a watchdog for `what`.
    pub fn arm(what: &str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let what = what.to_string();
        let thread = thread::Builder::new()
            .name("lab-watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    eprintln!(
                        "sitelink-lab watchdog: {what} still running after {limit:?}; \
                         cleaning up and aborting"
                    );
                    emergency_cleanup();
                    std::process::abort();
                }
            })
            .expect("spawn watchdog thread");
        Watchdog {
            disarm: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
