#!/usr/bin/env bash
# Build Let's Encrypt's test ACME server (pebble) and its DNS/challenge server (pebble-challtestsrv)
# from their Go module, for the lab's certificate tests, and cache them outside the repository:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/pebble/<version>/
#     pebble, pebble-challtestsrv
#     certs/localhost/cert.pem, certs/localhost/key.pem   TLS of pebble's ACME and management endpoints
#     certs/pebble.minica.pem                             the root that signed them (what a client trusts)
#
# The certs are the module's own test ones (test/certs/): pebble needs a cert for its HTTPS endpoints,
# and copying them here means the tests never read Go's module cache. The cert names localhost and
# 127.0.0.1, which is where the lab reaches pebble (inside the frontend's network namespace).
#
# Idempotent: a complete directory whose pebble reports the pinned version is a no-op. The directory
# appears in one rename once everything is in it, so a half-built one is never found. One build at
# a time (flock); a concurrent caller waits and then finds it built. Prints the directory on stdout;
# timings go to stderr. Only module sources come from the Go module proxy (lab/engine/go-env.sh
# strips the `direct` fallback); nothing is written to the repository.
#
# Usage: lab/acme/build-pebble.sh            # build if needed, print the directory
#        lab/acme/build-pebble.sh --force    # rebuild even if cached
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

VERSION="${LIMEN_PEBBLE_VERSION:-v2.10.3}"
MODULE="github.com/letsencrypt/pebble/v2"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/pebble"
OUT="$BASE/$VERSION"

LOG_PREFIX=build-pebble
# shellcheck source=../engine/build-once.sh
source "$HERE/../engine/build-once.sh"

cached_ok() {
  [[ -x "$OUT/pebble" && -x "$OUT/pebble-challtestsrv" && -f "$OUT/certs/localhost/cert.pem" \
    && -f "$OUT/certs/localhost/key.pem" && -f "$OUT/certs/pebble.minica.pem" ]] || return 1
  [[ "$("$OUT/pebble" -version 2>/dev/null)" == "Pebble version: $VERSION" ]]
}

exit_if_built "$BASE" "$OUT"

# shellcheck source=../engine/go-env.sh
source "$HERE/../engine/go-env.sh"
log "$MODULE@$VERSION, GOPROXY=$GOPROXY, $(go env GOVERSION)"

STAGING="$(mktemp -d "$BASE/.build.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT
# `go install pkg@version` builds with the module's own go.mod and go.sum, outside any module of ours;
# run it from the staging dir so no go.mod up the tree is consulted and the repository is not touched.
cd "$STAGING"
export GOFLAGS=""

T=$(now)
MODULE_DIR="$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d $MODULE_DIR ]] || { log "go mod download gave no source directory for $MODULE@$VERSION"; exit 1; }
log "download module: $(took "$T")"

T=$(now)
# pebble prints "dev" for -version unless the version is linked in; cached_ok reads it.
GOBIN="$STAGING/bin" go install -trimpath -ldflags "-s -w -X main.version=$VERSION" \
  "$MODULE/cmd/pebble@$VERSION" "$MODULE/cmd/pebble-challtestsrv@$VERSION"
log "compile pebble, pebble-challtestsrv: $(took "$T")"

NEW="$STAGING/out"
install -d "$NEW/certs/localhost"
install -m 0755 "$STAGING/bin/pebble" "$STAGING/bin/pebble-challtestsrv" "$NEW/"
install -m 0644 "$MODULE_DIR/test/certs/localhost/cert.pem" "$NEW/certs/localhost/cert.pem"
install -m 0600 "$MODULE_DIR/test/certs/localhost/key.pem" "$NEW/certs/localhost/key.pem"
install -m 0644 "$MODULE_DIR/test/certs/pebble.minica.pem" "$NEW/certs/pebble.minica.pem"

rm -rf "$OUT"
mv "$NEW" "$OUT"
cached_ok || { log "built pebble does not report $VERSION: $("$OUT/pebble" -version 2>&1 || true)"; exit 1; }
log "built: $OUT ($(du -sh "$OUT" | cut -f1)) in $(took "$build_started")"
echo "$OUT"
