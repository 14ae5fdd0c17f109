#!/usr/bin/env bash
# Tears the lab down: powers the machines off, stops the lab registry (dropping its storage),
# unmounts and deletes the machines' root copies, removes the namespaces (with them the veths and the
# bridge) and hosts.json / known_hosts. Idempotent. Keeps the cached images, the deploy key pair and
# the registry's CA.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root
t0="$(now)"

# All machines shut down at once; then wait for each.
running=()
for host in "${MACHINES[@]}"; do
  if nspawn_pid "$host" >/dev/null; then running+=("$host"); request_stop "$host"; fi
done
for host in "${MACHINES[@]}"; do
  stop_machine "$host"
  [[ " ${running[*]} " == *" $host "* ]] && log "$host: powered off ($(elapsed "$t0"))"
done

bash "$LAB_DIR/registry/registry.sh" stop

all_ns=("$OPERATOR_NS" "$REGISTRY_NS")
for host in "${MACHINES[@]}"; do all_ns+=("$(ns_of "$host")"); done
all_ns+=("$NET_NS")
for ns in "${all_ns[@]}"; do
  [[ -e /run/netns/$ns ]] || continue
  # Anything still inside a lab namespace was started by the lab (a machine whose supervisor
  # died, a probe left behind): it would keep the namespace and its veth alive.
  pids="$(ip netns pids "$ns" 2>/dev/null || true)"
  if [[ -n $pids ]]; then
    log "$ns: killing leftover processes ${pids//$'\n'/ }"
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
  fi
  ip netns del "$ns"
  log "namespace $ns removed"
done

for host in "${MACHINES[@]}"; do
  dir="$(machine_dir "$host")"
  [[ -d $dir ]] || continue
  if mountpoint -q "$dir/root"; then umount "$dir/root"; fi
  rm -rf "$dir"
  log "$host: root copy removed"
done
rm -f "$HOSTS_JSON" "$KNOWN_HOSTS"
log "lab down in $(elapsed "$t0")"
