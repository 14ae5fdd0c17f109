#!/usr/bin/env bash
# The lab: blank Debian machines in network namespaces, converged by the real Pulumi engine. Chooses the
# pulumi CLI and Pulumi's Node.js language host (lab/engine/toolchain.sh), puts the real Docker provider
# plugin in place, builds or reuses the host image and the stand-in Envoy image (and pebble, the test
# ACME CA, for the tests), boots blank machines (and the lab registry), then:
#   lab/run.sh                    npm run lab, the main job (lab/main.ts): the plain `pulumi up` on
#                                 index.ts, the site shown through the front door from the outsider, how
#                                 to look around and tear down; the machines keep running
#   lab/run.sh --test [vitest args...]
#                                 npm run test:lab: the end-to-end tests (lab/test/*.test.ts)
#   lab/run.sh --bench [--cold]   npm run bench:lab: speed figures (--cold: also an image build from nothing)
# Prints each step and where the time went.
set -euo pipefail
cd "$(dirname "$0")/.."
lab=lab
phase_started=$SECONDS
timings=()
phase() {
    local now=$SECONDS
    [ -n "${current_phase:-}" ] && timings+=("$(printf '%-34s %4ds' "$current_phase" $((now - phase_started)))")
    current_phase=$1
    phase_started=$now
    printf '\n== %s\n' "$1"
}
report() {
    phase ""
    printf '\n== where the time went\n'
    printf '  %s\n' "${timings[@]}"
    if [ -s "$lab/.state/figures.json" ]; then
        printf '\n== figures\n'
        # shellcheck disable=SC2016 # JavaScript, not shell
        node -e 'for (const [k, v] of Object.entries(require(process.argv[1]))) console.log(`  ${k.padEnd(46)} ${v}`)' "$PWD/$lab/.state/figures.json"
    fi
}
trap report EXIT

[ "$(id -u)" = 0 ] || { echo "the lab needs root (network namespaces, systemd-nspawn)" >&2; exit 1; }
# Node 22 LTS for the tests, the engine's Node.js plugin and the machines' apps (tools/node/node22.sh).
PATH="$(bash tools/node/node22.sh):$PATH"
export PATH
# Tests that reboot a machine must leave the operator namespace to do it (lab/hosts/restart.sh).
export LIMEN_HOST_NS_PID=$$
bench=false
cold=false
tests=false
if [ "${1:-}" = --test ]; then
    tests=true
    shift
elif [ "${1:-}" = --bench ]; then
    bench=true
    shift
    if [ "${1:-}" = --cold ]; then cold=true; shift; fi
fi

phase "pulumi CLI, Node.js language host"
# Says which it chose on stderr; CI's log shows it.
toolchain=$("$lab/engine/toolchain.sh")
eval "$toolchain"
export LIMEN_LAB_ENGINE_BIN LIMEN_LAB_LANGUAGE_HOST_DIR
phase "Docker provider plugin (Pulumi's own, from ../shared/tools)"
"$lab/engine/docker-plugin.sh" >/dev/null
if $tests; then
    phase "ACME test server (pebble)"
    pebble_dir=$("$lab/acme/build-pebble.sh")
fi
if $cold; then
    phase "host image, cold (empty image cache)"
    cold_cache=$(mktemp -d)
    LIMEN_CACHE_DIR=$cold_cache "$lab/hosts/build-image.sh" >/dev/null
    rm -rf "$cold_cache"
fi
phase "host image (cached after the first build)"
"$lab/hosts/build-image.sh" >/dev/null
phase "stand-in Envoy (Go) and its image (crane), for the lab registry"
# Built and cached here (keyed by the stand-in binary); up.sh starts the lab registry and only pushes it.
command -v docker-registry >/dev/null || { echo "docker-registry not found: apt-get install docker-registry" >&2; exit 1; }
"$lab/registry/build-envoy-image.sh" >/dev/null
phase "blank machines"
"$lab/hosts/down.sh" >/dev/null
# A fresh start: the engine's state must describe the blank machines, not an earlier run's.
rm -rf "$lab/.state/pulumi" "$lab/.state/figures.json" Pulumi.lab.yaml
"$lab/hosts/up.sh"
if $bench; then
    phase "converge, no-op up, no-op preview, destroy (operator namespace)"
    ip netns exec limen-operator env node --import tsx lab/bench.ts
elif $tests; then
    phase "end-to-end tests (operator namespace)"
    ip netns exec limen-operator env LIMEN_LAB_PEBBLE_DIR="$pebble_dir" \
        node node_modules/vitest/vitest.mjs run --config lab/vitest.config.mts "$@"
else
    phase "pulumi up on index.ts, then the site through the front door (operator namespace)"
    ip netns exec limen-operator env node --import tsx lab/main.ts
fi
