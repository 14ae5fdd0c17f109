/**
 * files/limen-host.sh run for real on this machine (in a fresh network namespace, so `nft` touches
 * nothing here): the same script the stack installs on every host.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseConfig } from "../../config";
import { toolDeadlinesArg } from "../../hostio/deadlines";
import { prodRawConfig } from "./fixtures";
import { rootPath } from "./root-path";

export const tool = path.join(__dirname, "..", "..", "files", "limen-host.sh");
export const prod = parseConfig(prodRawConfig());

/** The host tool's deadlines as the stack passes them (hostio/host-tool.ts, hostToolCommand). */
export const deadlineArgs = ["--deadlines", toolDeadlinesArg()];

/**
 * Runs the host tool as root with the stack's deadlines (or `deadlines`: none, or others); with
 * `timeoutMs`, stopped after it (`timedOut`: a hang is a finding).
 */
export function hostTool(args: string[], stdin: string, timeoutMs?: number, deadlines: string[] = deadlineArgs) {
    const result = spawnSync("unshare", ["--net", "bash", tool, ...deadlines, ...args], {
        input: stdin,
        encoding: "utf8",
        timeout: timeoutMs,
        env: { ...process.env, PATH: rootPath },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, timedOut: result.error !== undefined };
}

/** A stand-in `sudo [-n] [-u USER] [-H] [--] CMD...` that runs CMD (the tests run as root already). */
export const fakeSudo = '#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -u) shift 2 ;; -n | -H) shift ;; --) shift; break ;; *) break ;; esac; done\nexec "$@"\n';

export function scratchDir(): string {
    return mkdtempSync(path.join(tmpdir(), "limen-host-"));
}

/** pm2-apply's required arguments, for the cases that add to them. */
export const pm2ApplyArgs = ["pm2-apply", "--user", "limen", "--ecosystem", "/e.js", "--apps", "a", "--marker-dir", "/m", "--loaded", "x"];
