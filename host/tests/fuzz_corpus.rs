//! The fuzz targets on stable Rust: each target's body (`fuzz/src/lib.rs`,
//! the same code libFuzzer runs) over its seed corpus in `fuzz/corpus/`,
//! then over mutations of the seeds from a fixed-seed generator (bytes
//! flipped, cut, repeated, spliced), so that CI runs a short, repeatable
//! smoke of every target and every input a fuzzer ever crashed on (kept in
//! the corpus) stays a regression test.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod bodies;

/// Mutated inputs per target (a few seconds in a debug build).
const MUTATIONS: usize = 20_000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
}

/// A repeatable stream (xorshift64*), no dependency.
use sitelink::policy::gen::XorShift as Rng;

/// One mutation of `seed` (another seed `other` for splices).
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.index(4) {
        let at = rng.index(v.len() + 1);
        match rng.index(7) {
            0 if at < v.len() => v[at] ^= 1 << rng.index(8),
            1 if at < v.len() => v[at] = [0, 1, 0x7f, 0x80, 0xff][rng.index(5)],
            2 => v.truncate(at),
            3 => {
                let n = rng.index(8) + 1;
                let byte = rng.next_u64() as u8;
                v.splice(at..at, std::iter::repeat_n(byte, n));
            }
            4 if at < v.len() => {
                let end = (at + rng.index(16) + 1).min(v.len());
                v.drain(at..end);
            }
            5 => {
                let from = rng.index(other.len());
                let end = (from + rng.index(64) + 1).min(other.len());
                v.splice(at..at, other[from..end].iter().copied());
            }
            _ if at + 1 < v.len() => {
                let end = (at + rng.index(32) + 1).min(v.len());
                let part = v[at..end].to_vec();
                v.splice(at..at, part);
            }
            _ => {}
        }
    }
    v
}

#[test]
fn the_fuzz_crate_builds_a_binary_for_every_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let manifest = fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in bodies::TARGETS {
        let bin = format!("name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\"");
        assert!(
            manifest.contains(&bin),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let wrapper = fs::read_to_string(fuzz.join(format!("fuzz_targets/{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz_targets/{name}.rs: {e}"));
        assert!(
            wrapper.contains(&format!("sitelink_fuzz::{name}(")),
            "fuzz_targets/{name}.rs runs another body"
        );
    }
    let bins = manifest.matches("[[bin]]").count();
    assert_eq!(
        bins,
        bodies::TARGETS.len(),
        "a [[bin]] without a body in TARGETS"
    );
}

#[test]
fn every_target_has_a_seed_corpus_and_holds_on_it() {
    for (name, body) in bodies::TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seed");
        for seed in &seeds {
            body(seed);
        }
    }
}

#[test]
fn every_target_holds_on_mutations_of_its_seeds() {
    for (k, (name, body)) in bodies::TARGETS.iter().enumerate() {
        let seeds = corpus(name);
        let mut rng = Rng::new(0x5173_6c69_6e6b_0000 + k as u64);
        for _ in 0..MUTATIONS {
            let seed = &seeds[rng.index(seeds.len())];
            let other = &seeds[rng.index(seeds.len())];
            body(&mutate(&mut rng, seed, other));
        }
    }
}

#[test]
fn mutations_are_repeatable_and_change_the_input() {
    let seed = b"sitelink fuzz seed".as_slice();
    let run = |s: u64| {
        let mut rng = Rng::new(s);
        (0..50)
            .map(|_| mutate(&mut rng, seed, b"other"))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert!(run(7).iter().filter(|m| m.as_slice() != seed).count() > 40);
}
