//! The second guest language: the Python community-local-pref
//! (`examples/plugins/python/community-local-pref`, built by
//! `scripts/build-plugins.sh` with componentize-py) against the Rust one
//! (`examples/plugins/community-local-pref`): the same verdicts on thousands
//! of generated routes, the same refusal of bad parameters at load; and, for
//! BENCHMARKS.md, each one's size, load time and cost per route, printed
//! (`cargo test -p sitelink --release --test python_plugin -- --nocapture`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sitelink::policy::gen::{self, XorShift};
use sitelink::policy::{Direction, EngineSettings, Plugin, PolicyEngine, Slot};

const MAP: &str = "64512:100=200,65000:7=50,4200000000:1:2=300";

fn path(file: &str) -> PathBuf {
    let dir = match std::env::var_os("SITELINK_PLUGIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins/target/wasm32-wasip2/release"),
    };
    let p = dir.join(file);
    assert!(
        p.is_file(),
        "{} is missing: build the plugins first: scripts/build-plugins.sh",
        p.display()
    );
    p
}

fn engine() -> PolicyEngine {
    PolicyEngine::new(EngineSettings {
        // Generous: this compares answers on a busy test machine.
        deadline: Duration::from_secs(5),
        memory_limit_bytes: 256 << 20,
        ..EngineSettings::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn load(engine: &PolicyEngine, file: &str, map: &str) -> (Plugin, Duration) {
    let params: BTreeMap<String, String> = [("map".to_string(), map.to_string())].into();
    let started = Instant::now();
    let plugin = engine
        .load(Slot::BgpFilter, &path(file), params)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    (plugin, started.elapsed())
}

/// Routes whose communities sometimes match the map.
fn routes(seed: u64, n: usize) -> Vec<sitelink::policy::Route> {
    let mut rng = XorShift::new(seed);
    let mut routes = gen::routes(&mut rng, n);
    for r in &mut routes {
        match rng.below(4) {
            0 => r.communities.push(64512 << 16 | 100),
            1 => r.communities.push(65000 << 16 | 7),
            _ => {}
        }
    }
    routes
}

#[test]
fn python_and_rust_give_the_same_verdicts_and_refuse_the_same_parameters() {
    let engine = engine();
    let (mut rust, rust_load) = load(&engine, "community_local_pref.wasm", MAP);
    let (mut python, python_load) = load(&engine, "community_local_pref_py.wasm", MAP);
    let mut rng = XorShift::new(1);
    let peer = gen::peer(&mut rng);
    let mut compared = 0;
    for seed in 0..40 {
        let routes = routes(seed, 50);
        let a = rust
            .filter(Direction::Import, &peer, &routes)
            .expect("rust");
        let b = python
            .filter(Direction::Import, &peer, &routes)
            .expect("python");
        assert_eq!(a, b, "seed {seed}: the two languages disagree");
        compared += routes.len();
    }
    println!("{compared} routes: the same verdicts");

    // Per-route cost, batches of 1,000 (the live path sends up to 1,024):
    // every route with its own attribute set (the worst case), and the same
    // routes over 4 sets, as the routes of an UPDATE share one.
    let batch = routes(99, 1000);
    let sets = routes(98, 4);
    let shared: Vec<sitelink::policy::Route> = batch
        .iter()
        .enumerate()
        .map(|(i, r)| {
            sitelink::policy::Route::new(r.prefix, sets[i % sets.len()].attributes.clone())
        })
        .collect();
    let per_route = |p: &mut Plugin, batch: &[sitelink::policy::Route]| {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            p.filter(Direction::Import, &peer, batch).expect("filter");
            best = best.min(t.elapsed());
        }
        best / batch.len() as u32
    };
    let size = |f: &str| std::fs::metadata(path(f)).map(|m| m.len()).unwrap_or(0);
    println!(
        "| plugin | component | load (compile, no cache) | per route, a set per route | per route, 4 sets |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, file, load, plugin) in [
        ("Rust", "community_local_pref.wasm", rust_load, &mut rust),
        (
            "Python",
            "community_local_pref_py.wasm",
            python_load,
            &mut python,
        ),
    ] {
        let (own, few) = (per_route(plugin, &batch), per_route(plugin, &shared));
        println!(
            "| {name} | {:.1} MB | {:.2} s | {:.2} µs | {:.2} µs |",
            size(file) as f64 / 1e6,
            load.as_secs_f64(),
            own.as_secs_f64() * 1e6,
            few.as_secs_f64() * 1e6
        );
    }

    // A bad parameter: both refuse at load's empty call, naming it.
    for file in ["community_local_pref.wasm", "community_local_pref_py.wasm"] {
        let (mut p, _) = load(&engine, file, "64512=100");
        let fault = p.try_empty().expect_err("a bad map is refused").to_string();
        assert!(
            fault.contains("bad parameters") && fault.contains("64512=100"),
            "{file}: {fault}"
        );
    }
}

#[test]
fn python_plugins_for_the_other_slots_answer_as_their_rules_say() {
    let engine = engine();
    let no_params = BTreeMap::new();
    let mut failover = engine
        .load(Slot::Failover, &path("all_up_py.wasm"), no_params.clone())
        .unwrap_or_else(|e| panic!("all_up_py: {e}"));
    let mut selection = engine
        .load(
            Slot::RouteSelection,
            &path("static_first_py.wasm"),
            no_params,
        )
        .unwrap_or_else(|e| panic!("static_first_py: {e}"));
    for seed in 0..50 {
        let mut rng = XorShift::new(seed);
        let n = 1 + rng.below(6) as usize;
        let input = gen::connections(&mut rng, n);
        let answer = failover
            .decide(&input)
            .unwrap_or_else(|f| panic!("seed {seed}: {f}"));
        for (c, weights) in input.iter().zip(&answer) {
            let up: Vec<bool> = c.tunnels.iter().map(|t| t.up).collect();
            let expected: Vec<u32> = if up.iter().any(|u| *u) {
                up.iter().map(|u| if *u { 100 } else { 0 }).collect()
            } else if c.tunnels.iter().any(|t| t.weight > 0) {
                c.tunnels.iter().map(|t| t.weight).collect()
            } else {
                (0..c.tunnels.len())
                    .map(|i| if i == 0 { 100 } else { 0 })
                    .collect()
            };
            assert_eq!(weights, &expected, "seed {seed}: {c:?}");
        }
        let count = 1 + rng.below(20) as usize;
        let prefixes = gen::prefix_candidates(&mut rng, count);
        let answer = selection
            .select(&prefixes)
            .unwrap_or_else(|f| panic!("seed {seed}: {f}"));
        for (p, picked) in prefixes.iter().zip(&answer) {
            let is_static = |c: &sitelink::policy::Candidate| {
                c.source == sitelink::policy::CandidateSource::StaticRoute
            };
            let statics: Vec<u32> = (0..p.candidates.len() as u32)
                .filter(|i| is_static(&p.candidates[*i as usize]))
                .collect();
            let expected = if statics.is_empty() {
                let best = p.candidates.iter().filter_map(|c| c.route.local_pref).max();
                (0..p.candidates.len() as u32)
                    .filter(|i| p.candidates[*i as usize].route.local_pref == best)
                    .collect()
            } else {
                statics
            };
            assert_eq!(picked, &expected, "seed {seed}");
        }
    }
    // They take no parameters: one given is refused at load's empty call.
    let given: BTreeMap<String, String> = [("prefer".to_string(), "x".to_string())].into();
    let mut p = engine
        .load(Slot::Failover, &path("all_up_py.wasm"), given)
        .unwrap_or_else(|e| panic!("{e}"));
    let fault = p.try_empty().expect_err("refused").to_string();
    assert!(fault.contains("unknown parameter 'prefer'"), "{fault}");
}
