//! Keeps the gateway's own WireGuard datagrams out of the routes it
//! installs, whatever it learns, as wg-quick does: the endpoint sockets mark
//! their datagrams ([`MARK`]); a learned default route goes into a table of
//! our own ([`TABLE`]), consulted only by unmarked traffic; and the main
//! table is consulted first with its default route suppressed, so the
//! host's own specific routes (connected subnets, other learned prefixes in
//! main) still win. The rules, per family, in priority order:
//!
//! ```text
//! 21322: from all lookup main suppress_prefixlength 0
//! 21323: not from all fwmark 0x534c lookup 21324
//! ```
//!
//! A datagram to the far endpoint is marked: it skips our table and leaves
//! by the host's own default route, so a far side announcing 0.0.0.0/0 can
//! never route the tunnels into themselves. Rules are not tied to a device:
//! a crashed run's rules are found and replaced at the next start, and they
//! are removed at stop unless another gateway on the host still has routes
//! in the table; a gateway that puts a default route into the table adds
//! any that are missing first. Routes carry [`PROTOCOL`] so that `ip route`
//! shows whose they are.
//!
//! Owns: the two rules per family and the choice of table per prefix. Must
//! not: touch routes (kernel_routes does) or any rule it did not make.

use std::io;

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteProtocol};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlag, RuleMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, IpVersion};
use socket2::Socket;

/// The mark on the gateway's own WireGuard datagrams ("SL").
pub const MARK: u32 = 0x534c;
/// The routing table of learned default routes.
pub const TABLE: u32 = 0x534c;
/// The rule that consults main without its default route.
pub const PRIO_MAIN: u32 = 0x534a;
/// The rule that sends unmarked traffic to [`TABLE`].
pub const PRIO_TABLE: u32 = 0x534b;
// Both rules come before the main table's own rule (32766), in this order.
const _: () = assert!(PRIO_MAIN < PRIO_TABLE && PRIO_TABLE < 32766);

/// The routing protocol number of the routes the gateway installs.
pub const PROTOCOL: u8 = 0x53;

/// The table a route for `prefix` goes into: our own for a default route,
/// main for everything else.
pub fn table_for(prefix: &IpNet) -> u32 {
    if prefix.prefix_len() == 0 {
        TABLE
    } else {
        u32::from(RouteHeader::RT_TABLE_MAIN)
    }
}

/// The protocol the gateway's routes carry.
pub fn protocol() -> RouteProtocol {
    RouteProtocol::Other(PROTOCOL)
}

/// Marks a socket's datagrams as the gateway's own (needs CAP_NET_ADMIN).
pub fn mark_socket(socket: &Socket) -> io::Result<()> {
    socket.set_mark(MARK)
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

/// The two rules of one family, as netlink messages.
fn rules(v6: bool) -> [RuleMessage; 2] {
    let mut main = RuleMessage::default();
    main.header.family = family(v6);
    main.header.table = RouteHeader::RT_TABLE_MAIN;
    main.header.action = RuleAction::ToTable;
    main.attributes = vec![
        RuleAttribute::Priority(PRIO_MAIN),
        RuleAttribute::SuppressPrefixLen(0),
    ];
    let mut own = RuleMessage::default();
    own.header.family = family(v6);
    own.header.table = RouteHeader::RT_TABLE_UNSPEC;
    own.header.action = RuleAction::ToTable;
    own.header.flags = vec![RuleFlag::Invert];
    own.attributes = vec![
        RuleAttribute::Priority(PRIO_TABLE),
        RuleAttribute::FwMark(MARK),
        RuleAttribute::Table(TABLE),
    ];
    [main, own]
}

/// Deletes every rule at our priorities (ours, from this or a crashed run).
async fn delete_ours(handle: &Handle) {
    for v6 in [false, true] {
        for prio in [PRIO_MAIN, PRIO_TABLE] {
            // One rule per delete; a few at most are ever there.
            for _ in 0..8 {
                let mut msg = RuleMessage::default();
                msg.header.family = family(v6);
                msg.attributes = vec![RuleAttribute::Priority(prio)];
                if handle.rule().del(msg).execute().await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Installs the rules, replacing any left by an earlier run.
pub async fn install_rules(handle: &Handle) -> Result<(), rtnetlink::Error> {
    delete_ours(handle).await;
    ensure_rules(handle).await
}

/// Adds the rules that are missing. A rule that is there already is fine:
/// every gateway on the host installs the same two, and one starting at the
/// same moment may add it between our delete and our add (the kernel then
/// refuses ours as existing: EEXIST). Called again before a default route
/// goes into our table: another gateway on the host that stopped while the
/// table was empty took the rules with it. A host without IPv6 (booted with
/// `ipv6.disable=1`) refuses the IPv6 rules as an unknown family; it has
/// no IPv6 routes to protect either.
pub async fn ensure_rules(handle: &Handle) -> Result<(), rtnetlink::Error> {
    for v6 in [false, true] {
        for rule in rules(v6) {
            let mut request = handle.rule().add();
            *request.message_mut() = rule;
            match request.execute().await {
                Err(e) if already_there(&e) => {}
                Err(e) if v6 && family_missing(&e) => break,
                other => other?,
            }
        }
    }
    Ok(())
}

/// Whether the kernel refused an add because the same rule exists.
fn already_there(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.to_io().kind() == io::ErrorKind::AlreadyExists)
}

/// Whether the kernel refused a request for a family it does not have.
fn family_missing(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.to_io().raw_os_error() == Some(libc::EAFNOSUPPORT))
}

/// Removes the rules unless routes of another device are still in our
/// table (another gateway on the host uses them).
pub async fn remove_rules(handle: &Handle, if_index: u32) {
    if table_used_by_others(handle, if_index).await {
        return;
    }
    delete_ours(handle).await;
    // Another gateway may have added its default meanwhile: it adds the
    // rules again after its route too (`kernel_routes`), so between the
    // two one of us sees the other.
    if table_used_by_others(handle, if_index).await {
        let _ = ensure_rules(handle).await;
    }
}

/// Whether our table holds a route through a device other than `if_index`.
async fn table_used_by_others(handle: &Handle, if_index: u32) -> bool {
    for version in [IpVersion::V4, IpVersion::V6] {
        let mut routes = handle.route().get(version).execute();
        while let Ok(Some(route)) = routes.try_next().await {
            let table = route
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(route.header.table));
            let other = route
                .attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Oif(i) if *i != if_index));
            if table == TABLE && other {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_default_routes_go_to_our_table() {
        assert_eq!(table_for(&"0.0.0.0/0".parse().unwrap()), TABLE);
        assert_eq!(table_for(&"::/0".parse().unwrap()), TABLE);
        assert_eq!(table_for(&"10.0.0.0/8".parse().unwrap()), 254);
        assert_eq!(table_for(&"::/1".parse().unwrap()), 254);
    }

    /// Two gateways starting together on one host: the second's add finds
    /// the first's rule (the HA lab's two customer gateways share a
    /// namespace; one of them failed to start with "File exists").
    #[test]
    fn a_rule_that_is_there_already_is_no_error() {
        let refused = |errno: i32| {
            let mut e = rtnetlink::Error::NetlinkError(Default::default());
            if let rtnetlink::Error::NetlinkError(m) = &mut e {
                m.code = std::num::NonZeroI32::new(-errno);
            }
            e
        };
        assert!(already_there(&refused(libc::EEXIST)));
        assert!(!already_there(&refused(libc::EPERM)));
        assert!(!already_there(&rtnetlink::Error::RequestFailed));
        // A host booted without IPv6.
        assert!(family_missing(&refused(libc::EAFNOSUPPORT)));
        assert!(!family_missing(&refused(libc::EEXIST)));
    }

    #[test]
    fn the_rules_say_what_wg_quick_says() {
        let [main, own] = rules(false);
        assert!(main
            .attributes
            .contains(&RuleAttribute::SuppressPrefixLen(0)));
        assert_eq!(main.header.table, RouteHeader::RT_TABLE_MAIN);
        assert!(own.header.flags.contains(&RuleFlag::Invert));
        assert!(own.attributes.contains(&RuleAttribute::FwMark(MARK)));
        assert!(own.attributes.contains(&RuleAttribute::Table(TABLE)));
    }
}
