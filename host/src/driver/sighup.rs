//! SIGHUP: a reload, through the admin socket as `sitelink reload` does.
//! One worker thread takes the signals in turn, so the signal loop never
//! waits. A SIGHUP that comes while a reload runs is kept: one more reload
//! follows (however many came meanwhile), so the file as it was last
//! written is the one applied, as config management expects when it writes
//! twice and signals twice. A reload the gateway is too busy to start
//! (another one in progress, every admin place taken) is asked again a
//! second later, for a minute at most.
//!
//! Owns: the worker thread and its one pending SIGHUP. Must not: reload
//! anything itself (the admin socket's reload does), or block the signal
//! loop.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::api::{Request, Response};
use crate::control::admin::{self, AdminError};

/// The pause before asking again when the gateway was too busy.
const BUSY_PAUSE: Duration = Duration::from_secs(1);
/// How many times a busy gateway is asked before the SIGHUP is given up.
const BUSY_TRIES: u32 = 60;

/// The SIGHUP worker.
pub struct Reloader {
    pending: SyncSender<()>,
}

impl Reloader {
    /// Starts the worker, which reloads through the admin socket at
    /// `socket`.
    pub fn start(socket: std::path::PathBuf) -> std::io::Result<Reloader> {
        let request = Request::Reload { dry_run: false };
        Reloader::start_with(move || admin::query(&socket, &request), BUSY_PAUSE)
    }

    /// [`Reloader::start`] with the request and the pause given (tests).
    fn start_with(
        mut ask: impl FnMut() -> Result<Response, AdminError> + Send + 'static,
        pause: Duration,
    ) -> std::io::Result<Reloader> {
        // One place: a SIGHUP while a reload runs waits there; more of
        // them find it taken and are the same one.
        let (pending, signals) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sighup-reload".into())
            .spawn(move || {
                for () in signals {
                    reload(&mut ask, pause);
                }
            })?;
        Ok(Reloader { pending })
    }

    /// A SIGHUP arrived: a reload starts, or follows the one running.
    pub fn signal(&self) {
        match self.pending.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                warn!("SIGHUP: the reload thread is gone; not reloaded (run `sitelink reload`)")
            }
        }
    }
}

/// One reload, asked again while the gateway is busy; logged.
fn reload(ask: &mut impl FnMut() -> Result<Response, AdminError>, pause: Duration) {
    for _ in 0..BUSY_TRIES {
        match ask() {
            Ok(Response::Reload(r)) => {
                info!(changes = ?r.changes, "SIGHUP: config reloaded");
                return;
            }
            Ok(Response::Error(e)) if admin::is_busy(&e.error) => {
                debug!(answer = %e.error, "SIGHUP: the gateway is busy; asking again");
                std::thread::sleep(pause);
            }
            Ok(Response::Error(e)) => {
                warn!("SIGHUP: {}", e.error);
                return;
            }
            Ok(_) => {
                warn!("SIGHUP: the reload got an unexpected answer");
                return;
            }
            Err(e) => {
                warn!(error = %admin::chain(&e), "SIGHUP: cannot ask for the reload");
                return;
            }
        }
    }
    warn!(
        "SIGHUP: the gateway stayed busy for {} tries; not reloaded (send SIGHUP again, or run \
         `sitelink reload`)",
        BUSY_TRIES
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ReloadResult;
    use std::sync::mpsc::{Receiver, Sender};

    /// A test's view of the worker: `entered` hears of each request
    /// asked, which then waits for `go`; `done` hears of each applied.
    struct Scene {
        reloader: Reloader,
        entered: Receiver<()>,
        go: Sender<()>,
        done: Receiver<()>,
    }

    const LONG: Duration = Duration::from_secs(10);
    /// Long enough for a request that would follow at once to be asked.
    const QUIET: Duration = Duration::from_millis(200);

    fn scene(answers: Vec<Response>) -> Scene {
        let (entered_tx, entered) = mpsc::channel::<()>();
        let (go, go_rx) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel::<()>();
        let mut answers = answers.into_iter();
        let reloader = Reloader::start_with(
            move || {
                let _ = entered_tx.send(());
                let _ = go_rx.recv();
                let answer = answers.next().unwrap_or_else(applied);
                if matches!(answer, Response::Reload(_)) {
                    let _ = done_tx.send(());
                }
                Ok(answer)
            },
            Duration::from_millis(1),
        )
        .expect("worker");
        Scene {
            reloader,
            entered,
            go,
            done,
        }
    }

    fn applied() -> Response {
        Response::Reload(ReloadResult {
            dry_run: false,
            applied: true,
            changes: Vec::new(),
        })
    }

    impl Scene {
        /// The next request is asked; it is answered.
        fn answer_next(&self) {
            self.entered.recv_timeout(LONG).expect("a request asked");
            self.go.send(()).expect("go");
        }
    }

    #[test]
    fn signals_during_a_reload_make_one_more_reload() {
        let s = scene(Vec::new());
        s.reloader.signal();
        s.entered
            .recv_timeout(LONG)
            .expect("the first reload asked");
        // While it waits for its answer, three more SIGHUPs.
        for _ in 0..3 {
            s.reloader.signal();
        }
        s.go.send(()).expect("go");
        s.done.recv_timeout(LONG).expect("the first reload applied");
        s.answer_next();
        s.done.recv_timeout(LONG).expect("one more reload applied");
        assert!(s.entered.recv_timeout(QUIET).is_err(), "no third reload");
    }

    #[test]
    fn a_busy_gateway_is_asked_again() {
        let busy = |text: &str| Response::error(text.to_string());
        let s = scene(vec![
            busy("a reload is in progress; nothing changed\n  fix: ask again when it is done"),
            busy("the gateway is answering 8 admin requests already\n  fix: ask again"),
        ]);
        s.reloader.signal();
        for _ in 0..3 {
            s.answer_next();
        }
        s.done.recv_timeout(LONG).expect("applied at the third try");
        assert!(s.entered.recv_timeout(QUIET).is_err(), "no fourth try");
    }

    #[test]
    fn a_refused_reload_is_not_asked_again() {
        let refused = Response::error("reload refused, nothing changed: bad".to_string());
        let s = scene(vec![refused]);
        s.reloader.signal();
        s.answer_next();
        assert!(s.entered.recv_timeout(QUIET).is_err(), "not asked again");
        assert!(s.done.try_recv().is_err(), "nothing applied");
    }
}
