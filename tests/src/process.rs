//! Processes, always bounded. [`run`] executes a short command with a deadline
//! (killed and reported if it overruns) and captures its output; [`Spawned`]
//! guards a long-running process (a gateway, an iperf3 server) whose stdout and
//! stderr go to a log file in the lab directory, and which is stopped on drop
//! (SIGTERM, then SIGKILL after 2 s). [`wait_until`] polls a condition with a
//! timeout. Every child gets `PR_SET_PDEATHSIG = SIGKILL`, so it dies with the
//! thread that spawned it even if this process is killed outright.

use crate::cleanup;
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Output of a finished command.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Default bound for short administrative commands (`ip`, `sysctl`, ...).
pub const SHORT: Duration = Duration::from_secs(10);

fn set_pdeathsig(cmd: &mut Command) {
    // SAFETY: prctl(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
}

/// Renders a command for messages: program and arguments, space-separated.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Runs `cmd` to completion with `input` on stdin, killing it after `timeout`.
/// Does not look at the exit status (see [`run_ok`]).
pub fn run_with_input(cmd: &mut Command, input: &[u8], timeout: Duration) -> Result<CmdOutput> {
    let what = describe(cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    set_pdeathsig(cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::msg(format!("cannot start `{what}`: {e}")))?;
    let out_rx = reader(child.stdout.take().expect("piped stdout"));
    let err_rx = reader(child.stderr.take().expect("piped stderr"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    // A grandchild could keep the pipes open: bound the collection too.
    let collect = |rx: mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(2))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let stdout = collect(out_rx);
    let stderr = collect(err_rx);
    match status {
        Some(status) => Ok(CmdOutput {
            status,
            stdout,
            stderr,
        }),
        None => Err(Error::msg(format!(
            "`{what}` did not finish within {timeout:?} (killed)\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ))),
    }
}

/// Runs `cmd` to completion (stdin empty), killing it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<CmdOutput> {
    run_with_input(cmd, b"", timeout)
}

/// Like [`run`], but a non-zero exit is an error (with the command and its
/// stderr); returns stdout.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> Result<String> {
    let what = describe(cmd);
    let out = run(cmd, timeout)?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "`{what}` failed ({})\nstdout:\n{}\nstderr:\n{}",
            out.status,
            out.stdout.trim_end(),
            out.stderr.trim_end()
        )));
    }
    Ok(out.stdout)
}

/// Polls `cond` every `poll` until it holds or `timeout` passes. Returns the
/// time it took; the error names `what`.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(Error::msg(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        thread::sleep(poll);
    }
}

/// A long-running process (usually `ip netns exec NS program ...`), logging to
/// a file, stopped on drop: SIGTERM, then SIGKILL if it is still alive after
/// 2 s. It also dies (SIGKILL) when the thread that spawned it ends, so spawn
/// it from the thread that owns the guard.
pub struct Spawned {
    name: String,
    child: Child,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Spawned {
    /// Starts `cmd`, with stdout and stderr appended to `log`.
    pub fn start(name: &str, mut cmd: Command, log: &Path) -> Result<Spawned> {
        let what = describe(&cmd);
        let file = File::create(log)
            .map_err(|e| Error::msg(format!("cannot create log {}: {e}", log.display())))?;
        let file2 = file.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(file).stderr(file2);
        set_pdeathsig(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| Error::msg(format!("cannot start {name} (`{what}`): {e}")))?;
        cleanup::register_pid(child.id());
        Ok(Spawned {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            exit: None,
        })
    }

    /// The name given at start.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id (of the program itself: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The exit status, if the process has ended.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// True while the process runs.
    pub fn is_alive(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Sends SIGKILL and reaps the process (a crash, as far as peers can tell).
    pub fn kill9(&mut self) {
        if self.is_alive() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
        cleanup::unregister_pid(self.child.id());
    }

    /// Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns the exit status.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.is_alive() {
            // SAFETY: kill(2) on our own, not yet reaped, child.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + grace;
            while self.is_alive() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            self.kill9();
        }
        cleanup::unregister_pid(self.child.id());
        self.exit
    }

    /// Waits up to `timeout` for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let name = self.name.clone();
        wait_until(
            &format!("{name} to exit"),
            timeout,
            Duration::from_millis(20),
            || !self.is_alive(),
        )?;
        Ok(self.exit.expect("exited"))
    }

    /// The whole log.
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// The last `lines` lines of the log, under a header naming the process.
    pub fn log_tail(&mut self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        let from = all.len().saturating_sub(lines);
        let state = match self.exit_status() {
            None => "running".to_string(),
            Some(st) => format!("exited: {st}"),
        };
        format!(
            "----- {} (pid {}, {state}), last {} of {} log lines, {} -----\n{}\n",
            self.name,
            self.pid(),
            all.len() - from,
            all.len(),
            self.log.display(),
            all[from..].join("\n")
        )
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(2));
    }
}
