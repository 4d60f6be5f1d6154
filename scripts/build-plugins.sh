#!/usr/bin/env bash
# Builds the policy plugins (the plugins/ cargo workspace: SDK, default
# plugins, examples/plugins/*, test-only fault plugins) as wasm32-wasip2
# components, then the Python examples (examples/plugins/python/*, with
# componentize-py from PyPI, pinned, installed for the user if missing),
# and lists the .wasm files. Extra arguments go to cargo, e.g.
#   scripts/build-plugins.sh -p prefer-zone
# Bounded by PLUGINS_BUILD_TIMEOUT seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-wasip2
out=plugins/target/$target/release

if command -v rustup >/dev/null 2>&1; then
    rustup target add "$target" >/dev/null 2>&1 || {
        echo "build-plugins: rustup target add $target failed" >&2
        exit 1
    }
elif ! rustc --print sysroot >/dev/null 2>&1 ||
    [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
    echo "build-plugins: the $target target is missing (install rustup, or your distro's $target std)" >&2
    exit 1
fi

timeout "${PLUGINS_BUILD_TIMEOUT:-900}" \
    cargo build --quiet --release --target "$target" \
    --manifest-path plugins/Cargo.toml --target-dir plugins/target "$@"

# The Python examples: one component each, named after the directory with
# `-` as `_` and a `_py` suffix (community-local-pref -> community_local_pref_py.wasm).
# Each directory's WORLD file names the slot it is built for.
componentize_py=0.25.1
cpy=$(command -v componentize-py || echo "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/componentize-py")
if ! "$cpy" --version 2>/dev/null | grep -q "$componentize_py"; then
    timeout 300 python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        "componentize-py==$componentize_py" || {
        echo "build-plugins: cannot install componentize-py $componentize_py from PyPI (python3 -m pip)" >&2
        exit 1
    }
    cpy=$(command -v componentize-py || echo "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/componentize-py")
fi
for dir in examples/plugins/python/*/; do
    name=$(basename "$dir" | tr - _)_py
    timeout 300 "$cpy" -d wit -w "$(cat "$dir/WORLD")" componentize \
        -p "$dir" app -o "$out/$name.wasm" >/dev/null
done

# A component starts with "\0asm" and the component-model layer/version
# (0d 00 01 00); a core module would have 01 00 00 00.
status=0
for f in "$out"/*.wasm; do
    [ -e "$f" ] || continue
    if [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 0061736d0d000100 ]; then
        printf '%8d  %s\n' "$(wc -c <"$f")" "$f"
    else
        printf '%8s  %s  NOT A COMPONENT\n' '?' "$f" >&2
        status=1
    fi
done
exit "$status"
