#!/usr/bin/env bash
# Build one of the lab's LAB-ONLY Go stand-ins and cache the binary outside the repository:
#   command-provider → pulumi-resource-command   (lab/command-provider, see its README.md)
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
  command-provider) BINARY=pulumi-resource-command ;;
  language-host) BINARY=pulumi-language-nodejs ;;
  *) echo "usage: $0 command-provider|language-host [--force]" >&2; exit 2 ;;
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

# Content hash: file names and contents of the sources, Go version, overrides.
HASH="$(
  cd "$SRC"
  {
    for f in go.mod go.sum *.json ./*.go; do
      [[ -e $f ]] || continue
      [[ $f == *_test.go ]] && continue
      printf '%s\n' "$f"
      sha256sum < "$f"
    done
    go env GOVERSION
    printf 'overrides=%s\n' "$DEP_OVERRIDES"
  } | sha256sum | cut -c1-16
)"
OUT="$BASE/$HASH"
BIN="$OUT/$BINARY"

cached_ok() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

exit_if_built "$BASE" "$OUT"

log "source $SRC, hash $HASH, GOPROXY=$GOPROXY, $(go env GOVERSION)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$SRC"/go.mod "$SRC"/go.sum "$SRC"/*.go "$WORK"/
cp "$SRC"/*.json "$WORK"/ 2>/dev/null || true
rm -f "$WORK"/*_test.go
export GOFLAGS="-mod=readonly -buildvcs=false"
if [[ -n "$DEP_OVERRIDES" ]]; then
  for o in $DEP_OVERRIDES; do
    (cd "$WORK" && go mod edit -require="$o")
    log "dependency override: $o"
  done
  (cd "$WORK" && GOFLAGS="-mod=mod -buildvcs=false" go mod tidy)
fi

T=$(now)
(cd "$WORK" && go mod download)
log "download modules: $(took "$T")"

T=$(now)
mkdir -p "$OUT"
(cd "$WORK" && go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" .)
mv -f "$BIN.tmp" "$BIN"
log "compile: $(took "$T")"

cached_ok || { log "built binary does not run: $("$BIN" --version 2>&1 || true)"; exit 1; }
log "done: $BIN $("$BIN" --version) ($(du -h "$BIN" | cut -f1)) total $(took "$build_started")"
echo "$OUT"
