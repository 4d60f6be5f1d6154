//! The local admin interface: a Unix socket, mode 0600 (root only), that
//! answers one JSON request line per connection with one JSON line.
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
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender as SyncSender;
use serde_json::{json, Value};
use tracing::debug;

use crate::api;
use crate::config::GatewayConfig;
use crate::dataplane::fib::Fib;
use crate::dataplane::Dataplane;
use crate::driver::control::{liveness_name, AdminRequest, ControlEvent};
use crate::driver::turns::TurnStats;
use crate::gateway::AdminCommand;
use crate::policy::{PolicyEngine, Slot};
use crate::routing::view::RoutesQuery;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client waits for an answer (a swap compiles the plugin).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the admin thread waits for the control loop (a swap over a
/// full table is answered when every stored route has been through it).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(55);

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

/// Claims the admin socket: refuses if a live gateway answers on it, removes
/// a stale one left by a crash, and restricts it to root.
pub fn bind(path: &Path) -> Result<AdminSocket, AdminError> {
    let bind_err = |source| AdminError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(AdminError::InUse {
                path: path.to_path_buf(),
            });
        }
        fs::remove_file(path).map_err(bind_err)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(bind_err)?;
    }
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    let socket = AdminSocket {
        listener,
        path: path.to_path_buf(),
    };
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(socket)
}

/// What the admin thread works with.
struct Context {
    cfg: Arc<GatewayConfig>,
    dataplane: Arc<Dataplane>,
    engine: PolicyEngine,
    control: SyncSender<ControlEvent>,
    turns: Arc<TurnStats>,
}

/// Serves the socket on its own thread for the life of the process.
pub fn serve(
    socket: &AdminSocket,
    cfg: Arc<GatewayConfig>,
    dataplane: Arc<Dataplane>,
    engine: PolicyEngine,
    control: SyncSender<ControlEvent>,
    turns: Arc<TurnStats>,
) -> io::Result<()> {
    let listener = socket.listener.try_clone()?;
    let ctx = Context {
        cfg,
        dataplane,
        engine,
        control,
        turns,
    };
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(e) = answer(stream, &ctx) {
                            debug!(error = %e, "admin client");
                        }
                    }
                    Err(e) => debug!(error = %e, "admin accept"),
                }
            }
        })?;
    Ok(())
}

fn answer(stream: UnixStream, ctx: &Context) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(io::Read::take(&stream, api::MAX_REQUEST)).read_line(&mut line)?;
    let mut reply = match api::Envelope::parse(&line) {
        Ok(envelope) => handle(envelope.request, ctx),
        Err(e) => api::Response::from(e).to_value(),
    };
    if let Some(map) = reply.as_object_mut() {
        map.entry("version").or_insert(json!(api::API_VERSION));
    }
    let mut out = &stream;
    writeln!(out, "{reply}")?;
    out.flush()
}

fn error(text: String) -> Value {
    api::Response::error(text).to_value()
}

fn handle(request: api::Request, ctx: &Context) -> Value {
    let slot = |name: &str| -> Result<Slot, Value> {
        Slot::ALL
            .into_iter()
            .find(|s| s.world() == name)
            .ok_or_else(|| {
                error(format!(
                    "unknown slot {name:?}; slots: failover, route-selection, bgp-filter"
                ))
            })
    };
    match request {
        api::Request::Status => status(&ctx.cfg, &ctx.dataplane, &ctx.turns),
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
            if let Some(name) = connection
                .as_ref()
                .filter(|n| !ctx.cfg.connections.iter().any(|c| &c.name == *n))
            {
                let known: Vec<&str> = ctx
                    .cfg
                    .connections
                    .iter()
                    .map(|c| c.name.as_str())
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
        api::Request::PluginRemove { slot: name } => match slot(&name) {
            Ok(slot) => to_control(ctx, AdminCommand::PluginRemove { slot }),
            Err(e) => e,
        },
        api::Request::PluginSwap {
            slot: name,
            path,
            params,
            dry_run,
        } => {
            let received = Instant::now();
            let slot = match slot(&name) {
                Ok(slot) => slot,
                Err(e) => return e,
            };
            // No parameters given: the ones the config sets for the slot.
            let params = params.unwrap_or_else(|| configured_params(&ctx.cfg, slot));
            // Compiling takes milliseconds to seconds: here, not in the control loop.
            match ctx.engine.prepare(slot, &path, params) {
                Ok(plugin) => to_control(
                    ctx,
                    AdminCommand::PluginSwap {
                        plugin: Box::new(plugin),
                        dry_run,
                        received,
                    },
                ),
                Err(e) => error(chain(&e)),
            }
        }
    }
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
fn to_control(ctx: &Context, command: AdminCommand) -> Value {
    let (reply, answer) = mpsc::channel();
    if ctx
        .control
        .send(ControlEvent::Admin(AdminRequest { command, reply }))
        .is_err()
    {
        return json!({ "error": "the gateway is stopping" });
    }
    answer
        .recv_timeout(CONTROL_TIMEOUT)
        .unwrap_or_else(|_| json!({ "error": "the control loop did not answer in time" }))
}

/// The status document (see `sitelink status --json`).
pub fn status(cfg: &GatewayConfig, dp: &Dataplane, turns: &TurnStats) -> Value {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let connections: Vec<Value> = cfg
        .connections
        .iter()
        .enumerate()
        .map(|(index, conn)| {
            let tunnels: Vec<&crate::dataplane::tunnel::Tunnel> = dp
                .tunnels
                .iter()
                .filter(|t| t.connection == index)
                .collect();
            let active = tunnels
                .iter()
                .find(|t| t.is_active())
                .map(|t| t.inside_cidr.to_string());
            json!({
                "name": conn.name,
                "routing": match conn.routing { crate::config::Routing::Static => "static", crate::config::Routing::Dynamic => "dynamic" },
                "active_tunnel": active,
                "static_routes": conn.static_routes.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "tunnels": tunnels.iter().map(|t| {
                    let c = &t.counters;
                    json!({
                        "inside_cidr": t.inside_cidr.to_string(),
                        "inside_local": t.inside_local.to_string(),
                        "endpoint": dp.endpoints.get(t.endpoint).map(|e| e.name.as_str()),
                        "remote": t.remote().to_string(),
                        "liveness": liveness_name(t.liveness()),
                        "active": t.is_active(),
                        "handshake_age_ms": t.handshake_age().map(|d| d.as_millis() as u64),
                        "handshakes": get(&c.handshakes),
                        "tx_packets": get(&c.tx_packets),
                        "tx_bytes": get(&c.tx_bytes),
                        "rx_packets": get(&c.rx_packets),
                        "rx_bytes": get(&c.rx_bytes),
                        "dropped_packets": get(&c.rx_invalid) + get(&c.rx_source_refused) + get(&c.tx_failed),
                        "rx_invalid": get(&c.rx_invalid),
                        "rx_source_refused": get(&c.rx_source_refused),
                        "tx_failed": get(&c.tx_failed),
                    })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let endpoints: Vec<Value> = dp
        .endpoints
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "listen": e.listen.to_string(),
                "rx_datagrams": get(&e.counters.rx_datagrams),
                "dropped_datagrams": get(&e.counters.dropped_datagrams),
                "tx_failed": get(&e.counters.tx_failed),
            })
        })
        .collect();
    json!({
        "gateway": cfg.name,
        "role": format!("{:?}", cfg.role).to_lowercase(),
        "tun": cfg.tun.name,
        "connections": connections,
        "endpoints": endpoints,
        "tun_no_route": get(&dp.counters.tun_no_route),
        "tun_malformed": get(&dp.counters.tun_malformed),
        "tun_write_failed": get(&dp.counters.tun_write_failed),
        "fib": fib_counts(&dp.fib.load()),
        "control_loop": turns.summary(),
    })
}

/// How many prefixes the FIB in force holds, per family: a pair of
/// counters, so cheap with a million routes (`sitelink routes` lists them).
pub fn fib_counts(fib: &Fib) -> Value {
    let (v4, v6) = fib.counts();
    json!({ "routes_v4": v4, "routes_v6": v6 })
}

/// Sends one request to a running gateway and returns its answer, which
/// may be an error the gateway reports (`Response::Error`).
pub fn query(path: &Path, request: &api::Request) -> Result<api::Response, AdminError> {
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
    let mut stream = UnixStream::connect(path).map_err(connect_err)?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(answer_err)?;
    writeln!(stream, "{line}").map_err(answer_err)?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(answer_err)?;
    api::Response::parse(request, &line)
        .map_err(|e| answer_err(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::fib::NextHop;

    #[test]
    fn status_counts_fib_routes_per_family() {
        let mut fib = Fib::default();
        assert_eq!(fib_counts(&fib), json!({ "routes_v4": 0, "routes_v6": 0 }));
        for p in ["10.1.0.0/24", "10.2.0.0/24", "fd00:1::/64"] {
            fib.insert(p.parse().unwrap(), NextHop::over(0, &[0]));
        }
        assert_eq!(fib_counts(&fib), json!({ "routes_v4": 2, "routes_v6": 1 }));
    }
}
