//! The metrics endpoint's HTTP: one request per connection, read with a
//! timeout and a size cap, answered `GET /metrics` with the text a scrape
//! renders, 404/405/400/431 for anything else. A thread of its own; it
//! never touches the control thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::{MetricsListener, CLIENT_TIMEOUT, CONTENT_TYPE, MAX_REQUEST};

/// Serves `render`'s text on `GET /metrics` on a thread named `metrics`.
pub(super) fn spawn(
    listener: MetricsListener,
    mut render: impl FnMut() -> String + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(e) = answer(stream, &mut render) {
                            debug!(error = %e, "metrics client");
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors, say: do not spin.
                        warn!(error = %e, "metrics: accept failed");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(())
}

/// Reads one request and answers it: the request within [`CLIENT_TIMEOUT`]
/// of the accept, the answer (and what the client still sends) within as
/// much again, however the client trickles its bytes.
pub(super) fn answer(stream: TcpStream, render: &mut impl FnMut() -> String) -> io::Result<()> {
    let mut io = Deadline::after(&stream, CLIENT_TIMEOUT);
    let reply = match read_head(&mut io) {
        Ok(head) => route(&head, render),
        Err(HeadError::TooLarge) => Reply::error(431, "Request Header Fields Too Large"),
        Err(HeadError::Malformed) => Reply::error(400, "Bad Request"),
        Err(HeadError::Io(e)) => return Err(e),
    };
    let mut io = Deadline::after(&stream, CLIENT_TIMEOUT);
    io.write_all(&reply.bytes())?;
    io.flush()?;
    if reply.status != 200 {
        // The client may still be sending (a request over the cap): read
        // what it sends, within the deadline, so that closing does not
        // reset the connection before it has read the answer.
        stream.shutdown(Shutdown::Write)?;
        let mut sink = [0u8; 1024];
        let mut drained = 0;
        while drained < 16 * MAX_REQUEST {
            match io.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
    Ok(())
}

/// A connection whose reads and writes all end by one deadline (each waits
/// at most the time left): with a timeout per read, a client sending a
/// byte every 1.9 s held the one metrics thread for hours.
struct Deadline<'a> {
    stream: &'a TcpStream,
    by: Instant,
}

impl<'a> Deadline<'a> {
    fn after(stream: &'a TcpStream, time: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            by: Instant::now() + time,
        }
    }

    fn left(&self) -> io::Result<Duration> {
        let left = self.by.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client's time is up",
            ));
        }
        Ok(left)
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        (&*self.stream).read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        (&*self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.stream).flush()
    }
}

pub(super) enum HeadError {
    TooLarge,
    Malformed,
    Io(io::Error),
}

/// The request line and headers, up to the blank line.
pub(super) fn read_head(stream: &mut impl Read) -> Result<String, HeadError> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Malformed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HeadError::Io(e)),
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let end = find(&buf, b"\r\n\r\n").or_else(|| find(&buf, b"\n\n"));
        if let Some(end) = end {
            if end > MAX_REQUEST {
                return Err(HeadError::TooLarge);
            }
            let head = buf.get(..end).unwrap_or_default();
            return String::from_utf8(head.to_vec()).map_err(|_| HeadError::Malformed);
        }
        if buf.len() > MAX_REQUEST {
            return Err(HeadError::TooLarge);
        }
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP answer.
pub(super) struct Reply {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
    /// `HEAD`: the headers only.
    head_only: bool,
    allow: bool,
}

impl Reply {
    fn error(status: u16, reason: &'static str) -> Reply {
        Reply {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status} {reason}: sitelink serves its metrics at GET /metrics\n"),
            head_only: false,
            allow: status == 405,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        if !self.head_only {
            out.push_str(&self.body);
        }
        out.into_bytes()
    }
}

/// `GET /metrics` (query ignored) renders; anything else is refused.
pub(super) fn route(head: &str, render: &mut impl FnMut() -> String) -> Reply {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Reply::error(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Reply::error(400, "Bad Request");
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if path != "/metrics" {
        return Reply::error(404, "Not Found");
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Reply::error(405, "Method Not Allowed"),
    };
    Reply {
        status: 200,
        reason: "OK",
        content_type: CONTENT_TYPE,
        body: render(),
        head_only,
        allow: false,
    }
}
