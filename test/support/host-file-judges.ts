/**
 * The design document's rules, judged on what the stack would put on the hosts, with tools that owe
 * nothing to the config schema: Node's own IP parser and block list, the WHATWG URL parser, YAML, and
 * the pm2 ecosystem evaluated as pm2 would. The property test runs these on every accepted config;
 * nft, Next.js's loader and Envoy's API definitions judge the distinct files afterwards.
 */
import { BlockList, isIP } from "node:net";
import * as vm from "node:vm";
import { parse as parseYaml } from "yaml";
import type { LimenConfig } from "../../config";
import type { StackPlan } from "../../plan/hosts";
import { envoyAdminSocket, envoyClusterNames } from "../../render/envoy";
import { seedPorts } from "../../core/seed";
import type { GeneratedUrl } from "./config-mutation-core";

/**
 * Where no host's address may point: loopback, unspecified, multicast and broadcast. (Node checks an
 * IPv4 address against IPv6 rules through its mapped form, so the mapped range is judged apart.)
 */
const nowhere = new BlockList();
for (const [network, prefix] of [
    ["127.0.0.0", 8],
    ["0.0.0.0", 8],
    ["224.0.0.0", 4],
    ["255.255.255.255", 32],
] as const)
    nowhere.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
    ["::", 128],
    ["::1", 128],
    ["ff00::", 8],
] as const)
    nowhere.addSubnet(network, prefix, "ipv6");

/** An IPv4 address written as IPv6 (::ffff:a.b.c.d, or the deprecated ::a.b.c.d), WHATWG-spelled. */
const ipv4AsIpv6 = (spelled: string) => /^::(ffff:)?[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(spelled) || /^::ffff:/.test(spelled);

function pointsNowhere(text: string, family: number): boolean {
    return family === 6 ? ipv4AsIpv6(whatwgSpelling(text, 6)) || nowhere.check(text, "ipv6") : nowhere.check(text, "ipv4");
}

/** The WHATWG spelling of an IP literal (what a browser or Node's URL would write). */
function whatwgSpelling(text: string, family: number): string {
    return family === 4 ? new URL(`http://${text}`).hostname : new URL(`http://[${text}]`).hostname.slice(1, -1);
}

/** Why a text is not a host's address as the stack must write it, or undefined. */
export function hostAddressProblem(label: string, text: unknown): string | undefined {
    if (typeof text !== "string") return `${label} is ${JSON.stringify(text)}, not an address`;
    const family = isIP(text);
    if (family === 0) return `${label} ${JSON.stringify(text)} is not an IP literal`;
    const spelled = whatwgSpelling(text, family);
    if (spelled !== text) return `${label} ${text} is not written canonically (${spelled})`;
    if (pointsNowhere(text, family)) return `${label} ${text} is loopback, unspecified, mapped or multicast`;
    return undefined;
}

/** .env.production read the simple way (the batch reads the distinct files with @next/env too). */
export function readEnvFile(text: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const line of text.split("\n")) {
        const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
        if (!match) continue;
        const raw = match[2]!;
        env[match[1]!] = raw.startsWith("'") && raw.endsWith("'") && raw.length >= 2 ? raw.slice(1, -1).replace(/\\\$/g, "$") : raw;
    }
    return env;
}

const defaultPorts: Record<string, string> = { http: "80", https: "443", ws: "80", wss: "443" };

/** Why a generated URL that reached .env.production breaks the seed, or undefined when it may be there. */
function urlProblem(url: GeneratedUrl, backendAddresses: string[]): string | undefined {
    const special = url.scheme in defaultPorts;
    // `redis:host:6379` is no URL with a host to the WHATWG parser: nothing reads a host from it.
    if (!special && !url.value.includes("//")) return undefined;
    let host: string;
    try {
        host = new URL(`http://${url.host.trim()}`).hostname.replace(/^\[(.*)\]$/, "$1");
    } catch {
        return undefined;
    }
    const family = isIP(host);
    if (backendAddresses.includes(host)) return `${url.key}=${url.value} is an absolute URL to the backend`;
    if (host === "localhost" || host.endsWith(".localhost") || (family !== 0 && pointsNowhere(host, family)))
        return `${url.key}=${url.value} is an absolute URL to a loopback address`;
    if (url.port !== "" && defaultPorts[url.scheme] !== url.port) return `${url.key}=${url.value} is an absolute URL with a port`;
    if (url.key.startsWith("NEXT_PUBLIC_")) return `${url.key}=${url.value} sends an absolute URL to browsers`;
    return undefined;
}

interface FirewallSets {
    sets: Record<string, string[]>;
    sshPort: number | undefined;
}

/** The named sets of a rendered nftables table and the port its SSH rule opens. */
export function readFirewall(ruleset: string): FirewallSets {
    const sets: Record<string, string[]> = {};
    for (const match of ruleset.matchAll(/set (\w+) \{ type [^;]+;(?: flags interval;)?(?: elements = \{ ([^}]*) \};)? \}/g)) {
        sets[match[1]!] = match[2] ? match[2].split(",").map((e) => e.trim()) : [];
    }
    const ssh = /tcp dport (\d+) ip saddr @admin_v4 accept/.exec(ruleset);
    return { sets, sshPort: ssh ? Number(ssh[1]) : undefined };
}

/** Every way the planned host files break the design document's rules; [] when they keep them. */
export function judgeHostFiles(config: LimenConfig, plan: StackPlan, urls: GeneratedUrl[]): string[] {
    const problems: string[] = [];
    const check = (problem: string | undefined) => problem && problems.push(problem);
    const frontendAddresses = [config.frontend.address, ...config.frontend.internalAddresses];
    frontendAddresses.forEach((address) => check(hostAddressProblem("a frontend address", address)));

    // SSH targets: one canonical host address each, two different hosts.
    check(hostAddressProblem("the frontend's SSH target", plan.frontend.ssh.address));
    check(hostAddressProblem("the backend's SSH target", plan.backend.ssh.address));
    if (plan.frontend.ssh.address === plan.backend.ssh.address) problems.push("both SSH targets are one host");

    // .env.production: the seed's four keys at the backend's internal address and port, nothing else pointing elsewhere.
    const envFile = plan.frontend.files.find((file) => file.name === "env-production");
    const env = readEnvFile(envFile?.content ?? "");
    for (const key of ["BACKEND_HOST", "AGENT_HOST"]) {
        check(hostAddressProblem(key, env[key]));
        if (frontendAddresses.includes(env[key] ?? "")) problems.push(`${key}=${env[key]} is the frontend itself`);
    }
    if (env.BACKEND_PORT !== String(config.backend.apiPort)) problems.push(`BACKEND_PORT=${env.BACKEND_PORT} is not the API's internal port`);
    if (env.AGENT_PORT !== String(config.backend.agentPort)) problems.push(`AGENT_PORT=${env.AGENT_PORT} is not the agent port`);
    if (config.backend.publicApiPorts.map(String).includes(env.BACKEND_PORT ?? "")) problems.push("BACKEND_PORT is a public port");
    for (const key of Object.keys(env)) {
        if (key.toUpperCase() === "NEXT_PUBLIC_BACKEND_URL") problems.push("NEXT_PUBLIC_BACKEND_URL is set");
        if (key === "HOSTNAME" || key === "PORT") problems.push(`${key} is set in .env.production`);
    }
    const backendAddresses = [config.backend.address, config.backend.internalAddress, config.backend.agentAddress];
    for (const url of urls) {
        const map = url.map === "extraEnv" ? config.apps.extraEnv : config.envProductionSecrets;
        if (map[url.key] === url.value) check(urlProblem(url, backendAddresses));
    }

    // pm2: each app binds 127.0.0.1 and its port, through the appended flags only.
    const ecosystem = plan.frontend.files.find((file) => file.name === "ecosystem")!.content;
    const sandbox = { module: { exports: {} as { apps?: { name: string; args: string[]; env: Record<string, string> }[] } } };
    vm.runInNewContext(ecosystem, sandbox);
    for (const app of sandbox.module.exports.apps ?? []) {
        const hostFlags = app.args.filter((arg) => /^(-H|--hostname)/.test(arg));
        const portFlags = app.args.filter((arg) => /^(-p|--port)/.test(arg));
        if (hostFlags.length !== 1 || portFlags.length !== 1 || app.args.at(-3) !== "127.0.0.1" || app.args.at(-4) !== "-H")
            problems.push(`${app.name} args ${JSON.stringify(app.args)} do not bind 127.0.0.1 alone`);
        if (app.env.HOSTNAME !== "127.0.0.1") problems.push(`${app.name} HOSTNAME=${app.env.HOSTNAME}`);
    }

    // Envoy: the backend cluster at BACKEND_HOST:BACKEND_PORT, the apps on 127.0.0.1, the admin on its unix socket (no port).
    const bootstrapFile = plan.frontend.files.find((file) => file.name === "envoy-config");
    const clustersFile = plan.frontend.files.find((file) => file.name === "envoy-cds");
    if (config.envoy.enabled !== (bootstrapFile !== undefined)) problems.push("Envoy's bootstrap does not follow limen:envoy.enabled");
    if (config.envoy.enabled !== (clustersFile !== undefined)) problems.push("Envoy's clusters file does not follow limen:envoy.enabled");
    if (bootstrapFile && clustersFile) {
        const bootstrap = parseYaml(bootstrapFile.content);
        const clusters = parseYaml(clustersFile.content).resources as { name: string; load_assignment: any }[];
        const socket = (name: string) => clusters.find((c) => c.name === name)?.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
        const backend = socket(envoyClusterNames.backend);
        if (backend?.address !== env.BACKEND_HOST || backend?.port_value !== Number(env.BACKEND_PORT))
            problems.push(`Envoy's backend cluster ${JSON.stringify(backend)} is not BACKEND_HOST:BACKEND_PORT`);
        for (const name of [envoyClusterNames.nextjs, envoyClusterNames.darc])
            if (socket(name)?.address !== "127.0.0.1") problems.push(`Envoy's ${name} cluster is not on 127.0.0.1`);
        if (bootstrap.admin.address.pipe?.path !== envoyAdminSocket || bootstrap.admin.address.socket_address !== undefined)
            problems.push(`Envoy's admin interface ${JSON.stringify(bootstrap.admin.address)} is not the unix socket ${envoyAdminSocket}`);
    }

    // Firewalls: 18443/9000 (the configured API and agent ports) to the frontend alone, SSH never guarded shut.
    const backendFirewall = readFirewall(plan.backend.firewall.ruleset);
    const internal = [...new Set([config.backend.apiPort, config.backend.agentPort])].sort((a, b) => a - b).map(String);
    if (JSON.stringify([...(backendFirewall.sets.internal_ports ?? [])].sort((a, b) => Number(a) - Number(b))) !== JSON.stringify(internal))
        problems.push(`internal_ports ${backendFirewall.sets.internal_ports} are not the API and agent ports`);
    for (const port of [seedPorts.backendApi, seedPorts.agent, config.backend.apiPort, config.backend.agentPort]) {
        if (backendFirewall.sets.public_ports?.includes(String(port))) problems.push(`the backend opens internal port ${port} to everyone`);
    }
    for (const port of backendFirewall.sets.internal_ports ?? [])
        if (!backendFirewall.sets.guarded_ports?.includes(port)) problems.push(`internal port ${port} is not guarded before NAT`);
    for (const client of [...(backendFirewall.sets.internal_clients_v4 ?? []), ...(backendFirewall.sets.internal_clients_v6 ?? [])]) {
        if (!frontendAddresses.includes(client)) problems.push(`the backend's internal ports are open to ${client}, not the frontend`);
    }
    for (const [host, firewall] of [
        ["frontend", readFirewall(plan.frontend.firewall.ruleset)],
        ["backend", backendFirewall],
    ] as const) {
        if (firewall.sshPort !== config.ssh.port) problems.push(`the ${host}'s SSH rule opens ${firewall.sshPort}, not ${config.ssh.port}`);
        if (firewall.sets.guarded_ports?.includes(String(config.ssh.port))) problems.push(`the ${host} drops its own SSH port ${config.ssh.port} before NAT`);
        if ((firewall.sets.admin_v4?.length ?? 0) + (firewall.sets.admin_v6?.length ?? 0) === 0) problems.push(`the ${host} lets no admin network reach SSH`);
    }
    return problems;
}
