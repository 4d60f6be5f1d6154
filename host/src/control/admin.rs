//! The local admin interface: a Unix socket, mode 0600 (root only), that
//! answers one command per connection with one line of JSON.
//!
//! Commands: `status` (gateway, connections, tunnels with liveness, active
//! flag and counters, endpoints with their counters). This module owns the
//! socket's lifetime and the status document's shape; it only reads the data
//! path's state and never changes it. `sitelink status` is its client.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tracing::debug;

use crate::config::GatewayConfig;
use crate::dataplane::Dataplane;
use crate::service::control_loop::liveness_name;

/// Longest command line a client may send.
const MAX_COMMAND: u64 = 256;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

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

/// Serves the socket on its own thread for the life of the process.
pub fn serve(
    socket: &AdminSocket,
    cfg: Arc<GatewayConfig>,
    dataplane: Arc<Dataplane>,
) -> io::Result<()> {
    let listener = socket.listener.try_clone()?;
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(e) = answer(stream, &cfg, &dataplane) {
                            debug!(error = %e, "admin client");
                        }
                    }
                    Err(e) => debug!(error = %e, "admin accept"),
                }
            }
        })?;
    Ok(())
}

fn answer(stream: UnixStream, cfg: &GatewayConfig, dp: &Dataplane) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(io::Read::take(&stream, MAX_COMMAND)).read_line(&mut line)?;
    let reply = match line.trim() {
        "status" => status(cfg, dp),
        other => json!({ "error": format!("unknown command {other:?}; known: status") }),
    };
    let mut out = &stream;
    writeln!(out, "{reply}")?;
    out.flush()
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
                "routing": "static",
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
    })
}

/// Asks a running gateway for its status.
pub fn query(path: &Path, command: &str) -> Result<Value, AdminError> {
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
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(answer_err)?;
    writeln!(stream, "{command}").map_err(answer_err)?;
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
    out
}
