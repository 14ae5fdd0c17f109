#!/usr/bin/env bash
# npm run lab:down: destroy the lab stack if its machines still run, then remove machines and namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d lab/.state/pulumi ] && ip netns list | grep -q '^limen-operator'; then
    # The same pulumi CLI the lab ran (toolchain.sh; destroy needs no language host).
    eval "$(lab/engine/toolchain.sh 2>/dev/null)"
    ip netns exec limen-operator env LIMEN_LAB_ENGINE_BIN="$LIMEN_LAB_ENGINE_BIN" node --import tsx lab/destroy.ts || true
fi
rm -rf lab/.state/pulumi Pulumi.lab.yaml
lab/hosts/down.sh
