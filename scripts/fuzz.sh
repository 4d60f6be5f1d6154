#!/usr/bin/env bash
# Runs one fuzz target (fuzz/src/lib.rs says what each takes and checks)
# under libFuzzer for MINUTES (default 10), with its seed corpus in
# fuzz/corpus/TARGET read and new inputs kept in target/fuzz-corpus/TARGET
# (outside the repository). A crash is saved in fuzz/artifacts/TARGET/;
# copy it into fuzz/corpus/TARGET/ with the fix so that
# host/tests/fuzz_corpus.rs keeps it as a regression test.
# Installs cargo-fuzz if missing. Built with the stable toolchain, which
# RUSTC_BOOTSTRAP=1 lets take cargo-fuzz's coverage flags, and without a
# sanitizer (-s none): boringtun's pre-release curve25519-dalek does not
# build on a nightly toolchain, and the code under test is safe Rust (a
# panic or an abort is what the fuzzer looks for).
# Usage: scripts/fuzz.sh TARGET [MINUTES]    scripts/fuzz.sh --list
set -euo pipefail
cd "$(dirname "$0")/.."
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^sitelink-fuzz$')
if [ "${1:-}" = "--list" ] || [ -z "${1:-}" ]; then
  echo "targets:" $targets
  [ -n "${1:-}" ] || { echo "usage: scripts/fuzz.sh TARGET [MINUTES]" >&2; exit 2; }
  exit 0
fi
target=$1
minutes=${2:-10}
if ! grep -qx "$target" <<<"$targets"; then
  echo "scripts/fuzz.sh: no fuzz target '$target'; known:" $targets >&2
  exit 2
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
mkdir -p "target/fuzz-corpus/$target"
RUSTC_BOOTSTRAP=1 exec cargo fuzz run -s none "$target" "target/fuzz-corpus/$target" "fuzz/corpus/$target" -- \
  -max_total_time=$((minutes * 60)) -print_final_stats=1
