//! Probe timing with the fake clock: a probe goes out before a turn's
//! route work, and an echo's round trip ends when the data path read the
//! reply, not when the control loop got to it.

use super::*;

/// The base VGW, its tunnels probed by ICMP echo.
fn echo_config(fx: &Fixture) -> Arc<crate::config::GatewayConfig> {
    let text = fx.base().replacen(
        "[[connection.tunnel]]",
        "[connection.liveness]\nmode = \"echo\"\n\n[[connection.tunnel]]",
        1,
    );
    Arc::new(fx.parse(&text).expect("test config"))
}

#[test]
fn an_echo_round_trip_ends_when_the_reply_was_read() {
    let fx = Fixture::new();
    let mut h = Harness::new(echo_config(&fx), Budget::DEFAULT);
    h.handshake(0);
    let start = h.now;
    let (seq, sent) = loop {
        h.now += Duration::from_millis(10);
        h.gw.handle_timeout(h.now);
        let mut seq = None;
        while let Some(action) = h.gw.poll_action() {
            if let Action::SendEcho { tunnel, seq: s } = action {
                seq = seq.or((tunnel == TunnelId(0)).then_some(s));
            }
        }
        if let Some(seq) = seq {
            break (seq, h.now);
        }
        assert!(h.now - start < Duration::from_secs(10), "no echo sent");
    };
    // The reply was read 3 ms after the request went; the control loop,
    // busy with a turn, handles it 40 ms after.
    h.gw.handle(
        Event::Probe {
            tunnel: TunnelId(0),
            kind: ProbeKind::EchoReply { seq },
            payload: Vec::new(),
            received: sent + Duration::from_millis(3),
        },
        sent + Duration::from_millis(40),
    );
    let mut rtt = None;
    while let Some(action) = h.gw.poll_action() {
        if let Action::ProbeStats { tunnel, stats } = action {
            rtt = rtt.or((tunnel == TunnelId(0)).then_some(stats.rtt).flatten());
        }
    }
    assert_eq!(rtt, Some(Duration::from_millis(3)));
}

/// The driver sends what `handle_timers` queued before it runs the route
/// work: a probe due in a turn with a table to take in is queued by the
/// timers alone, and the routes wait for `work_within`.
#[test]
fn a_turn_queues_its_probes_before_its_route_work() {
    let fx = Fixture::new();
    let mut h = Harness::new(config(&fx, "office", 10_000), ROUTE_TURNS);
    h.probe_up(0);
    h.probe_up(1);
    h.session_up();
    h.announce(&prefixes(5_000));
    let queued = h.gw.backlog();
    assert!(queued > 0, "routes wait for the route work");
    let mut at = h.now;
    loop {
        at += Duration::from_millis(50);
        h.gw.handle_timers(at);
        let mut probe = false;
        while let Some(action) = h.gw.poll_action() {
            probe |= matches!(action, Action::SendBfd { .. });
        }
        assert_eq!(h.gw.backlog(), queued, "no route work yet");
        if probe {
            break;
        }
        assert!(at - h.now < Duration::from_secs(2), "no probe was due");
    }
    h.gw.work_within(at, ROUTE_TURNS);
    assert!(h.gw.backlog() < queued, "the route work ran");
}
