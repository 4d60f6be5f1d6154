//! The fuzz targets' bodies: what sitelink does with bytes from outside,
//! each with the properties that must hold whatever the bytes are. A body
//! panics only when a property fails (a panic of the code under test counts
//! the same way). The `fuzz_targets/` wrappers hand them to libFuzzer; the
//! host's `tests/fuzz_corpus.rs` runs them over the seed corpora in
//! `fuzz/corpus/` and mutations of those on stable Rust, in CI.
//!
//! Owns: the input framing of each target (which byte chooses what) and the
//! properties. Must not: touch the network, write files, or depend on
//! anything but `sitelink`, `tun-rs`, `boringtun` and std (the host's test includes this
//! file as a module).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use sitelink::bgp::codec::{self, Context};
use sitelink::bgp::fsm::{Session, SessionConfig};
use sitelink::bgp::message::Message;
use sitelink::liveness::bfd::ControlPacket;
use sitelink::policy::bindings::wire;
use sitelink::policy::gen::{self, XorShift};
use sitelink::policy::{batch, validate, Attributes, IpAddress, LargeCommunity, Origin, Verdict};

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target, by name, as `scripts/fuzz.sh` and the corpus test know them.
pub const TARGETS: &[(&str, Body)] = &[
    ("bgp_message", bgp_message),
    ("bgp_session", bgp_session),
    ("config", config),
    ("probe_packets", probe_packets),
    ("admin_request", admin_request),
    ("tun_packet", tun_packet),
    ("plugin_answers", plugin_answers),
];

/// One BGP message as read off a session (first byte: bit 0 = 4-octet AS
/// negotiated). Framing and decoding never panic; a message that decodes encodes again (unless the encoder refuses it with
/// an error) to bytes that decode to the same message, but for what only
/// the decoder notes (RFC 7606's treat-as-withdraw and discarded
/// attributes) and how unknown attributes are passed on (in type order,
/// with the Partial bit); and those bytes are a fixed point: decoded and
/// encoded again, they are the same bytes.
pub fn bgp_message(data: &[u8]) {
    let Some((&flags, frame)) = data.split_first() else {
        return;
    };
    let ctx = Context {
        four_octet_as: flags & 1 == 1,
    };
    let _ = codec::frame_len(frame);
    let Ok(msg) = codec::decode(frame, &ctx) else {
        return;
    };
    let mut out = Vec::new();
    if codec::encode(&msg, &ctx, &mut out).is_ok() {
        let again = match codec::decode(&out, &ctx) {
            Ok(again) => again,
            Err(e) => panic!("our own encoding of {msg:?} does not decode: {e:?}"),
        };
        let mut out2 = Vec::new();
        let encoded = codec::encode(&again, &ctx, &mut out2);
        assert!(
            encoded.is_ok() && out2 == out,
            "not a fixed point: {again:?}"
        );
        assert_eq!(sent_on(again), sent_on(msg), "decode(encode(m)) != m");
    }
}

/// `msg` without what only the decoder notes, its unknown attributes in
/// type order and without their flags.
fn sent_on(mut msg: Message) -> Message {
    if let Message::Update(update) = &mut msg {
        update.treat_as_withdraw = None;
        update.discarded.clear();
        if let Some(attrs) = &mut update.attributes {
            attrs.unknown.sort_by_key(|raw| raw.type_code);
            for raw in &mut attrs.unknown {
                raw.flags = 0;
            }
        }
    }
    msg
}

/// A BGP session (passive or active, first byte bit 0; graceful restart
/// offered, bit 1) fed a TCP stream in chunks, with timers between them.
/// After the first byte, each step is one byte: 0xff = the clock moves on
/// by the next byte's count of seconds and the timers run; 0xfe = the TCP
/// connection fails and a new one comes; n = the next n bytes arrive.
/// Nothing panics, and no timer is set further out than the RFCs allow.
pub fn bgp_session(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let mut session = Session::new(SessionConfig {
        passive: flags & 1 == 1,
        graceful_restart: (flags & 2 == 2).then_some(120),
        ..SessionConfig::new(65000, 65001, Ipv4Addr::new(192, 0, 2, 1))
    });
    session.start(now);
    session.tcp_connected(now);
    while let Some((&op, tail)) = rest.split_first() {
        match op {
            0xff => {
                let secs = tail.first().copied().unwrap_or(1);
                now += Duration::from_secs(u64::from(secs));
                rest = tail.get(1..).unwrap_or_default();
                session.handle_timeout(now);
            }
            0xfe => {
                rest = tail;
                session.tcp_failed(now);
                session.tcp_connected(now);
            }
            n => {
                let (chunk, tail) = tail.split_at(usize::from(n).min(tail.len()));
                rest = tail;
                session.received(chunk, now);
            }
        }
        if let Some(at) = session.poll_timeout() {
            // A timer is never set further out than the longest one the
            // RFCs allow (hold time 65,535 s; restart time 4,095 s).
            assert!(
                at <= now + Duration::from_secs(65_535 + 1),
                "timer {:?} ahead",
                at - now
            );
        }
    }
}

/// A configuration file (UTF-8 text). Parsing and every check never
/// panic and an error says something. Relative paths resolve under a
/// directory that does not exist, so nothing on the machine is read but
/// what an absolute path names (read, never written); the private key file
/// is not read either: a fixed key stands for it, so the checks after it
/// (tunnels, connections, BGP, plugins, data path) are reached too.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = Path::new("/nonexistent/sitelink-fuzz");
    let key = |_: &Path| Ok(boringtun::x25519::StaticSecret::from([7u8; 32]));
    if let Err(e) = sitelink::config::parse_with_keys(text, Path::new("fuzz.toml"), base, &key) {
        let shown = e.to_string();
        assert!(!shown.is_empty(), "an error says what is wrong");
    }
}

/// A packet read from the TUN device that may be a liveness probe: a BFD
/// control packet (IPv4 or IPv6, UDP 3784) or an ICMP echo reply. A BFD
/// body that decodes encodes to the same packet.
pub fn probe_packets(data: &[u8]) {
    let local4 = Ipv4Addr::new(169, 254, 10, 2);
    let local6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    for local in [IpAddr::V4(local4), IpAddr::V6(local6)] {
        if let Some(body) = sitelink::packet::parse_bfd(data, local) {
            bfd_body(body);
        }
    }
    let _ = sitelink::packet::parse_echo_reply(data, local4, Ipv4Addr::new(169, 254, 10, 1), 7);
    bfd_body(data);
}

fn bfd_body(body: &[u8]) {
    if let Ok(packet) = ControlPacket::decode(body) {
        let encoded = packet.encode();
        assert_eq!(ControlPacket::decode(&encoded).ok(), Some(packet));
    }
}

/// A line on the admin socket. Parsing never panics; a request that parses
/// serialises to a line that parses to the same request.
pub fn admin_request(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = sitelink::api::Envelope::parse(line) {
        let again = request.to_line().expect("a parsed request serialises");
        assert_eq!(
            sitelink::api::Envelope::parse(&again).ok(),
            Some(request),
            "{again}"
        );
    }
}

/// What the data path does with packets from the TUN device and on their
/// way to it (first byte: the MTU and queue count to use, and flags): MSS
/// clamping and flow hashing of one packet; a super-packet with its virtio
/// header split into segments (`recv_multiple`); the rest cut into packets
/// by a length byte each and coalesced for one write (`send_multiple`).
pub fn tun_packet(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut pkt = rest.to_vec();
    sitelink::packet::clamp_mss(&mut pkt, 576 + u16::from(sel) * 8);
    assert_eq!(pkt.len(), rest.len(), "clamping never resizes a packet");
    let queues = usize::from(sel % 8) + 1;
    assert!(sitelink::dataplane::flow_queue(rest, queues) < queues);

    if let Ok(hdr) = tun_rs::VirtioNetHdr::decode(rest) {
        let mut input = rest
            .get(tun_rs::VIRTIO_NET_HDR_LEN..)
            .unwrap_or_default()
            .to_vec();
        let mut bufs = vec![vec![0u8; 1500]; 16];
        let mut sizes = vec![0usize; 16];
        let _ = tun_rs::gso_split(&mut input, hdr, &mut bufs, &mut sizes, 0, sel & 1 == 1);
    }

    let mut packets = Vec::new();
    let mut left = rest;
    while let Some((&len, tail)) = left.split_first() {
        let (p, tail) = tail.split_at(usize::from(len).min(tail.len()));
        let mut buf = vec![0u8; tun_rs::VIRTIO_NET_HDR_LEN];
        buf.extend_from_slice(p);
        packets.push(buf);
        left = tail;
    }
    let mut gro = tun_rs::GROTable::default();
    let _ = gro.apply_gro(&mut packets, tun_rs::VIRTIO_NET_HDR_LEN, sel & 2 == 2);
}

/// A plugin's answer as it crosses the WIT boundary, for a batch the host
/// generated (first byte: the slot, and a seed for the batch; then the
/// answer, read off the bytes). The host's checks never panic; an answer
/// they take keeps the contract: for a filter, a verdict per route, each
/// `modify` naming a set within the bounds (a route modified past them is
/// rejected), and a route with what the plugin set (on attributes that
/// carry nothing else) fits one UPDATE for 2- and 4-octet peers, IPv4 and
/// IPv6; for selection and
/// failover, the shapes and ranges `wit/policy.wit` gives.
pub fn plugin_answers(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = Bytes(rest);
    let mut rng = XorShift::new(u64::from(sel) + 1);
    let n = usize::from(bytes.byte() % 12);
    match sel % 3 {
        0 => filter_answer(gen::routes(&mut rng, n), &mut bytes),
        1 => {
            // As it crosses: the indexes of every prefix end to end, an
            // end per prefix.
            let input = gen::prefix_candidates(&mut rng, n);
            let flat = lists(&mut bytes, 8);
            let answer = wire::Selected {
                indexes: flat.iter().flatten().copied().collect(),
                ends: flat
                    .iter()
                    .map(|l| l.len() as u32)
                    .map(|n| match bytes.byte() {
                        0xff => bytes.u32(),
                        _ => n,
                    })
                    .scan(0u32, |end, n| {
                        *end = end.wrapping_add(n);
                        Some(*end)
                    })
                    .collect(),
            };
            let Ok(answer) = batch::selected(answer, input.len()) else {
                return;
            };
            if validate::selection(&input, &answer).is_ok() {
                assert_eq!(answer.len(), input.len());
                for (p, chosen) in input.iter().zip(&answer) {
                    let mut seen = std::collections::BTreeSet::new();
                    for &i in chosen {
                        assert!((i as usize) < p.candidates.len() && seen.insert(i));
                    }
                }
            }
        }
        _ => {
            let input = gen::connections(&mut rng, n);
            let answer = lists(&mut bytes, 1100);
            if validate::weights(&input, &answer).is_ok() {
                assert_eq!(answer.len(), input.len());
                for (c, w) in input.iter().zip(&answer) {
                    assert_eq!(w.len(), c.tunnels.len());
                    assert!(w.iter().all(|&w| w <= 1000));
                    assert!(w.is_empty() || w.iter().any(|&w| w > 0));
                }
            }
        }
    }
}

/// A filter's answer for `routes`, checked and, if taken, advertised.
fn filter_answer(routes: Vec<sitelink::policy::Route>, bytes: &mut Bytes) {
    let sets = (0..bytes.byte() % 4).map(|_| answer_set(bytes)).collect();
    let verdicts = (0..bytes.byte() % 16)
        .map(|_| match bytes.byte() % 3 {
            0 => wire::Verdict::Reject,
            1 => wire::Verdict::Accept,
            _ => wire::Verdict::Modify(u32::from(bytes.byte() % 5)),
        })
        .collect();
    let answer = wire::Verdicts {
        attributes: sets,
        verdicts,
    };
    let Ok(taken) = batch::verdicts(&routes, answer) else {
        return;
    };
    assert_eq!(taken.verdicts.len(), routes.len());
    for verdict in &taken.verdicts {
        if let Verdict::Modify(set) = verdict {
            assert!(set.as_path.len() <= batch::MAX_AS_PATH);
            assert!(set.communities.len() <= batch::MAX_COMMUNITIES);
            assert!(set.large_communities.len() <= batch::MAX_LARGE_COMMUNITIES);
            assert_fits_one_update(set);
        }
    }
}

/// A route with `set`, as sent to an external peer (our ASN prepended),
/// encodes to one UPDATE for a 2- and a 4-octet peer, IPv4 and IPv6.
fn assert_fits_one_update(set: &Attributes) {
    use sitelink::bgp::message::{Family, PathAttributes};
    let mut set = set.clone();
    set.as_path.insert(0, 4_200_000_000);
    let original = PathAttributes {
        next_hop: Some(Ipv4Addr::new(169, 254, 10, 1)),
        ..PathAttributes::default()
    };
    let attrs = sitelink::routing::wit_route::modified(&original, &set);
    let sizes = format!(
        "{} ASNs, {} communities, {} large",
        set.as_path.len(),
        set.communities.len(),
        set.large_communities.len()
    );
    let v4 = ["203.0.113.7/32".parse().expect("a prefix")];
    let v6 = ["2001:db8:1:2:3:4:5:6/128".parse().expect("a prefix")];
    let hops6: [IpAddr; 2] = [
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(),
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).into(),
    ];
    for four_octet_as in [false, true] {
        let ctx = Context { four_octet_as };
        let sent = codec::encode_announcements(
            &attrs,
            Family::IPV4_UNICAST,
            &[Ipv4Addr::new(169, 254, 10, 1).into()],
            &v4,
            &ctx,
        );
        assert_eq!(sent.len(), 1, "IPv4, 4-octet AS {four_octet_as}: {sizes}");
        let sent = codec::encode_announcements(&attrs, Family::IPV6_UNICAST, &hops6, &v6, &ctx);
        assert_eq!(sent.len(), 1, "IPv6, 4-octet AS {four_octet_as}: {sizes}");
    }
}

/// An attribute set as a plugin might answer it: lengths from the bytes,
/// up to past the bounds.
fn answer_set(bytes: &mut Bytes) -> Attributes {
    let len = |bytes: &mut Bytes, max: u16| usize::from(bytes.u16() % max);
    let as_path = (0..len(bytes, 300)).map(|i| 70_000 + i as u32).collect();
    let communities = (0..len(bytes, 300)).map(|i| i as u32).collect();
    let large_communities = (0..len(bytes, 140))
        .map(|i| LargeCommunity {
            global_admin: 4_200_000_000,
            local_data1: i as u32,
            local_data2: u32::MAX,
        })
        .collect();
    let flags = bytes.byte();
    Attributes {
        next_hop: (flags & 1 == 1).then_some(IpAddress::V4(bytes.u32())),
        as_path,
        origin: [Origin::Igp, Origin::Egp, Origin::Incomplete][usize::from(flags >> 1) % 3],
        med: (flags & 8 == 8).then(|| bytes.u32()),
        local_pref: (flags & 16 == 16).then(|| bytes.u32()),
        communities,
        large_communities,
    }
}

/// Up to 16 lists of up to 8 numbers below `max` (and now and then any).
fn lists(bytes: &mut Bytes, max: u32) -> Vec<Vec<u32>> {
    (0..bytes.byte() % 16)
        .map(|_| {
            (0..bytes.byte() % 8)
                .map(|_| match bytes.byte() {
                    0xff => bytes.u32(),
                    b => u32::from(b) % max,
                })
                .collect()
        })
        .collect()
}

/// The fuzz input, read a value at a time; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
}
