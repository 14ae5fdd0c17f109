/**
 * Upgrading a deployed stack: hosts converged by the previous release move to this version with
 * nothing on them deleted or recreated. The previous release is taken from git (its commit, named
 * once below) and converges blank hosts with its own program and its own lab config; then this
 * version runs `pulumi up` on the same state while a client asks the site through the front door.
 *
 * What may change is derived, not listed by hand: a file on a host keeps its inode unless its content
 * changed (then the validated install renames a new one into place), the apps keep their processes
 * unless the files they load changed, and each host's nftables table keeps its handle unless its
 * ruleset changed. Resources this version adds are named in `addedResources`, and the one it replaces
 * in `replacedResources`, with why.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, openLabStack, readLabHosts, recordFigure, repoRoot, stateDir } from "../stack";
import { labResourceCount, onHostOk, tcpOpen } from "./probes";

/**
 * The release this version upgrades from, by its commit: the one place it is named. At each release,
 * move it on to the release just cut (CHANGELOG.md, docs/configuration.md "Upgrading").
 */
const previousRelease = { version: "2.1.0", ref: "e384350197d659624a4fa634e2147ec01c5d2867" };
/** Resources this version adds over the previous release: `pulumi up` creates these and nothing else. */
const addedResources: string[] = [];
/**
 * Resources this version replaces, each with why: none. (2.0.0 replaced Envoy's container once, through
 * the release's handover; 3.0.0 installs the Go host tool in place of the bash one, an update in place.)
 */
const replacedResources: string[] = [];

const previousDir = path.join(stateDir, "previous");
const exec = path.join(repoRoot, "lab", "hosts", "exec.sh");
const limenDomain = "limen.lab.test";

let stack: Stack;
let hosts: LabHosts;

/**
 * The previous release's tree, sharing this checkout's lab state and stack config, and its
 * node_modules when the lockfiles agree (else the release's own, from `npm ci`).
 */
function checkOutPrevious(ref: string): void {
    rmSync(previousDir, { recursive: true, force: true });
    mkdirSync(previousDir, { recursive: true });
    const archive = spawnSync("git", ["-C", repoRoot, "archive", ref], { maxBuffer: 256 * 1024 * 1024 });
    if (archive.status !== 0) throw new Error(`git archive ${ref} failed (a shallow clone? fetch the history): ${archive.stderr.toString()}`);
    execFileSync("tar", ["-x", "-C", previousDir], { input: archive.stdout });
    const lockfile = (dir: string) => readFileSync(path.join(dir, "package-lock.json"), "utf8");
    if (lockfile(previousDir) === lockfile(repoRoot)) symlinkSync(path.join(repoRoot, "node_modules"), path.join(previousDir, "node_modules"));
    else execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: previousDir, stdio: ["ignore", "ignore", "inherit"] });
    rmSync(path.join(previousDir, "lab", ".state"), { recursive: true, force: true });
    symlinkSync(stateDir, path.join(previousDir, "lab", ".state"));
    symlinkSync(path.join(repoRoot, "Pulumi.lab.yaml"), path.join(previousDir, "Pulumi.lab.yaml"));
}

/** The files the stack installs on each host whose identity the upgrade must keep (unless their content changes). */
const hostFiles = {
    frontend: [
        "/usr/local/libexec/limen/limen-host",
        "/etc/systemd/system/limen-firewall.service",
        "/etc/limen/firewall/limen.nft",
        "/srv/limen-frontend/.env.production",
        "/etc/limen/pm2/ecosystem.config.js",
    ],
    backend: ["/usr/local/libexec/limen/limen-host", "/etc/systemd/system/limen-firewall.service", "/etc/limen/firewall/limen.nft"],
};

/** The host tools sent for a run (hostio/host-tool-run.ts) still under /run on each host, after the engine stopped the provider. */
function sentToolsLeft(): { frontend: string; backend: string } {
    // The engine stops the plugin when the run ends and gives it 5 s to close its connections.
    spawnSync("sleep", ["5"]);
    const left = (host: "frontend" | "backend") => onHostOk(host, "ls -d /run/limen-tool.* 2>/dev/null || true").trim();
    return { frontend: left("frontend"), backend: left("backend") };
}

interface HostSnapshot {
    /** path → "inode sha256" */
    files: Record<string, { inode: string; sha256: string }>;
    tableHandle: string;
    /** The apps' processes under pm2 (frontend only). */
    pm2Pids: string;
}

function hostSnapshot(host: "frontend" | "backend"): HostSnapshot {
    const files: HostSnapshot["files"] = {};
    for (const line of onHostOk(host, `for f in ${hostFiles[host].join(" ")}; do echo "$f $(stat -c %i "$f") $(sha256sum < "$f" | cut -c1-64)"; done`)
        .trim()
        .split("\n")) {
        const [file = "", inode = "", sha256 = ""] = line.split(" ");
        files[file] = { inode, sha256 };
    }
    const tableHandle = onHostOk(host, "nft -a list table inet limen_firewall | head -1").trim();
    expect(tableHandle).toMatch(/handle \d+/);
    const pm2Pids =
        host === "frontend"
            ? (JSON.parse(onHostOk("frontend", "su - limen -c 'pm2 jlist'").trim().split("\n").at(-1) ?? "[]") as { pid: number }[])
                  .map((p) => p.pid)
                  .sort((a, b) => a - b)
                  .join(" ")
            : "";
    return { files, tableHandle, pm2Pids };
}

/** What an in-place upgrade of `host` may change, given what changed in content; everything else must be identical. */
function expectKeptInPlace(host: "frontend" | "backend", before: HostSnapshot, after: HostSnapshot): void {
    for (const file of hostFiles[host]) {
        const [was, is] = [before.files[file]!, after.files[file]!];
        if (was.sha256 === is.sha256) expect(`${file} inode ${is.inode}`).toBe(`${file} inode ${was.inode}`);
    }
    const changed = (file: string) => before.files[file]!.sha256 !== after.files[file]!.sha256;
    if (!changed("/etc/limen/firewall/limen.nft")) expect(`${host} ${after.tableHandle}`).toBe(`${host} ${before.tableHandle}`);
    if (host === "frontend" && !changed("/srv/limen-frontend/.env.production") && !changed("/etc/limen/pm2/ecosystem.config.js")) {
        expect(`pm2 pids ${after.pm2Pids}`).toBe(`pm2 pids ${before.pm2Pids}`);
    }
}

beforeAll(() => {
    hosts = readLabHosts();
}, 600_000);

describe(`upgrading a stack converged by the previous release (${previousRelease.version})`, () => {
    let before: Record<"frontend" | "backend", HostSnapshot>;

    beforeAll(async () => {
        stack = await openLabStack();
        // Blank state: the earlier files leave this version's stack deployed; its resources go first.
        await configureLabStack(hosts);
        await stack.destroy({ color: "never", onOutput: () => undefined });
        checkOutPrevious(previousRelease.ref);
        expect(existsSync(path.join(previousDir, "lab", "up-configured.ts"))).toBe(true);
    }, 600_000);

    it(`${previousRelease.version} converges blank hosts with its own program and lab config`, () => {
        const run = spawnSync("node", ["--import", "tsx", "lab/up-configured.ts"], { cwd: previousDir, encoding: "utf8", timeout: 300_000 });
        expect(run.stdout.trim().split("\n").at(-1)).toBe("succeeded");
        before = { frontend: hostSnapshot("frontend"), backend: hostSnapshot("backend") };
    }, 300_000);

    it("this version's `pulumi up` takes them over: the site answers through 443 throughout, nothing on the hosts deleted or recreated", async () => {
        const stopFile = "/tmp/limen-upgrade-done";
        const loop = new Promise<string>((resolve) => {
            const child = spawn(
                exec,
                [
                    "frontend",
                    "bash",
                    "-c",
                    `ok=0; bad=0; while [ ! -e ${stopFile} ] && [ $((ok + bad)) -lt 20000 ]; do code=$(curl -s -k -o /dev/null -m 2 -w '%{http_code}' --resolve ${limenDomain}:443:127.0.0.1 https://${limenDomain}/); if [ "$code" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi; done; rm -f ${stopFile}; echo "$ok $bad"`,
                ],
                { stdio: ["ignore", "pipe", "inherit"] },
            );
            let out = "";
            child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
            child.on("close", () => resolve(out));
        });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await configureLabStack(hosts);
        let output = "";
        const created: string[] = [];
        const result = await stack.up({
            color: "never",
            onOutput: (line) => (output += line),
            onEvent: (event) => {
                const metadata = event.resOutputsEvent?.metadata;
                // A default provider the old state lacks is engine bookkeeping, not something on a host.
                const name = metadata?.urn.split("::").at(-1) ?? "";
                if (metadata?.op === "create" && !(metadata.type.startsWith("pulumi:providers:") && name.startsWith("default"))) created.push(name);
            },
        });
        onHostOk("frontend", `touch ${stopFile}`);
        const [ok = 0, failed = -1] = (await loop).trim().split(" ").map(Number);

        expect(result.summary.result).toBe("succeeded");
        const deleted = [...output.matchAll(/-\s+(?!pulumi:providers:)\S+ (\S+) deleted/g)].map((m) => m[1]);
        expect(deleted.filter((name) => !replacedResources.includes(name!))).toEqual([]);
        expect(created.filter((name) => !replacedResources.includes(name)).sort()).toEqual([...addedResources].sort());
        const { same: _same, update: _update, create: _create, ...otherChanges } = result.summary.resourceChanges ?? {};
        expect(otherChanges).toEqual(replacedResources.length > 0 ? { replace: replacedResources.length } : {});
        const after = { frontend: hostSnapshot("frontend"), backend: hostSnapshot("backend") };
        expectKeptInPlace("frontend", before.frontend, after.frontend);
        expectKeptInPlace("backend", before.backend, after.backend);
        expect(ok).toBeGreaterThan(0);
        expect(failed).toBe(0);
        // The previous release's tool was not the planned one: the steps before its update ran the planned
        // tool sent over their connection, and nothing of it stays once the run has ended.
        expect(sentToolsLeft()).toEqual({ frontend: "", backend: "" });
        recordFigure(
            `upgrade from ${previousRelease.version}`,
            `${JSON.stringify(result.summary.resourceChanges)}; ${ok + failed} requests through 443, ${failed} failed; files, tables and app processes kept`,
        );
    }, 300_000);

    it("afterwards the stack reads the hosts: `up --refresh` changes nothing, and the backend stays closed to the outsider", async () => {
        const result = await stack.up({ color: "never", refresh: true, onOutput: () => undefined });
        expect(result.summary.resourceChanges).toEqual({ same: labResourceCount });
        for (const port of [18443, 9000]) expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.backend.ipv4, port)).toBe(false);
    }, 300_000);
});
