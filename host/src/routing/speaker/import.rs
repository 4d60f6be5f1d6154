//! The import side of a session: what a received UPDATE must satisfy before
//! any policy (the rules for external peers of RFC 4271, the families the
//! session negotiated), the host's own guard against learned routes that
//! would hijack its tunnels, its networks or another connection's prefixes,
//! and the import filter run over the Adj-RIB-In, in batches for received
//! UPDATEs ([`Batch`]) or over queued prefixes. A filter plugin that faults
//! fails closed here: the routes it was asked about are not accepted.
//! [`Speaker::import`] applies a received UPDATE (Adj-RIB-In, max-prefix,
//! the batch); its max-prefix close is the only thing here that acts on a
//! session. No transport is touched.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use ipnet::IpNet;

use std::time::Instant;

use tracing::warn;

use super::guard::Guard;
use super::{family_of, warn_refused, BgpPeer, Speaker, FILTER_CHUNK};
use crate::bgp::fsm::Output;
use crate::bgp::message::{
    error_code, AsSegment, Family, Notification, PathAttributes, SegmentKind, Update,
};
use crate::config::MaxPrefixAction;
use crate::net_map::{FastHasher, FastMap, NetMap};
use crate::policy::{Attributes, DecidedBy, Direction, FilterSlot, Peer, Plugin, Route, Verdict};
use crate::routing::wit_route;

/// What an UPDATE from an external peer must satisfy beyond its encoding:
/// LOCAL_PREF is not for external peers and is discarded (RFC 4271 section
/// 5.1.5, RFC 7606 section 7.5); the AS path must start with the peer's AS
/// (RFC 4271 section 6.3; treat-as-withdraw per RFC 7606 section 7.2); a
/// path holding AS 0 is malformed (RFC 7607 section 2) and so is one with
/// confederation segments, since we are in no confederation (RFC 5065
/// section 5.3): both treat-as-withdraw too, as is a route past the local
/// bounds on its lists (`policy::batch::bound_exceeded`: 255 ASNs, 255
/// communities, 64 large communities); a path holding our own AS is
/// a loop and is not used (section 9.1.2). Routes of a family the session
/// did not negotiate are ignored (RFC 4760 section 6).
pub fn external_checks(update: &mut Update, remote_asn: u32, local_asn: u32, families: &[Family]) {
    update.nlri.retain(|n| families.contains(&family_of(n)));
    if let Some(m) = update.mp_reach.as_mut() {
        m.nlri.retain(|n| families.contains(&family_of(n)));
    }
    let Some(attrs) = update.attributes.as_mut() else {
        return;
    };
    attrs.local_pref = None;
    if update.treat_as_withdraw.is_some() || update.announced().next().is_none() {
        return;
    }
    let Some(attrs) = update.attributes.as_ref() else {
        return;
    };
    let first = attrs.as_path.first().and_then(|s| match s.kind {
        SegmentKind::Sequence => s.asns.first().copied(),
        _ => None,
    });
    let confed =
        |s: &&AsSegment| matches!(s.kind, SegmentKind::ConfedSequence | SegmentKind::ConfedSet);
    let reason = if first != Some(remote_asn) {
        Some(format!(
            "AS_PATH does not start with the peer's AS {remote_asn} (RFC 4271 section 6.3)"
        ))
    } else if attrs.as_path.iter().any(|s| s.asns.contains(&0)) {
        Some("AS_PATH holds AS 0 (RFC 7607)".to_string())
    } else if attrs.as_path.iter().any(|s| confed(&s)) {
        Some(
            "AS_PATH holds a confederation segment from a peer outside our confederation (RFC 5065 section 5.3)"
                .to_string(),
        )
    } else if attrs.as_path.iter().any(|s| s.asns.contains(&local_asn)) {
        Some(format!(
            "AS_PATH holds our own AS {local_asn}: a routing loop"
        ))
    } else {
        crate::policy::batch::bound_exceeded(
            attrs.as_path.iter().map(|s| s.asns.len()).sum(),
            attrs.communities.len(),
            attrs.large_communities.len(),
        )
        .map(|excess| {
            format!(
                "{excess}: past the local bound on a route's lists (so that a filter plugin that keeps them fits its answer bounds)"
            )
        })
    };
    update.treat_as_withdraw = reason;
}

/// The attributes verdicts leave routes with, for the routes of one filter
/// answer: routes left with equal attributes share one set (one allocation
/// for them, not one per route: a swap to a filter that rewrites every route
/// of a million-route table would otherwise hold a million copies, and free
/// them one by one). The SDK lists each distinct `modify` set of an answer
/// once, so routes that shared a received set and got the same answer set
/// are found by the two sets' addresses; a plugin that lists equal sets
/// apart still gets them shared, by value.
#[derive(Default)]
pub struct ModifiedSets {
    /// By the received set's and the answer set's addresses. Both `Arc`s
    /// are held (`held`), so that no address is reused while this lives.
    made: FastMap<(usize, usize), Arc<PathAttributes>>,
    held: Vec<(Arc<PathAttributes>, Arc<Attributes>)>,
    /// Every set made, by value.
    equal: HashSet<Arc<PathAttributes>, BuildHasherDefault<FastHasher>>,
}

impl ModifiedSets {
    /// What `verdict` leaves `attrs` with, `None` when rejected.
    pub fn apply(
        &mut self,
        attrs: &Arc<PathAttributes>,
        verdict: &Verdict,
    ) -> Option<Arc<PathAttributes>> {
        let set = match verdict {
            Verdict::Reject => return None,
            Verdict::Accept => return Some(attrs.clone()),
            Verdict::Modify(set) => set,
        };
        let key = (Arc::as_ptr(attrs) as usize, Arc::as_ptr(set) as usize);
        if let Some(made) = self.made.get(&key) {
            return Some(made.clone());
        }
        let made = Arc::new(wit_route::modified(attrs, set));
        let made = match self.equal.get(&made) {
            Some(equal) => equal.clone(),
            None => {
                self.equal.insert(made.clone());
                made
            }
        };
        self.held.push((attrs.clone(), set.clone()));
        self.made.insert(key, made.clone());
        Some(made)
    }
}

/// The import filter a chunk of routes goes through: the slot in force
/// (the live path) or a candidate plugin (a dry run). Both go through
/// [`decide`], so a dry run cannot drift from what a swap does.
pub enum ImportFilter<'a> {
    Slot(&'a mut FilterSlot),
    /// The slot in force, for routes it faulted on before (`retry.rs`).
    Retry(&'a mut FilterSlot),
    Candidate(&'a mut Plugin),
}

impl ImportFilter<'_> {
    /// A verdict per route, or why the filter did not answer.
    fn verdicts(&mut self, peer: &Peer, routes: &[Route]) -> Result<Vec<Verdict>, String> {
        let answer = match self {
            ImportFilter::Slot(slot) => slot.import_filter(peer, routes),
            ImportFilter::Retry(slot) => slot.import_filter_retry(peer, routes),
            ImportFilter::Candidate(plugin) => {
                return plugin
                    .filter(Direction::Import, peer, routes)
                    .map_err(|fault| fault.to_string())
            }
        };
        // The operator's filter faulted on these routes: they are not
        // accepted (fail closed) until a retry finds them accepted
        // (`retry.rs`). Once it is quarantined, the native default answers
        // (and every stored route is filtered again, see
        // `Gateway::after_quarantine`).
        if let Some(fault) = answer.fault.filter(|_| answer.by != DecidedBy::Plugin) {
            return Err(format!(
                "the bgp-filter plugin faulted ({fault}): {} route(s) not accepted",
                routes.len()
            ));
        }
        Ok(answer.verdicts)
    }
}

/// One route's import result: the prefix, its Adj-RIB-In attributes, and
/// what the guard and the filter leave of them (`None`: not accepted).
pub type Decided = (IpNet, Arc<PathAttributes>, Option<Arc<PathAttributes>>);

/// Runs the host's guard and the import filter over `prefixes` of the
/// peer's Adj-RIB-In (those no longer there are skipped), one filter call
/// for the chunk. Returns the results and the guard's refusals (for the
/// log), or, when the filter did not answer, the results of the guard
/// alone for the refused routes and the failure.
pub(super) fn decide(
    p: &BgpPeer,
    prefixes: &[IpNet],
    filter: &mut ImportFilter,
    guard: &Guard,
) -> (Vec<Decided>, Vec<String>, Option<String>) {
    let routes = prefixes
        .iter()
        .filter_map(|prefix| Some((*prefix, p.adj_in.get(prefix)?.clone(), ())))
        .collect();
    let (decided, refused, failed) = decide_routes(p, routes, filter, guard);
    let decided = decided
        .into_iter()
        .map(|(prefix, attrs, kept, ())| (prefix, attrs, kept))
        .collect();
    (decided, refused, failed)
}

/// [`decide`] over routes at hand: (prefix, Adj-RIB-In attributes, and
/// whatever the caller carries along, `W`), one filter call for them all.
fn decide_routes<W>(
    p: &BgpPeer,
    routes: Vec<(IpNet, Arc<PathAttributes>, W)>,
    filter: &mut ImportFilter,
    guard: &Guard,
) -> (Vec<Outcome<W>>, Vec<String>, Option<String>) {
    let mut refused = Vec::new();
    let mut decided: Vec<Outcome<W>> = Vec::with_capacity(routes.len());
    let mut present = Vec::with_capacity(routes.len());
    for (prefix, attrs, carried) in routes {
        match guard.refuses(&prefix, p.connection) {
            Some(why) => {
                refused.push(why);
                decided.push((prefix, attrs, None, carried));
            }
            None => present.push((prefix, attrs, carried)),
        }
    }
    if present.is_empty() {
        return (decided, refused, None);
    }
    let mut convert = wit_route::ToRoutes::default();
    let wit: Vec<Route> = present
        .iter()
        .map(|(prefix, attrs, _)| convert.route(*prefix, attrs))
        .collect();
    match filter.verdicts(&p.filter_peer, &wit) {
        Ok(verdicts) => {
            let mut apply = ModifiedSets::default();
            for ((prefix, attrs, carried), verdict) in present.into_iter().zip(verdicts.iter()) {
                let kept = apply.apply(&attrs, verdict);
                decided.push((prefix, attrs, kept, carried));
            }
            (decided, refused, None)
        }
        Err(failed) => {
            decided.extend(
                present
                    .into_iter()
                    .map(|(prefix, attrs, carried)| (prefix, attrs, None, carried)),
            );
            (decided, refused, Some(failed))
        }
    }
}

/// A route decided on, with what its caller carried along.
type Outcome<W> = (IpNet, Arc<PathAttributes>, Option<Arc<PathAttributes>>, W);

/// A route waiting for the live import filter: its prefix, its Adj-RIB-In
/// attributes, and what was accepted for the prefix before (in force until
/// the filter's result is recorded).
type Waiting = (IpNet, Arc<PathAttributes>, Option<Arc<PathAttributes>>);

/// The live path for queued prefixes (a filter swap, a refresh, a
/// quarantine, a retry): [`decide`] with the slot in force (`filter`:
/// [`ImportFilter::Slot`] or [`ImportFilter::Retry`]), the results recorded
/// as the peer's accepted routes (a failed filter fails closed); the
/// prefixes whose accepted route changed are added to `dirty`. The
/// refusals and failures go to the log (rate-limited per peer).
pub(super) fn import_filter(
    p: &mut BgpPeer,
    prefixes: &[IpNet],
    filter: &mut ImportFilter,
    guard: &Guard,
    dirty: &mut Vec<IpNet>,
    now: Instant,
) {
    let routes = prefixes
        .iter()
        .filter_map(|prefix| {
            let attrs = p.adj_in.get(prefix)?.clone();
            // What was in force: the filter's last result for the route.
            let was = p.accepted.view(prefix, Some(&attrs)).cloned();
            Some((*prefix, attrs, was))
        })
        .collect();
    let refused = record(p, routes, filter, guard, dirty);
    warn_refused(p, &refused, now);
}

/// Runs the guard and the filter over `routes` and records the results as
/// the peer's accepted routes; a prefix whose accepted route differs from
/// what was in force joins `dirty`.
fn record(
    p: &mut BgpPeer,
    routes: Vec<Waiting>,
    filter: &mut ImportFilter,
    guard: &Guard,
    dirty: &mut Vec<IpNet>,
) -> Vec<String> {
    let (decided, mut refused, failed) = decide_routes(p, routes, filter, guard);
    for (prefix, attrs, kept, was) in decided {
        if was != kept {
            dirty.push(prefix);
        }
        // Failed closed: not the filter's own rejection (the guard's are).
        if failed.is_some() && kept.is_none() && guard.refuses(&prefix, p.connection).is_none() {
            p.accepted.set_faulted(prefix, &attrs);
        } else {
            p.accepted.set(prefix, &attrs, kept);
        }
    }
    refused.extend(failed);
    refused
}

/// The routes of a session's UPDATEs waiting for one import-filter call
/// (the live path: the routes of many UPDATEs cross in one call). Nothing
/// else reads a batched route's prefix before [`Batch::flush`]: an UPDATE
/// that names one flushes the batch before it is applied, and the speaker
/// flushes before any other output of the session and at the end of each
/// event, so the batch is empty between events.
#[derive(Default)]
pub(super) struct Batch {
    routes: Vec<Waiting>,
    /// The batched prefixes, keyed as words (an `IpNet` hashed byte by
    /// byte cost more than the rest of the batching).
    prefixes: NetMap<()>,
}

impl Batch {
    /// Whether the batch holds a route of a prefix of `update`.
    pub fn touches(&self, update: &Update) -> bool {
        !self.prefixes.is_empty()
            && update
                .withdrawn_all()
                .chain(update.announced())
                .any(|n| self.prefixes.contains_key(n))
    }

    /// Adds an announced route; true when the batch is full (flush it).
    pub fn push(
        &mut self,
        prefix: IpNet,
        attrs: Arc<PathAttributes>,
        was: Option<Arc<PathAttributes>>,
    ) -> bool {
        self.prefixes.insert(prefix, ());
        self.routes.push((prefix, attrs, was));
        self.routes.len() >= FILTER_CHUNK
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// One filter call for the batched routes, recorded as in
    /// [`import_filter`]; the batch is left empty. Returns the refusals and
    /// failures, for the log.
    pub fn flush(
        &mut self,
        p: &mut BgpPeer,
        filter: &mut FilterSlot,
        guard: &Guard,
        dirty: &mut Vec<IpNet>,
    ) -> Vec<String> {
        self.prefixes.clear();
        let mut refused = Vec::new();
        // The room this batch needed, at once, not grown a route at a time
        // (a full batch while a table arrives; a few routes after).
        let room = self.routes.len();
        let mut routes = std::mem::replace(&mut self.routes, Vec::with_capacity(room));
        while !routes.is_empty() {
            let rest = routes.split_off(routes.len().min(FILTER_CHUNK));
            refused.extend(record(
                p,
                routes,
                &mut ImportFilter::Slot(filter),
                guard,
                dirty,
            ));
            routes = rest;
        }
        refused
    }
}

impl Speaker {
    /// Applies a received UPDATE: Adj-RIB-In, max-prefix; its announced
    /// routes join `batch` for the import filter (flushed first if it holds
    /// one of the UPDATE's prefixes, and when full).
    pub(super) fn import(
        &mut self,
        id: usize,
        mut update: Update,
        now: Instant,
        batch: &mut Batch,
        filter: &mut FilterSlot,
    ) -> (bool, Vec<Output>) {
        if batch.touches(&update) {
            self.flush(id, batch, now, filter);
        }
        let Some(p) = self.peers.get_mut(id) else {
            return (false, Vec::new());
        };
        let families = p
            .session
            .negotiated()
            .map(|n| n.families.clone())
            .unwrap_or_default();
        external_checks(
            &mut update,
            p.settings.remote_asn,
            p.settings.local_asn,
            &families,
        );
        let update = &update;
        let mut problems: Vec<String> = Vec::new();
        if let Some(reason) = &update.treat_as_withdraw {
            problems.push(format!("UPDATE treated as withdraw (RFC 7606): {reason}"));
        }
        for reason in &update.discarded {
            problems.push(format!("UPDATE attribute discarded (RFC 7606): {reason}"));
        }
        warn_refused(p, &problems, now);
        // Routes still stale from a graceful restart, or swept and on their
        // way out, do not count against the limit: the peer re-sends its
        // table over them, and a new prefix before an old one's withdrawal
        // must not close the session.
        let mut limits = p.settings.max_prefixes;
        let stale = p.stale_count() + p.leaving();
        if stale > 0 {
            let stale = u32::try_from(stale).unwrap_or(u32::MAX);
            limits.limit = limits.limit.saturating_add(stale);
            limits.warning = limits.warning.saturating_add(stale);
        }
        let applied = p.adj_in.apply(update, &limits);
        if applied.warning {
            warn!(tunnel = %p.tunnel_name, prefixes = p.adj_in.len(), limit = limits.limit,
                "peer is near its max_prefixes limit");
        }
        let mut outputs = Vec::new();
        if applied.exceeded {
            match limits.action {
                MaxPrefixAction::Drop => {
                    let why = format!(
                        "peer sent more than max_prefixes {}: the excess routes are ignored",
                        limits.limit
                    );
                    warn_refused(p, &[why], now);
                    p.last_error = Some(format!(
                        "max_prefixes {} exceeded: {} prefixes received, the excess ignored",
                        limits.limit,
                        p.adj_in.received()
                    ));
                }
                MaxPrefixAction::Close { restart_after } => {
                    let family = applied
                        .overflow
                        .map_or(Family::IPV4_UNICAST, |n| family_of(&n));
                    warn!(tunnel = %p.tunnel_name, limit = limits.limit,
                        "peer sent more than max_prefixes: closing the session (Cease / maximum prefixes), retry in {restart_after:?}");
                    let cease = max_prefix_cease(family, limits.limit);
                    outputs = p.session.stop(Some(cease), Some(restart_after), now);
                    let reason = format!(
                        "max_prefixes {} exceeded: session closed with Cease / maximum number of prefixes reached, retry in {}s",
                        limits.limit,
                        restart_after.as_secs()
                    );
                    p.last_error = Some(reason);
                    // The withdrawals this UPDATE applied before the limit:
                    // the Down walks only what is left in the Adj-RIB-In.
                    let mut changed = false;
                    let withdrawn = applied.changed.iter().zip(&applied.before);
                    for (n, old) in withdrawn.take(applied.withdrawn) {
                        if p.adj_in.get(n).is_some() {
                            continue;
                        }
                        if p.accepted.view(n, old.as_ref()).is_some() {
                            changed = true;
                            self.dirty.push(*n);
                        }
                        p.accepted.forget(n);
                    }
                    return (changed || p.accepted.len(&p.adj_in) > 0, outputs);
                }
            }
        }
        // Announced or replaced routes join the batch for the import filter
        // (see `import::Batch`); withdrawn ones go now.
        let mut changed = false;
        if p.restart.is_some() || !p.sweeping.is_empty() {
            let end_of_rib = update.is_end_of_rib();
            self.gr_update(id, &applied.changed, end_of_rib);
        }
        let Some(p) = self.peers.get_mut(id) else {
            return (changed, outputs);
        };
        // What the filter accepted before each change: the exception, else
        // the route the Adj-RIB-In had (`applied.before`, no lookup). A
        // prefix withdrawn and announced again by this UPDATE is replaced:
        // what was accepted before the UPDATE carries to its announcement.
        let mut carried: Vec<(IpNet, Option<Arc<PathAttributes>>)> = Vec::new();
        let (withdrawn, announced) = applied.changed.split_at(applied.withdrawn);
        let (before_w, before_a) = applied.before.split_at(applied.withdrawn);
        for (n, old) in withdrawn.iter().zip(before_w) {
            let was = p.accepted.view(n, old.as_ref()).cloned();
            if p.adj_in.get(n).is_some() {
                carried.push((*n, was));
                continue;
            }
            p.accepted.forget(n);
            if was.is_some() {
                changed = true;
                self.dirty.push(*n);
            }
        }
        let mut full = false;
        for (n, old) in announced.iter().zip(before_a) {
            let was = match carried.iter().position(|(c, _)| c == n) {
                Some(i) => carried.swap_remove(i).1,
                None => p.accepted.view(n, old.as_ref()).cloned(),
            };
            // The batch records the filter's result; until then nothing
            // reads the prefix (see `import::Batch`).
            // (Routes were announced, so the UPDATE had attributes.)
            if let Some(attrs) = &applied.attrs {
                full |= batch.push(*n, attrs.clone(), was);
            }
        }
        if full {
            self.flush(id, batch, now, filter);
        }
        (changed, outputs)
    }
}

/// Cease / Maximum Number of Prefixes Reached, with the family and the
/// limit as data (RFC 4486 section 4).
pub(super) fn max_prefix_cease(family: Family, limit: u32) -> Notification {
    let mut data = Vec::with_capacity(7);
    data.extend_from_slice(&family.afi.to_be_bytes());
    data.push(family.safi);
    data.extend_from_slice(&limit.to_be_bytes());
    Notification::new(
        error_code::CEASE,
        error_code::MAXIMUM_PREFIXES_REACHED,
        data,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_prefix_cease_carries_family_and_limit() {
        let n = max_prefix_cease(Family::IPV6_UNICAST, 100);
        assert_eq!((n.code, n.subcode), (6, 1));
        assert_eq!(n.data, vec![0, 2, 1, 0, 0, 0, 100]);
    }
    use crate::bgp::message::AsSegment;
    use std::net::Ipv4Addr;

    fn update(path: &[u32]) -> Update {
        Update {
            attributes: Some(PathAttributes {
                as_path: vec![AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: path.to_vec(),
                }],
                local_pref: Some(300),
                next_hop: Some(Ipv4Addr::new(169, 254, 10, 2)),
                ..PathAttributes::default()
            }),
            nlri: vec!["10.1.0.0/24".parse().unwrap()],
            ..Update::default()
        }
    }

    const BOTH: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];

    /// A filter that rewrites every route of a table leaves the routes that
    /// shared a set sharing one again, whether the answer lists the new set
    /// once (the SDK) or once per route (a plugin on the raw contract).
    #[test]
    fn modified_routes_share_their_new_set() {
        let received = |path: &[u32]| Arc::new(update(path).attributes.expect("attributes"));
        let (a, b) = (received(&[65000]), received(&[65000, 65010]));
        let raised = |attrs: &PathAttributes| {
            let mut set = wit_route::to_attributes(attrs);
            set.local_pref = Some(200);
            Arc::new(set)
        };
        let once = raised(&a);
        let mut sets = ModifiedSets::default();
        let made: Vec<Arc<PathAttributes>> = [
            (&a, Verdict::Modify(once.clone())),
            (&a, Verdict::Modify(once.clone())),
            // The same change listed apart, as a plugin may answer.
            (&a, Verdict::Modify(raised(&a))),
            (&b, Verdict::Modify(raised(&b))),
        ]
        .iter()
        .filter_map(|(attrs, verdict)| sets.apply(attrs, verdict))
        .collect();
        assert_eq!(made[0].local_pref, Some(200));
        assert!(Arc::ptr_eq(&made[0], &made[1]), "same sets: one result");
        assert!(Arc::ptr_eq(&made[0], &made[2]), "an equal set: shared");
        assert_eq!(made[3].as_path_flat(), vec![65000, 65010]);
        assert!(!Arc::ptr_eq(&made[0], &made[3]), "different results");
        assert!(Arc::ptr_eq(
            &sets.apply(&a, &Verdict::Accept).expect("accepted"),
            &a
        ));
        assert!(sets.apply(&b, &Verdict::Reject).is_none());
    }

    #[test]
    fn external_peers_local_pref_is_dropped_and_paths_checked() {
        let mut u = update(&[65000, 65010]);
        external_checks(&mut u, 65000, 64512, &BOTH);
        assert_eq!(u.treat_as_withdraw, None);
        assert_eq!(u.attributes.as_ref().unwrap().local_pref, None);

        let mut u = update(&[65010]);
        external_checks(&mut u, 65000, 64512, &BOTH);
        assert_eq!(
            u.treat_as_withdraw.as_deref(),
            Some("AS_PATH does not start with the peer's AS 65000 (RFC 4271 section 6.3)")
        );

        let mut u = update(&[65000, 64512]);
        external_checks(&mut u, 65000, 64512, &BOTH);
        assert_eq!(
            u.treat_as_withdraw.as_deref(),
            Some("AS_PATH holds our own AS 64512: a routing loop")
        );
    }

    #[test]
    fn a_path_with_as_0_or_a_confederation_segment_is_treat_as_withdraw() {
        let mut u = update(&[65000, 0, 65010]);
        external_checks(&mut u, 65000, 64512, &BOTH);
        assert_eq!(
            u.treat_as_withdraw.as_deref(),
            Some("AS_PATH holds AS 0 (RFC 7607)")
        );
        for kind in [SegmentKind::ConfedSequence, SegmentKind::ConfedSet] {
            let mut u = update(&[65000, 65010]);
            if let Some(attrs) = u.attributes.as_mut() {
                attrs.as_path.push(AsSegment {
                    kind,
                    asns: vec![65020],
                });
            }
            external_checks(&mut u, 65000, 64512, &BOTH);
            let why = u.treat_as_withdraw.unwrap_or_default();
            assert!(why.contains("confederation"), "{kind:?}: {why}");
        }
    }

    #[test]
    fn a_route_past_the_local_bounds_on_its_lists_is_treat_as_withdraw() {
        let path: Vec<u32> = std::iter::once(65000).chain(70_000..70_254).collect();
        let mut u = update(&path);
        external_checks(&mut u, 65000, 64512, &BOTH);
        assert_eq!(u.treat_as_withdraw, None, "255 ASNs are within");
        let path: Vec<u32> = std::iter::once(65000).chain(70_000..70_255).collect();
        let mut u = update(&path);
        external_checks(&mut u, 65000, 64512, &BOTH);
        let why = u.treat_as_withdraw.unwrap_or_default();
        assert!(why.starts_with("256 ASNs in the AS path"), "{why}");
        let mut u = update(&[65000]);
        if let Some(attrs) = u.attributes.as_mut() {
            let one = crate::bgp::message::LargeCommunity {
                global_admin: 65000,
                local_data1: 1,
                local_data2: 2,
            };
            attrs.large_communities = vec![one; 65];
        }
        external_checks(&mut u, 65000, 64512, &BOTH);
        let why = u.treat_as_withdraw.unwrap_or_default();
        assert!(why.starts_with("65 large communities"), "{why}");
    }

    #[test]
    fn routes_of_a_family_not_negotiated_are_ignored() {
        let mut u = update(&[65000]);
        external_checks(&mut u, 65000, 64512, &[Family::IPV6_UNICAST]);
        assert!(u.nlri.is_empty());
    }
}
