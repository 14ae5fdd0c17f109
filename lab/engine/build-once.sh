# shellcheck shell=bash
# Sourced by the scripts that build the project's Go tools into the cache outside the repository
# (lab/engine/build-engine.sh, lab/acme/build-pebble.sh,
# tools/envoy-check/build.sh): their log lines with timings, "build once", and, for a Go module of
# the project's own (the lab's stand-in Envoy, envoy-check), its content hash and its build.
#
# The sourcing script sets LOG_PREFIX before sourcing, and defines cached_ok (does the cache hold a
# working build?) and FORCE (1: rebuild anyway) before calling exit_if_built.

build_started=$(date +%s.%N)
log() { printf '[%s] %s\n' "$LOG_PREFIX" "$*" >&2; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# exit_if_built LOCK_DIR RESULT: when the cache already holds a working build, prints RESULT (what
# the script prints on success) and exits. Otherwise takes LOCK_DIR's build lock, held until the
# script exits, and looks again: a concurrent run may have built it meanwhile.
exit_if_built() {
  local lock_dir=$1 result=$2
  if [[ $FORCE -eq 0 ]] && cached_ok; then
    log "cached: $result, nothing to build ($(took "$build_started"))"
    echo "$result"
    exit 0
  fi
  mkdir -p "$lock_dir"
  if command -v flock >/dev/null; then
    exec 9>"$lock_dir/.build.lock"
    flock 9
    if [[ $FORCE -eq 0 ]] && cached_ok; then
      log "cached (built by a concurrent run): $result ($(took "$build_started"))"
      echo "$result"
      exit 0
    fi
  fi
}

# go_tool_hash SRC [EXTRA]: 16 hex digits over what a Go tool in SRC is built from (go.mod, go.sum,
# any *.json and the non-test *.go files, by name and content), the Go version and EXTRA (for
# instance dependency overrides), so a changed input builds into a new cache directory.
go_tool_hash() {
  local src=$1 extra=${2-}
  (
    cd "$src" || exit 1
    for f in go.mod go.sum *.json *.go; do
      [[ -e $f && $f != *_test.go ]] || continue
      printf '%s\n' "$f"
      sha256sum < "$f"
    done
    go env GOVERSION
    [[ -z $extra ]] || printf '%s\n' "$extra"
  ) | sha256sum | cut -c1-16
}

# build_go_tool SRC BIN [OVERRIDES]: builds the Go module in SRC into BIN and checks that BIN runs
# (`BIN --version`). Only module sources come from the proxy (go-env.sh). The repository is never
# written to: the build runs in a temporary copy of the non-test sources with -mod=readonly (the
# committed go.sum must be complete), after `go mod edit -require` of each OVERRIDES module@version.
build_go_tool() {
  local src=$1 bin=$2 overrides=${3-} work f o t
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # the directory is fixed now; the trap runs at the script's exit
  trap "rm -rf '$work'" EXIT
  for f in "$src"/go.mod "$src"/go.sum "$src"/*.json "$src"/*.go; do
    [[ -e $f && $f != *_test.go ]] && cp "$f" "$work"/
  done
  export GOFLAGS="-mod=readonly -buildvcs=false"
  for o in $overrides; do
    (cd "$work" && go mod edit -require="$o")
    log "dependency override: $o"
  done
  [[ -z $overrides ]] || (cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" go mod tidy)

  t=$(now)
  (cd "$work" && go mod download)
  log "download modules: $(took "$t")"
  t=$(now)
  mkdir -p "$(dirname "$bin")"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .)
  mv -f "$bin.tmp" "$bin"
  log "compile: $(took "$t")"
  "$bin" --version >/dev/null 2>&1 || { log "built binary does not run: $("$bin" --version 2>&1 || true)"; exit 1; }
}
