//! Requests: what a client may ask, and the line that carries it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::API_VERSION;

/// One request to the gateway, named by its `cmd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Gateway, connections, tunnels, endpoints, FIB size: [`super::Status`].
    Status,
    /// The BGP sessions: [`super::BgpStatus`].
    Bgp,
    /// Ask peers to send their routes again (ROUTE-REFRESH): every
    /// established session, or the one over `tunnel` (inside CIDR):
    /// [`super::Refreshed`].
    BgpRefresh {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tunnel: Option<String>,
    },
    /// The route table's candidates: [`super::RoutesDoc`].
    Routes {
        /// Only the routes of this CIDR and of the prefixes that hold it
        /// (which routes would carry it): one lookup per prefix length.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        /// Only routes of this VPN connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection: Option<String>,
        /// At most this many routes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// Each policy slot with its plugin and counters: [`super::PluginList`].
    PluginList,
    /// Load the component at `path` (on the gateway's machine) into `slot`;
    /// with `dry_run`, only report what would change: [`super::SwapResult`].
    PluginSwap {
        slot: String,
        path: PathBuf,
        /// The plugin's parameters; absent: those the config sets for the
        /// slot. Numbers and booleans are taken as their JSON text.
        #[serde(
            default,
            deserialize_with = "lenient_params",
            skip_serializing_if = "Option::is_none"
        )]
        params: Option<BTreeMap<String, String>>,
        #[serde(default)]
        dry_run: bool,
        /// Install even if the plugin faults on the stored routes or the
        /// current tunnel health (a swap is refused then, by default).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Put `slot` back to the built-in default: [`super::RemoveResult`].
    PluginRemove { slot: String },
    /// Run the plugin at `path` in shadow mode in `slot`, beside the one in
    /// force: [`super::ShadowReport`].
    PluginShadow {
        slot: String,
        path: PathBuf,
        #[serde(
            default,
            deserialize_with = "lenient_params",
            skip_serializing_if = "Option::is_none"
        )]
        params: Option<BTreeMap<String, String>>,
    },
    /// Where the shadow of `slot` differed so far: [`super::ShadowReport`].
    PluginDiff { slot: String },
    /// Install the shadow of `slot` as its plugin: [`super::SwapResult`].
    PluginPromote { slot: String },
    /// End shadow mode in `slot`: [`super::ShadowReport`], the last one.
    PluginUnshadow { slot: String },
    /// Move traffic off a tunnel before maintenance (`drain: true`), or
    /// back (`false`): [`super::DrainResult`].
    TunnelDrain { tunnel: String, drain: bool },
    /// Read the config file again and apply what changed (or, with
    /// `dry_run`, only say what would change): [`super::ReloadResult`].
    Reload {
        #[serde(default)]
        dry_run: bool,
    },
}

impl Request {
    /// Every `cmd`, for error messages.
    pub const COMMANDS: [&'static str; 13] = [
        "status",
        "bgp",
        "bgp-refresh",
        "routes",
        "plugin-list",
        "plugin-swap",
        "plugin-remove",
        "plugin-shadow",
        "plugin-diff",
        "plugin-promote",
        "plugin-unshadow",
        "tunnel-drain",
        "reload",
    ];
}

/// A request line: the client's API version and the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The API version the client speaks; absent (0): a client older than
    /// versioning, which speaks version 1.
    #[serde(default)]
    pub version: u32,
    #[serde(flatten)]
    pub request: Request,
}

/// Why a request line was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the request is not a JSON object")]
    NotObject,
    #[error("the request has no \"cmd\"; known: {}", Request::COMMANDS.join(", "))]
    NoCommand,
    #[error("unknown command {0}; known: {known}", known = Request::COMMANDS.join(", "))]
    UnknownCommand(String),
    #[error("request version {0} is newer than this gateway's admin API (version {API_VERSION})\n  fix: use the sitelink command of the gateway's release")]
    TooNew(u64),
    #[error("bad {cmd} request: {source}")]
    Invalid {
        cmd: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Envelope {
    /// A request in this build's API version.
    pub fn new(request: Request) -> Envelope {
        Envelope {
            version: API_VERSION,
            request,
        }
    }

    /// The request line, without its newline. Fails only on a path that is
    /// not UTF-8.
    pub fn to_line(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Reads a request line. The version is checked before the command, so
    /// that a newer client's new command is refused for its version.
    pub fn parse(line: &str) -> Result<Envelope, RequestError> {
        let value: Value = serde_json::from_str(line).map_err(RequestError::NotJson)?;
        let fields = value.as_object().ok_or(RequestError::NotObject)?;
        match fields.get("version").and_then(Value::as_u64) {
            Some(v) if v > u64::from(API_VERSION) => return Err(RequestError::TooNew(v)),
            _ => {}
        }
        let cmd = match fields.get("cmd") {
            None | Some(Value::Null) => return Err(RequestError::NoCommand),
            Some(Value::String(c)) if Request::COMMANDS.contains(&c.as_str()) => c.clone(),
            Some(other) => return Err(RequestError::UnknownCommand(other.to_string())),
        };
        serde_json::from_value(value).map_err(|source| RequestError::Invalid { cmd, source })
    }
}

/// `params` as today's clients send them: string values, or numbers and
/// booleans taken as their JSON text.
fn lenient_params<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let given = Option::<BTreeMap<String, Value>>::deserialize(d)?;
    Ok(given.map(|map| {
        map.into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn every_request() -> Vec<Request> {
        vec![
            Request::Status,
            Request::Bgp,
            Request::BgpRefresh { tunnel: None },
            Request::BgpRefresh {
                tunnel: Some("169.254.10.0/30".into()),
            },
            Request::Routes {
                prefix: None,
                connection: None,
                limit: None,
            },
            Request::Routes {
                prefix: Some("10.0.0.0/8".into()),
                connection: Some("office".into()),
                limit: Some(50),
            },
            Request::PluginList,
            Request::PluginSwap {
                slot: "failover".into(),
                path: "/etc/sitelink/prefer-zone.wasm".into(),
                params: None,
                dry_run: false,
                force: false,
            },
            Request::PluginSwap {
                slot: "route-selection".into(),
                path: "/tmp/p.wasm".into(),
                params: Some([("prefer".to_string(), "169.254.11.0/30".to_string())].into()),
                dry_run: true,
                force: false,
            },
            Request::PluginRemove {
                slot: "bgp-filter".into(),
            },
            Request::PluginShadow {
                slot: "bgp-filter".into(),
                path: "/tmp/f.wasm".into(),
                params: Some([("allow_private".to_string(), "true".to_string())].into()),
            },
            Request::PluginDiff {
                slot: "bgp-filter".into(),
            },
            Request::PluginPromote {
                slot: "bgp-filter".into(),
            },
            Request::PluginUnshadow {
                slot: "bgp-filter".into(),
            },
            Request::TunnelDrain {
                tunnel: "169.254.10.0/30".into(),
                drain: true,
            },
            Request::Reload { dry_run: true },
        ]
    }

    #[test]
    fn every_request_round_trips() {
        for request in every_request() {
            let line = Envelope::new(request.clone()).to_line().unwrap();
            assert!(!line.contains('\n'), "{line}");
            let back = Envelope::parse(&line).unwrap();
            assert_eq!(back, Envelope::new(request), "{line}");
        }
    }

    #[test]
    fn lines_look_like_the_protocol_doc() {
        let line = |r| serde_json::from_str::<Value>(&Envelope::new(r).to_line().unwrap()).unwrap();
        assert_eq!(
            line(Request::Status),
            json!({"version": 1, "cmd": "status"})
        );
        assert_eq!(
            line(Request::Routes {
                prefix: Some("10.0.0.0/8".into()),
                connection: None,
                limit: Some(20)
            }),
            json!({"version": 1, "cmd": "routes", "prefix": "10.0.0.0/8", "limit": 20})
        );
        assert_eq!(
            line(Request::PluginSwap {
                slot: "failover".into(),
                path: "/p.wasm".into(),
                params: None,
                dry_run: true,
                force: false,
            }),
            json!({"version": 1, "cmd": "plugin-swap", "slot": "failover", "path": "/p.wasm", "dry_run": true})
        );
    }

    #[test]
    fn todays_unversioned_lines_are_read() {
        let parse = |v: Value| Envelope::parse(&v.to_string()).unwrap();
        assert_eq!(
            parse(json!({"cmd": "status"})),
            Envelope {
                version: 0,
                request: Request::Status
            }
        );
        assert_eq!(
            parse(json!({"cmd": "bgp-refresh", "tunnel": null})).request,
            Request::BgpRefresh { tunnel: None }
        );
        assert_eq!(
            parse(json!({"cmd": "routes"})).request,
            Request::Routes {
                prefix: None,
                connection: None,
                limit: None
            }
        );
        // As the CLI sent them: dry_run always, params only when given.
        assert_eq!(
            parse(json!({"cmd": "plugin-swap", "slot": "failover", "path": "/p.wasm", "dry_run": false,
                "params": {"prefer": "a", "hold_ms": 300, "strict": true}}))
            .request,
            Request::PluginSwap {
                slot: "failover".into(),
                path: "/p.wasm".into(),
                params: Some(
                    [("prefer", "a"), ("hold_ms", "300"), ("strict", "true")]
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .into()
                ),
                dry_run: false,
                force: false,
            }
        );
        assert_eq!(
            parse(json!({"cmd": "plugin-swap", "slot": "failover", "path": "/p.wasm"})).request,
            Request::PluginSwap {
                slot: "failover".into(),
                path: "/p.wasm".into(),
                params: None,
                dry_run: false,
                force: false,
            }
        );
        assert_eq!(
            parse(
                json!({"cmd": "plugin-swap", "slot": "failover", "path": "/p.wasm", "force": true})
            )
            .request,
            Request::PluginSwap {
                slot: "failover".into(),
                path: "/p.wasm".into(),
                params: None,
                dry_run: false,
                force: true,
            }
        );
        // Fields this version does not know are ignored.
        assert_eq!(
            parse(json!({"cmd": "status", "verbose": true})).request,
            Request::Status
        );
    }

    #[test]
    fn bad_lines_get_clear_errors() {
        let err = |line: &str| Envelope::parse(line).unwrap_err().to_string();
        assert!(
            err("status").starts_with("the request is not JSON: "),
            "{}",
            err("status")
        );
        assert_eq!(err("[1]"), "the request is not a JSON object");
        assert_eq!(
            err(r#"{"cmd":"reboot"}"#),
            "unknown command \"reboot\"; known: status, bgp, bgp-refresh, routes, plugin-list, plugin-swap, plugin-remove, plugin-shadow, plugin-diff, plugin-promote, plugin-unshadow, tunnel-drain, reload"
        );
        assert!(err(r#"{"version":1}"#).starts_with("the request has no \"cmd\"; known: status,"));
        let e = err(r#"{"cmd":"plugin-remove"}"#);
        assert!(
            e.starts_with("bad plugin-remove request: missing field `slot`"),
            "{e}"
        );
        let e = err(r#"{"cmd":"plugin-swap","slot":"failover"}"#);
        assert!(
            e.starts_with("bad plugin-swap request: missing field `path`"),
            "{e}"
        );
        let e = err(r#"{"cmd":"routes","limit":"ten"}"#);
        assert!(
            e.starts_with("bad routes request: invalid type: string \"ten\""),
            "{e}"
        );
        let e = err(r#"{"cmd":"status","version":"one"}"#);
        assert!(
            e.starts_with("bad status request: invalid type: string \"one\""),
            "{e}"
        );
    }

    #[test]
    fn a_newer_version_is_refused_before_its_command_is_read() {
        let e = Envelope::parse(r#"{"version":2,"cmd":"status"}"#).unwrap_err();
        assert!(matches!(e, RequestError::TooNew(2)), "{e}");
        assert!(e
            .to_string()
            .starts_with("request version 2 is newer than this gateway's admin API (version 1)"));
        let e = Envelope::parse(r#"{"version":7,"cmd":"reboot"}"#).unwrap_err();
        assert!(matches!(e, RequestError::TooNew(7)), "{e}");
        assert!(Envelope::parse(r#"{"version":1,"cmd":"status"}"#).is_ok());
    }
}
