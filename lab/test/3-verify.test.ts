/**
 * `npm run verify` against the lab's converged hosts, from the operator namespace: every check passes
 * (the runbook's, and one per artifact of each host's plan); a rule deleted by hand on the backend fails
 * the backend's firewall check, naming the rule, and the advice it gives (`pulumi up --refresh`) really
 * repairs it. The pinned host keys are really enforced. Runs after 2-safety.test.ts.
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

/** The runbook's checks, on the frontend. */
const runbookChecks = ["backend-health", "session-cookie", "proxy-log", "app-ports-loopback"];
/**
 * One per artifact of the lab's plans, written out rather than derived from the plan so that a check
 * that went missing shows: with Envoy on, its bootstrap and its listeners and clusters files, and the pair
 * it serves (the lab's host files).
 */
const frontendChecks = [
    "frontend host tool",
    "frontend firewall",
    "frontend file /etc/limen/pm2/ecosystem.config.js",
    "frontend file /srv/limen-frontend/.env.production",
    "frontend file /etc/limen/logrotate/pm2.conf",
    "frontend file /etc/systemd/system/limen-pm2-logrotate.service",
    "frontend file /etc/systemd/system/limen-pm2-logrotate.timer",
    "frontend file /etc/limen/envoy/envoy.yaml",
    "frontend file /etc/limen/envoy/dynamic/lds.yaml",
    "frontend file /etc/limen/envoy/dynamic/cds.yaml",
    "frontend pm2",
];
const backendChecks = ["backend host tool", "backend firewall"];
const certificateChecks = ["frontend certificate sites"];
const diskChecks = ["frontend disk", "backend disk"];
const checkNames = [...runbookChecks, ...frontendChecks, ...backendChecks, ...certificateChecks, ...diskChecks];
const repairAdvice = "run `pulumi up --refresh` to repair";
const publicPortsRule = "tcp dport @public_ports accept";

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
    it("every check passes on the converged hosts; the key never shows and no key file is written", () => {
        const before = verifyDirs();
        const { status, rows, output } = verify();
        expect(
            rows.map((row) => [row.check, row.ok]),
            JSON.stringify(rows, null, 2),
        ).toEqual(checkNames.map((name) => [name, true]));
        expect(status).toBe(0);
        const backend = `http://${hosts.hosts.backend.ipv4}:18443`;
        const proxyLines = byName(rows)["proxy-log"]!.lines ?? [];
        expect(
            proxyLines.some((line) => line.includes(`Proxy POST /api/auth/session -> ${backend}/api/auth/session session`)),
            proxyLines.join("\n"),
        ).toBe(true);
        const keyLines = readFileSync(hosts.deployPrivateKeyPath, "utf8").trim().split("\n");
        expect(output).not.toContain(keyLines[Math.floor(keyLines.length / 2)]);
        expect(verifyDirs()).toEqual(before);
    });

    it("a rule deleted by hand on the backend is drift: its firewall check fails naming the rule, and `pulumi up --refresh` repairs it", async () => {
        const handle = onHostOk("backend", `nft -a list chain inet limen_firewall input | sed -n 's/^[[:space:]]*${publicPortsRule} # handle \\([0-9]*\\)$/\\1/p'`).trim();
        expect(handle).toMatch(/^\d+$/);
        onHostOk("backend", `nft delete rule inet limen_firewall input handle ${handle}`);
        let repaired = false;
        try {
            const { status, rows } = verify();
            expect(status).toBe(1);
            const firewall = byName(rows)["backend firewall"]!;
            expect(firewall.ok).toBe(false);
            expect(firewall.detail).toBe(`live: chain input: rule "${publicPortsRule}" is missing on the host, loaded as rendered planned; ${repairAdvice}`);
            expect(rows.filter((row) => !row.ok).map((row) => row.check)).toEqual(["backend firewall"]);

            // The advice, followed: the refresh reads the table through the same probe, and the update
            // applies the planned ruleset again (with its confirmation over a new connection).
            const up = await stack.up({ refresh: true, color: "never", onOutput: () => undefined });
            expect(up.summary.result).toBe("succeeded");
            expect(onHostOk("backend", "nft list chain inet limen_firewall input")).toContain(publicPortsRule);
            repaired = true;
        } finally {
            // Later tests need the rule: when the repair above did not happen, the host's own boot file restores it.
            if (!repaired) onHostOk("backend", "nft -f /etc/limen/firewall/limen.nft");
        }
    }, 300_000);

    it("after the repair, verify passes again", () => {
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
            // Every check that runs on the frontend fails with the reason; the backend's still pass.
            const refused = rows.filter((row) => !row.ok);
            expect(refused.map((row) => row.check)).toEqual([...runbookChecks, ...frontendChecks, ...certificateChecks, "frontend disk"]);
            for (const row of refused) expect(row.detail, row.check).toMatch(/the host key it presented is not the one pinned in limen:frontend\.hostKey/);
            expect(rows.filter((row) => row.ok).map((row) => row.check)).toEqual([...backendChecks, "backend disk"]);
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
