/**
 * The host tool this checkout installs: the static binary that tools/limen-host's reproducible build
 * gives (tools/limen-host/README.md), named by its sha256. The hash is committed beside the sources
 * (limen-host.sha256, written by `tools/limen-host/reproducible.sh --record` and checked by CI against
 * two fresh builds), so the plan and a preview know which tool a host must run without Go or a build;
 * only a step that copies the tool to a host needs the bytes (hostio/host-tool-binary.ts).
 */
import { readFileSync } from "node:fs";
import { projectFile } from "./project-files";

const hashFile = projectFile("tools", "limen-host", "limen-host.sha256");

function committedSha256(): string {
    const text = readFileSync(hashFile, "utf8");
    const match = /^([0-9a-f]{64}) {2}limen-host\n?$/.exec(text);
    if (!match)
        throw new Error(
            `tools/limen-host/limen-host.sha256 must be one line, "<sha256>  limen-host" (tools/limen-host/reproducible.sh --record writes it), got ${JSON.stringify(text.slice(0, 100))}`,
        );
    return match[1]!;
}

/** The planned tool's sha256. */
export const hostToolSha256 = committedSha256();
