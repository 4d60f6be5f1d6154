//! An export in progress: the gateway's networks on their way to one
//! session, through the export filter and into the Adj-RIB-Out, a chunk at
//! a time. A new session, a filter swap, a reload or a drain starts one; the
//! first chunk goes at once (a gateway with up to [`super::FILTER_CHUNK`]
//! networks exports in one step, as before), the rest in the control loop's
//! budgeted route work, so that a long list of networks never holds the
//! control loop (and the liveness probes it sends) for long.
//!
//! Owns: which networks are still to go, the difference of each chunk
//! against what the peer has, and the end of an export (withdrawing what
//! is no longer a network, End-of-RIB for a new session). Must not: touch
//! the transport (it returns UPDATEs to send) or run a filter call of more
//! than a chunk.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use ipnet::IpNet;

use super::export;
use super::family_of;
use crate::bgp::message::{Family, PathAttributes};
use crate::bgp::rib::{AdjRibOut, OutDiff};
use crate::net_map::FastSet;
use crate::policy::{FilterSlot, Peer};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ExportJob {
    /// Networks still to go through the export filter, in order.
    pending: VecDeque<IpNet>,
    /// Every network of this export: what the peer may keep at the end.
    all: FastSet<IpNet>,
    /// End-of-RIB at the end, for these families (a new session).
    end_of_rib: Vec<Family>,
}

/// What one step of an export gives.
pub struct Step {
    /// The UPDATEs' content: this chunk's difference.
    pub diff: OutDiff,
    /// End-of-RIB for these families after it (the export is complete).
    pub end_of_rib: Vec<Family>,
    /// The filter plugin did not answer: the export stopped, the peer
    /// keeps what it has.
    pub unanswered: bool,
    /// Networks this step took.
    pub done: usize,
}

/// Who the export is for, as the filter and the path rules need it.
pub struct Target<'a> {
    pub families: &'a [Family],
    pub local_asn: u32,
    pub local: Ipv4Addr,
    pub peer: &'a Peer,
    pub drained: bool,
}

impl ExportJob {
    /// An export of `networks` (those of `families`); End-of-RIB at the
    /// end if `end_of_rib`. Replaces an export in progress, keeping its
    /// End-of-RIB: the new one sends everything the old one would have.
    pub fn start(
        running: Option<ExportJob>,
        networks: &[IpNet],
        families: &[Family],
        end_of_rib: bool,
    ) -> ExportJob {
        let pending: VecDeque<IpNet> = networks
            .iter()
            .filter(|n| families.contains(&family_of(n)))
            .copied()
            .collect();
        let all = pending.iter().copied().collect();
        let mut eor = running.map(|j| j.end_of_rib).unwrap_or_default();
        if end_of_rib {
            eor = families.to_vec();
        }
        ExportJob {
            pending,
            all,
            end_of_rib: eor,
        }
    }

    /// Networks still to go.
    pub fn backlog(&self) -> usize {
        self.pending.len()
    }

    /// Runs up to `max` networks through the filter and into `adj_out`.
    /// When the last has gone, what the peer has that is no longer a
    /// network is withdrawn and End-of-RIB follows, if asked for.
    pub fn step(
        &mut self,
        max: usize,
        target: &Target,
        filter: &mut FilterSlot,
        adj_out: &mut AdjRibOut,
    ) -> Step {
        let take = self.pending.len().min(max.max(1));
        let chunk: Vec<IpNet> = self.pending.drain(..take).collect();
        let Some(wanted) = export::wanted(
            &chunk,
            target.families,
            target.local_asn,
            target.local,
            target.peer,
            filter,
        ) else {
            self.pending.clear();
            return Step {
                diff: OutDiff::default(),
                end_of_rib: Vec::new(),
                unanswered: true,
                done: take,
            };
        };
        let wanted: BTreeMap<IpNet, PathAttributes> = if target.drained {
            export::drained(wanted, target.local_asn)
        } else {
            wanted
        };
        let mut diff = adj_out.update_some(&chunk, wanted);
        let mut end_of_rib = Vec::new();
        if self.pending.is_empty() {
            diff.withdraw.extend(adj_out.keep_only(&self.all));
            end_of_rib = std::mem::take(&mut self.end_of_rib);
        }
        Step {
            diff,
            end_of_rib,
            unanswered: false,
            done: take,
        }
    }
}
