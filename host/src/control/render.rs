//! Text tables for people from the admin socket's BGP and route documents
//! (`sitelink bgp`, `sitelink routes`); `--json` prints the documents
//! themselves. Pure functions of the JSON; no I/O.

use serde_json::Value;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Seconds as "1h02m03s", "4m05s" or "6s".
fn uptime(v: &Value) -> String {
    let Some(secs) = v.as_f64() else {
        return "-".into();
    };
    let s = secs as u64;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

/// `sitelink bgp`: one line per session.
pub fn bgp(doc: &Value) -> String {
    let mut out = format!(
        "local AS {}, router ID {}\n",
        text(&doc["asn"]),
        text(&doc["router_id"])
    );
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
    for p in doc["peers"].as_array().into_iter().flatten() {
        out += &format!(
            "{:<12} {:<18} {:<15} {:>10} {:<12} {:>9} {:>6} {:>6} {:>6}  {}\n",
            text(&p["connection"]),
            text(&p["tunnel"]),
            text(&p["remote_address"]),
            text(&p["remote_asn"]),
            text(&p["state"]),
            uptime(&p["uptime_s"]),
            text(&p["prefixes_received"]),
            text(&p["prefixes_accepted"]),
            text(&p["prefixes_advertised"]),
            p["last_error"].as_str().unwrap_or(""),
        );
    }
    if doc["peers"].as_array().is_none_or(|p| p.is_empty()) {
        out += "(no dynamic connection: no BGP session)\n";
    }
    out
}

/// `sitelink bgp refresh`: which sessions were asked.
pub fn refresh(doc: &Value) -> String {
    let asked: Vec<String> = doc["refreshed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if asked.is_empty() {
        "no established session supports route refresh: nothing asked\n".into()
    } else {
        format!("route refresh asked over {}\n", asked.join(", "))
    }
}

/// `sitelink routes`: one line per candidate, `*` when installed.
pub fn routes(doc: &Value) -> String {
    let mut out = format!(
        "route propagation {}\n",
        if doc["propagation"].as_bool() == Some(true) {
            "on"
        } else {
            "off (learned routes are kept but not installed)"
        }
    );
    out += &format!(
        "  {:<22} {:<7} {:<12} {:<18} {:<20} {:>5}  {}\n",
        "PREFIX", "SOURCE", "CONNECTION", "TUNNEL", "AS PATH", "MED", "COMMUNITIES"
    );
    for r in doc["routes"].as_array().into_iter().flatten() {
        let mark = match (r["selected"].as_bool(), r["accepted"].as_bool()) {
            (Some(true), _) => "*",
            (_, Some(false)) => "x",
            _ => " ",
        };
        let path: Vec<String> = r["as_path"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let communities: Vec<String> = r["communities"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(r["large_communities"].as_array().into_iter().flatten())
            .map(text)
            .collect();
        out += &format!(
            "{mark} {:<22} {:<7} {:<12} {:<18} {:<20} {:>5}  {}\n",
            text(&r["prefix"]),
            text(&r["source"]),
            text(&r["connection"]),
            text(&r["tunnel"]),
            if path.is_empty() {
                "-".into()
            } else {
                path.join(" ")
            },
            text(&r["med"]),
            communities.join(" "),
        );
    }
    out += "* installed   x rejected by the import filter\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_sessions_and_routes() {
        let doc = json!({"asn": 64512, "router_id": "169.254.10.1", "peers": [{
            "connection": "office", "tunnel": "169.254.10.0/30", "remote_address": "169.254.10.2",
            "remote_asn": 65000, "state": "established", "uptime_s": 3723.2,
            "prefixes_received": 2, "prefixes_accepted": 2, "prefixes_advertised": 2, "last_error": null}]});
        let t = bgp(&doc);
        assert!(t.contains("local AS 64512, router ID 169.254.10.1"), "{t}");
        assert!(t.contains("established") && t.contains("1h02m03s"), "{t}");
        let doc = json!({"propagation": false, "routes": [{
            "prefix": "10.1.0.0/24", "source": "bgp", "connection": "office", "tunnel": "169.254.10.0/30",
            "as_path": [65000], "med": null, "communities": ["65000:1"], "large_communities": [],
            "accepted": true, "selected": false}]});
        let t = routes(&doc);
        assert!(t.contains("route propagation off"), "{t}");
        assert!(t.contains("  10.1.0.0/24") && t.contains("65000:1"), "{t}");
    }
}
