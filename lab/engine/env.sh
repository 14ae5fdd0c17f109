# shellcheck shell=bash
# Source this to use the lab's Pulumi engine: LIMEN_LAB_ENGINE_BIN when set (the CLI toolchain.sh
# chose), else the one built from Go modules (see build-engine.sh):
#   source lab/engine/env.sh
# Exports PATH (engine bin dir first), PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK,
# PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION and LIMEN_PULUMI_BIN.
# It does not build and does not set PULUMI_CONFIG_PASSPHRASE or a backend URL:
# the caller does (e.g. PULUMI_BACKEND_URL=file:///some/dir).
LIMEN_PULUMI_VERSION="${LIMEN_PULUMI_VERSION:-v3.274.1}"
LIMEN_PULUMI_BIN="${LIMEN_LAB_ENGINE_BIN:-${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/engine/$LIMEN_PULUMI_VERSION/bin}"
case ":$PATH:" in
  *":$LIMEN_PULUMI_BIN:"*) ;;
  *) PATH="$LIMEN_PULUMI_BIN:$PATH" ;;
esac
PULUMI_HOME="${PULUMI_HOME:-${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/engine/home}"
PULUMI_SKIP_UPDATE_CHECK=true
PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PATH PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION \
  LIMEN_PULUMI_VERSION LIMEN_PULUMI_BIN
if [[ ! -x "$LIMEN_PULUMI_BIN/pulumi" ]]; then
  echo "lab/engine/env.sh: $LIMEN_PULUMI_BIN/pulumi missing; run lab/engine/build-engine.sh" >&2
fi
