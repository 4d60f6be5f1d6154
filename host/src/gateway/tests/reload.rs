//! Reload with a fake clock: in place, connections added, removed and
//! replaced, liveness timers through a Poll Sequence.

use super::*;

#[test]
fn a_reload_adds_a_static_route_in_place_and_a_dry_run_changes_nothing() {
    let fx = Fixture::new();
    let old = Arc::new(fx.parse(&fx.base()).expect("static config"));
    let mut h = Harness::new(old.clone(), Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.tick(Duration::from_millis(100));
    assert_eq!(h.routed("10.9.0.1"), None);
    let text = fx.base().replace(
        "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
        "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\", \"10.9.0.0/24\"]",
    );
    let new = Arc::new(fx.parse(&text).expect("new config"));
    let reload = |h: &mut Harness, id: u64, dry_run: bool| {
        h.event(Event::Admin {
            id: RequestId(id),
            command: AdminCommand::Reload {
                base: h.gw.config().clone(),
                cfg: new.clone(),
                plugins: Vec::new(),
                dry_run,
            },
        });
        h.settle(Duration::from_millis(1), &[0, 1]);
        h.reply(RequestId(id))
    };
    let dry = reload(&mut h, 1, true);
    assert_eq!(dry["applied"], false, "{dry}");
    assert_eq!(
        dry["changes"][0],
        "connection office: static routes + 10.9.0.0/24"
    );
    assert_eq!(h.routed("10.9.0.1"), None, "a dry run changes nothing");
    // What the driver publishes to the admin thread as the running config,
    // the base of the next reload's diff.
    assert!(Arc::ptr_eq(h.gw.config(), &old));
    let done = reload(&mut h, 2, false);
    assert_eq!(done["applied"], true, "{done}");
    assert!(Arc::ptr_eq(h.gw.config(), &new));
    // A reload lined up with the config before (its requester read it
    // before the one above was applied) is refused.
    h.event(Event::Admin {
        id: RequestId(3),
        command: AdminCommand::Reload {
            base: old.clone(),
            cfg: Arc::new(fx.parse(&fx.base()).expect("old config")),
            plugins: Vec::new(),
            dry_run: false,
        },
    });
    let stale = h.reply(RequestId(3));
    assert!(
        stale["error"]
            .as_str()
            .is_some_and(|e| e.contains(crate::gateway::reload::STALE_BASE)),
        "{stale}"
    );
    assert!(Arc::ptr_eq(h.gw.config(), &new));
    assert!(
        h.routed("10.9.0.1").is_some(),
        "the new static route is in the FIB"
    );
    assert!(
        !h.liveness.iter().any(|(_, s)| *s == State::Down),
        "no probe went down: {:?}",
        h.liveness
    );
}

/// A static connection "branch" of two tunnels after `base`.
const BRANCH: &str = r#"
[[connection]]
name = "branch"
routing = "static"
static_routes = ["10.30.0.0/24"]

[[connection.tunnel]]
endpoint = "az1"
remote = "198.18.30.2:51820"
remote_public_key = "FAR_KEY"
inside_cidr = "169.254.30.0/30"

[[connection.tunnel]]
endpoint = "az2"
remote = "198.18.30.2:51820"
remote_public_key = "FAR_KEY"
inside_cidr = "169.254.31.0/30"
"#;

impl Harness {
    /// Reloads `new` (lined up with the running config as the admin
    /// thread does) and returns the reply.
    fn reload(&mut self, id: u64, new: crate::config::GatewayConfig) -> serde_json::Value {
        let aligned = crate::gateway::reload::align(&self.gw.cfg, new);
        self.event(Event::Admin {
            id: RequestId(id),
            command: AdminCommand::Reload {
                base: self.gw.config().clone(),
                cfg: Arc::new(aligned),
                plugins: Vec::new(),
                dry_run: false,
            },
        });
        self.reply(RequestId(id))
    }
}

#[test]
fn a_reload_adds_and_removes_a_connection_and_the_running_session_never_notices() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    let office = config(&fx, "office", 20);
    let writes = h.writes.len();
    // The test config with "branch" appended.
    let text = format!(
        "{}\n{}",
        fx.base()
            .replace("routing = \"static\"\nstatic_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
                &format!("routing = \"dynamic\"\n\n[connection.bgp]\nremote_asn = {PEER_ASN}\nmax_prefixes = 20\n")),
        BRANCH.replace("FAR_KEY", &fx.far_pub)
    ) + "\n[bgp]\nnetworks = [\"10.2.0.0/24\"]\n";
    let added = fx.parse(&text).expect("config with branch");
    let reply = h.reload(1, added);
    assert_eq!(reply["applied"], true, "{reply}");
    assert!(
        reply["changes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c
                .as_str()
                .is_some_and(|c| c.starts_with("connection branch: added")))),
        "{reply}"
    );
    assert_eq!(h.tunnel_changes, vec![(vec![2, 3], vec![])]);
    // The new tunnels come up and carry their static route.
    h.probe_up_keeping(2, &[0, 1]);
    h.probe_up_keeping(3, &[0, 1, 2]);
    h.settle(Duration::from_millis(1), &[0, 1, 2, 3]);
    h.tick(Duration::from_millis(200));
    let branch = h.routed("10.30.0.1").expect("branch's route in the FIB");
    assert!(branch.iter().all(|t| *t == 2 || *t == 3), "{branch:?}");
    assert_eq!(
        h.routed("169.254.30.1"),
        Some(vec![2]),
        "inside /30 over its tunnel"
    );
    // The running session saw nothing but keepalives.
    assert_eq!(h.bgp_state(), "established");
    assert!(h.closed.is_empty(), "no connection closed: {:?}", h.closed);
    assert!(
        h.writes[writes..].iter().all(|w| w.get(18) == Some(&4)),
        "only keepalives went to the running peer"
    );
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]));

    // Back to the config without "branch": it is removed, office stays.
    let reply = h.reload(2, (*office).clone());
    assert_eq!(reply["applied"], true, "{reply}");
    assert!(
        reply["changes"][0]
            .as_str()
            .is_some_and(|c| c.starts_with("connection branch: removed")),
        "{reply}"
    );
    h.settle(Duration::from_millis(1), &[0, 1]);
    h.tick(Duration::from_millis(200));
    assert_eq!(h.routed("10.30.0.1"), None, "branch's route left the FIB");
    assert_eq!(
        h.routed("169.254.30.1"),
        Some(vec![2]),
        "its inside /30 stays for the sessions' goodbyes"
    );
    assert_eq!(h.tunnel_changes.last(), Some(&(vec![], vec![])));
    for _ in 0..6 {
        h.bfd(0, State::Up);
        h.bfd(1, State::Up);
        h.tick(Duration::from_millis(200));
    }
    assert_eq!(h.tunnel_changes.last(), Some(&(vec![], vec![2, 3])));
    assert_eq!(h.routed("169.254.30.1"), None, "then the /30 goes");
    assert_eq!(h.routed("11.0.0.1"), Some(vec![0]));
    assert_eq!(h.bgp_state(), "established");
    assert!(h.closed.is_empty());
    assert!(
        !h.liveness.iter().any(|(t, s)| *t < 2 && *s == State::Down),
        "office's probes never went down: {:?}",
        h.liveness
    );
    // Adding it again gives new ids: the old ones stay retired.
    let again = fx.parse(&text).expect("config with branch");
    let reply = h.reload(3, again);
    assert_eq!(reply["applied"], true, "{reply}");
    assert_eq!(h.tunnel_changes.last(), Some(&(vec![4, 5], vec![])));
}

/// The test config with its connection replaced by a static "branch".
fn branch_only(fx: &Fixture) -> String {
    fx.base()
        .split("[[connection]]")
        .next()
        .unwrap_or_default()
        .to_string()
        + &BRANCH.replace("FAR_KEY", &fx.far_pub)
}

#[test]
fn a_removed_bgp_connection_says_goodbye_and_its_routes_go() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    // Only a static "branch" is left.
    let reply = h.reload(1, fx.parse(&branch_only(&fx)).expect("branch only"));
    assert_eq!(reply["applied"], true, "{reply}");
    let changes = reply["changes"].to_string();
    assert!(changes.contains("connection office: removed"), "{changes}");
    assert!(changes.contains("connection branch: added"), "{changes}");
    // Cease / peer de-configured (RFC 4486 subcode 3), then the close.
    let notification = h
        .writes
        .iter()
        .rev()
        .find(|w| w.get(18) == Some(&3))
        .expect("a NOTIFICATION was sent");
    assert_eq!(notification.get(19..21), Some(&[6u8, 3][..]));
    assert_eq!(h.closed, vec![0]);
    let sent = h.sent_bfd.len();
    // The far side's packets on a retiring tunnel change nothing.
    let seen = h.liveness.len();
    for state in [State::Down, State::Init, State::Up, State::AdminDown] {
        h.bfd(0, state);
    }
    assert!(h.liveness[seen..].is_empty(), "{:?}", &h.liveness[seen..]);
    h.settle(Duration::from_millis(1), &[]);
    h.tick(Duration::from_millis(200));
    assert_eq!(
        h.routed("11.0.0.1"),
        None,
        "the learned routes are withdrawn"
    );
    assert_eq!(
        h.routed("169.254.10.1"),
        Some(vec![0]),
        "the Cease can still reach the peer"
    );
    h.tick(Duration::from_millis(1000));
    let retired = h.sent_bfd.len();
    assert_eq!(
        h.routed("169.254.10.1"),
        None,
        "then the tunnels' inside /30s leave"
    );
    assert!(
        h.tunnel_changes.contains(&(vec![], vec![0, 1])),
        "{:?}",
        h.tunnel_changes
    );
    // The retired session never comes back.
    let id = RequestId(9);
    h.event(Event::Admin {
        id,
        command: AdminCommand::Bgp,
    });
    let bgp = h.reply(id);
    assert_eq!(bgp["peers"].as_array().map(Vec::len), Some(0), "{bgp}");
    for _ in 0..100 {
        h.tick(Duration::from_millis(100));
    }
    assert_eq!(h.closed, vec![0]);
    // The removed tunnels said AdminDown (RFC 5880 section 6.8.16) until
    // they retired 1 s later (the far side's detection time is 0.6 s),
    // then nothing; the new ones probe.
    let goodbye: Vec<_> = h.sent_bfd[sent..retired]
        .iter()
        .filter(|(t, _)| *t < 2)
        .collect();
    assert!(
        goodbye.len() >= 4 && goodbye.iter().all(|(_, s)| *s == State::AdminDown),
        "the removed tunnels' goodbye: {goodbye:?}"
    );
    let after = &h.sent_bfd[retired..];
    assert!(
        after.iter().all(|(t, _)| *t >= 2) && !after.is_empty(),
        "once retired, probes go over the new tunnels only: {after:?}"
    );
}

#[test]
fn new_liveness_timers_apply_in_place_through_a_poll_sequence() {
    let fx = Fixture::new();
    let old = Arc::new(fx.parse(&fx.base()).expect("static config"));
    let mut h = Harness::new(old, Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    let text = fx.base().replace(
        "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
        "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]\n\n[connection.liveness]\n\
         interval_ms = 500\nmultiplier = 4",
    );
    let reply = h.reload(1, fx.parse(&text).expect("new config"));
    assert_eq!(reply["applied"], true, "{reply}");
    assert!(
        reply["changes"][0]
            .as_str()
            .is_some_and(|c| c.contains("liveness every")),
        "{reply}"
    );
    assert!(h.tunnel_changes.is_empty(), "no tunnel restarted");
    let sent = h.sent_packets.len();
    // The far side answers our Polls with Final and keeps sending.
    for _ in 0..30 {
        h.tick(Duration::from_millis(100));
        for t in 0..2 {
            let polled = h.sent_packets[sent..]
                .iter()
                .any(|(x, p)| *x == t && p.poll);
            h.bfd_with(t, State::Up, polled);
        }
    }
    let new: Vec<&ControlPacket> = h.sent_packets[sent..].iter().map(|(_, p)| p).collect();
    assert!(new.iter().any(|p| p.poll), "the new timers were polled");
    let last = new.last().expect("packets");
    assert_eq!((last.desired_min_tx_us, last.detect_mult), (500_000, 4));
    assert!(
        !h.liveness.iter().any(|(_, s)| *s == State::Down),
        "no probe went down: {:?}",
        h.liveness
    );
}

#[test]
fn our_network_is_refused_as_a_source_unless_a_static_route_names_it_exactly() {
    let fx = Fixture::new();
    let with = |statics: &str, networks: &str| {
        let text = fx.base().replace(
            "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
            &format!("static_routes = [{statics}]"),
        );
        fx.parse(&format!("{text}\n[bgp]\nnetworks = [{networks}]\n"))
            .expect("test config")
    };
    let ours = "\"10.2.0.0/24\"";
    let mut h = Harness::new(Arc::new(with("\"0.0.0.0/0\"", ours)), Budget::DEFAULT);
    h.probe_up(0);
    h.probe_up(1);
    h.settle(Duration::from_millis(1), &[0, 1]);
    let from = |h: &Harness, a: &str| {
        let fib = h.fib.as_ref().expect("a FIB");
        fib.source_allowed(a.parse().unwrap(), ConnectionId(0))
    };
    assert!(from(&h, "10.9.0.1"), "the default static route's sources");
    assert!(!from(&h, "10.2.0.5"), "ours, under the default");
    let steps = [
        (
            "\"0.0.0.0/0\", \"10.2.0.0/24\"",
            ours,
            true,
            "a static route names it",
        ),
        ("\"0.0.0.0/0\"", ours, false, "that static route removed"),
        ("\"0.0.0.0/0\"", "", true, "no longer ours"),
        ("\"0.0.0.0/0\"", ours, false, "ours again"),
    ];
    for (n, (statics, networks, allowed, why)) in steps.into_iter().enumerate() {
        let reply = h.reload(10 + n as u64, with(statics, networks));
        assert_eq!(reply["applied"], true, "{why}: {reply}");
        h.settle(Duration::from_millis(1), &[0, 1]);
        assert_eq!(from(&h, "10.2.0.5"), allowed, "{why}");
        assert!(from(&h, "10.9.0.1"), "{why}: the rest of the default");
    }
}

#[test]
fn a_replaced_connection_probes_its_tunnels_only_once_the_old_ones_are_gone() {
    let fx = Fixture::new();
    let mut h = learned(&fx, "office", 10, Budget::DEFAULT);
    // The same tunnels under another name: office goes, office-2 comes.
    let new = config(&fx, "office-2", 20);
    let reply = h.reload(1, (*new).clone());
    assert_eq!(reply["applied"], true, "{reply}");
    let changes = reply["changes"].to_string();
    assert!(
        changes.contains("connection office: removed")
            && changes.contains("connection office-2: added"),
        "{changes}"
    );
    let sent = h.sent_bfd.len();
    // Their WireGuard sessions are up: nothing else holds the probes back.
    for t in [2, 3] {
        h.handshake(t);
    }
    for _ in 0..9 {
        h.tick(Duration::from_millis(100));
    }
    let early = &h.sent_bfd[sent..];
    assert!(
        early.iter().all(|(t, s)| *t < 2 && *s == State::AdminDown),
        "while the replaced tunnels retire, only their AdminDown goes out (a new \
         session's Down would end the far side's session before the Cease reaches \
         it): {early:?}"
    );
    assert!(early.iter().any(|(t, _)| *t == 0) && early.iter().any(|(t, _)| *t == 1));
    for _ in 0..5 {
        h.tick(Duration::from_millis(100));
    }
    let later: Vec<usize> = h.sent_bfd[sent..].iter().map(|(t, _)| *t).collect();
    assert!(later.contains(&2) && later.contains(&3), "{later:?}");
}

#[test]
fn slow_timers_stretch_the_goodbye_to_the_far_sides_detection_time_up_to_a_cap() {
    let fx = Fixture::new();
    let slow = fx.base().replace(
        "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]",
        "static_routes = [\"10.1.0.0/24\", \"fd00:1::/64\"]\n\n[connection.liveness]\n\
         interval_ms = 1000\nmultiplier = 5",
    );
    let cfg = Arc::new(fx.parse(&slow).expect("slow timers"));
    let mut h = Harness::new(cfg, Budget::DEFAULT);
    // A packet of ours on each tunnel first (one a second): its
    // discriminator is what the far side answers to.
    for t in [0, 1] {
        h.handshake(t);
    }
    h.tick(Duration::from_millis(1100));
    h.probe_up(0);
    h.probe_up(1);
    // The same tunnels under another name: the connection is replaced.
    let renamed = slow.replace("name = \"office\"", "name = \"office-2\"");
    let reply = h.reload(1, fx.parse(&renamed).expect("renamed"));
    assert_eq!(reply["applied"], true, "{reply}");
    for t in [2, 3] {
        h.handshake(t);
    }
    let sent = h.sent_bfd.len();
    // The far side waits 5 s (1 s x 5) for us: AdminDown is said for the
    // cap, 3 s, and the new tunnels keep silent until then.
    for _ in 0..29 {
        h.tick(Duration::from_millis(100));
    }
    assert!(
        h.tunnel_changes
            .iter()
            .all(|(_, retired)| retired.is_empty()),
        "not retired at 2.9 s: {:?}",
        h.tunnel_changes
    );
    let goodbye = &h.sent_bfd[sent..];
    assert!(
        goodbye
            .iter()
            .all(|(t, s)| *t < 2 && *s == State::AdminDown),
        "{goodbye:?}"
    );
    for t in 0..2 {
        let n = goodbye.iter().filter(|(x, _)| *x == t).count();
        assert!(n >= 2, "tunnel {t} said AdminDown {n} times: {goodbye:?}");
    }
    for _ in 0..2 {
        h.tick(Duration::from_millis(100));
    }
    assert!(
        h.tunnel_changes.contains(&(vec![], vec![0, 1])),
        "retired by 3.1 s: {:?}",
        h.tunnel_changes
    );
    let then = h.sent_bfd.len();
    for _ in 0..20 {
        h.tick(Duration::from_millis(100));
    }
    let after = &h.sent_bfd[then..];
    assert!(
        !after.is_empty() && after.iter().all(|(t, _)| *t >= 2),
        "the new tunnels probe, the old ones are silent: {after:?}"
    );
}

#[test]
fn a_connection_removed_again_within_the_grace_still_says_goodbye_on_every_tunnel() {
    let fx = Fixture::new();
    let both = fx.base() + &BRANCH.replace("FAR_KEY", &fx.far_pub);
    let branch_only = branch_only(&fx);
    let mut h = Harness::new(Arc::new(fx.parse(&both).expect("both")), Budget::DEFAULT);
    for t in 0..4 {
        h.handshake(t);
    }
    h.tick(Duration::from_millis(300));
    // office removed (0, 1 retire), added back (4, 5, the same addresses),
    // removed again (4, 5 retire too), all within the grace.
    for (id, text) in [(1, &branch_only), (2, &both), (3, &branch_only)] {
        let reply = h.reload(id, fx.parse(text).expect("config"));
        assert_eq!(reply["applied"], true, "{reply}");
        if id == 2 {
            for t in [4, 5] {
                h.handshake(t);
            }
        }
    }
    assert_eq!(
        h.tunnel_changes,
        vec![(vec![], vec![]), (vec![4, 5], vec![]), (vec![], vec![])]
    );
    let sent = h.sent_bfd.len();
    for _ in 0..5 {
        h.tick(Duration::from_millis(100));
    }
    let goodbye: Vec<usize> = h.sent_bfd[sent..]
        .iter()
        .filter(|(t, s)| *t != 2 && *t != 3 && *s == State::AdminDown)
        .map(|(t, _)| *t)
        .collect();
    for t in [0, 1, 4, 5] {
        assert!(
            goodbye.contains(&t),
            "tunnel {t} says AdminDown, whatever else retires over its addresses: {goodbye:?}"
        );
    }
}
