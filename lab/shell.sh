#!/usr/bin/env bash
# A shell (or one command) in the lab's operator namespace, set up as the lab runs the stack: the
# engine and language host lab/engine/toolchain.sh chooses on PATH, the lab stack's local state and
# passphrase, Node 22. What an operator's workstation is to prod, this is to the lab:
#   sudo bash lab/shell.sh                                  an interactive shell
#   sudo bash lab/shell.sh pulumi preview --stack lab       one command
#   sudo bash lab/shell.sh npm run verify -- --stack lab
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the lab needs root (network namespaces): run it with sudo" >&2; exit 1; }
ip netns list | grep -q '^limen-operator' || { echo "the lab is not up: npm run lab brings it up" >&2; exit 1; }
PATH="$(bash tools/node/node22.sh):$PATH"
eval "$(lab/engine/toolchain.sh 2>/dev/null)"
export LIMEN_LAB_ENGINE_BIN LIMEN_LAB_LANGUAGE_HOST_DIR
# The same environment the lab's own runs use (lab/stack.ts, engineEnv), printed as shell assignments.
# shellcheck disable=SC2016 # JavaScript, not shell
assignments=$(node --import tsx -e '
    const { engineEnv } = require("./lab/stack");
    for (const [key, value] of Object.entries(engineEnv())) console.log(`export ${key}=\x27${value.replace(/\x27/g, "\x27\\\x27\x27")}\x27`);')
eval "$assignments"
export PS1="(limen lab) \w# "
if [ $# -eq 0 ]; then exec ip netns exec limen-operator bash --norc -i; fi
exec ip netns exec limen-operator "$@"
