/**
 * The bytes of the planned host tool, for the steps that copy it to a host: its install, and a step on
 * a host whose installed tool is missing or not the planned one (hostio/host-tool-run.ts). They come
 * from tools/limen-host/build.sh (reproducible, cached by content outside the checkout), and are used
 * only when their sha256 is the committed one (core/host-tool-release.ts): the machine that runs `up`
 * needs the pinned Go or a cache that has the build, and nothing else is ever sent as the tool.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
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
    const script = projectFile("tools", "limen-host", "build.sh");
    const { status, stdout, stderr } = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn("bash", [script], { stdio: ["ignore", "pipe", "pipe"], timeout: buildSeconds * 1000 });
        let out = "";
        let err = "";
        child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
        child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
        child.on("error", reject);
        child.on("close", (code) => resolve({ status: code, stdout: out, stderr: err }));
    });
    if (status !== 0) {
        const said = stderr.trim().split("\n").slice(-3).join("\n");
        throw new Error(
            `the host tool must be copied to a host, and tools/limen-host/build.sh failed (exit ${status ?? "by a signal"}): ${said} (the machine that runs \`pulumi up\` needs Go at the version in tools/limen-host/go.mod: docs/operations.md)`,
        );
    }
    const binaryPath = stdout.trim().split("\n").at(-1) ?? "";
    const binary = await readFile(binaryPath);
    const sha = createHash("sha256").update(binary).digest("hex");
    if (sha !== hostToolSha256) {
        throw new Error(
            `tools/limen-host/build.sh built ${binaryPath} with sha256 ${sha}, and the release names ${hostToolSha256} (tools/limen-host/limen-host.sha256): the sources changed since the hash was recorded, or this Go is not the pinned one; nothing was copied to a host`,
        );
    }
    return { size: binary.length, gzipped: gzipSync(binary) };
}
