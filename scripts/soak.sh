#!/usr/bin/env bash
# Soak benchmark (the hardening issue): MINUTES (default 30) of traffic
# through a sitelink VGW while its BGP peer (BIRD 2, over wireguard-go
# tunnels) announces and withdraws 10,000 routes every 5 s, a plugin is
# swapped every minute and the config is reloaded every 5 minutes.
# Reports the VGW's RSS at the start and the end, the errors, and every
# packet lost with its time next to the event log (targets: RSS growth
# under 5%, nothing lost outside the planned events).
# Usage (root): scripts/soak.sh [MINUTES=30]   (fractions allowed: 0.5)
# Environment: SOAK_ROUTES (10000), SOAK_CHURN_S (5: seconds between
# toggles), SOAK_SWAP_S (60), SOAK_RELOAD_S (300), SOAK_SAMPLE_S (5),
# SOAK_UDP_RATE (5M; 0 for no UDP stream), SOAK_OUT (where the lab's logs,
# configs and report.md are kept; default target/soak/<date>).
# Prints a markdown report for BENCHMARKS.md; progress goes to stderr.
# At the scale of the routes benchmark (BENCHMARKS-routes.md, fourteenth
# sitting): SOAK_ROUTES=1000000 SOAK_CHURN_S=40 scripts/soak.sh 30 (a
# million routes over both tunnels; with 40 s toggles the swaps meet the
# table full, arriving and gone in turn).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh >&2
./scripts/build-plugins.sh -p default-bgp-filter -p default-route-selection -p community-local-pref >/dev/null
cargo build --quiet --release -p sitelink -p sitelink-lab
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
SOAK_DATE="$(date -u +%Y-%m-%dT%H:%MZ)"
SOAK_REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || SOAK_REVISION="$SOAK_REVISION with local changes"
export SOAK_DATE SOAK_REVISION
export SOAK_OUT="${SOAK_OUT:-$PWD/target/soak/$(date -u +%Y%m%dT%H%M%SZ)}"
SITELINK_BIN="$target/sitelink" exec "$target/sitelink-soak" "${1:-30}"
