import * as pulumi from "@pulumi/pulumi";
import { EnvFileSpec } from "../render/env-file";
import { EnvoySpec } from "../render/envoy";
import { FirewallSpec } from "../render/firewall";
import { Pm2Spec } from "../render/pm2";
import { configNamespace, LimenConfig, parseConfig } from "./config";
import { EnvoyProxy, envoyTlsDir } from "./envoy";
import { HostFirewall } from "./firewall";
import { FrontendApps } from "./frontend-apps";
import { RemoteHost } from "./host";

/**
 * Whether Pulumi holds a config value as a secret. The SDK keeps this check internal
 * (runtime/config.js `isConfigSecret`); test/components.test.ts pins that it still answers.
 */
export function isConfigSecret(fullKey: string): boolean {
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (key: string) => boolean };
    if (typeof runtimeConfig.isConfigSecret !== "function") throw new Error("@pulumi/pulumi no longer exposes runtime isConfigSecret");
    return runtimeConfig.isConfigSecret(fullKey);
}

/** Reads and checks the whole `limen:` config once; throws before any resource exists. */
export function loadStackConfig(): LimenConfig {
    return parseConfig(pulumi.runtime.allConfig(), isConfigSecret);
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
        localOnlyTcpPorts: [config.apps.limenFrontend.port, config.apps.darc.port, config.envoy.adminPort],
    };
}

export function tlsPaths(config: LimenConfig): EnvoySpec["tls"] {
    return config.tls.source === "host-files"
        ? { certificateChainPath: config.tls.certificateChainPath, privateKeyPath: config.tls.privateKeyPath }
        : { certificateChainPath: `${envoyTlsDir}/fullchain.pem`, privateKeyPath: `${envoyTlsDir}/privkey.pem` };
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
        tls: tlsPaths(config),
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
        extra: config.apps.extraEnv,
    };
}

export interface LimenStack {
    frontend: RemoteHost;
    backend: RemoteHost;
    frontendFirewall: HostFirewall;
    backendFirewall: HostFirewall;
    apps: FrontendApps;
    envoy: EnvoyProxy | undefined;
}

/** Registers every resource of the stack from checked config. */
export function createLimenStack(config: LimenConfig): LimenStack {
    const privateKey = pulumi.secret(config.sshPrivateKey);
    const hostArgs = (address: string, hostKey: string) => ({
        address,
        hostKey,
        port: config.ssh.port,
        user: config.ssh.user,
        privateKey,
        connectAttempts: config.ssh.connectAttempts,
        connectTimeoutSeconds: config.ssh.connectTimeoutSeconds,
    });
    const frontend = new RemoteHost("frontend", hostArgs(config.frontend.address, config.frontend.hostKey));
    const backend = new RemoteHost("backend", hostArgs(config.backend.address, config.backend.hostKey));

    const confirmWithinSeconds = config.ssh.firewallConfirmSeconds;
    const backendFirewall = new HostFirewall("backend-firewall", { host: backend, spec: backendFirewallSpec(config), confirmWithinSeconds });
    const frontendFirewall = new HostFirewall("frontend-firewall", { host: frontend, spec: frontendFirewallSpec(config), confirmWithinSeconds });

    const secretEnvKeys = Object.keys(config.envProductionSecrets);
    const apps = new FrontendApps("frontend-apps", {
        host: frontend,
        user: config.apps.user,
        ecosystemPath: config.apps.ecosystemPath,
        pm2: pm2Spec(config),
        limenFrontendCwd: config.apps.limenFrontend.cwd,
        env: envFileSpec(config),
        secretEnv: secretEnvKeys.length > 0 ? pulumi.secret(config.envProductionSecrets) : undefined,
        // The host is locked down before anything new listens on it.
        after: [frontendFirewall.confirmed],
    });

    const envoy = config.envoy.enabled
        ? new EnvoyProxy(
              "frontend-envoy",
              {
                  host: frontend,
                  ssh: { user: config.ssh.user, port: config.ssh.port, hostKey: config.frontend.hostKey, privateKey },
                  image: config.envoy.image,
                  configPath: config.envoy.configPath,
                  spec: envoySpec(config),
                  tlsFromConfig:
                      config.tls.source === "config"
                          ? { certificateChain: config.tls.certificateChain, privateKey: pulumi.secret(config.tlsPrivateKey ?? "") }
                          : undefined,
                  // The firewall opens 80/443 before Envoy listens on them.
                  after: [frontendFirewall.confirmed],
              },
          )
        : undefined;

    return { frontend, backend, frontendFirewall, backendFirewall, apps, envoy };
}

export { configNamespace };
