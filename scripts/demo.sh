#!/usr/bin/env bash
# The sitelink demo: builds everything, installs what it needs, brings up a
# two-site lab in network namespaces (a customer gateway and an AWS-side
# gateway with two endpoints, one static VPN connection of two tunnels),
# shows traffic, cuts the active tunnel's link to show the failover, and
# cleans up (also on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build-plugins.sh
cargo build --release -p sitelink -p sitelink-lab
SITELINK_BIN="$PWD/target/release/sitelink" exec ./target/release/sitelink-demo "$@"
