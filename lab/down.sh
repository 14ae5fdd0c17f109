#!/usr/bin/env bash
# npm run lab:down: destroy the lab stack if its machines still run, then remove machines and namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d lab/.state/pulumi ] && ip netns list | grep -q '^limen-operator'; then
    plugin_dir=$(lab/engine/build-lab-plugin.sh command-provider)
    ip netns exec limen-operator env LIMEN_LAB_PLUGIN_PATH="$plugin_dir" node --import tsx lab/destroy.ts || true
fi
rm -rf lab/.state/pulumi Pulumi.lab.yaml
lab/hosts/down.sh
