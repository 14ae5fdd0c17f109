# shellcheck shell=bash
# Sourced by the scripts that build the project's Go tools into the cache outside the repository
# (lab/engine/build-engine.sh, lab/engine/build-lab-plugin.sh, lab/acme/build-pebble.sh,
# tools/envoy-check/build.sh): their log lines with timings, and "build once".
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
