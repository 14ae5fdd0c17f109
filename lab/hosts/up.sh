#!/usr/bin/env bash
# Brings the lab up: the network namespaces and bridge, then frontend, backend and outsider booted
# with systemd-nspawn, each on a fresh overlay of its cached image (a machine that is already
# running is kept as it is), and the lab's registry (lab/registry/) with the stand-in Envoy image
# pushed to it. Writes lab/.state/hosts.json and lab/.state/ssh/known_hosts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

read_layers() {
  local layers line
  layers="$(mktemp)"
  # build-image.sh logs to stdout and reports the layer paths on fd 3.
  bash "$LAB_HOSTS_DIR/build-image.sh" 3> "$layers" || { rm -f "$layers"; die "build-image.sh failed"; }
  while IFS= read -r line; do
    case "$line" in
      BASE_IMAGE=*) BASE_IMAGE="${line#*=}" ;;
      FRONTEND_LAYER=*) FRONTEND_LAYER="${line#*=}" ;;
      BACKEND_LAYER=*) BACKEND_LAYER="${line#*=}" ;;
    esac
  done < "$layers"
  rm -f "$layers"
  [[ -n ${BASE_IMAGE:-} && -n ${FRONTEND_LAYER:-} && -n ${BACKEND_LAYER:-} ]] || die "build-image.sh gave no image paths"
}

lowerdirs_of() {
  case "${FLAVOUR[$1]}" in
    frontend) echo "$FRONTEND_LAYER:$BASE_IMAGE" ;;
    backend) echo "$BACKEND_LAYER:$BASE_IMAGE" ;;
    base) echo "$BASE_IMAGE" ;;
  esac
}

ensure_deploy_key() {
  install -d -m 0700 "$SSH_DIR"
  if [[ ! -f $DEPLOY_KEY ]]; then
    ssh-keygen -q -t ed25519 -N '' -C limen-lab-deploy -f "$DEPLOY_KEY"
    log "deploy key created: $DEPLOY_KEY"
  fi
}

# A fresh root: an empty overlay upper dir over the cached image, plus this machine's identity.
create_root() {
  local host="$1" dir root
  dir="$(machine_dir "$host")"
  root="$dir/root"
  if mountpoint -q "$root"; then umount "$root"; fi
  rm -rf "$dir"
  mkdir -p "$dir/upper" "$dir/work" "$root"
  mount -t overlay overlay -o "lowerdir=$(lowerdirs_of "$host"),upperdir=$dir/upper,workdir=$dir/work" "$root"

  ssh-keygen -q -t ed25519 -N '' -C "root@$host" -f "$dir/ssh_host_ed25519_key"
  install -m 0600 "$dir/ssh_host_ed25519_key" "$root/etc/ssh/ssh_host_ed25519_key"
  install -m 0644 "$dir/ssh_host_ed25519_key.pub" "$root/etc/ssh/ssh_host_ed25519_key.pub"

  local uid gid
  uid="$(awk -F: '$1 == "deploy" { print $3 }' "$root/etc/passwd")"
  gid="$(awk -F: '$1 == "deploy" { print $4 }' "$root/etc/passwd")"
  install -m 0600 -o "$uid" -g "$gid" "$DEPLOY_KEY.pub" "$root/home/deploy/.ssh/authorized_keys"

  if [[ ${FLAVOUR[$host]} == frontend ]]; then
    # Per machine, not in the cached image: the CA belongs to this checkout's lab (lab/.state).
    install -d "$root/etc/docker/certs.d/$REGISTRY_HOST"
    install -m 0644 "$REGISTRY_CA" "$root/etc/docker/certs.d/$REGISTRY_HOST/ca.crt"
    # The pair the lab's `host-files` TLS source names, where Debian's ssl-cert puts its snakeoil
    # pair: a self-signed certificate for the lab's site names, made for this machine, never cached.
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$host" \
      -addext "subjectAltName=DNS:limen.lab.test,DNS:darc.lab.test,DNS:$host" \
      -keyout "$root/etc/ssl/private/ssl-cert-snakeoil.key" -out "$root/etc/ssl/certs/ssl-cert-snakeoil.pem" 2>/dev/null
    chmod 0600 "$root/etc/ssl/private/ssl-cert-snakeoil.key"
    chmod 0644 "$root/etc/ssl/certs/ssl-cert-snakeoil.pem"
  fi

  echo "$host" > "$root/etc/hostname"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/machine-id"
  echo >> "$root/etc/machine-id"
  {
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$host"
    local who
    for who in "${MACHINES[@]}"; do
      printf '%s\t%s\n%s\t%s\n' "${IPV4[$who]}" "$who" "${IPV6[$who]}" "$who"
    done
    printf '%s\t%s\n%s\t%s\n' "${IPV4[registry]}" "$REGISTRY_NAME" "${IPV6[registry]}" "$REGISTRY_NAME"
  } > "$root/etc/hosts"
}

write_known_hosts_and_json() {
  local host tmp
  tmp="$(mktemp "$STATE_DIR/.known_hosts.XXXXXX")"
  for host in "${MACHINES[@]}"; do
    printf '%s,%s %s\n' "${IPV4[$host]}" "${IPV6[$host]}" \
      "$(cut -d' ' -f1,2 "$(machine_dir "$host")/ssh_host_ed25519_key.pub")" >> "$tmp"
  done
  chmod 0644 "$tmp"
  mv "$tmp" "$KNOWN_HOSTS"

  local args=()
  for host in "${MACHINES[@]}"; do
    args+=("$host" "${IPV4[$host]}" "${IPV6[$host]}" "$(cut -d' ' -f1,2 "$(machine_dir "$host")/ssh_host_ed25519_key.pub")" "$(machine_dir "$host")/root")
  done
  node - "$HOSTS_JSON" "$DEPLOY_KEY" "$KNOWN_HOSTS" "$OPERATOR_NS" "${IPV4[operator]}" "${IPV6[operator]}" "$SSH_PORT" \
    "$ENVOY_IMAGE" "${args[@]}" <<'EOF'
const fs = require('node:fs')
const [out, key, knownHosts, operatorNs, opV4, opV6, port, envoyImage, ...rest] = process.argv.slice(2)
const hosts = {}
for (let i = 0; i < rest.length; i += 5) {
  const [name, ipv4, ipv6, hostKey, rootDir] = rest.slice(i, i + 5)
  hosts[name] = {
    name, namespace: `limen-${name}`, ipv4, ipv6, sshPort: Number(port), user: 'deploy',
    hostKey, privateKeyPath: key, rootDir,
  }
}
const doc = {
  operator: { namespace: operatorNs, ipv4: opV4, ipv6: opV6 },
  knownHostsFile: knownHosts,
  deployPrivateKeyPath: key,
  hosts,
}
// The stand-in Envoy image in the lab registry, pinned by digest; absent when there is no stand-in binary.
if (envoyImage) doc.envoyImage = envoyImage
fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 2) + '\n')
fs.renameSync(out + '.tmp', out)
EOF
}

main() {
  require_root
  local t0 host
  t0="$(now)"
  read_layers
  mkdir -p "$MACHINES_DIR"
  ensure_deploy_key
  bash "$LAB_DIR/registry/registry.sh" tls

  local tn
  tn="$(now)"
  ensure_bridge
  ensure_endpoint operator
  for host in "${MACHINES[@]}"; do ensure_endpoint "$host"; done
  log "network ready: $NET_NS/$BRIDGE, namespaces $OPERATOR_NS ${MACHINES[*]/#/limen-} ($(elapsed "$tn"))"

  local booting=()
  for host in "${MACHINES[@]}"; do
    if machine_running "$host"; then
      log "$host: already running (pid $(nspawn_pid "$host")), kept"
      continue
    fi
    stop_machine "$host"
    tn="$(now)"
    create_root "$host"
    start_machine "$host"
    booting+=("$host")
    log "$host: fresh root on $(lowerdirs_of "$host" | cut -d: -f1 | xargs basename), booting ($(elapsed "$tn"))"
  done

  # While the machines boot: the registry, and the stand-in Envoy image (built once per binary, then
  # only pushed).
  local layout_file layout build_pid
  layout_file="$(mktemp)"
  bash "$LAB_DIR/registry/build-envoy-image.sh" > "$layout_file" &
  build_pid=$!
  bash "$LAB_DIR/registry/registry.sh" start
  wait "$build_pid" || { rm -f "$layout_file"; die "building the stand-in Envoy image failed"; }
  layout="$(cat "$layout_file")"
  rm -f "$layout_file"
  ENVOY_IMAGE=""
  if [[ -n $layout ]]; then
    bash "$LAB_DIR/registry/registry.sh" push "$layout"
    ENVOY_IMAGE="$(cat "$ENVOY_IMAGE_FILE")"
  fi

  write_known_hosts_and_json
  for host in "${booting[@]}"; do wait_machine "$host"; done
  for host in "${MACHINES[@]}"; do ssh_operator "$host" true || die "$host: ssh check failed"; done
  log "hosts: $HOSTS_JSON; exec in a machine: lab/hosts/exec.sh HOST CMD...; all up in $(elapsed "$t0")"
}

main "$@"
