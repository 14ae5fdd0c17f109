import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appGroup, appIds as ids, appUser, asApp, expectUntouched, hostToolAsRoot, installEnv, makeScratch, newAppDir } from "../support/app-user";
import { tool } from "../support/host-tool";
import { nodeForRoot, rootPath } from "../support/root-path";

/**
 * Root writes through no path another user can change: the host tool (tools/limen-host) runs for real
 * as root on this machine, against a directory of the app user's (test/support/app-user.ts), the
 * attacker who owns the app. Root's reads of the same directories: limen-host-reads.tools.test.ts. The
 * orderings a watcher hits only rarely (a link landing right around the rename, another step creating
 * the same directory in the same instant) are made certain by the tool's own tests, with hooks on its
 * system calls (tools/limen-host/fsafe/fsafe_test.go: TestReplaceRaceAroundTheRename,
 * TestEnterCreatesOnlyWhereNobodyElseCouldHaveChangedTheWay).
 */
let root = "";
let canary = "";
beforeAll(() => ({ root, canary } = makeScratch()));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const appDir = () => newAppDir(root);
const expectCanaryUntouched = () => expectUntouched(canary);
const hostTool = hostToolAsRoot;

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
            // A node the app user can run: the tests' own may be in a normal user's private home.
            nodeForRoot,
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
        // A /tmp of its own: sticky and world-writable, with a directory of root's in it.
        const sticky = mkdtempSync(path.join(root, "sticky-"));
        chmodSync(sticky, 0o1777);
        const target = path.join(sticky, "sub", "x.conf");
        mkdirSync(path.dirname(target), { mode: 0o755 });
        expect(statSync(sticky).mode & 0o1777).toBe(0o1777);
        expect(hostTool(["install-file", "--path", target, "--mode", "0644", "--owner", "root:root", "--check", "none"], "x\n")).toMatchObject({
            status: 0,
            stdout: `installed ${target}\n`,
        });
        expect(readFileSync(target, "utf8")).toBe("x\n");
    });
});
