//! Text tables for people from the admin API's replies (`sitelink status`,
//! `bgp`, `routes`, `plugin`); `--json` prints the replies themselves. Pure
//! functions of the typed replies; no I/O.

use std::fmt::Display;

use crate::api::{
    BgpStatus, Changes, Drain, DrainResult, PluginList, Refreshed, ReloadResult, RemoveResult,
    Response, RoutesDoc, ShadowReport, Status, SwapResult,
};

/// Any reply as text.
pub fn response(reply: &Response) -> String {
    match reply {
        Response::Error(e) => format!("error: {}\n", e.error),
        Response::Status(s) => status(s),
        Response::Bgp(b) => bgp(b),
        Response::Refreshed(r) => refresh(r),
        Response::Routes(r) => routes(r),
        Response::Plugins(p) => plugins(p),
        Response::Swap(s) => swap(s),
        Response::Removed(r) => remove(r),
        Response::Drain(d) => drain(d),
        Response::Reload(r) => reload(r),
        Response::Shadow(s) => shadow(s),
    }
}

/// `plugin shadow`, `diff`, `unshadow`: the candidate and where it differed.
pub fn shadow(s: &ShadowReport) -> String {
    let mut out = format!(
        "{} shadow {}: {} call(s), {} decision(s) compared, {} differed, {} fault(s)\n",
        s.slot, s.plugin, s.calls, s.compared, s.differed, s.faults
    );
    if let Some(f) = &s.last_fault {
        out += &format!("  last fault: {f}\n");
    }
    for e in &s.examples {
        out += &format!("  {e}\n");
    }
    if s.differed > s.examples.len() as u64 {
        out += &format!(
            "  ({} more differences)\n",
            s.differed - s.examples.len() as u64
        );
    }
    out
}

/// A value, or "-" when there is none.
/// `sitelink tunnels`: one line per tunnel, every connection.
pub fn tunnels(status: &Status) -> String {
    let mut out = format!(
        "{:<12} {:<18} {:<22} {:<10} {:>10} {:>9} {:>6} {:>6} {:<8} {:>12} {:>12} {:>8}\n",
        "CONNECTION",
        "TUNNEL",
        "OUTSIDE",
        "LIVENESS",
        "HANDSHAKE",
        "PROBE RTT",
        "LOSS",
        "WEIGHT",
        "DRAIN",
        "TX PACKETS",
        "RX PACKETS",
        "DROPPED"
    );
    for c in &status.connections {
        for t in &c.tunnels {
            let age = t
                .handshake_age_ms
                .map_or_else(|| "never".into(), |ms| format!("{}s ago", ms / 1000));
            let rtt = t
                .probe_rtt_us
                .map_or_else(|| "-".into(), |us| format!("{:.1}ms", us as f64 / 1e3));
            let loss = t
                .probe_loss_permille
                .map_or_else(|| "-".into(), |p| format!("{:.0}%", f64::from(p) / 10.0));
            out += &format!(
                "{:<12} {:<18} {:<22} {:<10} {:>10} {:>9} {:>6} {:>6} {:<8} {:>12} {:>12} {:>8}\n",
                c.name,
                t.inside_cidr.to_string(),
                t.remote.to_string(),
                t.liveness,
                age,
                rtt,
                loss,
                or_dash(t.weight),
                t.drain,
                t.tx_packets,
                t.rx_packets,
                t.dropped_packets,
            );
        }
    }
    if status.connections.iter().all(|c| c.tunnels.is_empty()) {
        out += "(no tunnel)\n";
    }
    out
}

/// `reload`: what changed (or would).
pub fn reload(r: &ReloadResult) -> String {
    let mut out = match (r.dry_run, r.changes.is_empty()) {
        (_, true) => "the config matches the running gateway: nothing to change\n".to_string(),
        (true, false) => "dry run: the reload would change:\n".to_string(),
        (false, false) => "reloaded (what is not listed keeps running untouched):\n".to_string(),
    };
    for c in &r.changes {
        out += &format!("  {c}\n");
    }
    out
}

/// `tunnel drain` / `undrain`: where the drain stands and how.
pub fn drain(d: &DrainResult) -> String {
    format!(
        "tunnel {} of connection {}: {} ({}; {:.0} ms)\n",
        d.tunnel, d.connection, d.drain, d.detail, d.took_ms
    )
}

fn or_dash<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Seconds as "1h02m03s", "4m05s" or "6s".
fn uptime(secs: Option<f64>) -> String {
    let Some(secs) = secs else {
        return "-".into();
    };
    let s = secs as u64;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

/// `sitelink status`: the gateway, a table of tunnels per connection, the
/// endpoints and the FIB's size.
pub fn status(status: &Status) -> String {
    let mut out = format!(
        "gateway {} ({}), TUN {}\n",
        status.gateway, status.role, status.tun
    );
    for conn in &status.connections {
        out += &format!(
            "connection {} ({}), active tunnel {}\n",
            conn.name,
            conn.routing,
            or_dash(conn.active_tunnel)
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
        for t in &conn.tunnels {
            let age = t
                .handshake_age_ms
                .map_or_else(|| "never".into(), |ms| format!("{}s ago", ms / 1000));
            out += &format!(
                "  {:<18} {:<8} {:<22} {:<8} {:<6} {:>10} {:>12} {:>12} {:>8}\n",
                t.inside_cidr.to_string(),
                or_dash(t.endpoint.as_deref()),
                t.remote.to_string(),
                t.liveness,
                if t.active { "yes" } else { "" },
                age,
                t.tx_packets,
                t.rx_packets,
                t.dropped_packets,
            );
        }
        for t in conn.tunnels.iter().filter(|t| t.drain != Drain::None) {
            out += &format!(
                "  {} is {} (sitelink tunnel undrain {} puts it back)\n",
                t.inside_cidr, t.drain, t.inside_cidr
            );
        }
    }
    for e in &status.endpoints {
        out += &format!(
            "endpoint {} {}: {} datagrams received, {} dropped\n",
            e.name, e.listen, e.rx_datagrams, e.dropped_datagrams
        );
    }
    out += &format!(
        "fib: {} IPv4 and {} IPv6 prefixes\n",
        status.fib.routes_v4, status.fib.routes_v6
    );
    out
}

/// `sitelink bgp`: one line per session.
pub fn bgp(doc: &BgpStatus) -> String {
    let mut out = format!("local AS {}, router ID {}\n", doc.asn, doc.router_id);
    out += &format!(
        "{:<12} {:<18} {:<15} {:>10} {:<12} {:>9} {:>6} {:>6} {:>6}  {}\n",
        "CONNECTION",
        "TUNNEL",
        "PEER",
        "PEER AS",
        "STATE",
        "UPTIME",
        "RCVD",
        "ACCEPT",
        "SENT",
        "LAST ERROR"
    );
    for p in &doc.peers {
        out += &format!(
            "{:<12} {:<18} {:<15} {:>10} {:<12} {:>9} {:>6} {:>6} {:>6}  {}\n",
            p.connection,
            p.tunnel.to_string(),
            p.remote_address.to_string(),
            p.remote_asn,
            p.state,
            uptime(p.uptime_s),
            p.prefixes_received,
            p.prefixes_accepted,
            p.prefixes_advertised,
            p.last_error.as_deref().unwrap_or(""),
        );
        if p.prefixes_refused_for_fault > 0 {
            let retry = p
                .fault_retry_in_s
                .map_or("now".to_string(), |s| format!("in {}", uptime(Some(s))));
            out += &format!(
                "{:<12} {} routes refused for a bgp-filter fault, filtered again {retry}\n",
                "", p.prefixes_refused_for_fault,
            );
        }
        if let Some(phase) = p
            .graceful_restart
            .as_ref()
            .and_then(|g| g.phase.map(|ph| (g, ph)))
        {
            let (g, phase) = phase;
            out += &format!(
                "{:<12} graceful restart: {phase}, {} stale routes kept, swept in {}\n",
                "",
                g.stale_routes,
                uptime(g.stale_sweep_in_s),
            );
        }
    }
    if doc.peers.is_empty() {
        out += "(no dynamic connection: no BGP session)\n";
    }
    out
}

/// `sitelink bgp refresh`: which sessions were asked.
pub fn refresh(doc: &Refreshed) -> String {
    if doc.refreshed.is_empty() {
        "no established session supports route refresh: nothing asked\n".into()
    } else {
        let asked: Vec<String> = doc.refreshed.iter().map(ToString::to_string).collect();
        format!("route refresh asked over {}\n", asked.join(", "))
    }
}

/// `sitelink routes`: one line per candidate, `*` when installed.
pub fn routes(doc: &RoutesDoc) -> String {
    let mut out = format!(
        "route propagation {}\n",
        if doc.propagation {
            "on"
        } else {
            "off (learned routes are kept but not installed)"
        }
    );
    out += &format!(
        "  {:<22} {:<7} {:<12} {:<18} {:<20} {:>5} {:>10}  {}\n",
        "PREFIX", "SOURCE", "CONNECTION", "TUNNEL", "AS PATH", "MED", "LOCAL-PREF", "COMMUNITIES"
    );
    for r in &doc.routes {
        let mark = match (r.selected, r.accepted, r.rejected_by_fault) {
            (true, _, _) => "*",
            (_, false, true) => "!",
            (_, false, false) => "x",
            _ => " ",
        };
        let path: Vec<String> = r.as_path.iter().map(ToString::to_string).collect();
        let communities: Vec<&str> = r
            .communities
            .iter()
            .chain(&r.large_communities)
            .map(String::as_str)
            .collect();
        out += &format!(
            "{mark} {:<22} {:<7} {:<12} {:<18} {:<20} {:>5} {:>10}  {}\n",
            r.prefix.to_string(),
            r.source,
            r.connection,
            or_dash(r.tunnel),
            if path.is_empty() {
                "-".into()
            } else {
                path.join(" ")
            },
            or_dash(r.med),
            or_dash(r.local_pref),
            communities.join(" "),
        );
    }
    out += "* installed   x rejected by the import filter   ! not accepted: the filter plugin faulted\n";
    if let Some(total) = doc.total {
        out += &format!(
            "{} of {total} matching routes shown (--limit)\n",
            doc.routes.len()
        );
    }
    if let Some(s) = doc.settling {
        if s.queued > 0 {
            out += &format!(
                "about {} routes (gateway-wide) wait for the import filter or the selection: their prefixes show the selection before them\n",
                s.queued
            );
        }
        if let Some(ms) = s.snapshot_due_ms {
            out += &format!(
                "the forwarding table in force may lack changes shown here until its next snapshot, due in {ms} ms\n"
            );
        }
    }
    out
}

/// `sitelink plugin list`: one line per slot.
pub fn plugins(doc: &PluginList) -> String {
    let mut out = format!(
        "{:<16} {:<24} {:<10} {:>8} {:>7} {:>12}  {}\n",
        "SLOT", "PLUGIN", "VERSION", "CALLS", "FAULTS", "MEAN CALL", "STATE"
    );
    for s in &doc.slots {
        let state = match (s.quarantined, &s.last_fault) {
            (true, _) => "quarantined".to_string(),
            (_, Some(fault)) => format!("last fault: {fault}"),
            _ => "ok".to_string(),
        };
        let state = match s.installs_lone_candidate {
            Some(true) => format!("{state}; lone candidates installed without a call"),
            _ => state,
        };
        out += &format!(
            "{:<16} {:<24} {:<10} {:>8} {:>7} {:>12}  {}\n",
            s.slot,
            s.plugin,
            s.version.as_deref().unwrap_or("-"),
            s.calls,
            s.faults,
            s.mean_call_us
                .map_or("-".to_string(), |us| format!("{us:.1} us")),
            state
        );
    }
    out
}

/// `sitelink plugin swap`: what changed (or, for a dry run, would).
pub fn swap(doc: &SwapResult) -> String {
    let head = if doc.dry_run {
        format!(
            "dry run: {} in slot {} would make these changes:\n",
            doc.plugin, doc.slot
        )
    } else {
        format!(
            "{} is now in slot {} (swap took {:.1} ms), changes:\n",
            doc.plugin,
            doc.slot,
            doc.swap_ms.unwrap_or(0.0)
        )
    };
    head + &changes(&doc.changes)
}

/// `sitelink plugin remove`: what changed.
pub fn remove(doc: &RemoveResult) -> String {
    let head = match &doc.removed {
        Some(name) => format!(
            "{name} removed from slot {}; the built-in default answers, changes:\n",
            doc.slot
        ),
        None => format!(
            "slot {} already used the built-in default, changes:\n",
            doc.slot
        ),
    };
    head + &changes(&doc.changes)
}

/// One line per weight or route change, or "(none)".
fn changes(changes: &Changes) -> String {
    let mut out = String::new();
    for w in changes.weights.iter().flatten() {
        out += &format!(
            "  connection {} tunnel {}: weight {} -> {}\n",
            w.connection, w.tunnel, w.from, w.to
        );
    }
    if let Some(routes) = &changes.routes {
        {
            let list = |names: &[String]| {
                if names.is_empty() {
                    "not installed".to_string()
                } else {
                    format!("via {}", names.join(", "))
                }
            };
            for r in routes {
                out += &format!(
                    "  route {}: {} -> {}\n",
                    r.prefix,
                    list(&r.from),
                    list(&r.to)
                );
            }
        }
        let total = changes.routes_changed.unwrap_or(0) as usize;
        if total > routes.len() {
            out += &format!("  ... {} route changes in all\n", total);
        }
    }
    for v in changes.verdicts.iter().flatten() {
        out += &format!("  import {v}\n");
    }
    if let (Some(shown), Some(total)) = (&changes.verdicts, changes.verdicts_changed) {
        if total as usize > shown.len() {
            out += &format!("  ... {total} verdict changes in all\n");
        }
    }
    if out.is_empty() {
        out += "  (none)\n";
    }
    if let Some(n) = changes.routes_checked {
        out += &format!("  (the plugin checked {n} stored route(s))\n");
    }
    out
}

/// `plugin test`: each route's verdict (and what it changed), or each
/// prefix's installed candidates, then the counts or the fault.
pub fn plugin_test(r: &crate::policy::offline::TestReport) -> String {
    let mut out = format!(
        "{} {} over {} route(s){}\n",
        r.slot,
        r.plugin,
        r.routes,
        r.direction
            .as_ref()
            .map(|d| format!(" ({d} filter)"))
            .unwrap_or_default()
    );
    for v in &r.verdicts {
        out += &format!(
            "  {:<20} {:<10} {:<18} {}\n",
            v.prefix.to_string(),
            v.connection,
            v.tunnel.as_deref().unwrap_or("-"),
            v.verdict
        );
        for c in &v.changes {
            out += &format!("      {c}\n");
        }
    }
    for s in &r.selections {
        let installed = if s.installed.is_empty() {
            "(not installed)".to_string()
        } else {
            s.installed.join(", ")
        };
        out += &format!(
            "  {:<20} {} candidate(s) -> {installed}\n",
            s.prefix.to_string(),
            s.candidates
        );
    }
    match &r.fault {
        Some(fault) => out += &format!("FAULT: {fault}\n"),
        None if !r.verdicts.is_empty() => {
            out += &format!(
                "{} accepted, {} modified, {} rejected\n",
                r.count("accept"),
                r.count("modify"),
                r.count("reject")
            )
        }
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    fn reply<T: DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    /// Each renderer against the text the JSON renderers it replaced
    /// printed for the same reply (`testdata/*.txt`).
    #[test]
    fn text_is_what_it_was() {
        let cases: [(String, &str); 12] = [
            (
                status(&reply(include_str!("../api/testdata/status.json"))),
                include_str!("testdata/status.txt"),
            ),
            (
                bgp(&reply(include_str!("../api/testdata/bgp.json"))),
                include_str!("testdata/bgp.txt"),
            ),
            (
                bgp(&reply(include_str!("../api/testdata/bgp_empty.json"))),
                include_str!("testdata/bgp_empty.txt"),
            ),
            (
                refresh(&reply(include_str!("../api/testdata/refreshed.json"))),
                include_str!("testdata/refreshed.txt"),
            ),
            (
                refresh(&reply(include_str!("../api/testdata/refreshed_none.json"))),
                include_str!("testdata/refreshed_none.txt"),
            ),
            (
                routes(&reply(include_str!("../api/testdata/routes.json"))),
                include_str!("testdata/routes.txt"),
            ),
            (
                plugins(&reply(include_str!("../api/testdata/plugin_list.json"))),
                include_str!("testdata/plugin_list.txt"),
            ),
            (
                swap(&reply(include_str!("../api/testdata/swap_failover.json"))),
                include_str!("testdata/swap_failover.txt"),
            ),
            (
                swap(&reply(include_str!("../api/testdata/swap_dry_run.json"))),
                include_str!("testdata/swap_dry_run.txt"),
            ),
            (
                swap(&reply(include_str!("../api/testdata/swap_no_changes.json"))),
                include_str!("testdata/swap_no_changes.txt"),
            ),
            (
                remove(&reply(include_str!("../api/testdata/remove.json"))),
                include_str!("testdata/remove.txt"),
            ),
            (
                remove(&reply(include_str!("../api/testdata/remove_default.json"))),
                include_str!("testdata/remove_default.txt"),
            ),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            assert_eq!(text, expected, "case {i}");
        }
    }

    #[test]
    fn renders_sessions_and_routes() {
        let doc: BgpStatus = reply(include_str!("../api/testdata/bgp.json"));
        let t = bgp(&doc);
        assert!(t.contains("local AS 64512, router ID 169.254.10.1"), "{t}");
        assert!(t.contains("established") && t.contains("1h02m03s"), "{t}");
        assert!(!t.contains("refused for a bgp-filter fault"), "{t}");
        let mut faulted = doc.clone();
        if let Some(p) = faulted.peers.first_mut() {
            p.prefixes_refused_for_fault = 1024;
            p.fault_retry_in_s = Some(2.5);
        }
        let t = bgp(&faulted);
        assert!(
            t.contains("1024 routes refused for a bgp-filter fault, filtered again in 2s"),
            "{t}"
        );
        let mut doc: RoutesDoc = reply(include_str!("../api/testdata/routes.json"));
        doc.propagation = false;
        let t = routes(&doc);
        assert!(t.contains("route propagation off"), "{t}");
        assert!(
            t.contains("* 10.1.0.0/24") && t.contains("65000:1 65000:1:2"),
            "{t}"
        );
        assert!(t.contains("x 10.9.0.0/16"), "{t}");
    }

    #[test]
    fn route_work_under_way_is_said() {
        let doc: RoutesDoc = reply(include_str!("../api/testdata/routes.json"));
        assert!(!routes(&doc).contains("wait"));
        let doc: RoutesDoc = reply(include_str!("../api/testdata/routes_settling.json"));
        let t = routes(&doc);
        assert!(
            t.contains("about 1200 routes (gateway-wide) wait for the import filter"),
            "{t}"
        );
        assert!(t.contains("until its next snapshot, due in 180 ms"), "{t}");
    }

    #[test]
    fn a_cut_route_list_says_so() {
        let mut doc: RoutesDoc = reply(include_str!("../api/testdata/routes.json"));
        doc.total = Some(1000);
        let t = routes(&doc);
        assert!(
            t.ends_with("4 of 1000 matching routes shown (--limit)\n"),
            "{t}"
        );
    }

    #[test]
    fn any_reply_renders_by_its_kind() {
        let doc: Refreshed = reply(include_str!("../api/testdata/refreshed.json"));
        assert_eq!(response(&Response::Refreshed(doc.clone())), refresh(&doc));
        assert_eq!(
            response(&Response::error("the gateway is stopping")),
            "error: the gateway is stopping\n"
        );
    }
}
