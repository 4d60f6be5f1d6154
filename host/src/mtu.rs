//! The MTU arithmetic of a tunnel: how large an inner packet may be so that
//! its WireGuard datagram still fits the uplink in one piece, for an outer
//! header of either family, and the TCP MSS that keeps a segment within it.
//!
//! A data message adds 32 bytes to the inner packet (type, receiver index
//! and counter: 16; the Poly1305 tag: 16; boringtun does not pad), UDP 8, and
//! the outer IP header 20 (IPv4) or 40 (IPv6): 60 or 80 bytes in all. On a
//! 1500-byte uplink that leaves 1440 bytes over IPv4 and 1420 over IPv6
//! (WireGuard's usual 1420 is the IPv6 figure). Pure values; the config
//! checks `[tun] mtu` against the endpoints with it, and the data path
//! clamps each tunnel's TCP SYNs to what its own path carries.

/// WireGuard's data-message header (16) and authentication tag (16).
pub const WIREGUARD_OVERHEAD: u16 = 32;
/// The UDP header.
pub const UDP_HEADER: u16 = 8;
/// The IPv4 header without options.
pub const IPV4_HEADER: u16 = 20;
/// The IPv6 header (no extension headers are added).
pub const IPV6_HEADER: u16 = 40;
/// A TCP header without options.
pub const TCP_HEADER: u16 = 20;
/// The uplink MTU assumed when an endpoint does not say (Ethernet).
pub const DEFAULT_UPLINK_MTU: u16 = 1500;
/// The smallest TUN MTU: IPv6's minimum link MTU (RFC 8200 section 5),
/// since both families cross every tunnel.
pub const MIN_TUN_MTU: u16 = 1280;
/// The largest TUN MTU.
pub const MAX_TUN_MTU: u16 = 9000;

/// The family of a tunnel's outer (underlay) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outer {
    V4,
    V6,
}

impl Outer {
    /// The family of an endpoint or remote address.
    pub fn of(addr: std::net::SocketAddr) -> Outer {
        if addr.is_ipv6() {
            Outer::V6
        } else {
            Outer::V4
        }
    }

    /// The outer IP header's size.
    pub fn ip_header(self) -> u16 {
        match self {
            Outer::V4 => IPV4_HEADER,
            Outer::V6 => IPV6_HEADER,
        }
    }

    /// "IPv4" or "IPv6".
    pub fn name(self) -> &'static str {
        match self {
            Outer::V4 => "IPv4",
            Outer::V6 => "IPv6",
        }
    }

    /// Bytes a tunnel adds to an inner packet: 60 over IPv4, 80 over IPv6.
    pub fn overhead(self) -> u16 {
        self.ip_header() + UDP_HEADER + WIREGUARD_OVERHEAD
    }

    /// The largest inner packet whose datagram fits an uplink of
    /// `uplink_mtu` in one piece (0 when not even the headers fit).
    pub fn inner_mtu(self, uplink_mtu: u16) -> u16 {
        uplink_mtu.saturating_sub(self.overhead())
    }

    /// The size on the uplink of the datagram that carries an inner packet
    /// of `inner` bytes (saturating).
    pub fn outer_len(self, inner: u16) -> u16 {
        inner.saturating_add(self.overhead())
    }
}

/// What one tunnel carries: the TUN's MTU, or less when its uplink (of
/// `uplink_mtu`, under an outer header of `outer`) cannot carry that much.
pub fn tunnel_mtu(tun_mtu: u16, uplink_mtu: u16, outer: Outer) -> u16 {
    tun_mtu.min(outer.inner_mtu(uplink_mtu))
}

/// `[tun] mtu` when the file does not say: the largest that fits every
/// endpoint's uplink (given as (uplink MTU, outer family)), at most
/// [`MAX_TUN_MTU`]. `None` without endpoints.
pub fn default_tun_mtu(endpoints: impl IntoIterator<Item = (u16, Outer)>) -> Option<u16> {
    endpoints
        .into_iter()
        .map(|(uplink, outer)| outer.inner_mtu(uplink).min(MAX_TUN_MTU))
        .min()
}

/// The TCP MSS that fits an inner packet of `mtu` bytes: `mtu` less the
/// inner IP header (20 for IPv4, 40 for IPv6) and TCP's 20.
pub fn mss(mtu: u16, inner_v6: bool) -> u16 {
    let ip = if inner_v6 { IPV6_HEADER } else { IPV4_HEADER };
    mtu.saturating_sub(ip + TCP_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1500_byte_uplink_carries_1440_over_ipv4_and_1420_over_ipv6() {
        assert_eq!(Outer::V4.overhead(), 60);
        assert_eq!(Outer::V6.overhead(), 80);
        assert_eq!(Outer::V4.inner_mtu(1500), 1440);
        assert_eq!(Outer::V6.inner_mtu(1500), 1420);
        assert_eq!(Outer::V6.outer_len(1420), 1500);
        assert_eq!(
            Outer::V6.outer_len(1440),
            1520,
            "too big for 1500 over IPv6"
        );
        assert_eq!(Outer::V4.outer_len(1440), 1500);
        // PPPoE (1492) and jumbo frames.
        assert_eq!(Outer::V6.inner_mtu(1492), 1412);
        assert_eq!(Outer::V4.inner_mtu(9000), 8940);
        assert_eq!(Outer::V6.inner_mtu(60), 0);
    }

    #[test]
    fn a_tunnel_carries_the_smaller_of_the_tun_and_its_path() {
        assert_eq!(tunnel_mtu(1420, 1500, Outer::V6), 1420);
        assert_eq!(tunnel_mtu(1440, 1500, Outer::V6), 1420);
        assert_eq!(tunnel_mtu(1440, 1500, Outer::V4), 1440);
        assert_eq!(tunnel_mtu(1400, 9000, Outer::V6), 1400);
    }

    #[test]
    fn the_default_fits_every_endpoint() {
        assert_eq!(default_tun_mtu([(1500, Outer::V4)]), Some(1440));
        assert_eq!(
            default_tun_mtu([(1500, Outer::V4), (1500, Outer::V6)]),
            Some(1420)
        );
        assert_eq!(
            default_tun_mtu([(9000, Outer::V6), (1492, Outer::V4)]),
            Some(1432)
        );
        assert_eq!(default_tun_mtu([(65535, Outer::V4)]), Some(MAX_TUN_MTU));
        assert_eq!(default_tun_mtu([]), None);
    }

    #[test]
    fn the_mss_leaves_room_for_the_inner_headers() {
        assert_eq!(mss(1420, false), 1380);
        assert_eq!(mss(1420, true), 1360);
        assert_eq!(mss(1440, false), 1400);
        assert_eq!(mss(30, true), 0);
    }
}
