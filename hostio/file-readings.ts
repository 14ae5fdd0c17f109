/**
 * Root's reads of the files the stack owns, as the host tool makes them (its `read`, `dir`: the
 * descriptor-relative walk of tools/limen-host/fsafe). It walks to the file one directory at a time,
 * follows a symbolic link only where nobody but root could have placed it, and opens the file with
 * O_NOFOLLOW and O_NONBLOCK: a link, a FIFO or a second name of another file at the artifact's path is
 * reported as what it is, never read through or waited on. A file larger than 1 MiB (its size judged on
 * the open descriptor) is reported as oversized and never read, hashed or copied: the app user can make a
 * sparse file of terabytes at no cost. The probes run these requests with the planned tool, installed or
 * sent for the step (hostio/host-tool-run.ts), since a probe must work on a host whose tool is gone.
 */
import { toolRequest } from "./host-tool-run";

/** The step's text that prints one reading line per path (`KIND MODE OWNER MTIME SHA256 PATH NOTE`). */
export function readFiles(...paths: string[]): string {
    return toolRequest({ command: "read", paths });
}

/** The step's text that exits 0 when nobody but root can change `dir` (its words on stderr otherwise). */
export function rootOnlyDir(dir: string): string {
    return toolRequest({ command: "dir", dir });
}

/** What is at a path, as the tool's `read` says it. */
export type FileKind = "file" | "missing" | "symlink" | "fifo" | "directory" | "socket" | "device" | "hardlink" | "oversized" | "unsafe" | "unreadable";

export interface FileReading {
    kind: FileKind;
    path: string;
    /** Four-digit octal mode, `user:group`, mtime in seconds and sha256 of the content: for a file only. */
    mode: string;
    owner: string;
    mtimeSeconds: number;
    sha256: string;
    /** Why the path was not read (`unsafe`), how many names a hard link has, or an oversized file's size against the limit. */
    note: string;
}

const kinds: readonly FileKind[] = ["file", "missing", "symlink", "fifo", "directory", "socket", "device", "hardlink", "oversized", "unsafe", "unreadable"];

/** The lines of `read`: `KIND MODE OWNER MTIME SHA256 PATH NOTE`, tab-separated. Other lines are ignored. */
export function parseFileReadings(stdout: string): FileReading[] {
    const readings: FileReading[] = [];
    for (const line of stdout.split("\n")) {
        const fields = line.split("\t");
        if (fields.length !== 7 || !kinds.includes(fields[0] as FileKind)) continue;
        const [kind, mode, owner, mtime, sha, path, note] = fields as [FileKind, string, string, string, string, string, string];
        const isFile = kind === "file";
        readings.push({
            kind,
            path,
            mode: isFile ? mode : "",
            owner: isFile ? owner : "",
            mtimeSeconds: isFile ? Number(mtime) : 0,
            sha256: isFile && /^[0-9a-f]{64}$/.test(sha) ? sha : "",
            note,
        });
    }
    return readings;
}

/** What was found at the path, in the words a diff and verify show (`a FIFO`). */
export function describeReading(reading: FileReading): string {
    switch (reading.kind) {
        case "file":
            return "present";
        case "missing":
            return "missing";
        case "symlink":
            return "a symbolic link";
        case "fifo":
            return "a FIFO";
        case "directory":
            return "a directory";
        case "socket":
            return "a socket";
        case "device":
            return "a device";
        case "hardlink":
            return `a hard link (${reading.note}, so it may be any file)`;
        case "oversized":
            return `too large to read: ${reading.note}`;
        case "unsafe":
            return `not read: ${reading.note}`;
        case "unreadable":
            return "unreadable";
    }
}
