/**
 * The host tool (tools/limen-host) run for real on this machine (in a fresh network namespace, so `nft`
 * touches nothing here): the same binary the stack installs on every host, through the tests' command
 * line for it (test/support/host-tool-cli.sh).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseConfig } from "../../config";
import { toolDeadlines } from "../../hostio/deadlines";
import type { ReleaseFile } from "../../hostio/host-tool";
import { prodRawConfig } from "./fixtures";
import { rootPath } from "./root-path";

/** What the tests run with `bash`: the tool's command line (test/support/host-tool-cli.sh). */
export const tool = path.join(__dirname, "host-tool-cli.sh");
export const prod = parseConfig(prodRawConfig());

/** The host tool's deadlines as the stack passes them (hostio/host-tool.ts, toolCall), on the command line. */
export const deadlineArgs = ["--deadlines", toolDeadlinesArg()];

/** `pm2-call=15,gate-request=5,certbot=240,envoy-validate=120`: the command line's form of the deadlines. */
export function toolDeadlinesArg(): string {
    return Object.entries(toolDeadlines)
        .map(([name, seconds]) => `${name}=${seconds}`)
        .join(",");
}

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
const fakeSudo = '#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -u) shift 2 ;; -n | -H) shift ;; --) shift; break ;; *) break ;; esac; done\nexec "$@"\n';

/**
 * A stand-in pm2 package in ROOT laid out as npm installs it (`lib/node_modules/pm2`, its CLI at
 * `bin/pm2`, on PATH through a symlink in ROOT/bin) with `cli` as the CLI, and the stand-in sudo in that
 * bin; the caller writes the API (`<pkg>/index.js`). Put `bin` first on the tool's PATH.
 */
export function fakePm2Layout(root: string, cli = "#!/bin/sh\necho the CLI is not used >&2; exit 99\n"): { pkg: string; bin: string } {
    const pkg = path.join(root, "lib", "node_modules", "pm2");
    const bin = path.join(root, "bin");
    mkdirSync(path.join(pkg, "bin"), { recursive: true });
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(pkg, "bin", "pm2"), cli, { mode: 0o755 });
    symlinkSync(path.join(pkg, "bin", "pm2"), path.join(bin, "pm2"));
    writeFileSync(path.join(bin, "sudo"), fakeSudo, { mode: 0o755 });
    return { pkg, bin };
}

export function scratchDir(): string {
    return mkdtempSync(path.join(tmpdir(), "limen-host-"));
}

/**
 * pm2-apply's stdin on the command line (test/support/host-tool-cli/pm2.sh): a line per file,
 * `new|previous PATH MODE OWNER CHECK BASE64`, which the command line turns into the request's `files`
 * (hostio/host-tool.ts, pm2ApplyCall). `previous` is the version the stack last deployed, put back when
 * the new one fails; absent for a first deploy (the tool then takes the files the host has).
 */
export function pm2FileSets(planned: ReleaseFile[], previous: ReleaseFile[] | undefined): string {
    const line = (set: string, file: ReleaseFile) => [set, file.path, file.mode, file.owner, file.check, Buffer.from(file.content, "utf8").toString("base64")].join(" ");
    return [...planned.map((file) => line("new", file)), ...(previous ?? []).map((file) => line("previous", file)), ""].join("\n");
}

/** pm2-apply's required arguments, for the cases that add to them. */
export const pm2ApplyArgs = ["pm2-apply", "--user", "limen", "--ecosystem", "/e.js", "--apps", "a", "--marker-dir", "/m", "--loaded", "x"];
