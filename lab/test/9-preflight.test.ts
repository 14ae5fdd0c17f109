/**
 * The backend preflight: a backend address that is valid for the schema but wrong (nothing there, or
 * nothing listening on the agent's port) is refused by the frontend itself before .env.production or
 * the ecosystem changes, with a message naming the keys, the address tried and what came back. The
 * hosts are untouched and the site answers throughout. Runs after 8-hostile-app-user.test.ts.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, LabOverrides, openLabStack, readLabHosts, recordFigure, repoRoot } from "../stack";
import { onHostOk } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const quiet = { color: "never" as const, onOutput: () => undefined };
/** On the lab's network, and no machine has it. */
const unusedAddress = "198.51.100.150";

/** What a refused deploy must leave exactly as it was: the apps' files (content and inode), the apps' processes, both tables. */
function hostState(): string {
    const frontend = onHostOk(
        "frontend",
        "stat -c '%i %Y' /srv/limen-frontend/.env.production /etc/limen/pm2/ecosystem.config.js && sha256sum /srv/limen-frontend/.env.production /etc/limen/pm2/ecosystem.config.js && " +
            "pgrep -u limen -f 'next-server|server.js' | sort && nft list table inet limen_firewall | sha256sum",
    );
    return frontend + onHostOk("backend", "nft list table inet limen_firewall | sha256sum");
}

const stopFile = "/tmp/limen-site-loop.stop";

/** Requests to both apps on the frontend, every 0.1 s until stopped, as `ok failed` counts. */
function siteLoop(): { stop: () => Promise<{ ok: number; failed: number }> } {
    onHostOk("frontend", `rm -f ${stopFile}`);
    const child = spawn(path.join(repoRoot, "lab", "hosts", "exec.sh"), [
        "frontend",
        "sh",
        "-c",
        `ok=0; failed=0; while [ ! -e ${stopFile} ]; do for p in 9444 9445; do ` +
            "if curl -sf -o /dev/null -m 2 http://127.0.0.1:$p/; then ok=$((ok+1)); else failed=$((failed+1)); fi; done; sleep 0.1; done; echo $ok $failed",
    ]);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    return {
        stop: async () => {
            onHostOk("frontend", `touch ${stopFile}`);
            await new Promise((resolve) => child.on("close", resolve));
            const [ok, failed] = out.trim().split(" ").map(Number);
            return { ok: ok ?? 0, failed: failed ?? -1 };
        },
    };
}

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await configureLabStack(hosts);
    expect((await stack.up(quiet)).summary.result).toBe("succeeded");
}, 300_000);

afterAll(async () => {
    await configureLabStack(hosts);
    await stack.up(quiet);
}, 300_000);

describe("the backend preflight refuses a wrong but valid backend before anything changes", () => {
    it.each<[string, LabOverrides, RegExp]>([
        [
            "BACKEND_HOST at an address where no machine answers",
            { internalAddress: unusedAddress, extraEnv: { PREFLIGHT: "host" } },
            new RegExp(
                `limen:backend\\.internalAddress and limen:backend\\.apiPort \\(BACKEND_HOST:BACKEND_PORT\\): http://${unusedAddress.replace(/\./g, "\\.")}:18443/api/health from the frontend (is unreachable|timed out after 5 s)`,
            ),
        ],
        [
            // The outsider's machine: it exists, and nothing listens on 9000 there.
            "AGENT_HOST at a machine where nothing listens on the agent's port",
            { agentAddress: "198.51.100.200", extraEnv: { PREFLIGHT: "agent" } },
            /limen:backend\.agentAddress and limen:backend\.agentPort \(AGENT_HOST:AGENT_PORT\): 198\.51\.100\.200:9000 from the frontend was refused \(nothing listens on that port\)/,
        ],
    ])(
        "%s: `pulumi up` fails naming the keys, the address and what came back; 0 host changes",
        async (what, overrides, says) => {
            const before = hostState();
            const loop = siteLoop();
            await configureLabStack(hosts, overrides);
            const started = Date.now();
            const error = await stack.up(quiet).then(
                () => "",
                (e: Error) => e.message,
            );
            const seconds = (Date.now() - started) / 1000;
            const requests = await loop.stop();
            expect(error).toMatch(says);
            expect(error).toContain("Nothing on the hosts was changed");
            const after = hostState();
            const changed = after === before ? 0 : after.split("\n").filter((line, index) => line !== before.split("\n")[index]).length;
            recordFigure(
                `preflight: ${what}`,
                `refused in ${seconds.toFixed(1)} s; ${changed} host changes; ${requests.ok + requests.failed} requests to the apps, ${requests.failed} failed`,
            );
            expect(after).toBe(before);
            expect(requests.failed).toBe(0);
            expect(requests.ok).toBeGreaterThan(0);
        },
        300_000,
    );
});
