#!/usr/bin/env bash
# Build the lab's stand-in for Envoy (this directory, see README.md) and cache the binary outside the
# repository:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/lab-envoy/<content-hash>/envoy
#
# (for a user who cannot write /var/cache and has not set LIMEN_CACHE_DIR: ~/.cache/limen-infra/...)
#
# The stand-in is one Go package made of this directory's *.go files and tools/envoy-check's, all but
# envoy-check's main.go, built with envoy-check's go.mod and go.sum: it judges a bootstrap with the
# very code envoy-check runs, and adds no module. <content-hash> covers both source sets, go.mod,
# go.sum and the Go version. Built as envoy-check is (lab/engine/build-once.sh, build_go_tool):
# module sources from the Go module proxy only, in a temporary copy, -mod=readonly, CGO_ENABLED=0.
# Prints the binary's path on stdout; timings go to stderr.
#
# Usage: lab/envoy/build.sh            # build if needed, print the binary's path
#        lab/envoy/build.sh --force    # rebuild even if cached
#        lab/envoy/build.sh --test     # run the stand-in's Go tests (lab/envoy/*_test.go) instead
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SRC/../.." && pwd)"
CHECK_SRC="$REPO/tools/envoy-check"
FORCE=0
TEST=0
case "${1:-}" in
  --force) FORCE=1 ;;
  --test) TEST=1 ;;
  "") ;;
  *) echo "usage: lab/envoy/build.sh [--force|--test]" >&2; exit 2 ;;
esac

LOG_PREFIX="lab envoy build"
# shellcheck source=../engine/build-once.sh
source "$REPO/lab/engine/build-once.sh"
# shellcheck source=../engine/go-env.sh
source "$REPO/lab/engine/go-env.sh"

# stage DIR [tests]: one package in DIR: envoy-check's module files and sources (not its main.go nor
# its tests), then this directory's sources (and, with "tests", its *_test.go).
stage() {
  local dir=$1 with_tests=${2-} f
  cp "$CHECK_SRC/go.mod" "$CHECK_SRC/go.sum" "$dir"/
  for f in "$CHECK_SRC"/*.go; do
    [[ $f == *_test.go || $(basename "$f") == main.go ]] || cp "$f" "$dir"/
  done
  for f in "$SRC"/*.go; do
    [[ $f != *_test.go || -n $with_tests ]] || continue
    [[ ! -e "$dir/$(basename "$f")" ]] || { log "$(basename "$f") is in both lab/envoy and tools/envoy-check: rename one"; exit 1; }
    cp "$f" "$dir"/
  done
}

STAGE="$(mktemp -d)"
# shellcheck disable=SC2064 # the directory is fixed now; the trap runs at the script's exit
trap "rm -rf '$STAGE'" EXIT

if [[ $TEST -eq 1 ]]; then
  stage "$STAGE" tests
  (cd "$STAGE" && GOFLAGS="-mod=readonly -buildvcs=false" go test -count=1 .)
  exit 0
fi

CACHE_ROOT="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
# `npm test` as a normal user cannot write /var/cache: without LIMEN_CACHE_DIR, use the user's cache.
if [[ -z "${LIMEN_CACHE_DIR:-}" ]] && ! { mkdir -p "$CACHE_ROOT" 2>/dev/null && [[ -w "$CACHE_ROOT" ]]; }; then
  CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/limen-infra"
  log "/var/cache/limen-infra is not writable; caching under $CACHE_ROOT (set LIMEN_CACHE_DIR to choose)"
fi
BASE="$CACHE_ROOT/tools/lab-envoy"

stage "$STAGE"
# The staged directory holds exactly what is built: its hash covers both source sets.
HASH="$(go_tool_hash "$STAGE" "lab-envoy")"
BIN="$BASE/$HASH/envoy"

cached_ok() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

exit_if_built "$BASE" "$BIN"

log "sources $SRC + $CHECK_SRC (not its main.go), hash $HASH, GOPROXY=$GOPROXY, $(go env GOVERSION)"
# A subshell: build_go_tool sets its own EXIT trap for its copy, which must not replace this one.
(build_go_tool "$STAGE" "$BIN")
log "built: $BIN ($("$BIN" --version), $(du -h "$BIN" | cut -f1)) in $(took "$build_started")"
echo "$BIN"
