/**
 * The runbook's middleware check (ops/runbook.ts has the others): the `Proxy … session` lines pm2 logs
 * for the session request verify itself just made, which must be there and must all target the
 * backend's internal origin. The judge is pure: the recorded clock and logs in, one CheckResult out.
 */
import * as path from "node:path";
import { LimenConfig } from "../config";
import { pm2Command } from "../hostio/observe-pm2";
import { envFileName } from "../core/host-paths";
import { backendOrigin } from "../plan/backend-api";
import { RemoteResult } from "./remote";
import { CheckResult, commandFailure, lastLine, oneLine } from "./result";
import { sessionUrl } from "./runbook";

/** The check that names the frontend's env file (ops/drift.ts names file checks the same way). */
const envFileCheck = (config: LimenConfig) => `frontend file ${path.posix.join(config.apps.limenFrontend.cwd, envFileName)}`;

/**
 * The frontend's clock as pm2 stamps log lines (the ecosystem sets `time: true`: local time, to the
 * second, no zone). TZ is dropped because pm2's daemon runs from systemd without one, on the zone of
 * /etc/localtime; an SSH session may carry another from PAM.
 */
export const hostClockCommand = "env -u TZ date +%Y-%m-%dT%H:%M:%S";

const stampPattern = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/;

/**
 * How many lines of each log file pm2 prints. The check runs right after the session request, and this
 * leaves room for a busy middleware's other requests in between.
 */
export const proxyLogLineCount = 1000;

/** At most this many lines are shown with the result. */
export const proxyLinesShown = 5;

export function proxyLogCommand(config: LimenConfig): string {
    return pm2Command(config.apps.user, "logs", config.apps.limenFrontend.name, "--nostream", "--lines", String(proxyLogLineCount));
}

/** The `time: true` stamp after pm2's `0|name | ` prefix. */
const stampOf = (line: string) => /\|\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?:/.exec(line)?.[1];

/** Every `Proxy … session` line of `pm2 logs` (the runbook's grep), colour codes removed, oldest first. */
export function proxySessionLines(logs: string): string[] {
    const lines = logs
        .split("\n")
        .map((line) => line.replace(/\x1b\[[0-9;]*m/g, "").trimEnd())
        .filter((line) => /Proxy.*session/.test(line));
    // pm2 prints each instance's log file in turn; with timestamps the latest lines across instances
    // come last after a stable sort.
    return lines.every((line) => stampOf(line) !== undefined) ? [...lines].sort((a, b) => stampOf(a)!.localeCompare(stampOf(b)!)) : lines;
}

export interface ProxyLine {
    stamp: string | undefined;
    method: string;
    path: string;
    /** Where the middleware sent the request, or what it logged instead (`no backend: …`). */
    target: string;
}

/** `Proxy POST /api/auth/session -> http://192.0.2.100:18443/api/auth/session session`, the middleware's format. */
export function parseProxyLine(line: string): ProxyLine | undefined {
    const match = /Proxy (\S+) (\S+) -> (.*?)(?: session)?$/.exec(line);
    if (!match) return undefined;
    return { stamp: stampOf(line), method: match[1]!, path: match[2]!, target: match[3]!.trim() };
}

function originOf(url: string): string | undefined {
    try {
        return new URL(url).origin;
    } catch {
        return undefined;
    }
}

/**
 * Fails unless a `Proxy POST /api/auth/session` line stamped at or after `clock` (read just before
 * verify's own POST) is in the logs, and every session line since then targets the backend origin.
 */
export function judgeProxyLog(clock: RemoteResult, logs: RemoteResult, config: LimenConfig): CheckResult {
    const check = "proxy-log";
    const name = config.apps.limenFrontend.name;
    const clockFailure = commandFailure(clock, "date on the frontend");
    if (clockFailure) return { check, ok: false, detail: clockFailure, lines: [] };
    const since = clock.stdout.trim();
    if (clock.status !== 0 || !stampPattern.test(since)) {
        return { check, ok: false, detail: `cannot read the frontend's clock (\`${hostClockCommand}\` printed "${oneLine(since || lastLine(clock.stderr), 60)}")`, lines: [] };
    }
    const failure = commandFailure(logs, "pm2 on the frontend");
    if (failure) return { check, ok: false, detail: failure, lines: [] };
    if (logs.status === 3 && /no pm2 daemon/.test(logs.stderr)) {
        return { check, ok: false, detail: `no pm2 daemon runs for ${config.apps.user}, so no middleware ran (see \`frontend pm2\`)`, lines: [] };
    }
    if (logs.status !== 0) return { check, ok: false, detail: `pm2 logs ${name} exited ${logs.status}: ${oneLine(lastLine(logs.stderr))}`, lines: [] };

    const lines = proxySessionLines(logs.stdout);
    const latest = lines.slice(-proxyLinesShown);
    if (lines.length > 0 && lines.every((line) => stampOf(line) === undefined)) {
        return {
            check,
            ok: false,
            detail: `the Proxy lines of ${name} carry no timestamp, so verify cannot tell its own request from older ones: the ecosystem must set \`time: true\` (see \`frontend file ${config.apps.ecosystemPath}\`)`,
            lines: latest,
        };
    }
    const recent = lines.filter((line) => (stampOf(line) ?? "") >= since);
    const own = recent.filter((line) => {
        const parsed = parseProxyLine(line);
        return parsed?.method === "POST" && parsed.path.startsWith("/api/auth/session");
    });
    if (own.length === 0) {
        return {
            check,
            ok: false,
            detail:
                `no \`Proxy POST /api/auth/session\` line since ${since} (the frontend's clock) in the last ${proxyLogLineCount} lines of pm2 logs ${name}: ` +
                `verify's own POST ${sessionUrl(config)} did not pass the middleware${latest.length > 0 ? " (the latest older lines are below)" : ""}`,
            lines: latest,
        };
    }
    const backend = backendOrigin(config);
    const shownLines = recent.slice(-proxyLinesShown);
    const elsewhere = [
        ...new Set(recent.map((line) => parseProxyLine(line)?.target).filter((target): target is string => target !== undefined && originOf(target) !== originOf(backend))),
    ];
    if (elsewhere.length > 0) {
        return {
            check,
            ok: false,
            detail:
                `since ${since} the middleware sent session requests to ${elsewhere.map((target) => oneLine(target, 80)).join(", ")}, not ${backend}: ` +
                `\`.env.production\` must read BACKEND_HOST=${config.backend.internalAddress} and BACKEND_PORT=${config.backend.apiPort} (see \`${envFileCheck(config)}\`)`,
            lines: shownLines,
        };
    }
    return { check, ok: true, detail: `verify's POST passed the middleware to ${backend}: ${recent.length} Proxy … session line(s) since ${since} (below)`, lines: shownLines };
}
