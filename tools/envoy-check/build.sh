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
# Modelled on lab/engine/build-lab-plugin.sh: only module sources come from the Go module
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

# The Go files that go into the binary (not the tests), sorted (the glob is).
sources() {
  local f
  for f in "$SRC"/*.go; do
    [[ "$f" == *_test.go ]] || basename "$f"
  done
}

# Content hash: file names and contents of the sources, and the Go version.
HASH="$(
  cd "$SRC"
  {
    for f in go.mod go.sum $(sources); do
      printf '%s\n' "$f"
      sha256sum < "$f"
    done
    go env GOVERSION
  } | sha256sum | cut -c1-16
)"
OUT="$BASE/$HASH"
BIN="$OUT/envoy-check"

cached_ok() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

exit_if_built "$BASE" "$BIN"

log "source $SRC, hash $HASH, GOPROXY=$GOPROXY, $(go env GOVERSION)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$SRC"/go.mod "$SRC"/go.sum "$WORK"/
for f in $(sources); do cp "$SRC/$f" "$WORK"/; done
export GOFLAGS="-mod=readonly -buildvcs=false"

T=$(now)
(cd "$WORK" && go mod download)
log "download modules: $(took "$T")"

T=$(now)
mkdir -p "$OUT"
(cd "$WORK" && go build -trimpath -ldflags "-s -w" -o "$OUT/envoy-check.tmp" .)
mv -f "$OUT/envoy-check.tmp" "$BIN"
log "compile: $(took "$T")"

cached_ok || { log "built binary does not run: $("$BIN" --version 2>&1 || true)"; exit 1; }
log "built: $BIN ($("$BIN" --version), $(du -h "$BIN" | cut -f1)) in $(took "$build_started")"
echo "$BIN"
