#!/usr/bin/env bash
# Reboots one lab machine: clean poweroff, then boot again on the SAME root (its state is kept),
# and wait until systemd is up and sshd accepts the deploy key from the operator namespace.
#   lab/hosts/restart.sh backend
set -euo pipefail
# Called from inside a lab namespace (`ip netns exec` mounts its own /sys, without cgroups), nspawn
# cannot boot: go back to the namespaces of the process that started the lab run (lab/run.sh
# exports its pid as LIMEN_HOST_NS_PID) first.
if ! mountpoint -q /sys/fs/cgroup && [ -z "${LIMEN_RESTART_REENTERED:-}" ]; then
    [ -n "${LIMEN_HOST_NS_PID:-}" ] || { echo "restart.sh: run it from the host's namespaces, or set LIMEN_HOST_NS_PID" >&2; exit 1; }
    exec env LIMEN_RESTART_REENTERED=1 nsenter --mount="/proc/$LIMEN_HOST_NS_PID/ns/mnt" --net="/proc/$LIMEN_HOST_NS_PID/ns/net" -- "$(readlink -f "$0")" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || die "usage: $0 HOST   (HOST: ${MACHINES[*]})"
require_root
host="$1"
[[ " ${MACHINES[*]} " == *" $host "* ]] || die "unknown host $host (one of: ${MACHINES[*]})"
mountpoint -q "$(machine_dir "$host")/root" || die "$host has no root dir: run up.sh"

t0="$(now)"
stop_machine "$host"
log "$host: powered off ($(elapsed "$t0"))"
start_machine "$host"
wait_machine "$host"
log "$host: restarted on the same root in $(elapsed "$t0")"
