#!/usr/bin/env bash
# Data-path benchmark: one tunnel between two namespaces, iperf3 over it, for
# sitelink, Debian's wireguard-go, boringtun-cli and GotaTun (gotatun-cli;
# both built from crates.io into target/bench-tools, never committed), rounds
# alternating between them; per-thread CPU during the TCP test.
# Usage (root): [BENCH_TUNNELS=N] [BENCH_SYSTEMS=a,b] [BENCH_CUTS=0] \
#   scripts/bench-datapath.sh [ROUNDS=3] [SECONDS=5]
# BENCH_TUNNELS=N (2-32) adds the N-tunnel test: N tunnels at once, one TCP
# flow each, against one flow alone (does the aggregate grow?);
# BENCH_SYSTEMS narrows the systems; BENCH_CUTS=0 skips the tunnel cuts.
# Prints markdown tables of medians (min-max) and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
command -v wireguard-go >/dev/null 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wireguard-go >/dev/null
}
if [ ! -x target/bench-tools/bin/boringtun-cli ]; then
  echo "building boringtun-cli 0.7.1 from crates.io (once) ..." >&2
  timeout 1800 cargo install --quiet --locked --root target/bench-tools boringtun-cli --version 0.7.1
fi
# GotaTun, Mullvad's fork of boringtun (MPL-2.0); its binary is `gotatun`.
if [ ! -x target/bench-tools/bin/gotatun ]; then
  echo "building gotatun-cli 0.10.2 from crates.io (once) ..." >&2
  timeout 1800 cargo install --quiet --locked --root target/bench-tools gotatun-cli --version 0.10.2
fi
./scripts/build-plugins.sh
cargo build --quiet --release -p sitelink -p sitelink-lab
echo "machine: $(nproc) cores ($(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed "s/^ //")), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
SITELINK_BIN="$PWD/target/release/sitelink" \
BORINGTUN_BIN="$PWD/target/bench-tools/bin/boringtun-cli" \
GOTATUN_BIN="$PWD/target/bench-tools/bin/gotatun" \
  exec ./target/release/sitelink-bench "${1:-3}" "${2:-5}"
