/**
 * Upgrading a deployed stack: hosts converged by an earlier version of this project move to this
 * version's resources without touching what runs there: the command-resource version (which could not
 * read the hosts), the dynamic-provider version (the same resources, run by Pulumi's dynamic-provider
 * plugin instead of this project's plugin), the bundled version, and the last version before the front
 * door. Each is taken from git and runs its own lab program against the same state, with Envoy off as
 * the lab had it then; then this version runs `pulumi up` with Envoy on while a client loop hits the
 * app: the front door's resources are created, and nothing else is.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, openLabStack, readLabHosts, recordFigure, repoRoot, stateDir } from "../stack";
import { labResourceCount, onHostOk, tcpOpen } from "./probes";

/** What this version adds when it takes over hosts converged with Envoy off: the front door, and nothing else. */
const envoyResources = [
    "frontend-envoy",
    "frontend-envoy-config",
    "frontend-envoy-container",
    "frontend-envoy-container-name",
    "frontend-envoy-docker",
    "frontend-envoy-gate",
    "frontend-envoy-image",
];
/**
 * The earlier versions ran the lab with Envoy off and knew only image references without a registry
 * port: their config, on the same state.
 */
const previousLabOverrides = { envoy: { enabled: false, image: "envoyproxy/envoy:v1.38.0@sha256:8146b97ee61a42cd216514709e4e3198af75f014974e3d9f310aef9c901fcbdf" } };

interface PreviousVersion {
    name: string;
    /** Its last commit. */
    ref: string;
    /** Resources it had that this version does not: removed from the state only (they had no delete). */
    removedFromState: string[];
    /** Whether this version installs a different host tool than it did. */
    hostToolChanges: boolean;
    /** The upgrade's resource changes, where they are known exactly. */
    changes?: Record<string, number>;
}

const previousVersions: PreviousVersion[] = [
    {
        name: "the command-resource version",
        ref: "7b3a5842ca0b38a722c2d98438ca382066f32bcf",
        // The firewall confirmations and the pm2 reload had no delete.
        removedFromState: ["backend-firewall-confirm", "frontend-apps-pm2-reload", "frontend-firewall-confirm"],
        // The host tool takes paths as arguments since.
        hostToolChanges: true,
    },
    {
        name: "the dynamic-provider version",
        ref: "339866bd57fa9d9da89cd9783ab5eb051982a5bb",
        removedFromState: [],
        // Its wait for the apps looks at all of them with one `pm2 jlist` since.
        hostToolChanges: true,
    },
    {
        // The last version deployed: the program and the plugin run as esbuild bundles (it took over
        // the tsx-plugin version's stacks with every resource the same).
        name: "the bundled program and plugin",
        ref: "695fce748fbb2e02aa9030202470be2939433a3c",
        removedFromState: [],
        // Same resources; the host tool applies pm2 through pm2's API and reloads systemd once since,
        // so the two host tools are updated in place. The apps' resource reads one fact more since (what
        // pm2's saved list holds): it reads the host, finds it as planned and records it, restarting nothing.
        hostToolChanges: true,
        changes: { same: 9, update: 4, create: envoyResources.length },
    },
    {
        // The last version before the front door ran in the lab: everything but Envoy, which was off.
        name: "the version with Envoy off",
        ref: "79fd964df76d1684d8d9cfda333afe1fe74fa7bd",
        removedFromState: [],
        // The host tool claims Envoy's container name since; the frontend's table opens 80 and 443.
        hostToolChanges: true,
        changes: { same: 10, update: 3, create: envoyResources.length },
    },
];
const previousDir = path.join(stateDir, "previous");
const exec = path.join(repoRoot, "lab", "hosts", "exec.sh");

let stack: Stack;
let hosts: LabHosts;

/** The previous version's tree, sharing this checkout's node_modules, lab state and stack config. */
function checkOutPrevious(previousRef: string): void {
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

/**
 * What would change if anything on the host were deleted and recreated: inodes, table handle, pids.
 * The frontend's table and boot ruleset are left out: turning Envoy on opens 80 and 443 there, which
 * re-applies the table in its one transaction (checked on its own below).
 */
function hostSnapshot(host: "frontend" | "backend"): string {
    const files = ["/usr/local/libexec/limen/limen-host", "/etc/systemd/system/limen-firewall.service"];
    if (host === "backend") files.push("/etc/limen/firewall/limen.nft");
    if (host === "frontend") files.push("/srv/limen-frontend/.env.production", "/etc/limen/pm2/ecosystem.config.js");
    const table = host === "backend" ? ["nft -a list table inet limen_firewall | head -1"] : [];
    const script = [`stat -c '%i %n' ${files.join(" ")}`, ...table, "systemctl is-enabled limen-firewall.service"].join("; ");
    return onHostOk(host, script) + (host === "frontend" ? `pm2 pids ${pm2Pids().join(" ")}\n` : "");
}

beforeAll(() => {
    hosts = readLabHosts();
}, 600_000);

describe.each(previousVersions)("upgrading a stack converged by $name", (previous) => {
    let before: { frontend: string; backend: string };

    beforeAll(async () => {
        stack = await openLabStack();
        // Blank state: the earlier files (or the other upgrade) leave this version's stack deployed; its resources go first.
        await configureLabStack(hosts);
        await stack.destroy({ color: "never", onOutput: () => undefined });
        checkOutPrevious(previous.ref);
        await configureLabStack(hosts, previousLabOverrides);
    }, 600_000);

    it("the previous version converges blank hosts", () => {
        const run = spawnSync("node", ["--import", "tsx", "lab/up-once.ts"], { cwd: previousDir, encoding: "utf8", timeout: 300_000 });
        expect(run.stdout.trim().split("\n").at(-1)).toBe("succeeded");
        before = { frontend: hostSnapshot("frontend"), backend: hostSnapshot("backend") };
        expect(before.backend).toMatch(/handle \d+/);
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
        // This version's lab config: Envoy on.
        await configureLabStack(hosts);
        let output = "";
        const created: string[] = [];
        const result = await stack.up({
            color: "never",
            onOutput: (line) => (output += line),
            onEvent: (event) => {
                const metadata = event.resOutputsEvent?.metadata;
                // Default providers the old state lacked are engine bookkeeping, not something on a host.
                const name = metadata?.urn.split("::").at(-1) ?? "";
                if (metadata?.op === "create" && !(metadata.type.startsWith("pulumi:providers:") && name.startsWith("default"))) created.push(name);
            },
        });
        onHostOk("frontend", "touch /tmp/limen-upgrade-done");
        const [ok = 0, failed = -1] = (await loop).trim().split(" ").map(Number);

        expect(result.summary.result).toBe("succeeded");
        const deleted = [...output.matchAll(/-\s+(?!pulumi:providers:)\S+ (\S+) deleted/g)].map((m) => m[1]).sort();
        expect(deleted).toEqual(previous.removedFromState);
        // Only the front door is new; nothing is replaced.
        expect(created.sort()).toEqual(envoyResources);
        expect(result.summary.resourceChanges).not.toHaveProperty("replace");
        if (previous.changes) expect(result.summary.resourceChanges).toEqual(previous.changes);
        const after = { frontend: hostSnapshot("frontend"), backend: hostSnapshot("backend") };
        // The frontend's table now lets the public in on 80 and 443, and only there.
        expect(onHostOk("frontend", "nft list set inet limen_firewall public_ports")).toMatch(/elements = \{ 80, 443 \}/);
        const withoutTool = (snapshot: string) => (previous.hostToolChanges ? snapshot.replace(/^\d+ \/usr\/local\/libexec\/limen\/limen-host\n/m, "") : snapshot);
        expect(withoutTool(after.frontend)).toBe(withoutTool(before.frontend));
        expect(withoutTool(after.backend)).toBe(withoutTool(before.backend));
        expect(ok).toBeGreaterThan(0);
        expect(failed).toBe(0);
        recordFigure(
            `upgrade from ${previous.name}`,
            `${JSON.stringify(result.summary.resourceChanges)}; ${ok + failed} requests, ${failed} failed; files, table and app processes untouched`,
        );
    }, 300_000);

    it("afterwards the stack reads the hosts: `up --refresh` changes nothing, and the backend stays closed to the outsider", async () => {
        const result = await stack.up({ color: "never", refresh: true, onOutput: () => undefined });
        expect(result.summary.resourceChanges).toEqual({ same: labResourceCount });
        for (const port of [18443, 9000]) expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.backend.ipv4, port)).toBe(false);
    }, 300_000);
});
