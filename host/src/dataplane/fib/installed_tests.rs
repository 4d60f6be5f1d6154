//! [`Fib::set_installed`] against the calls it stands for, over random
//! changes: the same routes, sources and counts, and no source set kept
//! alive (or freed) by mistake.

use super::*;
use crate::policy::gen::XorShift;

#[test]
fn one_write_does_what_the_separate_calls_did() {
    let mut rng = XorShift::new(15);
    let (mut one, mut two) = (Fib::default(), Fib::default());
    for fib in [&mut one, &mut two] {
        fib.set_group(0, NextHop::over(ConnectionId(0), &[TunnelId(0)]));
        fib.set_group(1, NextHop::over(ConnectionId(1), &[TunnelId(1)]));
    }
    let prefixes: Vec<IpNet> = (0..40)
        .map(|i| format!("10.{i}.0.0/16").parse().unwrap())
        .collect();
    let (a, b) = (ConnectionId(0), ConnectionId(1));
    let lists: [&[ConnectionId]; 4] = [&[], &[a], &[b], &[a, b]];
    for step in 0..20_000 {
        let prefix = rng.pick(&prefixes);
        let route = match rng.below(4) {
            0 => RouteUpdate::Keep,
            1 => RouteUpdate::Remove,
            n => RouteUpdate::Group(n as u32 - 2),
        };
        let source = match rng.below(4) {
            0 => SourceUpdate::Keep,
            1 => SourceUpdate::Refuse,
            _ => SourceUpdate::Set(lists[rng.below(4) as usize]),
        };
        let was = one.installed(&prefix);
        one.set_installed(&prefix, was, route, source);
        match route {
            RouteUpdate::Keep => {}
            RouteUpdate::Remove => {
                two.remove(&prefix);
            }
            RouteUpdate::Group(g) => two.insert_group(prefix, g),
        }
        match source {
            SourceUpdate::Keep => {}
            SourceUpdate::Refuse => two.refuse_sources(&prefix),
            SourceUpdate::Set(list) => two.set_sources(&prefix, list),
        }
        for p in &prefixes {
            assert_eq!(one.group_of(p), two.group_of(p), "{p} at step {step}");
            assert_eq!(one.sources_of(p), two.sources_of(p), "{p} at step {step}");
            let inside = IpAddr::V4(match p {
                IpNet::V4(n) => n.addr(),
                IpNet::V6(_) => unreachable!("IPv4 prefixes only"),
            });
            assert_eq!(one.lookup(inside), two.lookup(inside), "{p} at step {step}");
            assert_eq!(
                one.source_allowed(inside, a),
                two.source_allowed(inside, a),
                "{p} at step {step}"
            );
        }
        assert_eq!(one.counts(), two.counts(), "step {step}");
        assert_eq!(one.grouped_len(), two.grouped_len(), "step {step}");
        assert_eq!(one.sources.live(), two.sources.live(), "step {step}");
        // Each distinct entry in the table is interned once, and nothing
        // else is kept.
        for fib in [&one, &two] {
            let mut held: Vec<Entry> = prefixes.iter().filter_map(|p| fib.entry(p)).collect();
            held.sort_by_key(|e| (e.route, e.source));
            held.dedup();
            assert_eq!(fib.entries.live(), held.len(), "step {step}");
        }
    }
}
