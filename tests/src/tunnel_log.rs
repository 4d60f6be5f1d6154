//! A gateway's tunnel log (`[log] tunnel_log`, one JSON line per tunnel
//! event, as AWS's tunnel logs), read back for tests: each line as a
//! [`TunnelEvent`] with its timestamp in milliseconds since the Unix epoch,
//! so a test can rebuild a tunnel's liveness and failover timeline.

use crate::error::{Error, Result};
use serde_json::Value;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// One line of a tunnel log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelEvent {
    /// `timestamp`, in ms since the Unix epoch (UTC).
    pub at_ms: i64,
    /// `tunnel`: the inside CIDR.
    pub tunnel: String,
    /// `event`: `handshake`, `liveness`, `bgp`, `failover` or `drain`.
    pub event: String,
    /// `state`, e.g. `up`, `down`, `active`, `standby`.
    pub state: String,
    /// `detail`: why.
    pub detail: String,
}

impl TunnelEvent {
    /// An event without a detail (for made-up timelines in tests).
    pub fn new(at_ms: i64, tunnel: &str, event: &str, state: &str) -> TunnelEvent {
        TunnelEvent {
            at_ms,
            tunnel: tunnel.into(),
            event: event.into(),
            state: state.into(),
            detail: String::new(),
        }
    }

    /// True for an event of this kind and state on this tunnel.
    pub fn is(&self, tunnel: &str, event: &str, state: &str) -> bool {
        self.tunnel == tunnel && self.event == event && self.state == state
    }
}

/// Reads a tunnel log; a line that is not a tunnel event is an error.
pub fn read(path: &Path) -> Result<Vec<TunnelEvent>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::msg(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            parse_line(l)
                .ok_or_else(|| Error::msg(format!("not a tunnel event in {}: {l}", path.display())))
        })
        .collect()
}

/// One JSON line of a tunnel log.
pub fn parse_line(line: &str) -> Option<TunnelEvent> {
    let v: Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| v[k].as_str().map(str::to_string);
    Some(TunnelEvent {
        at_ms: parse_timestamp(v["timestamp"].as_str()?)?,
        tunnel: s("tunnel")?,
        event: s("event")?,
        state: s("state")?,
        detail: s("detail").unwrap_or_default(),
    })
}

/// `2026-12-04T18:30:05.123Z` (UTC, any number of fraction digits) in ms
/// since the Unix epoch.
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    let (date, time) = ts.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time.splitn(3, ':');
    let h: i64 = t.next()?.parse().ok()?;
    let min: i64 = t.next()?.parse().ok()?;
    let sec: f64 = t.next()?.parse().ok()?;
    if !(0..24).contains(&h) || !(0..60).contains(&min) || !(0.0..61.0).contains(&sec) {
        return None;
    }
    let days = days_from_civil(y, m, day);
    Some((days * 86_400 + h * 3600 + min * 60) * 1000 + (sec * 1000.0).round() as i64)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How long, from `since_ms` to `until_ms`, `tunnel` carried traffic (its
/// latest `failover` event, before or during the span, said `active`).
pub fn active_ms(events: &[TunnelEvent], tunnel: &str, since_ms: i64, until_ms: i64) -> i64 {
    let mut active_since: Option<i64> = None;
    let mut total = 0;
    for e in events
        .iter()
        .filter(|e| e.tunnel == tunnel && e.event == "failover" && e.at_ms <= until_ms)
    {
        match (e.state == "active", active_since) {
            (true, None) => active_since = Some(e.at_ms.max(since_ms)),
            (false, Some(from)) => {
                total += (e.at_ms - from).max(0);
                active_since = None;
            }
            _ => {}
        }
    }
    total + active_since.map_or(0, |from| (until_ms - from).max(0))
}

/// The wall clock now, in ms since the Unix epoch (the tunnel log's clock).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:01.5Z"),
            Some(951_868_801_500)
        );
        assert_eq!(
            parse_timestamp("2026-12-04T18:30:05.123Z"),
            Some(1_796_409_005_123)
        );
        for bad in [
            "2026-12-04 18:30:05Z",
            "2026-13-04T18:30:05Z",
            "x",
            "2026-12-04T18:30Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn active_time_from_failover_events() {
        let ev = TunnelEvent::new;
        let t = "169.254.10.0/30";
        let events = [
            ev(0, t, "failover", "active"),
            ev(150, t, "liveness", "down"),
            ev(200, t, "failover", "standby"),
            ev(250, "169.254.11.0/30", "failover", "active"),
            ev(400, t, "failover", "active"),
            ev(900, t, "failover", "standby"),
        ];
        // Active 0-200 and 400-900; counted within 100-1000.
        assert_eq!(active_ms(&events, t, 100, 1000), 100 + 500);
        assert_eq!(active_ms(&events, t, 500, 700), 200);
        assert_eq!(active_ms(&events, "169.254.11.0/30", 0, 1000), 750);
        assert_eq!(active_ms(&events, "169.254.12.0/30", 0, 1000), 0);
    }

    #[test]
    fn lines() {
        let l = r#"{"timestamp":"2026-12-05T14:47:41.519Z","connection":"aws","tunnel":"169.254.10.0/30","outside":"198.18.1.2:51820","event":"liveness","state":"down","detail":"Neighbor Signaled Session Down"}"#;
        let e = parse_line(l).expect("event");
        assert!(e.is("169.254.10.0/30", "liveness", "down"));
        assert_eq!(e.detail, "Neighbor Signaled Session Down");
        assert_eq!(parse_line("{}"), None);
        assert_eq!(parse_line("not json"), None);
    }
}
