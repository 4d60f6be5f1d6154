//! Answers: any reply, or an error, on one line with the API version.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    BgpStatus, DrainResult, PluginList, Refreshed, ReloadResult, RemoveResult, Request,
    RequestError, RoutesDoc, ShadowReport, Status, SwapResult, API_VERSION,
};

/// The answer to a request that failed (or was refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong, for people; may span lines.
    pub error: String,
}

/// Any answer the gateway sends. On the wire the reply's own fields, with
/// `version` added (see [`Response::to_line`]); which reply a line holds
/// follows from the request (see [`Response::parse`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Error(ErrorReply),
    Status(Status),
    Bgp(BgpStatus),
    Refreshed(Refreshed),
    Routes(RoutesDoc),
    Plugins(PluginList),
    Swap(SwapResult),
    Removed(RemoveResult),
    Drain(DrainResult),
    Reload(ReloadResult),
    Shadow(ShadowReport),
}

/// An answer line's fields: the version first, then the reply's.
#[derive(Serialize)]
struct Versioned<'a> {
    version: u32,
    #[serde(flatten)]
    reply: &'a Response,
}

impl Response {
    /// An error answer.
    pub fn error(message: impl std::fmt::Display) -> Response {
        Response::Error(ErrorReply {
            error: message.to_string(),
        })
    }

    /// The answer as JSON, `version` included.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self.versioned()).unwrap_or_else(|e| encode_failed(&e))
    }

    /// The answer line, without its newline: `version` first, then the
    /// reply's fields in their order.
    pub fn to_line(&self) -> String {
        serde_json::to_string(&self.versioned()).unwrap_or_else(|e| encode_failed(&e).to_string())
    }

    fn versioned(&self) -> Versioned<'_> {
        Versioned {
            version: API_VERSION,
            reply: self,
        }
    }

    /// Reads the answer line to `request`: an error when it has an `error`
    /// field, else the reply type of that request. Fields this version
    /// does not know are ignored.
    pub fn parse(request: &Request, line: &str) -> Result<Response, serde_json::Error> {
        let mut value: Value = serde_json::from_str(line)?;
        if let Some(fields) = value.as_object_mut() {
            fields.remove("version");
            if fields.contains_key("error") {
                return serde_json::from_value(value).map(Response::Error);
            }
        }
        Ok(match request {
            Request::Status => Response::Status(serde_json::from_value(value)?),
            Request::Bgp => Response::Bgp(serde_json::from_value(value)?),
            Request::BgpRefresh { .. } => Response::Refreshed(serde_json::from_value(value)?),
            Request::Routes { .. } => Response::Routes(serde_json::from_value(value)?),
            Request::PluginList => Response::Plugins(serde_json::from_value(value)?),
            Request::PluginSwap { .. } => Response::Swap(serde_json::from_value(value)?),
            Request::PluginRemove { .. } => Response::Removed(serde_json::from_value(value)?),
            Request::TunnelDrain { .. } => Response::Drain(serde_json::from_value(value)?),
            Request::Reload { .. } => Response::Reload(serde_json::from_value(value)?),
            Request::PluginShadow { .. }
            | Request::PluginDiff { .. }
            | Request::PluginUnshadow { .. } => Response::Shadow(serde_json::from_value(value)?),
            Request::PluginPromote { .. } => Response::Swap(serde_json::from_value(value)?),
        })
    }
}

/// These types always encode (string keys; a NaN becomes null); should one
/// not, the client still gets an answer.
fn encode_failed(e: &serde_json::Error) -> Value {
    json!({ "version": API_VERSION, "error": format!("cannot encode the answer: {e}") })
}

impl From<RequestError> for Response {
    fn from(e: RequestError) -> Response {
        Response::error(e)
    }
}

macro_rules! response_from {
    ($($variant:ident($t:ty)),*) => {$(
        impl From<$t> for Response {
            fn from(reply: $t) -> Response {
                Response::$variant(reply)
            }
        }
    )*};
}

response_from!(
    Error(ErrorReply),
    Status(Status),
    Bgp(BgpStatus),
    Refreshed(Refreshed),
    Routes(RoutesDoc),
    Plugins(PluginList),
    Swap(SwapResult),
    Removed(RemoveResult),
    Drain(DrainResult),
    Reload(ReloadResult),
    Shadow(ShadowReport)
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::round_trips;
    use crate::api::Envelope;

    /// Each reply fixture with a request that asks for it.
    fn cases() -> Vec<(Request, &'static str)> {
        let routes = Request::Routes {
            prefix: None,
            connection: None,
            limit: None,
        };
        let swap = Request::PluginSwap {
            slot: "failover".into(),
            path: "/p.wasm".into(),
            params: None,
            dry_run: false,
            force: false,
        };
        let remove = Request::PluginRemove {
            slot: "failover".into(),
        };
        vec![
            (Request::Status, include_str!("testdata/status.json")),
            (Request::Bgp, include_str!("testdata/bgp.json")),
            (
                Request::BgpRefresh { tunnel: None },
                include_str!("testdata/refreshed.json"),
            ),
            (routes, include_str!("testdata/routes.json")),
            (
                Request::PluginList,
                include_str!("testdata/plugin_list.json"),
            ),
            (swap.clone(), include_str!("testdata/swap_failover.json")),
            (swap, include_str!("testdata/swap_dry_run.json")),
            (remove.clone(), include_str!("testdata/remove.json")),
            (remove, include_str!("testdata/remove_default.json")),
            (Request::Status, include_str!("testdata/error.json")),
        ]
    }

    #[test]
    fn every_answer_line_is_the_reply_plus_its_version() {
        for (request, fixture) in cases() {
            let today: Value = serde_json::from_str(fixture).unwrap();
            // Today's line, without a version, is read...
            let response = Response::parse(&request, fixture).unwrap();
            // ...and written back with the version added, nothing else.
            let mut expected = today.clone();
            expected["version"] = json!(API_VERSION);
            assert_eq!(response.to_value(), expected, "{fixture}");
            let line = response.to_line();
            assert!(!line.contains('\n'));
            assert_eq!(Response::parse(&request, &line).unwrap(), response);
        }
    }

    #[test]
    fn an_error_is_read_whatever_was_asked() {
        let line = r#"{"version":1,"error":"the gateway is stopping"}"#;
        for (request, _) in cases() {
            assert_eq!(
                Response::parse(&request, line).unwrap(),
                Response::error("the gateway is stopping")
            );
        }
        let error: ErrorReply = round_trips(include_str!("testdata/error.json"));
        assert!(error.error.starts_with("unknown slot"));
    }

    #[test]
    fn a_reply_of_the_wrong_shape_is_refused() {
        let status = include_str!("testdata/status.json");
        assert!(Response::parse(&Request::Bgp, status).is_err());
        assert!(Response::parse(&Request::Status, "not json").is_err());
    }

    #[test]
    fn refused_requests_answer_with_their_reason() {
        let refused = Envelope::parse(r#"{"version":9,"cmd":"status"}"#).unwrap_err();
        let line = Response::from(refused).to_value();
        assert_eq!(line["version"], API_VERSION);
        assert!(line["error"]
            .as_str()
            .unwrap()
            .starts_with("request version 9 is newer"));
    }
}
