#!/usr/bin/env bash
# Build the LAB-ONLY stand-in command provider (lab/command-provider, see its
# README.md) and cache the binary outside the repository:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/engine/command-provider/<content-hash>/pulumi-resource-command
#
# <content-hash> covers the provider's sources (go.mod, go.sum, *.go,
# schema.json), the Go version and the dependency overrides, so a changed source
# builds into a new directory and an unchanged one is a no-op. Prints that
# directory on stdout (prepend it to PATH for the engine); timings go to stderr.
#
# Only Go module sources come from the proxy; the `direct` fallback is stripped
# so a refused module fails instead of turning into a git fetch. The repository
# is never written to: the build runs in a temporary copy with -mod=readonly
# (the committed go.sum must be complete).
#
# Usage: lab/engine/build-command-provider.sh            # build if needed, print dir
#        lab/engine/build-command-provider.sh --force    # rebuild even if cached
#
# LIMEN_COMMAND_PROVIDER_DEP_OVERRIDES: space-separated module@version applied
# with `go mod edit -require` in the temporary copy, for a dependency the proxy
# starts refusing (403). None is needed today: every module in go.sum is served.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/../command-provider" && pwd)"
DEP_OVERRIDES="${LIMEN_COMMAND_PROVIDER_DEP_OVERRIDES-}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

CACHE_ROOT="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
BASE="$CACHE_ROOT/engine/command-provider"

log() { printf '[build-command-provider] %s\n' "$*" >&2; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

T0=$(now)
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

# Content hash: file names and contents of the sources, Go version, overrides.
HASH="$(
  cd "$SRC"
  {
    for f in go.mod go.sum schema.json ./*.go; do
      [[ $f == *_test.go ]] && continue
      printf '%s\n' "$f"
      sha256sum < "$f"
    done
    go env GOVERSION
    printf 'overrides=%s\n' "$DEP_OVERRIDES"
  } | sha256sum | cut -c1-16
)"
OUT="$BASE/$HASH"
BIN="$OUT/pulumi-resource-command"

cached_ok() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

if [[ $FORCE -eq 0 ]] && cached_ok; then
  log "cached: $BIN ($("$BIN" --version)) ok, nothing to do ($(took "$T0"))"
  echo "$OUT"
  exit 0
fi

mkdir -p "$BASE"
if command -v flock >/dev/null; then
  exec 9>"$BASE/.build.lock"
  flock 9
  if [[ $FORCE -eq 0 ]] && cached_ok; then
    log "cached (built by a concurrent run): $BIN"
    echo "$OUT"
    exit 0
  fi
fi

log "source $SRC, hash $HASH, GOPROXY=$GOPROXY, $(go env GOVERSION)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$SRC"/go.mod "$SRC"/go.sum "$SRC"/schema.json "$SRC"/*.go "$WORK"/
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
(cd "$WORK" && go build -trimpath -ldflags "-s -w" -o "$OUT/pulumi-resource-command.tmp" .)
mv -f "$OUT/pulumi-resource-command.tmp" "$BIN"
log "compile: $(took "$T")"

cached_ok || { log "built binary does not run: $("$BIN" --version 2>&1 || true)"; exit 1; }
log "done: $BIN $("$BIN" --version) ($(du -h "$BIN" | cut -f1)) total $(took "$T0")"
echo "$OUT"
