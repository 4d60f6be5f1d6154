//! Routing policy as WebAssembly components (`wit/policy.wit`): the three
//! plugin slots (`bgp-filter`, `route-selection`, `failover`), their native
//! defaults, and the sandbox that runs plugins on control-plane events only.
//! A [`PolicyEngine`] compiles (or loads from its cache) and checks a plugin
//! off the hot path; a slot ([`FailoverSlot`], [`SelectionSlot`],
//! [`FilterSlot`]) holds at most one plugin and always answers, from the
//! plugin or, when it faults, from the last good decision or the default.
//! This module owns the plugin contract's host side; it must not touch the
//! FIB, tunnels or BGP sessions (callers apply the answers) nor edit
//! `wit/policy.wit`, which is shared with the guests.

use std::fmt;
use std::path::PathBuf;

pub mod batch;
pub mod bindings;
mod cache;
mod check;
mod configured;
mod deadline;
pub mod defaults;
pub mod gen;
mod host;
pub mod offline;
mod runtime;
pub mod shadow;
mod slots;
#[cfg(test)]
mod tests;

pub use batch::{Candidate, PrefixCandidates, Route, Verdict};
pub use bindings::{
    Attributes, CandidateSource, ConnectionHealth, IpAddress, LargeCommunity, LogLevel, Origin,
    Peer, Prefix, Routing, TunnelHealth,
};
pub use configured::{check_configured, configured, ConfiguredError};
pub use runtime::{EngineSettings, LoadInfo, Plugin, PluginInfo, PolicyEngine};
pub use slots::{
    validate, DecidedBy, Decision, Direction, FailoverSlot, FilterSlot, Selection, SelectionSlot,
    SlotStats, SlotStatus, Verdicts,
};

/// The version of `wit/policy.wit` this host speaks (`sitelink:policy@…`).
pub const CONTRACT_VERSION: &str = "0.3.0";

/// A plugin slot: which world of `wit/policy.wit` a plugin must export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// World `bgp-filter`: import and export filters.
    BgpFilter,
    /// World `route-selection`: which candidates enter the FIB.
    RouteSelection,
    /// World `failover`: a weight per tunnel.
    Failover,
}

impl Slot {
    /// Every slot.
    pub const ALL: [Slot; 3] = [Slot::BgpFilter, Slot::RouteSelection, Slot::Failover];

    /// The world's name, as in `wit/policy.wit` and the config's
    /// `[plugins.SLOT]`.
    pub fn world(self) -> &'static str {
        match self {
            Slot::BgpFilter => "bgp-filter",
            Slot::RouteSelection => "route-selection",
            Slot::Failover => "failover",
        }
    }

    /// The interface the world exports besides `about` (unversioned).
    pub(crate) fn interface(self) -> &'static str {
        match self {
            Slot::BgpFilter => "sitelink:policy/filter",
            Slot::RouteSelection => "sitelink:policy/selection",
            Slot::Failover => "sitelink:policy/weights",
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

/// What went wrong in one plugin call (or start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access).
    Trap,
    /// It ran past its deadline.
    Timeout,
    /// It wanted more memory than its cap.
    Memory,
    /// It answered, but not an answer the contract allows.
    Invalid,
}

/// A fault of a plugin: what kind, and what exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The kind of fault.
    pub kind: FaultKind,
    /// What happened, for the log and `sitelink plugin list`.
    pub detail: String,
}

impl Fault {
    pub(crate) fn invalid(detail: impl Into<String>) -> Fault {
        Fault {
            kind: FaultKind::Invalid,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FaultKind::Trap => "trapped",
            FaultKind::Timeout => "timed out",
            FaultKind::Memory => "ran out of memory",
            FaultKind::Invalid => "answered wrongly",
        };
        write!(f, "{what}: {}", self.detail)
    }
}

impl std::error::Error for Fault {}

/// Why a plugin was refused. Every message names the file and says what to
/// do about it.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file cannot be read.
    #[error("cannot read plugin {}: {source}; check the path in the config's [plugins] section and that the file is readable", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not WebAssembly at all.
    #[error("plugin {} is not a WebAssembly component: build it with `cargo build --target wasm32-wasip2`", path.display())]
    NotWasm { path: PathBuf },
    /// A core module, not a component.
    #[error("plugin {} is a core WebAssembly module, not a component: build it for the wasm32-wasip2 target (`cargo build --target wasm32-wasip2`), not wasm32-unknown-unknown or wasm32-wasip1", path.display())]
    CoreModule { path: PathBuf },
    /// A component the engine cannot compile.
    #[error("plugin {} is not a valid WebAssembly component: {detail}; rebuild it with `cargo build --target wasm32-wasip2`", path.display())]
    Invalid { path: PathBuf, detail: String },
    /// A component of another world than the slot's.
    #[error("plugin {} does not fit the {slot} slot: {detail}", path.display())]
    WrongWorld {
        path: PathBuf,
        slot: Slot,
        detail: String,
    },
    /// A component that needs an import the host does not provide.
    #[error("plugin {} imports `{import}`, which the host does not provide: plugins get only sitelink:policy/log, sitelink:policy/params and an empty WASI 0.2; remove what pulls that import in and rebuild", path.display())]
    UnknownImport { path: PathBuf, import: String },
    /// A component built against an earlier version of the contract.
    #[error("plugin {} was built for sitelink:policy@{found}, and this gateway speaks sitelink:policy@{CONTRACT_VERSION}: rebuild it with this gateway's sitelink-plugin SDK, after the changes examples/plugins/README.md lists from its version on (\"From 0.1 to 0.2\", \"From 0.2 to 0.3\")", path.display())]
    OldContract { path: PathBuf, found: String },
    /// A component built against a later version of the contract.
    #[error("plugin {} was built for sitelink:policy@{found}, newer than this gateway's sitelink:policy@{CONTRACT_VERSION}: upgrade the gateway, or build the plugin with the sitelink-plugin SDK of this gateway's version", path.display())]
    NewerContract { path: PathBuf, found: String },
    /// The component's imports or exports do not match the host's types.
    #[error("plugin {} does not match this host's contract (world {slot} of sitelink:policy@{CONTRACT_VERSION}, wit/policy.wit): {detail}; rebuild it against the gateway's wit/policy.wit", path.display())]
    Mismatch {
        path: PathBuf,
        slot: Slot,
        detail: String,
    },
    /// The component faulted while starting or answering `about`.
    #[error("plugin {} failed at start-up: {fault}; it must start within the deadline and the memory cap", path.display())]
    Startup { path: PathBuf, fault: Fault },
    /// A plugin prepared for one slot offered to another.
    #[error("plugin {} was prepared for the {prepared} slot, not the {slot} slot", path.display())]
    WrongSlot {
        path: PathBuf,
        prepared: Slot,
        slot: Slot,
    },
    /// The engine itself could not be set up.
    #[error("the plugin engine could not start: {0}")]
    Engine(String),
}
