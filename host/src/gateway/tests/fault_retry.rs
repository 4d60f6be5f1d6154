//! Routes the import filter plugin faulted on are filtered again later
//! (`routing/speaker/retry.rs`): a fault that passes costs a second, and a
//! route the plugin always faults on keeps only itself out.

use super::plugins::{chaos, routes_reply, slot_status, swap_with};
use super::*;

/// Turns until `at` after `since` (and the route work due by then), the
/// far side keeping both probes and the BGP session up.
fn run_until(h: &mut Harness, at: Duration, since: Instant) {
    let end = since + at;
    while h.now < end {
        h.settle_watching_queue(end.min(h.now + Duration::from_secs(5)));
        h.data(wire(&Message::Keepalive));
    }
}

/// The `bgp` answer's entry for the session over tunnel 0.
fn bgp_peer(h: &mut Harness, id: u64) -> serde_json::Value {
    h.event(Event::Admin {
        id: RequestId(id),
        command: AdminCommand::Bgp,
    });
    h.reply(RequestId(id))["peers"][0].clone()
}

#[test]
fn routes_refused_for_a_fault_that_passes_are_accepted_a_second_later() {
    let fx = Fixture::new();
    // The chaos plugin answers a "flaky" peer's first import call one
    // verdict short, and the later ones in full.
    let mut h = learned(&fx, "flaky", 10, Budget::DEFAULT);
    let reply = swap_with(&mut h, 1, chaos(Slot::BgpFilter), false, true);
    assert_eq!(reply["dry_run"], false, "{reply}");
    let faulted = h.now;
    assert_eq!(h.routed("11.0.0.1"), None, "fail closed");
    let routes = routes_reply(&mut h, 2, "11.0.9.0/24");
    assert_eq!(routes["routes"][0]["rejected_by_fault"], true, "{routes}");
    let peer = bgp_peer(&mut h, 5);
    assert_eq!(peer["prefixes_refused_for_fault"], 10, "{peer}");
    let retry_in = peer["fault_retry_in_s"].as_f64().unwrap_or(-1.0);
    assert!((0.9..=1.0).contains(&retry_in), "{peer}");

    run_until(&mut h, Duration::from_millis(900), faulted);
    assert_eq!(
        h.routed("11.0.0.1"),
        None,
        "no retry within the first second"
    );
    run_until(&mut h, Duration::from_millis(1100), faulted);
    for i in 0..10 {
        assert_eq!(
            h.routed(&format!("11.0.{i}.1")),
            Some(vec![0]),
            "11.0.{i}.0/24"
        );
    }
    let routes = routes_reply(&mut h, 3, "11.0.9.0/24");
    assert_eq!(routes["routes"][0]["accepted"], true, "{routes}");
    let peer = bgp_peer(&mut h, 6);
    assert_eq!(peer["prefixes_refused_for_fault"], 0, "{peer}");
    assert_eq!(peer.get("fault_retry_in_s"), None, "{peer}");
    let status = slot_status(&mut h, 4, "bgp-filter");
    assert_eq!(
        (status["faults"].as_u64(), &status["quarantined"]),
        (Some(1), &serde_json::Value::Bool(false)),
        "{status}"
    );
}

#[test]
fn a_route_the_filter_always_faults_on_keeps_only_itself_out() {
    let fx = Fixture::new();
    // The chaos plugin traps on any import call for a "poison" peer that
    // holds a /25. The harness's slot quarantines a plugin after three
    // consecutive faults: the retries' are not counted toward it.
    let mut h = learned(&fx, "poison", 10, Budget::DEFAULT);
    let reply = swap_with(&mut h, 1, chaos(Slot::BgpFilter), false, true);
    assert_eq!(reply["dry_run"], false, "{reply}");
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]), "no /25: accepted");

    // One UPDATE, so one call: the poison takes the others down with it.
    let innocent: Vec<IpNet> = (0..7)
        .map(|i| format!("12.0.{i}.0/24").parse().unwrap())
        .collect();
    let poison: IpNet = "12.0.9.0/25".parse().unwrap();
    let mut update = innocent.clone();
    update.push(poison);
    h.announce(&update);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let faulted = h.now;
    assert_eq!(h.routed("12.0.0.1"), None, "fail closed");
    assert_eq!(h.routed("12.0.9.1"), None, "fail closed");

    // Retries at 1 s (4 + 4: the half without the poison accepted, so the
    // bisection goes on 0.1 s later), 1.1 s (2 + 2), 1.2 s (1 + 1: all
    // seven in, the poison isolated), then the poison alone at 2.2, 4.2,
    // 8.2, 16.2, 32.2, 64.2 and 124.2 s, once a minute from then on. Each
    // retry faults once more.
    let mut seen = Vec::new();
    for at in [1_050, 1_150, 1_250, 2_250, 15_100, 124_300] {
        run_until(&mut h, Duration::from_millis(at), faulted);
        let accepted = innocent
            .iter()
            .filter(|net| match net {
                IpNet::V4(n) => h.routed(&n.network().to_string()).is_some(),
                IpNet::V6(_) => false,
            })
            .count();
        let status = slot_status(&mut h, at, "bgp-filter");
        assert_eq!(status["quarantined"], false, "{status}");
        seen.push((at, accepted, status["faults"].as_u64().unwrap_or(0)));
    }
    assert_eq!(
        seen,
        [
            (1_050, 4, 2),
            (1_150, 6, 3),
            (1_250, 7, 4),
            (2_250, 7, 5),
            (15_100, 7, 7),
            (124_300, 7, 11)
        ],
        "(ms after the fault, innocent routes in the FIB, faults)"
    );
    for net in &innocent {
        let routes = routes_reply(&mut h, 2, &net.to_string());
        assert_eq!(routes["routes"][0]["accepted"], true, "{net}: {routes}");
    }
    assert_eq!(h.routed("12.0.9.1"), None, "the poison stays out");
    let routes = routes_reply(&mut h, 3, "12.0.9.0/25");
    assert_eq!(routes["routes"][0]["rejected_by_fault"], true, "{routes}");
    let peer = bgp_peer(&mut h, 5);
    assert_eq!(peer["prefixes_refused_for_fault"], 1, "{peer}");
    let retry_in = peer["fault_retry_in_s"].as_f64().unwrap_or(-1.0);
    assert!(
        (59.0..=60.0).contains(&retry_in),
        "once a minute now: {peer}"
    );

    // New faults are retried a second later, not a minute.
    h.announce(&[
        "12.0.10.0/24".parse().unwrap(),
        "12.0.11.0/25".parse().unwrap(),
    ]);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let peer = bgp_peer(&mut h, 6);
    assert_eq!(peer["prefixes_refused_for_fault"], 3, "{peer}");
    let retry_in = peer["fault_retry_in_s"].as_f64().unwrap_or(-1.0);
    assert!((0.9..=1.0).contains(&retry_in), "{peer}");

    // The session goes down: nothing is refused, nothing waits.
    h.event(Event::Transport(TransportEvent::Closed {
        peer: PeerId(0),
        conn: h.conn,
    }));
    h.settle(Duration::from_millis(1), &[0, 1]);
    let peer = bgp_peer(&mut h, 7);
    assert_eq!(peer["prefixes_refused_for_fault"], 0, "{peer}");
    assert_eq!(peer.get("fault_retry_in_s"), None, "{peer}");
}
