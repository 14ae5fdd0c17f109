/**
 * The lab stack: the project's own program (components/stack.ts) run by the real Pulumi engine
 * through the Automation API, against the lab's Debian machines.
 *
 * The Automation API serves the program from this Node process (`pulumi up --client=...`); the tests
 * that run the plain CLI go through a Node.js language host instead (runPulumiCli).
 * The config goes through `pulumi config set`, the secret on stdin, and Pulumi.yaml's declarations
 * apply as they do for prod.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { parse, stringify } from "yaml";
import { createLimenStack, loadStackConfig, stackOutputs } from "../components/stack";

export const repoRoot = path.join(__dirname, "..");
export const stateDir = path.join(repoRoot, "lab", ".state");
const cacheDir = process.env.LIMEN_CACHE_DIR ?? "/var/cache/limen-infra";
export const stackName = "lab";

export interface LabHost {
    name: string;
    namespace: string;
    ipv4: string;
    ipv6: string;
    sshPort: number;
    user: string;
    hostKey: string;
}

export interface LabHosts {
    operator: { namespace: string; ipv4: string; ipv6: string };
    deployPrivateKeyPath: string;
    hosts: Record<"frontend" | "backend" | "outsider", LabHost>;
    /** The stand-in Envoy image in the lab's registry, pinned by digest (lab/registry/). */
    envoyImage: string;
}

export function readLabHosts(): LabHosts {
    return JSON.parse(readFileSync(path.join(stateDir, "hosts.json"), "utf8"));
}

export interface LabOverrides {
    agentPort?: number;
    /** limen:backend.internalAddress (BACKEND_HOST); default: the backend's address. */
    internalAddress?: string;
    /** limen:backend.agentAddress (AGENT_HOST); default: internalAddress. */
    agentAddress?: string;
    publicApiPorts?: number[];
    adminNetworks?: string[];
    extraEnv?: Record<string, string>;
    /** limen:apps.restart.restartDelayMs: a change of the pm2 ecosystem file alone. */
    restartDelayMs?: number;
    /** limen:tls instead of the lab's snakeoil host files (the ACME test points it at pebble). */
    tls?: Record<string, unknown>;
    /** limen:envProductionSecrets, each set with `pulumi config set --secret --path`, value on stdin. */
    secretEnv?: Record<string, string>;
    /** Keys of limen:envoy over the lab's (enabled: true, image: the lab registry's stand-in by digest). */
    envoy?: Record<string, unknown>;
    /** limen:backend.skipPreflight. */
    skipPreflight?: boolean;
    /** Keys of limen:apps over the lab's (limenFrontend, healthGate, ...). */
    apps?: Record<string, unknown>;
    /** limen:domains over the lab's (limen.lab.test, darc.lab.test). */
    domains?: { limen?: string[]; darc?: string[] };
}

/**
 * The lab stack's config: the lab's addresses and keys, and Envoy on: the real Docker provider runs
 * the lab's stand-in Envoy image (lab/envoy/), pulled by digest from the lab's registry.
 */
export function labConfig(hosts: LabHosts, overrides: LabOverrides = {}): Record<string, unknown> {
    const { frontend, backend } = hosts.hosts;
    return {
        "limen:ssh": {
            user: frontend.user,
            port: frontend.sshPort,
            adminNetworks: overrides.adminNetworks ?? [`${hosts.operator.ipv4}/32`, `${hosts.operator.ipv6}/128`],
            deployFrom: overrides.adminNetworks ? [] : [hosts.operator.ipv4],
            connectAttempts: 20,
            connectTimeoutSeconds: 5,
            // Short, so the lockout test sees the host restore itself quickly; prod keeps the default 60.
            firewallConfirmSeconds: 20,
        },
        "limen:frontend": { address: frontend.ipv4, hostKey: frontend.hostKey, internalAddresses: [frontend.ipv4, frontend.ipv6] },
        "limen:backend": {
            address: backend.ipv4,
            hostKey: backend.hostKey,
            apiPort: 18443,
            agentPort: overrides.agentPort ?? 9000,
            ...(overrides.internalAddress === undefined ? {} : { internalAddress: overrides.internalAddress }),
            ...(overrides.agentAddress === undefined ? {} : { agentAddress: overrides.agentAddress }),
            publicApiPorts: overrides.publicApiPorts ?? [],
            ...(overrides.skipPreflight === undefined ? {} : { skipPreflight: overrides.skipPreflight }),
        },
        "limen:envoy": { enabled: true, image: hosts.envoyImage, ...overrides.envoy },
        "limen:tls": overrides.tls ?? {
            source: "host-files",
            certificateChainPath: "/etc/ssl/certs/ssl-cert-snakeoil.pem",
            privateKeyPath: "/etc/ssl/private/ssl-cert-snakeoil.key",
        },
        "limen:domains": { limen: ["limen.lab.test"], darc: ["darc.lab.test"], ...overrides.domains },
        // The darc.kr fixture is a plain Node server that takes the same -H/-p flags as `next start`.
        "limen:apps": {
            user: "limen",
            darc: { script: "server.js", args: [] },
            extraEnv: overrides.extraEnv ?? {},
            ...(overrides.restartDelayMs === undefined ? {} : { restart: { restartDelayMs: overrides.restartDelayMs } }),
            ...overrides.apps,
        },
    };
}

/**
 * The Node.js language host's directory, then the engine's (last): the ones lab/engine/toolchain.sh
 * chose (a user's on PATH when supported, else built from Go modules), which lab/run.sh passes on.
 */
function engineBinDirs(): string[] {
    const languageHost = process.env.LIMEN_LAB_LANGUAGE_HOST_DIR ? [process.env.LIMEN_LAB_LANGUAGE_HOST_DIR] : [];
    const engine = process.env.LIMEN_LAB_ENGINE_BIN ?? path.join(cacheDir, "engine", process.env.LIMEN_PULUMI_VERSION ?? "v3.274.1", "bin");
    return [...languageHost, engine];
}

/** Environment for every engine run: local file state, a lab-only passphrase, no network lookups. */
export function engineEnv(): Record<string, string> {
    return {
        PULUMI_BACKEND_URL: `file://${path.join(stateDir, "pulumi")}`,
        PULUMI_CONFIG_PASSPHRASE: "limen-lab-only-passphrase",
        PULUMI_HOME: path.join(cacheDir, "engine", "home"),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PATH: [...engineBinDirs(), process.env.PATH ?? ""].join(":"),
    };
}

/** The engine's `pulumi` binary, for the few steps the Automation API does not cover as needed. */
export function pulumiBinary(): string {
    return path.join(engineBinDirs().at(-1)!, "pulumi");
}

/**
 * The plain `pulumi` CLI on the lab stack, as an operator runs it against prod: the engine starts the
 * Node.js language host (Pulumi's own, from the shared tools folder: lab/engine/toolchain.sh), which
 * starts the program from package.json's "main" (index.ts, bundled by launch/) instead of the
 * Automation API's in-process program. `binary` lets the benchmark time the process through a wrapper.
 * Throws with the CLI's output when it fails.
 */
export function runPulumiCli(args: string[], binary = pulumiBinary(), extraEnv: Record<string, string> = {}): string {
    const result = spawnSync(binary, [...args, "--stack", stackName, "--non-interactive", "--color", "never"], {
        cwd: repoRoot,
        env: { ...process.env, ...engineEnv(), ...extraEnv },
        encoding: "utf8",
        timeout: 300_000,
    });
    if (result.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${result.status}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-2000)}`);
    return result.stdout;
}

/**
 * Opens the lab stack. `extra` adds resources after the project's own (the policy test uses it to
 * register a deliberately violating one).
 */
export async function openLabStack(extra?: () => void): Promise<Stack> {
    const env = engineEnv();
    execFileSync("mkdir", ["-p", path.join(stateDir, "pulumi")]);
    // LIMEN_LAB_PULUMI_ROOT: another install root whose bin/pulumi runs this engine (the benchmark times the CLI process through one).
    const pulumiCommand = await PulumiCommand.get({ root: process.env.LIMEN_LAB_PULUMI_ROOT ?? path.dirname(engineBinDirs().at(-1)!) });
    return LocalWorkspace.createOrSelectStack(
        {
            stackName,
            projectName: "limen",
            // The same program as index.ts: parse config once, create the components, export outputs.
            program: async () => {
                const config = loadStackConfig();
                const stack = createLimenStack(config);
                extra?.();
                return stackOutputs(config, stack);
            },
        },
        { workDir: repoRoot, pulumiCommand, envVars: env },
    );
}

/**
 * Writes a config into Pulumi.lab.yaml as structured values (the project declares them as objects),
 * keeping the file's encryption salt and the secret key already set.
 */
export function writeLabConfig(config: Record<string, unknown>): void {
    const file = path.join(repoRoot, `Pulumi.${stackName}.yaml`);
    const current = existsSync(file) ? ((parse(readFileSync(file, "utf8")) as Record<string, unknown> | null) ?? {}) : {};
    const secrets = Object.fromEntries(Object.entries((current.config as Record<string, unknown> | undefined) ?? {}).filter(([key]) => key === "limen:sshPrivateKey"));
    writeFileSync(file, stringify({ ...current, config: { ...config, ...secrets } }));
}

/** Writes the lab config for `hosts`, then sets the private key as a secret, on stdin. */
export async function configureLabStack(hosts: LabHosts, overrides: LabOverrides = {}): Promise<void> {
    writeLabConfig(labConfig(hosts, overrides));
    execFileSync(pulumiBinary(), ["config", "set", "--secret", "limen:sshPrivateKey", "--stack", stackName, "--non-interactive"], {
        cwd: repoRoot,
        env: { ...process.env, ...engineEnv() },
        input: readFileSync(hosts.deployPrivateKeyPath, "utf8"),
        stdio: ["pipe", "ignore", "inherit"],
    });
    for (const [key, value] of Object.entries(overrides.secretEnv ?? {})) {
        execFileSync(pulumiBinary(), ["config", "set", "--secret", "--path", `limen:envProductionSecrets.${key}`, "--stack", stackName, "--non-interactive"], {
            cwd: repoRoot,
            env: { ...process.env, ...engineEnv() },
            input: value,
            stdio: ["pipe", "ignore", "inherit"],
        });
    }
}

/** Lab figures (revert time, probes, requests...), collected by the tests and printed by run.sh. */
export function recordFigure(name: string, value: string): void {
    const file = path.join(stateDir, "figures.json");
    const figures = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>) : {};
    writeFileSync(file, JSON.stringify({ ...figures, [name]: value }, null, 2));
}
