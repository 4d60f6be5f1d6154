//! sitelink: a userspace site-to-site VPN gateway.
//!
//! The native host owns the sockets, the TUN device and the WireGuard crypto
//! and forwards packets; routing policy runs on control-plane events only.
//! See `../shared/DESIGN.md` for the agreed shape.

pub mod bgp;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod export;
pub mod keys;
pub mod liveness;
pub mod net_map;
pub mod packet;
pub mod policy;
pub mod route_table;
pub mod service;
