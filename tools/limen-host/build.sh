#!/usr/bin/env bash
# Build the host tool (this directory's Go module: tools/limen-host/README.md) as a static binary,
# reproducibly, and cache it outside the repository:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/limen-host/<content-hash>/limen-host
#
# (for a user who cannot write /var/cache and has not set LIMEN_CACHE_DIR: ~/.cache/limen-infra/...)
#
# Reproducible: the same sources give the same bytes on any machine with the pinned Go. The Go of
# go.mod's toolchain line and no other (checked; GOTOOLCHAIN=local, so none is downloaded), no cgo
# (CGO_ENABLED=0: static, no C toolchain in the build), no paths of this machine (-trimpath), no VCS
# stamp (-buildvcs=false: the build runs in a copy of the sources, not a checkout), no build id
# (-buildid=), no symbol table (-s -w), the target fixed (linux/amd64, GOAMD64=v1) and the committed
# go.sum complete (-mod=readonly). tools/limen-host/reproducible.sh builds twice and compares.
#
# <content-hash> covers go.mod, go.sum, every non-test *.go file and every *.js file the binary embeds
# (//go:embed; by path and content), the pinned Go and the target, so a changed source builds into a
# new directory and an unchanged one is a no-op.
# Prints the binary's path on stdout; timings go to stderr. One build at a time (flock). Built as
# the project's other Go tools (lab/engine/build-once.sh): only module sources come from the Go
# module proxy (lab/engine/go-env.sh), and the repository is never written to.
#
# Usage: tools/limen-host/build.sh              # build if needed, print the binary's path
#        tools/limen-host/build.sh --force      # rebuild even if cached
#        tools/limen-host/build.sh --out FILE   # build into FILE, no cache (reproducible.sh)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SRC/../.." && pwd)"
FORCE=0
OUT_FILE=""
case "${1:-}" in
    --force) FORCE=1 ;;
    --out) OUT_FILE=${2:?--out needs a file}; FORCE=1 ;;
    "") ;;
    *) echo "usage: tools/limen-host/build.sh [--force | --out FILE]" >&2; exit 2 ;;
esac

LOG_PREFIX="limen-host build"
# shellcheck source=../../lab/engine/build-once.sh
source "$REPO/lab/engine/build-once.sh"
# shellcheck source=../../lab/engine/go-env.sh
source "$REPO/lab/engine/go-env.sh"

# The target and the Go: fixed here and in go.mod, nowhere else.
export GOOS=linux GOARCH=amd64 GOAMD64=v1 CGO_ENABLED=0 GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
PINNED_GO="$(awk '$1 == "toolchain" { print $2 }' "$SRC/go.mod")"
[[ -n "$PINNED_GO" ]] || { log "go.mod has no toolchain line: the Go that builds the host tool must be pinned there"; exit 1; }
HAVE_GO="$(go env GOVERSION)"
if [[ "$HAVE_GO" != "$PINNED_GO" ]]; then
    log "the host tool is built with $PINNED_GO (tools/limen-host/go.mod, toolchain line), and this machine's go is $HAVE_GO: install Go ${PINNED_GO#go}, or move the pin (and release a new binary)"
    exit 1
fi

# sources: go.mod, go.sum, every non-test Go file and the scripts embedded (pm2/*.js), by path
# relative to SRC, sorted.
sources() {
    (cd "$SRC" && find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' -o -name '*.js' \) ! -name '*_test.go' | LC_ALL=C sort)
}

content_hash() {
    (
        cd "$SRC"
        while IFS= read -r f; do
            printf '%s\n' "$f"
            sha256sum <"$f"
        done < <(sources)
        printf '%s %s/%s %s\n' "$PINNED_GO" "$GOOS" "$GOARCH" "$GOAMD64"
    ) | sha256sum | cut -c1-16
}

# build_into BIN: the build, in a temporary copy of the sources.
build_into() {
    local bin=$1 work t
    work="$(mktemp -d)"
    # shellcheck disable=SC2064 # the directory is fixed now; the trap runs at the script's exit
    trap "rm -rf '$work'" EXIT
    while IFS= read -r f; do
        mkdir -p "$work/$(dirname "$f")"
        cp "$SRC/$f" "$work/$f"
    done < <(sources)
    t=$(now)
    (cd "$work" && go mod download)
    log "download modules: $(took "$t")"
    t=$(now)
    mkdir -p "$(dirname "$bin")"
    (cd "$work" && go build -trimpath -ldflags "-s -w -buildid=" -o "$bin.tmp" .)
    mv -f "$bin.tmp" "$bin"
    log "compile: $(took "$t")"
    "$bin" --version >/dev/null 2>&1 || { log "built binary does not run: $("$bin" --version 2>&1 || true)"; exit 1; }
}

if [[ -n "$OUT_FILE" ]]; then
    build_into "$OUT_FILE"
    log "built: $OUT_FILE ($(du -h "$OUT_FILE" | cut -f1)) in $(took "$build_started")"
    echo "$OUT_FILE"
    exit 0
fi

CACHE_ROOT="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
# A normal user cannot write /var/cache: without LIMEN_CACHE_DIR, use the user's cache.
if [[ -z "${LIMEN_CACHE_DIR:-}" ]] && ! { mkdir -p "$CACHE_ROOT" 2>/dev/null && [[ -w "$CACHE_ROOT" ]]; }; then
    CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/limen-infra"
    log "/var/cache/limen-infra is not writable; caching under $CACHE_ROOT (set LIMEN_CACHE_DIR to choose)"
fi
BASE="$CACHE_ROOT/limen-host"
HASH="$(content_hash)"
BIN="$BASE/$HASH/limen-host"

cached_ok() { [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

exit_if_built "$BASE" "$BIN"

log "source $SRC, hash $HASH, GOPROXY=$GOPROXY, $HAVE_GO $GOOS/$GOARCH"
build_into "$BIN"
log "built: $BIN (sha256 $(sha256sum "$BIN" | cut -c1-16)…, $(du -h "$BIN" | cut -f1)) in $(took "$build_started")"
echo "$BIN"
