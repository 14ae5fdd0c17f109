#!/usr/bin/env bash
# Builds the host tool twice, each time from its own copy of the sources in a fresh temporary
# directory with a fresh GOCACHE (nothing compiled is shared), with build.sh's flags, and compares
# the two binaries' sha256: the release's check that what the plan hashes is what anyone with the
# pinned Go gets from these sources. Prints both hashes; exits 1 when they differ.
#
# Usage: tools/limen-host/reproducible.sh
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
first="$(mktemp -d)"
second="$(mktemp -d)"
trap 'rm -rf "$first" "$second"' EXIT

GOCACHE="$first/gocache" bash "$SRC/build.sh" --out "$first/out/limen-host" >/dev/null
GOCACHE="$second/gocache" bash "$SRC/build.sh" --out "$second/other/limen-host" >/dev/null
a="$(sha256sum "$first/out/limen-host" | cut -d' ' -f1)"
b="$(sha256sum "$second/other/limen-host" | cut -d' ' -f1)"
printf 'first build:  %s (%s bytes)\nsecond build: %s (%s bytes)\n' "$a" "$(stat -c %s "$first/out/limen-host")" "$b" "$(stat -c %s "$second/other/limen-host")"
if [[ "$a" != "$b" ]]; then
    echo "limen-host is not reproducible: two builds of the same sources differ" >&2
    exit 1
fi
echo "reproducible: both builds are $a"
