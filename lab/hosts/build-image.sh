#!/usr/bin/env bash
# Builds (or finds in the cache) the lab's Debian bookworm images:
#   base      debootstrap minbase + systemd, sshd, nftables, certbot, user `deploy` (outsider boots this)
#   frontend  base + Node.js 22 (the binary tools/node/node22.sh gives) + pm2 + user `limen` + /srv/limen-frontend + /srv/darc-kr
#             + Debian's Docker (docker.io, containerd, runc), as prod's frontend runs Envoy in Docker
#   backend   base + Node.js 22 + the backend API and agent fixtures as enabled systemd units
# base is a full root tree; frontend and backend are overlayfs upper layers stacked on it.
# Each lives in $LIMEN_CACHE_DIR/images/<flavour>-<key>; the key hashes everything that goes in,
# so changing a package, this script's steps, the node binary or a fixture builds a new one.
# Prints the layer paths as KEY=VALUE lines on fd 3 when fd 3 is open (up.sh reads them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=bookworm
PM2_VERSION=7.0.4
# Debian's own Docker, as on prod's frontend; only the frontend layer has it, so backend and outsider
# run no dockerd at all.
DOCKER_PACKAGES=(docker.io containerd runc)
# The Node the project runs on (22 LTS): the apps in the lab run on the Node prod runs them on.
NODE_BIN="$(bash "$(dirname "${BASH_SOURCE[0]}")/../../tools/node/node22.sh")/node"
PACKAGES=(
  systemd systemd-sysv dbus libpam-systemd
  openssh-server openssh-client sudo
  nftables iproute2 curl netcat-openbsd iputils-ping ca-certificates procps less
  # The stack manages TLS certificates with Debian's certbot; the lab machines have no route to a
  # mirror, so it is in the image. openssl: the certificate tests read dates and chains on the machines.
  # python3-cffi-backend by name: python3-cryptography depends on it only through the virtual
  # python3-cffi-backend-api-{min,max}, which debootstrap's resolver does not follow.
  certbot openssl python3-cffi-backend
)

# The mirror this machine's apt uses for bookworm (deb822 .sources first, then one-line lists).
debian_mirror() {
  if [[ -n ${LIMEN_DEBIAN_MIRROR:-} ]]; then echo "$LIMEN_DEBIAN_MIRROR"; return; fi
  local url
  url="$(awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { if (uri != "" && ok) print uri }' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
  if [[ -z $url ]]; then
    url="$(awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/ && $(i+1) == suite) { print $i; exit } }' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)"
  fi
  [[ -n $url ]] || die "no Debian $SUITE mirror in /etc/apt/sources.list*; set LIMEN_DEBIAN_MIRROR"
  echo "$url"
}

# --- steps that shape each image (their text is part of the cache key) ---------------------

configure_base() {
  local root="$1" mirror="$2"
  printf 'deb %s %s main\n' "$mirror" "$SUITE" > "$root/etc/apt/sources.list"
  # The lab has no DNS and no route out; a copied resolver would only produce timeouts.
  printf '# limen lab: no DNS server; names of lab hosts are in /etc/hosts\n' > "$root/etc/resolv.conf"
  echo limen-lab > "$root/etc/hostname"
  # Empty machine-id: each machine gets its own at creation (up.sh).
  : > "$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"

  chroot "$root" useradd --create-home --shell /bin/bash --user-group deploy
  printf 'deploy ALL=(ALL) NOPASSWD: ALL\n' > "$root/etc/sudoers.d/deploy"
  chmod 0440 "$root/etc/sudoers.d/deploy"
  chroot "$root" visudo -c -q
  install -d -m 0700 -o "$(chroot "$root" id -u deploy)" -g "$(chroot "$root" id -g deploy)" "$root/home/deploy/.ssh"

  # Host keys are made per machine at creation; the ones the package generated go.
  rm -f "$root"/etc/ssh/ssh_host_*
  cat > "$root/etc/ssh/sshd_config.d/50-limen-lab.conf" <<'EOF'
# limen lab: key-only logins, one pinned ed25519 host key per machine.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
EOF
  chroot "$root" systemctl enable ssh.service >/dev/null 2>&1
  # Timers that would reach for the internet, and units that cannot work in a container.
  chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer \
    systemd-networkd-wait-online.service >/dev/null 2>&1
  chroot "$root" systemctl set-default multi-user.target >/dev/null 2>&1

  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

install_node() {
  local root="$1"
  install -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
  ln -sfn /usr/local/bin/node "$root/usr/bin/node"
  local missing
  missing="$(chroot "$root" ldd /usr/local/bin/node | grep 'not found' || true)"
  [[ -z $missing ]] || die "node needs libraries the image lacks: $missing"
  log "  node $(chroot "$root" /usr/local/bin/node --version) runs in the image"
}

build_frontend_app() {
  local app="$FIXTURES_DIR/limen-frontend" lock_sha stamp
  lock_sha="$(sha256sum "$app/package-lock.json" | cut -d' ' -f1)"
  stamp="$app/node_modules/.limen-lock-sha256"
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$lock_sha" ]]; then
    log "  npm ci in lab/fixtures/limen-frontend"
    (cd "$app" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$lock_sha" > "$stamp"
  fi
  [[ ! -e $app/.env.production ]] || die "$app/.env.production exists: it would be baked into the build; remove it"
  log "  next build"
  (cd "$app" && NEXT_TELEMETRY_DISABLED=1 ./node_modules/.bin/next build >/dev/null)
}

configure_frontend() {
  local root="$1"
  install_node "$root"
  npm install --global --prefix "$root/usr/local" --no-audit --no-fund --loglevel=error "pm2@$PM2_VERSION" >/dev/null
  local pm2_version
  pm2_version="$(chroot "$root" /usr/local/bin/node -p "require('/usr/local/lib/node_modules/pm2/package.json').version")"
  [[ $pm2_version == "$PM2_VERSION" && -x $root/usr/local/bin/pm2 ]] || die "pm2 $PM2_VERSION not installed (got $pm2_version)"
  log "  pm2 $pm2_version in /usr/local"

  chroot "$root" useradd --create-home --home-dir /home/limen --shell /bin/bash --user-group limen

  build_frontend_app
  install -d "$root/srv/limen-frontend" "$root/srv/darc-kr"
  # Everything `next start` needs; no build cache, never an env file.
  tar -C "$FIXTURES_DIR/limen-frontend" --exclude='./.next/cache' --exclude='./.env*' --exclude='./.gitignore' \
    -cf - ./package.json ./package-lock.json ./next.config.mjs ./proxy.js ./instrumentation.js ./app ./.next ./node_modules \
    | tar -C "$root/srv/limen-frontend" -xf -
  cp "$FIXTURES_DIR/darc-kr/server.js" "$FIXTURES_DIR/darc-kr/package.json" "$root/srv/darc-kr/"
  chroot "$root" chown -R limen:limen /srv/limen-frontend /srv/darc-kr

  install_docker "$root"
}

# apt-get in the image's chroot resolves Docker's dependencies against what base already holds. The
# mirror is reached from this machine's network (the host's resolv.conf bound in for the build only);
# the .debs stay in $CACHE_DIR/debs/apt, so a rebuild with a warm cache fetches only the index.
apt_in_image() {
  local root="$1" rc=0
  shift
  install -d "$CACHE_DIR/debs/apt"
  mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
  mount --bind "$CACHE_DIR/debs/apt" "$root/var/cache/apt/archives"
  # No service starts in a chroot: the machine's systemd starts them when it boots.
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  chroot "$root" env DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
  rm -f "$root/usr/sbin/policy-rc.d"
  umount "$root/var/cache/apt/archives" "$root/etc/resolv.conf"
  return "$rc"
}

install_docker() {
  local root="$1" t0 apt_log="$CACHE_DIR/docker-install.log"
  t0="$(now)"
  printf 'deb %s %s main\n' "$(debian_mirror)" "$SUITE" > "$root/etc/apt/sources.list"
  if ! { apt_in_image "$root" apt-get -qq update \
      && apt_in_image "$root" apt-get -qq install -y --no-install-recommends "${DOCKER_PACKAGES[@]}"; } > "$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "installing ${DOCKER_PACKAGES[*]} failed (log: $apt_log)"
  fi
  rm -rf "$root"/var/lib/apt/lists/*
  log "  $(chroot "$root" dockerd --version) ($(elapsed "$t0"))"

  install -d -m 0700 "$root/etc/docker"
  # The lab's dockerd must leave the machine's network as the stack set it: no bridge, no iptables or
  # nftables rules, no sysctl writes (/proc/sys is read-only in the machine). vfs: overlayfs cannot
  # stack on the machine's overlay root. Envoy runs with --network host, which needs none of these.
  # A relative cgroup parent: the machine sees the host's whole cgroup v1 trees, and the default
  # "/docker" would put containers beside the machine instead of inside the cgroups it runs in.
  cat > "$root/etc/docker/daemon.json" <<'EOF'
{
  "bridge": "none",
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "ip-masq": false,
  "cgroup-parent": "limen-lab-docker",
  "storage-driver": "vfs",
  "exec-opts": ["native.cgroupdriver=cgroupfs"]
}
EOF
  # systemd-nspawn hands the machine the cgroup v1 controllers read-only, so runc cannot make a
  # container's cgroups; a bind remount makes the machine's view writable (a plain remount says
  # "busy"). Lab-only: prod's frontend is not a container.
  cat > "$root/etc/systemd/system/limen-lab-cgroup-rw.service" <<'EOF'
[Unit]
Description=limen lab: cgroup v1 controllers writable for containerd and dockerd
DefaultDependencies=no
After=local-fs.target
Before=containerd.service docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -ec 'for c in cpuset cpu cpuacct memory pids blkio devices freezer; do \
  if mountpoint -q /sys/fs/cgroup/$c; then mount -o remount,bind,rw /sys/fs/cgroup/$c; fi; done'

[Install]
RequiredBy=containerd.service docker.service
EOF
  chroot "$root" systemctl enable limen-lab-cgroup-rw.service containerd.service docker.service docker.socket >/dev/null 2>&1
  # README, "Security": the deploy user reaches Docker (the Docker provider dials it over SSH); the
  # app user never does, since the docker group is root on the host.
  chroot "$root" usermod -aG docker deploy
  if chroot "$root" id -nG limen | tr ' ' '\n' | grep -qx docker; then die "limen must not be in the docker group"; fi
}

configure_backend() {
  local root="$1"
  install_node "$root"
  chroot "$root" useradd --system --no-create-home --shell /usr/sbin/nologin --user-group limen-fixture
  install -d "$root/opt/limen-fixtures"
  install -m 0644 "$FIXTURES_DIR/backend-api.js" "$FIXTURES_DIR/agent.js" "$root/opt/limen-fixtures/"
  printf '# Port of the agent fixture (limen-fixture-agent.service).\nPORT=9000\n' > "$root/etc/default/limen-fixture-agent"
  cat > "$root/etc/systemd/system/limen-fixture-api.service" <<'EOF'
[Unit]
Description=limen lab fixture: backend API (port 18443)
After=network.target

[Service]
User=limen-fixture
Environment=PORT=18443
ExecStart=/usr/local/bin/node /opt/limen-fixtures/backend-api.js
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
  cat > "$root/etc/systemd/system/limen-fixture-agent.service" <<'EOF'
[Unit]
Description=limen lab fixture: agent service (port from /etc/default/limen-fixture-agent)
After=network.target

[Service]
User=limen-fixture
Environment=PORT=9000
EnvironmentFile=-/etc/default/limen-fixture-agent
ExecStart=/usr/local/bin/node /opt/limen-fixtures/agent.js
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
  chroot "$root" systemctl enable limen-fixture-api.service limen-fixture-agent.service >/dev/null 2>&1
}

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
