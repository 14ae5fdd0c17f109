import * as pulumi from "./sdk";
import { hostForUrl } from "../core/addresses";
import { planStack, StackPlan } from "../plan/hosts";
import { configNamespace, LimenConfig, parseConfig } from "../config";
import { FrontendCertificates } from "./certificates";
import { EnvoyProxy } from "./envoy";
import { HostFirewall } from "./firewall";
import { FrontendApps } from "./frontend-apps";
import { RemoteHost } from "./host";

/**
 * Whether Pulumi holds a config value as a secret. The SDK keeps this check internal
 * (runtime/config.js `isConfigSecret`); test/components/stack.test.ts pins that it still answers.
 */
export function isConfigSecret(fullKey: string): boolean {
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (key: string) => boolean };
    if (typeof runtimeConfig.isConfigSecret !== "function") throw new Error("@pulumi/pulumi no longer exposes runtime isConfigSecret");
    return runtimeConfig.isConfigSecret(fullKey);
}

/** Reads and checks the whole `limen:` config once; throws before any resource exists. */
export function loadStackConfig(): LimenConfig {
    return parseConfig(pulumi.allConfig(), isConfigSecret);
}

export interface LimenStack {
    plan: StackPlan;
    frontend: RemoteHost;
    backend: RemoteHost;
    frontendFirewall: HostFirewall;
    backendFirewall: HostFirewall;
    apps: FrontendApps;
    envoy: EnvoyProxy | undefined;
    certificates: FrontendCertificates | undefined;
}

/** Registers every resource of the stack from the hosts' plans (plan/hosts.ts). */
export function createLimenStack(config: LimenConfig): LimenStack {
    const plan = planStack(config);
    const privateKey = pulumi.secret(config.sshPrivateKey);
    const frontend = new RemoteHost("frontend", { plan: plan.frontend, privateKey });
    const backend = new RemoteHost("backend", { plan: plan.backend, privateKey });

    const backendFirewall = new HostFirewall("backend-firewall", { host: backend, plan: plan.backend.firewall });
    const frontendFirewall = new HostFirewall("frontend-firewall", { host: frontend, plan: plan.frontend.firewall });

    if (!plan.frontend.pm2) throw new Error("the frontend's plan has no pm2 apps");
    const apps = new FrontendApps("frontend-apps", {
        host: frontend,
        pm2: plan.frontend.pm2,
        files: plan.frontend.files,
        // No `frontendFirewall.confirmed`: the apps listen on loopback only (limen:apps.*.host is refused
        // otherwise), which no firewall rule changes, so they start while the firewall is applied and
        // confirmed. What listens on public addresses (Envoy) and the ACME issuance wait for it. The
        // backend's firewall goes first: the files that point the apps at the backend are checked
        // from the frontend before they change (the backend preflight), through the rules it lets in.
        after: plan.frontend.files.some((file) => file.preflight) ? [backendFirewall.confirmed] : [],
    });

    // Certificates the stack issues: placeholders before Envoy, the issued ones after it (below).
    const issuedPlans = plan.frontend.certificates.filter((certificate) => certificate.acme);
    const renewalHook = plan.frontend.files.find((file) => file.name === "acme-renewal-hook");
    const certificates =
        issuedPlans.length > 0 && renewalHook
            ? new FrontendCertificates("frontend-certificates", { host: frontend, certificates: issuedPlans, renewalHook, after: [frontendFirewall.confirmed] })
            : undefined;
    const appsFiles = [...plan.frontend.pm2.loadedFiles, ...plan.frontend.pm2.logRotation.files];
    const envoyPlan = plan.frontend.envoy;
    const envoy = envoyPlan
        ? new EnvoyProxy("frontend-envoy", {
              host: frontend,
              ssh: { user: config.ssh.user, port: config.ssh.port, hostKey: config.frontend.hostKey, privateKey },
              plan: envoyPlan,
              files: plan.frontend.files.filter((file) => !appsFiles.includes(file.name) && file.name !== "acme-renewal-hook"),
              // The firewall opens 80/443 before Envoy listens on them; each SDS secret has a pair to load.
              after: [frontendFirewall.confirmed, ...(certificates?.placeholders ?? [])],
              // The door's gate asks the sites through Envoy: the apps answer first.
              gateAfter: [apps.apps],
          })
        : undefined;
    // HTTP-01 challenges reach certbot's responder through Envoy's port-80 route.
    certificates?.issue(envoy ? [envoy.container] : []);
    return { plan, frontend, backend, frontendFirewall, backendFirewall, apps, envoy, certificates };
}

/** The stack's outputs, the same for `pulumi up` (index.ts) and the lab. */
export function stackOutputs(config: LimenConfig, stack: LimenStack) {
    const backend = config.backend;
    return {
        frontendAddress: config.frontend.address,
        backendAddress: backend.address,
        backendInternalEndpoint: `${hostForUrl(backend.internalAddress)}:${backend.apiPort}`,
        pm2Apps: stack.plan.frontend.pm2?.apps.map((app) => app.name) ?? [],
        envoyEnabled: config.envoy.enabled,
        frontendRulesetSha256: stack.frontendFirewall.rulesetSha256,
        backendRulesetSha256: stack.backendFirewall.rulesetSha256,
        envProductionPath: stack.apps.envFilePath,
    };
}

/** The whole program: config checked as a whole first, so a wrong setting never reaches a host. */
export function limenProgram() {
    const config = loadStackConfig();
    return stackOutputs(config, createLimenStack(config));
}

export { configNamespace };
