#!/usr/bin/env bash
# Installs what sitelink's lab, demo and tests need on a Debian machine, as root:
# iproute2 (namespaces, veths), ping, iperf3, wireguard-tools (`wg`, `wg-quick`),
# wireguard-go, bird2 and gobgpd (the standard peers of the interop tests),
# util-linux (setpriv), prometheus (`promtool check metrics` in the metrics
# test), frr (FRR's bgpd, run without zebra as a peer of the interop tests),
# make (jemalloc's build, the gateway's allocator, runs configure and make).
# Idempotent: apt runs only when something is missing.
set -euo pipefail
need=()
for pair in ip:iproute2 ping:iputils-ping iperf3:iperf3 wg:wireguard-tools wg-quick:wireguard-tools \
  wireguard-go:wireguard-go bird:bird2 birdc:bird2 gobgpd:gobgpd gobgp:gobgpd setpriv:util-linux \
  promtool:prometheus vtysh:frr make:make; do
  cmd=${pair%%:*} pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -c /dev/net/tun ]; then
  modprobe tun 2>/dev/null || true
fi
[ -c /dev/net/tun ] || { echo "error: /dev/net/tun is missing (modprobe tun)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "error: run as root (network namespaces and TUN devices need it)" >&2; exit 1; }
