/**
 * The firewall's plan per host: the nft ruleset rendered from the config (what each host opens, to
 * whom), the unit that loads it at boot, where the host tool keeps them, and how long a new ruleset
 * has to be confirmed over a new SSH connection before the host reverts it.
 */
import type { LimenConfig } from "../config";
import { FirewallSpec, renderFirewall } from "../render/firewall";
import { renderFirewallUnit } from "../render/firewall-unit";
import { firewallPaths, firewallTableName } from "../core/host-paths";
import { sha256 } from "../core/sha256";

/** Where the firewall's host tool subcommands and probe find what they manage. */
export interface FirewallLocations {
    /** `inet limen_firewall`. */
    table: string;
    /** The confirmed ruleset, loaded at boot. */
    bootRuleset: string;
    /** The saved previous table and the revert log. */
    stateDir: string;
    /** The pending ruleset's hash while a revert is armed. */
    marker: string;
    /** The unit that loads the boot ruleset. */
    unitName: string;
    unitPath: string;
    /** The transient timer that reverts an unconfirmed change. */
    revertUnit: string;
}

export interface FirewallPlan {
    locations: FirewallLocations;
    ruleset: string;
    rulesetSha256: string;
    /** The unit that loads the boot ruleset (`locations.unitName`), as installed. */
    bootUnit: { content: string; sha256: string };
    /** Seconds a new ruleset has to be confirmed over a new SSH connection. */
    confirmWithinSeconds: number;
}

export function backendFirewallSpec(config: LimenConfig): FirewallSpec {
    return {
        host: "backend",
        sshPort: config.ssh.port,
        adminNetworks: config.ssh.adminNetworks,
        publicTcpPorts: config.backend.publicApiPorts,
        internalTcpPorts: [config.backend.apiPort, config.backend.agentPort],
        internalClients: config.backend.internalClients,
        localOnlyTcpPorts: [],
    };
}

export function frontendFirewallSpec(config: LimenConfig): FirewallSpec {
    return {
        host: "frontend",
        sshPort: config.ssh.port,
        adminNetworks: config.ssh.adminNetworks,
        publicTcpPorts: config.envoy.enabled ? [config.envoy.httpPort, config.envoy.httpsPort] : [],
        internalTcpPorts: [],
        internalClients: [],
        // Bound to 127.0.0.1 already; the firewall makes a wrong bind harmless too.
        localOnlyTcpPorts: [
            config.apps.limenFrontend.port,
            config.apps.darc.port,
            // certbot's HTTP-01 responder binds 127.0.0.1; Envoy forwards the challenges to it.
            ...(config.tls.source === "acme" ? [config.tls.responderPort] : []),
        ],
    };
}

export function firewallPlan(spec: FirewallSpec, config: LimenConfig): FirewallPlan {
    const ruleset = renderFirewall(spec);
    const unit = renderFirewallUnit();
    return {
        locations: {
            table: firewallTableName,
            bootRuleset: firewallPaths.bootRuleset,
            stateDir: firewallPaths.stateDir,
            marker: firewallPaths.pendingMarker,
            unitName: firewallPaths.bootUnitName,
            unitPath: firewallPaths.bootUnitPath,
            revertUnit: firewallPaths.revertUnitName,
        },
        ruleset,
        rulesetSha256: sha256(ruleset),
        bootUnit: { content: unit, sha256: sha256(unit) },
        confirmWithinSeconds: config.ssh.firewallConfirmSeconds,
    };
}
