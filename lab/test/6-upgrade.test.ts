/**
 * Upgrading a deployed stack: hosts converged by the previous version of this project (command
 * resources, which could not read the hosts) move to the resources that read them, without touching
 * what runs there. The previous version is taken from git (`LIMEN_PREVIOUS_REF`) and runs its own lab
 * program against the same state and config; then this version runs `pulumi up` while a client loop
 * hits the app.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, openLabStack, readLabHosts, recordFigure, repoRoot, stateDir } from "../stack";
import { onHostOk, tcpOpen } from "./probes";

/** The last commit of the command-resource version: what deployed stacks were converged with. */
const previousRef = process.env.LIMEN_PREVIOUS_REF ?? "7b3a5842ca0b38a722c2d98438ca382066f32bcf";
const previousDir = path.join(stateDir, "previous");
const exec = path.join(repoRoot, "lab", "hosts", "exec.sh");

let stack: Stack;
let hosts: LabHosts;

/** The previous version's tree, sharing this checkout's node_modules, lab state and stack config. */
function checkOutPrevious(): void {
    rmSync(previousDir, { recursive: true, force: true });
    mkdirSync(previousDir, { recursive: true });
    const archive = spawnSync("git", ["-C", repoRoot, "archive", previousRef], { maxBuffer: 256 * 1024 * 1024 });
    if (archive.status !== 0) throw new Error(`git archive ${previousRef} failed (a shallow clone? fetch the history): ${archive.stderr.toString()}`);
    execFileSync("tar", ["-x", "-C", previousDir], { input: archive.stdout });
    symlinkSync(path.join(repoRoot, "node_modules"), path.join(previousDir, "node_modules"));
    rmSync(path.join(previousDir, "lab", ".state"), { recursive: true, force: true });
    symlinkSync(stateDir, path.join(previousDir, "lab", ".state"));
    symlinkSync(path.join(repoRoot, "Pulumi.lab.yaml"), path.join(previousDir, "Pulumi.lab.yaml"));
}

/** The pids of the apps' processes under pm2 (a reload or restart replaces them). */
function pm2Pids(): number[] {
    const output = onHostOk("frontend", "su - limen -c 'pm2 jlist'").trim().split("\n").at(-1) ?? "[]";
    return (JSON.parse(output) as { pid: number }[]).map((p) => p.pid).sort((a, b) => a - b);
}

/** What would change if anything on the host were deleted and recreated: inodes, table handle, pids. */
function hostSnapshot(host: "frontend" | "backend"): string {
    const files = ["/usr/local/libexec/limen/limen-host", "/etc/limen/firewall/limen.nft", "/etc/systemd/system/limen-firewall.service"];
    if (host === "frontend") files.push("/srv/limen-frontend/.env.production", "/etc/limen/pm2/ecosystem.config.js");
    const script = [`stat -c '%i %n' ${files.join(" ")}`, "nft -a list table inet limen_firewall | head -1", "systemctl is-enabled limen-firewall.service"].join("; ");
    return onHostOk(host, script) + (host === "frontend" ? `pm2 pids ${pm2Pids().join(" ")}\n` : "");
}

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    // Blank state: the earlier files leave this version's stack deployed; its resources go first.
    await configureLabStack(hosts);
    await stack.destroy({ color: "never", onOutput: () => undefined });
    checkOutPrevious();
}, 600_000);

describe("upgrading a stack converged by the previous version", () => {
    let before: { frontend: string; backend: string };

    it("the previous version converges blank hosts with its command resources", () => {
        const run = spawnSync("node", ["--import", "tsx", "lab/up-once.ts"], { cwd: previousDir, encoding: "utf8", timeout: 300_000 });
        expect(run.stdout.trim().split("\n").at(-1)).toBe("succeeded");
        before = { frontend: hostSnapshot("frontend"), backend: hostSnapshot("backend") };
        expect(before.frontend).toMatch(/handle \d+/);
    }, 300_000);

    it("this version's `pulumi up` takes them over: apps answer throughout, nothing on the hosts deleted or recreated", async () => {
        const loop = new Promise<string>((resolve) => {
            const child = spawn(
                exec,
                [
                    "frontend",
                    "bash",
                    "-c",
                    'ok=0; bad=0; while [ ! -e /tmp/limen-upgrade-done ] && [ $((ok + bad)) -lt 20000 ]; do code=$(curl -s -o /dev/null -m 2 -w \'%{http_code}\' http://127.0.0.1:9444/); if [ "$code" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi; done; rm -f /tmp/limen-upgrade-done; echo "$ok $bad"',
                ],
                { stdio: ["ignore", "pipe", "inherit"] },
            );
            let out = "";
            child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
            child.on("close", () => resolve(out));
        });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        let output = "";
        const result = await stack.up({ color: "never", onOutput: (line) => (output += line) });
        onHostOk("frontend", "touch /tmp/limen-upgrade-done");
        const [ok = 0, failed = -1] = (await loop).trim().split(" ").map(Number);

        expect(result.summary.result).toBe("succeeded");
        // Removed from the state only: the firewall confirmations and the pm2 reload had no delete.
        const deleted = [...output.matchAll(/-\s+command:remote:Command (\S+) deleted/g)].map((m) => m[1]).sort();
        expect(deleted).toEqual(["backend-firewall-confirm", "frontend-apps-pm2-reload", "frontend-firewall-confirm"]);
        expect(result.summary.resourceChanges).not.toHaveProperty("create");
        expect(result.summary.resourceChanges).not.toHaveProperty("replace");
        const after = { frontend: hostSnapshot("frontend"), backend: hostSnapshot("backend") };
        // The host tool itself is the one file this version changes (it takes paths as arguments now).
        const withoutTool = (snapshot: string) => snapshot.replace(/^\d+ \/usr\/local\/libexec\/limen\/limen-host\n/m, "");
        expect(withoutTool(after.frontend)).toBe(withoutTool(before.frontend));
        expect(withoutTool(after.backend)).toBe(withoutTool(before.backend));
        expect(ok).toBeGreaterThan(0);
        expect(failed).toBe(0);
        recordFigure(
            "upgrade from the command-resource version",
            `${JSON.stringify(result.summary.resourceChanges)}; ${ok + failed} requests, ${failed} failed; files, table and app processes untouched`,
        );
    }, 300_000);

    it("afterwards the stack reads the hosts: `up --refresh` changes nothing, and the backend stays closed to the outsider", async () => {
        const result = await stack.up({ color: "never", refresh: true, onOutput: () => undefined });
        expect(result.summary.resourceChanges).toEqual({ same: 13 });
        for (const port of [18443, 9000]) expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.backend.ipv4, port)).toBe(false);
    }, 300_000);
});
