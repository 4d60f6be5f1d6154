#!/usr/bin/env bash
# Runs every check and test of sitelink: format, lints, unit tests, the CLI
# tests, and the end-to-end tests in network namespaces (run one at a time:
# they measure failover timing, and a 2-core machine is easily saturated).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export CARGO_TERM_COLOR=never
# One build from scratch: incremental state would only take disk (~2 GB).
export CARGO_INCREMENTAL=0
# The policy plugins (guests, wasm32-wasip2, a workspace of their own): built
# first, since the host's plugin tests load them.
./scripts/build-plugins.sh
cargo fmt --manifest-path plugins/Cargo.toml --all -- --check
cargo clippy --manifest-path plugins/Cargo.toml --workspace --target wasm32-wasip2 -- -D warnings
# The plugins' logic (examples, SDK, default rules) unit-tested natively.
timeout 600 cargo test --manifest-path plugins/Cargo.toml --workspace --exclude 'fault-*'
# Of the fault plugins (components made to misbehave), the rule of the one
# the routes benchmark counts on: which prefixes flaky-filter's poison hits.
timeout 300 cargo test --manifest-path plugins/Cargo.toml -p fault-flaky-filter
# The plugin templates: a crate made from each (scripts/new-plugin.sh), its
# tests run natively and built as a component (reusing the plugins' target).
templates=$(mktemp -d)
trap 'rm -rf "$templates"' EXIT
for slot in bgp-filter route-selection failover; do
    ./scripts/new-plugin.sh "$slot" "my-$slot" "$templates/$slot" >/dev/null
    CARGO_TARGET_DIR=plugins/target timeout 600 cargo test --quiet --manifest-path "$templates/$slot/Cargo.toml"
    CARGO_TARGET_DIR=plugins/target timeout 600 cargo build --quiet --release --target wasm32-wasip2 \
        --manifest-path "$templates/$slot/Cargo.toml"
done
# The Python examples' logic, with the machine's CPython.
for dir in examples/plugins/python/*/; do
    (cd "$dir" && timeout 120 python3 -m unittest -q)
done
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
# Unit and CLI tests.
timeout 900 cargo test --workspace --exclude sitelink-lab
# End-to-end tests, each bounded; a stuck run is killed and fails.
timeout 1200 cargo test -p sitelink-lab -- --test-threads=1
