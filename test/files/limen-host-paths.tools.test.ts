import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limenFileCommand } from "../../hostio/limen-file";
import { pm2ProbeCommand } from "../../hostio/observe-pm2";
import { fileProbeCommand, parseFileProbe } from "../../hostio/observe-file";
import { sha256 } from "../../plan/sha256";
import { rootPath } from "../support/root-path";

/**
 * Root follows no path another user can change: files/limen-host.sh and the read probes run for real
 * as root on this machine, against a directory that belongs to `nobody`, the stand-in for the app
 * user here (every Debian system has it). The attacker owns the app: it can put a link, a FIFO or a
 * second name of a root file anywhere in its own directory, at any moment.
 */
const tool = path.join(__dirname, "..", "..", "files", "limen-host.sh");
const appUser = "nobody";
const appGroup = spawnSync("id", ["-gn", appUser], { encoding: "utf8" }).stdout.trim();
const ids = { uid: Number(spawnSync("id", ["-u", appUser], { encoding: "utf8" }).stdout), gid: Number(spawnSync("id", ["-g", appUser], { encoding: "utf8" }).stdout) };

let root: string;
/** A root-owned file outside the app's directory that no deploy may touch. */
let canary: string;
const canaryContent = "root's own, 0600\n";

beforeAll(() => {
    // Under a directory nobody can enter only when it is 0755 (mkdtemp makes 0700).
    root = mkdtempSync(path.join(tmpdir(), "limen-paths-"));
    chmodSync(root, 0o755);
    canary = path.join(root, "canary");
    writeFileSync(canary, canaryContent, { mode: 0o600 });
});

afterAll(() => {
    spawnSync("rm", ["-rf", root]);
});

/** The canary as it must stay: root:root 0600 with its content. */
function expectCanaryUntouched(): void {
    const st = lstatSync(canary);
    expect([st.uid, st.gid, (st.mode & 0o7777).toString(8), readFileSync(canary, "utf8")]).toEqual([0, 0, "600", canaryContent]);
}

/** A fresh directory of the app user, as /srv/limen-frontend is. */
function appDir(): string {
    const dir = mkdtempSync(path.join(root, "app-"));
    chmodSync(dir, 0o755);
    chownSync(dir, ids.uid, ids.gid);
    return dir;
}

/** Runs a command as the app user (the attacker's own actions). */
function asApp(...command: string[]): void {
    const result = spawnSync("sudo", ["-n", "-u", appUser, "--", ...command], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${command.join(" ")}: ${result.stderr}`);
}

function hostTool(args: string[], stdin: string) {
    const result = spawnSync("unshare", ["--net", "bash", tool, ...args], { input: stdin, encoding: "utf8", timeout: 20_000, env: { ...process.env, PATH: rootPath } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, timedOut: result.error !== undefined };
}

const installEnv = (target: string, content: string) =>
    hostTool(["install-file", "--path", target, "--mode", "0600", "--owner", `${appUser}:${appGroup}`, "--check", "none"], content);

describe("a file of the app user, in the app user's directory, is written by that user", () => {
    it("the new file is the app user's, 0600, with the content, and no temporary file stays", () => {
        const dir = appDir();
        const target = path.join(dir, ".env.production");
        expect(installEnv(target, "A=1\n")).toMatchObject({ status: 0, stdout: `installed ${target}\n` });
        const st = statSync(target);
        expect([st.uid, st.gid, (st.mode & 0o777).toString(8), readFileSync(target, "utf8")]).toEqual([ids.uid, ids.gid, "600", "A=1\n"]);
        expect(readdirSync(dir)).toEqual([".env.production"]);
        expect(installEnv(target, "A=1\n").stdout).toBe(`unchanged ${target}\n`);
    });

    it.each([
        ["a symbolic link to a root file", (at: string) => asApp("ln", "-s", canary, at), "a symbolic link"],
        ["a FIFO", (at: string) => asApp("mkfifo", at), "a FIFO"],
        ["a second name of the app's own file", (at: string) => asApp("sh", "-c", `echo x > "$1.own" && ln "$1.own" "$1"`, "-", at), "a hard link to a file with other names"],
    ])("%s at the file's own name is replaced, never written through or waited on", (_what, plant, said) => {
        const target = path.join(appDir(), ".env.production");
        plant(target);
        const result = installEnv(target, "A=2\n");
        expect(result).toMatchObject({ status: 0, timedOut: false, stdout: `installed ${target} (replaced ${said} that was there)\n` });
        expect(lstatSync(target).isFile()).toBe(true);
        expect(readFileSync(target, "utf8")).toBe("A=2\n");
        expectCanaryUntouched();
    });

    it("a root-owned file is not put in the app user's directory: refused, naming the directory and its owner", () => {
        const dir = appDir();
        const result = hostTool(["install-file", "--path", path.join(dir, "ecosystem.config.js"), "--mode", "0644", "--owner", "root:root", "--check", "none"], "x\n");
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain(`${dir}/ecosystem.config.js: not written: ${dir} can be changed by user ${appUser}`);
        expect(readdirSync(dir)).toEqual([]);
    });

    it("a link the app user placed on the way to a directory is not followed", () => {
        const dir = appDir();
        const rootDir = mkdtempSync(path.join(root, "etc-"));
        asApp("ln", "-s", rootDir, path.join(dir, "conf"));
        const result = hostTool(["install-file", "--path", path.join(dir, "conf", "x.conf"), "--mode", "0644", "--owner", "root:root", "--check", "none"], "x\n");
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(new RegExp(`${dir}/conf is a symbolic link that another user could have placed .*: not followed`));
        expect(readdirSync(rootDir)).toEqual([]);
    });

    it("the race of a watcher that swaps every new entry for a link to a root file leaves that file untouched", async () => {
        const dir = appDir();
        const target = path.join(dir, ".env.production");
        // The attack as it was found: fs.watch on the directory, each new entry replaced by a link.
        const watcher = spawn("sudo", [
            "-n",
            "-u",
            appUser,
            "--",
            process.execPath,
            "-e",
            `const fs = require("fs"), dir = ${JSON.stringify(dir)};
             fs.watch(dir, (event, name) => {
                 if (!name || name === ".env.production") return;
                 try { fs.unlinkSync(dir + "/" + name); fs.symlinkSync(${JSON.stringify(canary)}, dir + "/" + name); } catch {}
             });
             console.log("watching");`,
        ]);
        await new Promise<void>((resolve) => watcher.stdout.once("data", () => resolve()));
        try {
            const outcomes: string[] = [];
            for (let round = 0; round < 25; round++) {
                const result = installEnv(target, `ROUND=${round}\n`);
                expect(result.timedOut).toBe(false);
                if (result.status === 0) outcomes.push("installed");
                else {
                    // Either way root wrote nothing through the link, and says where and what it found.
                    expect(result.stderr).toMatch(
                        new RegExp(
                            `${target}: (right after the rename, ${target} is a symbolic link, not the file just written|the new file ${dir}/\\.limen-\\w+\\.\\.env\\.production was removed before it could be renamed into place)`,
                        ),
                    );
                    outcomes.push("refused");
                }
                expectCanaryUntouched();
            }
            expect(outcomes).toHaveLength(25);
        } finally {
            watcher.kill();
            spawnSync("pkill", ["-u", appUser, "-f", "fs.watch"]);
        }
    });
});

describe("root's reads follow no link the app user placed and wait on nothing", () => {
    const probe = (target: string) => {
        const run = spawnSync("sh", ["-c", fileProbeCommand(target).replace(/^sudo -n /, "")], { encoding: "utf8", timeout: 10_000 });
        expect(run.error).toBeUndefined();
        return parseFileProbe(target, run.stdout, sha256("A=1\n"));
    };

    it.each([
        ["a symbolic link to a root file", (at: string) => asApp("ln", "-s", canary, at), "a symbolic link"],
        ["a FIFO", (at: string) => asApp("mkfifo", at), "a FIFO"],
        [
            "a hard link to the app's own file",
            (at: string) => asApp("sh", "-c", `echo A=1 > "$1.own" && ln "$1.own" "$1"`, "-", at),
            "a hard link (2 names, so it may be any file)",
        ],
        ["a directory", (at: string) => asApp("mkdir", at), "a directory"],
    ])("%s is reported as what it is, with no mode, owner or hash", (_what, plant, state) => {
        const target = path.join(appDir(), ".env.production");
        plant(target);
        expect(probe(target)).toEqual({ path: target, state, mode: "", owner: "", contentSha256: "", contentMatches: "missing" });
    });

    it("a file behind a link the app user placed is not read", () => {
        const dir = appDir();
        asApp("ln", "-s", path.dirname(canary), path.join(dir, "up"));
        expect(probe(path.join(dir, "up", "canary")).state).toMatch(/^not read: .*\/up is a symbolic link that another user could have placed/);
    });

    it("the app user's own regular file is read: mode, owner, hash", () => {
        const target = path.join(appDir(), ".env.production");
        asApp("sh", "-c", 'umask 077; echo A=1 > "$1"', "-", target);
        expect(probe(target)).toMatchObject({ state: "present", mode: "0600", owner: `${appUser}:${appGroup}`, contentSha256: sha256("A=1\n"), contentMatches: "as planned" });
    });

    it.each([
        ["a symbolic link to a root file", (at: string) => asApp("ln", "-s", canary, at), "symlink"],
        ["a FIFO", (at: string) => asApp("mkfifo", at), "fifo"],
    ])("the copy the health gate keeps (limen-file cat) refuses %s, neither read nor waited on", (_what, plant, kind) => {
        const target = path.join(appDir(), ".env.production");
        plant(target);
        const run = spawnSync("sh", ["-c", limenFileCommand("cat", target).replace(/^sudo -n /, "")], { encoding: "utf8", timeout: 10_000 });
        expect(run.error).toBeUndefined();
        expect([run.status, run.stdout, run.stderr.trim()]).toEqual([1, "", `limen-host: ${target}: not read: it is ${kind}`]);
    });

    it("the copy the health gate keeps (limen-file cat) is the app user's regular file, byte for byte", () => {
        const target = path.join(appDir(), ".env.production");
        asApp("sh", "-c", 'umask 077; printf "A=1\\nB=2" > "$1"', "-", target);
        const run = spawnSync("sh", ["-c", limenFileCommand("cat", target).replace(/^sudo -n /, "")], { encoding: "utf8", timeout: 10_000 });
        expect([run.status, run.stdout]).toEqual([0, "A=1\nB=2"]);
    });

    it("pm2's probe and the record of loaded files skip a FIFO at .env.production instead of hanging", () => {
        const target = path.join(appDir(), ".env.production");
        asApp("mkfifo", target);
        const markerDir = mkdtempSync(path.join(root, "marker-"));
        const marked = hostTool(["pm2-mark-loaded", "--user", appUser, "--marker-dir", markerDir, "--loaded", `${canary},${target}`], "");
        expect(marked).toMatchObject({ status: 0, timedOut: false });
        expect(readFileSync(path.join(markerDir, `loaded-${appUser}.sha256`), "utf8")).toBe(`${sha256(canaryContent)}  ${canary}\n`);
        const run = spawnSync("sh", ["-c", pm2ProbeCommand(appUser, [target], markerDir).replace(/^sudo -n /, "")], { encoding: "utf8", timeout: 10_000 });
        expect(run.error).toBeUndefined();
        expect(run.stdout).toContain(`fifo\t-\t-\t-\t-\t${target}\t`);
    });
});

describe("root acts only in directories nobody else can change", () => {
    it("a firewall state directory that belongs to the app user stops apply-firewall before anything is written", () => {
        const state = appDir();
        const etc = mkdtempSync(path.join(root, "fw-"));
        const result = hostTool(
            [
                "apply-firewall",
                "--table",
                "inet limen_test",
                "--boot-ruleset",
                path.join(etc, "limen.nft"),
                "--state-dir",
                state,
                "--marker",
                path.join(etc, "pending.sha256"),
                "--unit",
                "u.service",
                "--revert-unit",
                "r",
                "--confirm-within",
                "30",
            ],
            "table inet limen_test {}\n",
        );
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain(`${state}: ${state} can be changed by user ${appUser}; root does not act in it`);
        expect(readdirSync(state)).toEqual([]);
        expect(readdirSync(etc)).toEqual([]);
    });

    it("a directory group-writable by a group other than root's is refused, naming the group", () => {
        const dir = mkdtempSync(path.join(root, "grp-"));
        chownSync(dir, 0, ids.gid);
        chmodSync(dir, 0o775);
        const result = hostTool(["install-file", "--path", path.join(dir, "x.conf"), "--mode", "0644", "--owner", "root:root", "--check", "none"], "x\n");
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain(`${dir} can be changed by group ${appGroup}`);
    });

    it("directories it creates are root's, 0755 whatever the tool's umask, so the app user can read the ecosystem", () => {
        const base = mkdtempSync(path.join(root, "new-"));
        const target = path.join(base, "limen", "pm2", "ecosystem.config.js");
        expect(hostTool(["install-file", "--path", target, "--mode", "0644", "--owner", "root:root", "--check", "none"], "x\n")).toMatchObject({ status: 0 });
        for (const dir of [path.join(base, "limen"), path.dirname(target)]) {
            const st = statSync(dir);
            expect([st.uid, (st.mode & 0o7777).toString(8)]).toEqual([0, "755"]);
        }
    });

    it("a directory on root's PATH that the app user can change stops every subcommand, naming it (its `nft` would run as root)", () => {
        const dir = appDir();
        const result = spawnSync("unshare", ["--net", "bash", tool, "check-ready"], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${rootPath}` } });
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain(`${dir} is on root's PATH, and ${dir} can be changed by user ${appUser}: root runs what is there, so the host tool stops`);
        // A missing PATH entry counts by who could create it.
        const missing = spawnSync("unshare", ["--net", "bash", tool, "check-ready"], { encoding: "utf8", env: { ...process.env, PATH: `${dir}/bin:${rootPath}` } });
        expect(missing.stderr).toContain(`${dir} is on root's PATH, and ${dir} can be changed by user ${appUser}`);
    });

    it("a sticky, world-writable directory on the way (such as /tmp) is fine when what is in it belongs to root", () => {
        const target = path.join(root, "sub", "x.conf");
        mkdirSync(path.dirname(target));
        expect(statSync(path.dirname(root)).mode & 0o1777).toBe(0o1777);
        expect(hostTool(["install-file", "--path", target, "--mode", "0644", "--owner", "root:root", "--check", "none"], "x\n")).toMatchObject({
            status: 0,
            stdout: `installed ${target}\n`,
        });
        expect(readFileSync(target, "utf8")).toBe("x\n");
    });
});
