/**
 * A step's deadline on the host (hostio/deadlines.ts, underDeadline) run for real with this machine's sudo
 * and coreutils `timeout`: the whole step is stopped, root's processes and the ones it left in the
 * background included, and the step's own user runs the command.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { killAfterSeconds, underDeadline } from "../../hostio/deadlines";
import { appUser } from "../support/app-user";
import { scratchDir } from "../support/host-tool";

/** Whether a process runs (a zombie waiting for its new parent to reap it does not): its state in /proc/PID/stat. */
const alive = (pid: string) => {
    try {
        return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0] !== "Z";
    } catch {
        return false;
    }
};

describe("a step under its deadline", () => {
    it("past the deadline, the step and everything it started through sudo as root are stopped, and timeout's status says so", () => {
        const dir = scratchDir();
        // The SSH user runs sudo; root leaves a process in the background and waits on another.
        const step = `sudo -n sh -c 'sleep 300 & echo $! > ${dir}/background; echo $$ > ${dir}/root-shell; sleep 300'`;
        const started = Date.now();
        const run = spawnSync("sh", ["-c", underDeadline(step, "root", 1)], { encoding: "utf8", timeout: 30_000 });
        const seconds = (Date.now() - started) / 1000;
        expect(run.error).toBeUndefined();
        expect(run.status).toBe(124);
        expect(seconds).toBeLessThan(1 + killAfterSeconds + 5);
        const pids = ["background", "root-shell"].map((name) => readFileSync(path.join(dir, name), "utf8").trim());
        expect(pids.filter(alive)).toEqual([]);
    });

    it("within the deadline, the command runs as the step's user with its stdin, and its own status comes back", () => {
        const run = spawnSync("sh", ["-c", underDeadline("id -un; cat; exit 3", appUser, 30)], { input: "from stdin\n", encoding: "utf8", timeout: 30_000 });
        expect([run.status, run.stdout]).toEqual([3, `${appUser}\nfrom stdin\n`]);
    });

    it("a command that ignores SIGTERM is killed too", () => {
        const dir = scratchDir();
        const step = `sudo -n sh -c 'trap "" TERM; echo $$ > ${dir}/stubborn; while :; do sleep 0.2; done'`;
        const run = spawnSync("sh", ["-c", underDeadline(step, "root", 1)], { encoding: "utf8", timeout: 30_000 });
        expect(run.status).toBe(124);
        expect(alive(readFileSync(path.join(dir, "stubborn"), "utf8").trim())).toBe(false);
    });
});
