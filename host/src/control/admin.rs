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

use crate::config::GatewayConfig;
use crate::dataplane::fib::Fib;
use crate::dataplane::Dataplane;
use crate::policy::{PolicyEngine, Slot};
use crate::service::control_loop::{liveness_name, AdminCommand, AdminRequest, ControlEvent};

/// Longest request line a client may send.
const MAX_COMMAND: u64 = 64 * 1024;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client waits for an answer (a swap compiles the plugin).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the admin thread waits for the control loop.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

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
}

/// Serves the socket on its own thread for the life of the process.
pub fn serve(
    socket: &AdminSocket,
    cfg: Arc<GatewayConfig>,
    dataplane: Arc<Dataplane>,
    engine: PolicyEngine,
    control: SyncSender<ControlEvent>,
) -> io::Result<()> {
    let listener = socket.listener.try_clone()?;
    let ctx = Context {
        cfg,
        dataplane,
        engine,
        control,
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
    BufReader::new(io::Read::take(&stream, MAX_COMMAND)).read_line(&mut line)?;
    let reply = match serde_json::from_str::<Value>(&line) {
        Ok(request) => handle(&request, ctx),
        Err(e) => json!({ "error": format!("the request is not JSON: {e}") }),
    };
    let mut out = &stream;
    writeln!(out, "{reply}")?;
    out.flush()
}

fn handle(request: &Value, ctx: &Context) -> Value {
    let slot = || -> Result<Slot, Value> {
        let name = request["slot"].as_str().unwrap_or("");
        Slot::ALL
            .into_iter()
            .find(|s| s.world() == name)
            .ok_or_else(|| json!({ "error": format!("unknown slot {name:?}; slots: failover, route-selection, bgp-filter") }))
    };
    match request["cmd"].as_str() {
        Some("status") => status(&ctx.cfg, &ctx.dataplane),
        Some("plugin-list") => to_control(ctx, AdminCommand::PluginList),
        Some("bgp") => to_control(ctx, AdminCommand::Bgp),
        Some("routes") => to_control(ctx, AdminCommand::Routes),
        Some("bgp-refresh") => to_control(
            ctx,
            AdminCommand::BgpRefresh {
                tunnel: request["tunnel"].as_str().map(str::to_string),
            },
        ),
        Some("plugin-remove") => match slot() {
            Ok(slot) => to_control(ctx, AdminCommand::PluginRemove { slot }),
            Err(e) => e,
        },
        Some("plugin-swap") => {
            let received = Instant::now();
            let slot = match slot() {
                Ok(slot) => slot,
                Err(e) => return e,
            };
            let Some(path) = request["path"].as_str() else {
                return json!({ "error": "plugin-swap needs a path" });
            };
            let params = match request["params"].as_object() {
                Some(given) => given
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect(),
                // No parameters given: the ones the config sets for the slot.
                None => configured_params(&ctx.cfg, slot),
            };
            // Compiling takes milliseconds to seconds: here, not in the control loop.
            match ctx.engine.prepare(slot, Path::new(path), params) {
                Ok(plugin) => to_control(
                    ctx,
                    AdminCommand::PluginSwap {
                        plugin: Box::new(plugin),
                        dry_run: request["dry_run"].as_bool().unwrap_or(false),
                        received,
                    },
                ),
                Err(e) => json!({ "error": chain(&e) }),
            }
        }
        other => {
            json!({ "error": format!("unknown command {other:?}; known: status, bgp, bgp-refresh, routes, plugin-list, plugin-swap, plugin-remove") })
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
pub fn status(cfg: &GatewayConfig, dp: &Dataplane) -> Value {
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
    })
}

/// How many prefixes the FIB in force holds, per family: a pair of
/// counters, so cheap with a million routes (`sitelink routes` lists them).
pub fn fib_counts(fib: &Fib) -> Value {
    let (v4, v6) = fib.counts();
    json!({ "routes_v4": v4, "routes_v6": v6 })
}

/// Sends one request to a running gateway and returns its answer.
pub fn query(path: &Path, request: &Value) -> Result<Value, AdminError> {
    let connect_err = |source| AdminError::Connect {
        path: path.to_path_buf(),
        source,
    };
    let answer_err = |source| AdminError::Answer {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(connect_err)?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(answer_err)?;
    writeln!(stream, "{request}").map_err(answer_err)?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(answer_err)?;
    serde_json::from_str(&line)
        .map_err(|e| answer_err(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// The status document as a table for people.
pub fn render(status: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mut out = format!(
        "gateway {} ({}), TUN {}\n",
        s(&status["gateway"]),
        s(&status["role"]),
        s(&status["tun"])
    );
    for conn in status["connections"].as_array().into_iter().flatten() {
        out += &format!(
            "connection {} ({}), active tunnel {}\n",
            s(&conn["name"]),
            s(&conn["routing"]),
            s(&conn["active_tunnel"])
        );
        out += &format!(
            "  {:<18} {:<8} {:<22} {:<8} {:<6} {:>10} {:>12} {:>12} {:>8}\n",
            "TUNNEL",
            "ENDPOINT",
            "REMOTE",
            "LIVENESS",
            "ACTIVE",
            "HANDSHAKE",
            "TX PACKETS",
            "RX PACKETS",
            "DROPPED"
        );
        for t in conn["tunnels"].as_array().into_iter().flatten() {
            let age = t["handshake_age_ms"]
                .as_u64()
                .map(|ms| format!("{}s ago", ms / 1000))
                .unwrap_or_else(|| "never".into());
            out += &format!(
                "  {:<18} {:<8} {:<22} {:<8} {:<6} {:>10} {:>12} {:>12} {:>8}\n",
                s(&t["inside_cidr"]),
                s(&t["endpoint"]),
                s(&t["remote"]),
                s(&t["liveness"]),
                if t["active"].as_bool() == Some(true) {
                    "yes"
                } else {
                    ""
                },
                age,
                s(&t["tx_packets"]),
                s(&t["rx_packets"]),
                s(&t["dropped_packets"]),
            );
        }
    }
    for e in status["endpoints"].as_array().into_iter().flatten() {
        out += &format!(
            "endpoint {} {}: {} datagrams received, {} dropped\n",
            s(&e["name"]),
            s(&e["listen"]),
            s(&e["rx_datagrams"]),
            s(&e["dropped_datagrams"])
        );
    }
    if let Some(fib) = status.get("fib") {
        out += &format!(
            "fib: {} IPv4 and {} IPv6 prefixes\n",
            s(&fib["routes_v4"]),
            s(&fib["routes_v6"])
        );
    }
    out
}

/// `plugin-list` as a table for people.
pub fn render_plugins(doc: &Value) -> String {
    let mut out = format!(
        "{:<16} {:<24} {:<10} {:>8} {:>7} {:>12}  {}\n",
        "SLOT", "PLUGIN", "VERSION", "CALLS", "FAULTS", "MEAN CALL", "STATE"
    );
    for s in doc["slots"].as_array().into_iter().flatten() {
        let state = match (s["quarantined"].as_bool(), s["last_fault"].as_str()) {
            (Some(true), _) => "quarantined".to_string(),
            (_, Some(fault)) => format!("last fault: {fault}"),
            _ => "ok".to_string(),
        };
        out += &format!(
            "{:<16} {:<24} {:<10} {:>8} {:>7} {:>12}  {}\n",
            s["slot"].as_str().unwrap_or("?"),
            s["plugin"].as_str().unwrap_or("?"),
            s["version"].as_str().unwrap_or("-"),
            s["calls"].to_string(),
            s["faults"].to_string(),
            s["mean_call_us"]
                .as_f64()
                .map_or("-".to_string(), |us| format!("{us:.1} us")),
            state
        );
    }
    out
}

/// A `plugin-swap` or `plugin-remove` answer for people: what changed (or,
/// for a dry run, what would).
pub fn render_swap(doc: &Value) -> String {
    let dry = doc["dry_run"].as_bool() == Some(true);
    let mut out = match (doc["plugin"].as_str(), doc["removed"].as_str()) {
        (Some(p), _) if dry => format!(
            "dry run: {p} in slot {} would make these changes:\n",
            doc["slot"].as_str().unwrap_or("?")
        ),
        (Some(p), _) => format!(
            "{p} is now in slot {} (swap took {:.1} ms), changes:\n",
            doc["slot"].as_str().unwrap_or("?"),
            doc["swap_ms"].as_f64().unwrap_or(0.0)
        ),
        (None, Some(name)) => format!(
            "{name} removed from slot {}; the built-in default answers, changes:\n",
            doc["slot"].as_str().unwrap_or("?")
        ),
        (None, None) => format!(
            "slot {} already used the built-in default, changes:\n",
            doc["slot"].as_str().unwrap_or("?")
        ),
    };
    let changes = &doc["changes"];
    let mut any = false;
    for w in changes["weights"].as_array().into_iter().flatten() {
        any = true;
        out += &format!(
            "  connection {} tunnel {}: weight {} -> {}\n",
            w["connection"].as_str().unwrap_or("?"),
            w["tunnel"].as_str().unwrap_or("?"),
            w["from"],
            w["to"]
        );
    }
    for r in changes["routes"].as_array().into_iter().flatten() {
        any = true;
        let list = |v: &Value| {
            let names: Vec<&str> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if names.is_empty() {
                "not installed".to_string()
            } else {
                format!("via {}", names.join(", "))
            }
        };
        out += &format!(
            "  route {}: {} -> {}\n",
            r["prefix"].as_str().unwrap_or("?"),
            list(&r["from"]),
            list(&r["to"])
        );
    }
    if !any {
        out += "  (none)\n";
    }
    out
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
