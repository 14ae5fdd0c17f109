#!/usr/bin/env bash
# The lab's container registry: Debian's docker-registry (2.8) in network namespace limen-registry
# (198.51.100.5 / 2001:db8::5 on the lab bridge, no route out), serving https://registry.lab.test:5000
# with a certificate from a lab CA. lab/hosts/up.sh starts it and pushes the stand-in Envoy image,
# lab/hosts/down.sh stops it; each command is idempotent.
#
#   lab/registry/registry.sh tls          make the lab CA and the registry's key pair if missing
#   lab/registry/registry.sh start        start the registry (the lab network must exist), wait for it
#   lab/registry/registry.sh push LAYOUT  push an OCI layout; its pinned REPOSITORY@sha256:... goes to
#                                         lab/.state/registry/envoy-image
#   lab/registry/registry.sh stop         stop it and drop its storage
#
# Files in lab/.state/registry/: tls/ (ca.crt, ca.key, registry.crt, registry.key; kept by stop),
# config.yml, data/ (the blobs), registry.log, registry.pid.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=../hosts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../hosts/lib.sh"

PID_FILE="$REGISTRY_DIR/registry.pid"
LOG_FILE="$REGISTRY_DIR/registry.log"
DATA_DIR="$REGISTRY_DIR/data"

# The CA signs only the registry's certificate; the frontend's Docker trusts it for this one registry
# (/etc/docker/certs.d/registry.lab.test:5000/ca.crt), nothing else on the machine does.
ensure_tls() {
  install -d -m 0700 "$REGISTRY_TLS_DIR"
  local dir="$REGISTRY_TLS_DIR"
  if [[ ! -f $dir/ca.crt || ! -f $dir/ca.key ]]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
      -subj "/CN=limen lab registry CA" -keyout "$dir/ca.key.tmp" -out "$dir/ca.crt.tmp" \
      -addext basicConstraints=critical,CA:TRUE,pathlen:0 -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    mv "$dir/ca.key.tmp" "$dir/ca.key"
    mv "$dir/ca.crt.tmp" "$dir/ca.crt"
    rm -f "$dir/registry.crt"
    log "lab CA created: $dir/ca.crt"
  fi
  if [[ ! -f $dir/registry.crt || ! -f $dir/registry.key ]] \
      || ! openssl verify -CAfile "$dir/ca.crt" "$dir/registry.crt" >/dev/null 2>&1; then
    local ext
    ext="$(mktemp)"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=DNS:$REGISTRY_NAME,IP:${IPV4[registry]},IP:${IPV6[registry]}" > "$ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$REGISTRY_NAME" \
      -keyout "$dir/registry.key" -out "$dir/registry.csr" 2>/dev/null
    openssl x509 -req -in "$dir/registry.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -sha256 -days 825 -extfile "$ext" -out "$dir/registry.crt" 2>/dev/null
    rm -f "$ext" "$dir/registry.csr"
    log "registry certificate for $REGISTRY_NAME, ${IPV4[registry]}, ${IPV6[registry]} signed by the lab CA"
  fi
}

registry_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n $pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" == docker-registry ]] || return 1
  echo "$pid"
}

# https://registry.lab.test:5000/v2/ from the operator namespace, the way a client verifies it.
registry_answers() {
  ip netns exec "$OPERATOR_NS" curl -fsS --max-time 2 --cacert "$REGISTRY_CA" \
    --resolve "$REGISTRY_HOST:${IPV4[registry]}" "https://$REGISTRY_HOST/v2/" >/dev/null 2>&1
}

write_config() {
  cat > "$REGISTRY_DIR/config.yml" <<EOF
# limen lab registry (lab/registry/registry.sh). No auth: only the lab's namespaces can reach it.
version: 0.1
log:
  level: info
  fields:
    service: limen-lab-registry
storage:
  filesystem:
    rootdirectory: $DATA_DIR
http:
  addr: ":$REGISTRY_PORT"
  tls:
    certificate: $REGISTRY_TLS_DIR/registry.crt
    key: $REGISTRY_TLS_DIR/registry.key
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

start() {
  command -v docker-registry >/dev/null || die "docker-registry not found: apt-get install docker-registry"
  local t0 pid i
  t0="$(now)"
  ensure_tls
  ensure_bridge
  ensure_endpoint registry
  if pid="$(registry_pid)" && registry_answers; then
    log "registry: already running (pid $pid), kept"
    return
  fi
  [[ -z ${pid:-} ]] || stop
  install -d -m 0700 "$DATA_DIR"
  write_config
  # setsid: the registry outlives up.sh and gets none of its signals. `ip netns exec` execs it, so
  # the recorded pid is the registry's own.
  (exec setsid ip netns exec "$REGISTRY_NS" docker-registry serve "$REGISTRY_DIR/config.yml" \
    < /dev/null > "$LOG_FILE" 2>&1) &
  pid=$!
  echo "$pid" > "$PID_FILE"
  for ((i = 0; i < 200; i++)); do
    registry_answers && break
    [[ -d /proc/$pid ]] || { tail -n 20 "$LOG_FILE" >&2; die "docker-registry exited"; }
    sleep 0.05
  done
  registry_answers || { tail -n 20 "$LOG_FILE" >&2; die "registry does not answer on https://$REGISTRY_HOST"; }
  log "registry: https://$REGISTRY_HOST on ${IPV4[registry]}, ${IPV6[registry]} in $REGISTRY_NS (pid $pid, $(elapsed "$t0"))"
}

stop() {
  local pid deadline
  if pid="$(registry_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    log "registry: stopped (pid $pid)"
  fi
  rm -rf "$PID_FILE" "$DATA_DIR" "$REGISTRY_DIR/config.yml" "$ENVOY_IMAGE_FILE"
}

# crane runs in the operator namespace and reaches the registry by its name, as the frontend does: a
# hosts file bound over /etc/hosts in the mount namespace `ip netns exec` makes for it alone, and the
# lab CA as Go's trust store.
push() {
  local layout="$1" crane digest hosts t0
  [[ -f $layout/index.json ]] || die "not an OCI layout: $layout"
  registry_answers || die "the registry is not running: lab/registry/registry.sh start"
  t0="$(now)"
  crane="$(bash "$(dirname "${BASH_SOURCE[0]}")/build-crane.sh")"
  digest="$(grep -o '"digest": *"sha256:[0-9a-f]*"' "$layout/index.json" | head -n1 | grep -o 'sha256:[0-9a-f]*')"
  [[ -n $digest ]] || die "no manifest digest in $layout/index.json"
  hosts="$(mktemp)"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n%s\t%s\n' \
    "${IPV4[registry]}" "$REGISTRY_NAME" "${IPV6[registry]}" "$REGISTRY_NAME" > "$hosts"
  local out rc=0
  # shellcheck disable=SC2016 # expanded by the inner shell
  out="$(ip netns exec "$OPERATOR_NS" env SSL_CERT_FILE="$REGISTRY_CA" sh -c \
    'mount --bind "$1" /etc/hosts && "$2" push "$3" "$4" && "$2" digest "$4"' push \
    "$hosts" "$crane" "$layout" "$ENVOY_REPOSITORY:stand-in" 2>&1)" || rc=$?
  rm -f "$hosts"
  [[ $rc -eq 0 ]] || { printf '%s\n' "$out" >&2; die "crane push to $ENVOY_REPOSITORY failed"; }
  # The registry must serve exactly the digest the cached layout was built with.
  [[ "$(tail -n1 <<<"$out")" == "$digest" ]] || die "registry reports $(tail -n1 <<<"$out") for the image, the layout says $digest"
  echo "$ENVOY_REPOSITORY@$digest" > "$ENVOY_IMAGE_FILE"
  log "pushed $ENVOY_REPOSITORY@$digest ($(elapsed "$t0"))"
}

# variant LABEL: the stand-in image with one more label (limen.lab.variant=LABEL), pushed as
# $ENVOY_REPOSITORY:variant-LABEL; prints it pinned by digest. Another image with the same binary: what
# the lab's image-change test deploys (lab/test/11-no-downtime.test.ts).
variant() {
  local label="$1" crane base hosts out rc=0
  [[ $label =~ ^[a-z0-9-]+$ ]] || die "variant: the label is made of a-z, 0-9 and -"
  registry_answers || die "the registry is not running: lab/registry/registry.sh start"
  [[ -s $ENVOY_IMAGE_FILE ]] || die "no stand-in image pushed yet: $ENVOY_IMAGE_FILE"
  crane="$(bash "$(dirname "${BASH_SOURCE[0]}")/build-crane.sh")"
  base="$(cat "$ENVOY_IMAGE_FILE")"
  hosts="$(mktemp)"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n%s\t%s\n' \
    "${IPV4[registry]}" "$REGISTRY_NAME" "${IPV6[registry]}" "$REGISTRY_NAME" > "$hosts"
  # shellcheck disable=SC2016 # expanded by the inner shell
  out="$(ip netns exec "$OPERATOR_NS" env SSL_CERT_FILE="$REGISTRY_CA" sh -c \
    'mount --bind "$1" /etc/hosts && "$2" mutate "$3" -l "limen.lab.variant=$4" -t "$5" >/dev/null && "$2" digest "$5"' variant \
    "$hosts" "$crane" "$base" "$label" "$ENVOY_REPOSITORY:variant-$label" 2>&1)" || rc=$?
  rm -f "$hosts"
  [[ $rc -eq 0 ]] || { printf '%s\n' "$out" >&2; die "crane mutate of $base failed"; }
  echo "$ENVOY_REPOSITORY@$(tail -n1 <<<"$out")"
}

require_root
case "${1:-}" in
  tls) ensure_tls ;;
  start) start ;;
  push) [[ $# -eq 2 ]] || die "usage: $0 push OCI-LAYOUT-DIR"; push "$2" ;;
  variant) [[ $# -eq 2 ]] || die "usage: $0 variant LABEL"; variant "$2" ;;
  stop) stop ;;
  *) die "usage: $0 tls|start|push LAYOUT|variant LABEL|stop" ;;
esac
