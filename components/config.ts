import { z } from "zod";
import { seedPorts } from "../plan/seed";
import { cidrContains, classifyAddress, isCidr } from "../plan/addresses";
import { confirmDialBudgetSeconds } from "../plan/firewall-timing";
import { hostKeyTypes, isHostKeyLine } from "../plan/ssh-keys";

/**
 * The stack's configuration: one strict schema, parsed once, before any resource is registered.
 *
 * Every rule of the design document (shared/seed/network-ports) is a check here with a message that
 * names the Pulumi config key, the bad value and the rule, so a wrong setting never reaches a host.
 */

export const configNamespace = "limen";

/** Top-level config keys holding secrets: their values never appear in an error message. */
export const secretKeys = ["sshPrivateKey", "tlsPrivateKey", "envProductionSecrets"] as const;

const seedRule = (text: string) => `${text} (seed: network-ports, "What matters")`;

const port = z.int().min(1).max(65535);

/** A host's address as the stack writes it into files: an IP literal, never loopback or unspecified. */
const hostAddress = (role: string) =>
    z.string().check((ctx) => {
        const kind = classifyAddress(ctx.value);
        if (kind === "loopback" || kind === "hostname-loopback") {
            ctx.issues.push({
                code: "custom",
                input: ctx.value,
                message: seedRule(
                    `${role} must not be a loopback address (localhost, 127.0.0.0/8, ::1, ::ffff:127.0.0.1 in any spelling): ` +
                        "from the frontend it would point at the frontend itself",
                ),
            });
        } else if (kind === "unspecified") {
            ctx.issues.push({
                code: "custom",
                input: ctx.value,
                message: `${role} must not be an unspecified address (0.0.0.0, ::, 0): it names no host`,
            });
        } else if (kind !== "ipv4" && kind !== "ipv6") {
            ctx.issues.push({
                code: "custom",
                input: ctx.value,
                message: `${role} must be an IP address written plainly (dotted-quad IPv4 such as 192.0.2.10, or IPv6 such as 2001:db8::10); the seed pins hosts by IP`,
            });
        }
    });

const loopbackBind = (app: string) =>
    z.string().refine((value) => value === "127.0.0.1", {
        message: seedRule(`${app} must listen on 127.0.0.1 only: Envoy is its only client, and any other bind address exposes it to the network`),
    });

// The accepted types come from plan/ssh-keys.ts, which the policy pack reads too (their names hold no
// regex metacharacters).
const sshKeyLine = new RegExp(`^(${hostKeyTypes.join("|")}) [A-Za-z0-9+/]+={0,2}$`);

const sshHostKey = z
    .string()
    .regex(sshKeyLine, {
        message:
            "must pin the host's SSH public key as one line `<type> <base64>` (for instance the output of `ssh-keyscan -t ed25519 HOST` without the host name); an unpinned connection would trust any server",
    })
    .refine((line) => !sshKeyLine.test(line) || isHostKeyLine(line), {
        message: "the key's base64 body does not encode a key of the type the line names; copy the whole line again",
    });

const absolutePath = z.string().regex(/^\/[^\0\s'"`$\\]*[^/\0\s'"`$\\]$/, {
    message: "must be an absolute path with no spaces, quotes, `$` or backslashes",
});

const domainName = z
    .string()
    .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, {
        message: "must be a lower-case DNS name such as darc.kr or *.darc.kr",
    });

const nextPublicBackendUrlRule = seedRule("NEXT_PUBLIC_BACKEND_URL must never be set: the browser calls the relative path /api and the middleware proxies it");

const envKeyName = z
    .string()
    .refine((key) => key.toUpperCase() !== "NEXT_PUBLIC_BACKEND_URL", { message: nextPublicBackendUrlRule, abort: true })
    .regex(/^[A-Z_][A-Z0-9_]*$/, { message: "environment variable names are upper case letters, digits and underscores" });

const sshSchema = z.strictObject({
    /** Non-root user with passwordless sudo on both hosts. */
    user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]*$/, { message: "must be a Unix user name" })
        .refine((user) => user !== "root", {
            message: "must not be root: deploy as a non-root user with sudo so every privileged step is explicit",
        }),
    port: port.default(22),
    /** Networks allowed to reach SSH on both hosts once the firewall is in place. */
    adminNetworks: z
        .array(z.string().refine(isCidr, { message: "must be a network in CIDR form, such as 192.0.2.0/24 or 2001:db8::/64" }))
        .min(1, {
            message: "must list at least one network: an empty SSH allow-list locks every operator (and this stack) out of the hosts",
        }),
    /** Addresses `pulumi up` connects from; each must fall inside adminNetworks. */
    deployFrom: z.array(z.string()).default([]),
    /** SSH dial attempts before a host counts as unreachable (sshd slow to start after boot). */
    connectAttempts: z.int().min(1).max(100).default(10),
    /** Seconds each SSH dial attempt may take. */
    connectTimeoutSeconds: z.int().min(1).max(300).default(15),
    /** Seconds a new firewall ruleset has to be confirmed over a new SSH connection before the host restores the previous one. */
    firewallConfirmSeconds: z
        .int()
        .min(confirmDialBudgetSeconds + 5, {
            message: `must leave the confirmation (up to ${confirmDialBudgetSeconds} s of SSH dialing) time to finish before the host reverts: at least ${confirmDialBudgetSeconds + 5}`,
        })
        .max(3600)
        .default(60),
});

const frontendSchema = z.strictObject({
    address: hostAddress("the frontend address"),
    hostKey: sshHostKey,
    /** Addresses the backend sees the frontend's connections come from; default: [address]. */
    internalAddresses: z.array(hostAddress("a frontend internal address")).min(1).optional(),
});

const backendSchema = z.strictObject({
    address: hostAddress("the backend address"),
    hostKey: sshHostKey,
    /** The backend's address on the internal network (BACKEND_HOST, Envoy's cluster); default: address. */
    internalAddress: hostAddress("the backend internal address (BACKEND_HOST)").optional(),
    /** LIMEN API internal port (BACKEND_PORT). */
    apiPort: port.default(seedPorts.backendApi),
    /** Agent service address (AGENT_HOST); default: internalAddress. */
    agentAddress: hostAddress("the agent address (AGENT_HOST)").optional(),
    /** Agent service internal port (AGENT_PORT). */
    agentPort: port.default(seedPorts.agent),
    /** The backend API's public ports ("still to be confirmed" in the seed). */
    publicApiPorts: z.array(port).default([]),
    /** Sources allowed to reach apiPort and agentPort; default: the frontend's internal addresses. */
    internalClients: z.array(z.string()).optional(),
});

const envoySchema = z.strictObject({
    /** Run Envoy on the frontend (off in the lab, which has no Envoy image). */
    enabled: z.boolean().default(true),
    /** Envoy image pinned by digest. */
    image: z.string().regex(/^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[a-f0-9]{64}$/, {
        message: "must pin the image by digest (repository[:tag]@sha256:<64 hex>) so every host runs the same bytes",
    }),
    httpPort: port.default(80),
    httpsPort: port.default(443),
    /** Envoy's admin interface, always bound to 127.0.0.1. */
    adminPort: port.default(9901),
    /** Where the rendered bootstrap lives on the frontend. */
    configPath: absolutePath.default("/etc/limen/envoy/envoy.yaml"),
    /** Path prefixes Envoy sends straight to the backend's internal port instead of Next.js. */
    backendRoutePrefixes: z
        .array(
            z.string().regex(/^\/[A-Za-z0-9._~\/-]+$/, {
                message: 'must be a path prefix such as "/api/agent" (the root "/" would send every request past Next.js)',
            }),
        )
        .default([]),
});

const tlsSchema = z.discriminatedUnion("source", [
    z.strictObject({
        /** The certificate and key already sit on the frontend (for instance certbot's live/ directory). */
        source: z.literal("host-files"),
        certificateChainPath: absolutePath,
        privateKeyPath: absolutePath,
    }),
    z.strictObject({
        /** The certificate comes from config; its key from the secret limen:tlsPrivateKey. */
        source: z.literal("config"),
        certificateChain: z.string().regex(/-----BEGIN CERTIFICATE-----/, {
            message: "must be a PEM certificate chain",
        }),
    }),
]);

const domainsSchema = z.strictObject({
    /** Host names served by the LIMEN Next.js app. */
    limen: z.array(domainName).min(1),
    /** Host names served by the darc.kr site. */
    darc: z.array(domainName).min(1).default(["darc.kr", "www.darc.kr"]),
});

const appSchema = (defaults: { name: string; cwd: string; port: number }, label: string) =>
    z.strictObject({
        /** pm2 process name. */
        name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/).default(defaults.name),
        /** Application directory (Next.js reads .env.production from here). */
        cwd: absolutePath.default(defaults.cwd),
        /** Script pm2 runs, relative to cwd. */
        script: z.string().min(1).default("node_modules/next/dist/bin/next"),
        /** Arguments before the bind flags (`-H <host> -p <port>` are appended). */
        args: z.array(z.string()).default(["start"]),
        host: loopbackBind(label).default("127.0.0.1"),
        port: port.default(defaults.port),
    });

const appsSchema = z.strictObject({
    /** Unix user that owns and runs the pm2 apps. */
    user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]*$/, { message: "must be a Unix user name" })
        .refine((user) => user !== "root", { message: "must not be root: the apps face the network through Envoy" })
        .default("limen"),
    /** Where the pm2 ecosystem file is installed. */
    ecosystemPath: absolutePath.default("/etc/limen/pm2/ecosystem.config.js"),
    limenFrontend: appSchema({ name: "limen-frontend", cwd: "/srv/limen-frontend", port: 9444 }, "Next.js (limen-frontend)")
        .refine((app) => app.name === "limen-frontend", {
            message: 'must be named "limen-frontend": the runbook reads `pm2 logs limen-frontend`',
            path: ["name"],
        })
        .prefault({}),
    darc: appSchema({ name: "darc-kr", cwd: "/srv/darc-kr", port: 9445 }, "the darc.kr site").prefault({}),
    /** Processes per app in pm2's cluster mode (a reload replaces them one by one). */
    instances: z.int().min(1).max(16).default(2),
    /** pm2 restart policy shared by both apps. */
    restart: z
        .strictObject({
            maxRestarts: z.int().min(0).default(10),
            restartDelayMs: z.int().min(0).default(2000),
            killTimeoutMs: z.int().min(100).default(5000),
        })
        .prefault({}),
    /** Further plain .env.production keys (never the seed's four, never a backend URL). */
    extraEnv: z.record(envKeyName, z.string()).default({}),
});

export const configSchema = z.strictObject({
    ssh: sshSchema,
    sshPrivateKey: z.string().regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, {
        message: "must be a PEM or OpenSSH private key (set it with `pulumi config set --secret limen:sshPrivateKey < key`)",
    }),
    frontend: frontendSchema,
    backend: backendSchema,
    envoy: envoySchema,
    tls: tlsSchema,
    tlsPrivateKey: z.string().optional(),
    domains: domainsSchema,
    apps: appsSchema.prefault({}),
    envProductionSecrets: z.record(envKeyName, z.string()).default({}),
});

type RawConfig = z.output<typeof configSchema>;

export interface LimenConfig {
    ssh: RawConfig["ssh"];
    sshPrivateKey: string;
    frontend: Required<RawConfig["frontend"]>;
    backend: Required<RawConfig["backend"]>;
    envoy: RawConfig["envoy"];
    tls: RawConfig["tls"];
    tlsPrivateKey: string | undefined;
    domains: RawConfig["domains"];
    apps: RawConfig["apps"];
    envProductionSecrets: Record<string, string>;
}

/** The four keys the seed puts in .env.production; config may not set them any other way. */
export const seedEnvKeys = ["BACKEND_HOST", "BACKEND_PORT", "AGENT_HOST", "AGENT_PORT"] as const;

interface Problem {
    path: (string | number)[];
    message: string;
}

function withDefaults(parsed: RawConfig): LimenConfig {
    const frontendInternal = parsed.frontend.internalAddresses ?? [parsed.frontend.address];
    const backendInternal = parsed.backend.internalAddress ?? parsed.backend.address;
    return {
        ...parsed,
        tlsPrivateKey: parsed.tlsPrivateKey,
        frontend: { ...parsed.frontend, internalAddresses: frontendInternal },
        backend: {
            ...parsed.backend,
            internalAddress: backendInternal,
            agentAddress: parsed.backend.agentAddress ?? backendInternal,
            internalClients: parsed.backend.internalClients ?? frontendInternal,
        },
    };
}

type Parsed = Partial<RawConfig>;

/**
 * Rules that relate two or more keys. Each runs as soon as the keys it reads have parsed, so one
 * run reports every problem it can find, not only the first key's.
 */
function crossKeyProblems(parsed: Parsed): Problem[] {
    const problems: Problem[] = [];
    const { frontend, ssh, envoy, apps, domains, tls } = parsed;
    const frontendInternal = frontend ? (frontend.internalAddresses ?? [frontend.address]) : undefined;
    const backend = parsed.backend && frontendInternal ? withDefaults({ ...parsed, frontend: frontend!, backend: parsed.backend } as RawConfig).backend : undefined;

    if (backend) {
        if (backend.publicApiPorts.includes(backend.apiPort)) {
            problems.push({
                path: ["backend", "apiPort"],
                message: seedRule(
                    `${backend.apiPort} is also listed in limen:backend.publicApiPorts: session traffic must use the internal port, never the external one`,
                ),
            });
        }
        backend.publicApiPorts.forEach((publicPort, index) => {
            if (publicPort === seedPorts.backendApi || publicPort === seedPorts.agent || publicPort === backend.agentPort) {
                problems.push({
                    path: ["backend", "publicApiPorts", index],
                    message: seedRule(
                        `${publicPort} is an internal port (API ${seedPorts.backendApi}, agent ${seedPorts.agent}): a public API port must be a different port, or internal traffic would be reachable from the internet`,
                    ),
                });
            }
        });
        backend.internalClients.forEach((client, index) => {
            if (!frontendInternal!.includes(client)) {
                problems.push({
                    path: ["backend", "internalClients", index],
                    message: seedRule(
                        `${backend.apiPort} and ${backend.agentPort} may be opened only to the frontend (${frontendInternal!.join(", ")}); "${client}" is not one of its addresses`,
                    ),
                });
            }
        });
    }

    ssh?.deployFrom.forEach((source, index) => {
        const kind = classifyAddress(source);
        const inside = (kind === "ipv4" || kind === "ipv6") && ssh.adminNetworks.some((cidr) => cidrContains(cidr, source));
        if (!inside) {
            problems.push({
                path: ["ssh", "deployFrom", index],
                message: `"${source}" is not inside limen:ssh.adminNetworks (${ssh.adminNetworks.join(", ")}): the firewall would lock this deployment out of its own hosts`,
            });
        }
    });

    if (ssh && envoy && apps) {
        const frontendPorts: [string, number][] = [
            ["ssh.port", ssh.port],
            ["apps.limenFrontend.port", apps.limenFrontend.port],
            ["apps.darc.port", apps.darc.port],
        ];
        if (envoy.enabled) {
            frontendPorts.push(["envoy.httpPort", envoy.httpPort], ["envoy.httpsPort", envoy.httpsPort], ["envoy.adminPort", envoy.adminPort]);
        }
        problems.push(...portCollisions("frontend", frontendPorts));
    }
    if (ssh && backend) {
        problems.push(
            ...portCollisions("backend", [
                ["ssh.port", ssh.port],
                ["backend.apiPort", backend.apiPort],
                ["backend.agentPort", backend.agentPort],
                // A public port equal to an internal one is reported above, as the seed rule it breaks.
                ...backend.publicApiPorts
                    .map((p, i): [string, number] => [`backend.publicApiPorts[${i}]`, p])
                    .filter(([, p]) => p !== backend.apiPort && p !== backend.agentPort),
            ]),
        );
    }

    if (domains) {
        const limenDomains = new Set(domains.limen);
        domains.darc.forEach((domain, index) => {
            if (limenDomains.has(domain)) {
                problems.push({
                    path: ["domains", "darc", index],
                    message: `${domain} is also a LIMEN domain; each host name goes to exactly one app`,
                });
            }
        });
    }

    if (tls?.source === "config" && !parsed.tlsPrivateKey) {
        problems.push({
            path: ["tlsPrivateKey"],
            message: 'is required when limen:tls.source is "config" (set it with `pulumi config set --secret limen:tlsPrivateKey < key.pem`)',
        });
    }
    if (tls?.source === "host-files" && parsed.tlsPrivateKey) {
        problems.push({
            path: ["tlsPrivateKey"],
            message: 'is set but limen:tls.source is "host-files": the key on the host would be used, so remove the secret or switch the source to "config"',
        });
    }

    if (backend) {
        const envSources: [(string | number)[], Record<string, string> | undefined, boolean][] = [
            [["apps", "extraEnv"], apps?.extraEnv, false],
            [["envProductionSecrets"], parsed.envProductionSecrets, true],
        ];
        for (const [prefix, env, secret] of envSources) {
            for (const [key, value] of Object.entries(env ?? {})) {
                const problem = envEntryProblem(key, value, { backend }, secret);
                if (problem) problems.push({ path: [...prefix, key], message: problem });
            }
        }
    }
    return problems;
}

function portCollisions(host: string, ports: [string, number][]): Problem[] {
    const problems: Problem[] = [];
    const seen = new Map<number, string>();
    for (const [key, value] of ports) {
        const other = seen.get(value);
        if (other !== undefined) {
            problems.push({
                path: key.split(/[.[\]]/).filter(Boolean).map((part) => (/^\d+$/.test(part) ? Number(part) : part)),
                message: `port ${value} is already used on the ${host} by limen:${other}; two services cannot listen on one port`,
            });
        } else {
            seen.set(value, key);
        }
    }
    return problems;
}

/** Why an extra .env.production entry would break the seed's rules, or undefined when it is fine. */
export function envEntryProblem(key: string, value: string, config: Pick<LimenConfig, "backend">, secret = false): string | undefined {
    // A secret value is described, never quoted.
    const shown = secret ? "the value" : `"${value}"`;
    if ((seedEnvKeys as readonly string[]).includes(key)) {
        return `${key} is rendered from limen:backend; setting it here would let two values disagree`;
    }
    if (/[\n\r']/.test(value)) {
        return "a .env.production value may not contain a newline or a single quote (Next.js's loader would not read it back unchanged)";
    }
    if (key.toUpperCase() === "NEXT_PUBLIC_BACKEND_URL") {
        return nextPublicBackendUrlRule;
    }
    const url = parseAbsoluteUrl(value);
    if (url) {
        const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
        const kind = classifyAddress(host);
        const backendHosts = [config.backend.address, config.backend.internalAddress, config.backend.agentAddress];
        if (backendHosts.includes(host) || kind === "loopback" || kind === "hostname-loopback") {
            return seedRule(`${shown} is an absolute URL to the backend; the frontend reaches it only through BACKEND_HOST/BACKEND_PORT and the relative path /api`);
        }
        if (url.port !== "") {
            return seedRule(`${shown} is an absolute URL with an explicit port; put no port into an absolute URL`);
        }
        if (key.startsWith("NEXT_PUBLIC_")) {
            return seedRule(`${key} is an absolute URL sent to browsers; the API client uses the relative path /api`);
        }
    }
    const publicPorts = config.backend.publicApiPorts.map(String);
    if (/PORT$/.test(key) && publicPorts.includes(value.trim())) {
        return seedRule(`${secret ? "the value" : value} is the backend's external API port; use the internal port (limen:backend.apiPort)`);
    }
    return undefined;
}

function parseAbsoluteUrl(value: string): URL | undefined {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) return undefined;
    try {
        return new URL(value.trim());
    } catch {
        return undefined;
    }
}

export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`limen: ${problems.length} configuration problem(s); nothing was deployed:\n${problems.map((p) => `  ✖ ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

/**
 * Parses the stack's raw config (`limen:<key>` → string, as Pulumi stores it) into typed values.
 * Throws ConfigError with every problem at once; secret values never appear in its text.
 */
export function parseConfig(raw: Record<string, string>, isSecret: (fullKey: string) => boolean = () => true): LimenConfig {
    const problems: string[] = [];
    // Pulumi enforces `secret: true` only for keys without a default, so the optional secret keys
    // are checked here: a plaintext value would sit unencrypted in Pulumi.<stack>.yaml.
    for (const key of secretKeys) {
        const fullKey = `${configNamespace}:${key}`;
        const value = raw[fullKey];
        if (value !== undefined && value !== "" && value !== "{}" && !isSecret(fullKey)) {
            problems.push(`${fullKey} (secret): is stored in plain text; set it again with \`pulumi config set --secret ${fullKey}\``);
        }
    }
    const input: Record<string, unknown> = {};
    for (const [fullKey, text] of Object.entries(raw)) {
        const [namespace, key] = splitKey(fullKey);
        if (namespace !== configNamespace) continue;
        input[key] = decodeValue(text);
    }

    // Each key is parsed on its own so that a broken key does not hide the others' problems.
    const parsed: Record<string, unknown> = {};
    for (const key of Object.keys(input)) {
        if (!(key in configSchema.shape)) problems.push(describe([key], input, unknownKeyMessage));
    }
    for (const [key, keySchema] of Object.entries(configSchema.shape) as [keyof RawConfig, z.ZodType][]) {
        const result = keySchema.safeParse(input[key]);
        if (result.success) {
            parsed[key] = result.data;
            continue;
        }
        for (const issue of result.error.issues) {
            const path = [key, ...issue.path];
            if (issue.code === "unrecognized_keys") {
                // One line per unknown key, each under its own full name.
                for (const unknown of issue.keys) problems.push(describe([...path, unknown], input, unknownKeyMessage));
            } else {
                problems.push(describe(path, input, issueMessage(issue)));
            }
        }
    }
    for (const problem of crossKeyProblems(parsed as Parsed)) problems.push(describe(problem.path, input, problem.message));
    if (problems.length > 0) throw new ConfigError(problems);
    const config = withDefaults(parsed as RawConfig);
    if (problems.length > 0) throw new ConfigError(problems);
    return config;
}

const unknownKeyMessage = "unknown key: check its spelling against the configuration table in README.md (unknown keys are errors, not ignored)";

function issueMessage(issue: z.core.$ZodIssue): string {
    if (issue.code === "invalid_key") return issue.issues[0]?.message ?? issue.message;
    if (issue.code === "invalid_type" && issue.input === undefined) return "is required (see README.md, configuration)";
    if (issue.code === "invalid_union" && issue.path.at(-1) !== "source") {
        return 'needs "source": "host-files" (with certificateChainPath and privateKeyPath) or "config" (with certificateChain)';
    }
    return issue.message;
}

function splitKey(fullKey: string): [string, string] {
    const colon = fullKey.indexOf(":");
    return colon < 0 ? ["", fullKey] : [fullKey.slice(0, colon), fullKey.slice(colon + 1)];
}

/** Pulumi hands objects and arrays over as JSON text and plain strings as they are. */
function decodeValue(text: string): unknown {
    const trimmed = text.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
        try {
            return JSON.parse(trimmed);
        } catch {
            return text;
        }
    }
    return text;
}

function describe(path: PropertyKey[], input: Record<string, unknown>, message: string): string {
    const key = `${configNamespace}:${path
        .map((part, index) => (typeof part === "number" ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`))
        .join("")}`;
    const topKey = String(path[0] ?? "");
    if ((secretKeys as readonly string[]).includes(topKey)) return `${key} (secret): ${message}`;
    const value = path.reduce<unknown>((node, part) => (node && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[part] : undefined), input);
    const shown = value === undefined ? "" : ` = ${JSON.stringify(value)}`;
    return `${key}${shown}: ${message}`;
}


