#!/usr/bin/env bash
# Build envoy-check (this directory: Envoy's generated validators from go-control-plane, see
# main.go) from its Go module and cache the binary outside the repository:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/envoy-check/<content-hash>/envoy-check
#
# (for a user who cannot write /var/cache and has not set LIMEN_CACHE_DIR: ~/.cache/limen-infra/...)
#
# <content-hash> covers go.mod, go.sum, the non-test *.go files and the Go version, so a changed
# source builds into a new directory and an unchanged one is a no-op. Prints the binary's path on
# stdout; timings go to stderr. One build at a time (flock); a concurrent caller waits and then
# finds the binary built.
#
# Built as the lab's Go stand-ins are (lab/engine/build-once.sh, build_go_tool): only module sources come from the Go module
# proxy (lab/engine/go-env.sh strips the `direct` fallback, so a refused module fails instead of
# turning into a git fetch), nothing prebuilt is downloaded, and the repository is never written to:
# the build runs in a temporary copy with -mod=readonly (the committed go.sum must be complete).
#
# Usage: tools/envoy-check/build.sh            # build if needed, print the binary's path
#        tools/envoy-check/build.sh --force    # rebuild even if cached
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SRC/../.." && pwd)"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

LOG_PREFIX="envoy-check build"
source "$REPO/lab/engine/build-once.sh"

CACHE_ROOT="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
# `npm test` as a normal user cannot write /var/cache: without LIMEN_CACHE_DIR, use the user's cache.
if [[ -z "${LIMEN_CACHE_DIR:-}" ]] && ! { mkdir -p "$CACHE_ROOT" 2>/dev/null && [[ -w "$CACHE_ROOT" ]]; }; then
  CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/limen-infra"
  log "/var/cache/limen-infra is not writable; caching under $CACHE_ROOT (set LIMEN_CACHE_DIR to choose)"
fi
BASE="$CACHE_ROOT/tools/envoy-check"

# shellcheck source=../../lab/engine/go-env.sh
source "$REPO/lab/engine/go-env.sh"

HASH="$(go_tool_hash "$SRC")"
OUT="$BASE/$HASH"
BIN="$OUT/envoy-check"

cached_ok() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

exit_if_built "$BASE" "$BIN"

log "source $SRC, hash $HASH, GOPROXY=$GOPROXY, $(go env GOVERSION)"

build_go_tool "$SRC" "$BIN"
log "built: $BIN ($("$BIN" --version), $(du -h "$BIN" | cut -f1)) in $(took "$build_started")"
echo "$BIN"
