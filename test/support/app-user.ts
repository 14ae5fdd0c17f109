/**
 * The app user as an attacker, for the tests that run the host tool (tools/limen-host) and the read
 * probes for real as root on this machine. `nobody` stands in for the app user (every Debian system
 * has it). It owns the app's directory: it can put a link, a FIFO or a second name of a root file
 * anywhere in it, at any moment. The canary is a root file outside that directory that no deploy may touch.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { expect } from "vitest";
import { hostTool } from "./host-tool";

export const appUser = "nobody";
export const appGroup = spawnSync("id", ["-gn", appUser], { encoding: "utf8" }).stdout.trim();
export const appIds = {
    uid: Number(spawnSync("id", ["-u", appUser], { encoding: "utf8" }).stdout),
    gid: Number(spawnSync("id", ["-g", appUser], { encoding: "utf8" }).stdout),
};
export const canaryContent = "root's own, 0600\n";

/** A directory of root's for one test file, with the canary in it. Its caller removes `root` after. */
export function makeScratch(): { root: string; canary: string } {
    // The app user passes through it only when it is 0755 (mkdtemp makes 0700).
    const root = mkdtempSync(path.join(tmpdir(), "limen-paths-"));
    chmodSync(root, 0o755);
    const canary = path.join(root, "canary");
    writeFileSync(canary, canaryContent, { mode: 0o600 });
    return { root, canary };
}

/** The canary as it must stay: root:root 0600 with its content. */
export function expectUntouched(canary: string): void {
    const st = lstatSync(canary);
    expect([st.uid, st.gid, (st.mode & 0o7777).toString(8), readFileSync(canary, "utf8")]).toEqual([0, 0, "600", canaryContent]);
}

/** A fresh directory of the app user under `root`, as /srv/limen-frontend is. */
export function newAppDir(root: string): string {
    const dir = mkdtempSync(path.join(root, "app-"));
    chmodSync(dir, 0o755);
    chownSync(dir, appIds.uid, appIds.gid);
    return dir;
}

/** Runs a command as the app user (the attacker's own actions). */
export function asApp(...command: string[]): void {
    const result = spawnSync("sudo", ["-n", "-u", appUser, "--", ...command], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${command.join(" ")}: ${result.stderr}`);
}

/** The host tool as root, stopped after 20 s: against the app user, a hang is a finding. */
export const hostToolAsRoot = (args: string[], stdin: string) => hostTool(args, stdin, 20_000);

/** `install-file` of an app user's .env.production, 0600. */
export const installEnv = (target: string, content: string) =>
    hostToolAsRoot(["install-file", "--path", target, "--mode", "0600", "--owner", `${appUser}:${appGroup}`, "--check", "none"], content);
