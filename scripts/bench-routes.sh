#!/usr/bin/env bash
# Control-plane benchmark: BIRD 2 sends ROUTES_V4 IPv4 and ROUTES_V6 IPv6
# routes over one BGP session to BIRD 2, then to BIRD 2 behind wireguard-go
# (the feeder sending through a wireguard-go tunnel, as to sitelink), then
# to a sitelink gateway (default Wasm bgp-filter and route-selection
# plugins, kernel routes off, max-prefix raised), each on fresh namespaces.
# Reports per receiver the time until all routes are in its table
# (sitelink: its FIB), peak RSS and bytes per route, and sitelink's ratios
# to each BIRD. Then, on sitelink with the full table: the control loop's
# turn histogram (ingest and swap phases), a bgp-filter swap to
# examples/plugins/bogon-filter (allow_private=true: accepts the whole
# feed) with its effect on sessions, tunnels and the FIB, and
# `sitelink routes --prefix` latency, then a forced swap to
# plugins/faults/flaky-filter with poison=10000 (faults on every call that
# holds one of 120 poisoned prefixes): when every other route is back.
# Usage (root): scripts/bench-routes.sh [ROUTES_V4=1000000] [ROUTES_V6=200000]
# BENCH_RECEIVERS picks receivers (a list of bird, bird-wg, sitelink;
# `sitelink` alone for quick comparisons of builds:
# SITELINK_BIN=... target/release/sitelink-bench-routes) and
# BENCH_CONTROL=0 skips the swaps (BENCH_CONTROL=faults: only the last).
# Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build-plugins.sh -p default-bgp-filter -p default-route-selection -p bogon-filter -p fault-flaky-filter >/dev/null
cargo build --quiet --release -p sitelink -p sitelink-lab
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(bird --version 2>&1 | head -1)" >&2
SITELINK_BIN="$target/sitelink" \
  exec "$target/sitelink-bench-routes" "${1:-1000000}" "${2:-200000}"
