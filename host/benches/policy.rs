//! Benchmark of the policy plugin runtime, plain `std::time`, medians of N
//! runs, printed as a markdown table: compiling a component, loading it from
//! the cache, instantiating it, and the per-route cost of a bgp-filter
//! import call (Wasm default plugin vs native default) over batches of 1, 100
//! and 10,000 routes; plus a failover and a route-selection batch. Uses the
//! Wasm defaults from `$SITELINK_PLUGIN_DIR` or
//! `plugins/target/wasm32-wasip2/release` (`scripts/build-plugins.sh`), else
//! the unit tests' fixture. Run: `cargo bench -p sitelink --bench policy`.
//! This file owns only measurement; it must not assert anything.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sitelink::policy::gen::{self, XorShift};
use sitelink::policy::{defaults, Direction, EngineSettings, PolicyEngine, Slot};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The median time of `f` over `runs` runs.
fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn plugin(file: &str) -> PathBuf {
    let dir = std::env::var_os("SITELINK_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../plugins/target/wasm32-wasip2/release")
        });
    let path = dir.join(file);
    if path.is_file() {
        path
    } else {
        eprintln!(
            "{} missing (scripts/build-plugins.sh): using the test fixture",
            path.display()
        );
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/policy/testdata/chaos.wasm")
    }
}

fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns >= 1_000_000 {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else if ns >= 10_000 {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{ns} ns")
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = plugin("default_bgp_filter.wasm");
    let settings = EngineSettings {
        deadline: Duration::from_secs(5),
        ..EngineSettings::default()
    };
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // Compile: a fresh engine without a cache each time.
    let compile = median(
        (0..5)
            .map(|_| {
                let e = PolicyEngine::new(settings.clone())?;
                Ok(e.load(Slot::BgpFilter, &filter, BTreeMap::new())?
                    .info()
                    .load
                    .code)
            })
            .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?,
    );
    rows.push((
        "compile a component (Cranelift)".into(),
        fmt(compile),
        "-".into(),
    ));

    // From the cache, in new engines (a restart), and instantiation.
    let dir = std::env::temp_dir().join(format!("sitelink-bench-{}", std::process::id()));
    let cached = EngineSettings {
        cache_dir: Some(dir.clone()),
        ..settings.clone()
    };
    PolicyEngine::new(cached.clone())?.load(Slot::BgpFilter, &filter, BTreeMap::new())?;
    let mut code = Vec::new();
    let mut inst = Vec::new();
    for _ in 0..20 {
        let e = PolicyEngine::new(cached.clone())?;
        let info = e
            .load(Slot::BgpFilter, &filter, BTreeMap::new())?
            .info()
            .load;
        if info.from_cache {
            code.push(info.code);
        }
        inst.push(info.instantiate);
    }
    let _ = std::fs::remove_dir_all(&dir);
    rows.push((
        "load a compiled component from the cache".into(),
        fmt(median(code)),
        "-".into(),
    ));
    rows.push((
        "instantiate + `about` calls".into(),
        fmt(median(inst)),
        "-".into(),
    ));

    // Per-route cost of import-filter.
    let engine = PolicyEngine::new(settings.clone())?;
    let mut wasm = engine.load(Slot::BgpFilter, &filter, BTreeMap::new())?;
    let mut rng = XorShift::new(1);
    let peer = gen::peer(&mut rng);
    // Batches as a full table gives them (the routes of an UPDATE share
    // one attribute set: a few thousand sets for a million prefixes, here
    // one per 300 routes) and the worst case, every route its own set.
    for (batch, sets, runs) in [
        (1usize, Some(1usize), 2001),
        (100, Some(1), 501),
        (10_000, Some(34), 31),
        (10_000, None, 31),
    ] {
        let routes = match sets {
            Some(sets) => gen::routes_sharing(&mut rng, batch, sets),
            None => gen::routes(&mut rng, batch),
        };
        let mut fault = None;
        let w = time(runs, || {
            if let Err(f) = wasm.filter(Direction::Import, black_box(&peer), black_box(&routes)) {
                fault = Some(f);
            }
        });
        if let Some(f) = fault {
            return Err(Box::new(f));
        }
        let n = time(runs, || {
            black_box(defaults::import_filter(black_box(&routes)));
        });
        let per = |d: Duration| fmt(d / u32::try_from(batch).unwrap_or(1));
        let shared = match sets {
            Some(sets) => format!("{sets} attribute set(s)"),
            None => "a set per route".into(),
        };
        rows.push((
            format!("import-filter, batch of {batch}, {shared}: per route (per call)"),
            format!("{} ({})", per(w), fmt(w)),
            format!("{} ({})", per(n), fmt(n)),
        ));
    }

    // A failover batch and a route-selection batch.
    let mut fo = engine.load(
        Slot::Failover,
        &plugin("default_failover.wasm"),
        BTreeMap::new(),
    )?;
    let conns = gen::connections(&mut rng, 10);
    let w = time(1001, || {
        black_box(fo.decide(black_box(&conns)).ok());
    });
    let n = time(1001, || {
        black_box(defaults::decide(black_box(&conns)));
    });
    rows.push((
        "failover decide, 10 connections (per call)".into(),
        fmt(w),
        fmt(n),
    ));
    let mut sel = engine.load(
        Slot::RouteSelection,
        &plugin("default_route_selection.wasm"),
        BTreeMap::new(),
    )?;
    let prefixes = gen::prefix_candidates(&mut rng, 1000);
    let w = time(101, || {
        black_box(sel.select(black_box(&prefixes)).ok());
    });
    let n = time(101, || {
        black_box(defaults::select(black_box(&prefixes)));
    });
    rows.push((
        "route-selection, 1000 prefixes, a set per candidate (per call)".into(),
        fmt(w),
        fmt(n),
    ));
    // The same prefixes with their candidates' attributes drawn from 34
    // sets, as a full table shares them.
    let sets: Vec<_> = prefixes
        .iter()
        .flat_map(|p| p.candidates.iter().map(|c| c.route.attributes.clone()))
        .take(34)
        .collect();
    let mut shared = prefixes.clone();
    for (i, c) in shared
        .iter_mut()
        .flat_map(|p| p.candidates.iter_mut())
        .enumerate()
    {
        if let Some(a) = sets.get(i % sets.len().max(1)) {
            c.route.attributes = a.clone();
        }
    }
    let w = time(101, || {
        black_box(sel.select(black_box(&shared)).ok());
    });
    let n = time(101, || {
        black_box(defaults::select(black_box(&shared)));
    });
    rows.push((
        "route-selection, 1000 prefixes, 34 sets (per call)".into(),
        fmt(w),
        fmt(n),
    ));

    println!("plugin: {}\n", filter.display());
    println!("| measurement | Wasm plugin | native default |");
    println!("|---|---|---|");
    for (what, w, n) in rows {
        println!("| {what} | {w} | {n} |");
    }
    Ok(())
}
