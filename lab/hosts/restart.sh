#!/usr/bin/env bash
# Reboots one lab machine: clean poweroff, then boot again on the SAME root (its state is kept),
# and wait until systemd is up and sshd accepts the deploy key from the operator namespace.
#   lab/hosts/restart.sh backend
set -euo pipefail
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
