//! The FIB's lookups, counts, groups and sources, and its snapshots.

use super::*;

use ipnet::Ipv4Net;

fn nh(connection: usize, tunnels: &[usize]) -> NextHop {
    NextHop::over(
        ConnectionId(connection),
        &tunnels.iter().map(|t| TunnelId(*t)).collect::<Vec<_>>(),
    )
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn longest_prefix_wins_ipv4() {
    let mut fib = Fib::default();
    assert!(fib.insert(net("10.0.0.0/8"), nh(0, &[0])));
    assert!(fib.insert(net("10.2.0.0/16"), nh(1, &[2])));
    assert!(fib.insert(net("10.2.3.0/24"), nh(2, &[3])));
    assert_eq!(fib.lookup("10.2.3.4".parse().unwrap()), Some(&nh(2, &[3])));
    assert_eq!(fib.lookup("10.2.4.4".parse().unwrap()), Some(&nh(1, &[2])));
    assert_eq!(fib.lookup("10.9.9.9".parse().unwrap()), Some(&nh(0, &[0])));
    assert_eq!(fib.lookup("11.0.0.1".parse().unwrap()), None);
    assert_eq!(fib.len(), 3);
}

#[test]
fn longest_prefix_wins_ipv6() {
    let mut fib = Fib::default();
    fib.insert(net("fd00::/8"), nh(0, &[0]));
    fib.insert(net("fd00:2::/64"), nh(1, &[1]));
    assert_eq!(
        fib.lookup("fd00:2::10".parse().unwrap()),
        Some(&nh(1, &[1]))
    );
    assert_eq!(
        fib.lookup("fd00:3::10".parse().unwrap()),
        Some(&nh(0, &[0]))
    );
    assert_eq!(fib.lookup("2001:db8::1".parse().unwrap()), None);
    // An IPv4 address never matches an IPv6 prefix and vice versa.
    assert_eq!(fib.lookup("10.0.0.1".parse().unwrap()), None);
}

#[test]
fn host_routes_and_default_route() {
    let mut fib = Fib::default();
    fib.insert(net("0.0.0.0/0"), nh(0, &[0]));
    fib.insert(net("169.254.10.2/32"), nh(1, &[1]));
    assert_eq!(
        fib.lookup("169.254.10.2".parse().unwrap()),
        Some(&nh(1, &[1]))
    );
    assert_eq!(
        fib.lookup("169.254.10.1".parse().unwrap()),
        Some(&nh(0, &[0]))
    );
}

#[test]
fn host_bits_are_cleared_and_replacing_keeps_len() {
    let mut fib = Fib::default();
    fib.insert(net("10.2.0.7/24"), nh(0, &[0]));
    fib.insert(net("10.2.0.0/24"), nh(0, &[1]));
    assert_eq!(fib.len(), 1);
    assert_eq!(
        fib.lookup("10.2.0.200".parse().unwrap()),
        Some(&nh(0, &[1]))
    );
}

#[test]
fn counts_are_per_family() {
    let mut fib = Fib::default();
    fib.insert(net("10.0.0.0/8"), nh(0, &[0]));
    fib.insert(net("10.1.0.0/16"), nh(0, &[0]));
    fib.insert(net("fd00::/8"), nh(0, &[0]));
    fib.insert(net("10.1.0.0/16"), nh(0, &[1]));
    fib.allow_source(net("192.0.2.0/24"), ConnectionId(0));
    assert_eq!(fib.counts(), (2, 1), "replacing or allowing adds no route");
}

#[test]
fn empty_next_hop_is_refused() {
    let mut fib = Fib::default();
    assert!(!fib.insert(net("10.0.0.0/8"), nh(0, &[])));
    assert!(fib.is_empty());
}

#[test]
fn weights_spread_flows_in_proportion() {
    let hop = NextHop {
        connections: vec![ConnectionId(0), ConnectionId(1)],
        tunnels: vec![(TunnelId(3), 300), (TunnelId(5), 100), (TunnelId(9), 0)],
    };
    let mut counts = [0u32; 10];
    for h in 0..4000u64 {
        counts[hop
            .tunnel_for(h.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .unwrap()
            .index()] += 1;
    }
    assert_eq!(counts[9], 0, "weight 0 is standby");
    assert_eq!(counts[3] + counts[5], 4000);
    assert!((2800..3200).contains(&counts[3]), "{counts:?}");
}

#[test]
fn a_next_hop_with_only_standby_tunnels_is_refused() {
    let mut fib = Fib::default();
    let standby = NextHop {
        connections: vec![ConnectionId(0)],
        tunnels: vec![(TunnelId(0), 0), (TunnelId(1), 0)],
    };
    assert!(!fib.insert(net("10.0.0.0/8"), standby));
    assert!(fib.lookup("10.1.2.3".parse().unwrap()).is_none());
    // Its connection may still send from the prefix.
    assert!(fib.source_allowed("10.1.2.3".parse().unwrap(), ConnectionId(0)));
}

#[test]
fn prefixes_on_groups_are_the_installed_routes() {
    let net = |s: &str| s.parse::<IpNet>().unwrap();
    let mut fib = Fib::default();
    fib.insert_group(net("10.1.0.0/24"), 1);
    fib.insert_group(net("10.1.0.0/16"), 2);
    fib.insert_group(net("fd00:1::/64"), 3);
    fib.insert_group(net("10.1.0.0/24"), 4);
    assert_eq!(fib.group_of(&net("10.1.0.0/24")), Some(4));
    assert_eq!(fib.group_of(&net("10.1.0.0/23")), None, "exact, not LPM");
    assert_eq!(fib.grouped_len(), 3);
    // A next hop of its own replaces the group; a removal forgets it.
    let hop = NextHop {
        connections: vec![ConnectionId(0)],
        tunnels: vec![(TunnelId(0), 1)],
    };
    assert!(fib.insert(net("10.1.0.0/16"), hop));
    assert_eq!(fib.group_of(&net("10.1.0.0/16")), None);
    assert!(fib.remove(&net("fd00:1::/64")));
    assert_eq!(fib.grouped_len(), 1);
    let all: Vec<(IpNet, u32)> = fib.grouped().collect();
    assert_eq!(all, vec![(net("10.1.0.0/24"), 4)]);
}

#[test]
fn sources_are_checked_by_longest_prefix() {
    let mut fib = Fib::default();
    fib.allow_source(net("10.0.0.0/8"), ConnectionId(0));
    fib.allow_source(net("10.1.0.0/24"), ConnectionId(1));
    fib.allow_source(net("10.1.0.0/24"), ConnectionId(2));
    fib.allow_source(net("fd00:1::/64"), ConnectionId(1));
    let ok = |a: &str, c| fib.source_allowed(a.parse().unwrap(), ConnectionId(c));
    assert!(ok("10.9.9.9", 0));
    assert!(!ok("10.1.0.5", 0), "the longer prefix belongs to 1 and 2");
    assert!(ok("10.1.0.5", 1) && ok("10.1.0.5", 2));
    assert!(ok("fd00:1::5", 1) && !ok("fd00:1::5", 0));
    assert!(!ok("192.0.2.1", 0), "no source prefix at all");
    assert!(fib.is_empty(), "sources are not routes");
}

#[test]
fn a_refused_source_prefix_holds_whatever_covers_it() {
    let mut fib = Fib::default();
    fib.allow_source(net("0.0.0.0/0"), ConnectionId(0));
    fib.allow_source(net("::/0"), ConnectionId(0));
    fib.refuse_sources(&net("10.2.0.0/24"));
    fib.refuse_sources(&net("fd00:2::/64"));
    let ok = |fib: &Fib, a: &str| fib.source_allowed(a.parse().unwrap(), ConnectionId(0));
    assert!(
        !ok(&fib, "10.2.0.5") && !ok(&fib, "fd00:2::5"),
        "our own networks"
    );
    assert!(
        ok(&fib, "10.3.0.5") && ok(&fib, "fd00:3::5"),
        "the rest of the default"
    );
    assert_eq!(fib.sources_of(&net("10.2.0.0/24")), Some(&[][..]));
    // A connection's own entry for the prefix replaces the refusal.
    fib.set_sources(&net("10.2.0.0/24"), &[ConnectionId(1)]);
    assert!(fib.source_allowed("10.2.0.5".parse().unwrap(), ConnectionId(1)));
    fib.set_sources(&net("10.2.0.0/24"), &[]);
    assert!(
        ok(&fib, "10.2.0.5"),
        "nothing refused once the entry is gone"
    );
}

#[test]
fn routes_and_sources_share_an_entry_without_masking_each_other() {
    let mut fib = Fib::default();
    fib.allow_source(net("10.0.0.0/8"), ConnectionId(1));
    fib.set_group(0, nh(0, &[0]));
    fib.insert_group(net("10.1.0.0/24"), 0);
    // A longer prefix that is only a route leaves the check to the
    // shorter source prefix, and one that is only a source leaves the
    // lookup to the shorter route.
    let a = |s: &str| -> IpAddr { s.parse().unwrap() };
    assert!(fib.source_allowed(a("10.1.0.5"), ConnectionId(1)));
    fib.insert(net("10.0.0.0/8"), nh(1, &[1]));
    fib.allow_source(net("10.1.0.0/25"), ConnectionId(0));
    assert_eq!(fib.lookup(a("10.1.0.5")), Some(&nh(0, &[0])));
    assert!(fib.source_allowed(a("10.1.0.5"), ConnectionId(0)));
    assert!(!fib.source_allowed(a("10.1.0.5"), ConnectionId(1)));
    assert_eq!(fib.counts(), (2, 0));
    // Taking the route away keeps the sources, and the other way round.
    assert!(fib.remove(&net("10.0.0.0/8")));
    assert!(fib.source_allowed(a("10.9.0.1"), ConnectionId(1)));
    assert_eq!(fib.lookup(a("10.9.0.1")), None);
    fib.set_sources(&net("10.1.0.0/24"), &[ConnectionId(2)]);
    fib.set_sources(&net("10.1.0.0/24"), &[]);
    assert_eq!(fib.group_of(&net("10.1.0.0/24")), Some(0));
    assert_eq!((fib.counts(), fib.grouped_len()), ((1, 0), 1));
    assert!(fib.remove(&net("10.1.0.0/24")));
    assert_eq!((fib.counts(), fib.grouped_len()), ((0, 0), 0));
    assert!(fib.source_allowed(a("10.1.0.5"), ConnectionId(0)));
}

#[test]
fn ecmp_keeps_a_flow_on_one_tunnel_and_spreads_flows() {
    let hop = nh(0, &[4, 7]);
    assert_eq!(hop.tunnel_for(10), hop.tunnel_for(10));
    let picked: std::collections::HashSet<_> =
        (0..16u64).filter_map(|h| hop.tunnel_for(h)).collect();
    assert_eq!(picked.len(), 2);
}

#[test]
fn a_group_moves_all_its_prefixes_at_once_and_an_empty_one_falls_through() {
    let mut fib = Fib::default();
    fib.insert(net("0.0.0.0/0"), nh(1, &[5]));
    fib.set_group(7, nh(0, &[0, 1]));
    for i in 0..1000u32 {
        let p = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap());
        fib.insert_group(p, 7);
    }
    let a = |s: &str| -> IpAddr { s.parse().unwrap() };
    let tunnels = |fib: &Fib, addr: &str| -> Vec<usize> {
        fib.lookup(a(addr))
            .map(|h| h.tunnels.iter().map(|(t, _)| t.index()).collect())
            .unwrap_or_default()
    };
    assert_eq!(tunnels(&fib, "10.0.3.1"), vec![0, 1]);
    // Tunnel 0 down: one group changes, a thousand prefixes follow.
    fib.set_group(
        7,
        NextHop {
            connections: vec![ConnectionId(0)],
            tunnels: vec![(TunnelId(0), 0), (TunnelId(1), 1)],
        },
    );
    assert_eq!(tunnels(&fib, "10.0.3.1"), vec![1]);
    assert_eq!(tunnels(&fib, "10.3.231.1"), vec![1]);
    // No tunnel left: the covering route answers, as if removed.
    fib.set_group(7, NextHop::over(ConnectionId(0), &[]));
    assert_eq!(tunnels(&fib, "10.0.3.1"), vec![5]);
    // A prefix moved back to an interned hop, and one removed.
    fib.insert(net("10.0.3.0/24"), nh(0, &[2]));
    assert_eq!(tunnels(&fib, "10.0.3.1"), vec![2]);
    assert!(fib.remove(&net("10.0.4.0/24")));
    assert_eq!(fib.counts().0, 1000);
}

#[test]
fn swapping_a_snapshot_is_seen_by_readers() {
    let cell = FibCell::new(Fib::default());
    let before = cell.load();
    let mut next = Fib::default();
    next.insert(net("10.2.0.0/24"), nh(0, &[1]));
    cell.store(next);
    assert!(before.is_empty(), "an old snapshot stays as it was");
    assert!(cell.load().lookup("10.2.0.1".parse().unwrap()).is_some());
}
