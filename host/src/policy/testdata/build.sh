#!/usr/bin/env bash
# Rebuilds the test fixtures of the policy module's unit tests (*.wasm here)
# from guest/: a plugin that misbehaves on request, in a few variants.
# Needs `rustup target add wasm32-wasip2`. Run it after changing guest/ or
# wit/policy.wit, and commit the .wasm files it writes.
set -euo pipefail
cd "$(dirname "$0")"
build() { # OUT FEATURES [RUSTFLAGS]
    RUSTFLAGS="${3:-}" cargo build --quiet --release --target wasm32-wasip2 \
        --manifest-path guest/Cargo.toml --target-dir guest/target --features "$2"
    cp guest/target/wasm32-wasip2/release/chaos_guest.wasm "$1"
}
build chaos.wasm ""
build only_failover.wasm only-failover
build extra_import.wasm extra-import
build start_loop.wasm start-loop
# 1 GiB of initial linear memory: refused by the host's memory cap at load.
build big_memory.wasm "" "-C link-arg=--initial-memory=1073741824"
# contract_0_1.wasm and contract_0_2.wasm are only_failover.wasm as built for
# sitelink:policy@0.1.0 and @0.2.0: kept as they are, to test the refusal of
# an old plugin.
ls -l ./*.wasm
