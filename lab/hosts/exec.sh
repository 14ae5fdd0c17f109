#!/usr/bin/env bash
# Runs a command inside a booted lab machine as root, without SSH: nsenter into all namespaces
# and the root of the machine's PID 1 (found as the PID-1-of-its-namespace process inside
# network namespace limen-HOST). `systemd-run --machine`/`machinectl` cannot be used: the
# machines are started with --register=no (there is no systemd/machined on this host).
#   lab/hosts/exec.sh backend systemctl is-system-running
#   lab/hosts/exec.sh frontend sh -c 'su - limen -c "pm2 ls"'
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 2 ]] || die "usage: $0 HOST CMD [ARG...]   (HOST: ${MACHINES[*]})"
require_root
host="$1"
shift
[[ " ${MACHINES[*]} " == *" $host "* ]] || die "unknown host $host (one of: ${MACHINES[*]})"
machine_exec "$host" "$@"
