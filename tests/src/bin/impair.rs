//! `impair --dev NAME [--loss P] [--delay-ms D] [--jitter-ms J] [--seed S]
//! [--queue N]`: a userspace stand-in for `tc netem` (this lab's kernel has
//! none). It creates TUN device NAME (`IFF_TUN | IFF_NO_PI`, raw IP packets)
//! in the namespace it runs in and, for every packet the kernel routes into
//! that device, drops it with probability P (0..=1, default 0) or writes it
//! back into the device after D + U(0, J) milliseconds (U uniform; defaults
//! 0 and 0). A packet written to a TUN device enters the kernel as if it had
//! arrived on it, so it is routed again, now with `iif NAME`: the policy
//! rule that steered it in (see `sitelink_lab::impair`) no longer matches
//! and it leaves by the main table. Independent delays reorder packets as
//! netem's jitter does. At most N packets (default 8192) wait at once; more
//! are dropped and counted as overflow.
//!
//! Output (stdout): `impair ready dev=NAME ...` once the device exists, then
//! a stats line (`impair stats: read=.. dropped=.. overflow=.. written=..
//! write_errors=.. queued=.. mean_delay_us=.. max_delay_us=..`) every 500 ms
//! while anything changed, and a last one after SIGTERM or SIGINT (exit 0).
//! The delays in it are measured, from the read to the write. Bad arguments
//! or a device that cannot be made end with a message and exit status 2;
//! nothing a packet holds is looked at, so no packet can make it fail.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sitelink_lab::rng::Rng;

/// Largest packet read from the device (a TUN device without offloads hands
/// over at most its MTU, at most 64 KiB).
const MAX_PACKET: usize = 65_536;
/// Packets read per wake-up before due packets are written again.
const READ_BURST: usize = 256;
/// How often the stats line is printed (when something changed).
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Longest sleep in poll(2), so a signal that lands just before it is seen soon.
const MAX_SLEEP: Duration = Duration::from_millis(100);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
struct Args {
    dev: String,
    loss: f64,
    delay: Duration,
    jitter: Duration,
    seed: Option<u64>,
    queue: usize,
}

const USAGE: &str = "usage: impair --dev NAME [--loss 0..1] [--delay-ms MS] [--jitter-ms MS] \
                     [--seed N] [--queue N]";

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut dev = None;
    let mut a = Args {
        dev: String::new(),
        loss: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        seed: None,
        queue: 8192,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let ms = |v: &str| -> Result<Duration, String> {
            v.parse::<u32>()
                .map(|n| Duration::from_millis(u64::from(n)))
                .map_err(|_| format!("{flag} {v:?}: not a whole number of milliseconds"))
        };
        match flag.as_str() {
            "--dev" => dev = Some(value()?.clone()),
            "--loss" => {
                let v = value()?;
                a.loss = v
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| format!("--loss {v:?}: a probability from 0 to 1"))?;
            }
            "--delay-ms" => a.delay = ms(value()?)?,
            "--jitter-ms" => a.jitter = ms(value()?)?,
            "--seed" => {
                let v = value()?;
                a.seed = Some(
                    v.parse()
                        .map_err(|_| format!("--seed {v:?}: not a number"))?,
                );
            }
            "--queue" => {
                let v = value()?;
                a.queue = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--queue {v:?}: a packet count above 0"))?;
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    a.dev = dev.ok_or_else(|| format!("--dev is required\n{USAGE}"))?;
    if a.dev.is_empty() || a.dev.len() >= libc::IFNAMSIZ || a.dev.contains(['/', '\0', ' ']) {
        return Err(format!(
            "--dev {:?}: an interface name of 1 to {} bytes without '/', NUL or spaces",
            a.dev,
            libc::IFNAMSIZ - 1
        ));
    }
    Ok(a)
}

/// Counters, printed as the stats line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    read: u64,
    dropped: u64,
    overflow: u64,
    written: u64,
    write_errors: u64,
    queued: u64,
    delay_sum_us: u64,
    max_delay_us: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mean = self.delay_sum_us.checked_div(self.written).unwrap_or(0);
        write!(
            f,
            "read={} dropped={} overflow={} written={} write_errors={} queued={} \
             mean_delay_us={mean} max_delay_us={}",
            self.read,
            self.dropped,
            self.overflow,
            self.written,
            self.write_errors,
            self.queued,
            self.max_delay_us
        )
    }
}

/// A packet waiting for its time.
struct Held {
    due: Instant,
    seq: u64,
    read_at: Instant,
    packet: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// The impairment itself, without I/O: what happens to each packet read,
/// and which held packets are due.
struct Impairer {
    loss: f64,
    delay: Duration,
    jitter: Duration,
    cap: usize,
    rng: Rng,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    stats: Stats,
}

impl Impairer {
    fn new(args: &Args, seed: u64) -> Impairer {
        Impairer {
            loss: args.loss,
            delay: args.delay,
            jitter: args.jitter,
            cap: args.queue,
            rng: Rng::new(seed),
            held: BinaryHeap::new(),
            seq: 0,
            stats: Stats::default(),
        }
    }

    /// A packet read at `now`: dropped, or held until its due time.
    fn offer(&mut self, packet: &[u8], now: Instant) {
        self.stats.read += 1;
        if self.loss > 0.0 && self.rng.unit() < self.loss {
            self.stats.dropped += 1;
            return;
        }
        if self.held.len() >= self.cap {
            self.stats.overflow += 1;
            return;
        }
        let wait = self.delay + self.jitter.mul_f64(self.rng.unit());
        let due = now.checked_add(wait).unwrap_or(now);
        self.seq += 1;
        self.held.push(Reverse(Held {
            due,
            seq: self.seq,
            read_at: now,
            packet: packet.to_vec(),
        }));
        self.stats.queued = self.held.len() as u64;
    }

    /// When the next held packet is due.
    fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.due)
    }

    /// The next packet due at `now`, with the time it was held.
    fn pop_due(&mut self, now: Instant) -> Option<(Vec<u8>, Duration)> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(h) = self.held.pop()?;
        self.stats.queued = self.held.len() as u64;
        Some((h.packet, now.saturating_duration_since(h.read_at)))
    }

    /// Counts a packet written back after `held`.
    fn written(&mut self, held: Duration) {
        let us = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        self.stats.written += 1;
        self.stats.delay_sum_us = self.stats.delay_sum_us.saturating_add(us);
        self.stats.max_delay_us = self.stats.max_delay_us.max(us);
    }
}

/// Creates TUN device `name` (no packet information header), non-blocking.
fn open_tun(name: &str) -> io::Result<OwnedFd> {
    // SAFETY: open(2) of a NUL-terminated constant path; the result is checked.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened by us and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data (a name array and a union of plain
    // fields); all zeroes is a valid value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // parse_args checked the length (< IFNAMSIZ), so a NUL stays at the end.
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is,
    // alive for the call; `fd` is an open /dev/net/tun descriptor.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Waits until `fd` is readable or `timeout` passes (or a signal arrives).
fn wait_readable(fd: &OwnedFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, alive for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(n > 0 && pfd.revents & libc::POLLIN != 0)
}

/// Reads one packet; `None` when nothing is waiting.
fn read_packet(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: read(2) into `buf`, which is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(n as usize))
}

/// Writes one packet back into the device.
fn write_packet(fd: &OwnedFd, packet: &[u8]) -> io::Result<()> {
    // SAFETY: write(2) from `packet`, valid for `packet.len()` bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn install_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let seed = args.seed.unwrap_or_else(|| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        t ^ u64::from(std::process::id()).rotate_left(32)
    });
    let fd =
        open_tun(&args.dev).map_err(|e| format!("cannot create TUN device {:?}: {e}", args.dev))?;
    install_signals();
    println!(
        "impair ready dev={} loss={} delay_ms={} jitter_ms={} seed={seed} queue={}",
        args.dev,
        args.loss,
        args.delay.as_millis(),
        args.jitter.as_millis(),
        args.queue
    );
    let mut imp = Impairer::new(args, seed);
    let mut buf = vec![0u8; MAX_PACKET];
    let mut reported = Stats::default();
    let mut report_at = Instant::now() + REPORT_EVERY;
    while !STOP.load(Ordering::Relaxed) {
        let now = Instant::now();
        let sleep = imp
            .next_due()
            .map_or(MAX_SLEEP, |due| due.saturating_duration_since(now))
            .min(MAX_SLEEP)
            .min(report_at.saturating_duration_since(now));
        if wait_readable(&fd, sleep).map_err(|e| format!("poll: {e}"))? {
            for _ in 0..READ_BURST {
                match read_packet(&fd, &mut buf) {
                    Ok(Some(n)) => imp.offer(&buf[..n], Instant::now()),
                    Ok(None) => break,
                    Err(e) => return Err(format!("read from {}: {e}", args.dev)),
                }
            }
        }
        let now = Instant::now();
        while let Some((packet, held)) = imp.pop_due(now) {
            match write_packet(&fd, &packet) {
                Ok(()) => imp.written(held),
                Err(_) => imp.stats.write_errors += 1,
            }
        }
        if now >= report_at {
            if imp.stats != reported {
                println!("impair stats: {}", imp.stats);
                reported = imp.stats;
            }
            report_at = now + REPORT_EVERY;
        }
    }
    println!("impair stats: {}", imp.stats);
    println!("impair stopped");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(|a| run(&a));
    if let Err(e) = result {
        eprintln!("impair: {e}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse_args(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_are_checked_not_trusted() {
        let a = args("--dev imp0 --loss 0.3 --jitter-ms 200 --seed 7").expect("valid");
        assert_eq!(a.dev, "imp0");
        assert_eq!(a.loss, 0.3);
        assert_eq!(a.jitter, Duration::from_millis(200));
        assert_eq!((a.delay, a.seed, a.queue), (Duration::ZERO, Some(7), 8192));
        for bad in [
            "",
            "--loss 0.3",
            "--dev",
            "--dev imp0 --loss 1.5",
            "--dev imp0 --loss -0.1",
            "--dev imp0 --loss NaN",
            "--dev imp0 --jitter-ms -5",
            "--dev imp0 --delay-ms 1.5",
            "--dev imp0 --queue 0",
            "--dev imp0 --seed x",
            "--dev a/b",
            "--dev sixteen-bytes-xx",
            "--dev imp0 --frobnicate 1",
        ] {
            assert!(args(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn drops_about_the_asked_share_and_holds_the_rest_within_the_jitter() {
        let a = args("--dev t --loss 0.3 --delay-ms 10 --jitter-ms 200").expect("valid");
        let mut imp = Impairer::new(&a, 42);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            imp.offer(&[0x45, 0, 0, 20], t0);
        }
        let s = imp.stats;
        assert_eq!(s.read, 10_000);
        assert!((2_700..=3_300).contains(&s.dropped), "{s}");
        assert_eq!(s.queued, 10_000 - s.dropped - s.overflow);
        assert!(imp.pop_due(t0 + Duration::from_millis(9)).is_none());
        let mut last = t0;
        let mut out = 0;
        let mut step = t0;
        while step <= t0 + Duration::from_millis(211) {
            while let Some((p, held)) = imp.pop_due(step) {
                assert_eq!(p, [0x45, 0, 0, 20]);
                assert!(held >= Duration::from_millis(10) && step >= last);
                last = step;
                imp.written(held);
                out += 1;
            }
            step += Duration::from_millis(1);
        }
        assert_eq!(out, s.queued, "every held packet is due by delay + jitter");
        let mean = imp.stats.delay_sum_us / imp.stats.written;
        assert!((100_000..=120_000).contains(&mean), "mean delay {mean} us");
    }

    #[test]
    fn a_full_queue_overflows_instead_of_growing() {
        let a = args("--dev t --jitter-ms 100 --queue 3").expect("valid");
        let mut imp = Impairer::new(&a, 1);
        let now = Instant::now();
        for _ in 0..5 {
            imp.offer(&[], now);
        }
        assert_eq!((imp.stats.queued, imp.stats.overflow), (3, 2));
    }
}
