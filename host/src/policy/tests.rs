//! Tests of the plugin runtime and slots against real components: the
//! fixtures in `testdata/` (built by `testdata/build.sh` from
//! `testdata/guest/`), a plugin that misbehaves when its input asks it to.
//! This file owns only tests; it must not be needed by non-test code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/policy/testdata")
        .join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitelink-policy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// One engine for most tests, with a cache so the fixture compiles once.
fn engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let settings = EngineSettings {
            deadline: Duration::from_millis(500),
            max_faults: 3,
            cache_dir: Some(temp_dir("shared")),
            ..EngineSettings::default()
        };
        PolicyEngine::new(settings).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn load(slot: Slot, params: &[(&str, &str)]) -> Plugin {
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    engine()
        .load(slot, &fixture("chaos.wasm"), params)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(engine: &PolicyEngine, slot: Slot, file: &str) -> String {
    match engine.load(slot, &fixture(file), BTreeMap::new()) {
        Ok(_) => panic!("{file} loaded into {slot}"),
        Err(e) => e.to_string(),
    }
}

/// One static connection named `trigger`, tunnel B active and up.
fn conns(trigger: &str) -> Vec<ConnectionHealth> {
    let t = |cidr: &str, up: bool, weight: u32| TunnelHealth {
        tunnel: cidr.to_string(),
        endpoint: "192.0.2.1:4500".to_string(),
        up,
        coming_up: false,
        up_for_ms: if up { 5_000 } else { 0 },
        weight,
    };
    vec![ConnectionHealth {
        name: trigger.to_string(),
        routing: Routing::StaticRouting,
        detection_ms: 600,
        failback_hold_ms: 10_000,
        tunnels: vec![
            t("169.254.10.0/30", false, 0),
            t("169.254.11.0/30", true, 100),
        ],
    }]
}

fn weights(p: &mut Plugin, trigger: &str) -> Result<Vec<Vec<u32>>, Fault> {
    p.decide(&conns(trigger))
}

#[test]
fn about_and_params() {
    let p = load(Slot::Failover, &[("name", "prefer-zone")]);
    assert_eq!(p.info().name, "prefer-zone");
    assert_eq!(p.info().version, "0.0.1");
    let mut p = load(Slot::Failover, &[("weight", "42"), ("x", "y")]);
    assert_eq!(p.info().name, "chaos");
    assert_eq!(weights(&mut p, "param"), Ok(vec![vec![42, 42]]));
    assert_eq!(weights(&mut p, "entries"), Ok(vec![vec![2, 2]]));
}

#[test]
fn a_trap_poisons_the_instance_and_the_next_call_gets_a_fresh_one() {
    let mut p = load(Slot::Failover, &[]);
    assert_eq!(weights(&mut p, "count"), Ok(vec![vec![1, 1]]));
    assert_eq!(weights(&mut p, "count"), Ok(vec![vec![2, 2]]));
    let fault = weights(&mut p, "trap").err().map(|f| f.kind);
    assert_eq!(fault, Some(FaultKind::Trap));
    assert_eq!(weights(&mut p, "count"), Ok(vec![vec![1, 1]]));
    assert_eq!(p.instantiations(), 2);
}

#[test]
fn the_sandbox_is_empty_and_never_blocks() {
    let mut p = load(Slot::Failover, &[]);
    // No environment, arguments, directories, TCP or UDP.
    assert_eq!(weights(&mut p, "sandbox"), Ok(vec![vec![1, 1]]));
    // A sleep of an hour returns at once; stdout and stderr go to the log.
    let started = Instant::now();
    assert_eq!(weights(&mut p, "sleep"), Ok(vec![vec![100, 100]]));
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(weights(&mut p, "stdout"), Ok(vec![vec![100, 100]]));
    // Time does not pass: waiting for it is a busy loop, cut by the deadline.
    let fault = weights(&mut p, "wait").err().map(|f| f.kind);
    assert_eq!(fault, Some(FaultKind::Timeout));
}

#[test]
fn deadline_and_memory_cap() {
    let settings = EngineSettings {
        deadline: Duration::from_millis(20),
        memory_limit_bytes: 16 << 20,
        ..EngineSettings::default()
    };
    let engine = PolicyEngine::new(settings).unwrap_or_else(|e| panic!("{e}"));
    let mut p = engine
        .load(Slot::Failover, &fixture("chaos.wasm"), BTreeMap::new())
        .unwrap_or_else(|e| panic!("{e}"));
    // The plugin outlives the engine handle: deadlines still work.
    drop(engine);
    let started = Instant::now();
    let fault = weights(&mut p, "loop").err();
    assert_eq!(
        fault.as_ref().map(|f| f.kind),
        Some(FaultKind::Timeout),
        "{fault:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let fault = weights(&mut p, "alloc").err();
    assert_eq!(
        fault.as_ref().map(|f| f.kind),
        Some(FaultKind::Memory),
        "{fault:?}"
    );
    assert_eq!(weights(&mut p, "x"), Ok(vec![vec![100, 100]]));
}

#[test]
fn a_call_is_cut_no_sooner_than_its_deadline() {
    // Deadline 200 ms: ticks of 20 ms, the call cut between 200 and 220 ms
    // (the upper bound asserted is loose for a loaded machine). The
    // ticker waits out a tick when a call's start wakes it, so no
    // increment comes early.
    let settings = EngineSettings {
        deadline: Duration::from_millis(200),
        ..EngineSettings::default()
    };
    assert_eq!(
        super::deadline::tick_for(settings.deadline),
        Duration::from_millis(20)
    );
    let engine = PolicyEngine::new(settings).unwrap_or_else(|e| panic!("{e}"));
    let mut p = engine
        .load(Slot::Failover, &fixture("chaos.wasm"), BTreeMap::new())
        .unwrap_or_else(|e| panic!("{e}"));
    // A call first, so that the ticker is awake for the next (it keeps
    // ticking 20 ticks after a call); then a call that wakes it from its
    // park, after 20 ticks (400 ms) with none.
    assert_eq!(weights(&mut p, "x"), Ok(vec![vec![100, 100]]));
    for idle in [Duration::ZERO, Duration::ZERO, Duration::from_millis(600)] {
        std::thread::sleep(idle);
        let started = Instant::now();
        let fault = weights(&mut p, "loop").err().map(|f| f.kind);
        let took = started.elapsed();
        assert_eq!(fault, Some(FaultKind::Timeout));
        assert!(took >= Duration::from_millis(200), "cut after {took:?}");
        assert!(took < Duration::from_millis(3000), "cut after {took:?}");
    }
}

/// The first CPU this thread may run on.
fn first_allowed_cpu() -> usize {
    // SAFETY: `set` is a plain bit mask, zeroed, that sched_getaffinity
    // fills for the calling thread (pid 0) and CPU_ISSET reads.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        assert_eq!(
            rc,
            0,
            "sched_getaffinity: {}",
            std::io::Error::last_os_error()
        );
        (0..libc::CPU_SETSIZE as usize)
            .find(|cpu| libc::CPU_ISSET(*cpu, &set))
            .expect("a CPU to run on")
    }
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: `set` is a plain bit mask, zeroed and then set through libc's
    // own macros; sched_setaffinity reads it for the calling thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(
            rc,
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// A thread spinning on `cpu` until dropped.
struct Hog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hog {
    fn on(cpu: usize) -> Hog {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = stop.clone();
        let thread = std::thread::spawn(move || {
            pin_to(cpu);
            while !spinning.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        Hog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_call_kept_waiting_for_its_core_is_cut_by_its_cpu_time_not_the_wall() {
    // This thread and a spinning one share a core, so the call runs about
    // half the time. With a wall-clock deadline it was cut at 200 ms on
    // the wall, after about 100 ms of its own CPU time. Now it is cut at
    // 200 ms of CPU time, or at 400 ms on the wall if it got less than
    // half the core (other tests run beside this one).
    let settings = EngineSettings {
        deadline: Duration::from_millis(200),
        ..EngineSettings::default()
    };
    let engine = PolicyEngine::new(settings).unwrap_or_else(|e| panic!("{e}"));
    let mut p = engine
        .load(Slot::Failover, &fixture("chaos.wasm"), BTreeMap::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(weights(&mut p, "x"), Ok(vec![vec![100, 100]]));
    let cpu = first_allowed_cpu();
    let hog = Hog::on(cpu);
    pin_to(cpu);
    let clock = super::deadline::thread_cpu_time().expect("the thread's CPU clock");
    let started = Instant::now();
    let fault = weights(&mut p, "loop").err().map(|f| f.kind);
    let wall = started.elapsed();
    let used = super::deadline::thread_cpu_time()
        .expect("clock")
        .saturating_sub(clock);
    drop(hog);
    assert_eq!(fault, Some(FaultKind::Timeout));
    let ms = Duration::from_millis;
    assert!(
        used >= ms(200) || wall >= ms(400),
        "cut after {used:?} of CPU time in {wall:?}"
    );
    assert!(used < ms(300), "cut after {used:?} of CPU time");
    assert!(wall < ms(3000), "cut after {wall:?}");
}

#[test]
fn ticks_are_a_tenth_of_the_deadline_and_one_millisecond_at_least() {
    use super::deadline::tick_for;
    assert_eq!(
        tick_for(Duration::from_millis(50)),
        Duration::from_millis(5)
    );
    assert_eq!(tick_for(Duration::from_millis(5)), Duration::from_millis(1));
    assert_eq!(tick_for(Duration::from_millis(1)), Duration::from_millis(1));
    assert_eq!(tick_for(Duration::from_secs(10)), Duration::from_secs(1));
}

#[test]
fn wrong_answers_are_faults() {
    let mut p = load(Slot::Failover, &[]);
    for (trigger, says) in [
        ("bad-len", "0 weight lists for 1 connections"),
        ("bad-inner-len", "3 weights for 2 tunnels"),
        ("bad-value", "weight 1001"),
        ("zero", "every tunnel at weight 0"),
    ] {
        let fault = weights(&mut p, trigger).err();
        assert_eq!(fault.as_ref().map(|f| f.kind), Some(FaultKind::Invalid));
        let text = fault.map(|f| f.to_string()).unwrap_or_default();
        assert!(text.contains(says), "{trigger}: {text}");
    }
}

#[test]
fn failover_slot_falls_back_to_last_good_or_default_then_quarantines() {
    let mut slot = FailoverSlot::new(3);
    // No plugin: the default (A is down, B stays).
    let d = slot.decide(&conns("x"));
    assert_eq!(
        (d.weights, d.by),
        (vec![vec![0, 100]], vec![DecidedBy::Default])
    );
    assert!(slot.install(load(Slot::Failover, &[])).is_ok());
    let d = slot.decide(&conns("x"));
    assert_eq!(
        (d.weights, d.by),
        (vec![vec![100, 100]], vec![DecidedBy::Plugin])
    );
    // A fault keeps the weights in force (B active and up) ...
    let d = slot.decide(&conns("trap"));
    assert_eq!(
        (d.weights, d.by),
        (vec![vec![0, 100]], vec![DecidedBy::LastGood])
    );
    assert_eq!(d.fault.map(|f| f.kind), Some(FaultKind::Trap));
    // ... unless a weighted tunnel is down: then the default.
    let mut input = conns("bad-value");
    input[0].tunnels[1].up = false;
    input[0].tunnels[0].up = true;
    let d = slot.decide(&input);
    assert_eq!(
        (d.weights, d.by),
        (vec![vec![100, 0]], vec![DecidedBy::Default])
    );
    // A good answer resets the consecutive count.
    assert_eq!(slot.decide(&conns("x")).by, vec![DecidedBy::Plugin]);
    for _ in 0..3 {
        assert!(slot.decide(&conns("zero")).fault.is_some());
    }
    let s = slot.status();
    assert!(s.stats.quarantined);
    assert_eq!((s.stats.calls, s.stats.faults), (7, 5));
    assert!(s.stats.mean_call_time().is_some());
    // Quarantined: no more calls, the default answers.
    let d = slot.decide(&conns("x"));
    assert_eq!((d.by, d.fault), (vec![DecidedBy::Default], None));
    assert_eq!(slot.status().stats.calls, 7);
    // Installing again lifts the quarantine.
    assert!(slot.install(load(Slot::Failover, &[])).is_ok());
    assert_eq!(slot.decide(&conns("x")).by, vec![DecidedBy::Plugin]);
    assert!(slot.remove().is_some());
    assert_eq!(slot.decide(&conns("x")).by, vec![DecidedBy::Default]);
    // A plugin prepared for another slot is refused.
    let other = load(Slot::BgpFilter, &[]);
    let err = slot
        .install(other)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("prepared for the bgp-filter slot"), "{err}");
}

fn candidates(trigger: &str) -> Vec<PrefixCandidates> {
    let mut rng = gen::XorShift::new(5);
    let mut p = gen::prefix_candidates(&mut rng, 4);
    p[0].candidates = gen::prefix_candidates(&mut rng, 8)
        .into_iter()
        .flat_map(|p| p.candidates)
        .take(3)
        .collect();
    p[0].candidates[0].connection = trigger.into();
    p
}

#[test]
fn selection_slot_checks_indexes() {
    let mut slot = SelectionSlot::new(5);
    assert!(slot.install(load(Slot::RouteSelection, &[])).is_ok());
    let input = candidates("x");
    let s = slot.select(&input);
    assert_eq!(s.by, DecidedBy::Plugin);
    let all: Vec<Vec<u32>> = input
        .iter()
        .map(|p| (0..p.candidates.len() as u32).collect())
        .collect();
    assert_eq!(s.installed, all);
    for (trigger, says) in [
        ("bad-value", "out of range (3 candidates)"),
        ("dup", "index 0 twice"),
        ("bad-len", "5 ends for 4 prefixes"),
        ("bad-end", "past the"),
    ] {
        let input = candidates(trigger);
        let s = slot.select(&input);
        assert_eq!(
            (s.by, &s.installed),
            (DecidedBy::Default, &defaults::select(&input))
        );
        let text = s.fault.map(|f| f.to_string()).unwrap_or_default();
        assert!(text.contains(says), "{trigger}: {text}");
    }
}

#[test]
fn filter_slot_checks_verdicts() {
    let mut slot = FilterSlot::new(10);
    assert!(slot.install(load(Slot::BgpFilter, &[])).is_ok());
    let mut rng = gen::XorShift::new(9);
    let routes = gen::routes(&mut rng, 50);
    let mut peer = gen::peer(&mut rng);
    peer.connection = "reject".into();
    let v = slot.import_filter(&peer, &routes);
    assert_eq!((v.by, v.verdicts.len()), (DecidedBy::Plugin, 50));
    assert!(v.verdicts.iter().all(|v| *v == Verdict::Reject));
    peer.connection = "prepend".into();
    let v = slot.export_filter(&peer, &routes);
    assert_eq!(v.by, DecidedBy::Plugin);
    // Every route's own set came back whole, the peer's ASN in front: the
    // guest read each set's slice of the pools, not its neighbour's.
    assert_eq!(v.verdicts.len(), routes.len());
    for (verdict, route) in v.verdicts.iter().zip(&routes) {
        let Verdict::Modify(a) = verdict else {
            panic!("not modified: {verdict:?}");
        };
        assert_eq!(a.as_path[1..], route.as_path[..]);
        assert_eq!(a.as_path[0], peer.asn);
        assert_eq!(a.communities, route.communities);
        assert_eq!(a.large_communities, route.large_communities);
        assert_eq!((a.med, a.local_pref), (route.med, route.local_pref));
    }
    for (trigger, says) in [
        ("bad-value", "modify names attribute set 4294967295"),
        ("bad-len", "49 verdicts for 50 routes"),
        ("many-sets", "100 attribute sets for 50 routes"),
    ] {
        peer.connection = trigger.into();
        let v = slot.import_filter(&peer, &routes);
        assert_eq!(
            (v.by, &v.verdicts),
            (DecidedBy::Default, &defaults::import_filter(&routes))
        );
        let text = v.fault.map(|f| f.to_string()).unwrap_or_default();
        assert!(text.contains(says), "{trigger}: {text}");
    }
    // Routes modified past the answer bounds are rejected, each alone: the
    // answer stands (no fault, no fallback to the default's accept-all).
    for trigger in ["long-path", "many-communities", "many-large"] {
        peer.connection = trigger.into();
        let v = slot.import_filter(&peer, &routes);
        assert_eq!(v.by, DecidedBy::Plugin, "{trigger}");
        assert!(v.fault.is_none(), "{trigger}");
        assert!(
            v.verdicts.iter().all(|v| *v == Verdict::Reject),
            "{trigger}"
        );
    }
    // An empty batch is a valid call.
    assert_eq!(slot.import_filter(&peer, &[]).by, DecidedBy::Plugin);
}

#[test]
fn refusals_name_the_file_and_the_fix() {
    let e = engine();
    let dir = temp_dir("refusals");
    let _ = std::fs::create_dir_all(&dir);
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        let _ = std::fs::write(&p, bytes);
        p
    };
    let err = |p: PathBuf| match e.load(Slot::Failover, &p, BTreeMap::new()) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    let t = err(dir.join("missing.wasm"));
    assert!(
        t.contains("missing.wasm") && t.contains("cannot read"),
        "{t}"
    );
    let t = err(write("text.wasm", b"hello"));
    assert!(
        t.contains(
            "not a WebAssembly component: build it with `cargo build --target wasm32-wasip2`"
        ),
        "{t}"
    );
    let t = err(write("core.wasm", b"\0asm\x01\0\0\0"));
    assert!(
        t.contains("core WebAssembly module, not a component"),
        "{t}"
    );
    let t = err(write("broken.wasm", b"\0asm\x0d\0\x01\0\x99"));
    assert!(t.contains("not a valid WebAssembly component"), "{t}");
    let t = load_err(e, Slot::BgpFilter, "only_failover.wasm");
    assert!(t.contains("does not fit the bgp-filter slot"), "{t}");
    assert!(t.contains("looks like a failover plugin"), "{t}");
    assert!(t.contains("sitelink:policy/filter@0.3.0"), "{t}");
    // Failover plugins built for earlier contracts (the fixture as it was
    // before 0.2.0 and before 0.3.0): their interfaces did not change, but
    // the package's version did.
    for (file, version) in [
        ("contract_0_1.wasm", "0.1.0"),
        ("contract_0_2.wasm", "0.2.0"),
    ] {
        let t = load_err(e, Slot::Failover, file);
        assert!(
            t.contains(&format!("was built for sitelink:policy@{version}"))
                && t.contains("speaks sitelink:policy@0.3.0")
                && t.contains("rebuild it")
                && t.contains("From 0.2 to 0.3"),
            "{t}"
        );
    }
    let t = load_err(e, Slot::Failover, "extra_import.wasm");
    assert!(t.contains("imports `sitelink:chaos/unknown`"), "{t}");
    let t = load_err(e, Slot::Failover, "big_memory.wasm");
    assert!(
        t.contains("failed at start-up") && t.contains("memory cap exceeded"),
        "{t}"
    );
    let t = load_err(e, Slot::Failover, "start_loop.wasm");
    assert!(
        t.contains("failed at start-up") && t.contains("deadline"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compiled_components_are_cached_across_engines() {
    let dir = temp_dir("cache");
    let settings = EngineSettings {
        cache_dir: Some(dir.clone()),
        ..EngineSettings::default()
    };
    let load = |s: &EngineSettings| {
        let engine = PolicyEngine::new(s.clone()).unwrap_or_else(|e| panic!("{e}"));
        let p = engine.load(Slot::Failover, &fixture("chaos.wasm"), BTreeMap::new());
        p.map(|p| p.info().load).unwrap_or_else(|e| panic!("{e}"))
    };
    let first = load(&settings);
    let second = load(&settings);
    assert!(
        !first.from_cache && second.from_cache,
        "{first:?} {second:?}"
    );
    eprintln!("compile {:?}, from cache {:?}", first.code, second.code);
    // A damaged cache file is ignored and replaced.
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    assert_eq!(files.len(), 1, "{files:?}");
    let _ = std::fs::write(&files[0], b"garbage");
    assert!(!load(&settings).from_cache);
    assert!(load(&settings).from_cache);
    // A directory others can write is not trusted.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
    assert!(!load(&settings).from_cache);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tracing writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn plugin_output_and_faults_go_to_the_log_with_the_plugin_name() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut slot = FailoverSlot::new(5);
        assert!(slot
            .install(load(Slot::Failover, &[("name", "noisy")]))
            .is_ok());
        assert_eq!(slot.decide(&conns("stdout")).by, vec![DecidedBy::Plugin]);
        assert!(slot.decide(&conns("trap")).fault.is_some());
    });
    let text =
        String::from_utf8_lossy(&out.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned();
    for line in [
        "INFO sitelink::plugin: hello on stdout plugin=\"noisy (chaos.wasm)\" slot=failover stream=\"stdout\"",
        "INFO sitelink::plugin: hello on stderr plugin=\"noisy (chaos.wasm)\" slot=failover stream=\"stderr\"",
        "WARN sitelink::plugin: hello in the log plugin=\"noisy (chaos.wasm)\" slot=failover stream=\"log\"",
        "plugin fault, its answer is discarded: trapped: wasm trap: wasm `unreachable` instruction executed (stderr: panicked at lib.rs:",
        ": asked to trap) slot=failover plugin=noisy consecutive=1",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
}

#[test]
fn plugin_test_holds_a_plugin_to_its_lone_candidate_promise() {
    // Connection "refuse": the chaos selection installs nothing.
    let routes = offline::parse_routes(
        r#"[{"prefix": "10.0.0.0/24", "connection": "refuse", "tunnel": "169.254.10.0/30"},
            {"prefix": "10.0.1.0/24", "connection": "refuse", "tunnel": "169.254.10.0/30"},
            {"prefix": "10.0.1.0/24", "connection": "refuse", "tunnel": "169.254.11.0/30"}]"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut honest = load(Slot::RouteSelection, &[]);
    let report = offline::run_selection(&mut honest, &routes);
    assert_eq!(
        report.fault, None,
        "refusing is allowed without the promise"
    );
    assert!(report.selections.iter().all(|s| s.installed.is_empty()));
    let mut promised = load(Slot::RouteSelection, &[("lone", "install")]);
    let report = offline::run_selection(&mut promised, &routes);
    let fault = report.fault.unwrap_or_default();
    assert!(
        fault.contains("declares installs-lone-candidate, but answered [] for 10.0.0.0/24")
            && fault.contains("declare false"),
        "{fault}"
    );
}
