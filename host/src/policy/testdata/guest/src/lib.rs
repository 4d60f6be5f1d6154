//! A misbehaving policy plugin for the host's tests: a test fixture, not an
//! example to copy. It exports all three slots (or only `failover` with the
//! feature `only-failover`) and misbehaves when the input asks it to: the
//! trigger is the first connection's name (failover), the first candidate's
//! connection (selection) or the peer's connection (filter). It owns nothing
//! in the host and must not be loaded outside tests.

use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(not(any(feature = "only-failover", feature = "extra-import")))]
wit_bindgen::generate!({
    path: "../../../../../wit",
    inline: "
        package sitelink:chaos;
        world chaos {
            include sitelink:policy/failover@0.3.0;
            include sitelink:policy/route-selection@0.3.0;
            include sitelink:policy/bgp-filter@0.3.0;
        }
    ",
    world: "sitelink:chaos/chaos",
    generate_all,
});

#[cfg(feature = "extra-import")]
wit_bindgen::generate!({
    path: "../../../../../wit",
    inline: "
        package sitelink:chaos;
        interface unknown {
            poke: func() -> u32;
        }
        world chaos {
            import unknown;
            include sitelink:policy/failover@0.3.0;
            include sitelink:policy/route-selection@0.3.0;
            include sitelink:policy/bgp-filter@0.3.0;
        }
    ",
    world: "sitelink:chaos/chaos",
    generate_all,
});

#[cfg(feature = "only-failover")]
wit_bindgen::generate!({
    path: "../../../../../wit",
    world: "sitelink:policy/failover@0.3.0",
    generate_all,
});

use exports::sitelink::policy::about;
use exports::sitelink::policy::weights::{self, ConnectionHealth};
use sitelink::policy::{log, params};

static CALLS: AtomicU32 = AtomicU32::new(0);

#[cfg(feature = "start-loop")]
#[used]
#[link_section = ".init_array"]
static START: extern "C" fn() = {
    extern "C" fn start() {
        #[allow(clippy::empty_loop)]
        loop {}
    }
    start
};

struct Chaos;

/// Misbehaves as `trigger` asks; returns normally for other triggers.
fn common(trigger: &str) {
    match trigger {
        "trap" => panic!("asked to trap"),
        "loop" =>
        {
            #[allow(clippy::empty_loop)]
            loop {}
        }
        "alloc" => {
            let big = vec![1u8; 1 << 30];
            std::hint::black_box(&big);
        }
        "sleep" => std::thread::sleep(std::time::Duration::from_secs(3600)),
        "wait" => {
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_secs(1) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        "stdout" => {
            println!("hello on stdout");
            eprintln!("hello on stderr");
            log::log(log::Level::Warn, "hello in the log");
        }
        #[cfg(feature = "extra-import")]
        "poke" => {
            sitelink::chaos::unknown::poke();
        }
        _ => {}
    }
}

/// 1, plus a bit for every door of the sandbox that turned out open.
fn sandbox_probe() -> u32 {
    let mut w = 1;
    if std::env::vars().next().is_some() {
        w += 2;
    }
    if std::env::args().next().is_some() {
        w += 4;
    }
    if std::fs::read_dir("/").is_ok() || std::fs::read_dir(".").is_ok() {
        w += 8;
    }
    if std::net::TcpStream::connect("127.0.0.1:22").is_ok() {
        w += 16;
    }
    if std::net::UdpSocket::bind("0.0.0.0:0").is_ok() {
        w += 32;
    }
    w
}

impl about::Guest for Chaos {
    fn name() -> String {
        params::get("name").unwrap_or_else(|| "chaos".to_string())
    }
    fn version() -> String {
        "0.0.1".to_string()
    }
}

impl weights::Guest for Chaos {
    fn decide(connections: Vec<ConnectionHealth>) -> Vec<Vec<u32>> {
        let n = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        let trigger = connections
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        common(&trigger);
        let mut out: Vec<Vec<u32>> = connections
            .iter()
            .map(|c| {
                let w = match trigger.as_str() {
                    "bad-value" => 1001,
                    "zero" => 0,
                    "count" => n,
                    "param" => params::get("weight")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(7),
                    "entries" => params::entries().len() as u32,
                    "sandbox" => sandbox_probe(),
                    _ => 100,
                };
                vec![w; c.tunnels.len()]
            })
            .collect();
        if trigger == "bad-len" {
            out.pop();
        }
        if trigger == "bad-inner-len" {
            if let Some(first) = out.first_mut() {
                first.push(100);
            }
        }
        out
    }
}

#[cfg(not(feature = "only-failover"))]
mod other_slots {
    use super::*;
    use exports::sitelink::policy::filter::{self, Peer, Verdict, Verdicts};
    use exports::sitelink::policy::selection::{self, Candidate, PrefixCandidates, Selected, Via};
    use sitelink::policy::types::{AttributeSet, AttributeSets, Attributes, LargeCommunity, Route};

    /// Set `i` of a batch as an owned record: its lists are the pools'
    /// slices between the previous set's ends and its own.
    fn set(sets: &AttributeSets, i: u32) -> Attributes {
        let i = i as usize;
        let s = &sets.sets[i];
        let before = |end: fn(&AttributeSet) -> u32| {
            i.checked_sub(1).map_or(0, |p| end(&sets.sets[p]) as usize)
        };
        Attributes {
            next_hop: s.next_hop,
            as_path: sets.as_paths[before(|s| s.as_path_end)..s.as_path_end as usize].to_vec(),
            origin: s.origin,
            med: s.med,
            local_pref: s.local_pref,
            communities: sets.communities
                [before(|s| s.communities_end)..s.communities_end as usize]
                .to_vec(),
            large_communities: sets.large_communities
                [before(|s| s.large_communities_end)..s.large_communities_end as usize]
                .to_vec(),
        }
    }

    impl selection::Guest for Chaos {
        /// No, unless the parameter `lone` is `install`: by default it is
        /// asked about every prefix (the faults are triggered by its
        /// candidates, lone ones included).
        fn installs_lone_candidate() -> bool {
            params::get("lone").as_deref() == Some("install")
        }

        fn select(
            _attributes: AttributeSets,
            vias: Vec<Via>,
            prefixes: Vec<PrefixCandidates>,
            candidates: Vec<Candidate>,
        ) -> Selected {
            // The first candidate is the first prefix's, when it has one.
            let trigger = prefixes
                .first()
                .filter(|p| p.candidates_end > 0)
                .and_then(|_| candidates.first())
                .and_then(|c| vias.get(c.via as usize))
                .map(|v| v.connection.clone())
                .unwrap_or_default();
            common(&trigger);
            let mut start = 0;
            let mut out: Vec<Vec<u32>> = prefixes
                .iter()
                .map(|p| {
                    let n = p
                        .candidates_end
                        .checked_sub(start)
                        .expect("candidate ends out of order");
                    start = p.candidates_end;
                    match trigger.as_str() {
                        "bad-value" => vec![n],
                        "dup" if n > 0 => vec![0, 0],
                        "refuse" => Vec::new(),
                        _ => (0..n).collect(),
                    }
                })
                .collect();
            if trigger == "bad-len" {
                out.push(Vec::new());
            }
            let mut selected = Selected {
                indexes: Vec::new(),
                ends: Vec::new(),
            };
            for list in out {
                selected.indexes.extend(list);
                selected.ends.push(selected.indexes.len() as u32);
            }
            if trigger == "bad-end" {
                if let Some(last) = selected.ends.last_mut() {
                    *last = u32::MAX;
                }
            }
            selected
        }
    }

    fn verdicts(peer: &Peer, attributes: AttributeSets, routes: Vec<Route>) -> Verdicts {
        common(&peer.connection);
        let mut changed: Vec<Attributes> = Vec::new();
        let mut out: Vec<Verdict> = routes
            .into_iter()
            .map(|r| match peer.connection.as_str() {
                // A set the answer does not list.
                "bad-value" => Verdict::Modify(u32::MAX),
                "reject" => Verdict::Reject,
                "prepend" => {
                    let mut a = set(&attributes, r.attributes);
                    a.as_path.insert(0, peer.asn);
                    changed.push(a);
                    Verdict::Modify(changed.len() as u32 - 1)
                }
                // Answers past the contract's bounds.
                "long-path" | "many-communities" | "many-large" | "many-sets" => {
                    let mut a = set(&attributes, r.attributes);
                    match peer.connection.as_str() {
                        "long-path" => a.as_path = vec![peer.asn; 10_000],
                        "many-communities" => a.communities = (0..100_000).collect(),
                        "many-large" => {
                            a.large_communities = (0..10_000)
                                .map(|i| LargeCommunity {
                                    global_admin: peer.asn,
                                    local_data1: i,
                                    local_data2: i,
                                })
                                .collect()
                        }
                        _ => changed.push(a.clone()),
                    }
                    changed.push(a);
                    Verdict::Modify(changed.len() as u32 - 1)
                }
                _ => Verdict::Accept,
            })
            .collect();
        if peer.connection == "bad-len" {
            out.pop();
        }
        Verdicts {
            attributes: changed,
            verdicts: out,
        }
    }

    /// Import calls for a `flaky` peer so far: the first one faults.
    static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

    impl filter::Guest for Chaos {
        fn import_filter(peer: Peer, attributes: AttributeSets, routes: Vec<Route>) -> Verdicts {
            match peer.connection.as_str() {
                // A fault that passes: the first import call answers one
                // verdict short (a trap would start a new instance, and
                // the count with it), the next ones answer in full.
                "flaky" => {
                    let mut answer = verdicts(&peer, attributes, routes);
                    if FLAKY_CALLS.fetch_add(1, Ordering::Relaxed) == 0 {
                        answer.verdicts.pop();
                    }
                    return answer;
                }
                // A poison route: an import call holding a /25 traps.
                "poison" if routes.iter().any(|r| r.prefix.length == 25) => {
                    panic!("asked to trap on a /25")
                }
                _ => {}
            }
            verdicts(&peer, attributes, routes)
        }
        fn export_filter(peer: Peer, attributes: AttributeSets, routes: Vec<Route>) -> Verdicts {
            verdicts(&peer, attributes, routes)
        }
    }
}

export!(Chaos);
