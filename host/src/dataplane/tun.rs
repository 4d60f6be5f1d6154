//! The TUN device toward the local network, and the kernel routes that steer
//! the far sites' prefixes into it.
//!
//! This module owns creating the device (name, MTU, offloads, the tunnels'
//! inside addresses, so the kernel's own sockets can use them). Kernel routes over
//! netlink are `kernel_routes`'. It does not read or write packets (`io`
//! does) and does not decide which prefixes exist (the route table does).

use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use tracing::{info, warn};
use tun_rs::{DeviceBuilder, SyncDevice};

use crate::config::TunConfig;

#[derive(Debug, thiserror::Error)]
pub enum TunError {
    #[error("cannot create TUN device {name}: permission denied\n  fix: run as root, or give the binary CAP_NET_ADMIN (setcap cap_net_admin+ep)")]
    Permission {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot create TUN device {name}: /dev/net/tun is missing\n  fix: load the tun module (modprobe tun)")]
    NoTunModule {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot create TUN device {name}: the name is taken by a device in use\n  fix: stop the other program or choose another [tun] name")]
    Busy {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot create TUN device {name}")]
    Create {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("TUN device {name}: cannot add address {address}/{prefix_len}")]
    Address {
        name: String,
        address: IpAddr,
        prefix_len: u8,
        #[source]
        source: io::Error,
    },
    #[error("cannot install kernel route {prefix} via {name}")]
    Route {
        name: String,
        prefix: IpNet,
        #[source]
        source: io::Error,
    },
    #[error("cannot install the policy rules that keep the gateway's own WireGuard traffic out of its routes\n  fix: run as root (CAP_NET_ADMIN), or set [route_table] kernel_routes = false")]
    Rules {
        #[source]
        source: io::Error,
    },
}

/// Creates the TUN device, up, with `addresses` (each tunnel's inside
/// addresses, IPv4 and IPv6, with their prefix lengths) configured on it. A
/// TUN device is IFF_NOARP, so the kernel skips duplicate address detection
/// and an IPv6 inside address is usable at once. Offloads (IFF_VNET_HDR with TSO and
/// checksum offload, and UDP segmentation where the kernel has it) are asked
/// for unless the config turns them off, so the kernel hands over TCP
/// super-packets and takes coalesced ones; a kernel that refuses them gets a
/// plain device. With `multi_queue`, the device is made with
/// IFF_MULTI_QUEUE so that [`extra_queues`] can open more queues (a kernel
/// that refuses gets a single-queue device).
pub fn open(
    cfg: &TunConfig,
    addresses: &[(IpAddr, u8)],
    multi_queue: bool,
) -> Result<SyncDevice, TunError> {
    let name = cfg.name.clone();
    let build_queues = |offload: bool, multi_queue: bool| {
        let mut builder = DeviceBuilder::new()
            .name(&cfg.name)
            .mtu(cfg.mtu)
            .with(|b| {
                b.multi_queue(multi_queue);
            })
            .offload(offload)
            .enable(true);
        if let Some((IpAddr::V4(addr), len)) = addresses.first() {
            builder = builder.ipv4(*addr, *len, None);
        }
        builder.build_sync()
    };
    let build = |offload: bool| match build_queues(offload, multi_queue) {
        Err(e) if multi_queue && offload_refused(&e) => {
            warn!(tun = %name, error = %e, "a multi-queue TUN device refused; using one queue");
            build_queues(offload, false)
        }
        other => other,
    };
    let device = match build(cfg.offload) {
        Ok(device) => device,
        Err(e) if !cfg.offload || !offload_refused(&e) => return Err(classify(&name, e)),
        Err(e) => {
            warn!(tun = %name, error = %e, "TUN offloads refused; using a plain device (slower)");
            build(false).map_err(|source| classify(&name, source))?
        }
    };
    info!(
        tun = %name,
        offload = device.tcp_gso(),
        udp_segmentation = device.udp_gso(),
        "TUN device up"
    );
    let first_set = matches!(addresses.first(), Some((IpAddr::V4(_), _)));
    for (address, prefix_len) in addresses.iter().skip(usize::from(first_set)) {
        add_address(&device, *address, *prefix_len).map_err(|source| TunError::Address {
            name: name.clone(),
            address: *address,
            prefix_len: *prefix_len,
            source,
        })?;
    }
    Ok(device)
}

/// Adds one inside address to the device.
pub fn add_address(device: &SyncDevice, address: IpAddr, prefix_len: u8) -> io::Result<()> {
    match address {
        IpAddr::V4(a) => device.add_address_v4(a, prefix_len),
        IpAddr::V6(a) => device.add_address_v6(a, prefix_len),
    }
}

/// Opens up to `total - 1` more queues of a multi-queue `device`, so that
/// several threads read it (the kernel keeps each flow on one queue). Stops
/// at the first refusal (a single-queue device refuses at once), with a
/// warning; the data path then reads with the queues it has.
pub fn extra_queues(device: &SyncDevice, total: usize) -> Vec<SyncDevice> {
    let mut queues = Vec::new();
    for _ in 1..total {
        match device.try_clone() {
            Ok(queue) => queues.push(queue),
            Err(e) => {
                warn!(error = %e, opened = queues.len() + 1, "TUN device: no more queues; reading with those it has");
                break;
            }
        }
    }
    queues
}

/// Whether creating the device failed because the kernel refused offloads
/// or multiple queues (an old kernel or a restricted one), not for a reason
/// a plain device would share (permissions, a busy name).
fn offload_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY)
    )
}

fn classify(name: &str, source: io::Error) -> TunError {
    let name = name.to_string();
    match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => TunError::Permission { name, source },
        Some(libc::ENOENT) | Some(libc::ENODEV) => TunError::NoTunModule { name, source },
        Some(libc::EBUSY) | Some(libc::EEXIST) => TunError::Busy { name, source },
        _ => TunError::Create { name, source },
    }
}
