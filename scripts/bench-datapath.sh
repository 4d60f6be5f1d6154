#!/usr/bin/env bash
# Data-path benchmark: one tunnel between two namespaces, iperf3 over it, for
# sitelink, Debian's wireguard-go and boringtun-cli (built from crates.io into
# target/bench-tools, never committed), rounds alternating between them.
# Usage (root): scripts/bench-datapath.sh [ROUNDS=3] [SECONDS=5]
# Prints a markdown table of medians (min-max) and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
command -v wireguard-go >/dev/null 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wireguard-go >/dev/null
}
if [ ! -x target/bench-tools/bin/boringtun-cli ]; then
  echo "building boringtun-cli from crates.io (once) ..." >&2
  timeout 1800 cargo install --quiet --locked --root target/bench-tools boringtun-cli
fi
./scripts/build-plugins.sh
cargo build --quiet --release -p sitelink -p sitelink-lab
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(wireguard-go --version 2>&1 | head -1)" >&2
SITELINK_BIN="$PWD/target/release/sitelink" \
BORINGTUN_BIN="$PWD/target/bench-tools/bin/boringtun-cli" \
  exec ./target/release/sitelink-bench "${1:-3}" "${2:-5}"
