#!/usr/bin/env bash
# Build crane (go-containerregistry's registry client) from its Go module and cache it outside the
# repository, for making and pushing the lab's stand-in Envoy image without a Docker daemon:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/crane/<version>/crane
#
# Idempotent: a cached crane that reports the pinned version is a no-op. The directory appears in one
# rename once complete; one build at a time (flock). Prints the crane binary's path on stdout; timings go
# to stderr. Only module sources come from the Go module proxy (lab/engine/go-env.sh strips `direct`).
#
# Usage: lab/registry/build-crane.sh            # build if needed, print the binary's path
#        lab/registry/build-crane.sh --force    # rebuild even if cached
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

VERSION="${LIMEN_CRANE_VERSION:-v0.22.1}"
MODULE="github.com/google/go-containerregistry"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/crane"
OUT="$BASE/$VERSION"

LOG_PREFIX=build-crane
# shellcheck source=../engine/build-once.sh
source "$HERE/../engine/build-once.sh"

cached_ok() {
  [[ -x "$OUT/crane" ]] || return 1
  [[ "$("$OUT/crane" version 2>/dev/null)" == "$VERSION" ]]
}

exit_if_built "$BASE" "$OUT/crane"

# shellcheck source=../engine/go-env.sh
source "$HERE/../engine/go-env.sh"
log "$MODULE@$VERSION, GOPROXY=$GOPROXY, $(go env GOVERSION)"

STAGING="$(mktemp -d "$BASE/.build.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT
# Outside any module of ours: `go install pkg@version` builds with the module's own go.mod and go.sum.
cd "$STAGING"
export GOFLAGS=""

T=$(now)
# crane prints "(devel)" for `crane version` unless the version is linked in; cached_ok reads it.
GOBIN="$STAGING/bin" go install -trimpath \
  -ldflags "-s -w -X $MODULE/cmd/crane/cmd.Version=$VERSION" "$MODULE/cmd/crane@$VERSION"
log "download and compile crane: $(took "$T")"

install -d "$STAGING/out"
install -m 0755 "$STAGING/bin/crane" "$STAGING/out/crane"
rm -rf "$OUT"
mv "$STAGING/out" "$OUT"
cached_ok || { log "built crane does not report $VERSION: $("$OUT/crane" version 2>&1 || true)"; exit 1; }
log "built: $OUT ($(du -sh "$OUT" | cut -f1)) in $(took "$build_started")"
echo "$OUT/crane"
