/**
 * What is on a host where the stack installs a file: its mode, owner and content's hash, read as root
 * with limen-file (never through a link another user could have placed), or what is there instead.
 * Facts as observe.ts describes them.
 */
import { describeReading, FileReading, parseFileReadings, readFiles } from "./file-readings";
import { ToolScript, toolRequestStep } from "./host-tool-run";
import { hostToolPath } from "../core/host-paths";

export interface FileFacts {
    path: string;
    /**
     * `present`, `missing`, or what is there instead (`a symbolic link`, `a FIFO`, `a directory`, a hard
     * link, or `not read: …` when reaching it would follow a link another user could have placed).
     */
    state: string;
    /** Four-digit octal mode; empty when missing. */
    mode: string;
    /** `user:group`; empty when missing. */
    owner: string;
    /** sha256 of the content; empty when missing. Secret for secret files. */
    contentSha256: string;
    /**
     * `as planned` or `changed on the host`: says that a secret file's content drifted, where the
     * diff of its (secret) hash can only show `[secret]` on both sides.
     */
    contentMatches: string;
}

export const contentAsPlanned = "as planned";

export function desiredFileFacts(file: { path: string; mode: string; owner: string }, contentSha256: string): FileFacts {
    return { path: file.path, state: "present", mode: file.mode, owner: file.owner, contentSha256, contentMatches: contentAsPlanned };
}

/**
 * Reads one file as root with limen-file (hostio/limen-file.ts): its mode, owner and content's sha256,
 * or what is at its path instead, never through a link another user could have placed.
 */
export function fileProbeCommand(path: string): ToolScript {
    return { toolPath: hostToolPath, script: readFiles(path) };
}

/**
 * Reads the installed host tool as a reading line, as a file's (its sha256 up to the tool's size limit,
 * root's and 0755, or what is there instead). Run with the planned tool (hostio/host-tool-run.ts): a
 * tool that is not the planned one never reads itself.
 */
export function hostToolProbeCommand(path: string): ToolScript {
    return toolRequestStep(hostToolPath, { command: "tool-status", path });
}

/** What the probe saw, judged against the planned content's hash. */
export function parseFileProbe(path: string, stdout: string, plannedSha256: string): FileFacts {
    const reading = parseFileReadings(stdout).find((candidate) => candidate.path === path);
    if (!reading) throw new Error(`cannot read the state of ${path}: unexpected probe output`);
    return fileFacts(reading, plannedSha256);
}

function fileFacts(reading: FileReading, plannedSha256: string): FileFacts {
    if (reading.kind !== "file" || !reading.sha256) {
        return { path: reading.path, state: describeReading(reading), mode: "", owner: "", contentSha256: "", contentMatches: "missing" };
    }
    return {
        path: reading.path,
        state: "present",
        mode: reading.mode,
        owner: reading.owner,
        contentSha256: reading.sha256,
        contentMatches: reading.sha256 === plannedSha256 ? contentAsPlanned : "changed on the host",
    };
}
