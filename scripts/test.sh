#!/usr/bin/env bash
# Runs every check and test of sitelink: format, lints, unit tests, the CLI
# tests, and the end-to-end tests in network namespaces (run one at a time:
# they measure failover timing, and a 2-core machine is easily saturated).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
# Unit and CLI tests.
timeout 900 cargo test --workspace --exclude sitelink-lab
# End-to-end tests, each bounded; a stuck run is killed and fails.
timeout 1200 cargo test -p sitelink-lab -- --test-threads=1
