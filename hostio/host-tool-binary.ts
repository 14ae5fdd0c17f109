/**
 * The bytes of the planned host tool, for the steps that copy it to a host: its install, and a step on
 * a host whose installed tool is missing or not the planned one (hostio/host-tool-run.ts). They come
 * from tools/limen-host/build.sh (reproducible, cached by content outside the checkout), and are used
 * only when their sha256 is the committed one (core/host-tool-release.ts): the machine that runs `up`
 * needs the pinned Go or a cache that has the build, and nothing else is ever sent as the tool.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { hostToolSha256 } from "../core/host-tool-release";
import { projectFile } from "../core/project-files";

/** A build from cold takes about a minute on two cores; a cached one, a fraction of a second. */
const buildSeconds = 600;

/** The planned tool as it is sent: its size, and its bytes compressed (gzip halves them). */
export interface HostToolBinary {
    size: number;
    gzipped: Buffer;
}

let built: Promise<HostToolBinary> | undefined;

/** The planned tool, built and compressed once per process. */
export function hostToolBinary(): Promise<HostToolBinary> {
    built ??= buildHostTool().catch((error: unknown) => {
        built = undefined;
        throw error;
    });
    return built;
}

async function buildHostTool(): Promise<HostToolBinary> {
    const build = await new Promise<BuildRun>((resolve, reject) => {
        const child = spawn("bash", [buildScript], { stdio: ["ignore", "pipe", "pipe"], timeout: buildSeconds * 1000 });
        let out = "";
        let err = "";
        child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
        child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
        child.on("error", reject);
        child.on("close", (code) => resolve({ status: code, stdout: out, stderr: err }));
    });
    const binaryPath = builtPath(build);
    const binary = checkedAsPlanned(binaryPath, await readFile(binaryPath));
    return { size: binary.length, gzipped: gzipSync(binary) };
}

/**
 * The planned tool's path in build.sh's cache, built if needed, checked against the committed sha256:
 * for what runs the tool on this machine itself (the tests) or copies it without the stack (the lab's
 * Ansible peer). It blocks while it builds.
 */
export function plannedHostToolPath(): string {
    const build = spawnSync("bash", [buildScript], { encoding: "utf8", timeout: buildSeconds * 1000 });
    if (build.error) throw new Error(`tools/limen-host/build.sh could not run: ${build.error.message}`);
    const binaryPath = builtPath(build);
    checkedAsPlanned(binaryPath, readFileSync(binaryPath));
    return binaryPath;
}

const buildScript = projectFile("tools", "limen-host", "build.sh");

interface BuildRun {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** The binary build.sh printed, or why it failed, with what the machine needs. */
function builtPath(build: BuildRun): string {
    if (build.status !== 0) {
        const said = build.stderr.trim().split("\n").slice(-3).join("\n");
        throw new Error(
            `the host tool must be built, and tools/limen-host/build.sh failed (exit ${build.status ?? "by a signal"}): ${said} (the machine that runs \`pulumi up\` needs Go at the version in tools/limen-host/go.mod: docs/operations.md)`,
        );
    }
    return build.stdout.trim().split("\n").at(-1) ?? "";
}

/** The binary's bytes, when their sha256 is the committed one; nothing else is ever the planned tool. */
function checkedAsPlanned(binaryPath: string, binary: Buffer): Buffer {
    const sha = createHash("sha256").update(binary).digest("hex");
    if (sha !== hostToolSha256) {
        throw new Error(
            `tools/limen-host/build.sh built ${binaryPath} with sha256 ${sha}, and the release names ${hostToolSha256} (tools/limen-host/limen-host.sha256): the sources changed since the hash was recorded (tools/limen-host/reproducible.sh --record), or this Go is not the pinned one; nothing was copied to a host`,
        );
    }
    return binary;
}
