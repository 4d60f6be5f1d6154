//! sitelink: a userspace site-to-site VPN gateway.
//!
//! The native host owns the sockets, the TUN device and the WireGuard crypto
//! and forwards packets; routing policy runs on control-plane events only.
//! The control plane is a sans-IO core (`gateway`, over `routing`, `bgp`,
//! `liveness` and `policy`) driven by a thin shell (`driver`). The modules,
//! threads and rules are in the repository's ARCHITECTURE.md.

pub mod api;
pub mod bgp;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod driver;
pub mod export;
pub mod gateway;
pub mod id_map;
pub mod keys;
pub mod liveness;
pub mod mtu;
pub mod net_map;
pub mod packet;
pub mod policy;
pub mod routing;
pub mod thread_clock;
pub mod topology;
pub mod wg;
