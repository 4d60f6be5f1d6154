//! `sitelink-lab`: a small, reusable lab for end-to-end tests of sitelink. It
//! builds throw-away network namespaces joined by veth pairs (one namespace per
//! host, gateway or "internet" router), starts `sitelink` gateways inside them,
//! and measures what crosses them (ping trains, iperf3 streams). Everything it
//! creates carries a name owned by this process, is torn down on `Drop` (also
//! while a panic unwinds), on SIGINT/SIGTERM (see [`cleanup::install_signal_cleanup`])
//! and by the stale-lab sweep that runs when the next lab starts. Every wait is
//! bounded.
//!
//! Module map: [`netns`] (namespaces, links, addresses, routes), [`process`]
//! (bounded commands, spawned processes, `wait_until`), [`cleanup`] (global
//! registry, signal hook, watchdog), [`gateway`] (the `sitelink` binary, keys,
//! configs, status), [`routing`] (BGP peers and route tables as `sitelink bgp`
//! and `sitelink routes` report them), [`interop`] (the interop lab's
//! steps: exported tunnels and daemons), [`topology`] (the labs of ARCHITECTURE.md:
//! [`SiteLab`] builds topology 1 "static", 2 "dynamic" or 3 "HA", and
//! [`topology::LinkCut`] times a link cut under a ping train),
//! [`stock`] and [`frr`] (the stock peers: wg-quick, BIRD 2, GoBGP, FRR's bgpd),
//! [`default_route`] (the learned-default-route scenario, over either
//! underlay), [`plugins`] (the built `.wasm` plugins and `sitelink plugin`) and
//! [`measure`] (ping, ping trains, iperf3, garbage UDP, kernel counters),
//! [`proc_stat`] (CPU time and memory of a process, busy time of the machine),
//! [`order`] (packet order across a tunnel: TCP reorder counters, iperf3's
//! out-of-order datagrams, a qdisc that breaks the order on purpose),
//! [`rng`] (the seeded generator of the lab's tools),
//! [`impair`] (loss and jitter on one path without netem: the `impair`
//! helper binary behind a TUN device and policy rules), [`tunnel_log`] (a
//! gateway's tunnel log read back as timed events).

pub mod cleanup;
pub mod default_route;
pub mod error;
pub mod frr;
pub mod gateway;
pub mod impair;
pub mod interop;
pub mod measure;
pub mod netns;
pub mod order;
pub mod plugins;
pub mod proc_stat;
pub mod process;
pub mod rng;
pub mod routing;
pub mod stock;
pub mod topology;
pub mod tunnel_log;
pub mod unix_socket;

pub use error::{Error, Result};
pub use gateway::{Gw, Status};
pub use measure::{IperfResult, PingTrain};
pub use netns::{Lab, Netns};
pub use process::{wait_until, Spawned};
pub use routing::{Bgp, Routes};
pub use topology::{SiteLab, SiteOptions, Topology};
