//! The default BGP filter: accept every route, imported or exported,
//! unchanged.

use crate::bgp_filter::{Peer, Verdict};
use crate::types::Route;

/// One `accept` per route.
pub fn accept_all(routes: &[Route]) -> Vec<Verdict> {
    vec![Verdict::Accept; routes.len()]
}

/// The default import filter: [`accept_all`].
pub fn import_filter(_peer: &Peer, routes: &[Route]) -> Vec<Verdict> {
    accept_all(routes)
}

/// The default export filter: [`accept_all`].
pub fn export_filter(_peer: &Peer, routes: &[Route]) -> Vec<Verdict> {
    accept_all(routes)
}
