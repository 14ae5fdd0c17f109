/**
 * What verify's probes print on converged hosts (the `other` config's plan), recorded: the judges in
 * test/ops/ read them, and the stand-in hosts (stand-in-hosts.ts) answer with them.
 */
import { parseConfig } from "../../config";
import { planStack } from "../../plan/hosts";
import { sha256 } from "../../core/sha256";
import { RemoteResult } from "../../ops/remote";
import { otherRawConfig } from "./fixtures";

export const other = parseConfig(otherRawConfig());
export const otherPlan = planStack(other);

export const ok = (stdout: string, status = 0, stderr = ""): RemoteResult => ({ status, stdout, stderr });
export const advice = "run `pulumi up --refresh` to repair";

/** The host tool's `read` line for a file at `path` whose content has this sha256 (hostio/file-readings.ts). */
export const readingLine = (path: string, mode: string, owner: string, contentSha256: string) => `file\t${mode}\t${owner}\t${loadedAt}\t${contentSha256}\t${path}\t\n`;
/** The host tool's `read` line for a file at `path` with this content (fileProbeCommand's output). */
export const fileProbeOutput = (path: string, mode: string, owner: string, content: string) => readingLine(path, mode, owner, sha256(content));
/** The tool's `tool-status` line for an installed tool with this sha256 (hostToolProbeCommand's output: a reading line). */
export const toolStatusOutput = (path: string, toolSha256: string, mode = "0755", owner = "root:root") => readingLine(path, mode, owner, toolSha256);
/** The host tool's `read` line for something other than a file at `path`. */
export const otherProbeOutput = (path: string, kind: string, note = "") => `${kind}\t-\t-\t-\t-\t${path}\t${note}\n`;

export const envFile = otherPlan.frontend.files.find((file) => file.name === "env-production")!;
export const ecosystemFile = otherPlan.frontend.files.find((file) => file.name === "ecosystem")!;

export const pm2 = otherPlan.frontend.pm2!;
export const loadedAt = 1767261000; // when the ecosystem and env file last changed (seconds)
const startedAt = (loadedAt + 60) * 1000; // when the apps started (milliseconds, as pm2 says)

export const ss = [
    "LISTEN 0      511        127.0.0.1:9444      0.0.0.0:*",
    "LISTEN 0      511        127.0.0.1:9445      0.0.0.0:*",
    "LISTEN 0      128          0.0.0.0:22        0.0.0.0:*",
    "LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*",
    "LISTEN 0      128             [::]:22           [::]:*",
].join("\n");

export const allOnline = ["limen-frontend online", "limen-frontend online", "darc-kr online", "darc-kr online"];

/**
 * pm2ProbeCommand's output: the log rotation's timer, `name status started` lines, the sockets, the boot unit, the record of what
 * the apps loaded, and the host tool's reading of the loaded files (`current`: `sha256  path` lines; without
 * it, each loaded path is a file last changed at loadedAt).
 */
export function pm2ProbeOutput(
    processes: string[] = allOnline,
    options: { sockets?: string; unit?: string; started?: number; loaded?: string; current?: string; saved?: string; rotation?: string } = {},
): string {
    const listed = processes.some((line) => line === "no-daemon" || line.startsWith("unreadable "));
    return [
        // The log rotation's timer: `systemctl is-enabled`, then `is-active`.
        "--- limen-probe: rotation ---",
        options.rotation ?? "enabled\nactive",
        "--- limen-probe: processes ---",
        ...processes.map((line) => (line === "no-daemon" || line.startsWith("unreadable ") ? line : `${line} ${options.started ?? startedAt}`)),
        // pm2ListCommand's last line: what ~/.pm2/dump.pm2 holds, per app.
        ...(listed ? [] : [`saved ${options.saved ?? JSON.stringify({ "limen-frontend": 2, "darc-kr": 2 })}`]),
        "--- limen-probe: sockets ---",
        options.sockets ?? ss,
        "--- limen-probe: unit ---",
        options.unit ?? "enabled",
        "--- limen-probe: loaded ---",
        options.loaded ?? "",
        "--- limen-probe: files ---",
        ...pm2.loadedPaths.map((path, index) => {
            const hash =
                options.current === undefined ? sha256(path) : /^([0-9a-f]{64}) {2}(.*)$/m.exec(options.current.split("\n").find((line) => line.endsWith(`  ${path}`)) ?? "")?.[1];
            return hash ? `file\t0644\troot:root\t${loadedAt - 3600 * index}\t${hash}\t${path}\t` : otherProbeOutput(path, "missing").trimEnd();
        }),
        "",
    ].join("\n");
}

export const postResponse = [
    "HTTP/1.1 100 Continue",
    "",
    "HTTP/1.1 200 OK",
    "content-type: application/json",
    "set-cookie: limen_session=abc123secret; Path=/; HttpOnly; SameSite=Lax",
    "Set-Cookie: theme=dark",
    "",
    '{"created":true}',
    "limen-verify-http-status:200",
]
    .join("\r\n")
    .replace(/\r\nlimen-verify/, "\nlimen-verify");
