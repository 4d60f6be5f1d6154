//! The driver: the only part of the control plane that does I/O. Start-up
//! in an order that leaves nothing half-started, the threads, and a clean
//! stop on SIGINT or SIGTERM; the control thread that drives the gateway
//! core (`control`), the BGP transport (`transport`), the turn statistics
//! (`turns`), the Prometheus metrics server (`metrics`).
//!
//! Start-up binds every endpoint, then the admin socket and the metrics
//! address (`[metrics] listen`, when set), then creates the TUN
//! device and kernel routes; the first failure returns an error that names the
//! fix, and everything opened before it is closed again by drop. This module
//! owns the threads' lifetimes; it holds no protocol logic.

pub mod control;
pub mod metrics;
pub mod notify;
mod sighup;
pub mod transport;
pub mod tunnel_log;
pub mod turns;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing::{debug, error, info, warn};

use crate::config::GatewayConfig;
use crate::control::admin::{self, AdminError};
use crate::dataplane::endpoint::{route_mtu, BindError, Endpoint};
use crate::dataplane::kernel_routes::KernelRoutes;
use crate::dataplane::tun::{self, TunError};
use crate::dataplane::tunnel::TunnelSpec;
use crate::dataplane::{io, Dataplane};
use crate::gateway::{Gateway, Settings, Slots};
use crate::policy::{
    EngineSettings, FailoverSlot, FilterSlot, PluginError, PolicyEngine, SelectionSlot, Slot,
};
use control::{Control, ControlEvent, Queues};
use transport::{Report, Transport};
use turns::TurnStats;

/// How long the data path runs on after the control loop said goodbye
/// (each BGP session's Cease and TCP close), to carry it through the
/// tunnels before it stops.
const GOODBYE_TIME: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Tun(#[from] TunError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
    #[error(transparent)]
    TunnelLog(#[from] tunnel_log::OpenError),
    #[error(transparent)]
    PluginRefused(#[from] crate::policy::ConfiguredError),
    #[error("cannot build the data path: {0}")]
    Dataplane(&'static str),
    #[error("the data path's {0} thread ended, so the gateway stopped (the TUN device or an endpoint's socket failed: the log before this says how)\n  fix: see why (another program deleting the TUN device, say); a service manager starts the gateway again")]
    DataPathEnded(String),
    #[error("cannot start a thread or signal handler")]
    Io(#[from] std::io::Error),
}

/// The policy engine and the three slots, with the plugins the config names
/// compiled, checked and installed (a bad plugin stops the start).
fn policy(cfg: &GatewayConfig) -> Result<(PolicyEngine, Slots), StartError> {
    let p = &cfg.plugins;
    let engine = PolicyEngine::new(EngineSettings {
        deadline: p.deadline,
        memory_limit_bytes: p.memory_limit,
        max_faults: p.max_faults,
        cache_dir: Some(p.cache_dir.clone()),
    })?;
    let mut slots = Slots {
        failover: FailoverSlot::new(p.max_faults),
        selection: SelectionSlot::new(p.max_faults),
        filter: FilterSlot::new(p.max_faults),
    };
    for (slot, plugin) in crate::policy::configured(p) {
        let Some(plugin) = plugin else { continue };
        // Bad parameters show now, not on the first live event.
        let loaded = engine.load_configured(slot, plugin)?;
        info!(
            slot = slot.world(),
            plugin = %loaded.info().name,
            version = %loaded.info().version,
            from_cache = loaded.info().load.from_cache,
            code_ms = loaded.info().load.code.as_secs_f64() * 1e3,
            "plugin loaded"
        );
        match slot {
            Slot::Failover => slots.failover.install(loaded)?,
            Slot::RouteSelection => slots.selection.install(loaded)?,
            Slot::BgpFilter => slots.filter.install(loaded)?,
        };
    }
    Ok((engine, slots))
}

/// The data path's settings of every tunnel of `cfg`, from id `first` on.
/// A tunnel's `mtu` (the size its TCP SYNs are clamped to) is what its own
/// path carries: the TUN's MTU, or less over an uplink that cannot.
pub fn tunnel_specs(cfg: &GatewayConfig, first: usize) -> Vec<TunnelSpec> {
    cfg.connections
        .iter()
        .enumerate()
        .flat_map(|(connection, c)| {
            c.tunnels.iter().map(move |t| TunnelSpec {
                connection: crate::topology::ConnectionId(connection),
                endpoint: t.endpoint,
                remote: t.remote,
                remote_public_key: t.remote_public_key,
                inside_cidr: t.inside_cidr,
                inside_local: t.inside_local,
                inside_remote: t.inside_remote,
                inside_ipv6: t.inside_ipv6,
                bfd_over_ipv6: c
                    .bgp
                    .as_ref()
                    .is_some_and(|b| b.session == crate::config::SessionAddresses::Ipv6),
                mtu: cfg.tunnel_mtu(t),
            })
        })
        .skip(first)
        .collect()
}

/// [`tunnel_specs`], with each tunnel's MTU also fitted to the route its
/// datagrams take now (`endpoint::route_mtu`): where that route carries
/// less than the endpoint's `mtu` says, the tunnel's TCP is clamped to
/// what it carries (larger packets are fragmented by the kernel), and a
/// warning names the fix. A few system calls per tunnel, none that waits.
pub fn tunnel_specs_on_routes(cfg: &GatewayConfig, first: usize) -> Vec<TunnelSpec> {
    let mut specs = tunnel_specs(cfg, first);
    for spec in &mut specs {
        let Some(ep) = cfg.endpoints.get(spec.endpoint) else {
            continue;
        };
        match route_mtu(ep.listen.ip(), spec.remote) {
            Ok(route) if route < ep.uplink_mtu => {
                let outer = crate::mtu::Outer::of(spec.remote);
                spec.mtu = spec.mtu.min(outer.inner_mtu(route));
                warn!(
                    endpoint = %ep.name,
                    remote = %spec.remote,
                    tunnel = %spec.inside_cidr,
                    route_mtu = route,
                    endpoint_mtu = ep.uplink_mtu,
                    tunnel_mtu = spec.mtu,
                    fix = %format!("set mtu = {route} in [[endpoint]] {:?} (and leave [tun] mtu out)", ep.name),
                    "the route to the far endpoint carries less than the endpoint's mtu says: \
                     the tunnel's TCP is clamped to what it carries, larger packets are fragmented"
                );
            }
            Ok(_) => {}
            Err(e) => {
                debug!(endpoint = %ep.name, remote = %spec.remote, error = %e, "no route MTU to the far endpoint yet")
            }
        }
    }
    specs
}

/// Runs the gateway until SIGINT or SIGTERM; SIGHUP reloads the config.
pub fn run(cfg: GatewayConfig) -> Result<(), StartError> {
    let cfg = Arc::new(cfg);
    let endpoints = cfg
        .endpoints
        .iter()
        .map(|e| Endpoint::bind_many(&e.name, e.listen, cfg.dataplane.endpoint_sockets()))
        .collect::<Result<Vec<_>, _>>()?;
    let specs = tunnel_specs_on_routes(&cfg, 0);
    let dataplane = Arc::new(
        Dataplane::new(cfg.private_key.clone(), endpoints, specs).map_err(StartError::Dataplane)?,
    );
    // Claimed before the TUN so a second instance fails without touching it.
    let admin_socket = admin::bind(&cfg.admin_socket)?;
    // Bound now, served once the control thread publishes (`[metrics]`).
    let metrics_listener = cfg.metrics.map(|m| metrics::bind(m.listen)).transpose()?;
    let published = Arc::new(metrics::Published::default());
    let (engine, slots) = policy(&cfg)?;
    let settings = Settings {
        seed: rand_core::RngCore::next_u64(&mut rand_core::OsRng),
        ..Settings::default()
    };
    let core = Gateway::new(cfg.clone(), slots, settings, std::time::Instant::now());

    let addresses: Vec<_> = dataplane
        .tunnels()
        .iter()
        .flat_map(|t| t.inside_addresses())
        .collect();
    let tun_queues = cfg.dataplane.tun_queues();
    let device = Arc::new(tun::open(&cfg.tun, &addresses, tun_queues > 1)?);
    let extra_queues = tun::extra_queues(&device, tun_queues);
    let kernel = if cfg.route_table.kernel_routes {
        let index = device.if_index().map_err(StartError::Io)?;
        let statics = core.static_prefixes();
        Some(KernelRoutes::start(
            &cfg.tun.name,
            index,
            cfg.route_table.kernel_metric,
            &statics,
        )?)
    } else {
        None
    };

    let shutdown = Arc::new(AtomicBool::new(false));
    let (events_tx, events_rx) = crossbeam_channel::bounded(control::EVENT_QUEUE);
    // BGP bytes wait for the control loop (TCP then pushes back on the
    // peer); they have a queue of their own so they never crowd out probes.
    let (bgp_tx, bgp_rx) = crossbeam_channel::bounded::<Report>(control::BGP_QUEUE);
    let transport = Transport::new(
        Arc::new(move |report| {
            let _ = bgp_tx.send(report);
        }),
        shutdown.clone(),
    );
    let turns = Arc::new(TurnStats::default());
    let tunnel_log = tunnel_log::TunnelLogWriter::open(cfg.log.tunnel_log.as_ref())?;
    // SIGHUP opens the tunnel log's file again (logrotate's postrotate).
    let tunnel_log_reopen = tunnel_log.reopener();
    // systemd (Type=notify): READY, STATUS and WATCHDOG from the control
    // loop, STOPPING below; nothing without $NOTIFY_SOCKET.
    let notifier = Arc::new(notify::Notifier::from_env());
    let control = Control::new(
        core,
        dataplane.clone(),
        device.clone(),
        Queues {
            events: events_rx,
            bgp: bgp_rx,
        },
        transport,
        kernel,
        turns.clone(),
    )
    .with_systemd(notify::Heartbeat::new(notifier.clone()))
    .with_tunnel_log(tunnel_log);
    let control = match &metrics_listener {
        Some(_) => control.with_metrics(metrics::Publisher::new(published.clone())),
        None => control,
    };
    // The running config, read by the admin and metrics threads; the
    // control loop keeps it the core's (a reload replaces it).
    let running = Arc::new(arc_swap::ArcSwap::new(cfg.clone()));
    let control = control.with_running(running.clone());
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let probe_tx = events_tx.clone();
    let counted = dataplane.clone();
    let probe: Arc<io::ProbeHandler> = Arc::new(move |p| {
        // Never block the data path: when the control loop is behind, a
        // probe is dropped (BFD tolerates it; a flood must not grow memory).
        let tunnel = p.tunnel;
        if probe_tx.try_send(ControlEvent::Probe(p)).is_err() {
            if let Some(t) = counted.tunnels().get(tunnel.0) {
                counted.probes_dropped(t, 1);
            }
        }
    });
    let workers = cfg.dataplane.workers();
    // A reader that ends before the stop (its device deleted by another
    // program, say) stops the gateway, which then exits non-zero: systemd
    // starts it again.
    let ended: Arc<std::sync::OnceLock<String>> = Arc::default();
    let on_ended: io::OnEnded = {
        let ended = ended.clone();
        Arc::new(move |name: &str| {
            error!(
                thread = name,
                "a data path reader ended: stopping the gateway"
            );
            if ended.set(name.to_string()).is_ok() {
                let _ = signal_hook::low_level::raise(SIGTERM);
            }
        })
    };
    let threads = io::spawn(
        dataplane.clone(),
        device.clone(),
        extra_queues,
        probe,
        shutdown.clone(),
        workers,
        on_ended,
    )?;
    // The control loop stops first, on a flag of its own: its goodbyes
    // (each BGP session's Cease, its TCP close) travel through the TUN
    // device and the tunnels, so the data path and the transport run on
    // until they are out.
    let control_stop = Arc::new(AtomicBool::new(false));
    let control_thread = {
        let stop = control_stop.clone();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || control.run(&stop))?
    };
    if let Some(listener) = metrics_listener {
        let sources = metrics::Sources {
            cfg: running.clone(),
            dataplane: dataplane.clone(),
            turns: turns.clone(),
            published,
        };
        metrics::serve(listener, sources)?;
    }
    admin::serve(
        &admin_socket,
        running,
        dataplane.clone(),
        engine,
        events_tx,
        turns,
    )?;
    info!(
        gateway = %cfg.name,
        role = ?cfg.role,
        tun = %cfg.tun.name,
        endpoints = cfg.endpoints.len(),
        connections = cfg.connections.len(),
        tunnels = dataplane.tunnels().len(),
        admin_socket = %cfg.admin_socket.display(),
        "gateway running"
    );
    // READY waits for this (the metrics and admin sockets serve), then for
    // a turn of the control loop whose timers ran.
    notifier.set_serving();

    let reloader = sighup::Reloader::start(cfg.admin_socket.clone())?;
    for signal in signals.forever() {
        if signal == SIGHUP {
            tunnel_log_reopen.reopen();
            reloader.signal();
            continue;
        }
        info!(signal, "stopping");
        break;
    }
    notifier.stopping();
    control_stop.store(true, Ordering::Relaxed);
    if control_thread.join().is_err() {
        warn!("the control thread panicked");
    }
    // The goodbyes are in the kernel now: the data path carries them out.
    std::thread::sleep(GOODBYE_TIME);
    shutdown.store(true, Ordering::Relaxed);
    for thread in threads {
        if thread.join().is_err() {
            warn!("a data path thread panicked");
        }
    }
    for t in dataplane.tunnels().iter() {
        let c = &t.counters;
        info!(
            tunnel = %t.inside_cidr,
            tx_packets = c.tx_packets.load(Ordering::Relaxed),
            rx_packets = c.rx_packets.load(Ordering::Relaxed),
            "final counters"
        );
    }
    drop(admin_socket);
    match ended.get() {
        Some(thread) => Err(StartError::DataPathEnded(thread.clone())),
        None => Ok(()),
    }
}
