//! One admin client's connection: who may be one, how many at once, and
//! how long each may take.
//!
//! Owns: the peer-credential check (`SO_PEERCRED`), the cap on clients
//! answered at once, and the whole-request and whole-answer deadlines.
//! Must not: interpret requests (that is `admin`), block the accepting
//! thread on a client, or let a client that sends or reads slowly hold a
//! thread longer than its deadlines.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::api;

/// Time a client has to send its whole request line.
pub const REQUEST_TIME: Duration = Duration::from_secs(2);
/// Time a client has to read the whole answer.
pub const ANSWER_TIME: Duration = Duration::from_secs(10);
/// Clients answered at once; one more waits for a place.
pub const MAX_CLIENTS: usize = 8;
/// How long one more client waits for a place before it is told to ask
/// again: longer than a silent client may keep one.
pub const WAIT_FOR_PLACE: Duration = Duration::from_secs(3);
/// Time given to the one-line refusal written by the accepting thread.
const REFUSAL_TIME: Duration = Duration::from_millis(100);

/// The user a connected client runs as, from the kernel (`SO_PEERCRED`:
/// its credentials when it connected, which it cannot forge).
pub fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the descriptor is open for as long as `stream` is borrowed;
    // getsockopt writes at most `len` bytes into `cred`, a `ucred` we own,
    // and `len` is its size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<libc::ucred>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "SO_PEERCRED: a short answer",
        ));
    }
    Ok(cred.uid)
}

/// Whether a client running as `uid` may use the admin socket of a gateway
/// running as `euid`: root, or the gateway's own user. The socket's mode
/// already says so; this holds even if someone loosens the mode.
pub fn client_allowed(uid: u32, euid: u32) -> bool {
    uid == 0 || uid == euid
}

/// The clients being answered now. A [`Slot`] is one of them.
#[derive(Default)]
pub struct Clients {
    busy: Arc<(Mutex<usize>, Condvar)>,
}

/// A client's place among the [`MAX_CLIENTS`]; given back on drop.
pub struct Slot {
    busy: Arc<(Mutex<usize>, Condvar)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (count, freed) = &*self.busy;
        let mut n = count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        freed.notify_one();
    }
}

impl Clients {
    /// A place for one more client, waiting up to `wait` for one while
    /// [`MAX_CLIENTS`] are being answered (a burst of requests is served
    /// in turn; a silent client gives its place back within
    /// [`REQUEST_TIME`]); `None` if none came free.
    pub fn admit_within(&self, wait: Duration) -> Option<Slot> {
        let (count, freed) = &*self.busy;
        let n = count.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut n, _) = freed
            .wait_timeout_while(n, wait, |n| *n >= MAX_CLIENTS)
            .unwrap_or_else(PoisonError::into_inner);
        if *n >= MAX_CLIENTS {
            return None;
        }
        *n += 1;
        Some(Slot {
            busy: self.busy.clone(),
        })
    }
}

/// Of the [`MAX_CLIENTS`] places, how many may wait for the control loop
/// at once (each up to a minute while it is busy): the rest stay for the
/// requests answered off it, `status` above all, which must answer then.
pub const MAX_CONTROL_WAITS: usize = MAX_CLIENTS - 2;
const _: () = assert!(MAX_CONTROL_WAITS > 0 && MAX_CONTROL_WAITS < MAX_CLIENTS);

/// The requests waiting for the control loop now. A [`ControlWait`] is one
/// of them.
#[derive(Default)]
pub struct ControlWaits(Arc<AtomicUsize>);

/// One request's wait for the control loop; given back on drop.
pub struct ControlWait(Arc<AtomicUsize>);

impl ControlWaits {
    /// A wait for one more request, unless [`MAX_CONTROL_WAITS`] wait.
    pub fn take(&self) -> Option<ControlWait> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CONTROL_WAITS).then_some(n + 1)
            })
            .ok()
            .map(|_| ControlWait(self.0.clone()))
    }
}

impl Drop for ControlWait {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Writes `reply` as the connection's one line and closes it, giving the
/// write at most a moment: used by the accepting thread, which must not
/// wait on a client.
pub fn refuse(stream: UnixStream, reply: api::Response) {
    let _ = write_line(&stream, &reply.to_line(), Instant::now() + REFUSAL_TIME);
}

/// Why a request line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("admin request: the line did not arrive within {}s\n  fix: send the whole request at once, ending with a newline", REQUEST_TIME.as_secs())]
    Late,
    #[error(
        "admin request: longer than {} bytes\n  fix: send one JSON request on one line",
        api::MAX_REQUEST
    )]
    TooLong,
    #[error("admin request: cannot read it")]
    Io(#[source] io::Error),
}

/// Reads one request line (without its newline), all of it within
/// `deadline`, at most [`api::MAX_REQUEST`] bytes. A client that closes
/// without a newline has sent what it read.
pub fn read_line(stream: &UnixStream, deadline: Instant) -> Result<String, ReadError> {
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = time_left(deadline).ok_or(ReadError::Late)?;
        stream.set_read_timeout(Some(left)).map_err(ReadError::Io)?;
        let n = match (&*stream).read(&mut chunk) {
            Ok(n) => n,
            Err(e) if timed_out(&e) => return Err(ReadError::Late),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        let got = &chunk[..n];
        let end = got.iter().position(|&b| b == b'\n');
        line.extend_from_slice(&got[..end.unwrap_or(n)]);
        if line.len() as u64 >= api::MAX_REQUEST {
            return Err(ReadError::TooLong);
        }
        if n == 0 || end.is_some() {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

/// Writes `line` and a newline, all of it within `deadline`.
pub fn write_line(stream: &UnixStream, line: &str, deadline: Instant) -> io::Result<()> {
    let mut out = Vec::with_capacity(line.len() + 1);
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    let mut sent = 0;
    while sent < out.len() {
        let left = time_left(deadline)
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "answer not read in time"))?;
        stream.set_write_timeout(Some(left))?;
        match (&*stream).write(&out[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_the_gateways_user_are_clients() {
        assert!(client_allowed(0, 0));
        assert!(
            client_allowed(0, 998),
            "root, for a gateway running as a service user"
        );
        assert!(client_allowed(998, 998), "the gateway's own user");
        assert!(!client_allowed(1000, 0), "another user, for a root gateway");
        assert!(!client_allowed(1000, 998));
    }

    #[test]
    fn the_kernel_names_the_peer() {
        let (a, _b) = UnixStream::pair().expect("a socket pair");
        assert_eq!(peer_uid(&a).expect("SO_PEERCRED"), crate::keys::euid());
    }

    #[test]
    fn places_stay_free_of_control_waits_and_waits_come_back() {
        let waits = ControlWaits::default();
        let mut held: Vec<ControlWait> = (0..MAX_CONTROL_WAITS)
            .map(|_| waits.take().expect("a wait"))
            .collect();
        assert!(waits.take().is_none(), "no more than MAX_CONTROL_WAITS");
        held.pop();
        assert!(waits.take().is_some(), "a wait given back is taken again");
    }

    #[test]
    fn no_more_than_max_clients_at_once_and_places_come_back() {
        let clients = Clients::default();
        let none = Duration::ZERO;
        let mut slots: Vec<Slot> = (0..MAX_CLIENTS)
            .filter_map(|_| clients.admit_within(none))
            .collect();
        assert_eq!(slots.len(), MAX_CLIENTS);
        let started = Instant::now();
        let wait = Duration::from_millis(100);
        assert!(clients.admit_within(wait).is_none(), "one too many");
        assert!(started.elapsed() >= wait, "it waited for a place");
        // A place given back while one more waits is taken at once.
        let given_back = slots.pop();
        let waiter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(given_back);
        });
        let started = Instant::now();
        assert!(clients.admit_within(Duration::from_secs(5)).is_some());
        assert!(started.elapsed() < Duration::from_secs(2));
        let _ = waiter.join();
    }

    #[test]
    fn a_line_is_read_to_its_newline() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        (&b).write_all(b"{\"cmd\":\"status\"}\nrest")
            .expect("write");
        let line = read_line(&a, Instant::now() + REQUEST_TIME).expect("a line");
        assert_eq!(line, "{\"cmd\":\"status\"}");
    }

    #[test]
    fn a_client_that_trickles_is_cut_at_the_deadline() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let trickle = std::thread::spawn(move || {
            for _ in 0..20 {
                if (&b).write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let started = Instant::now();
        let err = read_line(&a, started + Duration::from_millis(300)).expect_err("late");
        let took = started.elapsed();
        assert!(matches!(err, ReadError::Late), "{err}");
        assert!(
            took < Duration::from_millis(600),
            "cut after {took:?}, though it kept sending"
        );
        assert!(err.to_string().contains("fix: "), "{err}");
        drop(a);
        let _ = trickle.join();
    }

    #[test]
    fn an_endless_line_is_refused_at_its_limit() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let flood = std::thread::spawn(move || {
            let block = vec![b'x'; 16 * 1024];
            while (&b).write_all(&block).is_ok() {}
        });
        let err = read_line(&a, Instant::now() + REQUEST_TIME).expect_err("too long");
        assert!(matches!(err, ReadError::TooLong), "{err}");
        drop(a);
        let _ = flood.join();
    }

    #[test]
    fn a_client_that_does_not_read_its_answer_is_cut_at_the_deadline() {
        let (a, _b) = UnixStream::pair().expect("a socket pair");
        // Larger than the socket's buffers: the write must wait for a reader.
        let answer = "x".repeat(8 * 1024 * 1024);
        let started = Instant::now();
        let err =
            write_line(&a, &answer, started + Duration::from_millis(300)).expect_err("never read");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_millis(600));
    }
}
