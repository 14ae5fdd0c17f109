#!/usr/bin/env bash
# Which `pulumi` CLI and Node.js language host (`pulumi-language-nodejs`) the lab runs, as prod runs them:
#   - the CLI: the one a user who installed Pulumi has on PATH, when it is supported; otherwise the
#     engine built from Go modules (build-engine.sh);
#   - the language host: Pulumi's own, from ../shared/tools (checked against its SHA256SUMS), as the
#     Docker provider plugin is (docker-plugin.sh); a supported one on PATH where that folder has none.
#     The lab has no stand-in: the shared folder is what it needs for the Docker plugin anyway.
#
# Prints two lines for `eval` (the chosen directories), and says on stderr what it chose and why:
#   LIMEN_LAB_ENGINE_BIN=<dir with pulumi>
#   LIMEN_LAB_LANGUAGE_HOST_DIR=<dir with pulumi-language-nodejs>
#
# Supported means: a `pulumi` at least as new as the SDK the program uses (@pulumi/pulumi in
# package.json, the engine protocol the SDK speaks), and a language host at least as new as the
# oldest one this lab converged with (v3.259.0, ../shared/tools/README.md).
#   LIMEN_LAB_BUILD_ENGINE=1    ignore a `pulumi` on PATH and use the engine built from Go modules
#   LIMEN_SHARED_TOOLS          the shared tools folder (default: ../shared/tools beside the repository)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
oldest_language_host=3.259.0
# shellcheck source=shared-tools.sh
source "$HERE/shared-tools.sh"

say() { echo "toolchain: $*" >&2; }

# at_least VERSION MINIMUM: both as x.y.z (a leading v and any -suffix ignored).
at_least() {
    local have=${1#v} want=${2#v}
    have=${have%%-*}
    want=${want%%-*}
    [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" = "$want" ]
}

sdk_version=$(node -p "require('$REPO/node_modules/@pulumi/pulumi/package.json').version")

# supported_on_path NAME MINIMUM MINIMUM_SAID VERSION_ARGS...: when NAME is on PATH and `NAME
# VERSION_ARGS...` says MINIMUM or newer, sets found_dir (its real directory) and found_version;
# otherwise returns 1, saying why a NAME that is there is not used.
supported_on_path() {
    local name=$1 minimum=$2 minimum_said=$3 found
    shift 3
    found_dir="" found_version=""
    found=$(command -v "$name") || return 1
    found_version=$(PULUMI_SKIP_UPDATE_CHECK=true "$found" "$@" 2>/dev/null || true)
    if ! at_least "${found_version:-0}" "$minimum"; then
        say "$name on PATH ($found, ${found_version:-no version}) is older than $minimum_said: not used"
        return 1
    fi
    found_dir=$(dirname "$(readlink -f "$found")")
}

if [ -z "${LIMEN_LAB_BUILD_ENGINE:-}" ] && supported_on_path pulumi "$sdk_version" "@pulumi/pulumi $sdk_version" version; then
    engine_bin=$found_dir
    say "pulumi CLI: $engine_bin/pulumi $found_version (found on PATH)"
else
    engine_bin=$("$HERE/build-engine.sh")
    say "pulumi CLI: $engine_bin/pulumi $(PULUMI_SKIP_UPDATE_CHECK=true "$engine_bin/pulumi" version) (built from Go modules, none supported on PATH)"
fi

if shared_language_host=$(shared_tool pulumi-language-nodejs 2>/dev/null); then
    # A directory holding only the language host (a link to the checked file): the whole shared folder on
    # the engine's PATH would also put the Docker plugin there, ahead of the one docker-plugin.sh installs.
    language_host_dir="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/engine/shared-language-host/$(sha256sum "$shared_language_host" | cut -c1-16)"
    mkdir -p "$language_host_dir"
    ln -sfn "$shared_language_host" "$language_host_dir/pulumi-language-nodejs"
    say "Node.js language host: $shared_language_host $("$shared_language_host" -version 2>/dev/null) (Pulumi's own, from the shared tools folder)"
elif supported_on_path pulumi-language-nodejs "$oldest_language_host" "v$oldest_language_host" -version; then
    language_host_dir=$found_dir
    say "Node.js language host: $language_host_dir/pulumi-language-nodejs $found_version (Pulumi's own, found on PATH)"
else
    shared_tool pulumi-language-nodejs >/dev/null || true
    say "no Node.js language host: none in the shared tools folder (see above) and none supported on PATH (install Pulumi, or set LIMEN_SHARED_TOOLS)"
    exit 1
fi

printf 'LIMEN_LAB_ENGINE_BIN=%q\nLIMEN_LAB_LANGUAGE_HOST_DIR=%q\n' "$engine_bin" "$language_host_dir"
