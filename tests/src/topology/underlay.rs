//! The lab's "internet" (the underlay the tunnels' outer packets cross), in
//! either family: [`Underlay::V4`] numbers public link `n` 198.18.`n`.0/24,
//! [`Underlay::V6`] 2001:db8:`n`::/64 (documentation space, RFC 3849), with
//! the inet side `.1` / `::1` and the gateway side `.2` / `::2` either way.
//! An IPv6 underlay has no IPv4 on the public links at all; the sites behind
//! the gateways stay dual-stack. The links are 1500 bytes, as a usual
//! uplink.
//!
//! Link numbers: 1 and 2 are the VGW's endpoints (az1, az2), 10 the site's
//! uplink (HA: 10 and 20).

use super::Topology;
use crate::error::{Error, Result};
use crate::netns::Netns;

/// The family of the lab's public links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Underlay {
    /// 198.18.0.0/15 (the default, and the only one HA and interop build).
    #[default]
    V4,
    /// 2001:db8::/32 only: no IPv4 between the gateways.
    V6,
}

/// The inet side of a public link.
pub const INET_SIDE: u8 = 1;
/// The gateway side of a public link.
pub const GATEWAY_SIDE: u8 = 2;

impl Underlay {
    /// The address of `side` ([`INET_SIDE`] or [`GATEWAY_SIDE`]) on public
    /// link `link`, e.g. `198.18.1.2` or `2001:db8:1::2`.
    pub fn addr(self, link: u8, side: u8) -> String {
        match self {
            Underlay::V4 => format!("198.18.{link}.{side}"),
            Underlay::V6 => format!("2001:db8:{link}::{side}"),
        }
    }

    /// [`Underlay::addr`] with the link's prefix length (`/24`, `/64`).
    pub fn cidr(self, link: u8, side: u8) -> String {
        format!("{}/{}", self.addr(link, side), self.prefix_len())
    }

    /// The prefix of public link `link`.
    pub fn net(self, link: u8) -> String {
        match self {
            Underlay::V4 => format!("198.18.{link}.0/24"),
            Underlay::V6 => format!("2001:db8:{link}::/64"),
        }
    }

    fn prefix_len(self) -> u8 {
        match self {
            Underlay::V4 => 24,
            Underlay::V6 => 64,
        }
    }

    /// A gateway's socket address on link `link` (port 51820), as the
    /// configs and `sitelink status` write it.
    pub fn endpoint(self, link: u8) -> String {
        match self {
            Underlay::V4 => format!("{}:51820", self.addr(link, GATEWAY_SIDE)),
            Underlay::V6 => format!("[{}]:51820", self.addr(link, GATEWAY_SIDE)),
        }
    }

    /// `-4` or `-6`, for `ip` and `ping`.
    pub fn family_flag(self) -> &'static str {
        match self {
            Underlay::V4 => "-4",
            Underlay::V6 => "-6",
        }
    }

    /// An address on neither site nor any lab link, that only a default
    /// route covers (TEST-NET-1, or the documentation prefix's last /48).
    pub fn elsewhere(self) -> &'static str {
        match self {
            Underlay::V4 => "192.0.2.1",
            Underlay::V6 => "2001:db8:ffff::1",
        }
    }

    /// Bytes of outer headers WireGuard adds to an inner packet over this
    /// underlay: IP (20 or 40) + UDP (8) + WireGuard's data header and tag (32).
    pub fn outer_overhead(self) -> u32 {
        match self {
            Underlay::V4 => 20 + 8 + 32,
            Underlay::V6 => 40 + 8 + 32,
        }
    }

    /// The directory under `examples/` of `topology`'s configs on this
    /// underlay (`static`, or `ipv6-underlay/static`).
    pub fn example_dir(self, topology: Topology) -> Result<String> {
        match (self, topology) {
            (Underlay::V4, t) => Ok(t.example_dir().to_string()),
            (Underlay::V6, Topology::Static | Topology::Dynamic) => {
                Ok(format!("ipv6-underlay/{}", topology.example_dir()))
            }
            (Underlay::V6, t) => Err(Error::msg(format!(
                "topology {t:?} has no IPv6-underlay lab (static and dynamic have)"
            ))),
        }
    }

    /// What a namespace on this underlay needs beyond forwarding, before
    /// its links are made: over IPv6, addresses kept when a link is set down
    /// (a cut link must come back with its address, as an IPv4 one does),
    /// and no duplicate address detection on the new links (their
    /// link-local addresses would hold the first neighbour discovery up for
    /// a second, which an uplink that has been up for long never does).
    pub fn prepare(self, ns: &Netns) -> Result<()> {
        match self {
            Underlay::V4 => Ok(()),
            Underlay::V6 => {
                for conf in ["all", "default"] {
                    ns.sysctl(&format!("net.ipv6.conf.{conf}.keep_addr_on_down"), "1")?;
                    ns.sysctl(&format!("net.ipv6.conf.{conf}.accept_dad"), "0")?;
                }
                Ok(())
            }
        }
    }

    /// Gives `dev` (the gateway side of link `link`) a table of its own,
    /// `table`, used for traffic from its address (rule preference 900 +
    /// table): whichever side has two links routes by source address.
    pub fn source_routed(self, ns: &Netns, dev: &str, link: u8, table: u32) -> Result<()> {
        ns.add_dev_route(&self.net(link), dev, Some(table))?;
        ns.add_route("default", &self.addr(link, INET_SIDE), Some(table))?;
        ns.add_rule_from(&self.addr(link, GATEWAY_SIDE), table, 900 + table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_underlays_number_the_links_alike() {
        assert_eq!(Underlay::V4.cidr(1, GATEWAY_SIDE), "198.18.1.2/24");
        assert_eq!(Underlay::V6.cidr(10, INET_SIDE), "2001:db8:10::1/64");
        assert_eq!(Underlay::V4.endpoint(2), "198.18.2.2:51820");
        assert_eq!(Underlay::V6.endpoint(2), "[2001:db8:2::2]:51820");
        assert_eq!(Underlay::V6.net(20), "2001:db8:20::/64");
        assert_eq!(Underlay::V4.outer_overhead(), 60);
        assert_eq!(Underlay::V6.outer_overhead(), 80);
        assert_eq!(
            Underlay::V6.example_dir(Topology::Dynamic).unwrap(),
            "ipv6-underlay/dynamic"
        );
        assert_eq!(Underlay::V4.example_dir(Topology::Ha).unwrap(), "ha");
        assert!(Underlay::V6.example_dir(Topology::Ha).is_err());
    }
}
