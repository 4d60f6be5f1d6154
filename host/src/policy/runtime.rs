//! The plugin runtime: one wasmtime engine (Cranelift, epoch interruption,
//! sync API), and [`Plugin`], a checked, instantiated component that answers
//! calls under a deadline and a memory cap. A call that traps, times out or
//! runs out of memory returns a [`Fault`] and poisons the instance, which is
//! rebuilt from the compiled component on the next call. This module owns
//! compiling (through `cache.rs`), instantiating and calling; it must not
//! decide what a fault means for routing (that is `slots.rs`) nor touch
//! `wit/policy.wit`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store, Trap};

use super::batch::{FilterInput, Route, SelectionInput};
use super::bindings::{bgp_filter, failover, route_selection};
use super::bindings::{wire, ConnectionHealth, Peer};
use super::deadline::{Deadline, Ticker};
use super::host::{self, HostState, MemoryCapExceeded};
use super::{cache, check, Fault, FaultKind, PluginError, Slot};

/// How the engine runs plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// How long one call (or an instantiation) may run.
    pub deadline: Duration,
    /// The linear memory one plugin instance may use, all memories together.
    pub memory_limit_bytes: usize,
    /// Consecutive faults after which a slot quarantines its plugin.
    pub max_faults: u32,
    /// Where compiled components are kept across restarts (created 0700;
    /// must be owned by this user and writable by no one else), or `None`
    /// to compile on every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            deadline: Duration::from_millis(50),
            memory_limit_bytes: 64 << 20,
            max_faults: 5,
            cache_dir: None,
        }
    }
}

/// Compiles, checks and instantiates plugins. Cheap to clone (shared).
#[derive(Clone)]
pub struct PolicyEngine {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    linker: Linker<HostState>,
    settings: EngineSettings,
    /// Identifies the engine's code generation in cache keys.
    compat: [u8; 32],
    /// Calls' deadline in CPU time (see `deadline`).
    deadline: Deadline,
    ticker: Ticker,
}

impl Shared {
    /// The ticks a call starts with.
    fn ticks(&self) -> u64 {
        self.deadline.ticks(self.deadline.limit)
    }
}

/// How a plugin's compiled code was obtained and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadInfo {
    /// Loaded from the cache (no compilation).
    pub from_cache: bool,
    /// Compiling, or loading from the cache.
    pub code: Duration,
    /// Instantiating and asking `about`.
    pub instantiate: Duration,
}

/// What a plugin is, for `sitelink plugin list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The slot it was prepared for.
    pub slot: Slot,
    /// The component file.
    pub path: PathBuf,
    /// Its name, from `about.name`.
    pub name: String,
    /// Its version, from `about.version`.
    pub version: String,
    /// The operator's parameters it was given.
    pub params: BTreeMap<String, String>,
    /// Compile (or cache) and start-up times.
    pub load: LoadInfo,
    /// A route-selection plugin's `installs-lone-candidate` answer, asked
    /// at load: the host installs a prefix's only candidate itself and asks
    /// about the others. `false` for the other slots.
    pub installs_lone_candidate: bool,
}

enum Pre {
    BgpFilter(bgp_filter::BgpFilterPre<HostState>),
    RouteSelection(route_selection::RouteSelectionPre<HostState>),
    Failover(failover::FailoverPre<HostState>),
}

enum Bindings {
    BgpFilter(bgp_filter::BgpFilter),
    RouteSelection(route_selection::RouteSelection),
    Failover(failover::Failover),
}

struct Live {
    store: Store<HostState>,
    bindings: Bindings,
}

/// A checked plugin, ready to answer its slot's calls. Not yet in a slot:
/// that makes it usable for a dry run.
pub struct Plugin {
    info: PluginInfo,
    shared: Arc<Shared>,
    pre: Pre,
    params: Arc<BTreeMap<String, String>>,
    label: Arc<str>,
    live: Option<Live>,
    instantiations: u64,
    /// The last filter call's input buffers, kept for the next (the
    /// gateway calls with chunks of at most FILTER_CHUNK routes, so the
    /// room kept is about 100 KB for a real table, 3 MB were every route
    /// at the bounds on its lists).
    filter_input: FilterInput,
}

impl PolicyEngine {
    /// Starts an engine (and its epoch ticker thread).
    pub fn new(settings: EngineSettings) -> Result<PolicyEngine, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(check::chain(&e)))?;
        let linker = host::linker(&engine).map_err(|e| PluginError::Engine(check::chain(&e)))?;
        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let compat: [u8; 32] = hasher.0.finalize().into();
        let deadline = Deadline::new(settings.deadline);
        let ticker = Ticker::start(engine.clone(), deadline.tick)
            .map_err(|e| PluginError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(PolicyEngine {
            shared: Arc::new(Shared {
                engine,
                linker,
                settings,
                compat,
                deadline,
                ticker,
            }),
        })
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &EngineSettings {
        &self.shared.settings
    }

    /// Loads the plugin at `path` for `slot`: reads and checks the file,
    /// compiles it (or takes it from the cache), checks it against the
    /// slot's world, instantiates it under the deadline and memory cap and
    /// asks its name and version. Off the hot path: call it from the control
    /// thread before a swap, or at start-up.
    pub fn load(
        &self,
        slot: Slot,
        path: &Path,
        params: BTreeMap<String, String>,
    ) -> Result<Plugin, PluginError> {
        let wasm = check::read(path)?;
        let started = Instant::now();
        let (component, from_cache) = self.component(path, &wasm)?;
        let code = started.elapsed();
        check::world(&self.shared.engine, &component, slot, path)?;
        let instance_pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Mismatch {
                path: path.to_path_buf(),
                slot,
                detail: check::chain(&e),
            })?;
        let mismatch = |e: wasmtime::Error| PluginError::Mismatch {
            path: path.to_path_buf(),
            slot,
            detail: check::chain(&e),
        };
        let pre = match slot {
            Slot::BgpFilter => {
                Pre::BgpFilter(bgp_filter::BgpFilterPre::new(instance_pre).map_err(mismatch)?)
            }
            Slot::RouteSelection => Pre::RouteSelection(
                route_selection::RouteSelectionPre::new(instance_pre).map_err(mismatch)?,
            ),
            Slot::Failover => {
                Pre::Failover(failover::FailoverPre::new(instance_pre).map_err(mismatch)?)
            }
        };
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut plugin = Plugin {
            info: PluginInfo {
                slot,
                path: path.to_path_buf(),
                name: String::new(),
                version: String::new(),
                params: params.clone(),
                load: LoadInfo {
                    from_cache,
                    code,
                    instantiate: Duration::ZERO,
                },
                installs_lone_candidate: false,
            },
            shared: self.shared.clone(),
            pre,
            params: Arc::new(params),
            label: Arc::from(file.as_str()),
            live: None,
            instantiations: 0,
            filter_input: FilterInput::default(),
        };
        let started = Instant::now();
        let startup = |fault| PluginError::Startup {
            path: path.to_path_buf(),
            fault,
        };
        // Its own words, shown in the log and in answers: one short line.
        let (name, version) = plugin.about().map_err(startup)?;
        let (name, version) = (
            super::host::printable(&name, super::host::MAX_NAME),
            super::host::printable(&version, super::host::MAX_NAME),
        );
        plugin.info.installs_lone_candidate = plugin.lone_candidate().map_err(startup)?;
        plugin.info.load.instantiate = started.elapsed();
        plugin.label = Arc::from(format!("{name} ({file})").as_str());
        if let Some(live) = plugin.live.as_mut() {
            live.store.data_mut().set_label(plugin.label.clone());
        }
        plugin.info.name = name;
        plugin.info.version = version;
        Ok(plugin)
    }

    /// The same as [`PolicyEngine::load`]: prepares a plugin for a swap
    /// (or a dry run) without installing it.
    pub fn prepare(
        &self,
        slot: Slot,
        path: &Path,
        params: BTreeMap<String, String>,
    ) -> Result<Plugin, PluginError> {
        self.load(slot, path, params)
    }

    /// The compiled component for `wasm`: from the cache if there, else
    /// compiled (and then cached). Returns whether it came from the cache.
    fn component(&self, path: &Path, wasm: &[u8]) -> Result<(Component, bool), PluginError> {
        let engine = &self.shared.engine;
        let key = self.cache_key(wasm);
        let cache = self
            .shared
            .settings
            .cache_dir
            .as_deref()
            .and_then(cache::usable_dir);
        if let Some(dir) = cache {
            if let Some(c) = cache::load(engine, dir, &key) {
                return Ok((c, true));
            }
        }
        let component = Component::from_binary(engine, wasm).map_err(|e| PluginError::Invalid {
            path: path.to_path_buf(),
            detail: check::chain(&e),
        })?;
        if let Some(dir) = cache {
            cache::store(dir, &key, &component);
        }
        Ok((component, false))
    }

    /// The cache key of `wasm`: its hash and the engine's code generation
    /// (wasmtime version, target, every codegen setting), hex.
    fn cache_key(&self, wasm: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(b"sitelink-policy-cache-v1\0");
        h.update(Sha256::digest(wasm));
        h.update(self.shared.compat);
        let mut key = String::with_capacity(64);
        for b in h.finalize() {
            let _ = write!(key, "{b:02x}");
        }
        key
    }
}

/// Feeds `Hash` output into SHA-256 (stable across runs, unlike
/// `DefaultHasher`'s promise).
struct Sha256Hasher(Sha256);

impl std::hash::Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl Plugin {
    /// What it is.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The slot it was prepared for.
    pub fn slot(&self) -> Slot {
        self.info.slot
    }

    /// How many times it was instantiated (1 + one per poisoning fault that
    /// was followed by another call).
    pub fn instantiations(&self) -> u64 {
        self.instantiations
    }

    fn about(&mut self) -> Result<(String, String), Fault> {
        self.call(|store, b| match b {
            Bindings::BgpFilter(b) => {
                let a = b.sitelink_policy_about();
                Ok((a.call_name(&mut *store)?, a.call_version(&mut *store)?))
            }
            Bindings::RouteSelection(b) => {
                let a = b.sitelink_policy_about();
                Ok((a.call_name(&mut *store)?, a.call_version(&mut *store)?))
            }
            Bindings::Failover(b) => {
                let a = b.sitelink_policy_about();
                Ok((a.call_name(&mut *store)?, a.call_version(&mut *store)?))
            }
        })
    }

    /// A route-selection plugin's `installs-lone-candidate`; `false` for
    /// the other slots.
    fn lone_candidate(&mut self) -> Result<bool, Fault> {
        self.call(|store, b| match b {
            Bindings::RouteSelection(b) => b
                .sitelink_policy_selection()
                .call_installs_lone_candidate(store),
            _ => Ok(false),
        })
    }

    /// The plugin's raw answer to `decide` (not validated).
    pub(crate) fn call_decide(
        &mut self,
        input: &[ConnectionHealth],
    ) -> Result<Vec<Vec<u32>>, Fault> {
        self.call(|store, b| match b {
            Bindings::Failover(b) => b.sitelink_policy_weights().call_decide(store, input),
            _ => Err(wasmtime::format_err!("not a failover plugin")),
        })
    }

    /// The plugin's raw answer to `select` (not validated).
    pub(crate) fn call_select(&mut self, input: &SelectionInput) -> Result<wire::Selected, Fault> {
        self.call(|store, b| match b {
            Bindings::RouteSelection(b) => b.sitelink_policy_selection().call_select(
                store,
                &input.attributes,
                &input.vias,
                &input.prefixes,
                &input.candidates,
            ),
            _ => Err(wasmtime::format_err!("not a route-selection plugin")),
        })
    }

    /// The plugin's raw answer to a filter over `routes` (not validated).
    pub(crate) fn call_filter(
        &mut self,
        export: bool,
        peer: &Peer,
        routes: &[Route],
    ) -> Result<wire::Verdicts, Fault> {
        // The batch is encoded into the buffers the last call left, taken
        // out of `self` for the call, which borrows all of it, and put
        // back whatever the answer.
        let mut input = std::mem::take(&mut self.filter_input);
        input.fill(routes);
        let answer = self.filter_call(export, peer, &input);
        self.filter_input = input;
        answer
    }

    fn filter_call(
        &mut self,
        export: bool,
        peer: &Peer,
        input: &FilterInput,
    ) -> Result<wire::Verdicts, Fault> {
        let (attributes, routes) = (input.attributes(), input.routes());
        self.call(|store, b| match b {
            Bindings::BgpFilter(b) if export => b
                .sitelink_policy_filter()
                .call_export_filter(store, peer, attributes, routes),
            Bindings::BgpFilter(b) => b
                .sitelink_policy_filter()
                .call_import_filter(store, peer, attributes, routes),
            _ => Err(wasmtime::format_err!("not a bgp-filter plugin")),
        })
    }

    /// Runs `f` in the instance (made first if there is none) under the
    /// deadline; a failure poisons the instance.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&mut Store<HostState>, &Bindings) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        // An instance made for this call (the first, or after a fault) is
        // made under the call's deadline: start-up and call share it, so a
        // call never holds the control loop past the deadline's bound.
        let fresh = self.live.is_none();
        if fresh {
            self.live = Some(self.instantiate()?);
        }
        let Some(live) = self.live.as_mut() else {
            return Err(Fault::invalid("no instance"));
        };
        live.store.set_epoch_deadline(self.shared.ticks());
        if !fresh {
            live.store.data_mut().begin_call();
        }
        let result = {
            let _busy = self.shared.ticker.busy();
            f(&mut live.store, &live.bindings)
        };
        live.store.data_mut().end_call();
        let stderr = live.store.data().stderr_tail();
        result.map_err(|e| {
            self.live = None;
            self.fault_of(&e, &stderr)
        })
    }

    fn instantiate(&mut self) -> Result<Live, Fault> {
        let limit = self.shared.settings.memory_limit_bytes;
        let state = HostState::new(
            self.label.clone(),
            self.info.slot,
            self.params.clone(),
            limit,
        );
        let mut store = Store::new(&self.shared.engine, state);
        store.limiter(|s| &mut s.cap);
        // What an answer may make the host copy out of the plugin (lists
        // whose entries all point at one region of its memory, say): no
        // more than its own memory cap (wasmtime's default is 128 MiB).
        store.set_hostcall_fuel(limit);
        let deadline = self.shared.deadline;
        store.epoch_deadline_callback(move |ctx| {
            let (cpu, wall) = ctx.data().call_usage();
            Ok(deadline.on_epoch(cpu, wall))
        });
        store.set_epoch_deadline(self.shared.ticks());
        store.data_mut().begin_call();
        let bindings = {
            let _busy = self.shared.ticker.busy();
            match &self.pre {
                Pre::BgpFilter(p) => p.instantiate(&mut store).map(Bindings::BgpFilter),
                Pre::RouteSelection(p) => p.instantiate(&mut store).map(Bindings::RouteSelection),
                Pre::Failover(p) => p.instantiate(&mut store).map(Bindings::Failover),
            }
        };
        store.data_mut().end_call();
        self.instantiations += 1;
        match bindings {
            Ok(bindings) => Ok(Live { store, bindings }),
            Err(e) => Err(self.fault_of(&e, &store.data().stderr_tail())),
        }
    }

    /// What `e` means, with what the plugin said on stderr just before.
    fn fault_of(&self, e: &wasmtime::Error, stderr: &str) -> Fault {
        if let Some(m) = e
            .chain()
            .find_map(|c| c.downcast_ref::<MemoryCapExceeded>())
        {
            return Fault {
                kind: FaultKind::Memory,
                detail: m.to_string(),
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Fault {
                kind: FaultKind::Timeout,
                detail: format!(
                    "ran past its deadline of {} ms of CPU time (or twice it on the wall)",
                    self.shared.settings.deadline.as_millis()
                ),
            },
            trap => {
                let mut detail = trap.map_or_else(|| check::chain(e), |t| t.to_string());
                if !stderr.is_empty() {
                    detail.push_str(&format!(" (stderr: {stderr})"));
                }
                Fault {
                    kind: FaultKind::Trap,
                    detail,
                }
            }
        }
    }
}
