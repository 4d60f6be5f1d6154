//! The kernel routes that steer the route table's prefixes into the TUN
//! device, so hosts of the local network reach the far sites through the
//! gateway. The first set (the configured static routes) is installed
//! before the gateway reports itself running, replacing what is there
//! (errors stop the start); later sets (BGP routes come and go) are applied
//! by a thread of its own that adds what is new, never over an existing
//! route, and deletes what is gone, so the control loop never waits on
//! netlink. It owns only the routes
//! it installed through this device, with this metric; it does not decide
//! which prefixes exist.

use std::collections::BTreeSet;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender};

use ipnet::IpNet;
use rtnetlink::Handle;
use tracing::{debug, warn};

use super::tun::TunError;

/// Where routes go: the TUN device and the metric to give them.
#[derive(Debug, Clone)]
struct Device {
    name: String,
    if_index: u32,
    metric: u32,
}

/// A handle on the route-syncing thread.
pub struct KernelRoutes {
    tx: Sender<Vec<IpNet>>,
}

impl KernelRoutes {
    /// Installs `initial` now, then keeps the kernel in step with the sets
    /// given to [`KernelRoutes::set`].
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
        for prefix in initial {
            runtime
                .block_on(add(&handle, &device, prefix, true))
                .map_err(|e| route_err(Some(prefix), io::Error::other(e.to_string())))?;
        }
        let (tx, rx) = mpsc::channel();
        let installed: BTreeSet<IpNet> = initial.iter().copied().collect();
        std::thread::Builder::new()
            .name("kernel-routes".into())
            .spawn(move || sync_loop(runtime, handle, device, installed, rx))
            .map_err(|e| route_err(initial.first(), e))?;
        Ok(KernelRoutes { tx })
    }

    /// The prefixes that should now be routed into the device.
    pub fn set(&self, prefixes: Vec<IpNet>) {
        let _ = self.tx.send(prefixes);
    }
}

fn sync_loop(
    runtime: tokio::runtime::Runtime,
    handle: Handle,
    device: Device,
    mut installed: BTreeSet<IpNet>,
    rx: Receiver<Vec<IpNet>>,
) {
    while let Ok(mut wanted) = rx.recv() {
        // Only the latest set matters.
        while let Ok(newer) = rx.try_recv() {
            wanted = newer;
        }
        let wanted: BTreeSet<IpNet> = wanted.into_iter().collect();
        let gone: Vec<IpNet> = installed.difference(&wanted).copied().collect();
        for prefix in gone {
            match runtime.block_on(del(&handle, &device, &prefix)) {
                Ok(()) => debug!(%prefix, tun = %device.name, "kernel route removed"),
                // Gone already (the device went down, or someone removed it).
                Err(e) => {
                    debug!(%prefix, tun = %device.name, error = %e, "kernel route not removed")
                }
            }
            installed.remove(&prefix);
        }
        let new: Vec<IpNet> = wanted.difference(&installed).copied().collect();
        for prefix in new {
            // Never replace a route someone else installed (the uplink's
            // default route, a connected subnet): a learned prefix must not
            // take the host's own routing over. Tried again on the next set.
            match runtime.block_on(add(&handle, &device, &prefix, false)) {
                Ok(()) => {
                    debug!(%prefix, tun = %device.name, "kernel route added");
                    installed.insert(prefix);
                }
                Err(e) => warn!(%prefix, tun = %device.name, metric = device.metric, error = %e,
                    "cannot add kernel route (is another route with this prefix and metric in the table?)"),
            }
        }
    }
}

/// Adds a route into the device; `replace` lets it take the place of an
/// existing route with the same prefix and metric.
async fn add(
    handle: &Handle,
    device: &Device,
    prefix: &IpNet,
    replace: bool,
) -> Result<(), rtnetlink::Error> {
    let mut request = handle
        .route()
        .add()
        .output_interface(device.if_index)
        .priority(device.metric);
    if replace {
        request = request.replace();
    }
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
        .priority(device.metric);
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
