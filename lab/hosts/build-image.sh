#!/usr/bin/env bash
# Builds (or finds in the cache) the lab's Debian bookworm images:
#   base      debootstrap minbase + systemd, sshd, nftables, certbot, user `deploy` (outsider boots this)
#   frontend  base + Node.js 22 (the binary tools/node/node22.sh gives) + pm2 + user `limen` + /srv/limen-frontend + /srv/darc-kr
#             + Debian's Docker (docker.io, containerd, runc), as prod's frontend runs Envoy in Docker
#   backend   base + Node.js 22 + the backend API and agent fixtures as enabled systemd units
# base is a full root tree; frontend and backend are overlayfs upper layers stacked on it.
# Each lives in $LIMEN_CACHE_DIR/images/<flavour>-<key>; the key hashes everything that goes in,
# so changing a package, the steps (image-steps.sh), the node binary or a fixture builds a new one.
# Prints the layer paths as KEY=VALUE lines on fd 3 when fd 3 is open (up.sh reads them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/image-steps.sh"

# --- cache keys ------------------------------------------------------------------------------

sha() { sha256sum | cut -c1-16; }
files_sha() { (cd "$1" && shift && sha256sum "$@") | sha; }

base_key() {
  { echo "suite=$SUITE packages=${PACKAGES[*]}"; declare -f configure_base; } | sha
}
frontend_key() {
  local app_files
  mapfile -t app_files < <(cd "$FIXTURES_DIR/limen-frontend" && find app -type f | sort)
  { echo "base=$1 pm2=$PM2_VERSION node=$NODE_SHA"
    echo "docker=${DOCKER_PACKAGES[*]}"
    declare -f configure_frontend install_node build_frontend_app apt_in_image install_docker
    files_sha "$FIXTURES_DIR/limen-frontend" package.json package-lock.json next.config.mjs proxy.js instrumentation.js "${app_files[@]}"
    files_sha "$FIXTURES_DIR/darc-kr" server.js package.json
  } | sha
}
backend_key() {
  { echo "base=$1 node=$NODE_SHA"; declare -f configure_backend install_node
    files_sha "$FIXTURES_DIR" backend-api.js agent.js
  } | sha
}

# --- builders --------------------------------------------------------------------------------

build_base() {
  local dir="$1" tmp="$1.tmp" mirror
  mirror="$(debian_mirror)"
  rm -rf "$tmp"
  mkdir -p "$CACHE_DIR/debs"
  log "  debootstrap --variant=minbase $SUITE from $mirror"
  local packages
  packages="$(IFS=,; echo "${PACKAGES[*]}")"
  if ! debootstrap --variant=minbase --include="$packages" --cache-dir="$CACHE_DIR/debs" \
      "$SUITE" "$tmp" "$mirror" > "$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE_DIR/debootstrap.log" >&2
    die "debootstrap failed (log: $CACHE_DIR/debootstrap.log)"
  fi
  configure_base "$tmp" "$mirror"
  mv "$tmp" "$dir"
}

# Builds an overlay upper layer on top of base by running configure_<flavour> in the merged view.
build_layer() {
  local flavour="$1" dir="$2" base="$3" tmp="$2.tmp"
  if mountpoint -q "$tmp/merged" 2>/dev/null; then umount "$tmp/merged"; fi
  rm -rf "$tmp"
  mkdir -p "$tmp/upper" "$tmp/work" "$tmp/merged"
  mount -t overlay overlay -o "lowerdir=$base,upperdir=$tmp/upper,workdir=$tmp/work" "$tmp/merged"
  local rc=0
  ( "configure_$flavour" "$tmp/merged" ) || rc=$?
  umount "$tmp/merged"
  [[ $rc -eq 0 ]] || die "building the $flavour layer failed"
  mv "$tmp/upper" "$dir"
  rm -rf "$tmp"
}

# Removes older images of a flavour, unless a running machine still stacks on them.
prune() {
  local flavour="$1" keep="$2" old
  for old in "$IMAGES_DIR/$flavour"-*; do
    [[ -d $old && $old != "$keep" ]] || continue
    if grep -qF "$old" /proc/mounts; then continue; fi
    log "  removing stale image $(basename "$old")"
    rm -rf "$old"
  done
}

ensure() {
  local flavour="$1" dir="$2" base="${3:-}" t0
  t0="$(now)"
  if [[ -d $dir ]]; then
    log "$flavour image cached: $dir ($(elapsed "$t0"))"
    return
  fi
  log "$flavour image: building $(basename "$dir")"
  if [[ $flavour == base ]]; then build_base "$dir"; else build_layer "$flavour" "$dir" "$base"; fi
  log "$flavour image built: $dir, $(du -sh "$dir" | cut -f1) ($(elapsed "$t0"))"
  prune "$flavour" "$dir"
}

main() {
  require_root
  local t0
  t0="$(now)"
  mkdir -p "$IMAGES_DIR"
  exec 9> "$CACHE_DIR/.build.lock"
  flock 9

  NODE_SHA="$(sha256sum "$NODE_BIN" | cut -c1-16)"
  local base_dir frontend_dir backend_dir
  base_dir="$IMAGES_DIR/base-$(base_key)"
  frontend_dir="$IMAGES_DIR/frontend-$(frontend_key "$(basename "$base_dir")")"
  backend_dir="$IMAGES_DIR/backend-$(backend_key "$(basename "$base_dir")")"

  ensure base "$base_dir"
  ensure frontend "$frontend_dir" "$base_dir"
  ensure backend "$backend_dir" "$base_dir"

  if { true >&3; } 2>/dev/null; then
    printf 'BASE_IMAGE=%s\nFRONTEND_LAYER=%s\nBACKEND_LAYER=%s\n' "$base_dir" "$frontend_dir" "$backend_dir" >&3
  fi
  log "done in $(elapsed "$t0")"
}

main "$@"
