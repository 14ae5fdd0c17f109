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
# shellcheck source=shared-tools.sh
source "$HERE/shared-tools.sh"

version="$(node -p "require('$REPO/node_modules/@pulumi/docker/package.json').version")"
# shellcheck source=env.sh
source "$HERE/env.sh"
installed="$PULUMI_HOME/plugins/resource-docker-v$version/pulumi-resource-docker"
shared_plugin="$(shared_tool pulumi-resource-docker)" || { log "no Docker provider plugin to install (see above)"; exit 1; }
source_dir="$(dirname "$shared_plugin")"

cached_ok() { [[ -x $installed ]] && cmp -s "$installed" "$source_dir/pulumi-resource-docker"; }
exit_if_built "$PULUMI_HOME/plugins" "$installed"

"$LIMEN_PULUMI_BIN/pulumi" plugin install resource docker "$version" --file "$source_dir/pulumi-resource-docker" --reinstall >&2
cached_ok || { log "the engine did not install the plugin at $installed"; exit 1; }
log "installed: Docker provider $version from $source_dir ($(took "$build_started"))"
echo "$installed"
