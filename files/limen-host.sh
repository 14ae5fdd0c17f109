#!/bin/bash
# limen-host: the few privileged steps the limen-infra stack takes on a host, run through sudo.
#
# Installed by the stack's readiness gate at /usr/local/libexec/limen/limen-host. Each subcommand is
# idempotent (the engine re-runs commands after a failed update) and leaves a working host behind
# when it fails: files are written to a temporary path beside their target, validated there and
# renamed into place, so a reader sees the old file or the new one, never half of one.
set -euo pipefail
umask 077

readonly firewall_table="inet limen_firewall"
readonly firewall_ruleset=/etc/limen/firewall/limen.nft
readonly firewall_unit=/etc/systemd/system/limen-firewall.service
readonly pm2_marker_dir=/var/lib/limen/pm2

die() { echo "limen-host: $*" >&2; exit 1; }

# A temporary file not yet renamed into place; removed however the script ends.
pending_tmp=""
trap 'rm -f -- "$pending_tmp"' EXIT

# Extra read-only mounts and the image for `--check envoy` (the certificate directories).
envoy_image=""
envoy_mounts=()

# install_file PATH MODE OWNER CHECK: stdin → PATH, validated by CHECK before the rename.
install_file() {
    local path=$1 mode=$2 owner=$3 check=$4
    local dir tmp
    dir=$(dirname "$path")
    install -d -m 0755 "$dir"
    # Same directory (the rename is atomic), same extension (validators such as node go by it).
    tmp=$(mktemp "$dir/.limen-XXXXXX.$(basename "$path")")
    pending_tmp=$tmp
    cat >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    case "$check" in
        none) ;;
        nft) nft -c -f "$tmp" || die "$path: nft rejected the new ruleset; the installed one is unchanged" ;;
        node) node -e 'if (!Array.isArray(require(process.argv[1]).apps)) throw new Error("no apps array")' "$tmp" ||
            die "$path: node cannot load the new ecosystem file; the installed one is unchanged" ;;
        envoy) validate_envoy "$tmp" || die "$path: envoy --mode validate rejected the new config; the installed one is unchanged" ;;
        *) die "unknown check '$check'" ;;
    esac
    if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c '%a %U:%G' "$path")" = "$(stat -c '%a %U:%G' "$tmp")" ]; then
        rm -f -- "$tmp"
        pending_tmp=""
        echo "unchanged $path"
        return 0
    fi
    sync "$tmp"
    mv -f "$tmp" "$path"
    pending_tmp=""
    echo "installed $path"
}

# validate_envoy FILE: the pinned image judges the file, with the same read-only mounts as the proxy.
validate_envoy() {
    local file=$1 mount
    local args=(--rm --network none -e ENVOY_UID=0 -v "$file:/etc/envoy/envoy.yaml:ro")
    [ -n "$envoy_image" ] || die "--check envoy needs --envoy-image"
    for mount in "${envoy_mounts[@]}"; do args+=(-v "$mount:$mount:ro"); done
    docker run "${args[@]}" "$envoy_image" envoy --mode validate -c /etc/envoy/envoy.yaml
}

cmd_check_ready() {
    [ -d /run/systemd/system ] || die "systemd is not running on this host"
    command -v nft >/dev/null || die "nft is missing: install Debian's nftables package"
    echo "ready $(hostname)"
}

cmd_install_file() {
    local path="" mode=0644 owner=root:root check=none
    while [ $# -gt 0 ]; do
        case "$1" in
            --path) path=$2; shift 2 ;;
            --mode) mode=$2; shift 2 ;;
            --owner) owner=$2; shift 2 ;;
            --check) check=$2; shift 2 ;;
            --envoy-image) envoy_image=$2; shift 2 ;;
            --mount) envoy_mounts+=("$2"); shift 2 ;;
            *) die "install-file: unknown argument $1" ;;
        esac
    done
    [ -n "$path" ] || die "install-file: --path is required"
    install_file "$path" "$mode" "$owner" "$check"
}

cmd_remove_file() {
    [ "${1:-}" = --path ] && [ -n "${2:-}" ] || die "remove-file: --path PATH"
    rm -f -- "$2"
    # Directories the stack created under /etc/limen go too, once empty; nothing else is touched.
    case "$2" in
        /etc/limen/*) rmdir -p --ignore-fail-on-non-empty "$(dirname "$2")" 2>/dev/null || true ;;
    esac
    echo "removed $2"
}

# Firewall changes follow iptables-apply / deploy-rs's "magic rollback": apply-firewall saves a
# self-contained copy of the live table, arms a systemd timer that restores it, and applies the new
# ruleset in one `nft -f` transaction (other tables are never flushed). Only confirm-firewall, run
# over a NEW SSH connection (the established one survives any ruleset through conntrack), disarms
# the timer and makes the new ruleset the one loaded at boot. No confirmation in time: the host
# restores the previous ruleset by itself.
readonly firewall_pending=/etc/limen/firewall/limen.nft.pending
readonly firewall_state=/var/lib/limen/firewall
readonly firewall_marker=/run/limen/firewall-pending.sha256
readonly revert_unit=limen-firewall-revert

write_boot_unit() {
    install_file "$firewall_unit" 0644 root:root none <<UNIT
[Unit]
Description=limen-infra host firewall (nft table $firewall_table)
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=nftables.service
PartOf=nftables.service
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f $firewall_ruleset
ExecReload=/usr/sbin/nft -f $firewall_ruleset

[Install]
WantedBy=sysinit.target
UNIT
}

disarm_revert() {
    systemctl stop "$revert_unit.timer" "$revert_unit.service" >/dev/null 2>&1 || true
    systemctl reset-failed "$revert_unit.timer" "$revert_unit.service" >/dev/null 2>&1 || true
}

cmd_apply_firewall() {
    [ "${1:-}" = --confirm-within ] && [ -n "${2:-}" ] || die "apply-firewall: --confirm-within SECONDS"
    local within=$2 sha
    install_file "$firewall_pending" 0600 root:root nft
    install -d -m 0700 "$firewall_state" /run/limen
    disarm_revert
    # The previous table as a file that restores it whatever is loaded by then (or removes the
    # table, when there was none before).
    {
        echo "table $firewall_table"
        echo "delete table $firewall_table"
        nft list table $firewall_table 2>/dev/null || true
    } >"$firewall_state/previous.nft.tmp"
    nft -c -f "$firewall_state/previous.nft.tmp" || die "cannot save the live table for the revert; nothing was changed"
    mv -f "$firewall_state/previous.nft.tmp" "$firewall_state/previous.nft"
    sha=$(sha256sum "$firewall_pending" | cut -d' ' -f1)
    echo "$sha" >"$firewall_marker"
    systemd-run --quiet --unit="$revert_unit" --on-active="${within}s" --timer-property=AccuracySec=1s \
        "$(readlink -f "$0")" revert-firewall
    nft -f "$firewall_pending"
    echo "applied table $firewall_table ($sha); the host restores the previous ruleset at $(date -u -d "+$within seconds" +%H:%M:%SZ) unless a new SSH connection confirms it"
}

cmd_revert_firewall() {
    nft -f "$firewall_state/previous.nft"
    rm -f "$firewall_marker" "$firewall_pending"
    echo "$(date -u +%FT%TZ) restored the previous ruleset: no new SSH connection confirmed the change" >>"$firewall_state/reverts.log"
    echo "limen-host: firewall change not confirmed in time; previous ruleset restored"
}

cmd_confirm_firewall() {
    [ "${1:-}" = --sha256 ] && [ -n "${2:-}" ] || die "confirm-firewall: --sha256 HASH"
    # Stop the timer first: from here on the revert cannot fire halfway through the confirmation.
    disarm_revert
    if [ ! -f "$firewall_marker" ]; then
        [ -f "$firewall_ruleset" ] && [ "$(sha256sum "$firewall_ruleset" | cut -d' ' -f1)" = "$2" ] && { echo "already confirmed $2"; return 0; }
        die "the host restored its previous firewall by itself: the new ruleset was not confirmed over a new SSH connection in time (it probably cut SSH from where pulumi runs; see $firewall_state/reverts.log)"
    fi
    [ "$(cat "$firewall_marker")" = "$2" ] || die "the pending ruleset ($(cat "$firewall_marker")) is not the one this deployment applied ($2)"
    mv -f "$firewall_pending" "$firewall_ruleset"
    rm -f "$firewall_marker"
    write_boot_unit
    systemctl daemon-reload
    systemctl enable --quiet limen-firewall.service
    echo "confirmed table $firewall_table ($2) over a new SSH connection; loaded at boot from $firewall_ruleset"
}

cmd_remove_firewall() {
    disarm_revert
    systemctl disable --quiet limen-firewall.service 2>/dev/null || true
    rm -f "$firewall_unit" "$firewall_ruleset" "$firewall_pending" "$firewall_marker"
    rm -rf "$firewall_state"
    rmdir -p --ignore-fail-on-non-empty "$(dirname "$firewall_ruleset")" 2>/dev/null || true
    systemctl daemon-reload
    if nft list table $firewall_table >/dev/null 2>&1; then
        nft delete table $firewall_table
    fi
    echo "removed table $firewall_table"
}

# pm2 runs as the apps' user; `pm2 startup` gives it a systemd unit that resurrects the saved
# process list at boot, and `pm2 save` after every change keeps that list current.
pm2_as() {
    local user=$1; shift
    local home
    home=$(getent passwd "$user" | cut -d: -f6)
    [ -n "$home" ] || die "user $user does not exist"
    sudo -u "$user" -H env "PM2_HOME=$home/.pm2" pm2 "$@"
}

wait_online() {
    local user=$1 apps=$2 deadline=$((SECONDS + 60)) app status
    for app in ${apps//,/ }; do
        while :; do
            status=$(pm2_as "$user" jlist | node -e '
                const name = process.argv[1];
                const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
                const procs = list.filter((p) => p.name === name);
                process.stdout.write(procs.length && procs.every((p) => p.pm2_env.status === "online") ? "online" : "waiting");
            ' "$app")
            [ "$status" = online ] && break
            [ $SECONDS -lt $deadline ] || die "pm2 app $app is not online after 60 s; see: sudo -u $user pm2 logs $app"
            sleep 1
        done
    done
}

cmd_pm2_enable() {
    [ "${1:-}" = --user ] && [ -n "${2:-}" ] || die "pm2-enable: --user USER"
    local user=$2 home
    command -v pm2 >/dev/null || die "pm2 is not installed on this host"
    home=$(getent passwd "$user" | cut -d: -f6)
    [ -n "$home" ] || die "user $user does not exist"
    if [ ! -f "/etc/systemd/system/pm2-$user.service" ]; then
        env PATH="$PATH" pm2 startup systemd -u "$user" --hp "$home" >/dev/null
        install -d -m 0755 "$pm2_marker_dir"
        touch "$pm2_marker_dir/startup-$user"
    fi
    # The daemon belongs under its unit, not under an SSH session: starting the unit (it resurrects
    # the saved list) makes the daemon outlive the session and come back after a reboot.
    systemctl start "pm2-$user.service"
    echo "pm2 enabled for $user"
}

cmd_pm2_apply() {
    local user="" ecosystem="" apps=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --user) user=$2; shift 2 ;;
            --ecosystem) ecosystem=$2; shift 2 ;;
            --apps) apps=$2; shift 2 ;;
            *) die "pm2-apply: unknown argument $1" ;;
        esac
    done
    command -v pm2 >/dev/null || die "pm2 is not installed on this host"
    pm2_as "$user" startOrReload "$ecosystem" --update-env >/dev/null
    wait_online "$user" "$apps"
    pm2_as "$user" save --force >/dev/null
    echo "pm2 apps online: $apps"
}

cmd_pm2_remove() {
    local user="" apps=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --user) user=$2; shift 2 ;;
            --apps) apps=$2; shift 2 ;;
            *) die "pm2-remove: unknown argument $1" ;;
        esac
    done
    if command -v pm2 >/dev/null && getent passwd "$user" >/dev/null; then
        for app in ${apps//,/ }; do
            pm2_as "$user" delete "$app" >/dev/null 2>&1 || true
        done
        pm2_as "$user" save --force >/dev/null
        if [ -f "$pm2_marker_dir/startup-$user" ]; then
            env PATH="$PATH" pm2 unstartup systemd -u "$user" >/dev/null 2>&1 || true
            rm -f "$pm2_marker_dir/startup-$user"
        fi
    fi
    echo "pm2 apps removed: $apps"
}

main() {
    local sub=${1:-}
    shift || true
    case "$sub" in
        check-ready) cmd_check_ready "$@" ;;
        install-file) cmd_install_file "$@" ;;
        remove-file) cmd_remove_file "$@" ;;
        apply-firewall) cmd_apply_firewall "$@" ;;
        confirm-firewall) cmd_confirm_firewall "$@" ;;
        revert-firewall) cmd_revert_firewall "$@" ;;
        remove-firewall) cmd_remove_firewall "$@" ;;
        pm2-enable) cmd_pm2_enable "$@" ;;
        pm2-apply) cmd_pm2_apply "$@" ;;
        pm2-remove) cmd_pm2_remove "$@" ;;
        *) die "usage: limen-host check-ready|install-file|remove-file|apply-firewall|confirm-firewall|revert-firewall|remove-firewall|pm2-enable|pm2-apply|pm2-remove" ;;
    esac
}

main "$@"
