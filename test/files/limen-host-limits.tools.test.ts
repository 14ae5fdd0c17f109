/**
 * The app user cannot stall root or flood it (the host tool, tools/limen-host, run for real as root): every file
 * root reads has a size limit judged before a byte is read, every wait on the app user's pm2 or apps
 * has a deadline, and root runs no command that resolves into a directory the app user can change.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFileReadings } from "../../hostio/file-readings";
import { fileProbeCommand, parseFileProbe } from "../../hostio/observe-file";
import { sha256 } from "../../core/sha256";
import { appGroup, appIds, appUser, asApp, hostToolAsRoot, makeScratch, newAppDir } from "../support/app-user";
import { deadlineArgs, fakePm2Layout, hostTool, pm2FileSets, scratchDir, tool } from "../support/host-tool";
import { nodeForRoot, rootPath } from "../support/root-path";
import { localStep } from "../support/tool-script";

let root = "";
beforeAll(() => ({ root } = makeScratch()));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const limit = 1048576;
const eightTebibytes = 8 * 1024 ** 4;

/** The host tool's file access as root (the probes' `sudo -n` left out: the tests run as root). */
function limenFile(command: "read" | "cat", target: string) {
    return spawnSync("bash", [tool, "--limen-file", command, target], { encoding: "utf8", timeout: 20_000 });
}

/** An .env.production the app user made sparse: `bytes` long, costing no disk. */
function sparseEnv(bytes: number): string {
    const target = path.join(newAppDir(root), ".env.production");
    asApp("truncate", "-s", String(bytes), target);
    return target;
}

describe("a file larger than 1 MiB is refused before root reads a byte of it", () => {
    it("the read probe reports an 8 TiB sparse file as too large, naming its size and the limit", () => {
        const target = sparseEnv(eightTebibytes);
        const run = spawnSync("sh", ["-c", localStep(fileProbeCommand(target))], { encoding: "utf8", timeout: 20_000 });
        expect(run.error).toBeUndefined();
        expect(parseFileProbe(target, run.stdout, sha256("A=1\n"))).toEqual({
            path: target,
            state: `too large to read: ${eightTebibytes} bytes, above the limit of ${limit} bytes for a file root reads`,
            mode: "",
            owner: "",
            contentSha256: "",
            contentMatches: "missing",
        });
    });

    it.each([
        [limit, "file"],
        [limit + 1, "oversized"],
    ])("a file of %i bytes is read as %s", (bytes, kind) => {
        const target = sparseEnv(bytes);
        expect(parseFileReadings(limenFile("read", target).stdout).map((reading) => reading.kind)).toEqual([kind]);
    });

    it("the copy the health gate keeps (the tool's cat) refuses it, naming the path, its size and the limit", () => {
        const target = sparseEnv(eightTebibytes);
        const run = limenFile("cat", target);
        expect([run.status, run.stdout, run.stderr.trim()]).toEqual([1, "", `limen-host: ${target}: not read: ${eightTebibytes} bytes, above the limit of ${limit} bytes for a file root reads`]);
    });

    it("install-file replaces it without reading it; the record of loaded files leaves it out", () => {
        const target = sparseEnv(eightTebibytes);
        const installed = hostToolAsRoot(["install-file", "--path", target, "--mode", "0600", "--owner", `${appUser}:${appGroup}`, "--check", "none"], "A=1\n");
        expect(installed).toMatchObject({ status: 0, timedOut: false });
        expect(readFileSync(target, "utf8")).toBe("A=1\n");
        const other = sparseEnv(eightTebibytes);
        const markerDir = path.join(root, `marker-${path.basename(path.dirname(other))}`);
        const marked = hostToolAsRoot(["pm2-mark-loaded", "--user", appUser, "--marker-dir", markerDir, "--loaded", `${target},${other}`], "");
        expect(marked).toMatchObject({ status: 0, timedOut: false });
        expect(readFileSync(path.join(markerDir, `loaded-${appUser}.sha256`), "utf8")).toBe(`${sha256("A=1\n")}  ${target}\n`);
    });

    it("content above the limit is refused before anything is written", () => {
        const target = path.join(newAppDir(root), ".env.production");
        const result = hostToolAsRoot(["install-file", "--path", target, "--mode", "0600", "--owner", `${appUser}:${appGroup}`, "--check", "none"], "x".repeat(limit + 1));
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(`${target}: not written: the new content is ${limit + 1} bytes, above the limit of ${limit} bytes`);
        expect(existsSync(target)).toBe(false);
    });
});

/**
 * A stand-in pm2 package (as npm lays it out, `<package>/bin/pm2` on PATH through a link) whose API
 * never answers `stall` (connect, list or dump), and whose CLI hangs, as a daemon stopped with
 * `kill -STOP` does; a stand-in sudo that runs the command (the tests run as root).
 */
function stalledPm2(stall: "connect" | "list" | "dump" | "none", gate?: { session: string; page: string }) {
    const dir = scratchDir();
    // The CLI: a daemon that never answers.
    const { pkg, bin } = fakePm2Layout(dir, `#!/bin/sh\necho $$ > ${dir}/cli.pid\nexec sleep 300\n`);
    const never = (call: string) => (call === stall ? "() => undefined" : "(cb) => cb(null)");
    writeFileSync(
        path.join(pkg, "index.js"),
        [
            `require("fs").writeFileSync(${JSON.stringify(path.join(dir, "api.pid"))}, String(process.pid));`,
            `exports.connect = (cb) => (${never("connect")})(cb);`,
            "exports.reload = (file, opts, cb) => cb(null);",
            `exports.list = (cb) => (${stall === "list" ? "() => undefined" : '() => cb(null, [{ name: "a", pm2_env: { status: "online" } }, { name: "a-candidate", pm2_env: { status: "online" } }])'})();`,
            `exports.dump = (force, cb) => (${never("dump")})(cb);`,
            // A candidate (pm2-apply with a gate): in this process, on its port, an app answering one byte every 0.3 s.
            'exports.start = (app, cb) => require("http").createServer((req, res) => { res.writeHead(200); setInterval(() => res.write("."), 300); }).listen(Number(app.args[app.args.indexOf("-p") + 1]), "127.0.0.1", () => cb(null));',
            "exports.delete = (name, cb) => cb(null);",
            "",
        ].join("\n"),
    );
    const ecosystem = path.join(dir, "ecosystem.config.js");
    const gatePort = gate ? new URL(gate.session).port : "9";
    // The release pm2-apply installs: the ecosystem, on stdin.
    const release = pm2FileSets(
        [
            {
                path: ecosystem,
                mode: "0644",
                owner: "root:root",
                check: "ecosystem",
                content: `module.exports = ${JSON.stringify({ apps: [{ name: "a", script: "app.js", args: ["-p", gatePort], env: { PORT: gatePort } }] })};\n`,
            },
        ],
        undefined,
    );
    const run = (args: string[], deadlines = ["--deadlines", "pm2-call=1,gate-request=1,certbot=5"]) => {
        const started = Date.now();
        const result = spawnSync("bash", [tool, ...deadlines, ...args], {
            encoding: "utf8",
            timeout: 60_000,
            input: args[0] === "pm2-apply" ? release : "",
            env: { ...process.env, PATH: `${bin}:${rootPath}` },
        });
        return { status: result.status, stderr: result.stderr, timedOut: result.error !== undefined, seconds: (Date.now() - started) / 1000 };
    };
    const applyArgs = [
        ...["pm2-apply", "--user", "root", "--ecosystem", ecosystem, "--apps", "a", "--marker-dir", path.join(dir, "markers"), "--loaded", ecosystem],
        ...(gate ? ["--gate-seconds", "3", "--gate-session", gate.session, "--gate-page", gate.page] : []),
    ];
    const apply = (deadlines?: string[]) => run(applyArgs, deadlines);
    /** Whether a process the run started (the API's node, the CLI) still runs. */
    const leftRunning = () =>
        ["api.pid", "cli.pid"]
            .map((name) => path.join(dir, name))
            .filter((file) => existsSync(file))
            .filter((file) => {
                // Running, not a zombie waiting to be reaped: the state field of /proc/PID/stat.
                try {
                    return readFileSync(`/proc/${readFileSync(file, "utf8").trim()}/stat`, "utf8").replace(/^.*\) /s, "")[0] !== "Z";
                } catch {
                    return false;
                }
            });
    return { run, apply, applyArgs, release, bin, leftRunning };
}

describe("every call into the app user's pm2 has a deadline, and says which call it waited for", () => {
    it.each([
        ["connect", "connecting to pm2"],
        ["list", "listing the apps"],
        ["dump", "saving the process list"],
    ] as const)("pm2-apply with a daemon that never answers %s fails after the pm2-call deadline, naming the call", (stall, what) => {
        const pm2 = stalledPm2(stall);
        const result = pm2.apply();
        expect(result.timedOut).toBe(false);
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(`limen-host: pm2-apply: ${what}: pm2 did not answer within 1 s: its daemon is stopped or wedged (sudo -u root pm2 ping)`);
        expect(pm2.leftRunning()).toEqual([]);
    });

    it("pm2-save and pm2-remove with a CLI that never answers fail after the deadline, naming the command, and leave no pm2 running", () => {
        const pm2 = stalledPm2("none");
        const saved = pm2.run(["pm2-save", "--user", "root"]);
        expect(saved.status).toBe(1);
        expect(saved.stderr).toContain("limen-host: pm2 did not answer `pm2 save --force` for root within 1 s: its daemon is stopped or wedged");
        expect(pm2.leftRunning()).toEqual([]);
        const removed = pm2.run(["pm2-remove", "--user", "root", "--apps", "a", "--marker-dir", path.join(scratchDir(), "markers")]);
        expect(removed.status).toBe(1);
        expect(removed.stderr).toContain("limen-host: pm2 did not answer `pm2 delete a` for root within 1 s");
        expect(pm2.leftRunning()).toEqual([]);
    });

    it("a run without the stack's deadlines is refused before it waits on anything", () => {
        const pm2 = stalledPm2("connect");
        const result = pm2.apply([]);
        expect(result.status).toBe(1);
        expect(result.stderr.trim()).toBe("limen-host: no deadline for pm2-call: the stack passes every deadline with --deadlines (hostio/deadlines.ts)");
        expect(pm2.leftRunning()).toEqual([]);
    });
});

describe("the health gate's requests have a deadline on the whole answer, not only on silence", () => {
    let trickle: Server;
    let port = 0;
    beforeAll(async () => {
        // An app that answers one byte every 0.3 s: never idle, never done.
        trickle = createServer((_req, res) => {
            res.writeHead(200, { "content-type": "text/plain" });
            const timer = setInterval(() => res.write("."), 300);
            res.on("close", () => clearInterval(timer));
        });
        await new Promise<void>((done) => trickle.listen(0, "127.0.0.1", done));
        port = (trickle.address() as AddressInfo).port;
    });
    afterAll(() => trickle.close());

    it("an app answering one byte at a time fails the gate within its time, with what each request saw", async () => {
        const url = `http://127.0.0.1:${port}/api/auth/session`;
        const pm2 = stalledPm2("none", { session: url, page: `http://127.0.0.1:${port}/` });
        // spawnSync would block the event loop that serves the trickle: the tool runs beside it.
        const result = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
            const child = spawn("bash", [tool, "--deadlines", "pm2-call=5,gate-request=1,certbot=5", ...pm2.applyArgs], { env: { ...process.env, PATH: `${pm2.bin}:${rootPath}` } });
            child.stdin.end(pm2.release);
            let stderr = "";
            child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
            child.on("close", (status) => resolve({ status, stderr }));
        });
        expect(result.status).toBe(1);
        // The candidate (on its own port) and the serving app answer alike; the candidate is asked first.
        expect(result.stderr).toMatch(
            /run as a candidate \(a on port (\d+)\) before the serving apps were touched, failed the health gate: not passed within 3 s: session check: POST http:\/\/127\.0\.0\.1:\1\/api\/auth\/session answered no complete answer within 1 s/,
        );
        expect(result.stderr).toContain("there are no earlier files to put back (a first deploy)");
    }, 60_000);
});

describe("root runs no command that resolves into a directory another user can change", () => {
    /** A PATH directory of root's whose `node` is a link to a node in the app user's home (a version manager's). */
    function nodeIntoAppHome(): { pathDir: string; appNode: string } {
        const appHome = newAppDir(root);
        const appNode = path.join(appHome, "node");
        asApp("cp", nodeForRoot, appNode);
        const pathDir = scratchDir();
        chmodSync(pathDir, 0o755);
        symlinkSync(appNode, path.join(pathDir, "node"));
        return { pathDir, appNode };
    }

    it("the tool's `command` refuses a link into the app user's home, naming where it leads and who can change it", () => {
        const { pathDir, appNode } = nodeIntoAppHome();
        const run = spawnSync("bash", [tool, "--limen-file", "command", "node"], { encoding: "utf8", env: { ...process.env, PATH: `${pathDir}:${rootPath}` } });
        expect(run.status).toBe(1);
        expect(run.stderr.trim()).toBe(`limen-host: ${pathDir}/node (really ${appNode}): ${path.dirname(appNode)} can be changed by user ${appUser}: root does not run it`);
    });

    it("a command owned by another user is refused too, before any subcommand", () => {
        const pathDir = scratchDir();
        writeFileSync(path.join(pathDir, "nft"), "#!/bin/sh\n", { mode: 0o755 });
        chownSync(path.join(pathDir, "nft"), appIds.uid, appIds.gid);
        const run = spawnSync("bash", [tool, ...deadlineArgs, "check-ready"], { encoding: "utf8", env: { ...process.env, PATH: `${pathDir}:${rootPath}` } });
        expect(run.status).toBe(1);
        expect(run.stderr.trim()).toBe(`limen-host: ${pathDir}/nft is owned by user ${appUser}: root does not run it`);
    });

    it("the host tool stops before any subcommand when a command it runs (node) resolves into the app user's home", () => {
        const { pathDir, appNode } = nodeIntoAppHome();
        const run = spawnSync("unshare", ["--net", "bash", tool, ...deadlineArgs, "check-ready"], { encoding: "utf8", env: { ...process.env, PATH: `${pathDir}:${rootPath}` } });
        expect(run.status).toBe(1);
        expect(run.stderr).toContain(`(really ${appNode})`);
        expect(run.stdout).toBe("");
    });

    it("the ecosystem check judges the file as data with the trusted node: a valid one installs, code is refused", () => {
        const target = path.join(scratchDir(), "ecosystem.config.js");
        const ecosystem = 'module.exports = {"apps":[{"name":"a"}]};\n';
        const installed = hostTool(["install-file", "--path", target, "--mode", "0644", "--owner", "root:root", "--check", "ecosystem"], ecosystem, 20_000);
        expect(installed).toMatchObject({ status: 0, timedOut: false });
        expect(readFileSync(target, "utf8")).toBe(ecosystem);
        const refused = hostTool(["install-file", "--path", target, "--mode", "0644", "--owner", "root:root", "--check", "ecosystem"], "require('child_process').execSync('id');\n", 20_000);
        expect(refused.status).toBe(1);
        expect(readFileSync(target, "utf8")).toBe(ecosystem);
    });
});

describe("the ACME responder's port is one only root can bind", () => {
    /** acme-certificate up to its port check, in a network namespace whose unprivileged ports start at `start`. */
    function acmeOnPort(port: number, start = 1024) {
        const dir = scratchDir();
        const args = [
            ...["acme-certificate", "--name", "limen", "--domains", "limen.example.org", "--email", "ops@example.org", "--server", "https://acme.example.org/dir"],
            ...["--responder-address", "127.0.0.1", "--responder-port", String(port), "--lineage-dir", path.join(dir, "le", "live", "limen")],
            ...["--publish-dir", path.join(dir, "tls"), "--hook", path.join(dir, "hook")],
        ];
        const script = `sysctl -q -w net.ipv4.ip_unprivileged_port_start=${start} && exec bash "$0" "$@"`;
        return spawnSync("unshare", ["--net", "sh", "-c", script, tool, ...deadlineArgs, ...args], { encoding: "utf8", env: { ...process.env, PATH: rootPath } });
    }

    it.each([
        [8402, 1024],
        [1024, 1024],
        [402, 400],
    ])("port %i with unprivileged ports from %i is refused before certbot runs", (port, start) => {
        const run = acmeOnPort(port, start);
        expect(run.status).toBe(1);
        expect(run.stderr.trim()).toBe(
            `limen-host: acme-certificate: the ACME responder's port ${port} can be bound by any user on this host (net.ipv4.ip_unprivileged_port_start = ${start}): another user could answer the HTTP-01 challenges for every domain; ${
                port < 1024 ? `set net.ipv4.ip_unprivileged_port_start above ${port} again (Linux's default is 1024)` : "choose limen:tls.responderPort below 1024"
            }`,
        );
    });
});
