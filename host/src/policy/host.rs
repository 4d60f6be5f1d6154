//! What a plugin instance sees of the host: the per-store state (its
//! parameters, an empty WASI context, the memory cap), the `log` and `params`
//! imports, and the linker that offers exactly those plus WASI 0.2 with every
//! door shut: no preopened directory, no environment, no arguments, no
//! sockets (TCP, UDP and name lookup refused), stdin closed, stdout and stderr
//! into the tracing log under the plugin's name, clocks frozen at zero and
//! sleeps that return at once (so no host call can block past the deadline,
//! which only interrupts guest code). This module owns that sandbox; it must
//! not know about slots' fault rules or compile anything. (Besides `log` and
//! `params`, plugins import `sitelink:policy/types`, which holds types only.)

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::component::{HasData, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::bindings::bgp_filter::sitelink::policy::{log, params};
use super::Slot;

/// How much a plugin may write to its log (log import, stdout and stderr
/// together) per call before the rest is dropped.
const LOG_BUDGET_PER_CALL: usize = 16 * 1024;
/// The most host-side resources (streams, pollables) one instance may hold.
const MAX_RESOURCES: usize = 10_000;
/// The longest log line kept from a plugin; the rest of it is cut.
const MAX_LINE: usize = 1024;
/// What each plugin log line costs its budget besides its text (the line's
/// fields and the plugin's label), so that many short lines cannot log
/// far more than the budget.
const LINE_COST: usize = 128;
/// The longest plugin name or version shown in the gateway's log and
/// answers; the rest is cut.
pub(crate) const MAX_NAME: usize = 64;

/// `text` as the gateway may log it: at most `max_bytes` bytes of it (cut
/// at a character), its control characters (newlines among them, which
/// would forge log lines) escaped as `\n`, `\u{1b}` and the like.
pub(crate) fn printable(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        let before = out.len();
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        if out.len() > max_bytes {
            out.truncate(before);
            break;
        }
    }
    out
}

/// The state of one plugin instance's store.
pub(crate) struct HostState {
    out: LogSink,
    params: Arc<BTreeMap<String, String>>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) cap: MemoryCap,
    /// The calling thread's CPU time when the current call began.
    call_cpu: Option<Duration>,
    /// When the current call began.
    call_wall: std::time::Instant,
}

impl HostState {
    pub(crate) fn new(
        label: Arc<str>,
        slot: Slot,
        params: Arc<BTreeMap<String, String>>,
        memory_limit: usize,
    ) -> HostState {
        let out = LogSink::new(label, slot);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(LogPipe::new(out.clone(), "stdout"))
            .stderr(LogPipe::new(out.clone(), "stderr"))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .wall_clock(Frozen)
            .monotonic_clock(Frozen);
        let mut table = ResourceTable::new();
        // Plugins need a handful of resources (stdio streams, pollables);
        // the default of a million lets one eat host memory.
        table.set_max_capacity(MAX_RESOURCES);
        HostState {
            out,
            params,
            wasi: wasi.build(),
            table,
            cap: MemoryCap::new(memory_limit),
            call_cpu: None,
            call_wall: std::time::Instant::now(),
        }
    }

    /// Starts a call: a fresh log budget, and the CPU clock its deadline
    /// counts from.
    pub(crate) fn begin_call(&mut self) {
        let mut out = self.out.lock();
        out.budget = LOG_BUDGET_PER_CALL;
        out.stderr_tail.clear();
        drop(out);
        self.call_wall = std::time::Instant::now();
        self.call_cpu = super::deadline::thread_cpu_time();
    }

    /// The CPU time the current call has used so far on its thread (`None`:
    /// the clock could not be read, or went back), and its time on the
    /// wall.
    pub(crate) fn call_usage(&self) -> (Option<Duration>, Duration) {
        let cpu = super::deadline::thread_cpu_time()
            .zip(self.call_cpu)
            .and_then(|(now, start)| now.checked_sub(start));
        (cpu, self.call_wall.elapsed())
    }

    /// The start of what the plugin wrote to stderr in this call (a panic
    /// message, say), on one line.
    pub(crate) fn stderr_tail(&self) -> String {
        self.out.lock().stderr_tail.clone()
    }

    /// Ends a call: writes out what the plugin left unterminated on stdout
    /// and stderr.
    pub(crate) fn end_call(&mut self) {
        self.out.lock().flush_partial();
    }

    /// Names the plugin in its log lines from now on.
    pub(crate) fn set_label(&mut self, label: Arc<str>) {
        self.out.lock().label = label;
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        self.out.lock().emit(Some(level), "log", message.as_bytes());
    }
}

impl params::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.params.get(&key).cloned()
    }

    fn entries(&mut self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The linker every plugin is instantiated with.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut l = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut l)?;
    // Replace the monotonic clock: no real time, and no sleep that blocks
    // the host (a guest-side busy wait still hits the epoch deadline).
    l.allow_shadowing(true);
    monotonic_clock::add_to_linker::<HostState, NoClock>(&mut l, |s| NoClockView {
        table: &mut s.table,
    })?;
    l.allow_shadowing(false);
    // The shared types: an interface of types only, an empty instance.
    l.instance(&format!(
        "sitelink:policy/types@{}",
        super::CONTRACT_VERSION
    ))?;
    log::add_to_linker::<HostState, HasSelf<HostState>>(&mut l, |s| s)?;
    params::add_to_linker::<HostState, HasSelf<HostState>>(&mut l, |s| s)?;
    Ok(l)
}

/// The memory cap of one store: all its linear memories and tables
/// together (a table element counted as [`TABLE_ELEMENT_BYTES`]), with the
/// numbers of instances, memories and tables bounded too, so that no way
/// of asking the host for memory gets past it.
pub(crate) struct MemoryCap {
    cap: usize,
    used: usize,
}

/// What one table element is counted as: a reference and its metadata,
/// more than wasmtime stores for a function reference.
pub(crate) const TABLE_ELEMENT_BYTES: usize = 16;
/// Core instances, linear memories and tables one plugin's store may
/// hold: far above what a Rust or Python component makes (a few of each),
/// far below what would cost the host memory of note outside the cap.
pub(crate) const MAX_INSTANCES: usize = 256;
pub(crate) const MAX_MEMORIES: usize = 32;
pub(crate) const MAX_TABLES: usize = 256;

impl MemoryCap {
    fn new(cap: usize) -> MemoryCap {
        MemoryCap { cap, used: 0 }
    }

    /// Takes a growth from `current` to `desired` bytes, or refuses it.
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let wanted = self.used.saturating_sub(current).saturating_add(desired);
        if wanted > self.cap {
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                wanted,
                cap: self.cap,
            }));
        }
        self.used = wanted;
        Ok(true)
    }
}

/// The error a memory growth past the cap traps with.
#[derive(Debug)]
pub(crate) struct MemoryCapExceeded {
    pub(crate) wanted: usize,
    pub(crate) cap: usize,
}

impl fmt::Display for MemoryCapExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory cap exceeded: wanted {} KiB of linear memory and tables, the cap is {} KiB",
            self.wanted / 1024,
            self.cap / 1024
        )
    }
}

impl std::error::Error for MemoryCapExceeded {}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod cap_tests {
    use super::*;

    /// A fault's detail keeps the message: a panic's location without its
    /// thread and directories, a Python exception without its frames.
    #[test]
    fn a_faults_stderr_keeps_the_message_not_the_noise() {
        let kept = |l: &str| fault_line(l).map(|c| c.into_owned());
        assert_eq!(
            kept("thread '<unnamed>' (1) panicked at /home/dev/.cargo/git/checkouts/sitelink/plugins/sdk/src/params.rs:88:13:")
                .as_deref(),
            Some("panicked at params.rs:88:13:")
        );
        assert_eq!(
            kept("bad parameters: max_as_path = \"abc\" is not a whole number").as_deref(),
            Some("bad parameters: max_as_path = \"abc\" is not a whole number")
        );
        for noise in [
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            "Traceback (most recent call last):",
            "  File \"/app.py\", line 12, in import_filter",
            "    raise ValueError(\"bad parameters\")",
        ] {
            assert_eq!(kept(noise), None, "{noise}");
        }
        assert_eq!(
            kept("ValueError: bad parameters: 64512=100").as_deref(),
            Some("ValueError: bad parameters: 64512=100")
        );
    }

    #[test]
    fn plugin_text_is_logged_on_one_line_within_its_bytes() {
        assert_eq!(printable("ok: 10.0.0.0/8", 64), "ok: 10.0.0.0/8");
        // A newline or an escape sequence cannot start a line of its own.
        assert_eq!(
            printable("done\n2026-12-07 INFO forged\u{1b}[2J", 64),
            "done\\n2026-12-07 INFO forged\\u{1b}[2J"
        );
        // Cut at a character within the bytes given, escapes included.
        assert_eq!(printable("ééé", 5), "éé");
        assert_eq!(printable("ab\ncd", 3), "ab");
        assert!(printable(&"x".repeat(10_000), MAX_NAME).len() <= MAX_NAME);
    }

    #[test]
    fn memories_and_tables_share_one_cap() {
        let mut cap = MemoryCap::new(16 << 20);
        assert_eq!(cap.memory_growing(0, 8 << 20, None).ok(), Some(true));
        // A table of 512 Ki elements is 8 MiB as counted: just fits.
        let half = (8 << 20) / TABLE_ELEMENT_BYTES;
        assert_eq!(cap.table_growing(0, half, None).ok(), Some(true));
        let err = cap
            .table_growing(half, half + 1, None)
            .expect_err("over the cap");
        assert!(err.to_string().contains("memory cap exceeded"), "{err}");
        // A second table, or more memory, does not get past it either.
        assert!(cap.table_growing(0, 1, None).is_err());
        assert!(cap
            .memory_growing(8 << 20, (8 << 20) + 65536, None)
            .is_err());
        // Shrinking what is counted makes room again.
        assert_eq!(cap.memory_growing(8 << 20, 4 << 20, None).ok(), Some(true));
        assert_eq!(cap.table_growing(0, 1, None).ok(), Some(true));
    }

    #[test]
    fn a_table_past_its_own_maximum_or_a_huge_one_is_refused() {
        let mut cap = MemoryCap::new(64 << 20);
        assert_eq!(cap.table_growing(0, 11, Some(10)).ok(), Some(false));
        assert!(cap.table_growing(0, usize::MAX, None).is_err());
        assert_eq!(
            (cap.instances(), cap.memories(), cap.tables()),
            (MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES)
        );
    }
}

/// Where a plugin's words go: the tracing log, under its name and slot.
#[derive(Clone)]
struct LogSink(Arc<Mutex<SinkState>>);

struct SinkState {
    label: Arc<str>,
    slot: Slot,
    budget: usize,
    told_dropped: bool,
    /// Unterminated output per stream: stdout, stderr.
    partial: [Vec<u8>; 2],
    /// What the plugin wrote to stderr in this call (the start of it), to
    /// explain a trap.
    stderr_tail: String,
}

impl LogSink {
    fn new(label: Arc<str>, slot: Slot) -> LogSink {
        LogSink(Arc::new(Mutex::new(SinkState {
            label,
            slot,
            budget: LOG_BUDGET_PER_CALL,
            told_dropped: false,
            partial: [Vec::new(), Vec::new()],
            stderr_tail: String::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, SinkState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What of a plugin's stderr line goes into a fault's detail (240 bytes in
/// all), so that the message itself fits: a Rust panic's header without
/// its thread and directories (`panicked at params.rs:88:13:`), no
/// backtrace hint, no Python traceback frames (their exception line, last,
/// is kept).
fn fault_line(line: &str) -> Option<std::borrow::Cow<'_, str>> {
    if line.starts_with("note: run with `RUST_BACKTRACE")
        || line == "Traceback (most recent call last):"
        || line.starts_with(char::is_whitespace)
    {
        return None;
    }
    if let Some((thread, at)) = line.split_once("panicked at ") {
        if thread.starts_with("thread '") {
            let file = at.rsplit(['/', '\\']).next().unwrap_or(at);
            return Some(format!("panicked at {file}").into());
        }
    }
    Some(line.into())
}

impl SinkState {
    /// Logs one message: at the plugin's level for the log import, info for
    /// stdout and stderr.
    fn emit(&mut self, level: Option<log::Level>, stream: &str, text: &[u8]) {
        let line = String::from_utf8_lossy(text);
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        if stream == "stderr" && self.stderr_tail.len() < 240 {
            if let Some(kept) = fault_line(line) {
                if !self.stderr_tail.is_empty() {
                    self.stderr_tail.push(' ');
                }
                let room = 240 - self.stderr_tail.len().min(240);
                self.stderr_tail.push_str(&printable(&kept, room));
            }
        }
        if self.budget == 0 {
            if !self.told_dropped {
                self.told_dropped = true;
                tracing::warn!(target: "sitelink::plugin", plugin = %self.label, slot = %self.slot,
                    "plugin log budget of {LOG_BUDGET_PER_CALL} bytes per call used up: dropping the rest");
            }
            return;
        }
        let msg = printable(line, MAX_LINE.min(self.budget));
        self.budget = self.budget.saturating_sub(msg.len() + LINE_COST);
        let (plugin, slot) = (&*self.label, self.slot);
        match level {
            Some(log::Level::Error) => {
                tracing::error!(target: "sitelink::plugin", plugin, %slot, stream, "{msg}")
            }
            Some(log::Level::Warn) => {
                tracing::warn!(target: "sitelink::plugin", plugin, %slot, stream, "{msg}")
            }
            Some(log::Level::Debug) => {
                tracing::debug!(target: "sitelink::plugin", plugin, %slot, stream, "{msg}")
            }
            Some(log::Level::Info) | None => {
                tracing::info!(target: "sitelink::plugin", plugin, %slot, stream, "{msg}")
            }
        }
    }

    /// Takes in bytes written to stdout (0) or stderr (1); logs whole lines.
    fn write(&mut self, which: usize, mut bytes: &[u8]) {
        let stream = if which == 0 { "stdout" } else { "stderr" };
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.partial[which]);
            line.extend_from_slice(&bytes[..nl]);
            self.emit(None, stream, &line);
            bytes = &bytes[nl + 1..];
        }
        let room = MAX_LINE.saturating_sub(self.partial[which].len());
        self.partial[which].extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn flush_partial(&mut self) {
        for (which, stream) in [(0, "stdout"), (1, "stderr")] {
            let line = std::mem::take(&mut self.partial[which]);
            if !line.is_empty() {
                self.emit(None, stream, &line);
            }
        }
    }
}

/// stdout or stderr of a plugin: whole lines into its log.
#[derive(Clone)]
struct LogPipe {
    sink: LogSink,
    which: usize,
}

impl LogPipe {
    fn new(sink: LogSink, stream: &str) -> LogPipe {
        LogPipe {
            sink,
            which: usize::from(stream != "stdout"),
        }
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.sink.lock().write(self.which, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.sink.lock().write(self.which, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Clocks that stay at zero: plugins get no time (decisions depend on their
/// input only).
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// `wasi:clocks/monotonic-clock` without time: `now` is 0 and every timer is
/// due at once.
struct NoClock;

impl HasData for NoClock {
    type Data<'a> = NoClockView<'a>;
}

struct NoClockView<'a> {
    table: &'a mut ResourceTable,
}

/// A pollable that is always ready.
struct Due;

#[wasmtime_wasi::async_trait]
impl Pollable for Due {
    async fn ready(&mut self) {}
}

impl NoClockView<'_> {
    fn due(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let due = self.table.push(Due)?;
        wasmtime_wasi::p2::subscribe(self.table, due)
    }
}

impl monotonic_clock::Host for NoClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000_000_000)
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }
}
