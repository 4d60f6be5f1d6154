//! Differential test: the Wasm default plugins (`plugins/default-*`) must give
//! exactly the native defaults' answers (`sitelink::policy::defaults`) on
//! thousands of generated inputs. Needs the plugins built first
//! (`scripts/build-plugins.sh`); finds them in `$SITELINK_PLUGIN_DIR` or
//! `plugins/target/wasm32-wasip2/release`, and fails (does not skip) if they
//! are missing. This file owns only the comparison; it must not change either
//! side's rules.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;

use sitelink::policy::gen::{self, XorShift};
use sitelink::policy::{defaults, Direction, EngineSettings, Plugin, PolicyEngine, Slot};

fn plugin_dir() -> PathBuf {
    match std::env::var_os("SITELINK_PLUGIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins/target/wasm32-wasip2/release"),
    }
}

fn load(slot: Slot, file: &str) -> Plugin {
    let path = plugin_dir().join(file);
    assert!(
        path.is_file(),
        "{} is missing: build the plugins first: scripts/build-plugins.sh \
         (or point SITELINK_PLUGIN_DIR at the directory holding {file})",
        path.display()
    );
    let settings = EngineSettings {
        // Generous: this compares answers, not speed, on a busy test machine.
        deadline: std::time::Duration::from_secs(2),
        ..EngineSettings::default()
    };
    let engine = PolicyEngine::new(settings).unwrap_or_else(|e| panic!("{e}"));
    engine
        .load(slot, &path, BTreeMap::new())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn same<I: Debug, T: PartialEq + Debug>(what: &str, seed: u64, input: &I, wasm: T, native: T) {
    assert!(
        wasm == native,
        "{what}, seed {seed}: the Wasm default answered\n{wasm:?}\nthe native default\n{native:?}\nfor\n{input:#?}"
    );
}

#[test]
fn failover_default_plugin_matches_native() {
    let mut plugin = load(Slot::Failover, "default_failover.wasm");
    for seed in 0..3000 {
        let mut rng = XorShift::new(seed);
        let n = 1 + rng.below(8) as usize;
        let input = gen::connections(&mut rng, n);
        let wasm = plugin
            .decide(&input)
            .unwrap_or_else(|f| panic!("seed {seed}: {f}\n{input:#?}"));
        same("failover", seed, &input, wasm, defaults::decide(&input));
    }
}

#[test]
fn route_selection_default_plugin_matches_native() {
    let mut plugin = load(Slot::RouteSelection, "default_route_selection.wasm");
    for seed in 0..3000 {
        let mut rng = XorShift::new(seed);
        let n = rng.below(17) as usize;
        let input = gen::prefix_candidates(&mut rng, n);
        let wasm = plugin
            .select(&input)
            .unwrap_or_else(|f| panic!("seed {seed}: {f}\n{input:#?}"));
        same(
            "route-selection",
            seed,
            &input,
            wasm,
            defaults::select(&input),
        );
    }
}

#[test]
fn bgp_filter_default_plugin_matches_native() {
    let mut plugin = load(Slot::BgpFilter, "default_bgp_filter.wasm");
    for seed in 0..2000 {
        let mut rng = XorShift::new(seed);
        let peer = gen::peer(&mut rng);
        let n = rng.below(64) as usize;
        let routes = gen::routes(&mut rng, n);
        for (direction, native) in [
            (Direction::Import, defaults::import_filter(&routes)),
            (Direction::Export, defaults::export_filter(&routes)),
        ] {
            let wasm = plugin
                .filter(direction, &peer, &routes)
                .unwrap_or_else(|f| panic!("seed {seed}: {f}"));
            same(
                "bgp-filter",
                seed,
                &(direction, &peer, &routes),
                wasm,
                native,
            );
        }
    }
}

/// The default plugin says it installs a prefix's only candidate (so the
/// gateway installs those itself and never asks), and both defaults do:
/// every generated prefix with one candidate gets it.
#[test]
fn both_defaults_install_every_lone_candidate_as_the_plugin_declares() {
    let mut plugin = load(Slot::RouteSelection, "default_route_selection.wasm");
    assert!(plugin.info().installs_lone_candidate);
    let mut lone = 0;
    for seed in 0..3000 {
        let mut rng = XorShift::new(seed);
        let n = 1 + rng.below(16) as usize;
        let mut input = gen::prefix_candidates(&mut rng, n);
        input.retain(|p| p.candidates.len() == 1);
        lone += input.len();
        let every: Vec<Vec<u32>> = vec![vec![0]; input.len()];
        let wasm = plugin
            .select(&input)
            .unwrap_or_else(|f| panic!("seed {seed}: {f}\n{input:#?}"));
        same("lone, Wasm", seed, &input, wasm, every.clone());
        same(
            "lone, native",
            seed,
            &input,
            defaults::select(&input),
            every,
        );
    }
    assert!(lone > 1000, "only {lone} lone prefixes generated");
}
