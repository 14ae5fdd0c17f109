#!/usr/bin/env bash
# Checks a running lab: key-only ssh with pinned host keys from the operator namespace, sudo -n,
# nftables inside a machine, the backend fixtures over IPv4 and IPv6 from the frontend and the
# outsider namespaces, and the frontend's Docker: reached by deploy over ssh (not by limen), pulling
# the stand-in Envoy image by digest from the lab registry, running it with the host network, and
# leaving the machine's nftables ruleset as it found it. Prints "N passed, N failed" and exits
# non-zero on any failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

passed=0
failed=0
check() {
  local name="$1"
  shift
  if out="$("$@" 2>&1)"; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    tail -n 5 <<<"$out" | while IFS= read -r line; do printf '      %s\n' "$line"; done
  fi
}
expect() { # expect SUBSTRING CMD...: the command succeeds and prints SUBSTRING
  local want="$1" got
  shift
  if got="$("$@")" && [[ $got == *"$want"* ]]; then return 0; fi
  echo "wanted '$want', got '${got:-}'"
  return 1
}
curl_from() { local ns="$1"; shift; ip netns exec "$ns" curl -sS --max-time 3 "$@"; }

t0="$(now)"
for host in frontend backend; do
  check "$host: ssh deploy@${IPV4[$host]} with pinned host key" expect "$host" ssh_operator "$host" hostname
  check "$host: sudo -n over ssh" ssh_operator "$host" sudo -n true
  check "$host: nft add table inside (CAP_NET_ADMIN)" ssh_operator "$host" \
    'sudo nft add table inet limen_smoke && sudo nft delete table inet limen_smoke'
done
check "frontend: password login refused" expect 'Permission denied (publickey)' bash -c "ip netns exec $OPERATOR_NS \
  ssh -F /dev/null -o BatchMode=yes -o PubkeyAuthentication=no -o UserKnownHostsFile=$KNOWN_HOSTS deploy@${IPV4[frontend]} true 2>&1; true"
# Not `pm2 --version`: any pm2 command starts the pm2 daemon for the user.
check "frontend: node and pm2 on PATH for limen" expect 7.0.4 machine_exec frontend runuser -l limen -c \
  'command -v pm2 >/dev/null && node -p "require(\"/usr/local/lib/node_modules/pm2/package.json\").version"'
for from in frontend outsider; do
  ns="$(ns_of "$from")"
  check "$from -> backend api  http://${IPV4[backend]}:18443" expect '"status":"ok"' curl_from "$ns" "http://${IPV4[backend]}:18443/api/health"
  check "$from -> backend api  http://[${IPV6[backend]}]:18443" expect '"status":"ok"' curl_from "$ns" "http://[${IPV6[backend]}]:18443/api/health"
  check "$from -> backend agent http://${IPV4[backend]}:9000" expect '"service":"agent"' curl_from "$ns" "http://${IPV4[backend]}:9000/health"
  check "$from -> backend agent http://[${IPV6[backend]}]:9000" expect '"service":"agent"' curl_from "$ns" "http://[${IPV6[backend]}]:9000/health"
done

check "frontend: dockerd, containerd and the cgroup remount active" machine_exec frontend \
  systemctl is-active --quiet limen-lab-cgroup-rw.service containerd.service docker.service
check "frontend: deploy reaches dockerd over ssh" expect 'server 20.10.24' ssh_operator frontend \
  docker version --format "'server {{.Server.Version}}'"
limen_not_in_docker_group() {
  local groups
  groups="$(machine_exec frontend id -nG limen)" || return 1
  [[ " $groups " != *" docker "* ]] || { echo "limen is in: $groups"; return 1; }
}
check "frontend: limen is not in the docker group" limen_not_in_docker_group
check "backend, outsider: no Docker installed" bash -c "! ls $(machine_dir backend)/root/usr/sbin/dockerd $(machine_dir outsider)/root/usr/sbin/dockerd 2>/dev/null | grep -q ."
check "frontend -> registry https://$REGISTRY_HOST/v2/ (lab CA)" machine_exec frontend \
  curl -fsS --max-time 3 --cacert "/etc/docker/certs.d/$REGISTRY_HOST/ca.crt" "https://$REGISTRY_HOST/v2/"
envoy_image="$(node -p 'require(process.argv[1]).envoyImage || ""' "$HOSTS_JSON")"
if [[ -n $envoy_image ]]; then
  # dockerd restarted between two reads of the ruleset, around a pull and a container run.
  docker_leaves_nft_alone() {
    local before after
    before="$(machine_exec frontend nft list ruleset)"
    machine_exec frontend systemctl restart docker.service
    ssh_operator frontend docker pull -q "$envoy_image" >/dev/null
    ssh_operator frontend docker run --rm --network host "$envoy_image" envoy --version >/dev/null
    after="$(machine_exec frontend nft list ruleset)"
    [[ $before == "$after" ]] || { diff <(echo "$before") <(echo "$after"); return 1; }
  }
  check "frontend: docker pull $envoy_image" expect "$envoy_image" ssh_operator frontend docker pull -q "$envoy_image"
  check "frontend: docker run --network host the image: envoy --version" ssh_operator frontend \
    docker run --rm --network host "$envoy_image" envoy --version
  # The image holds nothing but envoy: the machine's cat and its libraries are lent for this read.
  check "frontend: the container sees the machine's eth0" expect eth0: ssh_operator frontend \
    docker run --rm --network host -v /usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro \
    --entrypoint /usr/bin/cat "$envoy_image" /proc/net/dev
  check "frontend: nft ruleset unchanged by dockerd (restart, pull, run)" docker_leaves_nft_alone
else
  log "no envoyImage in $HOSTS_JSON: the image checks are skipped"
fi
check "no default route in any lab namespace" bash -c "for ns in $OPERATOR_NS $REGISTRY_NS ${MACHINES[*]/#/limen-} $NET_NS; do \
  ! ip -n \$ns route show default | grep -q . && ! ip -n \$ns -6 route show default | grep -q . || exit 1; done"
log "checks took $(elapsed "$t0")"
echo "$passed passed, $failed failed"
((failed == 0))
