/**
 * The design document's troubleshooting runbook (shared/seed/network-ports, "Troubleshooting") as
 * read-only checks on the frontend: the backend answers, a session is created and passed on through the
 * middleware, the middleware logs where it sent that very request, the apps listen on loopback only.
 * Each judge is pure: a command's recorded output in, the one line an operator acts on out.
 */
import * as path from "node:path";
import { LimenConfig } from "../config";
import { listeners, pm2Command } from "../hostio/observe-pm2";
import { shellWord } from "../hostio/shell";
import { hostForUrl } from "../plan/addresses";
import { envFileName } from "../plan/host-paths";
import { backendHealthUrl, backendOrigin } from "../plan/hosts";
import { RemoteResult } from "./remote";
import { CheckResult, commandFailure, lastLine, oneLine } from "./result";

// ---------------------------------------------------------------------------------------------
// The backend API answers /api/health on its internal address, asked from the frontend.

const statusMarker = "limen-verify-http-status:";

/** curl printing the body, then the HTTP status on a line of its own. */
export function curlCommand(url: string, ...options: string[]): string {
    return ["curl", "-sS", "-g", "-m", "5", ...options, "-w", `\\n${statusMarker}%{http_code}`, url].map(shellWord).join(" ");
}

/** Splits curlCommand's output into the response and its status (0 when curl got none). */
export function splitCurlOutput(stdout: string): { status: number; response: string } {
    const at = stdout.lastIndexOf(`\n${statusMarker}`);
    if (at < 0) return { status: 0, response: stdout };
    return { status: Number(stdout.slice(at + statusMarker.length + 1).trim()) || 0, response: stdout.slice(0, at) };
}

export { backendOrigin };

export function healthUrl(config: LimenConfig): string {
    return backendHealthUrl(config);
}

/** The check that names the frontend's env file (ops/drift.ts names file checks the same way). */
const envFileCheck = (config: LimenConfig) => `frontend file ${path.posix.join(config.apps.limenFrontend.cwd, envFileName)}`;

export function judgeHealth(result: RemoteResult, config: LimenConfig): CheckResult {
    const check = "backend-health";
    const url = healthUrl(config);
    const failure = commandFailure(result, "curl on the frontend");
    if (failure) return { check, ok: false, detail: failure };
    const { status, response } = splitCurlOutput(result.stdout);
    if (result.status === 0 && status >= 200 && status < 300) return { check, ok: true, detail: `${url} answered ${status} from the frontend: ${oneLine(response, 80)}` };
    const port = config.backend.apiPort;
    if (result.status === 28) {
        return {
            check,
            ok: false,
            detail: `${url} timed out from the frontend: the backend firewall drops it; on the backend \`sudo nft list table inet limen_firewall\` must list the frontend in internal_clients_v4/v6 and ${port} in internal_ports (see \`backend firewall\`)`,
        };
    }
    if (result.status === 7) {
        return {
            check,
            ok: false,
            detail: `${url} from the frontend: ${oneLine(lastLine(result.stderr), 120)}; is the API listening? on the backend: \`ss -ltnp 'sport = :${port}'\``,
        };
    }
    if (result.status !== 0) return { check, ok: false, detail: `curl ${url} on the frontend exited ${result.status}: ${oneLine(lastLine(result.stderr))}` };
    return { check, ok: false, detail: `${url} answered ${status} from the frontend: ${oneLine(response, 80)}` };
}

// ---------------------------------------------------------------------------------------------
// A session is created and checked through the middleware, Set-Cookie passed on.

export function sessionUrl(config: LimenConfig): string {
    return `http://${hostForUrl(config.apps.limenFrontend.host)}:${config.apps.limenFrontend.port}/api/auth/session`;
}

export interface SetCookie {
    /** `name=value`, for the Cookie header of the next request. */
    pair: string;
    name: string;
    /** Everything after the pair (Path, Domain, SameSite, Secure...), shown to the operator. */
    attributes: string;
}

/** The Set-Cookie headers of the last response in `curl -i` output. */
export function parseSetCookies(response: string): SetCookie[] {
    const blocks = response.split(/\r?\n\r?\n/);
    const headerBlock = [...blocks].reverse().find((block) => /^HTTP\/\S+ \d{3}/.test(block.trimStart())) ?? "";
    return headerBlock
        .split(/\r?\n/)
        .map((line) => /^set-cookie:\s*(.*)$/i.exec(line)?.[1]?.trim())
        .filter((value): value is string => !!value)
        .map((value) => {
            const [pair = "", ...attributes] = value.split(";").map((part) => part.trim());
            return { pair, name: pair.split("=")[0] ?? "", attributes: attributes.join("; ") };
        })
        .filter((cookie) => /^[^\s=;,]+=[^\s;,]*$/.test(cookie.pair));
}

/** How the cookies are described: names and attributes, never the session value. */
const describeCookies = (cookies: SetCookie[]) => cookies.map((c) => `${c.name}${c.attributes ? ` (${c.attributes})` : ""}`).join(", ");

export function judgeSessionCreate(result: RemoteResult, config: LimenConfig): { cookies: SetCookie[] } | CheckResult {
    const check = "session-cookie";
    const url = sessionUrl(config);
    const failure = commandFailure(result, "curl on the frontend");
    if (failure) return { check, ok: false, detail: failure };
    const { status, response } = splitCurlOutput(result.stdout);
    if (result.status !== 0) {
        return {
            check,
            ok: false,
            detail: `POST ${url} on the frontend: ${oneLine(lastLine(result.stderr), 80)}; is ${config.apps.limenFrontend.name} up? (see \`frontend pm2\`)`,
        };
    }
    if (status < 200 || status >= 300) {
        return {
            check,
            ok: false,
            detail: `POST ${url} answered ${status}: with backend-health passing, the middleware targets the wrong place; \`.env.production\` must read BACKEND_HOST=${config.backend.internalAddress} and BACKEND_PORT=${config.backend.apiPort} (see proxy-log)`,
        };
    }
    const cookies = parseSetCookies(response);
    if (cookies.length === 0) {
        return {
            check,
            ok: false,
            detail: `POST ${url} answered ${status} without Set-Cookie: compare with the backend's own answer, \`curl -si -X POST ${backendOrigin(config)}/api/auth/session\` from the frontend; if that has it, the middleware drops it`,
        };
    }
    return { cookies };
}

export function judgeSessionValid(created: { cookies: SetCookie[] }, result: RemoteResult, config: LimenConfig): CheckResult {
    const check = "session-cookie";
    const url = sessionUrl(config);
    const failure = commandFailure(result, "curl on the frontend");
    if (failure) return { check, ok: false, detail: failure };
    const { status, response } = splitCurlOutput(result.stdout);
    let valid: unknown;
    try {
        valid = (JSON.parse(response) as { valid?: unknown }).valid;
    } catch {
        valid = undefined;
    }
    const seen = `POST gave Set-Cookie ${describeCookies(created.cookies)}`;
    if (result.status === 0 && status === 200 && valid === true) return { check, ok: true, detail: `${seen}; GET with it: {"valid":true}` };
    return {
        check,
        ok: false,
        detail: `${seen}, but GET ${url} with it answered ${status}: ${oneLine(response, 60)}; the middleware does not pass the Cookie header on to the backend`,
    };
}

// ---------------------------------------------------------------------------------------------
// The middleware's `Proxy … session` lines for the request verify itself just made.

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

// ---------------------------------------------------------------------------------------------
// The app ports listen on their loopback address only.

export function judgeAppPorts(result: RemoteResult, config: LimenConfig): CheckResult {
    const check = "app-ports-loopback";
    const failure = commandFailure(result, "ss on the frontend");
    if (failure) return { check, ok: false, detail: failure };
    if (result.status !== 0) return { check, ok: false, detail: `ss -Hltn on the frontend exited ${result.status}: ${oneLine(lastLine(result.stderr))}` };
    const byPort = listeners(result.stdout);
    const apps = [config.apps.limenFrontend, config.apps.darc];
    const problems: string[] = [];
    for (const app of apps) {
        const addresses = byPort.get(app.port) ?? [];
        if (addresses.length === 0) problems.push(`nothing listens on ${app.port} (${app.name} down? \`sudo -u ${config.apps.user} pm2 logs ${app.name}\`)`);
        const wrong = addresses.filter((address) => address !== app.host);
        if (wrong.length > 0) {
            problems.push(
                `${app.port} (${app.name}) also listens on ${wrong.map((a) => (a === "*" ? "* (every address)" : a)).join(", ")}: the app must bind ${app.host} (\`-H ${app.host}\` in pm2's args)`,
            );
        }
    }
    if (problems.length > 0) return { check, ok: false, detail: problems.join("; ") };
    return { check, ok: true, detail: `${apps.map((a) => a.port).join(" and ")} listen on ${[...new Set(apps.map((a) => a.host))].join(", ")} only` };
}
