/**
 * `npm run verify` against the lab's converged hosts, from the operator namespace: every check of the
 * runbook passes; a rule deleted by hand on the backend is reported as drift, naming the host and the
 * rule; the host's own ruleset restores it. The pinned host keys are really enforced. Runs after
 * 2-safety.test.ts.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Stack } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, engineEnv, LabHosts, labConfig, openLabStack, pulumiBinary, readLabHosts, repoRoot, stackName, writeLabConfig } from "../stack";
import { onHostOk } from "./probes";

interface VerifyRow {
    check: string;
    ok: boolean;
    detail: string;
    lines?: string[];
}

let stack: Stack;
let hosts: LabHosts;

const checkNames = ["backend-health", "session-cookie", "app-ports-loopback", "firewall-frontend", "firewall-backend", "pm2-online", "proxy-log"];

/** `npm run verify -- --stack <stack> --json` as an operator runs it (`--silent`: npm's banner would precede the JSON). */
function verify(stackToCheck = stackName): { status: number | null; rows: VerifyRow[]; output: string } {
    const run = spawnSync("npm", ["run", "--silent", "verify", "--", "--stack", stackToCheck, "--json"], {
        cwd: repoRoot,
        env: { ...process.env, ...engineEnv(), LIMEN_PULUMI_BIN: pulumiBinary() },
        encoding: "utf8",
        timeout: 120_000,
    });
    let rows: VerifyRow[] = [];
    try {
        rows = JSON.parse(run.stdout) as VerifyRow[];
    } catch {
        throw new Error(`verify printed no JSON (exit ${run.status}): ${run.stdout}\n${run.stderr}`);
    }
    return { status: run.status, rows, output: run.stdout + run.stderr };
}

const byName = (rows: VerifyRow[]) => Object.fromEntries(rows.map((row) => [row.check, row]));
const verifyDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith("limen-verify-"));

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await configureLabStack(hosts);
    const result = await stack.up({ color: "never", onOutput: () => undefined });
    expect(result.summary.result).toBe("succeeded");
}, 300_000);

describe("verify: the runbook as read-only checks", () => {
    it("every check passes on the converged hosts; the key never shows and its file is gone", () => {
        const before = verifyDirs();
        const { status, rows, output } = verify();
        expect(rows.map((row) => [row.check, row.ok]), JSON.stringify(rows, null, 2)).toEqual(checkNames.map((name) => [name, true]));
        expect(status).toBe(0);
        const backend = `http://${hosts.hosts.backend.ipv4}:18443`;
        const proxyLines = byName(rows)["proxy-log"]!.lines ?? [];
        expect(proxyLines.some((line) => line.includes(`Proxy POST /api/auth/session -> ${backend}/api/auth/session session`)), proxyLines.join("\n")).toBe(true);
        const keyLines = readFileSync(hosts.deployPrivateKeyPath, "utf8").trim().split("\n");
        expect(output).not.toContain(keyLines[Math.floor(keyLines.length / 2)]);
        expect(verifyDirs()).toEqual(before);
    });

    it("a rule deleted by hand on the backend is drift: verify fails, naming the backend and the rule", () => {
        const handle = onHostOk("backend", "nft -a list chain inet limen_firewall input | sed -n 's/^[[:space:]]*tcp dport @public_ports accept # handle \\([0-9]*\\)$/\\1/p'").trim();
        expect(handle).toMatch(/^\d+$/);
        onHostOk("backend", `nft delete rule inet limen_firewall input handle ${handle}`);
        try {
            const { status, rows } = verify();
            expect(status).toBe(1);
            const firewall = byName(rows)["firewall-backend"]!;
            expect(firewall.ok).toBe(false);
            expect(firewall.detail).toContain("the backend's loaded table differs from the stack's");
            expect(firewall.detail).toContain('chain input: rule "tcp dport @public_ports accept" is missing');
            expect(firewall.detail).toContain("restore with `sudo nft -f /etc/limen/firewall/limen.nft`");
            expect(rows.filter((row) => !row.ok).map((row) => row.check)).toEqual(["firewall-backend"]);
        } finally {
            // `pulumi up` cannot see this drift (command resources are not refreshed): the host's own file restores it.
            onHostOk("backend", "nft -f /etc/limen/firewall/limen.nft");
        }
    });

    it("after the host's own ruleset is loaded again, verify passes again", () => {
        const { status, rows } = verify();
        expect(rows.filter((row) => !row.ok)).toEqual([]);
        expect(status).toBe(0);
    });

    it("a host whose key is not the pinned one is refused: its checks fail, naming the key to compare", async () => {
        // The frontend pinned with the backend's key: ssh must refuse the frontend and still reach the backend.
        const config = labConfig(hosts);
        writeLabConfig({ ...config, "limen:frontend": { ...(config["limen:frontend"] as object), hostKey: hosts.hosts.backend.hostKey } });
        try {
            const { status, rows } = verify();
            expect(status).toBe(1);
            const checks = byName(rows);
            expect(checks["firewall-frontend"]!.detail).toMatch(/the host's key is not the one pinned in limen:frontend\.hostKey/);
            expect(checks["backend-health"]!.ok).toBe(false);
            expect(checks["firewall-backend"]!.ok).toBe(true);
        } finally {
            await configureLabStack(hosts);
        }
    });

    it("a stack that does not exist: exit 2 and a config row, no SSH attempted", () => {
        const { status, rows } = verify("no-such-stack");
        expect(status).toBe(2);
        expect(rows).toEqual([{ check: "config", ok: false, detail: expect.stringMatching(/pulumi config --stack no-such-stack failed: .*no-such-stack/) }]);
    });
});
