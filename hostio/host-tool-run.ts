/**
 * How a step runs the host tool on a host: as root's `sh` with `$LIMEN_TOOL`, the planned binary
 * (core/host-tool-release.ts), whatever is installed. A step first runs with the installed tool, opened
 * once and judged on that descriptor (a regular file of root's, mode 0755, with the planned sha256) and
 * run through it (/proc/self/fd/3), so what is judged is what runs. When the installed tool is not the
 * planned one (missing, changed, or an older release's), the step exits `notPlannedStatus`, the planned
 * bytes are sent (once per SSH connection, into a root-only directory on tmpfs that goes with the
 * connection) and the step runs again with them: a read works on a host whose tool was deleted (that is
 * drift, reported by the tool's own read), and a drifted tool never reads or changes the host.
 * hostio/ssh.ts's runOnHost does both runs.
 */
import { hostToolSha256 } from "../core/host-tool-release";
import { shellWord } from "../core/shell";

/** A step that runs the host tool: root's sh text, with `$LIMEN_TOOL` set to the planned tool. */
export interface ToolScript {
    /** Where the installed tool is (core/host-paths.ts, hostToolPath). */
    toolPath: string;
    script: string;
    /** The installed tool is never tried: the step runs the one sent over its connection (the tool's own install). */
    alwaysSend?: boolean;
}

export function isToolScript(command: unknown): command is ToolScript {
    return typeof command === "object" && command !== null && typeof (command as ToolScript).script === "string";
}

/** The installed-tool run's exit when that tool is not the planned one; its stderr says so. */
export const notPlannedStatus = 97;
export const notPlannedMessage = "limen-host: the installed host tool is not the planned one: the step runs again with the planned tool sent to the host";

const plannedLine = `${hostToolSha256}  -`;

/** `sudo -n sh -c …` with the installed tool, when it is the planned one. */
export function installedToolCommand(step: ToolScript): string {
    const script = [
        // On the descriptor: the owner and mode (only root can change what will run) and the content.
        // `command exec`: a failed redirection of a special built-in would end the shell before it could say why.
        `if [ -f ${shellWord(step.toolPath)} ] && command exec 3<${shellWord(step.toolPath)} && [ "$(stat -L -c %u:%a /proc/self/fd/3)" = 0:755 ] && [ "$(sha256sum <&3)" = ${shellWord(plannedLine)} ]; then :; else`,
        `    echo ${shellWord(notPlannedMessage)} >&2; exit ${notPlannedStatus}`,
        "fi",
        "LIMEN_TOOL=/proc/self/fd/3",
        step.script,
    ].join("\n");
    return `sudo -n sh -c ${shellWord(script)}`;
}

/**
 * `sudo -n sh -c …` that takes the planned tool from stdin (gzip) into a fresh root-only directory under
 * /run (tmpfs), at most `size` bytes, checks its sha256 and prints where it is. The connection that sent
 * it removes it when it closes (removeSentToolCommand); an hour-old one (a connection that was cut, or a
 * provider stopped before it closed its connections: no deploy holds one that long) goes with the next
 * send, and every one with the next boot. It holds nothing secret: the planned binary only.
 */
export function sendToolCommand(size: number): string {
    const script = [
        "umask 077",
        "find /run -maxdepth 1 -name 'limen-tool.*' -mmin +60 -exec rm -rf {} + 2>/dev/null",
        "d=$(mktemp -d /run/limen-tool.XXXXXX) || exit 1",
        `if gzip -dc | head -c ${size} >"$d/limen-host" && [ "$(sha256sum <"$d/limen-host")" = ${shellWord(plannedLine)} ]; then`,
        `    chmod 0755 "$d/limen-host" && echo "$d/limen-host"`,
        "else",
        `    rm -rf "$d"; echo "limen-host: the host tool sent arrived damaged (its sha256 is not the planned one)" >&2; exit 1`,
        "fi",
    ].join("\n");
    return `sudo -n sh -c ${shellWord(script)}`;
}

/** Removes a tool sendToolCommand put at `at` (its directory, which only root can change). */
export function removeSentToolCommand(at: string): string {
    return `sudo -n rm -rf -- ${shellWord(at.replace(/\/limen-host$/, ""))}`;
}

/** A request to the tool from the step's text (no secret in it: paths and names), its answer in the tool's text output. */
export function toolRequest(request: Record<string, unknown>): string {
    return `printf '%s\\n' ${shellWord(JSON.stringify({ ...request, output: "text" }))} | "$LIMEN_TOOL"`;
}

/** The step is one request on stdin (its content may be secret: never in the command). */
export function toolStep(toolPath: string): ToolScript {
    return { toolPath, script: `"$LIMEN_TOOL"` };
}

/** A step whose only work is one request written into its text (a read: paths and names). */
export function toolRequestStep(toolPath: string, request: Record<string, unknown>): ToolScript {
    return { toolPath, script: toolRequest(request) };
}
