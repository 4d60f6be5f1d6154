//! Routing: everything between a peer's UPDATE and the FIB, and the views
//! of it the CLI shows. The BGP speaker (`speaker`: sessions, Adj-RIB-In,
//! the import filter (received routes in batches, stored ones re-queued),
//! Adj-RIB-Out and export), the route table's candidates (`table`: static
//! and learned routes), the Loc-RIB (`loc_rib`: selection in chunks, the
//! FIB it compiles into, kernel-route changes), the policy slots' inputs
//! and answers (`decisions`, `wit_route`), and the `sitelink routes` view
//! (`view`).
//!
//! Owns: routes and their state. Must not: do I/O (no socket, thread, TUN
//! or netlink; the gateway core turns what it produces into actions) or
//! decide liveness.

pub mod decisions;
pub mod loc_rib;
pub mod speaker;
pub mod table;
pub mod view;
pub mod wit_route;
