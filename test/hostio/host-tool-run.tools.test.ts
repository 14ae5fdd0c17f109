/**
 * How a step runs the planned host tool (hostio/host-tool-run.ts), run for real as root on this machine:
 * the installed tool runs only when the descriptor the step opened is root's, 0755 and the planned
 * sha256, and otherwise the step stops before anything runs (97) so the planned tool is sent; the sent
 * tool is checked on arrival and removed with its directory. The planned tool here is the tests' build,
 * whose sha256 is the committed one (test/support/host-tool-build.ts).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { installedToolCommand, notPlannedMessage, notPlannedStatus, removeSentToolCommand, sendToolCommand, ToolScript, toolRequest } from "../../hostio/host-tool-run";
import { scratchDir, sudoShim } from "../support/stand-in-hosts";
import { testToolBinary } from "../support/tool-script";

const nobody = 65534;

/** Runs a step's command (`sudo -n sh -c …`) as root here, `sudo` being the shim that drops -n. */
function run(command: string, stdin?: Buffer | string) {
    const result = spawnSync("sh", ["-c", command], { input: stdin, env: { ...process.env, PATH: `${sudoShim()}:${process.env.PATH}` }, timeout: 30_000 });
    return { status: result.status, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** A tool installed at a root-only path of its own, as `mode` and `owner` say. */
function installedTool(mode = 0o755, owner = 0): string {
    const dir = scratchDir("limen-tool-run-");
    chmodSync(dir, 0o755);
    const tool = path.join(dir, "limen-host");
    copyFileSync(testToolBinary(), tool);
    chmodSync(tool, mode);
    chownSync(tool, owner, owner);
    return tool;
}

const ready = (toolPath: string): ToolScript => ({ toolPath, script: toolRequest({ command: "read", paths: ["/etc/hostname"] }) });

describe("the installed tool runs only when it is the planned one", () => {
    it("the planned binary, root's and 0755: the step runs with it, through the descriptor it judged", () => {
        const tool = installedTool();
        const step = run(
            installedToolCommand({ toolPath: tool, script: 'readlink /proc/self/fd/3; echo "$LIMEN_TOOL"; ' + toolRequest({ command: "read", paths: ["/etc/hostname"] }) }),
        );
        expect(step.stderr).toBe("");
        expect(step.status).toBe(0);
        const [opened, limenTool, reading] = step.stdout.split("\n");
        expect(opened).toBe(tool);
        expect(limenTool).toBe("/proc/self/fd/3");
        expect(reading).toMatch(/^file\t\d{4}\troot:root\t\d+\t[0-9a-f]{64}\t\/etc\/hostname\t$/);
    });

    it.each([
        ["missing", (tool: string) => spawnSync("rm", ["-f", tool])],
        ["edited (a byte appended)", (tool: string) => writeFileSync(tool, "#", { flag: "a" })],
        ["owned by another user", (tool: string) => chownSync(tool, nobody, nobody)],
        ["writable by its group", (tool: string) => chmodSync(tool, 0o775)],
        ["a FIFO, which the step neither opens nor waits on", (tool: string) => (spawnSync("rm", ["-f", tool]), spawnSync("mkfifo", [tool]))],
    ])("%s: the step stops before anything runs, saying the installed tool is not the planned one", (_what, change) => {
        const tool = installedTool();
        change(tool);
        const marker = path.join(path.dirname(tool), "ran");
        const step = run(installedToolCommand({ toolPath: tool, script: `touch ${marker}` }));
        expect(step.status).toBe(notPlannedStatus);
        expect(step.stderr).toContain(notPlannedMessage);
        expect(existsSync(marker)).toBe(false);
    });

    it("a link to the planned binary elsewhere is judged by what it opens: root's, 0755, planned, it runs", () => {
        const tool = installedTool();
        const link = path.join(scratchDir("limen-tool-link-"), "limen-host");
        symlinkSync(tool, link);
        expect(run(installedToolCommand(ready(link))).status).toBe(0);
        chownSync(tool, nobody, nobody);
        expect(run(installedToolCommand(ready(link))).status).toBe(notPlannedStatus);
    });
});

describe("the planned tool sent for a connection", () => {
    const binary = readFileSync(testToolBinary());

    it("arrives in a fresh root-only directory under /run, checked, and is removed with it", () => {
        const sent = run(sendToolCommand(binary.length), gzipSync(binary));
        expect(sent.stderr).toBe("");
        expect(sent.status).toBe(0);
        const at = sent.stdout.trim();
        try {
            expect(at).toMatch(/^\/run\/limen-tool\.[A-Za-z0-9]{6}\/limen-host$/);
            expect(readFileSync(at).equals(binary)).toBe(true);
            const dir = spawnSync("stat", ["-c", "%a %u", path.dirname(at)], { encoding: "utf8" }).stdout.trim();
            expect(dir).toBe("700 0");
            // A step runs with it as with an installed tool: judged on its descriptor.
            expect(run(installedToolCommand(ready(at))).status).toBe(0);
        } finally {
            expect(run(removeSentToolCommand(at)).status).toBe(0);
        }
        expect(existsSync(path.dirname(at))).toBe(false);
    });

    it("damaged on the way (another binary, or one cut short): refused, and nothing is left under /run", () => {
        const before = spawnSync("sh", ["-c", "ls -d /run/limen-tool.* 2>/dev/null | wc -l"], { encoding: "utf8" }).stdout.trim();
        const other = Buffer.concat([binary.subarray(0, binary.length - 1), Buffer.from([binary[binary.length - 1]! ^ 1])]);
        for (const bytes of [other, binary.subarray(0, 1000)]) {
            const sent = run(sendToolCommand(binary.length), gzipSync(bytes));
            expect(sent.status).toBe(1);
            expect(sent.stderr).toContain("arrived damaged");
        }
        expect(spawnSync("sh", ["-c", "ls -d /run/limen-tool.* 2>/dev/null | wc -l"], { encoding: "utf8" }).stdout.trim()).toBe(before);
    });
});
