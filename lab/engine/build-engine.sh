#!/usr/bin/env bash
# Build the Pulumi CLI (engine) from Go modules served by the Go module proxy and
# cache it outside the repository:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/engine/<version>/bin/pulumi
#
# Idempotent: when the cached binary for the pinned version exists and reports
# that version, nothing is done. No prebuilt binary is downloaded; only Go
# module sources come from the proxy (the `direct` fallback is stripped so a
# refused module never turns into a git fetch).
#
# Usage: lab/engine/build-engine.sh            # build if needed, print bin dir
#        LIMEN_PULUMI_VERSION=v3.274.1 lab/engine/build-engine.sh
#        lab/engine/build-engine.sh --force    # rebuild even if cached
set -euo pipefail

# v3.274.1 is the newest pkg/v3 whose module zip the proxy serves; the npm
# SDK's own version (v3.270.0) is refused for pkg/v3 (403 on the .zip).
VERSION="${LIMEN_PULUMI_VERSION:-v3.274.1}"
# Dependencies pinned by pkg/v3's go.mod that the proxy refuses, replaced by the
# nearest newer served release (space-separated module@version, applied with
# `go mod edit -require`). For v3.274.1: gocloud.dev
# v0.46.1-0.20260810195832-b5401c07b5f1 -> 403 "This module version is not
# available"; v0.47.0 (2026-10-14, after that commit) is served.
DEP_OVERRIDES="${LIMEN_PULUMI_DEP_OVERRIDES-gocloud.dev@v0.47.0}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

CACHE_ROOT="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
ENGINE_DIR="$CACHE_ROOT/engine"
PREFIX="$ENGINE_DIR/$VERSION"
BIN="$PREFIX/bin"
SRC="$ENGINE_DIR/src/$VERSION"

LOG_PREFIX=build-engine
source "$(dirname "${BASH_SOURCE[0]}")/build-once.sh"

cached_ok() {
  [[ -x "$BIN/pulumi" ]] || return 1
  local v
  v="$(PULUMI_SKIP_UPDATE_CHECK=true PULUMI_HOME="$ENGINE_DIR/home" "$BIN/pulumi" version 2>/dev/null)" || return 1
  [[ "$v" == "$VERSION" ]]
}

# One build at a time (two callers would otherwise race on $SRC).
exit_if_built "$ENGINE_DIR" "$BIN"

source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

export GOFLAGS="-mod=mod -buildvcs=false"
log "version $VERSION, GOPROXY=$GOPROXY, GOCACHE=$(go env GOCACHE), GOMODCACHE=$(go env GOMODCACHE)"

# 1. Module sources (pkg/v3 and sdk/v3 at the same version).
T=$(now)
moddir() {
  local out dir
  out="$(go mod download -json "$1@$VERSION")" || { log "go mod download $1@$VERSION failed:"; echo "$out" >&2; exit 1; }
  dir="$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || { log "no Dir for $1@$VERSION:"; echo "$out" >&2; exit 1; }
  echo "$dir"
}
PKG_MOD="$(moddir github.com/pulumi/pulumi/pkg/v3)"
SDK_MOD="$(moddir github.com/pulumi/pulumi/sdk/v3)"
log "download module sources: $(took "$T")"

# 2. Lay them out side by side (pkg's go.mod has `replace sdk/v3 => ../sdk`).
T=$(now)
rm -rf "$SRC.tmp"
mkdir -p "$SRC.tmp"
cp -r "$PKG_MOD" "$SRC.tmp/pkg"
cp -r "$SDK_MOD" "$SRC.tmp/sdk"
chmod -R u+w "$SRC.tmp"
rm -rf "$SRC"
mv "$SRC.tmp" "$SRC"
log "copy sources to $SRC: $(took "$T")"

if [[ -n "$DEP_OVERRIDES" ]]; then
  for o in $DEP_OVERRIDES; do
    (cd "$SRC/pkg" && go mod edit -require="$o")
    log "dependency override: $o"
  done
fi

# 3. Dependencies of the CLI (separate so the timing shows network vs compile).
T=$(now)
(cd "$SRC/pkg" && go mod download)
log "download dependencies: $(took "$T")"

# 4. Compile.
T=$(now)
mkdir -p "$BIN"
(cd "$SRC/pkg" && go build -trimpath \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$VERSION" \
  -o "$BIN/pulumi.tmp" ./cmd/pulumi)
mv -f "$BIN/pulumi.tmp" "$BIN/pulumi"
log "compile cmd/pulumi: $(took "$T")"

# 5. Node.js helper scripts shipped in the sdk module (dynamic provider host,
#    and the policy host where this version ships it).
for f in "$SRC/sdk/nodejs/dist/"*; do
  [[ -f "$f" && "$f" != *.cmd ]] || continue
  install -m 0755 "$f" "$BIN/$(basename "$f")"
done

cached_ok || { log "built binary does not report $VERSION: $("$BIN/pulumi" version 2>&1 || true)"; exit 1; }
# The sources are only needed for the build; the Go caches keep the rest.
rm -rf "$SRC"
log "done: $BIN/pulumi $("$BIN/pulumi" version) total $(took "$build_started")"
ls -l "$BIN" >&2
echo "$BIN"
