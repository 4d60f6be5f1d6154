//! The local admin interface: a Unix socket, mode 0600 (root only), that
//! answers one JSON request line per connection with one JSON line. Who
//! may connect, how many at once and for how long is `control::client`.
//!
//! Requests (`cmd`): `status` (gateway, connections, tunnels with liveness,
//! active flag and counters, endpoints with their counters), `plugin-list`,
//! `plugin-swap` (`slot`, `path`, optional `params`, `dry_run`) and
//! `plugin-remove` (`slot`). This module owns the socket's lifetime and the
//! status document's shape. It reads the data path's state directly; plugin
//! requests are compiled and checked here, off the control loop, and then
//! handed to the control loop, which alone changes policy. `sitelink status`
//! and `sitelink plugin` are its clients.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::Sender as SyncSender;
use tracing::{debug, warn};

use super::client;
use crate::api;
use crate::config::GatewayConfig;
use crate::dataplane::Dataplane;
use crate::driver::control::{AdminRequest, ControlEvent};
use crate::driver::turns::TurnStats;
use crate::gateway::AdminCommand;
use crate::policy::{PolicyEngine, Slot};
use crate::routing::view::RoutesQuery;

/// How long a client waits for an answer: longer than the gateway's own
/// waits for the control loop ([`QUEUE_TIMEOUT`] and [`CONTROL_TIMEOUT`])
/// plus a plugin's compile, so that the gateway's answer, which says what
/// became of the request, comes first.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the admin thread waits for the control loop (a swap over a
/// full table is answered when every stored route has been through it).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(55);
/// How long a request waits for room in the control loop's queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// The refusals of a request that may go through when asked again soon
/// ([`is_busy`]).
const RELOAD_IN_PROGRESS: &str = "a reload is in progress";
const ALL_PLACES_TAKEN: &str = "admin requests already";

/// Whether `error` (an error answer's text) says the gateway was too busy
/// to take the request, which may go through when asked again soon.
pub fn is_busy(error: &str) -> bool {
    error.starts_with(RELOAD_IN_PROGRESS) || error.contains(ALL_PLACES_TAKEN)
}

/// The accept loop's pause after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How often a failing accept is logged as a warning.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin socket {path}: another sitelink is running and serving it\n  fix: stop it first, or give this gateway another admin_socket")]
    InUse { path: PathBuf },
    #[error("admin socket {path}: cannot create it")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("admin socket {path}: permission denied: only root may use it (mode 0600)\n  fix: run the command as root (sudo)")]
    Permission { path: PathBuf },
    #[error("admin socket {path}: a file that is not a socket is there; it is left alone\n  fix: give admin_socket another path, or move that file away")]
    NotSocket { path: PathBuf },
    #[error("admin socket {path}: no gateway is running there\n  fix: start it (sitelink run -c FILE, or systemctl start sitelink), or give the config or --socket of the running one")]
    NotRunning { path: PathBuf },
    #[error("admin socket {path}: cannot connect (is `sitelink run` running with this config?)")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("admin request: cannot encode it (a path that is not UTF-8?)")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
    #[error("admin socket {path}: no answer in {}s; the request may still take effect\n  fix: see what it did (`sitelink status`, `sitelink plugin list`, `sitelink bgp`) before asking again", waited.as_secs())]
    NoAnswer { path: PathBuf, waited: Duration },
    #[error("admin socket {path}: bad answer")]
    Answer {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The claimed admin socket. Dropping it removes the socket file, so a
/// gateway that fails to start, or stops, leaves nothing behind.
pub struct AdminSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Claims the admin socket: refuses if a live gateway answers on it,
/// removes a stale socket left by a crash (never another kind of file, nor
/// what a symbolic link points at), and creates it for root alone: bound
/// inside a directory of mode 0700, given mode 0600, then renamed into
/// place, so that no one else could connect to it at any moment.
pub fn bind(path: &Path) -> Result<AdminSocket, AdminError> {
    let bind_err = |source| AdminError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(meta) = fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(AdminError::NotSocket {
                path: path.to_path_buf(),
            });
        }
        if UnixStream::connect(path).is_ok() {
            return Err(AdminError::InUse {
                path: path.to_path_buf(),
            });
        }
        fs::remove_file(path).map_err(bind_err)?;
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(bind_err)?;
    let private = dir.join(format!(".sitelink-admin-{}", std::process::id()));
    let _ = fs::remove_dir_all(&private);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(bind_err)?;
    let staged = private.join("admin.sock");
    let bound = UnixListener::bind(&staged).and_then(|listener| {
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))?;
        fs::rename(&staged, path)?;
        Ok(listener)
    });
    let _ = fs::remove_dir_all(&private);
    Ok(AdminSocket {
        listener: bound.map_err(bind_err)?,
        path: path.to_path_buf(),
    })
}

/// What the admin thread works with.
struct Context {
    /// The running config: the core's, as the control loop publishes it.
    cfg: Arc<ArcSwap<GatewayConfig>>,
    dataplane: Arc<Dataplane>,
    engine: PolicyEngine,
    control: SyncSender<ControlEvent>,
    turns: Arc<TurnStats>,
    /// Held through a reload, so that two at once do not both start from
    /// the same running config.
    reloading: Mutex<()>,
    /// The requests waiting for the control loop.
    control_waits: client::ControlWaits,
}

/// Serves the socket for the life of the process: one thread accepts and
/// checks who connects ([`client::peer_uid`]), each admitted client is
/// answered on a thread of its own, at most [`client::MAX_CLIENTS`] at
/// once (one more waits up to [`client::WAIT_FOR_PLACE`] for a place), so
/// a slow client holds only its own thread: until its deadlines while it
/// sends or reads, and while its request waits for the control loop, at
/// most [`QUEUE_TIMEOUT`] for room in its queue and [`CONTROL_TIMEOUT`] for
/// its answer.
pub fn serve(
    socket: &AdminSocket,
    cfg: Arc<ArcSwap<GatewayConfig>>,
    dataplane: Arc<Dataplane>,
    engine: PolicyEngine,
    control: SyncSender<ControlEvent>,
    turns: Arc<TurnStats>,
) -> io::Result<()> {
    let listener = socket.listener.try_clone()?;
    let ctx = Arc::new(Context {
        cfg,
        dataplane,
        engine,
        control,
        turns,
        reloading: Mutex::new(()),
        control_waits: client::ControlWaits::default(),
    });
    let euid = crate::keys::euid();
    let clients = client::Clients::default();
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            let mut warned: Option<Instant> = None;
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => admit(stream, euid, &clients, &ctx),
                    Err(e) => {
                        // A lasting error (out of file descriptors) returns
                        // at once every time: pause rather than spin a
                        // core, and say so every ACCEPT_WARN_EVERY.
                        if warned.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_EVERY) {
                            warn!(error = %e, "admin socket: accept failed; pausing");
                            warned = Some(Instant::now());
                        } else {
                            debug!(error = %e, "admin accept");
                        }
                        std::thread::sleep(ACCEPT_PAUSE);
                    }
                }
            }
        })?;
    Ok(())
}

/// Checks a new client and starts answering it on a thread of its own, or
/// refuses it with one line; never waits on it (only, up to
/// [`client::WAIT_FOR_PLACE`], for a place).
fn admit(stream: UnixStream, euid: u32, clients: &client::Clients, ctx: &Arc<Context>) {
    match client::peer_uid(&stream) {
        Ok(uid) if client::client_allowed(uid, euid) => {}
        Ok(uid) => {
            warn!(
                uid,
                "admin socket: refused a client that is neither root nor the gateway's user"
            );
            let text = format!(
                "permission denied: the admin socket answers root and uid {euid} (the gateway's user), not uid {uid}\n  fix: run the command as root (sudo)"
            );
            client::refuse(stream, error(text));
            return;
        }
        Err(e) => {
            debug!(error = %e, "admin client credentials");
            return;
        }
    }
    let Some(slot) = clients.admit_within(client::WAIT_FOR_PLACE) else {
        let text = format!(
            "the gateway is answering {} {ALL_PLACES_TAKEN}\n  fix: ask again in a moment",
            client::MAX_CLIENTS
        );
        client::refuse(stream, error(text));
        return;
    };
    let ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("admin-client".into())
        .spawn(move || {
            if let Err(e) = answer(&stream, &ctx) {
                debug!(error = %e, "admin client");
            }
            // The place is free before the client sees the connection
            // close, so that its next request finds it.
            drop(slot);
            drop(stream);
        });
    if let Err(e) = spawned {
        warn!(error = %e, "admin socket: cannot start a thread for a client");
    }
}

/// Reads one request and writes its answer.
fn answer(stream: &UnixStream, ctx: &Context) -> io::Result<()> {
    let reply = match client::read_line(stream, Instant::now() + client::REQUEST_TIME) {
        Ok(line) => match api::Envelope::parse(&line) {
            Ok(envelope) => handle(envelope.request, ctx),
            Err(e) => api::Response::from(e),
        },
        Err(client::ReadError::Io(e)) => return Err(e),
        Err(e) => error(e.to_string()),
    };
    client::write_line(
        stream,
        &reply.to_line(),
        Instant::now() + client::ANSWER_TIME,
    )
}

fn error(text: String) -> api::Response {
    api::Response::error(text)
}

/// Answers `request`.
fn handle(request: api::Request, ctx: &Context) -> api::Response {
    // A request naming a slot, handed to the control thread.
    let for_slot = |name: &str, command: fn(Slot) -> AdminCommand| match slot_named(name) {
        Ok(slot) => to_control(ctx, command(slot)),
        Err(e) => error(e),
    };
    match request {
        api::Request::Status => api::Response::from(super::status::status(
            &ctx.cfg.load(),
            &ctx.dataplane,
            &ctx.turns,
        )),
        api::Request::PluginList => to_control(ctx, AdminCommand::PluginList),
        api::Request::Bgp => to_control(ctx, AdminCommand::Bgp),
        api::Request::Routes {
            prefix,
            connection,
            limit,
        } => {
            let prefix = match prefix.map(|p| p.parse::<ipnet::IpNet>()).transpose() {
                Ok(p) => p.map(|p| p.trunc()),
                Err(e) => {
                    return error(format!(
                        "routes: bad prefix: {e}\n  fix: give a CIDR such as 10.1.0.0/24"
                    ))
                }
            };
            let most = crate::routing::view::MAX_LIMIT;
            if let Some(n) = limit.filter(|n| *n > most) {
                return error(format!(
                    "routes: a limit of {n} is over the most one answer lists ({most}): the \
                     control loop builds the list between its liveness probes\n  fix: give \
                     --limit {most} or less, and narrow the list with --prefix or --connection"
                ));
            }
            // A connection a reload removed (retiring) has no routes to show.
            let cfg = ctx.cfg.load();
            if let Some(name) = connection
                .as_ref()
                .filter(|n| !cfg.live_connections().any(|(_, c)| &c.name == *n))
            {
                let known: Vec<&str> = cfg
                    .live_connections()
                    .map(|(_, c)| c.name.as_str())
                    .collect();
                return error(format!(
                    "routes: no connection {name:?}; connections: {}",
                    known.join(", ")
                ));
            }
            to_control(
                ctx,
                AdminCommand::Routes(RoutesQuery {
                    prefix,
                    connection,
                    limit,
                }),
            )
        }
        api::Request::BgpRefresh { tunnel } => to_control(ctx, AdminCommand::BgpRefresh { tunnel }),
        api::Request::Reload { dry_run } => reload(ctx, dry_run),
        api::Request::TunnelDrain { tunnel, drain } => {
            to_control(ctx, AdminCommand::Drain { tunnel, drain })
        }
        api::Request::PluginRemove { slot: name } => {
            for_slot(&name, |slot| AdminCommand::PluginRemove { slot })
        }
        api::Request::PluginDiff { slot: name } => {
            for_slot(&name, |slot| AdminCommand::PluginDiff { slot })
        }
        api::Request::PluginPromote { slot: name } => {
            for_slot(&name, |slot| AdminCommand::PluginPromote { slot })
        }
        api::Request::PluginUnshadow { slot: name } => {
            for_slot(&name, |slot| AdminCommand::PluginUnshadow { slot })
        }
        api::Request::PluginShadow {
            slot: name,
            path,
            params,
        } => with_plugin(ctx, &name, &path, params, |plugin| {
            AdminCommand::PluginShadow { plugin }
        }),
        api::Request::PluginSwap {
            slot: name,
            path,
            params,
            dry_run,
            force,
        } => {
            let received = Instant::now();
            with_plugin(ctx, &name, &path, params, |plugin| {
                AdminCommand::PluginSwap {
                    plugin,
                    dry_run,
                    force,
                    received,
                }
            })
        }
    }
}

/// Compiles the plugin at `path` for slot `name` (here, not in the control
/// loop: it takes milliseconds to seconds) and hands `command` with it to
/// the control thread. No parameters given: the ones the config sets.
fn with_plugin(
    ctx: &Context,
    name: &str,
    path: &Path,
    params: Option<BTreeMap<String, String>>,
    command: impl FnOnce(Box<crate::policy::Plugin>) -> AdminCommand,
) -> api::Response {
    let slot = match slot_named(name) {
        Ok(slot) => slot,
        Err(e) => return error(e),
    };
    let params = params.unwrap_or_else(|| configured_params(&ctx.cfg.load(), slot));
    match ctx.engine.prepare(slot, path, params) {
        Ok(plugin) => to_control(ctx, command(Box::new(plugin))),
        // The gateway, not the client, opens the file: where the client
        // sees it and the gateway does not, say why that may be.
        Err(crate::policy::PluginError::Unreadable { path, source })
            if matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            error(format!(
                "the gateway cannot read plugin {}: {source}\n  fix: the gateway opens the file \
                 itself, so give a path it can read; under the shipped systemd unit \
                 (PrivateTmp, ProtectHome) it sees neither /tmp nor /home: put plugins under \
                 /etc/sitelink/plugins",
                path.display()
            ))
        }
        Err(crate::policy::PluginError::Unreadable { path, source }) => error(format!(
            "the gateway cannot read plugin {}: {source}\n  fix: give the path of a .wasm \
             component file",
            path.display()
        )),
        Err(e) => error(chain(&e)),
    }
}

/// A slot by its world's name, or the error that lists the slots.
fn slot_named(name: &str) -> Result<Slot, String> {
    Slot::ALL
        .into_iter()
        .find(|s| s.world() == name)
        .ok_or_else(|| {
            format!("unknown slot {name:?}; slots: failover, route-selection, bgp-filter")
        })
}

/// Reads the config file again, checks it whole and compiles the plugins it
/// changes (here, off the control thread), then has the core apply it; on
/// any error nothing changes.
fn reload(ctx: &Context, dry_run: bool) -> api::Response {
    let _one_at_a_time = match ctx.reloading.try_lock() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            return error(format!(
                "{RELOAD_IN_PROGRESS}; nothing changed\n  fix: ask again when it is done"
            ))
        }
    };
    let running = ctx.cfg.load_full();
    let new = match crate::config::load(&running.source) {
        Ok(cfg) => Arc::new(crate::gateway::reload::align(&running, cfg)),
        Err(e) => {
            return error(format!(
                "reload refused, nothing changed: the config has an error\n{e}"
            ))
        }
    };
    let mut plugins = Vec::new();
    for (slot, plugin) in crate::gateway::reload::plugin_changes(&running, &new) {
        match plugin {
            None => plugins.push((slot, None)),
            // Bad parameters show now, as at start and on a swap, not on
            // the first live event after "applied".
            Some(p) => match ctx.engine.load_configured(slot, &p) {
                Ok(plugin) => plugins.push((slot, Some(plugin))),
                Err(e) => return error(format!("reload refused, nothing changed: {e}")),
            },
        }
    }
    // Applied, the control loop makes `new` the running config before it
    // answers (also when this request gave up waiting).
    to_control(
        ctx,
        AdminCommand::Reload {
            base: running,
            cfg: new,
            plugins,
            dry_run,
        },
    )
}

fn configured_params(cfg: &GatewayConfig, slot: Slot) -> BTreeMap<String, String> {
    let p = &cfg.plugins;
    match slot {
        Slot::Failover => p.failover.as_ref(),
        Slot::RouteSelection => p.route_selection.as_ref(),
        Slot::BgpFilter => p.bgp_filter.as_ref(),
    }
    .map(|c| c.params.clone())
    .unwrap_or_default()
}

/// An error with its causes, one per line (for answers and the CLI).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text += &format!("\n  caused by: {cause}");
        source = cause.source();
    }
    text
}

/// Hands a command to the control loop and waits for its answer.
fn to_control(ctx: &Context, command: AdminCommand) -> api::Response {
    // Places stay for `status` however many requests the loop keeps.
    let Some(_waiting) = ctx.control_waits.take() else {
        return error(format!(
            "the gateway is answering {} {ALL_PLACES_TAKEN} that wait for its control loop\n  \
             fix: ask again in a moment (`sitelink status` answers meanwhile)",
            client::MAX_CONTROL_WAITS
        ));
    };
    let (reply, answer) = mpsc::channel();
    match ctx.control.send_timeout(
        ControlEvent::Admin(AdminRequest { command, reply }),
        QUEUE_TIMEOUT,
    ) {
        Ok(()) => {}
        Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => {
            return api::Response::error(
                "the control loop's queue stayed full; nothing was asked of it\n  fix: ask again in a moment",
            )
        }
        Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => {
            return api::Response::error("the gateway is stopping")
        }
    }
    answer.recv_timeout(CONTROL_TIMEOUT).unwrap_or_else(|_| {
        api::Response::error(format!(
            "the control loop did not answer in {}s; the request may still take effect (its \
             work continues)\n  fix: see what it did (`sitelink status`, `sitelink plugin \
             list`, `sitelink bgp`) before asking again",
            CONTROL_TIMEOUT.as_secs()
        ))
    })
}

/// Sends one request to a running gateway and returns its answer, which
/// may be an error the gateway reports (`Response::Error`).
pub fn query(path: &Path, request: &api::Request) -> Result<api::Response, AdminError> {
    query_within(path, request, ANSWER_TIMEOUT)
}

/// [`query`], waiting `waited` for the answer.
fn query_within(
    path: &Path,
    request: &api::Request,
    waited: Duration,
) -> Result<api::Response, AdminError> {
    let connect_err = |source| AdminError::Connect {
        path: path.to_path_buf(),
        source,
    };
    let answer_err = |source| AdminError::Answer {
        path: path.to_path_buf(),
        source,
    };
    let line = api::Envelope::new(request.clone())
        .to_line()
        .map_err(|source| AdminError::Encode { source })?;
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => AdminError::Permission {
            path: path.to_path_buf(),
        },
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => AdminError::NotRunning {
            path: path.to_path_buf(),
        },
        _ => connect_err(e),
    })?;
    stream.set_read_timeout(Some(waited)).map_err(answer_err)?;
    // The gateway may answer without reading (a refusal) and close: its
    // line is read even when the write fails.
    let sent = writeln!(stream, "{line}");
    let mut line = String::new();
    let read = BufReader::new(&stream).read_line(&mut line);
    match (sent, read) {
        (_, Ok(n)) if n > 0 => {}
        (_, Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            return Err(AdminError::NoAnswer {
                path: path.to_path_buf(),
                waited,
            })
        }
        (Err(e), _) | (Ok(()), Err(e)) => return Err(answer_err(e)),
        (Ok(()), Ok(_)) => return Err(answer_err(io::ErrorKind::UnexpectedEof.into())),
    }
    api::Response::parse(request, &line)
        .map_err(|e| answer_err(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sitelink-admin-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn a_gateway_that_does_not_answer_in_time_may_still_act() {
        let dir = scratch("silent");
        let path = dir.join("admin.sock");
        // Takes the request and never answers.
        let listener = UnixListener::bind(&path).expect("a socket");
        let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
        let e = query_within(&path, &api::Request::Status, Duration::from_millis(200))
            .expect_err("no answer");
        assert!(matches!(e, AdminError::NoAnswer { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("no answer in 0s; the request may still take effect")
                && text.contains("before asking again"),
            "{text}"
        );
        drop(held.join());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stale_socket_is_replaced_by_one_for_root_alone() {
        let dir = scratch("stale");
        let path = dir.join("admin.sock");
        drop(UnixListener::bind(&path).expect("a socket"));
        assert!(path.exists(), "a stale socket file remains");
        let socket = bind(&path).expect("the stale socket is replaced");
        let mode = fs::metadata(&path).expect("socket").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            matches!(bind(&path), Err(AdminError::InUse { .. })),
            "served now"
        );
        drop(socket);
        assert!(!path.exists(), "removed when the gateway stops");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_or_a_link_where_the_socket_goes_is_refused_and_left_alone() {
        let dir = scratch("file");
        let path = dir.join("admin.sock");
        fs::write(&path, "keep me").expect("a file");
        let err = bind(&path).err().expect("refused");
        assert!(matches!(err, AdminError::NotSocket { .. }), "{err}");
        assert!(err.to_string().contains("fix: "), "{err}");
        assert_eq!(fs::read_to_string(&path).ok().as_deref(), Some("keep me"));

        let target = dir.join("precious");
        fs::write(&target, "keep me too").expect("a file");
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&target, &link).expect("a link");
        assert!(matches!(bind(&link), Err(AdminError::NotSocket { .. })));
        assert_eq!(
            fs::read_to_string(&target).ok().as_deref(),
            Some("keep me too")
        );
        assert!(
            fs::symlink_metadata(&link).is_ok(),
            "the link itself is kept"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
