# Shared settings and helpers for the lab host scripts. Sourced, never run.
# shellcheck shell=bash disable=SC2034 # the settings are used by the scripts that source this

LAB_HOSTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_DIR="$(dirname "$LAB_HOSTS_DIR")"
FIXTURES_DIR="$LAB_DIR/fixtures"
STATE_DIR="$LAB_DIR/.state"
CACHE_DIR="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}"
IMAGES_DIR="$CACHE_DIR/images"

SSH_DIR="$STATE_DIR/ssh"
DEPLOY_KEY="$SSH_DIR/deploy_ed25519"
KNOWN_HOSTS="$SSH_DIR/known_hosts"
HOSTS_JSON="$STATE_DIR/hosts.json"
MACHINES_DIR="$STATE_DIR/machines"

# Network: documentation prefixes (RFC 5737 / RFC 3849), never the production 10.0.0.x.
NET_NS="limen-net"
BRIDGE="br-limen"
OPERATOR_NS="limen-operator"
MACHINES=(frontend backend outsider)
declare -A IPV4=([operator]=198.51.100.2 [registry]=198.51.100.5 [frontend]=198.51.100.10 [backend]=198.51.100.100 [outsider]=198.51.100.200)
declare -A IPV6=([operator]=2001:db8::2 [registry]=2001:db8::5 [frontend]=2001:db8::10 [backend]=2001:db8::100 [outsider]=2001:db8::200)
# Which cached image each machine boots.
declare -A FLAVOUR=([frontend]=frontend [backend]=backend [outsider]=base)
SSH_PORT=22

# The lab's container registry (lab/registry/): Debian's docker-registry in namespace limen-registry,
# TLS from a lab CA, named through the machines' /etc/hosts. Its CA and key pair are kept across
# down.sh (as the deploy key is), so a machine that stays up keeps trusting it; its storage is not.
REGISTRY_NS="limen-registry"
REGISTRY_NAME="registry.lab.test"
REGISTRY_PORT=5000
REGISTRY_HOST="$REGISTRY_NAME:$REGISTRY_PORT"
REGISTRY_DIR="$STATE_DIR/registry"
REGISTRY_TLS_DIR="$REGISTRY_DIR/tls"
REGISTRY_CA="$REGISTRY_TLS_DIR/ca.crt"
# Where the stand-in Envoy image is pushed, and the pinned reference up.sh records in hosts.json.
ENVOY_REPOSITORY="$REGISTRY_HOST/limen-lab/envoy"
ENVOY_IMAGE_FILE="$REGISTRY_DIR/envoy-image"

ns_of() { echo "limen-$1"; }
machine_dir() { echo "$MACHINES_DIR/$1"; }

log() { printf '[%s] %s\n' "$(basename "$0")" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

require_root() { [[ $EUID -eq 0 ]] || die "run as root (network namespaces, mounts, systemd-nspawn)"; }

# PID of the nspawn supervisor of a machine, if it is alive.
nspawn_pid() {
  local pidfile
  pidfile="$(machine_dir "$1")/nspawn.pid"
  [[ -f $pidfile ]] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [[ -n $pid && -d /proc/$pid ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == systemd-nspawn ]] || return 1
  echo "$pid"
}

# PID (in the host's PID namespace) of the machine's init: the process in the machine's network
# namespace that is PID 1 of its own PID namespace.
leader_pid() {
  local ns pid
  ns="$(ns_of "$1")"
  [[ -e /run/netns/$ns ]] || return 1
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    # The machine's init is pid 1 one pid namespace down ("NSpid: <host pid> 1"); a container's
    # init (Docker on the frontend, host network) is pid 1 a level further down and is not it.
    if awk '/^NSpid:/ { exit !($NF == 1 && NF == 3) }' "/proc/$pid/status" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# Run a command inside a booted machine (all its namespaces, its root), without SSH.
machine_exec() {
  local host="$1"
  shift
  local pid
  pid="$(leader_pid "$host")" || die "machine $host is not running"
  nsenter --target "$pid" --all --root --wd -- \
    /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

# --- network ---------------------------------------------------------------------------------

ensure_ns() {
  local ns="$1"
  [[ -e /run/netns/$ns ]] || ip netns add "$ns"
  ip -n "$ns" link set lo up
}

# The bridge lives in its own namespace, so nothing of the lab touches the host's interfaces.
ensure_bridge() {
  ensure_ns "$NET_NS"
  ip netns exec "$NET_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$NET_NS" link show "$BRIDGE" >/dev/null 2>&1 || ip -n "$NET_NS" link add "$BRIDGE" type bridge
  ip -n "$NET_NS" link set "$BRIDGE" up
}

# Namespace limen-<who> with eth0 on the bridge and the lab addresses; no default route.
ensure_endpoint() {
  local who="$1" ns peer
  ns="$(ns_of "$who")"
  peer="v-$who"
  ensure_ns "$ns"
  # No duplicate address detection: addresses are usable the moment they are added.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip -n "$NET_NS" link del "$peer" 2>/dev/null || true
    # Both ends are created directly inside lab namespaces: the host namespace never sees them.
    ip link add "$peer" netns "$NET_NS" type veth peer name eth0 netns "$ns"
  fi
  ip -n "$NET_NS" link set "$peer" master "$BRIDGE" up
  ip -n "$ns" addr replace "${IPV4[$who]}/24" dev eth0
  ip -n "$ns" -6 addr replace "${IPV6[$who]}/64" dev eth0 nodad
  ip -n "$ns" link set eth0 up
  if ip -n "$ns" route show default | grep -q . || ip -n "$ns" -6 route show default | grep -q .; then
    die "namespace $ns has a default route: the lab must have no route out"
  fi
}

# --- machines --------------------------------------------------------------------------------

ssh_operator() {
  local host="$1"
  shift
  ip netns exec "$OPERATOR_NS" ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN_HOSTS" -o ConnectTimeout=3 \
    -i "$DEPLOY_KEY" -p "$SSH_PORT" "deploy@${IPV4[$host]}" "$@"
}

machine_running() { nspawn_pid "$1" >/dev/null && leader_pid "$1" >/dev/null; }

# The cgroup hierarchies systemd inside a machine writes to (cgroup2 and the legacy name=systemd
# one), as "mountpoint path-of-this-process" lines.
writable_cgroup_hierarchies() {
  local mnt type opts path
  while read -r _ mnt type opts _; do
    path=""
    if [[ $type == cgroup2 ]]; then
      path="$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)"
    elif [[ $type == cgroup && ,$opts, == *,name=systemd,* ]]; then
      path="$(awk -F: '$2 == "name=systemd" { print $3 }' /proc/self/cgroup)"
    else
      continue
    fi
    echo "$mnt ${path%/}"
  done < /proc/mounts
}

# Each machine needs a cgroup of its own: with --keep-unit (no systemd on this host to make a
# scope) systemd-nspawn builds supervisor/ and payload/ under its caller's cgroup, so machines
# started from the same cgroup would share one tree, and `systemctl stop ssh` in one machine would
# kill sshd in all of them.
# The cgroups made are listed in the machine's dir, for remove_machine_cgroup.
enter_machine_cgroup() {
  local host="$1" mnt path dir list
  list="$(machine_dir "$host")/cgroups"
  : > "$list"
  while read -r mnt path; do
    dir="$mnt$path/limen-lab/$host"
    mkdir -p "$dir"
    echo "$dir" >> "$list"
    echo "$BASHPID" > "$dir/cgroup.procs"
  done < <(writable_cgroup_hierarchies)
}

# The frontend's dockerd makes its containers' cgroups under limen-lab-docker/ (daemon.json's
# relative cgroup-parent) in each cgroup v1 controller, below the cgroup the machine was started from;
# runc removes each container's own, the parent stays until the machine is gone.
remove_docker_cgroup_parents() {
  local controllers path mnt
  while IFS=: read -r _ controllers path; do
    [[ -n $controllers && $controllers != name=* ]] || continue
    mnt="$(awk -v c="${controllers%%,*}" '$3 == "cgroup" {
      n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit } }' /proc/mounts)"
    [[ -n $mnt && -d $mnt${path%/}/limen-lab-docker ]] || continue
    rmdir "$mnt${path%/}/limen-lab-docker" 2>/dev/null || true
  done < /proc/self/cgroup
}

# Removes a stopped machine's cgroups (they are empty once systemd-nspawn has exited).
remove_machine_cgroup() {
  local list dir
  [[ ${FLAVOUR[$1]} != frontend ]] || remove_docker_cgroup_parents
  list="$(machine_dir "$1")/cgroups"
  [[ -f $list ]] || return 0
  while read -r dir; do
    if [[ -d $dir ]]; then find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
    rmdir "$(dirname "$dir")" 2>/dev/null || true # limen-lab/, once the last machine is gone
  done < "$list"
  rm -f "$list"
}

# Boots the machine on its existing root dir (made by up.sh) in the background.
start_machine() {
  local host="$1" dir
  dir="$(machine_dir "$host")"
  mountpoint -q "$dir/root" || die "root of $host is not mounted: run up.sh"
  remove_machine_cgroup "$host"
  local extra=()
  # runc gives each container a session keyring (keyctl), which nspawn's seccomp filter refuses with
  # EPERM ("unable to join session keyring"); only the machine that runs Docker gets those calls.
  if [[ ${FLAVOUR[$host]} == frontend ]]; then extra+=(--system-call-filter="add_key keyctl"); fi
  # setsid: the machine outlives the shell that started it and gets none of its signals.
  (
    enter_machine_cgroup "$host"
    exec setsid systemd-nspawn --quiet --boot --directory="$dir/root" --machine="limen-$host" --hostname="$host" \
      --network-namespace-path="/run/netns/$(ns_of "$host")" --capability=CAP_NET_ADMIN \
      --register=no --keep-unit --resolv-conf=off --timezone=off --link-journal=no --console=read-only \
      "${extra[@]}" < /dev/null >> "$dir/console.log" 2>&1
  ) &
  local pid=$! i
  echo "$pid" > "$dir/nspawn.pid"
  # Until the subshell has exec'd, the pid is still "bash"; nspawn_pid only trusts the real thing.
  for ((i = 0; i < 100; i++)); do
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == systemd-nspawn ]] && return 0
    [[ -d /proc/$pid ]] || break
    sleep 0.05
  done
  tail -n 20 "$dir/console.log" >&2
  die "$host: systemd-nspawn did not start"
}

# Waits until systemd inside says running/degraded and sshd takes a key login from the operator.
wait_machine() {
  local host="$1" deadline state="" t0
  t0="$(now)"
  deadline=$((SECONDS + ${LAB_BOOT_TIMEOUT:-120}))
  while :; do
    nspawn_pid "$host" >/dev/null || { tail -n 30 "$(machine_dir "$host")/console.log" >&2; die "$host: systemd-nspawn exited"; }
    if leader_pid "$host" >/dev/null; then
      state="$(machine_exec "$host" systemctl is-system-running 2>/dev/null || true)"
      [[ $state == running || $state == degraded ]] && break
    fi
    ((SECONDS < deadline)) || die "$host: not booted after ${LAB_BOOT_TIMEOUT:-120}s (state: ${state:-none})"
    sleep 0.5
  done
  if [[ $state == degraded ]]; then
    log "$host: degraded; failed units: $(machine_exec "$host" systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
  fi
  until ssh_operator "$host" true 2>/dev/null; do
    ((SECONDS < deadline)) || die "$host: sshd does not accept the deploy key from $OPERATOR_NS"
    sleep 0.5
  done
  # systemd counts a simple service started when its process runs, not when it listens: the backend's
  # fixtures are waited for on their ports, or a first deploy's backend preflight finds them refusing.
  if [[ $host == backend ]]; then
    until machine_exec "$host" sh -c 'ss -Hltn "sport = :18443" | grep -q . && ss -Hltn "sport = :9000" | grep -q .' 2>/dev/null; do
      ((SECONDS < deadline)) || die "$host: the API and agent fixtures do not listen on 18443 and 9000"
      sleep 0.2
    done
  fi
  log "$host: $state, ssh ok from $OPERATOR_NS ($(elapsed "$t0"))"
}

# Clean poweroff: SIGTERM makes systemd-nspawn ask the machine's systemd to shut down.
request_stop() {
  local pid
  pid="$(nspawn_pid "$1")" || return 0
  kill -TERM "$pid" 2>/dev/null || true
}

stop_machine() {
  local host="$1" pid deadline
  pid="$(nspawn_pid "$host")" || { remove_machine_cgroup "$host"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + ${LAB_STOP_TIMEOUT:-60}))
  while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
  if [[ -d /proc/$pid ]]; then
    log "$host: no clean shutdown after ${LAB_STOP_TIMEOUT:-60}s, killing"
    kill -KILL "$pid" 2>/dev/null || true
    while [[ -d /proc/$pid ]]; do sleep 0.2; done
  fi
  rm -f "$(machine_dir "$host")/nspawn.pid"
  remove_machine_cgroup "$host"
}
