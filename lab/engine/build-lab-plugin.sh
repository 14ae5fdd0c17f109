#!/usr/bin/env bash
# Build the lab's LAB-ONLY Go stand-in and cache the binary outside the repository, for a machine
# with no supported Pulumi Node.js language host on PATH (lab/engine/toolchain.sh decides):
#   language-host    → pulumi-language-nodejs    (lab/language-host, see main.go)
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/engine/<name>/<content-hash>/<binary>
#
# <content-hash> covers the stand-in's sources (go.mod, go.sum, *.go, *.json),
# the Go version and the dependency overrides, so a changed source builds into a
# new directory and an unchanged one is a no-op. Prints that directory on stdout
# (prepend it to PATH for the engine); timings go to stderr.
#
# Only Go module sources come from the proxy; the `direct` fallback is stripped
# so a refused module fails instead of turning into a git fetch. The repository
# is never written to: the build runs in a temporary copy with -mod=readonly
# (the committed go.sum must be complete).
#
# Usage: lab/engine/build-lab-plugin.sh NAME            # build if needed, print dir
#        lab/engine/build-lab-plugin.sh NAME --force    # rebuild even if cached
#
# LIMEN_LAB_PLUGIN_DEP_OVERRIDES: space-separated module@version applied with
# `go mod edit -require` in the temporary copy, for a dependency the proxy
# starts refusing (403). None is needed today: every module in go.sum is served.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAME="${1:-}"
case "$NAME" in
  language-host) BINARY=pulumi-language-nodejs ;;
  *) echo "usage: $0 language-host [--force]" >&2; exit 2 ;;
esac
SRC="$(cd "$HERE/../$NAME" && pwd)"
DEP_OVERRIDES="${LIMEN_LAB_PLUGIN_DEP_OVERRIDES-}"
FORCE=0
[[ "${2:-}" == "--force" ]] && FORCE=1

CACHE_ROOT="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
BASE="$CACHE_ROOT/engine/$NAME"

LOG_PREFIX="build-lab-plugin $NAME"
source "$HERE/build-once.sh"

source "$HERE/go-env.sh"

HASH="$(go_tool_hash "$SRC" "${DEP_OVERRIDES:+overrides=$DEP_OVERRIDES}")"
OUT="$BASE/$HASH"
BIN="$OUT/$BINARY"

cached_ok() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

exit_if_built "$BASE" "$OUT"

log "source $SRC, hash $HASH, GOPROXY=$GOPROXY, $(go env GOVERSION)"

build_go_tool "$SRC" "$BIN" "$DEP_OVERRIDES"
log "done: $BIN $("$BIN" --version) ($(du -h "$BIN" | cut -f1)) total $(took "$build_started")"
echo "$OUT"
