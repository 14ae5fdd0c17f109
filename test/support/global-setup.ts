/**
 * Once around the whole unit run: the ssh-agents that programs run whole in child processes started
 * for the Docker provider's key (in the run's private runtime directories, test/support/setup.ts) are
 * stopped at the end. A program leaves its agent running on purpose; a test run does not.
 */
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import * as path from "node:path";

export function teardown(): void {
    spawnSync("pkill", ["-f", `ssh-agent -a ${path.join(tmpdir(), "limen-unit-runtime-")}`]);
}
