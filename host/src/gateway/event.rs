//! The gateway core's vocabulary: the [`Event`]s it takes, the [`Action`]s
//! it asks the driver to carry out, and the admin commands that reach it.
//! Plain values: no stream, socket, channel or clock.

use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

use crate::bgp::transport::{TransportAction, TransportEvent};
use crate::config::GatewayConfig;
use crate::dataplane::fib::{Fib, TunnelId};
use crate::dataplane::ProbeKind;
use crate::liveness::bfd::State;
use crate::policy::{Plugin, Slot};

/// Names an admin request, so that its reply can come later (a swap over a
/// full table takes many turns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What reaches the core.
pub enum Event {
    /// A liveness probe the data path received over `tunnel`.
    Probe {
        tunnel: TunnelId,
        kind: ProbeKind,
        payload: Vec<u8>,
        /// When the data path read it: an echo's round trip is measured to
        /// this, not to when the control loop got to it (a busy turn must
        /// not read as a slow network).
        received: Instant,
    },
    /// What happened to a BGP session's connections.
    Transport(TransportEvent),
    /// Whether `tunnel` has a WireGuard session (the driver reports changes).
    Handshake { tunnel: TunnelId, established: bool },
    /// The tunnels' receive counters (packets delivered), by tunnel id,
    /// while [`crate::gateway::Gateway::wants_traffic`] says so.
    Traffic { rx_packets: Vec<u64> },
    /// An operator's request; answered by an [`Action::Reply`] with `id`.
    Admin {
        id: RequestId,
        command: AdminCommand,
    },
}

/// The admin requests the core answers (the others are answered from the
/// data path's counters, off the control thread).
pub enum AdminCommand {
    /// Every slot with its plugin and counters.
    PluginList,
    /// Run `plugin` over the stored state: with `dry_run` only report the
    /// changes it would make, else install it and apply them. Answered once
    /// every stored route has been through it.
    PluginSwap {
        plugin: Box<Plugin>,
        dry_run: bool,
        /// Install even if the plugin faults on the stored state.
        force: bool,
        /// When the operator's command arrived (for the swap time).
        received: Instant,
    },
    /// Back to the built-in default.
    PluginRemove { slot: Slot },
    /// Run `plugin` in shadow mode in its slot.
    PluginShadow { plugin: Box<Plugin> },
    /// The shadow's differences so far.
    PluginDiff { slot: Slot },
    /// Install the shadow as the slot's plugin.
    PluginPromote { slot: Slot },
    /// End shadow mode.
    PluginUnshadow { slot: Slot },
    /// The BGP sessions (`sitelink bgp`).
    Bgp,
    /// The route table (`sitelink routes`), filtered and cut.
    Routes(crate::routing::view::RoutesQuery),
    /// Ask peers for their routes again (all sessions, or one tunnel's).
    BgpRefresh { tunnel: Option<String> },
    /// Move traffic off a tunnel (by inside CIDR), or back.
    Drain { tunnel: String, drain: bool },
    /// Run with `cfg` from now on, as far as it can change in place (see
    /// `gateway::reload`); `plugins` are the changed slots' new plugins,
    /// compiled by the admin thread. With `dry_run` only report.
    Reload {
        /// The running config the request was lined up with: a reload
        /// applied since (one whose requester gave up waiting) refuses it.
        base: std::sync::Arc<crate::config::GatewayConfig>,
        cfg: std::sync::Arc<crate::config::GatewayConfig>,
        plugins: Vec<crate::gateway::reload::SlotChange>,
        dry_run: bool,
    },
}

impl AdminCommand {
    /// The request's `cmd` in the admin API, with its mode (for logs).
    pub fn name(&self) -> &'static str {
        match self {
            AdminCommand::PluginList => "plugin-list",
            AdminCommand::PluginSwap { dry_run: true, .. } => "plugin-swap --dry-run",
            AdminCommand::PluginSwap { .. } => "plugin-swap",
            AdminCommand::PluginRemove { .. } => "plugin-remove",
            AdminCommand::PluginShadow { .. } => "plugin-shadow",
            AdminCommand::PluginDiff { .. } => "plugin-diff",
            AdminCommand::PluginPromote { .. } => "plugin-promote",
            AdminCommand::PluginUnshadow { .. } => "plugin-unshadow",
            AdminCommand::Bgp => "bgp",
            AdminCommand::Routes(_) => "routes",
            AdminCommand::BgpRefresh { .. } => "bgp-refresh",
            AdminCommand::Drain { drain: true, .. } => "tunnel-drain",
            AdminCommand::Drain { .. } => "tunnel-drain (undrain)",
            AdminCommand::Reload { dry_run: true, .. } => "reload --dry-run",
            AdminCommand::Reload { .. } => "reload",
        }
    }
}

/// What the driver must do, in order.
pub enum Action {
    /// Send a BFD control packet over `tunnel`.
    SendBfd { tunnel: TunnelId, packet: Vec<u8> },
    /// Send an ICMP echo request with `seq` over `tunnel`.
    SendEcho { tunnel: TunnelId, seq: u16 },
    /// Start WireGuard handshakes on every tunnel (the customer side does,
    /// as AWS's customer gateways do).
    InitiateHandshakes,
    /// The tunnels changed (a reload added or removed connections): add
    /// `added` to the data path (their settings are in `cfg`, numbered
    /// after the last) before anything else is sent, and retire `retired`.
    Tunnels {
        cfg: Arc<GatewayConfig>,
        added: Vec<TunnelId>,
        retired: Vec<TunnelId>,
    },
    /// What a tunnel's probe measured changed (for status and metrics).
    ProbeStats {
        tunnel: TunnelId,
        stats: crate::liveness::ProbeStats,
    },
    /// A tunnel's liveness changed (for status and metrics).
    Liveness { tunnel: TunnelId, state: State },
    /// A tunnel's weight now (above 0: traffic goes over it).
    Weight { tunnel: TunnelId, weight: u32 },
    /// A tunnel's drain changed (for status and metrics).
    Drain {
        tunnel: TunnelId,
        state: crate::dataplane::tunnel::DrainState,
    },
    /// Swap in this FIB snapshot for the data path.
    PublishFib(Arc<Fib>),
    /// Route these prefixes into the TUN device (`true`) or stop (`false`);
    /// the latest wish per prefix counts.
    KernelRoutes(Vec<(IpNet, bool)>),
    /// A BGP transport action.
    Transport(TransportAction),
    /// A line for the tunnel log.
    TunnelLog(crate::api::TunnelEvent),
    /// The answer to an admin request.
    Reply {
        id: RequestId,
        reply: crate::api::Response,
    },
}
