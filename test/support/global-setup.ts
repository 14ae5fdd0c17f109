/**
 * Once around the whole test run, for both projects: one scratch directory holds every temporary file
 * the tests make (TMPDIR points there, so `os.tmpdir()` and the tools the tests start use it), and it
 * goes at the end with the ssh-agents that programs run whole in child processes start for the Docker
 * provider's key (test/support/setup.ts). A program leaves its agent running on purpose; a test run
 * leaves nothing behind.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

export function setup(): (() => void) | undefined {
    // Both projects list this file; the first to start makes the directory for the run.
    if (process.env.LIMEN_TEST_SCRATCH) return undefined;
    const scratch = mkdtempSync(path.join(tmpdir(), "limen-test-"));
    // 0755, root's: the tests that act as the app user (sudo -u) pass through it, and no one else
    // can change it, so the host tool's path checks judge the tests' directories as they would /etc.
    chmodSync(scratch, 0o755);
    process.env.LIMEN_TEST_SCRATCH = scratch;
    process.env.TMPDIR = scratch;
    return () => {
        spawnSync("pkill", ["-f", `ssh-agent -a ${scratch}/`]);
        rmSync(scratch, { recursive: true, force: true });
    };
}
