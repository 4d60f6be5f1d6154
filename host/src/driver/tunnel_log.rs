//! The tunnel log (`[log] tunnel_log`): one JSON line per tunnel event
//! (handshake, liveness, BGP, failover, drain), with the connection, the
//! tunnel, its outside address and a detail text, as AWS's tunnel logs give
//! them, to stdout or appended to a file. A thread of its own writes them:
//! the control thread hands each line over without waiting (a full queue
//! drops the line, logged at debug level), so a slow disk or reader never delays the
//! liveness probes. SIGHUP opens the file again (after logrotate moved it
//! away); a failed write is logged once until writes succeed again; the
//! stop writes out what is queued.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::api::TunnelEvent;
use crate::config::TunnelLog;

/// Lines waiting for the writer at most; beyond, lines are dropped.
const QUEUE: usize = 1024;

/// The tunnel log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("tunnel log {path}: cannot open it for appending\n  fix: check [log] tunnel_log and that the directory exists and is writable")]
pub struct OpenError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// A line: the time, then the event's fields.
#[derive(Serialize)]
struct Line<'a> {
    timestamp: String,
    #[serde(flatten)]
    event: &'a TunnelEvent,
}

/// What the writer thread is handed.
enum Msg {
    Line(String),
    /// Open the file again (after logrotate moved it away).
    Reopen,
    /// Write what is queued and end (the gateway is stopping).
    Stop,
}

/// The handle the control thread writes through. Dropping it writes out
/// what is queued and ends the writer thread (the gateway's last lines,
/// its sessions going down, are in the log).
pub struct TunnelLogWriter {
    tx: Option<SyncSender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Asks the writer to open its file again (SIGHUP: after logrotate moved
/// it); never waits.
#[derive(Clone)]
pub struct Reopener(Option<SyncSender<Msg>>);

impl Reopener {
    pub fn reopen(&self) {
        if let Some(tx) = &self.0 {
            let _ = tx.try_send(Msg::Reopen);
        }
    }
}

/// Where the lines go, and how to open it again.
struct Out {
    to: TunnelLog,
    file: Box<dyn Write + Send>,
    /// The last write failed (a full disk): the next line starts on a line
    /// of its own, and a warning was logged.
    failing: bool,
}

impl Out {
    fn open(to: &TunnelLog) -> Result<Out, OpenError> {
        let file: Box<dyn Write + Send> = match to {
            TunnelLog::Stdout => Box::new(io::stdout()),
            TunnelLog::File(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| OpenError {
                        path: path.clone(),
                        source,
                    })?,
            ),
        };
        Ok(Out {
            to: to.clone(),
            file,
            failing: false,
        })
    }

    fn write(&mut self, line: &str) {
        // A line cut short by a failed write gets its own end, so that the
        // next one is a JSON object of its own.
        let text = if self.failing {
            format!("\n{line}")
        } else {
            line.to_string()
        };
        match self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
        {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!("tunnel log: writing again");
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::warn!(error = %e, "tunnel log: a line could not be written (lines are dropped until writes succeed again)");
            }
            Err(_) => {}
        }
    }

    fn reopen(&mut self) {
        if let TunnelLog::File(_) = self.to {
            match Out::open(&self.to) {
                Ok(out) => *self = out,
                Err(e) => {
                    tracing::warn!(error = %crate::control::admin::chain(&e), "tunnel log: cannot open it again; writing on to the old file")
                }
            }
        }
    }
}

impl TunnelLogWriter {
    /// No tunnel log.
    pub fn none() -> TunnelLogWriter {
        TunnelLogWriter {
            tx: None,
            thread: None,
        }
    }

    /// Opens the log `to` (a file is created if missing and appended to)
    /// and starts its writer thread.
    pub fn open(to: Option<&TunnelLog>) -> Result<TunnelLogWriter, OpenError> {
        let Some(to) = to else {
            return Ok(TunnelLogWriter::none());
        };
        let mut out = Out::open(to)?;
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("tunnel-log".into())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        Msg::Line(line) => out.write(&line),
                        Msg::Reopen => out.reopen(),
                        Msg::Stop => break,
                    }
                }
            })
            .map_err(|source| OpenError {
                path: PathBuf::from("<tunnel-log thread>"),
                source,
            })?;
        Ok(TunnelLogWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// A handle that asks the writer to open its file again.
    pub fn reopener(&self) -> Reopener {
        Reopener(self.tx.clone())
    }

    /// Hands `event` to the writer, stamped with the time; never waits.
    pub fn write(&self, event: &TunnelEvent) {
        let Some(tx) = &self.tx else {
            return;
        };
        let line = Line {
            timestamp: rfc3339(SystemTime::now()),
            event,
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        if let Err(TrySendError::Full(_)) = tx.try_send(Msg::Line(text)) {
            tracing::debug!("tunnel log writer behind: a line dropped");
        }
    }
}

impl Drop for TunnelLogWriter {
    fn drop(&mut self) {
        // After the queued lines (at most QUEUE of them): the writer ends
        // even while a Reopener still holds a sender.
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `t` as an RFC 3339 UTC time with milliseconds ("2026-12-04T18:30:05.123Z").
fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's
/// days-to-civil algorithm).
fn civil(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TunnelEventKind;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_796_409_005_123);
        assert_eq!(rfc3339(t), "2026-12-04T18:30:05.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_line_is_one_json_object_with_the_time_first() {
        let dir = std::env::temp_dir().join(format!("sitelink-tunnel-log-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("tunnels.log");
        let _ = std::fs::remove_file(&path);
        let log = TunnelLogWriter::open(Some(&TunnelLog::File(path.clone()))).unwrap();
        let event = TunnelEvent {
            connection: "office".into(),
            tunnel: "169.254.10.0/30".parse().unwrap(),
            outside: "198.51.100.1:51820".parse().unwrap(),
            event: TunnelEventKind::Liveness,
            state: "down".into(),
            detail: "Control Detection Time Expired".into(),
        };
        log.write(&event);
        drop(log);
        let mut text = String::new();
        for _ in 0..100 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert!(text.starts_with("{\"timestamp\":"), "{text}");
        assert_eq!(line["event"], "liveness");
        assert_eq!(line["state"], "down");
        assert_eq!(line["outside"], "198.51.100.1:51820");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_rotated_log_is_opened_again_and_the_stop_writes_out_the_queue() {
        let dir = std::env::temp_dir().join(format!("sitelink-tunnel-rot-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("tunnels.log");
        let _ = std::fs::remove_file(&path);
        let log = TunnelLogWriter::open(Some(&TunnelLog::File(path.clone()))).unwrap();
        let event = |state: &str| TunnelEvent {
            connection: "office".into(),
            tunnel: "169.254.10.0/30".parse().unwrap(),
            outside: "198.51.100.1:51820".parse().unwrap(),
            event: TunnelEventKind::Liveness,
            state: state.into(),
            detail: String::new(),
        };
        log.write(&event("down"));
        // logrotate moves the file away, then SIGHUP.
        let rotated = dir.join("tunnels.log.1");
        for _ in 0..100 {
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::rename(&path, &rotated).unwrap();
        log.reopener().reopen();
        log.write(&event("up"));
        drop(log);
        let old = std::fs::read_to_string(&rotated).unwrap_or_default();
        let new = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(old.contains("\"down\"") && !old.contains("\"up\""), "{old}");
        assert!(new.contains("\"up\""), "the line after the reopen: {new:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let path = PathBuf::from("/nonexistent-sitelink-dir/tunnels.log");
        let e = TunnelLogWriter::open(Some(&TunnelLog::File(path)))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("/nonexistent-sitelink-dir/tunnels.log"), "{e}");
        assert!(e.contains("fix:"), "{e}");
    }
}
