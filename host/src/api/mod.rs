//! The admin API: the typed requests and replies of a running gateway's
//! admin socket, shared by the server (`control::admin` and the control
//! loop), the `sitelink` command and its renderers (`control::render`).
//! This is the protocol, documented in one place.
//!
//! # Transport
//!
//! A Unix socket at the config's `admin_socket`, mode 0600 (root only);
//! the gateway also checks each client's user from the kernel
//! (`SO_PEERCRED`: root or the gateway's own user) and refuses any other
//! with an error answer. One request per connection: the client writes one
//! JSON object on one line (shorter than [`MAX_REQUEST`] bytes), the
//! gateway answers with one JSON object on one line and closes. A client
//! has 2 s to send its whole line and 10 s to read the whole answer; at
//! most 8 are answered at once, each on its own thread (one more waits
//! up to 3 s for a place, then is told to ask again), so a slow client
//! holds no one else up for long. The gateway waits
//! up to 55 s for its control loop (else it answers an error); the client
//! waits up to 60 s for the answer, as a swap compiles the plugin.
//!
//! # Versions
//!
//! A request carries `version`, the API version the client speaks
//! ([`API_VERSION`] today); absent, it is 0: a client from before
//! versioning, which speaks version 1. A request whose version is newer
//! than the gateway's is refused with an error, before its `cmd` is read.
//! Every answer carries `version`, the gateway's. Within a version changes
//! are additive only: new optional request fields, new reply fields (both
//! sides ignore fields they do not know). Removing or renaming a field,
//! changing its type or adding a name to a closed set (liveness, session
//! state, route source) takes a new version.
//!
//! # Requests and replies
//!
//! The request is named by `cmd` ([`Request`]); each has one reply type,
//! and any may instead be answered with an [`ErrorReply`]:
//! `{"version":1,"error":"unknown slot \"x\"; slots: failover, ..."}`. The
//! client looks for `error` first ([`Response::parse`]).
//!
//! | request line | reply |
//! |---|---|
//! | `{"version":1,"cmd":"status"}` | [`Status`] |
//! | `{"version":1,"cmd":"bgp"}` | [`BgpStatus`] |
//! | `{"version":1,"cmd":"bgp-refresh","tunnel":"169.254.10.0/30"}` (`tunnel` optional) | [`Refreshed`] |
//! | `{"version":1,"cmd":"routes","prefix":"10.0.0.0/8","connection":"office","limit":100}` (filters optional) | [`RoutesDoc`] |
//! | `{"version":1,"cmd":"plugin-list"}` | [`PluginList`] |
//! | `{"version":1,"cmd":"plugin-swap","slot":"failover","path":"/etc/sitelink/prefer-zone.wasm","params":{"prefer":"169.254.11.0/30"},"dry_run":true}` (`params` optional: the config's; `dry_run` optional: false) | [`SwapResult`] |
//! | `{"version":1,"cmd":"plugin-remove","slot":"failover"}` | [`RemoveResult`] |
//! | `{"version":1,"cmd":"tunnel-drain","tunnel":"169.254.10.0/30","drain":true}` | [`DrainResult`] |
//! | `{"version":1,"cmd":"reload","dry_run":true}` (`dry_run` optional: false) | [`ReloadResult`] |
//!
//! Slots are `failover`, `route-selection` and `bgp-filter`; a tunnel is
//! named by its inside CIDR ([`TunnelCidr`]). Some answers, abridged:
//!
//! ```text
//! status        {"version":1,"gateway":"cgw","role":"cgw","tun":"sitelink0",
//!                "connections":[{"name":"office","routing":"dynamic","active_tunnel":"169.254.10.0/30",
//!                  "static_routes":[],"tunnels":[{"inside_cidr":"169.254.10.0/30","liveness":"up",...}]}],
//!                "endpoints":[...],"tun_no_route":0,"tun_malformed":0,"tun_write_failed":0,
//!                "fib":{"routes_v4":3,"routes_v6":0}}
//! bgp           {"version":1,"asn":64512,"router_id":"169.254.10.1","peers":[{"connection":"office",
//!                "tunnel":"169.254.10.0/30","state":"established","uptime_s":3723.2,...}]}
//! bgp-refresh   {"version":1,"refreshed":["169.254.10.0/30"]}
//! routes        {"version":1,"propagation":true,"installed_prefixes":["10.1.0.0/24"],
//!                "routes":[{"prefix":"10.1.0.0/24","source":"bgp","tunnel":"169.254.10.0/30",...}]}
//! plugin-list   {"version":1,"slots":[{"slot":"failover","plugin":"built-in default","version":null,...}]}
//! plugin-swap   {"version":1,"slot":"failover","plugin":"prefer-zone 1.0.0","dry_run":false,
//!                "changes":{"weights":[{"connection":"office","tunnel":"169.254.10.0/30","from":100,"to":0}]},
//!                "swap_ms":12.7}
//! plugin-remove {"version":1,"slot":"route-selection","removed":"shortest-path",
//!                "changes":{"routes":[{"prefix":"10.1.0.0/24","from":["branch"],"to":["office via 169.254.10.0/30"]}]}}
//! ```
//!
//! `src/api/testdata/` holds a full sample of each (`routes_settling.json`:
//! a `routes` reply taken while route work was under way).

mod bgp;
mod ids;
mod plugins;
mod request;
mod response;
mod routes;
mod status;
mod tunnel_log;

pub use bgp::{
    BgpPeer, BgpStatus, GracefulRestart, NotificationCount, Refreshed, RestartPhase, SessionState,
};
pub use ids::TunnelCidr;
pub use plugins::{
    Changes, PluginList, RemoveResult, RouteChange, ShadowReport, SlotStatus, SwapResult,
    WeightChange,
};
pub use request::{Envelope, Request, RequestError};
pub use response::{ErrorReply, Response};
pub use routes::{Origin, RouteEntry, RouteSource, RoutesDoc, Settling};
pub use status::{
    ConnectionStatus, Drain, DrainResult, EndpointStatus, FibCounts, Liveness, ReloadResult, Role,
    Routing, Status, TunnelStatus, TurnSummary,
};
pub use tunnel_log::{TunnelEvent, TunnelEventKind};

/// The admin API version this build speaks.
pub const API_VERSION: u32 = 1;

/// Longest request line the gateway reads, newline included.
pub const MAX_REQUEST: u64 = 64 * 1024;

#[cfg(test)]
pub(crate) mod tests {
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::Value;

    /// Reads `fixture` (a reply as today's gateway writes it) into `T` and
    /// checks that `T` writes it back unchanged.
    pub(crate) fn round_trips<T: Serialize + DeserializeOwned>(fixture: &str) -> T {
        let today: Value = serde_json::from_str(fixture).unwrap();
        let typed: T = serde_json::from_value(today.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), today);
        typed
    }
}
