#!/usr/bin/env bash
# A new sitelink plugin crate from plugins/templates/SLOT, with tests:
#   scripts/new-plugin.sh SLOT NAME DIR [SDK]
# SLOT: bgp-filter, route-selection or failover. SDK: the sitelink-plugin
# dependency as TOML; default: this checkout's SDK by path. Outside a
# checkout, use a git dependency, e.g.
#   '{ git = "https://example.org/sitelink.git", tag = "v0.1.0" }'
# (cargo finds the sitelink-plugin package in the repository). The same
# templates work with `cargo generate --path plugins/templates/SLOT`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 3 ] || { echo "usage: $0 SLOT NAME DIR [SDK]" >&2; exit 2; }
slot=$1 name=$2 dir=$3
sdk=${4:-"{ path = \"$here/plugins/sdk\" }"}
template=$here/plugins/templates/$slot
[ -d "$template" ] || { echo "new-plugin: no template for slot $slot: use bgp-filter, route-selection or failover" >&2; exit 2; }
case $name in
  *[!a-z0-9-]* | "" | -*) echo "new-plugin: $name: use lowercase letters, digits and -" >&2; exit 2 ;;
esac
[ ! -e "$dir" ] || { echo "new-plugin: $dir exists: choose a new directory" >&2; exit 2; }
mkdir -p "$dir/src"
for f in Cargo.toml src/lib.rs; do
  python3 - "$template/$f" "$dir/$f" "$name" "$sdk" <<'PY'
import sys
src, dst, name, sdk = sys.argv[1:]
text = open(src).read().replace("{{project-name}}", name).replace("{{sdk}}", sdk)
open(dst, "w").write(text)
PY
done
echo "new-plugin: $dir: cargo test (natively), then cargo build --release --target wasm32-wasip2"
