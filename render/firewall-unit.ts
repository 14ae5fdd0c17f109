import { firewallPaths, firewallTableName } from "../core/host-paths";

/**
 * The systemd unit that loads the confirmed ruleset at boot, before the network comes up.
 *
 * `PartOf=nftables.service`: Debian's default /etc/nftables.conf starts with `flush ruleset`, so a
 * restart of nftables.service wipes every table; ours is loaded again right after it.
 *
 * Byte for byte the unit the host tool wrote before it was rendered here, so upgrading a deployed
 * stack leaves the installed unit untouched.
 */
export function renderFirewallUnit(): string {
    return [
        "[Unit]",
        `Description=limen-infra host firewall (nft table ${firewallTableName})`,
        "DefaultDependencies=no",
        "Wants=network-pre.target",
        "Before=network-pre.target shutdown.target",
        "After=nftables.service",
        "PartOf=nftables.service",
        "Conflicts=shutdown.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        `ExecStart=/usr/sbin/nft -f ${firewallPaths.bootRuleset}`,
        `ExecReload=/usr/sbin/nft -f ${firewallPaths.bootRuleset}`,
        "",
        "[Install]",
        "WantedBy=sysinit.target",
        "",
    ].join("\n");
}
