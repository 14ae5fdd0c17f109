#!/usr/bin/env bash
# Builds the host tool twice, each time from its own copy of the sources in a fresh temporary
# directory with a fresh GOCACHE (nothing compiled is shared), with build.sh's flags, and compares
# the two binaries' sha256 with each other and with the committed one (limen-host.sha256, in
# sha256sum's format): the release's check that what the plan hashes is what anyone with the pinned
# Go gets from these sources. Prints both hashes; exits 1 when they differ from each other or from
# the committed hash.
#
# Usage: tools/limen-host/reproducible.sh            # check
#        tools/limen-host/reproducible.sh --record   # the sources changed: write limen-host.sha256
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMMITTED="$SRC/limen-host.sha256"
RECORD=0
case "${1:-}" in
    --record) RECORD=1 ;;
    "") ;;
    *) echo "usage: tools/limen-host/reproducible.sh [--record]" >&2; exit 2 ;;
esac
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
if [[ "$RECORD" == 1 ]]; then
    printf '%s  limen-host\n' "$a" >"$COMMITTED"
    echo "recorded in tools/limen-host/limen-host.sha256"
    exit 0
fi
committed="$(awk '$2 == "limen-host" { print $1 }' "$COMMITTED" 2>/dev/null || true)"
if [[ "$committed" != "$a" ]]; then
    echo "tools/limen-host/limen-host.sha256 says ${committed:-nothing}, and these sources build $a: the sources changed since the hash was recorded (tools/limen-host/reproducible.sh --record, then commit it)" >&2
    exit 1
fi
echo "matches tools/limen-host/limen-host.sha256"
