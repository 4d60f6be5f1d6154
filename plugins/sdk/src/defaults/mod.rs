//! The built-in rules, as pure functions. The default plugins are thin
//! wrappers around them, and the host has native twins of them that a
//! differential test compares bit for bit; plugins that refine a default
//! (e.g. prefer some tunnels, then fall back) call them instead of copying
//! them.

pub mod bgp_filter;
pub mod failover;
pub mod route_selection;
