# What goes into the lab's images and the steps that shape them (base, frontend, backend), sourced by
# build-image.sh, which keys its cache on these settings and on the steps' text (`declare -f`), so a
# changed package, version or step builds a new image. Sourced, never run; lib.sh is sourced first.
# shellcheck shell=bash

SUITE=bookworm
PM2_VERSION=7.0.4
# Debian's own Docker, as on prod's frontend; only the frontend layer has it, so backend and outsider
# run no dockerd at all.
DOCKER_PACKAGES=(docker.io containerd runc)
# The Node the project runs on (22 LTS): the apps in the lab run on the Node prod runs them on.
NODE_BIN="$(bash "$(dirname "${BASH_SOURCE[0]}")/../../tools/node/node22.sh")/node"
# shellcheck disable=SC2034 # build-image.sh's build_base installs them with debootstrap
PACKAGES=(
  systemd systemd-sysv dbus libpam-systemd
  openssh-server openssh-client sudo
  nftables iproute2 curl netcat-openbsd iputils-ping ca-certificates procps less
  # The stack manages TLS certificates with Debian's certbot; the lab machines have no route to a
  # mirror, so it is in the image. openssl: the certificate tests read dates and chains on the machines.
  # python3-cffi-backend by name: python3-cryptography depends on it only through the virtual
  # python3-cffi-backend-api-{min,max}, which debootstrap's resolver does not follow.
  certbot openssl python3-cffi-backend
  # The stack rotates pm2's logs with Debian's logrotate (standard on a full Debian install).
  logrotate
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
  # docs/security.md: the deploy user reaches Docker (the Docker provider dials it over SSH); the
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
