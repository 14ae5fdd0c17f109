/**
 * What a user would see, measured from the lab's namespaces: real TCP connects, real HTTP, and
 * commands inside the machines (through lab/hosts/exec.sh, not through the stack's own SSH path).
 */
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { hostToolPath } from "../../core/host-paths";
import { shellWord } from "../../core/shell";
import { LabHosts, repoRoot } from "../stack";

export interface Result {
    status: number | null;
    stdout: string;
    stderr: string;
}

function run(command: string, args: string[], input?: string): Result {
    const result = spawnSync(command, args, { encoding: "utf8", input, timeout: 60_000 });
    return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

/**
 * Resources of the lab stack as lab/stack.ts configures it: the stack itself plus 18, per host the
 * component and its host tool, per firewall the component and its table, the frontend apps (component,
 * ecosystem, env file, the rotation of pm2's logs as three files, pm2 apps), and Envoy (component, Docker provider, image, release, bootstrap, listeners,
 * clusters, the container's name, the container, the settle step).
 */
export const labResourceCount = 26;

/** Runs a command in a lab network namespace (the host's filesystem, the namespace's network). */
export function inNamespace(namespace: string, command: string, ...args: string[]): Result {
    return run("ip", ["netns", "exec", namespace, command, ...args]);
}

/** A real TCP connect from a namespace: true when the handshake completes within 1 s (a dropped SYN is a timeout). */
export function tcpOpen(namespace: string, address: string, port: number): boolean {
    return inNamespace(namespace, "nc", "-z", "-w", "1", address, String(port)).status === 0;
}

/**
 * For an expected "open": a few attempts, since one connect can lose a race with a process still
 * starting. An expected "closed" is always measured with tcpOpen, every attempt counting.
 */
export function tcpOpensWithin(namespace: string, address: string, port: number, attempts = 5): boolean {
    for (let attempt = 0; attempt < attempts; attempt++) {
        if (tcpOpen(namespace, address, port)) return true;
        spawnSync("sleep", ["0.5"]);
    }
    return false;
}

/** Runs a shell script inside a lab machine as root. */
export function onHost(host: "frontend" | "backend" | "outsider", script: string): Result {
    return run(path.join(repoRoot, "lab", "hosts", "exec.sh"), [host, "sh", "-c", script]);
}

/**
 * A script that hands the installed host tool one request, as the stack does (a JSON object on its
 * stdin, the text output): `content`, when given, goes in as the request's base64 `contentBase64`.
 */
export function toolRequestCommand(request: Record<string, unknown> & { content?: string }): string {
    const { content, ...fields } = request;
    const body = { ...fields, output: "text", ...(content === undefined ? {} : { contentBase64: Buffer.from(content).toString("base64") }) };
    return `printf '%s\\n' ${shellWord(JSON.stringify(body))} | ${hostToolPath}`;
}

/** Like onHost, but throws with the script's stderr when it fails. */
export function onHostOk(host: "frontend" | "backend" | "outsider", script: string): string {
    const result = onHost(host, script);
    if (result.status !== 0) throw new Error(`${host}: \`${script}\` exited ${result.status}: ${result.stderr}`);
    return result.stdout;
}

/** `pm2 jlist` of the apps' user on the frontend, as name → status. */
export function pm2Status(user = "limen"): Record<string, string> {
    // jlist prints one JSON line, after "[PM2] ..." notices when it had to start the daemon.
    const output = onHostOk("frontend", `su - ${user} -c 'pm2 jlist'`).trim().split("\n").at(-1) ?? "[]";
    const list = JSON.parse(output) as { name: string; pm2_env: { status: string } }[];
    return Object.fromEntries(list.map((p) => [p.name, p.pm2_env.status]));
}

/**
 * Moves the agent fixture on the backend to `port` and waits until it listens there: the backend
 * preflight checks the agent's port from the frontend before .env.production changes.
 */
export function moveAgentFixture(port: number): void {
    onHostOk(
        "backend",
        `sed -i 's/^PORT=.*/PORT=${port}/' /etc/default/limen-fixture-agent && systemctl restart limen-fixture-agent && ` +
            `for i in $(seq 50); do ss -Hltn "sport = :${port}" | grep -q . && exit 0; sleep 0.1; done; exit 1`,
    );
}

/** A command (a shell loop in a namespace or machine) that runs in the background while `pulumi up` works; resolves to its stdout. */
export function background(command: string, args: string[]): Promise<string> {
    return new Promise((resolve) => {
        const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.on("close", () => resolve(out));
    });
}

/**
 * One loop of the storm's client (lab/storm/client.js: Node's stdlib, no retries) from the outsider to
 * `url` through the frontend's public address, until `stopFile` appears; resolves to its output (a JSON
 * line per failure, then the summary). With `progressFile`, the counts so far are rewritten there.
 */
export function stormLoop(hosts: LabHosts, url: string, options: { mode: "keepalive" | "fresh"; stopFile: string; progressFile?: string }): Promise<string> {
    return background("ip", [
        "netns",
        "exec",
        hosts.hosts.outsider.namespace,
        process.execPath,
        path.join(repoRoot, "lab", "storm", "client.js"),
        `--url=${url}`,
        `--connect=${hosts.hosts.frontend.ipv4}`,
        `--mode=${options.mode}`,
        `--stop-file=${options.stopFile}`,
        ...(options.progressFile ? [`--progress-file=${options.progressFile}`] : []),
    ]);
}

/** `pulumi preview --refresh --diff`: the resources it would change (by name), and its text. */
export async function previewRefresh(stack: Stack): Promise<{ changed: string[]; text: string }> {
    const changed = new Set<string>();
    let text = "";
    await stack.preview({
        color: "never",
        refresh: true,
        diff: true,
        onOutput: (line) => (text += line),
        onEvent: (event: EngineEvent) => {
            const metadata = event.resourcePreEvent?.metadata;
            if (metadata && !["same", "refresh", "read"].includes(metadata.op)) changed.add(metadata.urn.split("::").at(-1)!);
        },
    });
    return { changed: [...changed].sort(), text };
}
