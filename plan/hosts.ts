/**
 * One plan per host: everything the stack owns there, derived from checked config alone.
 *
 * Pure: no Pulumi, no I/O beyond the templates the renderers read. The components register one
 * resource per artifact from it, `npm run verify` compares it with the hosts, and the unit tests read
 * it directly. Secret content (the env file when it holds secret values, a TLS key from config) is in
 * the plan in plain text with `secret: true`; the components wrap it as a Pulumi secret.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { LimenConfig } from "../config";
import { EnvFileSpec, renderEnvFile } from "../render/env-file";
import { renderRenewalHook } from "../render/acme-hook";
import { EnvoySpec, renderEnvoy, renderSdsSecret } from "../render/envoy";
import { FirewallSpec, renderFirewall } from "../render/firewall";
import { renderFirewallUnit } from "../render/firewall-unit";
import { Pm2Spec, renderEcosystem } from "../render/pm2";
import { CertificatePlan, certificateMount, certificatePlans, envoyTls } from "./certificates";
import { hostForUrl } from "./addresses";
import { acmePaths, envFileName, envoyGateDir, firewallPaths, firewallTableName, hostToolPath } from "./host-paths";
import { projectFile } from "./project-files";

export type HostRole = "frontend" | "backend";

export function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}

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

/** How a file's new content is judged on the host before it replaces the installed one. */
export type FileCheck = "none" | "nft" | "ecosystem" | "envoy";

/**
 * What the frontend checks before a file that points the apps at the backend changes (hostio/preflight.ts):
 * the API's health URL and the agent's address. Absent with limen:backend.skipPreflight.
 */
export interface BackendPreflight {
    /** `http://<BACKEND_HOST>:<BACKEND_PORT>/api/health`, as the runbook asks it. */
    healthUrl: string;
    agentHost: string;
    agentPort: number;
}

/** `http://<backend.internalAddress>:<apiPort>`, where the middleware must send every API request. */
export function backendOrigin(config: LimenConfig): string {
    return `http://${hostForUrl(config.backend.internalAddress)}:${config.backend.apiPort}`;
}

/** The backend API's health URL as the frontend (the middleware, the runbook, the preflight) asks it. */
export function backendHealthUrl(config: LimenConfig): string {
    return `${backendOrigin(config)}/api/health`;
}

export interface FilePlan {
    /** Frozen resource name suffix, e.g. `env-production`. */
    name: string;
    path: string;
    /** Octal mode, four digits (`0600`). */
    mode: string;
    /** `user:group`. */
    owner: string;
    check: FileCheck;
    /** Arguments of the check (envoy: the image and the certificate mounts). */
    checkArgs: string[];
    content: string;
    /** The content must stay a Pulumi secret: never in a log, a diff or plain state. */
    secret: boolean;
    /** Checked on the frontend before the file changes (the files that point the apps at the backend). */
    preflight?: BackendPreflight;
}

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

export interface Pm2AppPlan {
    name: string;
    /** The address and port the app must listen on, and nothing else. */
    host: string;
    port: number;
    instances: number;
}

export interface Pm2Plan {
    user: string;
    ecosystemPath: string;
    apps: Pm2AppPlan[];
    /** Names of the files whose content the running apps must have loaded: a change reloads them. */
    loadedFiles: string[];
    /** Their paths on the host. */
    loadedPaths: string[];
    /** The health gate after a reload (files/limen-host.sh, pm2-apply); absent when switched off. */
    gate?: AppsGatePlan;
}

/**
 * What the frontend checks after it reloaded the apps, each within `timeoutSeconds`: the design's
 * session check through the middleware (POST `sessionUrl` gives Set-Cookie, GET with it says
 * `{"valid":true}`) and the darc.kr site's page (`pageUrl` answers 200).
 */
export interface AppsGatePlan {
    timeoutSeconds: number;
    sessionUrl: string;
    pageUrl: string;
}

function appsGate(config: LimenConfig): AppsGatePlan | undefined {
    if (!config.apps.healthGate.enabled) return undefined;
    const origin = (app: { host: string; port: number }) => `http://${hostForUrl(app.host)}:${app.port}`;
    return {
        timeoutSeconds: config.apps.healthGate.timeoutSeconds,
        sessionUrl: `${origin(config.apps.limenFrontend)}/api/auth/session`,
        pageUrl: `${origin(config.apps.darc)}/`,
    };
}

export interface EnvoyPlan {
    image: string;
    spec: EnvoySpec;
    /** Host directories mounted read-only into the container (config and certificates). */
    certificateMounts: string[];
    /** The rendered bootstrap, and its hash (which the container's label carries). */
    bootstrap: string;
    configSha256: string;
    /** The container Docker runs (the Docker provider in the stack, the same spec in the lab's Ansible peer). */
    container: EnvoyContainerPlan;
    /** The front door's gate after the container is replaced (files/limen-host.sh, envoy-gate). */
    gate: EnvoyGatePlan;
}

/**
 * After Envoy's container is replaced: an https request on the host to 127.0.0.1:`httpsPort` with each
 * of `serverNames` (one per site, as SNI and Host) must get the site's answer within `timeoutSeconds`,
 * or the config that last passed comes back. 30 s: the container's start (the lab's stand-in answers
 * in under a second, Envoy itself in about as much) plus the apps' first answer, with room to spare.
 */
export interface EnvoyGatePlan {
    markerDir: string;
    httpsPort: number;
    serverNames: string[];
    timeoutSeconds: number;
}

/** Envoy's container: on the host network, the bootstrap and the certificate directories mounted read-only. */
export interface EnvoyContainerPlan {
    name: string;
    command: string[];
    envs: string[];
    mounts: { source: string; target: string }[];
    /** The label that carries the bootstrap's hash, so a changed config replaces the container. */
    configLabel: { label: string; value: string };
}

export interface HostToolPlan {
    path: string;
    content: string;
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

const hostToolScript = readFileSync(projectFile("files", "limen-host.sh"), "utf8");

export function hostToolPlan(): HostToolPlan {
    return { path: hostToolPath, content: hostToolScript, sha256: sha256(hostToolScript) };
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
            config.envoy.adminPort,
            // certbot's HTTP-01 responder binds 127.0.0.1; Envoy forwards the challenges to it.
            ...(config.tls.source === "acme" ? [config.tls.responderPort] : []),
        ],
    };
}

export function envoySpec(config: LimenConfig): EnvoySpec {
    return {
        httpPort: config.envoy.httpPort,
        httpsPort: config.envoy.httpsPort,
        adminPort: config.envoy.adminPort,
        limenDomains: config.domains.limen,
        darcDomains: config.domains.darc,
        nextjs: { host: config.apps.limenFrontend.host, port: config.apps.limenFrontend.port },
        darc: { host: config.apps.darc.host, port: config.apps.darc.port },
        backend: { address: config.backend.internalAddress, port: config.backend.apiPort },
        backendRoutePrefixes: config.envoy.backendRoutePrefixes,
        tls: envoyTls(config),
        ...(config.tls.source === "acme" ? { acmeChallenge: { address: acmePaths.responderAddress, port: config.tls.responderPort } } : {}),
    };
}

export function pm2Spec(config: LimenConfig): Pm2Spec {
    return { apps: [config.apps.limenFrontend, config.apps.darc], instances: config.apps.instances, restart: config.apps.restart };
}

export function envFileSpec(config: LimenConfig): EnvFileSpec {
    return {
        backendHost: config.backend.internalAddress,
        backendPort: config.backend.apiPort,
        agentHost: config.backend.agentAddress,
        agentPort: config.backend.agentPort,
        extra: { ...config.apps.extraEnv, ...config.envProductionSecrets },
    };
}

function firewallPlan(spec: FirewallSpec, config: LimenConfig): FirewallPlan {
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

/** The frontend's files, in the order they are installed. */
function frontendFiles(config: LimenConfig, envoy: EnvoyPlan | undefined, certificates: CertificatePlan[]): FilePlan[] {
    const appUser = `${config.apps.user}:${config.apps.user}`;
    const preflight: BackendPreflight | undefined = config.backend.skipPreflight
        ? undefined
        : { healthUrl: backendHealthUrl(config), agentHost: config.backend.agentAddress, agentPort: config.backend.agentPort };
    const files: FilePlan[] = [
        {
            name: "ecosystem",
            path: config.apps.ecosystemPath,
            mode: "0644",
            owner: "root:root",
            check: "ecosystem",
            checkArgs: [],
            content: renderEcosystem(pm2Spec(config)),
            secret: false,
            ...(preflight ? { preflight } : {}),
        },
        {
            // 0600 and owned by the app user: the file may hold secrets and nobody else needs to read it.
            name: "env-production",
            path: path.posix.join(config.apps.limenFrontend.cwd, envFileName),
            mode: "0600",
            owner: appUser,
            check: "none",
            checkArgs: [],
            content: renderEnvFile(envFileSpec(config)),
            secret: Object.keys(config.envProductionSecrets).length > 0,
            ...(preflight ? { preflight } : {}),
        },
    ];
    const issued = certificates.filter((certificate) => certificate.acme);
    if (issued.length > 0) {
        files.push({
            name: "acme-renewal-hook",
            path: acmePaths.renewalHook,
            mode: "0755",
            owner: "root:root",
            check: "none",
            checkArgs: [],
            content: renderRenewalHook({
                hostTool: hostToolPath,
                certificates: issued.map((certificate) => ({ lineageDir: certificate.acme!.lineageDir, publishDir: certificate.acme!.publishDir, domains: certificate.domains })),
            }),
            secret: false,
        });
    }
    if (envoy) {
        if (config.tls.source === "config") {
            const [pair] = certificates;
            files.push(
                {
                    name: "tls-certificate",
                    path: pair!.chainPath,
                    mode: "0644",
                    owner: "root:root",
                    check: "none",
                    checkArgs: [],
                    content: config.tls.certificateChain,
                    secret: false,
                },
                { name: "tls-private-key", path: pair!.keyPath, mode: "0600", owner: "root:root", check: "none", checkArgs: [], content: config.tlsPrivateKey ?? "", secret: true },
            );
        }
        for (const certificate of issued) {
            files.push({
                name: `tls-sds-${certificate.name}`,
                path: certificate.sdsPath!,
                mode: "0644",
                owner: "root:root",
                check: "none",
                checkArgs: [],
                content: renderSdsSecret({
                    name: certificate.name,
                    certificateChainPath: certificate.chainPath,
                    privateKeyPath: certificate.keyPath,
                    watchedDirectory: certificate.acme!.publishDir,
                }),
                secret: false,
            });
        }
        files.push({
            name: "envoy-config",
            path: config.envoy.configPath,
            mode: "0644",
            owner: "root:root",
            check: "envoy",
            checkArgs: ["--envoy-image", envoy.image, ...envoy.certificateMounts.flatMap((dir) => ["--mount", dir])],
            content: envoy.bootstrap,
            secret: false,
        });
    }
    return files;
}

/** Checked config → what the stack puts on each host. */
export function planStack(config: LimenConfig): StackPlan {
    const hostTool = hostToolPlan();
    let envoy: EnvoyPlan | undefined;
    const certificates = certificatePlans(config);
    if (config.envoy.enabled) {
        const spec = envoySpec(config);
        const certificateMounts =
            spec.tls.mode === "files"
                ? [...new Set([spec.tls.certificateChainPath, spec.tls.privateKeyPath].map(certificateMount))]
                : // The SDS files and the published pairs; certbot's own directory stays out of Envoy's sight.
                  [acmePaths.sdsDir, acmePaths.publishDir];
        const bootstrap = renderEnvoy(spec);
        const configSha256 = sha256(bootstrap);
        envoy = {
            image: config.envoy.image,
            spec,
            certificateMounts,
            bootstrap,
            configSha256,
            container: {
                name: "limen-envoy",
                command: ["envoy", "-c", "/etc/envoy/envoy.yaml", "--drain-time-s", "20"],
                // Envoy must read root-only private keys; it runs as root inside a container that sees
                // only the read-only config and certificate mounts.
                envs: ["ENVOY_UID=0"],
                mounts: [{ source: config.envoy.configPath, target: "/etc/envoy/envoy.yaml" }, ...certificateMounts.map((dir) => ({ source: dir, target: dir }))],
                configLabel: { label: "limen.envoy.config-sha256", value: configSha256 },
            },
            gate: {
                markerDir: envoyGateDir,
                httpsPort: spec.httpsPort,
                serverNames: [spec.limenDomains[0], spec.darcDomains[0]].filter((name): name is string => name !== undefined),
                timeoutSeconds: 30,
            },
        };
    }
    const files = frontendFiles(config, envoy, certificates);
    const loadedFiles = ["ecosystem", "env-production"];
    return {
        frontend: {
            role: "frontend",
            ssh: sshEndpoint(config, "frontend"),
            hostTool,
            firewall: firewallPlan(frontendFirewallSpec(config), config),
            files,
            pm2: {
                user: config.apps.user,
                ecosystemPath: config.apps.ecosystemPath,
                apps: [config.apps.limenFrontend, config.apps.darc].map((app) => ({ name: app.name, host: app.host, port: app.port, instances: config.apps.instances })),
                loadedFiles,
                loadedPaths: files.filter((file) => loadedFiles.includes(file.name)).map((file) => file.path),
                ...(appsGate(config) ? { gate: appsGate(config) } : {}),
            },
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
