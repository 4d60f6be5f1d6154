//! BGP-4 for dynamic connections (RFC 4271, with RFC 6793, 4760, 2918, 1997,
//! 8092 and 7606): the messages as values (`message`), their wire format
//! (`codec`), the sans-IO session FSM (`fsm`), the RIBs (`rib`), and the thin
//! shell of threads that carries sessions over TCP (`transport`). One session
//! runs per tunnel of a dynamic connection, over the tunnel's inside
//! addresses, through sitelink's own data path. This module never touches
//! packets of the data path or the FIB: the control loop turns the Loc-RIB
//! into route-table candidates.

pub mod codec;
pub mod fsm;
pub mod message;
pub mod rib;
pub mod transport;

use std::net::{Ipv4Addr, Ipv6Addr};

/// The IPv6 link-local address that stands for a tunnel's inside IPv4
/// address as a BGP next hop of IPv6 routes: fe80::/64 with the IPv4 address
/// as its last 32 bits (169.254.10.1 is fe80::a9fe:a01). Sessions run over
/// IPv4, so IPv6 routes need an IPv6 next hop; a link-local one is on-link
/// for a far side that puts its own (derived the same way) on the tunnel's
/// interface (RFC 2545 section 3). The speaker sends it, `export` writes it.
pub fn link_local_next_hop(inside: Ipv4Addr) -> Ipv6Addr {
    let [a, b, c, d] = inside.octets();
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        0,
        0,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
    )
}
