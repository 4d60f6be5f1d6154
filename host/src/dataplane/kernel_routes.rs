//! The kernel routes that steer the route table's prefixes into the TUN
//! device, so hosts of the local network reach the far sites through the
//! gateway.
//!
//! This module owns the routes it installed through this device, with this
//! metric, and nothing else. The first set (the configured static routes)
//! is installed before the gateway reports itself running; like every later
//! one it never replaces a route the host had (a conflict is logged and the
//! prefix left to the host's route). A default route goes into a table of
//! its own behind policy rules (`own_traffic`), so that it can never carry
//! the gateway's own WireGuard datagrams into the tunnels; the rules are
//! installed at start (replacing a crashed run's) and removed at stop. Every
//! route carries the gateway's protocol number. Later changes (BGP routes come and go)
//! arrive as deltas, "this prefix should (not) be routed into the device",
//! merged into a pending map where the latest wish for a prefix replaces
//! any earlier one, so the pending work is bounded by the number of
//! distinct prefixes whatever the rate of changes. A thread of its own takes
//! the whole map at once and compares each wish with what it installed: it
//! adds what is wanted and not installed, never over an existing route, and
//! deletes what is installed and not wanted; a wish equal to the current
//! state costs nothing. The control loop holds the map's lock only to merge
//! and never waits on netlink.
//!
//! It must not decide which prefixes exist (the route table does); after
//! the start it must not replace or delete a route it did not install (the
//! uplink's default route, a connected subnet), and must not make its
//! caller wait on netlink.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use ipnet::IpNet;
use rtnetlink::Handle;
use tracing::{debug, warn};

use super::own_traffic;
use super::tun::TunError;
use crate::net_map::NetMap;

/// Where routes go: the TUN device and the metric to give them.
#[derive(Debug, Clone)]
struct Device {
    name: String,
    if_index: u32,
    metric: u32,
}

/// The wishes not yet taken by the sync thread: prefix -> whether it should
/// be routed into the device. The latest wish for a prefix replaces any
/// earlier one, so the map never holds more entries than distinct prefixes.
#[derive(Default)]
struct Pending {
    wishes: NetMap<bool>,
}

impl Pending {
    /// Merges `changes` in order: a later wish for a prefix wins. Prefixes
    /// are keyed by their network (host bits dropped), as the kernel sees them.
    fn merge(&mut self, changes: impl IntoIterator<Item = (IpNet, bool)>) {
        for (prefix, wanted) in changes {
            self.wishes.insert(prefix.trunc(), wanted);
        }
    }

    /// Every wish so far, leaving none behind.
    fn take(&mut self) -> NetMap<bool> {
        std::mem::take(&mut self.wishes)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.wishes.len()
    }
}

/// What to do for a batch of `wishes`, given the prefixes `installed`:
/// `(to_add, to_delete)`, each sorted. A wish equal to the current state is
/// in neither list; only installed prefixes are ever deleted.
fn plan(installed: &NetMap<()>, wishes: &NetMap<bool>) -> (Vec<IpNet>, Vec<IpNet>) {
    let mut to_add = Vec::new();
    let mut to_delete = Vec::new();
    for (prefix, &wanted) in wishes.iter() {
        match (wanted, installed.contains_key(&prefix)) {
            (true, false) => to_add.push(prefix),
            (false, true) => to_delete.push(prefix),
            _ => {}
        }
    }
    to_add.sort_unstable();
    to_delete.sort_unstable();
    (to_add, to_delete)
}

/// What the handle and the sync thread share.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Set when the handle is dropped: the thread stops before its next
    /// netlink request.
    stop: AtomicBool,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Merging cannot leave the map half-updated in a way that matters:
        // a poisoned lock still holds valid wishes.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A handle on the route-syncing thread. Dropping it stops the thread
/// (before its next netlink request; wishes not yet applied are dropped,
/// routes already installed stay until the device goes).
pub struct KernelRoutes {
    shared: Arc<Shared>,
    /// Holds at most one wake-up: the thread takes every wish at once.
    wake: Option<SyncSender<()>>,
    /// The sync thread, joined at drop once it has removed the rules.
    thread: Option<JoinHandle<()>>,
}

impl KernelRoutes {
    /// Installs the policy rules and `initial` now (never over a route the
    /// host had: such a prefix is logged and skipped), then keeps the kernel
    /// in step with the changes given to [`KernelRoutes::apply`].
    pub fn start(
        name: &str,
        if_index: u32,
        metric: u32,
        initial: &[IpNet],
    ) -> Result<KernelRoutes, TunError> {
        let device = Device {
            name: name.to_string(),
            if_index,
            metric,
        };
        let route_err = |prefix: Option<&IpNet>, source: io::Error| TunError::Route {
            name: name.to_string(),
            prefix: prefix.copied().unwrap_or(IpNet::V4(Default::default())),
            source,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| route_err(initial.first(), e))?;
        let handle = runtime.block_on(async {
            let (connection, handle, _) = rtnetlink::new_connection()?;
            tokio::spawn(connection);
            Ok::<Handle, io::Error>(handle)
        });
        let handle = handle.map_err(|e| route_err(initial.first(), e))?;
        runtime
            .block_on(own_traffic::install_rules(&handle))
            .map_err(|e| TunError::Rules {
                source: io::Error::other(e.to_string()),
            })?;
        let mut installed = NetMap::default();
        for prefix in initial {
            match runtime.block_on(add(&handle, &device, prefix)) {
                Ok(()) => {
                    installed.insert(prefix.trunc(), ());
                }
                Err(e) => warn!(%prefix, tun = %device.name, metric = device.metric, error = %e,
                    "static route not installed in the kernel: the host has a route for this prefix with this metric (sitelink never replaces the host's routes; give [route_table] kernel_metric another value)"),
            }
        }
        let shared = Arc::new(Shared::default());
        let (wake, woken) = mpsc::sync_channel(1);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kernel-routes".into())
            .spawn(move || {
                sync_loop(&runtime, &handle, &device, installed, &thread_shared, woken);
                // Stopping: the rules go unless another gateway still uses
                // the table (this device's routes go with the device).
                runtime.block_on(own_traffic::remove_rules(&handle, device.if_index));
            })
            .map_err(|e| route_err(initial.first(), e))?;
        Ok(KernelRoutes {
            shared,
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Merges `changes` into the pending wishes: `(prefix, true)` when the
    /// prefix should be routed into the device, `(prefix, false)` when it
    /// should not. The latest wish for a prefix wins, including over wishes
    /// from earlier calls not yet applied. Never waits on netlink: the lock
    /// is held only to merge, and the sync thread holds it only to take the
    /// whole map. A prefix whose add fails (another route with this prefix
    /// and metric is in the table) is tried again when next wished for.
    pub fn apply(&self, changes: impl IntoIterator<Item = (IpNet, bool)>) {
        self.shared.pending().merge(changes);
        // Full: a wake-up is already waiting, and the thread takes every
        // wish when it runs. Disconnected: the thread is gone (it stops only
        // when this handle is dropped); the wishes stay bounded by the
        // number of prefixes.
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }
}

impl Drop for KernelRoutes {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Ends the thread's wait; it removes the rules, then returns.
        drop(self.wake.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sync_loop(
    runtime: &tokio::runtime::Runtime,
    handle: &Handle,
    device: &Device,
    mut installed: NetMap<()>,
    shared: &Shared,
    woken: Receiver<()>,
) {
    while woken.recv().is_ok() {
        if shared.stopped() {
            return;
        }
        // Taken after the wake-up is consumed: a wish merged after this
        // point sends a new one, so none is left behind.
        let wishes = shared.pending().take();
        let (to_add, to_delete) = plan(&installed, &wishes);
        drop(wishes);
        for prefix in to_delete {
            if shared.stopped() {
                return;
            }
            match runtime.block_on(del(handle, device, &prefix)) {
                Ok(()) => debug!(%prefix, tun = %device.name, "kernel route removed"),
                // Gone already (the device went down, or someone removed it).
                Err(e) => {
                    debug!(%prefix, tun = %device.name, error = %e, "kernel route not removed")
                }
            }
            installed.remove(&prefix);
        }
        for prefix in to_add {
            if shared.stopped() {
                return;
            }
            // Never replace a route someone else installed (the uplink's
            // default route, a connected subnet): a learned prefix must not
            // take the host's own routing over. Not installed, so tried
            // again when next wished for.
            if own_traffic::table_for(&prefix) == own_traffic::TABLE {
                if let Err(e) = runtime.block_on(own_traffic::ensure_rules(handle)) {
                    warn!(%prefix, tun = %device.name, error = %e,
                        "cannot add the own-traffic rules; the default route is not installed (is the gateway still allowed CAP_NET_ADMIN?)");
                    continue;
                }
            }
            match runtime.block_on(add(handle, device, &prefix)) {
                Ok(()) => {
                    debug!(%prefix, tun = %device.name, "kernel route added");
                    installed.insert(prefix, ());
                    // Once more after the route: a gateway stopping on the
                    // host may have deleted them since (`remove_rules`).
                    if own_traffic::table_for(&prefix) == own_traffic::TABLE {
                        if let Err(e) = runtime.block_on(own_traffic::ensure_rules(handle)) {
                            warn!(%prefix, tun = %device.name, error = %e, "cannot add the own-traffic rules");
                        }
                    }
                }
                Err(e) => warn!(%prefix, tun = %device.name, metric = device.metric, error = %e,
                    "cannot add kernel route (is another route with this prefix and metric in the table?)"),
            }
        }
    }
}

/// Adds a route into the device (a default route into our own table),
/// never over an existing one.
async fn add(handle: &Handle, device: &Device, prefix: &IpNet) -> Result<(), rtnetlink::Error> {
    let request = handle
        .route()
        .add()
        .output_interface(device.if_index)
        .priority(device.metric)
        .table_id(own_traffic::table_for(prefix))
        .protocol(own_traffic::protocol());
    match prefix {
        IpNet::V4(p) => {
            request
                .v4()
                .destination_prefix(p.network(), p.prefix_len())
                .execute()
                .await
        }
        IpNet::V6(p) => {
            request
                .v6()
                .destination_prefix(p.network(), p.prefix_len())
                .execute()
                .await
        }
    }
}

async fn del(handle: &Handle, device: &Device, prefix: &IpNet) -> Result<(), rtnetlink::Error> {
    let request = handle
        .route()
        .add()
        .output_interface(device.if_index)
        .priority(device.metric)
        .table_id(own_traffic::table_for(prefix))
        .protocol(own_traffic::protocol());
    let message = match prefix {
        IpNet::V4(p) => request
            .v4()
            .destination_prefix(p.network(), p.prefix_len())
            .message_mut()
            .clone(),
        IpNet::V6(p) => request
            .v6()
            .destination_prefix(p.network(), p.prefix_len())
            .message_mut()
            .clone(),
    };
    handle.route().del(message).execute().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    fn installed(prefixes: &[&str]) -> NetMap<()> {
        let mut set = NetMap::default();
        for p in prefixes {
            set.insert(net(p), ());
        }
        set
    }

    /// What the sync thread would do with everything pending now.
    fn run(pending: &mut Pending, installed: &NetMap<()>) -> (Vec<IpNet>, Vec<IpNet>) {
        plan(installed, &pending.take())
    }

    #[test]
    fn latest_wish_wins() {
        let mut pending = Pending::default();
        pending.merge([(net("10.1.0.0/24"), true), (net("10.2.0.0/24"), true)]);
        pending.merge([(net("10.1.0.0/24"), false)]);
        pending.merge([(net("10.2.0.0/24"), false), (net("10.2.0.0/24"), true)]);
        assert_eq!(pending.len(), 2);
        let (add, del) = run(&mut pending, &installed(&["10.1.0.0/24"]));
        assert_eq!(add, vec![net("10.2.0.0/24")]);
        assert_eq!(del, vec![net("10.1.0.0/24")]);
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn a_flood_of_changes_stays_bounded_by_the_prefixes() {
        let prefixes: Vec<IpNet> = (0..10u8).map(|i| net(&format!("10.{i}.0.0/16"))).collect();
        let mut pending = Pending::default();
        for round in 0..100_000usize {
            pending.merge(prefixes.iter().map(|p| (*p, round % 2 == 0)));
            assert!(pending.len() <= 10);
        }
        // 1,000,000 changes, the last of each prefix "not wanted".
        assert_eq!(pending.len(), 10);
        let (add, del) = run(&mut pending, &installed(&[]));
        assert!(add.is_empty() && del.is_empty());
    }

    #[test]
    fn add_then_delete_before_the_thread_runs_does_nothing() {
        let mut pending = Pending::default();
        pending.merge([(net("192.0.2.0/24"), true)]);
        pending.merge([(net("192.0.2.0/24"), false)]);
        let (add, del) = run(&mut pending, &installed(&["10.0.0.0/8"]));
        assert!(add.is_empty() && del.is_empty());
    }

    #[test]
    fn deletes_only_what_we_installed() {
        let mut pending = Pending::default();
        pending.merge([
            (net("10.0.0.0/8"), false),
            (net("0.0.0.0/0"), false),
            (net("fd00:1::/64"), false),
            (net("fd00:2::/64"), false),
        ]);
        let (add, del) = run(&mut pending, &installed(&["10.0.0.0/8", "fd00:2::/64"]));
        assert!(add.is_empty());
        assert_eq!(del, vec![net("10.0.0.0/8"), net("fd00:2::/64")]);
    }

    #[test]
    fn a_wish_equal_to_the_state_costs_nothing() {
        let mut pending = Pending::default();
        pending.merge([(net("10.0.0.0/8"), true), (net("10.9.0.0/16"), false)]);
        let (add, del) = run(&mut pending, &installed(&["10.0.0.0/8"]));
        assert!(add.is_empty() && del.is_empty());
    }

    #[test]
    fn host_bits_do_not_make_another_prefix() {
        let mut pending = Pending::default();
        pending.merge([(net("10.1.0.7/24"), true), (net("10.1.0.0/24"), false)]);
        assert_eq!(pending.len(), 1);
        let (add, del) = run(&mut pending, &installed(&["10.1.0.0/24"]));
        assert!(add.is_empty());
        assert_eq!(del, vec![net("10.1.0.0/24")]);
    }

    #[test]
    fn both_lists_are_sorted() {
        let mut pending = Pending::default();
        pending.merge([
            (net("fd00::/64"), true),
            (net("10.3.0.0/16"), true),
            (net("10.1.0.0/16"), true),
            (net("10.9.0.0/16"), false),
            (net("10.8.0.0/16"), false),
        ]);
        let (add, del) = run(&mut pending, &installed(&["10.8.0.0/16", "10.9.0.0/16"]));
        assert_eq!(
            add,
            vec![net("10.1.0.0/16"), net("10.3.0.0/16"), net("fd00::/64")]
        );
        assert_eq!(del, vec![net("10.8.0.0/16"), net("10.9.0.0/16")]);
    }
}
