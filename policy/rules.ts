import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { canonicalAddress, classifyAddress } from "../components/addresses";
import { forbiddenEnvKeys } from "../render/env-file";
import { envoyClusterNames } from "../render/envoy";
import { firewallTable } from "../render/firewall";
import { at, isRecord, Plain, ResourceView, stringsIn, Unknown } from "./values";

/**
 * The design document's rules (shared/seed/network-ports), checked on the resource graph the program
 * registers: pure functions over plain resources, so they test without the policy engine.
 *
 * How resources are recognised: by what they do, not by their names, so a renamed or re-parented
 * resource is still checked and a new one that does the same thing cannot slip past.
 * - the `.env.production` file: a `command:remote:Command` whose create or update runs the host tool's
 *   `install-file --path …/.env.production`;
 * - the Envoy bootstrap: a remote command that installs a file with `--check envoy`, or whose stdin is
 *   a YAML document with `static_resources`;
 * - the frontend: the hosts (connection `host`) those two commands run on; every other host that a
 *   remote command runs on is a backend host;
 * - a firewall ruleset: a remote command whose stdin declares the stack's nftables table.
 *
 * Secret and unknown values: the engine hands secrets to policies (the SDK unwraps them), so a secret
 * `.env.production` is read like any other; messages quote only addresses, ports, modes and host keys,
 * never a line of a file. A value that is unknown during preview cannot be judged: it is skipped with a
 * message naming it (the wrappers report it as "not applicable"); `pulumi up` checks the known value
 * again, and the config schema has already checked every value the stack renders.
 */

export interface Finding {
    kind: "violation" | "skipped";
    message: string;
    /** The resource the finding is about; "" for the stack as a whole. */
    urn: string;
}

export const remoteCommandType = "command:remote:Command";
export const dockerProviderType = "pulumi:providers:docker";
export const envFileName = ".env.production";
/** The backend's internal ports in the design document: the LIMEN API and the agent service. */
export const seedInternalPorts = [18443, 9000];

const violation = (urn: string, message: string): Finding => ({ kind: "violation", message, urn });
const skipped = (urn: string, message: string): Finding => ({ kind: "skipped", message, urn });
const describe = (r: ResourceView) => `${r.type} "${r.name}"`;

// ---- reading what the commands do ----------------------------------------------------------------

/** Splits a POSIX shell command line into words (quotes and backslashes; no expansion). */
export function shellWords(command: string): string[] {
    const words: string[] = [];
    let word: string | undefined;
    for (let i = 0; i < command.length; i++) {
        const c = command[i]!;
        if (/\s/.test(c)) {
            if (word !== undefined) words.push(word);
            word = undefined;
        } else if (c === "'") {
            const end = command.indexOf("'", i + 1);
            const stop = end === -1 ? command.length : end;
            word = (word ?? "") + command.slice(i + 1, stop);
            i = stop;
        } else if (c === '"') {
            word = word ?? "";
            for (i++; i < command.length && command[i] !== '"'; i++) {
                if (command[i] === "\\" && i + 1 < command.length) i++;
                word += command[i];
            }
        } else if (c === "\\" && i + 1 < command.length) {
            word = (word ?? "") + command[++i];
        } else {
            word = (word ?? "") + c;
        }
    }
    if (word !== undefined) words.push(word);
    return words;
}

export interface InstallFile {
    path?: string;
    mode?: string;
    check?: string;
}

/** The `install-file` arguments of a host-tool command line (components/remote.ts), if it is one. */
export function installFileOf(command: string): InstallFile | undefined {
    const words = shellWords(command);
    const start = words.indexOf("install-file");
    if (start === -1) return undefined;
    const install: InstallFile = {};
    for (let i = start + 1; i < words.length; i++) {
        const flag = words[i];
        const value = words[i + 1];
        if (flag === "--path" || flag === "--mode" || flag === "--check") {
            install[flag.slice(2) as keyof InstallFile] = value;
            i++;
        }
    }
    return install;
}

/** create and update: the command lines that put something on a host. */
function commandLines(r: ResourceView): { field: string; text: Plain }[] {
    return ["create", "update"].filter((field) => r.props[field] !== undefined && r.props[field] !== null).map((field) => ({ field, text: r.props[field]! }));
}

function installs(r: ResourceView): InstallFile[] {
    return commandLines(r).flatMap(({ text }) => (typeof text === "string" ? [installFileOf(text)].filter((i): i is InstallFile => i !== undefined) : []));
}

const isRemoteCommand = (r: ResourceView) => r.type === remoteCommandType;

export function isEnvFileCommand(r: ResourceView): boolean {
    return isRemoteCommand(r) && installs(r).some((i) => i.path !== undefined && path.posix.basename(i.path) === envFileName);
}

export function isEnvoyBootstrap(text: string): boolean {
    if (!/^static_resources\s*:/m.test(text)) return false;
    try {
        const document: unknown = parseYaml(text);
        return typeof document === "object" && document !== null && "static_resources" in document;
    } catch {
        return false;
    }
}

export function isEnvoyConfigCommand(r: ResourceView): boolean {
    if (!isRemoteCommand(r)) return false;
    const stdin = r.props.stdin;
    return installs(r).some((i) => i.check === "envoy") || (typeof stdin === "string" && isEnvoyBootstrap(stdin));
}

/** The SSH host a remote command runs on. */
export function connectionHost(r: ResourceView): string | Unknown | undefined {
    const host = at(r.props, "connection.host");
    return typeof host === "string" || host instanceof Unknown ? host : undefined;
}

/** A comparable spelling of an address: canonical for IP literals, lower case otherwise. */
function sameAddress(text: string): string {
    const bare = text.trim().replace(/^\[(.*)\]$/, "$1").toLowerCase();
    return canonicalAddress(bare) ?? bare;
}

/**
 * The keys and values of a .env file as dotenv reads them: `KEY=value`, `export KEY=value`, values
 * plain or quoted (render/env-file.ts writes single quotes with `$` escaped).
 */
export function parseEnv(text: string): Map<string, string> {
    const env = new Map<string, string>();
    for (const line of text.split(/\r?\n/)) {
        const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/.exec(line);
        if (!match) continue;
        const [, key, raw] = match as unknown as [string, string, string];
        let value = raw;
        if (/^'.*'$/.test(raw)) value = raw.slice(1, -1).replace(/\\\$/g, "$");
        else if (/^".*"$/.test(raw)) value = raw.slice(1, -1).replace(/\\n/g, "\n").replace(/\\(["\\$])/g, "$1");
        else value = raw.replace(/\s+#.*$/, "");
        env.set(key, value);
    }
    return env;
}

export interface EnvoyEndpoint {
    address: string;
    port: number;
}

/** The endpoints of one cluster of an Envoy bootstrap (static `load_assignment`), or undefined if absent. */
export function envoyClusterEndpoints(bootstrap: unknown, cluster: string): EnvoyEndpoint[] | undefined {
    const clusters = (bootstrap as { static_resources?: { clusters?: unknown } } | null)?.static_resources?.clusters;
    if (!Array.isArray(clusters)) return undefined;
    const found = clusters.find((c) => c?.name === cluster);
    if (!found) return undefined;
    const endpoints: EnvoyEndpoint[] = [];
    for (const locality of found.load_assignment?.endpoints ?? []) {
        for (const lb of locality?.lb_endpoints ?? []) {
            const socket = lb?.endpoint?.address?.socket_address;
            if (socket) endpoints.push({ address: String(socket.address), port: Number(socket.port_value) });
        }
    }
    return endpoints;
}

// ---- nftables ---------------------------------------------------------------------------------------

function balancedBlock(text: string, open: number): string {
    let depth = 0;
    for (let i = open; i < text.length; i++) {
        if (text[i] === "{") depth++;
        else if (text[i] === "}" && --depth === 0) return text.slice(open + 1, i);
    }
    return text.slice(open + 1);
}

function withoutComments(text: string): string {
    return text.replace(/#[^\n]*/g, "");
}

/** Declares the stack's table with a body (`table inet limen_firewall {`), i.e. is one of its rulesets. */
export function isLimenRuleset(text: string): boolean {
    return new RegExp(`\\btable\\s+${firewallTable.family}\\s+${firewallTable.name}\\s*\\{`).test(withoutComments(text));
}

export interface LimenTable {
    sets: Map<string, string[]>;
    chains: Map<string, string>;
}

/**
 * The sets and chains of the last `table inet limen_firewall { … }` block (the one `nft -f` leaves in
 * place: render/firewall.ts declares, deletes and re-creates the table), plus any elements that
 * `add element` statements add to its sets.
 */
export function parseLimenTable(text: string): LimenTable {
    const clean = withoutComments(text);
    const tableStart = new RegExp(`\\btable\\s+${firewallTable.family}\\s+${firewallTable.name}\\s*\\{`, "g");
    let body = "";
    for (let m = tableStart.exec(clean); m; m = tableStart.exec(clean)) body = balancedBlock(clean, m.index + m[0].length - 1);

    const sets = new Map<string, string[]>();
    const elementsOf = (block: string) => {
        const list = /\belements\s*=\s*\{([^}]*)\}/.exec(block);
        return list ? list[1]!.split(/[\s,]+/).filter((e) => e !== "") : [];
    };
    for (const m of body.matchAll(/\bset\s+([A-Za-z0-9_]+)\s*\{/g)) {
        sets.set(m[1]!, elementsOf(balancedBlock(body, m.index! + m[0].length - 1)));
    }
    const added = new RegExp(`\\b(?:add|create)\\s+element\\s+${firewallTable.family}\\s+${firewallTable.name}\\s+([A-Za-z0-9_]+)\\s*\\{([^}]*)\\}`, "g");
    for (const m of clean.matchAll(added)) {
        sets.set(m[1]!, [...(sets.get(m[1]!) ?? []), ...m[2]!.split(/[\s,]+/).filter((e) => e !== "")]);
    }

    const chains = new Map<string, string>();
    for (const m of body.matchAll(/\bchain\s+([A-Za-z0-9_]+)\s*\{/g)) {
        chains.set(m[1]!, balancedBlock(body, m.index! + m[0].length - 1));
    }
    return { sets, chains };
}

/** Whether a set of ports (numbers or `a-b` ranges) contains `port`. */
function portSetHas(elements: string[], port: number): boolean {
    return elements.some((e) => {
        const [low, high] = e.split("-").map(Number);
        return low !== undefined && (high === undefined ? low === port : low <= port && port <= high);
    });
}

// ---- the policies -----------------------------------------------------------------------------------

const forbiddenKeys = forbiddenEnvKeys.map((key) => key.toUpperCase());
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** An assignment of a forbidden key: `KEY=`, `KEY:` (YAML), `"KEY":` (JSON), `-e KEY=…`, `export KEY=…`. */
const forbiddenAssignment = new RegExp(`(?<![A-Za-z0-9_])(?:${forbiddenEnvKeys.map(escape).join("|")})["']?\\s*[=:]`, "i");

/**
 * Nothing anywhere sets NEXT_PUBLIC_BACKEND_URL (seed: the browser uses the relative path /api; a
 * NEXT_PUBLIC_ value is inlined into the client bundle). Every string input of the resource is read,
 * command stdin included; comment lines (`#`, `//`) are not assignments.
 */
export function forbiddenEnvKeyFindings(r: ResourceView): Finding[] {
    const { keys, strings, unknowns } = stringsIn(r.props);
    const findings: Finding[] = [];
    for (const { path: where, key } of keys) {
        if (forbiddenKeys.includes(key.toUpperCase())) findings.push(violation(r.urn, `${describe(r)}: ${where} sets ${key} (seed: NEXT_PUBLIC_BACKEND_URL is never set; the browser calls the relative /api)`));
    }
    for (const { path: where, text } of strings) {
        text.split(/\r?\n/).forEach((line, index) => {
            if (/^\s*(#|\/\/)/.test(line) || !forbiddenAssignment.test(line)) return;
            findings.push(violation(r.urn, `${describe(r)}: ${where}, line ${index + 1}, assigns NEXT_PUBLIC_BACKEND_URL (seed: it is never set; the browser calls the relative /api)`));
        });
    }
    if (unknowns.length > 0) {
        findings.push(skipped(r.urn, `${describe(r)}: ${unknowns.map((u) => u.path).join(", ")} unknown during preview, not scanned for NEXT_PUBLIC_BACKEND_URL`));
    }
    return findings;
}

/** Address kinds that, as a destination, reach the host itself. */
function loopbackReason(address: string): string | undefined {
    const kind = classifyAddress(address);
    if (kind === "loopback" || kind === "hostname-loopback") return "is a loopback address";
    // Connecting to 0.0.0.0 or :: reaches the local host on Linux.
    if (kind === "unspecified") return "is the unspecified address, which connects to the host itself";
    if (kind === "invalid") return "cannot be read as an address or host name (refused rather than guessed: it may be a loopback spelling)";
    return undefined;
}

/**
 * No backend address is loopback, in any spelling (components/addresses.ts classifyAddress): the
 * `.env.production` BACKEND_HOST and AGENT_HOST, and the endpoints of Envoy's `limen_backend` cluster.
 * From the frontend, a loopback address points at the frontend itself (seed: "What matters").
 */
export function loopbackBackendFindings(r: ResourceView): Finding[] {
    const findings: Finding[] = [];
    const stdin = r.props.stdin;
    const unknownContent = (what: string) =>
        skipped(r.urn, `${describe(r)}: the ${what} is unknown during preview and was not checked for loopback addresses (the config schema refuses them)`);
    if (isEnvFileCommand(r)) {
        if (stdin instanceof Unknown) findings.push(unknownContent(`${envFileName} content`));
        else if (typeof stdin === "string") {
            const env = parseEnv(stdin);
            for (const key of ["BACKEND_HOST", "AGENT_HOST"]) {
                const value = env.get(key);
                const reason = value === undefined ? undefined : loopbackReason(value);
                if (reason) findings.push(violation(r.urn, `${describe(r)}: ${envFileName} ${key}=${value} ${reason}; from the frontend it would not reach the backend (seed: never localhost/127.0.0.1)`));
            }
        }
    }
    if (isEnvoyConfigCommand(r)) {
        if (stdin instanceof Unknown) findings.push(unknownContent("Envoy config"));
        else if (typeof stdin === "string") {
            const endpoints = envoyEndpointsOrError(stdin);
            if (typeof endpoints === "string") findings.push(violation(r.urn, `${describe(r)}: ${endpoints}`));
            for (const endpoint of Array.isArray(endpoints) ? endpoints : []) {
                const reason = loopbackReason(endpoint.address);
                if (reason) findings.push(violation(r.urn, `${describe(r)}: Envoy cluster ${envoyClusterNames.backend} endpoint ${endpoint.address} ${reason} (seed: Envoy dials the backend's internal address)`));
            }
        }
    }
    return findings;
}

function envoyEndpointsOrError(text: string): EnvoyEndpoint[] | string {
    let bootstrap: unknown;
    try {
        bootstrap = parseYaml(text);
    } catch (error) {
        return `the Envoy config does not parse as YAML (${(error as Error).message.split("\n")[0]})`;
    }
    const endpoints = envoyClusterEndpoints(bootstrap, envoyClusterNames.backend);
    if (endpoints === undefined) return `the Envoy config has no cluster ${envoyClusterNames.backend}`;
    if (endpoints.length === 0) return `the Envoy cluster ${envoyClusterNames.backend} has no endpoint in load_assignment`;
    return endpoints;
}

const hostKeyTypes = new Set([
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
]);

/**
 * Whether a line is an OpenSSH public host key (`<type> <base64>`, as ssh-keyscan prints it) whose
 * blob really is a key of that type: length-prefixed fields from the type name to the last byte
 * (RFC 4253 6.6). A placeholder, a truncated paste or a relabelled key is not a pinned key.
 */
export function isHostKeyLine(line: string): boolean {
    const match = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(\s.*)?$/.exec(line.trim());
    if (!match || !hostKeyTypes.has(match[1]!)) return false;
    const blob = Buffer.from(match[2]!, "base64");
    const fields: Buffer[] = [];
    for (let offset = 0; offset < blob.length; ) {
        if (offset + 4 > blob.length) return false;
        const length = blob.readUInt32BE(offset);
        if (offset + 4 + length > blob.length) return false;
        fields.push(blob.subarray(offset + 4, offset + 4 + length));
        offset += 4 + length;
    }
    if (fields.length < 2 || fields[0]!.toString("latin1") !== match[1]) return false;
    return match[1] !== "ssh-ed25519" || (fields.length === 2 && fields[1]!.length === 32);
}

/** `-o Key=Value`, `-oKey=Value`, `-o "Key Value"` options of an ssh argument list, keys in lower case. */
export function sshOptions(args: string[]): [string, string][] {
    const options: [string, string][] = [];
    for (let i = 0; i < args.length; i++) {
        const arg = args[i]!;
        const option = arg === "-o" ? args[++i] : arg.startsWith("-o") ? arg.slice(2) : undefined;
        if (option === undefined) continue;
        const match = /^\s*([A-Za-z]+)\s*(?:=|\s)\s*(.*?)\s*$/.exec(option);
        if (match) options.push([match[1]!.toLowerCase(), match[2]!]);
    }
    return options;
}

function dockerSshOptsFindings(r: ResourceView): Finding[] {
    const host = r.props.host;
    if (host instanceof Unknown) return [skipped(r.urn, `${describe(r)}: host is unknown during preview; its SSH options were not checked`)];
    if (typeof host !== "string" || !host.startsWith("ssh://")) return [];
    const raw = r.props.sshOpts;
    if (raw instanceof Unknown) return [skipped(r.urn, `${describe(r)}: sshOpts is unknown during preview and was not checked`)];
    let args: unknown = raw;
    if (typeof raw === "string") {
        // The Docker provider sends sshOpts JSON-encoded (@pulumi/docker provider.ts).
        try {
            args = JSON.parse(raw);
        } catch {
            args = shellWords(raw);
        }
    }
    const list = Array.isArray(args) ? args.filter((a): a is string => typeof a === "string") : [];
    // ssh takes the first value it sees for an option, so only the first occurrence counts.
    const first = (key: string) => sshOptions(list).find(([k]) => k === key)?.[1];
    const findings: Finding[] = [];
    const strict = first("stricthostkeychecking");
    if (strict?.toLowerCase() !== "yes") {
        findings.push(violation(r.urn, `${describe(r)}: ${host} must pass -o StrictHostKeyChecking=yes in sshOpts (found ${strict === undefined ? "none" : `StrictHostKeyChecking=${strict}`}); otherwise an unknown host key is accepted`));
    }
    const knownHosts = first("userknownhostsfile");
    if (!knownHosts || knownHosts.split(/\s+/).some((file) => file === "/dev/null")) {
        findings.push(violation(r.urn, `${describe(r)}: ${host} must pass -o UserKnownHostsFile=<file with the pinned key> in sshOpts (found ${knownHosts === undefined ? "none" : `UserKnownHostsFile=${knownHosts}`})`));
    }
    return findings;
}

/**
 * Every remote connection pins a host key: each remote command's `connection.hostKey` (and its jump
 * host's) is a real OpenSSH key line, and the Docker provider's ssh:// transport checks the host key
 * strictly against a known_hosts file of its own.
 */
export function hostKeyFindings(r: ResourceView): Finding[] {
    if (r.type === dockerProviderType) return dockerSshOptsFindings(r);
    if (!r.type.startsWith("command:remote:")) return [];
    const connection = r.props.connection;
    if (connection instanceof Unknown) return [skipped(r.urn, `${describe(r)}: connection is unknown during preview; its host key was not checked`)];
    if (!isRecord(connection)) return [violation(r.urn, `${describe(r)}: has no connection to check`)];
    const findings: Finding[] = [];
    const hops: [string, Plain | undefined][] = [["connection", connection]];
    if (connection.proxy !== undefined && connection.proxy !== null) hops.push(["connection.proxy", connection.proxy]);
    for (const [where, hop] of hops) {
        const hostKey = at(hop, "hostKey");
        if (hostKey instanceof Unknown) findings.push(skipped(r.urn, `${describe(r)}: ${where}.hostKey is unknown during preview and was not checked`));
        else if (typeof hostKey !== "string" || hostKey.trim() === "") {
            findings.push(violation(r.urn, `${describe(r)}: ${where}.hostKey is not set: the connection would accept any host key`));
        } else if (!isHostKeyLine(hostKey)) {
            findings.push(violation(r.urn, `${describe(r)}: ${where}.hostKey "${hostKey.slice(0, 60)}" is not an OpenSSH host key line (paste the output of ssh-keyscan -t ed25519 <host>)`));
        }
    }
    return findings;
}

/**
 * The env file is not world-readable: a remote command that writes `.env.production` does so with the
 * host tool's `install-file --mode`, and the mode has no bits for others (0600, 0640). Anything else
 * that names the file in its create/update cannot show the mode it leaves, and is refused.
 */
export function envFileModeFindings(r: ResourceView): Finding[] {
    if (!isRemoteCommand(r)) return [];
    const findings: Finding[] = [];
    for (const { field, text } of commandLines(r)) {
        if (text instanceof Unknown) {
            findings.push(skipped(r.urn, `${describe(r)}: ${field} is unknown during preview; not checked for ${envFileName}`));
            continue;
        }
        if (typeof text !== "string" || !text.includes(envFileName)) continue;
        const install = installFileOf(text);
        if (!install || install.path === undefined || path.posix.basename(install.path) !== envFileName) {
            findings.push(violation(r.urn, `${describe(r)}: ${field} writes ${envFileName} without \`install-file --mode\`; the file's mode cannot be shown to exclude others`));
            continue;
        }
        const mode = install.mode !== undefined && /^[0-7]{3,4}$/.test(install.mode) ? parseInt(install.mode, 8) : undefined;
        if (mode === undefined || (mode & 0o007) !== 0 || (mode & 0o7000) !== 0) {
            findings.push(violation(r.urn, `${describe(r)}: ${field} installs ${install.path} with mode ${install.mode ?? "(none)"}; it must give others nothing (0600 or 0640): the file may hold secrets`));
        }
    }
    return findings;
}

export interface FirewallPolicyConfig {
    /** Ports only the frontend may reach on the backend (default the seed's 18443 and 9000). */
    internalPorts: number[];
    /** Frontend addresses besides its SSH address, e.g. its IPv6 address (default none). */
    additionalFrontendAddresses: string[];
}

/**
 * The backend firewall keeps the internal ports to the frontend alone (seed: 18443 and 9000 are
 * "internal network" ports for talking to the frontend): on every backend host, the stack's ruleset
 * lists those ports in `internal_ports` (and `guarded_ports`, which prerouting drops for anyone else)
 * and not in `public_ports`; `internal_clients_v4`/`_v6` hold frontend addresses only, and at least
 * one; the input chain drops by default.
 */
export function backendFirewallFindings(resources: ResourceView[], config: FirewallPolicyConfig): Finding[] {
    const commands = resources.filter(isRemoteCommand);
    const frontendCommands = commands.filter((r) => isEnvFileCommand(r) || isEnvoyConfigCommand(r));
    if (frontendCommands.length === 0) {
        return [violation("", `no command installs ${envFileName} or the Envoy config, so the frontend (the backend's only allowed client) cannot be told apart`)];
    }
    const unknownHosts = commands.filter((r) => connectionHost(r) instanceof Unknown);
    if (unknownHosts.length > 0) {
        return [skipped("", `the connection host of ${unknownHosts.map((r) => r.name).join(", ")} is unknown during preview; the backend firewall was not checked`)];
    }
    const hostOf = (r: ResourceView) => connectionHost(r) as string | undefined;
    const frontendHosts = new Set(frontendCommands.map(hostOf).filter((h): h is string => h !== undefined).map(sameAddress));
    const backendHosts = [...new Set(commands.map(hostOf).filter((h): h is string => h !== undefined).map(sameAddress))].filter((h) => !frontendHosts.has(h));
    if (backendHosts.length === 0) return [violation("", "no remote command runs on a host other than the frontend: the backend and its firewall are missing")];

    const allowed = new Set([...frontendHosts, ...config.additionalFrontendAddresses.map(sameAddress)]);
    const findings: Finding[] = [];
    for (const backend of backendHosts) {
        const onHost = commands.filter((r) => sameAddress(hostOf(r) ?? "") === backend);
        const rulesets = onHost.filter((r) => typeof r.props.stdin === "string" && isLimenRuleset(r.props.stdin));
        if (rulesets.length === 0) {
            const unknownStdin = onHost.filter((r) => r.props.stdin instanceof Unknown);
            findings.push(
                unknownStdin.length > 0
                    ? skipped("", `backend ${backend}: stdin of ${unknownStdin.map((r) => r.name).join(", ")} is unknown during preview; its firewall was not checked`)
                    : violation("", `backend ${backend}: no command loads the ${firewallTable.family} ${firewallTable.name} ruleset, so nothing keeps ${config.internalPorts.join(", ")} to the frontend`),
            );
            continue;
        }
        for (const r of rulesets) {
            const table = parseLimenTable(r.props.stdin as string);
            const set = (name: string) => table.sets.get(name) ?? [];
            const where = `${describe(r)} (backend ${backend})`;
            for (const port of config.internalPorts) {
                if (!portSetHas(set("internal_ports"), port)) findings.push(violation(r.urn, `${where}: port ${port} is not in internal_ports, so the frontend cannot reach it`));
                if (!portSetHas(set("guarded_ports"), port)) findings.push(violation(r.urn, `${where}: port ${port} is not in guarded_ports, so prerouting does not drop it for other sources`));
                if (portSetHas(set("public_ports"), port)) findings.push(violation(r.urn, `${where}: port ${port} is in public_ports, open to everyone (seed: internal network only)`));
            }
            const clients = [...set("internal_clients_v4"), ...set("internal_clients_v6")];
            for (const client of clients) {
                if (!allowed.has(sameAddress(client))) {
                    findings.push(violation(r.urn, `${where}: internal_clients lists ${client}, which is not a frontend address (${[...allowed].join(", ")}); only the frontend may reach ${config.internalPorts.join(", ")}`));
                }
            }
            if (!clients.some((client) => allowed.has(sameAddress(client)))) {
                findings.push(violation(r.urn, `${where}: internal_clients_v4/_v6 hold no frontend address, so the frontend cannot reach the backend`));
            }
            const input = table.chains.get("input");
            if (input === undefined || !/\bpolicy\s+drop\s*;/.test(input)) findings.push(violation(r.urn, `${where}: the input chain does not drop by default`));
        }
    }
    return findings;
}

/**
 * Envoy's backend cluster uses the internal address and port: the `limen_backend` endpoints equal
 * BACKEND_HOST and BACKEND_PORT of the `.env.production` on the same host (seed: middleware and Envoy
 * both use the backend's internal address and port 18443). With Envoy switched off there is nothing to compare.
 */
export function envoyBackendFindings(resources: ResourceView[]): Finding[] {
    const commands = resources.filter(isRemoteCommand);
    const envFiles = commands.filter(isEnvFileCommand);
    const findings: Finding[] = [];
    for (const envoy of commands.filter(isEnvoyConfigCommand)) {
        const host = connectionHost(envoy);
        const beside = envFiles.filter((r) => typeof host !== "string" || connectionHost(r) === host);
        if (envoy.props.stdin instanceof Unknown || beside.some((r) => r.props.stdin instanceof Unknown)) {
            findings.push(skipped(envoy.urn, `${describe(envoy)}: the Envoy config or ${envFileName} is unknown during preview; the backend cluster was not compared (the config schema derives both from one value)`));
            continue;
        }
        if (typeof envoy.props.stdin !== "string") {
            findings.push(violation(envoy.urn, `${describe(envoy)}: installs an Envoy config with no content to check`));
            continue;
        }
        if (beside.length === 0) {
            findings.push(violation(envoy.urn, `${describe(envoy)}: no ${envFileName} on the same host to compare the ${envoyClusterNames.backend} cluster with`));
            continue;
        }
        const endpoints = envoyEndpointsOrError(envoy.props.stdin);
        if (typeof endpoints === "string") {
            findings.push(violation(envoy.urn, `${describe(envoy)}: ${endpoints}`));
            continue;
        }
        for (const envFile of beside) {
            const env = parseEnv(typeof envFile.props.stdin === "string" ? envFile.props.stdin : "");
            const backendHost = env.get("BACKEND_HOST");
            const backendPort = env.get("BACKEND_PORT");
            if (backendHost === undefined || backendPort === undefined || !/^\d+$/.test(backendPort)) {
                findings.push(violation(envFile.urn, `${describe(envFile)}: ${envFileName} must set BACKEND_HOST and a numeric BACKEND_PORT`));
                continue;
            }
            for (const endpoint of endpoints) {
                if (sameAddress(endpoint.address) !== sameAddress(backendHost) || endpoint.port !== Number(backendPort)) {
                    findings.push(
                        violation(
                            envoy.urn,
                            `${describe(envoy)}: Envoy cluster ${envoyClusterNames.backend} dials ${endpoint.address}:${endpoint.port}, but ${envFileName} has BACKEND_HOST=${backendHost} BACKEND_PORT=${backendPort}; both must be the backend's internal address and port (seed: "Envoy and the middleware use the internal port")`,
                        ),
                    );
                }
            }
        }
    }
    return findings;
}
