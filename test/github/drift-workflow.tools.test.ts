import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/**
 * .github/drift-summary.mjs run with node on fixtures shaped like `pulumi preview --json` and
 * `npm run -s verify -- --json` output, the way .github/workflows/drift.yml runs it.
 */
const root = path.join(__dirname, "..", "..");
const script = path.join(root, ".github", "drift-summary.mjs");
const workflowFile = path.join(root, ".github", "workflows", "drift.yml");

const secret = "LIMEN_SESSION_SECRET=hunter2-9f8e7d6c";
const urn = (type: string, name: string) => `urn:pulumi:prod::limen-infra::${type}::${name}`;

function summarise(command: "preview" | "verify", content: string, exitCode?: number) {
    const dir = mkdtempSync(path.join(tmpdir(), "limen-drift-"));
    const input = path.join(dir, `${command}.json`);
    const summary = path.join(dir, "summary.md");
    writeFileSync(input, content);
    const args = [script, command, input, ...(exitCode === undefined ? [] : [String(exitCode)])];
    const result = spawnSync("node", args, { encoding: "utf8", env: { ...process.env, GITHUB_STEP_SUMMARY: summary } });
    return { status: result.status, stderr: result.stderr, summary: existsSync(summary) ? readFileSync(summary, "utf8") : "" };
}

const stackStep = { op: "same", urn: urn("pulumi:pulumi:Stack", "limen-infra-prod") };

function preview(steps: object[], changeSummary: Record<string, number>, extra: object = {}): string {
    return JSON.stringify({ config: { "limen:sshPrivateKey": "[secret]" }, steps: [stackStep, ...steps], changeSummary, ...extra }, null, 4);
}

const envFileUpdate = {
    op: "update",
    urn: urn("limen:frontend:FrontendApps$limen:host:HostFile", "frontend-apps-env-production"),
    oldState: { type: "limen:host:HostFile", inputs: { content: "LIMEN_SESSION_SECRET=old-value-1234", mode: "0644" } },
    newState: { type: "limen:host:HostFile", inputs: { content: secret, mode: "0600", check: "limen-host install-file --mode 0600" } },
    diffReasons: ["mode"],
    detailedDiff: { content: { kind: "update", inputDiff: true } },
};

describe("drift-summary.mjs preview", () => {
    it("says no drift, with the count of unchanged resources, and exits 0", () => {
        const result = summarise("preview", preview([], { same: 14 }), 0);
        expect(result.status).toBe(0);
        expect(result.summary).toContain("No drift: 14 resources match the hosts");
        expect(result.summary).not.toContain("| resource |");
    });

    it("lists a drifted resource with its type, op and changed property, never a value, and exits 1", () => {
        const result = summarise("preview", preview([envFileUpdate], { same: 13, update: 1 }), 255);
        expect(result.status).toBe(1);
        expect(result.summary).toContain("| frontend-apps-env-production | limen:host:HostFile | update | mode |");
        expect(result.summary).not.toContain("hunter2");
        expect(result.summary).not.toContain("old-value-1234");
        expect(result.summary).not.toContain("install-file --mode");
        expect(result.summary).not.toContain("No drift");
    });

    it("names the detailed diff's properties when there are no diff reasons, and a delete with none", () => {
        const container = {
            op: "replace",
            urn: urn("limen:envoy:EnvoyProxy$docker:index/container:Container", "envoy"),
            detailedDiff: { "envs[2]": { kind: "update", inputDiff: false }, image: { kind: "update-replace", inputDiff: false } },
        };
        const deleted = { op: "delete", urn: urn("limen:host:HostFile", "old|name") };
        const result = summarise("preview", preview([container, deleted], { same: 12, replace: 1, delete: 1 }));
        expect(result.status).toBe(1);
        expect(result.summary).toContain("| envoy | docker:index/container:Container | replace | envs[2], image |");
        expect(result.summary).toContain("| old\\|name | limen:host:HostFile | delete | – |");
    });

    it("does not count the refresh steps that carry no change, only those naming one", () => {
        const refreshes = ["frontend-host-tool", "backend-host-tool"].map((name) => ({ op: "refresh", urn: urn("limen:host:HostTool", name) }));
        expect(summarise("preview", preview(refreshes, { same: 14 }), 0)).toMatchObject({ status: 0, summary: expect.stringContaining("No drift: 14") });

        const changed = { op: "refresh", urn: urn("docker:index/container:Container", "envoy"), diffReasons: ["restart"] };
        const result = summarise("preview", preview([...refreshes, changed], { same: 14 }), 255);
        expect(result.status).toBe(1);
        expect(result.summary).toContain("| envoy | docker:index/container:Container | refresh | restart |");
        expect(result.summary).not.toContain("frontend-ready");
    });

    it("fails closed when the change summary counts a change no step names", () => {
        const result = summarise("preview", preview([], { same: 13, create: 1 }), 255);
        expect(result.status).toBe(1);
        expect(result.summary).toContain("counts 1 create");
        expect(result.summary).not.toContain("No drift");
    });

    it("does not claim no drift when pulumi failed without proposing a change, and logs its errors", () => {
        const diagnostics = [{ message: "ssh: handshake failed: host key mismatch\n", severity: "error", urn: stackStep.urn }];
        const result = summarise("preview", preview([], { same: 2 }, { diagnostics }), 255);
        expect(result.status).toBe(0);
        expect(result.summary).toContain("`pulumi preview` failed (pulumi exited 255)");
        expect(result.summary).not.toContain("No drift");
        expect(result.stderr).toContain("ssh: handshake failed: host key mismatch");
    });

    it.each([
        ["truncated JSON", `{"steps": [{"op": "update", "newState": {"inputs": {"stdin": "${secret}`],
        ["not JSON at all", `${secret}\n`],
        ["empty output", ""],
        ["JSON that is not a preview", `{"error": "${secret}"}`],
    ])("exits 1 on %s, without quoting the file", (_, content) => {
        const result = summarise("preview", content, 255);
        expect(result.status).toBe(1);
        expect(result.summary).toMatch(/the hosts were not compared/);
        expect(result.summary).toContain("pulumi exited 255");
        expect(result.summary).not.toContain("hunter2");
        expect(result.summary).not.toContain("No drift");
    });

    it("exits 1 when the file does not exist", () => {
        const result = spawnSync("node", [script, "preview", path.join(tmpdir(), "limen-drift-missing", "preview.json")], {
            encoding: "utf8",
            env: { ...process.env, GITHUB_STEP_SUMMARY: "" },
        });
        expect(result.status).toBe(1);
        expect(result.stdout).toContain("cannot be read (ENOENT)");
    });

    it("refuses an unknown subcommand with exit 2", () => {
        expect(spawnSync("node", [script, "plan", "preview.json"], { encoding: "utf8" }).status).toBe(2);
    });
});

describe("drift-summary.mjs verify", () => {
    const checks = [
        { check: "backend-health", ok: true, detail: "200 from http://10.0.0.100:18443/api/health" },
        { check: "firewall-backend", ok: false, detail: 'chain input: rule "tcp dport @internal_ports accept" is missing | set lacks 10.0.0.10' },
        { check: "pm2-online", ok: true, detail: "4 of 4 online" },
    ];

    it("lists the failed check with its detail and exits 1", () => {
        const result = summarise("verify", JSON.stringify(checks, null, 2), 1);
        expect(result.status).toBe(1);
        expect(result.summary).toContain("1 of 3 checks failed");
        expect(result.summary).toContain('| firewall-backend | chain input: rule "tcp dport @internal_ports accept" is missing \\| set lacks 10.0.0.10 |');
        expect(result.summary).not.toContain("backend-health");
    });

    it("says all passed and exits 0", () => {
        const result = summarise("verify", JSON.stringify(checks.map((check) => ({ ...check, ok: true }))), 0);
        expect(result).toMatchObject({ status: 0, summary: expect.stringContaining("All 3 checks passed") });
        expect(result.summary).not.toContain("warning");
    });

    it("lists a check that passed with a warning (a certificate close to expiry) without failing the job", () => {
        const warned = { check: "frontend certificate limen", ok: true, warning: true, detail: "15 days left (until 2026-12-15), under 21: renewals are failing" };
        const passing = summarise("verify", JSON.stringify([...checks.map((check) => ({ ...check, ok: true })), warned]), 0);
        expect(passing.status).toBe(0);
        expect(passing.summary).toContain("All 4 checks passed.\n\n1 passed with a warning:");
        expect(passing.summary).toContain("| frontend certificate limen | 15 days left (until 2026-12-15), under 21: renewals are failing |");
        const failing = summarise("verify", JSON.stringify([...checks, warned]), 1);
        expect(failing.status).toBe(1);
        expect(failing.summary).toContain("1 of 4 checks failed");
        expect(failing.summary).toContain("| frontend certificate limen |");
    });

    it.each([
        ["nothing checked", "[]"],
        ["not JSON", "limen verify: --stack <name> is required"],
        ["not a list of checks", '{"check": "config"}'],
    ])("exits 1 when %s", (_, content) => {
        expect(summarise("verify", content, 2).status).toBe(1);
    });
});

describe(".github/workflows/drift.yml", () => {
    const workflow = parse(readFileSync(workflowFile, "utf8")) as {
        on: Record<string, unknown>;
        permissions: Record<string, string>;
        concurrency: { group: string; "cancel-in-progress": boolean };
        jobs: Record<string, { "runs-on": string[]; environment?: unknown; permissions: Record<string, string>; steps: { id?: string; if?: string; run?: string }[] }>;
    };
    const [job] = Object.values(workflow.jobs);
    const runs = job!.steps.map((step) => step.run ?? "");

    it("runs on a schedule and by hand, nothing else", () => {
        expect(Object.keys(workflow.on).sort()).toEqual(["schedule", "workflow_dispatch"]);
        expect(workflow.on.schedule).toEqual([{ cron: expect.stringMatching(/^\S+ \* \* \* \*$/) }]);
    });

    it("has its own concurrency group, apart from the deploy's, and reads only the contents", () => {
        expect(workflow.concurrency).toEqual({ group: "limen-prod-drift", "cancel-in-progress": false });
        expect(workflow.permissions).toEqual({});
        expect(job!.permissions).toEqual({ contents: "read" });
        expect(job!["runs-on"]).toContain("limen-deploy");
        expect(job!.environment).toBeUndefined();
    });

    it("summarises the preview and the verify with the script, verify even after a failed drift check", () => {
        const drift = runs.findIndex((run) => run.includes("pulumi preview --refresh --stack prod --expect-no-changes"));
        const verify = runs.findIndex((run) => run.includes("npm run -s verify -- --stack prod --json > verify.json"));
        expect(drift).toBeGreaterThan(-1);
        expect(verify).toBeGreaterThan(drift);
        expect(runs[drift]).toContain("node .github/drift-summary.mjs preview preview.json");
        expect(runs[drift]).not.toContain("--diff");
        expect(runs[verify]).toContain("node .github/drift-summary.mjs verify verify.json");
        expect(job!.steps[verify]!.if).toContain("!cancelled()");
    });
});
