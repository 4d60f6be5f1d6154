//! A daemon's control socket (a Unix stream socket in the lab's directory:
//! no namespace needed), asked without a process per question, each step
//! bounded: the connect (a listener whose backlog is full blocks it), every
//! write and the whole answer.

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Connects to `path`, waiting at most `timeout` for room in the listener's
/// backlog (std's `UnixStream::connect` would wait for ever).
pub fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is a valid (empty) address.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: not usable as a socket path (too long, or a NUL in it)",
                path.display()
            ),
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (to, from) in addr.sun_path.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket just opened and owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let stream = UnixStream::from(owned);
    // A Unix stream socket's connect waits for backlog room as long as
    // its send timeout allows (unix(7)).
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes, `fd` an open
    // socket (kept open by `stream`).
    let rc = unsafe {
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_un).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stream)
}

/// A stream whose reads all end by `deadline`: each read waits at most the
/// time left.
pub struct Deadline<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl<'a> Deadline<'a> {
    pub fn new(stream: &'a UnixStream, timeout: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            deadline: Instant::now() + timeout,
        }
    }

    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete answer in time",
            ));
        }
        Ok(left)
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        (&*self.stream).write_all(bytes)
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        (&*self.stream).read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A socket path in a directory of its own, removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> (Scratch, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sl-unix-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join("ctl");
        (Scratch(dir), path)
    }

    /// `err` is a timeout (as a socket timeout reports it), met within
    /// `bound` of `start`.
    fn gave_up_in_time(err: &io::Error, start: Instant, bound: Duration) {
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        assert!(start.elapsed() < bound, "{:?}", start.elapsed());
    }

    #[test]
    fn a_question_and_its_answer() {
        let (_dir, path) = scratch("answer");
        let listener = UnixListener::bind(&path).expect("bind");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut q = [0u8; 4];
            s.read_exact(&mut q).expect("question");
            s.write_all(b"answer to ").expect("answer");
            s.write_all(&q).expect("answer");
        });
        let stream = connect(&path, Duration::from_secs(5)).expect("connect");
        let mut io = Deadline::new(&stream, Duration::from_secs(5));
        io.write_all(b"ping").expect("write");
        let mut answer = String::new();
        io.read_to_string(&mut answer).expect("read");
        assert_eq!(answer, "answer to ping");
        server.join().expect("server");
    }

    #[test]
    fn a_listener_that_never_accepts_fails_the_connect_in_time() {
        let (_dir, path) = scratch("backlog");
        let _listener = UnixListener::bind(&path).expect("bind");
        let bound = Duration::from_millis(200);
        let mut held = Vec::new();
        let start = Instant::now();
        // The backlog fills (128 in std's listen), then a connect waits
        // for room: bounded, it fails.
        let err = loop {
            match connect(&path, bound) {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(held.len() < 10_000, "the backlog never filled");
        };
        gave_up_in_time(&err, start, Duration::from_secs(5));
    }

    #[test]
    fn an_answer_that_stalls_ends_at_the_deadline() {
        let (_dir, path) = scratch("stall");
        let listener = UnixListener::bind(&path).expect("bind");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let _ = s.write_all(b"0001 partial");
            // Keeps the connection open past the client's deadline.
            std::thread::sleep(Duration::from_millis(800));
        });
        let stream = connect(&path, Duration::from_secs(5)).expect("connect");
        let start = Instant::now();
        let mut io = Deadline::new(&stream, Duration::from_millis(300));
        let mut answer = String::new();
        let err = io
            .read_to_string(&mut answer)
            .expect_err("a stalled answer");
        gave_up_in_time(&err, start, Duration::from_millis(700));
        server.join().expect("server");
    }

    #[test]
    fn a_path_too_long_for_a_socket_is_refused() {
        let long = std::path::PathBuf::from(format!("/tmp/{}", "x".repeat(200)));
        let err = connect(&long, Duration::from_secs(1)).expect_err("too long");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            err.to_string().contains("not usable as a socket path"),
            "{err}"
        );
    }
}
