/**
 * The design document's troubleshooting runbook (shared/seed/network-ports, "Troubleshooting") as
 * read-only checks on the frontend: the backend answers, a session is created and passed on through the
 * middleware, the apps listen on loopback only; that the middleware logs where it sent that very
 * request is proxy-log.ts. Each judge is pure: a command's recorded output in, the one line an
 * operator acts on out.
 */
import { LimenConfig } from "../config";
import { listeners } from "../hostio/observe-pm2";
import { shellWord } from "../core/shell";
import { hostForUrl } from "../core/addresses";
import { backendHealthUrl, backendOrigin } from "../plan/backend-api";
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

export function healthUrl(config: LimenConfig): string {
    return backendHealthUrl(config);
}

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
