//! Dynamic routing as the tests see it: thin views over the JSON answers of
//! `sitelink bgp --json` ([`Bgp`]: the gateway's ASN and router ID, one entry
//! per BGP peer, i.e. per tunnel of a dynamic connection, with its state,
//! uptime, transitions, prefix counts and last error) and `sitelink routes
//! --json` ([`Routes`]: whether route propagation is on, and one entry per
//! candidate route, so a prefix learned over two tunnels appears twice, with
//! its source, tunnel, AS path, communities and whether it is selected into
//! the FIB). Both deref to the raw JSON for fields the helpers do not cover.

use crate::error::Result;
use crate::gateway;
use crate::netns::Netns;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::ops::Deref;
use std::path::Path;

/// BGP session state names as `sitelink bgp` prints them.
pub const ESTABLISHED: &str = "established";

/// `sitelink bgp --json`.
#[derive(Debug, Clone)]
pub struct Bgp(pub Value);

impl Deref for Bgp {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl Bgp {
    /// Every peer (one per tunnel of a dynamic connection).
    pub fn peers(&self) -> Vec<&Value> {
        self.0["peers"].as_array().into_iter().flatten().collect()
    }

    /// The peer over the tunnel with this inside CIDR.
    pub fn peer(&self, tunnel: &str) -> Option<&Value> {
        self.peers().into_iter().find(|p| p["tunnel"] == tunnel)
    }

    /// The peers of one connection.
    pub fn peers_of(&self, connection: &str) -> Vec<&Value> {
        self.peers()
            .into_iter()
            .filter(|p| p["connection"] == connection)
            .collect()
    }

    /// The state of the peer over `tunnel` (`"established"`, `"idle"`, ...).
    pub fn state(&self, tunnel: &str) -> Option<&str> {
        self.peer(tunnel)?["state"].as_str()
    }

    /// True if the peer over `tunnel` is established.
    pub fn is_established(&self, tunnel: &str) -> bool {
        self.state(tunnel) == Some(ESTABLISHED)
    }

    /// True if there is at least one peer and every peer is established.
    pub fn all_established(&self) -> bool {
        let p = self.peers();
        !p.is_empty() && p.iter().all(|p| p["state"] == ESTABLISHED)
    }

    /// A numeric field of the peer over `tunnel` (`prefixes_received`, ...).
    pub fn peer_u64(&self, tunnel: &str, field: &str) -> Option<u64> {
        self.peer(tunnel)?[field].as_u64()
    }

    /// `uptime_s` of the peer over `tunnel` (None while not established).
    pub fn uptime(&self, tunnel: &str) -> Option<f64> {
        self.peer(tunnel)?["uptime_s"].as_f64()
    }

    /// `last_error` of the peer over `tunnel`, if any.
    pub fn last_error(&self, tunnel: &str) -> Option<&str> {
        self.peer(tunnel)?["last_error"].as_str()
    }

    /// One line per peer, for messages.
    pub fn summary(&self) -> String {
        let peers: Vec<String> = self
            .peers()
            .iter()
            .map(|p| {
                format!(
                    "{}/{}={} up={} trans={} rx/acc/adv={}/{}/{}{}",
                    p["connection"].as_str().unwrap_or("?"),
                    p["tunnel"].as_str().unwrap_or("?"),
                    p["state"].as_str().unwrap_or("?"),
                    p["uptime_s"],
                    p["established_transitions"],
                    p["prefixes_received"],
                    p["prefixes_accepted"],
                    p["prefixes_advertised"],
                    p["last_error"]
                        .as_str()
                        .map(|e| format!(" last_error={e:?}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        format!(
            "AS{} id {}: [{}]",
            self.0["asn"],
            self.0["router_id"].as_str().unwrap_or("?"),
            peers.join("; ")
        )
    }
}

/// `sitelink routes --json`.
#[derive(Debug, Clone)]
pub struct Routes(pub Value);

impl Deref for Routes {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl Routes {
    /// Whether route propagation is on.
    pub fn propagation(&self) -> Option<bool> {
        self.0["propagation"].as_bool()
    }

    /// Every candidate route.
    pub fn routes(&self) -> Vec<&Value> {
        self.0["routes"].as_array().into_iter().flatten().collect()
    }

    /// The candidates for `prefix` (one per tunnel it was learned over, or
    /// the static route).
    pub fn candidates(&self, prefix: &str) -> Vec<&Value> {
        self.routes()
            .into_iter()
            .filter(|r| r["prefix"] == prefix)
            .collect()
    }

    /// The selected candidates for `prefix` (several when ECMP).
    pub fn selected(&self, prefix: &str) -> Vec<&Value> {
        self.candidates(prefix)
            .into_iter()
            .filter(|r| r["selected"] == true)
            .collect()
    }

    /// The tunnels of the selected candidates for `prefix`, sorted.
    pub fn selected_tunnels(&self, prefix: &str) -> Vec<String> {
        let mut t: Vec<String> = self
            .selected(prefix)
            .iter()
            .filter_map(|r| r["tunnel"].as_str().map(str::to_string))
            .collect();
        t.sort();
        t
    }

    /// The BGP candidates learned over `tunnel`.
    pub fn learned_over(&self, tunnel: &str) -> Vec<&Value> {
        self.routes()
            .into_iter()
            .filter(|r| r["source"] == "bgp" && r["tunnel"] == tunnel)
            .collect()
    }

    /// True if `prefix` has a BGP candidate over `tunnel` with this AS path
    /// that is (or is not) selected.
    pub fn has_bgp(&self, prefix: &str, tunnel: &str, as_path: &[u64], selected: bool) -> bool {
        self.candidates(prefix).iter().any(|r| {
            r["source"] == "bgp"
                && r["tunnel"] == tunnel
                && r["selected"] == selected
                && as_path_of(r) == as_path
        })
    }

    /// How many routes matched when the request's limit cut the list
    /// (`None`: the list holds them all).
    pub fn total(&self) -> Option<u64> {
        self.0["total"].as_u64()
    }

    /// One line per candidate, for messages (with the total when the list
    /// was cut).
    pub fn summary(&self) -> String {
        let routes: Vec<String> = self
            .routes()
            .iter()
            .map(|r| {
                format!(
                    "{} {} via {} path {:?}{}",
                    r["prefix"].as_str().unwrap_or("?"),
                    r["source"].as_str().unwrap_or("?"),
                    r["tunnel"].as_str().unwrap_or("-"),
                    as_path_of(r),
                    if r["selected"] == true { " *" } else { "" }
                )
            })
            .collect();
        let cut = self
            .total()
            .map(|t| format!(" ({} of {t} listed)", routes.len()))
            .unwrap_or_default();
        format!(
            "propagation={:?} [{}]{cut}",
            self.propagation(),
            routes.join("; ")
        )
    }
}

/// The AS path of a route entry.
pub fn as_path_of(route: &Value) -> Vec<u64> {
    route["as_path"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect()
}

/// `n` consecutive IPv4 /24s from `first` upward (`30.0.0.0/24`,
/// `30.0.1.0/24`, ...): a large table for a gateway's `[bgp] networks`.
pub fn slash24s(first: Ipv4Addr, n: u32) -> impl Iterator<Item = String> {
    let base = u32::from(first);
    (0..n).map(move |i| format!("{}/24", Ipv4Addr::from(base.wrapping_add(i << 8))))
}

/// `sitelink bgp --socket SOCKET --json` inside `ns`.
pub fn bgp_json(ns: &Netns, bin: &Path, socket: &Path) -> Result<Bgp> {
    gateway::admin_json(ns, bin, socket, &["bgp"]).map(Bgp)
}

/// `sitelink routes --socket SOCKET --json` inside `ns` (at most the
/// gateway's default limit of routes, 10,000).
pub fn routes_json(ns: &Netns, bin: &Path, socket: &Path) -> Result<Routes> {
    gateway::admin_json(ns, bin, socket, &["routes"]).map(Routes)
}

/// `sitelink routes ARGS --socket SOCKET --json` inside `ns`, e.g.
/// `["--prefix", "10.2.0.0/24"]` (that prefix and the ones holding it: a
/// few lookups, whatever the table size) or `["--limit", "40"]`.
pub fn routes_json_with(ns: &Netns, bin: &Path, socket: &Path, args: &[&str]) -> Result<Routes> {
    let mut all = vec!["routes"];
    all.extend_from_slice(args);
    gateway::admin_json(ns, bin, socket, &all).map(Routes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_bgp() {
        let b = Bgp(json!({"asn": 64512, "router_id": "169.254.10.1", "peers": [
            {"connection": "office", "tunnel": "169.254.10.0/30", "state": "established",
             "uptime_s": 12.5, "established_transitions": 1, "prefixes_received": 2,
             "prefixes_accepted": 2, "prefixes_advertised": 2, "last_error": null},
            {"connection": "office", "tunnel": "169.254.11.0/30", "state": "active",
             "uptime_s": null, "established_transitions": 0, "prefixes_received": 0,
             "prefixes_accepted": 0, "prefixes_advertised": 0,
             "last_error": "sent Cease: maximum number of prefixes reached"}]}));
        assert!(b.is_established("169.254.10.0/30"));
        assert!(!b.all_established());
        assert_eq!(b.uptime("169.254.10.0/30"), Some(12.5));
        assert_eq!(b.uptime("169.254.11.0/30"), None);
        assert_eq!(b.peer_u64("169.254.10.0/30", "prefixes_accepted"), Some(2));
        assert!(b.last_error("169.254.11.0/30").unwrap().contains("maximum"));
        assert_eq!(b.peers_of("office").len(), 2);
        assert!(b.summary().contains("office/169.254.11.0/30=active"));
    }

    #[test]
    fn slash24s_count_up_from_the_first() {
        let t: Vec<String> = slash24s(Ipv4Addr::new(30, 0, 255, 0), 3).collect();
        assert_eq!(t, ["30.0.255.0/24", "30.1.0.0/24", "30.1.1.0/24"]);
        assert_eq!(slash24s(Ipv4Addr::new(30, 0, 0, 0), 0).count(), 0);
    }

    #[test]
    fn reads_routes() {
        let r = Routes(json!({"propagation": true, "routes": [
            {"prefix": "10.1.0.0/24", "source": "bgp", "connection": "office",
             "tunnel": "169.254.10.0/30", "as_path": [65000], "selected": true},
            {"prefix": "10.1.0.0/24", "source": "bgp", "connection": "office",
             "tunnel": "169.254.11.0/30", "as_path": [65000], "selected": false},
            {"prefix": "10.9.0.0/16", "source": "static", "connection": "office",
             "tunnel": null, "as_path": [], "selected": true}]}));
        assert_eq!(r.candidates("10.1.0.0/24").len(), 2);
        assert_eq!(r.selected_tunnels("10.1.0.0/24"), vec!["169.254.10.0/30"]);
        assert!(r.has_bgp("10.1.0.0/24", "169.254.11.0/30", &[65000], false));
        assert!(!r.has_bgp("10.1.0.0/24", "169.254.11.0/30", &[65000], true));
        assert_eq!(r.learned_over("169.254.10.0/30").len(), 1);
        assert_eq!(r.propagation(), Some(true));
        assert!(r.summary().contains("10.9.0.0/16 static via - path [] *"));
        assert_eq!(r.total(), None);
        let cut = Routes(json!({"propagation": true, "total": 200_004, "routes": [
            {"prefix": "10.2.0.0/24", "source": "bgp", "tunnel": "169.254.10.0/30",
             "as_path": [64512], "selected": true}]}));
        assert_eq!(cut.total(), Some(200_004));
        assert!(
            cut.summary().ends_with("(1 of 200004 listed)"),
            "{}",
            cut.summary()
        );
    }
}
