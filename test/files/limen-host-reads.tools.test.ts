import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileProbeCommand, parseFileProbe } from "../../hostio/observe-file";
import { pm2ProbeCommand } from "../../hostio/observe-pm2";
import { sha256 } from "../../core/sha256";
import { appGroup, appUser, asApp, canaryContent, hostToolAsRoot, makeScratch, newAppDir } from "../support/app-user";
import { tool } from "../support/host-tool";
import { localStep } from "../support/tool-script";

/**
 * Root reads through no path another user can change, and waits on nothing the app user placed: the
 * read probes and the host tool's file access (tools/limen-host: read, cat) run for real as root on this
 * machine, against a directory of the app user's (test/support/app-user.ts).
 */
let root = "";
let canary = "";
beforeAll(() => ({ root, canary } = makeScratch()));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const appDir = () => newAppDir(root);
const hostTool = hostToolAsRoot;

describe("root's reads follow no link the app user placed and wait on nothing", () => {
    const probe = (target: string) => {
        const run = spawnSync("sh", ["-c", localStep(fileProbeCommand(target))], { encoding: "utf8", timeout: 10_000 });
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
    ])("the copy the health gate keeps (the tool's cat) refuses %s, neither read nor waited on", (_what, plant, kind) => {
        const target = path.join(appDir(), ".env.production");
        plant(target);
        const run = spawnSync("bash", [tool, "--limen-file", "cat", target], { encoding: "utf8", timeout: 10_000 });
        expect(run.error).toBeUndefined();
        expect([run.status, run.stdout, run.stderr.trim()]).toEqual([1, "", `limen-host: ${target}: not read: it is ${kind}`]);
    });

    it("the copy the health gate keeps (the tool's cat) is the app user's regular file, byte for byte", () => {
        const target = path.join(appDir(), ".env.production");
        asApp("sh", "-c", 'umask 077; printf "A=1\\nB=2" > "$1"', "-", target);
        const run = spawnSync("bash", [tool, "--limen-file", "cat", target], { encoding: "utf8", timeout: 10_000 });
        expect([run.status, run.stdout]).toEqual([0, "A=1\nB=2"]);
    });

    it("pm2's probe and the record of loaded files skip a FIFO at .env.production instead of hanging", () => {
        const target = path.join(appDir(), ".env.production");
        asApp("mkfifo", target);
        const markerDir = mkdtempSync(path.join(root, "marker-"));
        const marked = hostTool(["pm2-mark-loaded", "--user", appUser, "--marker-dir", markerDir, "--loaded", `${canary},${target}`], "");
        expect(marked).toMatchObject({ status: 0, timedOut: false });
        expect(readFileSync(path.join(markerDir, `loaded-${appUser}.sha256`), "utf8")).toBe(`${sha256(canaryContent)}  ${canary}\n`);
        const run = spawnSync("sh", ["-c", localStep(pm2ProbeCommand(appUser, [target], markerDir, undefined))], { encoding: "utf8", timeout: 10_000 });
        expect(run.error).toBeUndefined();
        expect(run.stdout).toContain(`fifo\t-\t-\t-\t-\t${target}\t`);
    });
});
