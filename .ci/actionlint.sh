#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint, built from its Go module (no prebuilt binary can be
# fetched here) and cached outside the repo:
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/actionlint-<version>/actionlint
# Idempotent: a cached binary that reports the pinned version is reused. actionlint runs shellcheck on
# every `run:` script when shellcheck is on PATH (Debian: apt-get install shellcheck).
# Exits non-zero on any finding. Build timings go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

version="v1.7.12"
module="github.com/rhysd/actionlint/cmd/actionlint"
dir="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/tools/actionlint-$version"
bin="$dir/actionlint"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

start=$(now)
if [[ -x "$bin" ]] && [[ "$("$bin" -version | head -n 1)" == "$version" ]]; then
    echo "actionlint $version: cached at $bin ($(elapsed "$start") s)" >&2
else
    source lab/engine/go-env.sh
    mkdir -p "$dir"
    staging="$(mktemp -d "$dir/.build.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT
    # `go install module@version` builds outside any go.mod, at exactly the pinned version, and stamps
    # that version into the binary (what `actionlint -version` prints and the cache check reads).
    GOFLAGS="" GOBIN="$staging" go install -trimpath "$module@$version"
    mv -f "$staging/actionlint" "$bin"
    echo "actionlint $version: built in $(elapsed "$start") s -> $bin" >&2
fi

if ! command -v shellcheck >/dev/null; then
    echo "actionlint.sh: shellcheck not on PATH; run: scripts are not checked (apt-get install shellcheck)" >&2
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml)
if [[ ${#workflows[@]} -eq 0 ]]; then
    echo "actionlint.sh: no workflow in .github/workflows" >&2
    exit 1
fi
"$bin" "${workflows[@]}"
echo "actionlint: ${#workflows[@]} workflow(s) clean" >&2
