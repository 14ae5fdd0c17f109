#!/usr/bin/env bash
# Builds the lab's stand-in Envoy image with crane, without a Docker daemon, and caches it as an OCI
# image layout outside the repository:
#
#   ${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/registry/envoy/<key>/   oci-layout, index.json, blobs/
#
# The image: one layer holding /usr/local/bin/envoy (0755) and an empty /etc/envoy/ (the stack mounts
# its config there), every entry owned by 0:0 with mtime 0, gzip without a name or time; a config with
# PATH, Cmd ["envoy","-c","/etc/envoy/envoy.yaml"] and a label naming it the lab's stand-in, and no
# creation time. So the same binary always gives the same digest, and <key> hashes the binary with this
# recipe: a warm lab run finds the layout and only pushes it (lab/registry/registry.sh push).
#
# The binary is the first argument, else $LIMEN_LAB_ENVOY_BIN, else what lab/envoy/build.sh prints.
# With none of them there is no stand-in to package: the script says so on stderr, prints nothing and
# exits 0, and the lab comes up without an Envoy image.
#
# crane assembles the image against its own in-memory registry (`crane registry serve`), started in a
# network namespace of its own that has only a loopback interface and dies with the build.
#
# Usage: lab/registry/build-envoy-image.sh [BINARY]   # prints the layout's directory
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_DIR="$(dirname "$HERE")"
BASE="${LIMEN_CACHE_DIR:-/var/cache/limen-infra}/registry/envoy"
FORCE=0

LOG_PREFIX=build-envoy-image
# shellcheck source=../engine/build-once.sh
source "$HERE/../engine/build-once.sh"

ENV_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD=envoy,-c,/etc/envoy/envoy.yaml
LABEL_KEY=org.opencontainers.image.description
LABEL_VALUE="limen lab stand-in for Envoy (lab/envoy), not Envoy: never deploy it"
PLATFORM=linux/amd64

find_binary() {
  if [[ -n ${1:-} ]]; then echo "$1"; return; fi
  if [[ -n ${LIMEN_LAB_ENVOY_BIN:-} ]]; then echo "$LIMEN_LAB_ENVOY_BIN"; return; fi
  if [[ -f $LAB_DIR/envoy/build.sh ]]; then
    local out
    out="$(bash "$LAB_DIR/envoy/build.sh")" || { log "lab/envoy/build.sh failed"; exit 1; }
    tail -n1 <<<"$out"
  fi
}

# The one layer, byte for byte the same from the same binary (GNU tar and gzip -n).
make_layer() {
  local bin=$1 out=$2 stage
  stage="$(mktemp -d)"
  install -d -m 0755 "$stage/etc" "$stage/etc/envoy" "$stage/usr" "$stage/usr/local" "$stage/usr/local/bin"
  install -m 0755 "$bin" "$stage/usr/local/bin/envoy"
  tar -C "$stage" --format=ustar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    --no-acls --no-xattrs --no-selinux -cf - etc usr | gzip -n -9 > "$out"
  rm -rf "$stage"
}

# Runs inside the build's own network namespace: crane's registry on its loopback, the image put
# together there and pulled into an OCI layout.
assemble() {
  local crane=$1 layer=$2 out=$3 addr=127.0.0.1:5999 pid i
  ip link set lo up
  "$crane" registry serve --address "$addr" 2> /dev/null &
  pid=$!
  for ((i = 0; i < 100; i++)); do
    (exec 3<> "/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null && break
    sleep 0.05
  done
  "$crane" append --insecure --platform "$PLATFORM" -f "$layer" -t "$addr/envoy:layer" > /dev/null
  "$crane" mutate --insecure "$addr/envoy:layer" -t "$addr/envoy:image" --set-platform "$PLATFORM" \
    -e "PATH=$ENV_PATH" --cmd "$CMD" -l "$LABEL_KEY=$LABEL_VALUE" > /dev/null
  "$crane" pull --insecure --format=oci "$addr/envoy:image" "$out"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

recipe_hash() {
  { declare -f make_layer assemble; echo "$ENV_PATH $CMD $LABEL_KEY=$LABEL_VALUE $PLATFORM"; } | sha256sum | cut -c1-16
}

main() {
  local bin
  bin="$(find_binary "${1:-}")"
  if [[ -z $bin ]]; then
    log "no stand-in Envoy binary (no argument, no LIMEN_LAB_ENVOY_BIN, no lab/envoy/build.sh): no image"
    exit 0
  fi
  [[ -x $bin ]] || { log "not an executable: $bin"; exit 1; }
  # The image has no libc: a dynamically linked binary would not start in it.
  local linkage
  linkage="$(LC_ALL=C ldd "$bin" 2>&1 || true)"
  if ! grep -qE 'not a dynamic executable|statically linked' <<<"$linkage"; then
    log "$bin is not statically linked"
    exit 1
  fi

  local crane bin_sha key
  crane="$(bash "$HERE/build-crane.sh")"
  bin_sha="$(sha256sum "$bin" | cut -c1-16)"
  key="$bin_sha-$(recipe_hash)-$("$crane" version)"
  OUT="$BASE/$key"
  cached_ok() { [[ -f $OUT/index.json && -f $OUT/oci-layout ]]; }
  exit_if_built "$BASE" "$OUT"

  local staging t
  staging="$(mktemp -d "$BASE/.build.XXXXXX")"
  # shellcheck disable=SC2064 # the directory is fixed now; the trap runs at the script's exit
  trap "rm -rf '$staging'" EXIT
  t=$(now)
  make_layer "$bin" "$staging/layer.tar.gz"
  # A fresh network namespace: crane's build registry is reachable from nothing but this build.
  export PLATFORM ENV_PATH CMD LABEL_KEY LABEL_VALUE
  export -f assemble
  # crane logs every blob; only a failure shows them.
  if ! unshare --net -- bash -c 'assemble "$@"' assemble "$crane" "$staging/layer.tar.gz" "$staging/layout" \
      > "$staging/crane.log" 2>&1; then
    cat "$staging/crane.log" >&2
    log "assembling the image failed"
    exit 1
  fi
  rm -rf "$OUT"
  mv "$staging/layout" "$OUT"
  # Older builds (another binary) are only a cache: drop them.
  find "$BASE" -mindepth 1 -maxdepth 1 -type d ! -name "$key" ! -name '.build.*' -exec rm -rf {} +
  log "built $(basename "$bin") $bin_sha into $OUT, $(du -sh "$OUT" | cut -f1), $(image_digest "$OUT") ($(took "$t"))"
  echo "$OUT"
}

image_digest() { grep -o '"digest": *"sha256:[0-9a-f]*"' "$1/index.json" | head -n1 | grep -o 'sha256:[0-9a-f]*'; }

main "$@"
