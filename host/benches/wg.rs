//! Benchmark of one tunnel's sealing and opening: boringtun 0.6's `Tunn`
//! (one `&mut`, so one core) against our `wg::Session` (sealing through
//! `&self`, here on 1 and 2 threads of one session), 1420-byte payloads,
//! plain `std::time`, the median of 5 runs, printed as a markdown table.
//! Run: `cargo bench -p sitelink --bench wg` (release), or quicker to build:
//! `cargo bench -p sitelink --bench wg --profile dev --config
//! 'profile.dev.package.sitelink.opt-level=3'`. This file owns only
//! measurement; it must not assert anything beyond the setup working.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use boringtun::noise::{Tunn, TunnResult};
use rand_core::OsRng;
use sitelink::wg::{Outcome, Peer, PeerConfig, StaticKeys, Tai64nClock};
use x25519_dalek::{PublicKey, StaticSecret};

const PAYLOAD: usize = 1420;
const PACKETS: usize = 100_000;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ipv4(len: usize) -> Vec<u8> {
    let mut p = vec![0x5a; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[12..20].copy_from_slice(&[169, 254, 0, 1, 169, 254, 0, 2]);
    p
}

/// Our initiator with a boringtun responder, handshake done.
fn setup() -> (Peer<OsRng>, Tunn) {
    let ours = StaticSecret::random_from_rng(OsRng);
    let theirs = StaticSecret::random_from_rng(OsRng);
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut peer = Peer::new(
        Arc::new(StaticKeys::new(ours.clone())),
        PeerConfig {
            remote_public: PublicKey::from(&theirs),
            preshared_key: None,
            persistent_keepalive: None,
            index_base: 1,
            clock: Tai64nClock::new(now, wall),
        },
        OsRng,
    )
    .expect("peer");
    let mut bt = Tunn::new(theirs, PublicKey::from(&ours), None, None, 2, None).expect("tunn");
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    let ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut a = vec![0u8; 2048];
    let mut b = vec![0u8; 2048];
    let n = peer.initiate(now, &mut a).expect("initiate");
    let TunnResult::WriteToNetwork(resp) = bt.decapsulate(ip, &a[..n], &mut b) else {
        panic!("no response");
    };
    let resp = resp.to_vec();
    let Ok(Outcome::Reply(k)) = peer.decapsulate(src, &resp, &mut a, now, false) else {
        panic!("no keepalive");
    };
    let _ = bt.decapsulate(ip, &a[..k], &mut b);
    (peer, bt)
}

fn gbps(d: Duration, packets: usize) -> f64 {
    (packets * PAYLOAD * 8) as f64 / d.as_secs_f64() / 1e9
}

fn main() {
    let (peer, mut bt) = setup();
    let session = peer.current().expect("session");
    let pkt = ipv4(PAYLOAD);
    let now = Instant::now();
    let mut rows = Vec::new();

    let bt_seal = median(
        (0..RUNS)
            .map(|_| {
                let mut out = vec![0u8; 2048];
                let t = Instant::now();
                for _ in 0..PACKETS {
                    if let TunnResult::WriteToNetwork(b) = bt.encapsulate(&pkt, &mut out) {
                        black_box(b.len());
                    }
                }
                t.elapsed()
            })
            .collect(),
    );
    rows.push(("boringtun Tunn::encapsulate, 1 thread", bt_seal, PACKETS));

    for threads in [1usize, 2] {
        let d = median(
            (0..RUNS)
                .map(|_| {
                    let t = Instant::now();
                    thread::scope(|s| {
                        for _ in 0..threads {
                            let session = &session;
                            let pkt = &pkt;
                            s.spawn(move || {
                                let mut out = vec![0u8; 2048];
                                for _ in 0..PACKETS {
                                    let r = session.seal(pkt, &mut out, now);
                                    black_box(r.ok());
                                }
                            });
                        }
                    });
                    t.elapsed()
                })
                .collect(),
        );
        let name = if threads == 1 {
            "wg::Session::seal, 1 thread"
        } else {
            "wg::Session::seal, 2 threads, one session"
        };
        rows.push((name, d, PACKETS * threads));
    }

    // Opening: boringtun's sealed packets opened by our session, and ours by
    // boringtun (each datagram once, in order).
    let theirs: Vec<Vec<u8>> = (0..PACKETS)
        .map(|_| {
            let mut out = vec![0u8; 2048];
            match bt.encapsulate(&pkt, &mut out) {
                TunnResult::WriteToNetwork(b) => b.to_vec(),
                _ => Vec::new(),
            }
        })
        .collect();
    let mut out = vec![0u8; 2048];
    let t = Instant::now();
    let mut peer = peer;
    let src = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    for d in &theirs {
        black_box(peer.decapsulate(src, d, &mut out, now, false).ok());
    }
    rows.push((
        "wg::Peer::decapsulate (open), 1 thread",
        t.elapsed(),
        PACKETS,
    ));
    let ours: Vec<Vec<u8>> = (0..PACKETS)
        .map(|_| {
            let mut o = vec![0u8; 2048];
            let n = session.seal(&pkt, &mut o, now).map(|r| r.0).unwrap_or(0);
            o.truncate(n);
            o
        })
        .collect();
    let ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let t = Instant::now();
    for d in &ours {
        let r = bt.decapsulate(ip, d, &mut out);
        black_box(matches!(r, TunnResult::WriteToTunnelV4(..)));
    }
    rows.push((
        "boringtun Tunn::decapsulate (open), 1 thread",
        t.elapsed(),
        PACKETS,
    ));

    println!("| {PAYLOAD}-byte payloads | packets | time | Gbit/s |");
    println!("| --- | --- | --- | --- |");
    for (name, d, n) in rows {
        println!("| {name} | {n} | {d:.2?} | {:.2} |", gbps(d, n));
    }
}
