/**
 * One plan per host: everything the stack owns there, derived from checked config alone.
 *
 * Pure: no Pulumi, no I/O beyond the templates the renderers read. The components register one
 * resource per artifact from it, `npm run verify` compares it with the hosts, and the unit tests read
 * it directly. Secret content (the env file when it holds secret values, a TLS key from config) is in
 * the plan in plain text with `secret: true`; the components wrap it as a Pulumi secret.
 *
 * This holds the hosts' plans as a whole, how the stack reaches each host and the host tool; each kind
 * of artifact is planned in its own module: the firewall (firewall.ts), the files (files.ts), the pm2
 * apps (pm2.ts), Envoy (envoy.ts) and the certificates (certificates.ts).
 */
import type { LimenConfig } from "../config";
import { CertificatePlan, certificatePlans } from "./certificates";
import { EnvoyPlan, envoyPlan } from "./envoy";
import { FilePlan, frontendFiles } from "./files";
import { backendFirewallSpec, FirewallPlan, firewallPlan, frontendFirewallSpec } from "./firewall";
import { hostToolPath } from "../core/host-paths";
import { hostToolSha256 } from "../core/host-tool-release";
import { Pm2Plan, pm2Plan } from "./pm2";

export type HostRole = "frontend" | "backend";

/** How the stack reaches a host: pinned host key, non-root user. The private key is not in the plan. */
export interface SshEndpoint {
    role: HostRole;
    address: string;
    port: number;
    user: string;
    /** Pinned `ssh-ed25519 AAAA...` line. */
    hostKey: string;
    connectAttempts: number;
    connectTimeoutSeconds: number;
}

/** The host tool: where it is installed, and the sha256 of the planned binary (core/host-tool-release.ts). */
export interface HostToolPlan {
    path: string;
    sha256: string;
}

export interface HostPlan {
    role: HostRole;
    ssh: SshEndpoint;
    hostTool: HostToolPlan;
    firewall: FirewallPlan;
    /** Files in install order. */
    files: FilePlan[];
    pm2: Pm2Plan | undefined;
    envoy: EnvoyPlan | undefined;
    /**
     * The certificates served for limen:domains: issued by the stack with the acme source (even with
     * Envoy off), otherwise the pair Envoy is given (Envoy enabled only). verify reads each of them.
     */
    certificates: CertificatePlan[];
}

export interface StackPlan {
    frontend: HostPlan;
    backend: HostPlan;
}

export function hostToolPlan(): HostToolPlan {
    return { path: hostToolPath, sha256: hostToolSha256 };
}

function sshEndpoint(config: LimenConfig, role: HostRole): SshEndpoint {
    const host = role === "frontend" ? config.frontend : config.backend;
    return {
        role,
        address: host.address,
        port: config.ssh.port,
        user: config.ssh.user,
        hostKey: host.hostKey,
        connectAttempts: config.ssh.connectAttempts,
        connectTimeoutSeconds: config.ssh.connectTimeoutSeconds,
    };
}

/** Checked config → what the stack puts on each host. */
export function planStack(config: LimenConfig): StackPlan {
    const hostTool = hostToolPlan();
    const certificates = certificatePlans(config);
    const envoy = config.envoy.enabled ? envoyPlan(config) : undefined;
    const files = frontendFiles(config, envoy, certificates);
    return {
        frontend: {
            role: "frontend",
            ssh: sshEndpoint(config, "frontend"),
            hostTool,
            firewall: firewallPlan(frontendFirewallSpec(config), config),
            files,
            pm2: pm2Plan(config, files),
            envoy,
            certificates: config.tls.source === "acme" || envoy ? certificates : [],
        },
        backend: {
            role: "backend",
            ssh: sshEndpoint(config, "backend"),
            hostTool,
            firewall: firewallPlan(backendFirewallSpec(config), config),
            files: [],
            pm2: undefined,
            envoy: undefined,
            certificates: [],
        },
    };
}
