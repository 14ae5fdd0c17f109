#!/usr/bin/env bash
# Puts Pulumi's real Docker provider plugin where the lab's engine finds plugins: its plugin cache
# (${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/engine/home/plugins/resource-docker-v<version>/), the
# directory a user's Pulumi CLI downloads it into on first use. Automatic plugin acquisition stays
# off in the lab; this is the only way the plugin gets there.
#
# The plugin is Pulumi's own build, from ../shared/tools (the Go module proxy refuses pulumi-docker's
# modules, so it cannot be built here; that folder's README says from what source and how). Its
# SHA256SUMS is checked before anything is installed. The version is the one @pulumi/docker asks the
# engine for (node_modules/@pulumi/docker/package.json), so the engine loads exactly this plugin.
#
# Idempotent: an installed plugin identical to the shared one is a no-op. Prints the plugin's path.
#   LIMEN_SHARED_TOOLS   the folder with pulumi-resource-docker and SHA256SUMS (default: ../shared/tools
#                        beside the repository)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LOG_PREFIX=docker-plugin
FORCE=0
# shellcheck source=build-once.sh
source "$HERE/build-once.sh"

shared_tools() {
  local dir
  for dir in "${LIMEN_SHARED_TOOLS:-}" "$REPO/../shared/tools" /work/shared/tools; do
    [[ -n $dir && -f $dir/SHA256SUMS && -f $dir/pulumi-resource-docker ]] && { (cd "$dir" && pwd); return; }
  done
  log "no pulumi-resource-docker with a SHA256SUMS beside it: set LIMEN_SHARED_TOOLS to the shared tools folder"
  exit 1
}

version="$(node -p "require('$REPO/node_modules/@pulumi/docker/package.json').version")"
# shellcheck source=env.sh
source "$HERE/env.sh"
installed="$PULUMI_HOME/plugins/resource-docker-v$version/pulumi-resource-docker"
source_dir="$(shared_tools)"

(cd "$source_dir" && grep ' pulumi-resource-docker$' SHA256SUMS | sha256sum --check --status) \
  || { log "$source_dir/pulumi-resource-docker does not match its SHA256SUMS: not installing it"; exit 1; }

cached_ok() { [[ -x $installed ]] && cmp -s "$installed" "$source_dir/pulumi-resource-docker"; }
exit_if_built "$PULUMI_HOME/plugins" "$installed"

"$LIMEN_PULUMI_BIN/pulumi" plugin install resource docker "$version" --file "$source_dir/pulumi-resource-docker" --reinstall >&2
cached_ok || { log "the engine did not install the plugin at $installed"; exit 1; }
log "installed: Docker provider $version from $source_dir ($(took "$build_started"))"
echo "$installed"
