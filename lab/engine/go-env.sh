# shellcheck shell=bash
# Sourced by the scripts that build Go tools from their modules (the engine, the lab's command plugin,
# actionlint). Puts Go on PATH and sets GOPROXY to the module proxy only: without `direct`, a refused
# module fails at once instead of falling back to a git fetch that cannot reach anything here.
command -v go >/dev/null || { [[ -x /usr/local/go/bin/go ]] && export PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null || { echo "go not found: install Go (the lab builds its tools from Go modules)" >&2; exit 1; }
limen_goproxy="$(go env GOPROXY)"
limen_goproxy="${limen_goproxy//,direct/}"
limen_goproxy="${limen_goproxy//|direct/}"
[[ -z "$limen_goproxy" || "$limen_goproxy" == direct || "$limen_goproxy" == off ]] && limen_goproxy="https://proxy.golang.org"
export GOPROXY="$limen_goproxy"
export CGO_ENABLED="${CGO_ENABLED:-0}"
