/**
 * The design document's troubleshooting runbook (shared/seed/network-ports, "Troubleshooting") as
 * read-only checks. Each check runs one or two commands over SSH and hands their output to a pure
 * judge exported here, which decides pass/fail and writes the one line an operator acts on.
 */
import { hostForUrl } from "../components/addresses";
import { LimenConfig } from "../components/config";
import { shellWord, sha256 } from "../components/remote";
import { backendFirewallSpec, frontendFirewallSpec } from "../components/stack";
import { renderFirewall } from "../render/firewall";
import { describeTable, diffTables, normaliseTable, parseTableListing, tableListingScript } from "./nft-table";
import { HostRole, RemoteResult } from "./ssh";

export interface CheckResult {
    check: string;
    ok: boolean;
    /** One line: what was seen, and on failure what to look at next. */
    detail: string;
    /** Log lines shown with the result (the middleware's `Proxy ... session` lines). */
    lines?: string[];
}

/** What the checks need from a connection: a remote command, stdin optional. */
export interface Remote {
    run(role: HostRole, remoteCommand: string, input?: string): RemoteResult;
}

/** Where the stack's persisted ruleset lives on each host (files/limen-host.sh `firewall_ruleset`). */
export const firewallRulesetPath = "/etc/limen/firewall/limen.nft";

const oneLine = (text: string, max = 160) => {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const lastLine = (text: string) => text.trim().split("\n").at(-1)?.trim() ?? "";

/** The reason a command did not run as asked: no SSH session, no sudo, or a missing tool. */
function commandFailure(result: RemoteResult, what: string): string | undefined {
    if (result.failure) return result.failure;
    if (/sudo: (a password is required|a terminal is required)/.test(result.stderr)) {
        return `${what}: sudo asks for a password; the deploy user needs passwordless sudo (README, "Set up")`;
    }
    if (result.status === 127) return `${what}: ${lastLine(result.stderr) || "command not found"}`;
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// 1. The backend API answers /api/health on its internal address, asked from the frontend.

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
    return `http://${hostForUrl(config.backend.internalAddress)}:${config.backend.apiPort}/api/health`;
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
            detail: `${url} timed out from the frontend: the backend firewall drops it; on the backend \`sudo nft list table inet limen_firewall\` must list the frontend in internal_clients_v4/v6 and ${port} in internal_ports (see firewall-backend)`,
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
// 2. A session is created and checked through the middleware, Set-Cookie passed on.

export function sessionUrl(config: LimenConfig): string {
    return `http://127.0.0.1:${config.apps.limenFrontend.port}/api/auth/session`;
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
            detail: `POST ${url} on the frontend: ${oneLine(lastLine(result.stderr), 80)}; is ${config.apps.limenFrontend.name} up? (pm2-online)`,
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
            detail: `POST ${url} answered ${status} without Set-Cookie: compare with the backend's own answer, \`curl -si -X POST ${`http://${hostForUrl(config.backend.internalAddress)}:${config.backend.apiPort}`}/api/auth/session\` from the frontend; if that has it, the middleware drops it`,
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
// 3. The app ports listen on 127.0.0.1 only.

/** Listening sockets from `ss -Hltn`, as port → local addresses (`*` for every address). */
export function listeners(ssOutput: string): Map<number, string[]> {
    const byPort = new Map<number, string[]>();
    for (const line of ssOutput.split("\n")) {
        const local = line.trim().split(/\s+/)[3];
        if (!local) continue;
        const colon = local.lastIndexOf(":");
        const port = Number(local.slice(colon + 1));
        const address = local.slice(0, colon).replace(/^\[(.*)\]$/, "$1").replace(/%\S+$/, "");
        if (!Number.isInteger(port) || colon < 0) continue;
        const list = byPort.get(port) ?? [];
        if (!list.includes(address)) list.push(address);
        byPort.set(port, list);
    }
    return byPort;
}

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
        const wrong = addresses.filter((address) => address !== "127.0.0.1");
        if (wrong.length > 0) {
            problems.push(`${app.port} (${app.name}) also listens on ${wrong.map((a) => (a === "*" ? "* (every address)" : a)).join(", ")}: the app must bind 127.0.0.1 (\`-H 127.0.0.1\` in pm2's args)`);
        }
    }
    if (problems.length > 0) return { check, ok: false, detail: problems.join("; ") };
    return { check, ok: true, detail: `${apps.map((a) => a.port).join(" and ")} listen on 127.0.0.1 only` };
}

// ---------------------------------------------------------------------------------------------
// 4. The firewall table on each host is the one the stack renders.

export function renderedRuleset(config: LimenConfig, role: HostRole): string {
    return renderFirewall(role === "backend" ? backendFirewallSpec(config) : frontendFirewallSpec(config));
}

/** Separates the table listing from the boot file's hash in the live listing. */
export const bootFileMarker = "--- limen-verify: boot file ---";

/**
 * The two listings, both by the host's own nft so that no difference in nft versions reads as drift:
 * the loaded table (plus the boot file's hash), and the rendered ruleset (stdin) loaded into a
 * throwaway network namespace, which touches nothing of the host's own.
 */
export function firewallCommands(): { live: string; scratch: string } {
    const live = `${tableListingScript()} && echo '${bootFileMarker}' && { sha256sum ${firewallRulesetPath} 2>/dev/null || echo absent; }`;
    return {
        live: `sudo -n sh -c ${shellWord(live)}`,
        scratch: `sudo -n ${scratchListingCommand()}`,
    };
}

/** `unshare --net ...`: loads stdin into a new, empty network namespace and lists the table there. */
export function scratchListingCommand(): string {
    return `unshare --net sh -c ${shellWord(`nft -f /dev/stdin && ${tableListingScript()}`)}`;
}

export function judgeFirewall(role: HostRole, ruleset: string, live: RemoteResult, scratch: RemoteResult): CheckResult {
    const check = `firewall-${role}`;
    const failure = commandFailure(live, `nft on the ${role}`) ?? commandFailure(scratch, `unshare/nft on the ${role}`);
    if (failure) return { check, ok: false, detail: failure };
    if (live.status !== 0) {
        if (/No such file or directory/.test(live.stderr)) {
            return {
                check,
                ok: false,
                detail: `the ${role} has no table inet limen_firewall loaded: nothing filters its ports; load the deployed one: \`sudo nft -f ${firewallRulesetPath}\``,
            };
        }
        return { check, ok: false, detail: `nft list on the ${role} exited ${live.status}: ${oneLine(lastLine(live.stderr))}` };
    }
    if (scratch.status !== 0) {
        return { check, ok: false, detail: `the ${role}'s nft cannot load the stack's ruleset in a scratch namespace: ${oneLine(lastLine(scratch.stderr))}` };
    }
    const [listing = "", bootFile = ""] = live.stdout.split(`\n${bootFileMarker}\n`);
    let differences: string[];
    let expectedSummary: string;
    try {
        const expected = normaliseTable(parseTableListing(scratch.stdout));
        differences = diffTables(expected, normaliseTable(parseTableListing(listing)));
        expectedSummary = describeTable(expected);
    } catch (error) {
        return { check, ok: false, detail: `cannot read nft's listing on the ${role}: ${(error as Error).message}` };
    }
    const bootSha = bootFile.trim().split(/\s+/)[0] ?? "";
    const renderedSha = sha256(ruleset);
    const bootMatches = bootSha === renderedSha;
    const bootNote = bootMatches
        ? `the boot file matches the stack; restore with \`sudo nft -f ${firewallRulesetPath}\``
        : `${firewallRulesetPath} is ${bootSha === "absent" ? "missing" : `not the stack's ruleset either (sha256 ${bootSha.slice(0, 12)}…, the stack's is ${renderedSha.slice(0, 12)}…)`}: if the config changed since the last \`pulumi up\`, run it`;
    if (differences.length > 0) {
        return { check, ok: false, detail: `the ${role}'s loaded table differs from the stack's: ${differences.join("; ")}; ${bootNote}` };
    }
    if (!bootMatches) return { check, ok: false, detail: `the ${role}'s loaded table matches, but after a reboot it would not: ${bootNote}` };
    return { check, ok: true, detail: `the ${role}'s loaded table equals the stack's ruleset (${expectedSummary}); boot file sha256 ${renderedSha.slice(0, 12)}…` };
}

// ---------------------------------------------------------------------------------------------
// 5. The pm2 apps are online; 6. the middleware's Proxy ... session lines.

/**
 * A pm2 command as the apps' user, only when that user's pm2 daemon runs: any pm2 command starts a
 * daemon when there is none, which would both change the host and hide that the apps were not running.
 */
export function pm2Command(user: string, ...args: string[]): string {
    const script = [
        'pid=$(cat "$HOME/.pm2/pm2.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null',
        `|| { echo "limen-verify: no pm2 daemon runs for $(id -un)" >&2; exit 3; };`,
        `PM2_HOME="$HOME/.pm2" exec pm2 ${args.map(shellWord).join(" ")}`,
    ].join(" ");
    return `sudo -n -u ${shellWord(user)} -H sh -c ${shellWord(script)}`;
}

const noDaemon = (config: LimenConfig) =>
    `no pm2 daemon runs for ${config.apps.user}: start it with \`sudo systemctl start pm2-${config.apps.user}\` (it resurrects the saved apps)`;

interface Pm2Process {
    name?: string;
    pm2_env?: { status?: string };
}

export function judgePm2(result: RemoteResult, config: LimenConfig): CheckResult {
    const check = "pm2-online";
    const failure = commandFailure(result, "pm2 on the frontend");
    if (failure) return { check, ok: false, detail: failure };
    if (result.status === 3 && /no pm2 daemon/.test(result.stderr)) return { check, ok: false, detail: noDaemon(config) };
    const lines = result.stdout.split("\n").map((line) => line.trim());
    // jlist prints "[PM2] Spawning PM2 daemon ..." notices before its JSON when it had to start one.
    if (lines.some((line) => /^\[PM2\].*(Spawning|daemon launched)/i.test(line))) return { check, ok: false, detail: noDaemon(config) };
    if (result.status !== 0) return { check, ok: false, detail: `pm2 jlist exited ${result.status}: ${oneLine(lastLine(result.stderr))}` };
    let list: Pm2Process[];
    try {
        list = JSON.parse([...lines].reverse().find((line) => line.startsWith("[")) ?? "") as Pm2Process[];
        if (!Array.isArray(list)) throw new Error("not a list");
    } catch {
        // The output carries the apps' environment: never shown.
        return { check, ok: false, detail: "pm2 jlist printed no process list" };
    }
    const apps = [config.apps.limenFrontend.name, config.apps.darc.name];
    const parts: string[] = [];
    let ok = true;
    for (const name of apps) {
        const processes = list.filter((p) => p.name === name);
        const online = processes.filter((p) => p.pm2_env?.status === "online").length;
        const others = [...new Set(processes.map((p) => p.pm2_env?.status).filter((s) => s !== "online"))];
        parts.push(`${name} ${online}/${config.apps.instances} online${others.length > 0 ? ` (${others.join(", ")})` : ""}`);
        if (processes.length === 0 || online < config.apps.instances) ok = false;
    }
    const detail = parts.join(", ");
    if (ok) return { check, ok, detail };
    return { check, ok, detail: `${detail}: see \`sudo -u ${config.apps.user} pm2 logs\`; \`pulumi up\` re-runs the reload` };
}

/** How many `Proxy ... session` lines are shown. */
export const proxyLineCount = 5;

/** The last `Proxy ... session` lines of `pm2 logs`, colour codes removed. */
export function proxySessionLines(logs: string, count = proxyLineCount): string[] {
    const lines = logs
        .split("\n")
        .map((line) => line.replace(/\x1b\[[0-9;]*m/g, "").trimEnd())
        .filter((line) => /Proxy.*session/.test(line));
    // pm2 prints each instance's log file in turn; with timestamps (the ecosystem sets them) the
    // latest lines across instances come last after a stable sort.
    const stamp = (line: string) => /\|\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(line)?.[1];
    const ordered = lines.every((line) => stamp(line) !== undefined) ? [...lines].sort((a, b) => stamp(a)!.localeCompare(stamp(b)!)) : lines;
    return ordered.slice(-count);
}

export function judgeProxyLog(result: RemoteResult, config: LimenConfig): CheckResult {
    const check = "proxy-log";
    const name = config.apps.limenFrontend.name;
    const failure = commandFailure(result, "pm2 on the frontend");
    if (failure) return { check, ok: false, detail: failure, lines: [] };
    if (result.status === 3 && /no pm2 daemon/.test(result.stderr)) return { check, ok: false, detail: noDaemon(config), lines: [] };
    if (result.status !== 0) return { check, ok: false, detail: `pm2 logs ${name} exited ${result.status}: ${oneLine(lastLine(result.stderr))}`, lines: [] };
    const lines = proxySessionLines(result.stdout);
    const backend = `http://${hostForUrl(config.backend.internalAddress)}:${config.backend.apiPort}`;
    const detail =
        lines.length === 0
            ? `no Proxy … session line in the last 200 of pm2 logs ${name}: requests do not reach the middleware`
            : `${lines.length} Proxy … session line(s) (below); their target must be ${backend}`;
    return { check, ok: true, detail, lines };
}

// ---------------------------------------------------------------------------------------------

/** Runs every check in the runbook's order; `remote` is the only way they touch a host. */
export function* runChecks(config: LimenConfig, remote: Remote): Generator<CheckResult> {
    yield judgeHealth(remote.run("frontend", curlCommand(healthUrl(config))), config);

    const created = judgeSessionCreate(remote.run("frontend", curlCommand(sessionUrl(config), "-i", "-X", "POST")), config);
    if ("check" in created) yield created;
    else {
        const cookie = created.cookies.map((c) => c.pair).join("; ");
        yield judgeSessionValid(created, remote.run("frontend", curlCommand(sessionUrl(config), "-H", `Cookie: ${cookie}`)), config);
    }

    yield judgeAppPorts(remote.run("frontend", "ss -Hltn"), config);

    const commands = firewallCommands();
    for (const role of ["frontend", "backend"] as const) {
        const ruleset = renderedRuleset(config, role);
        yield judgeFirewall(role, ruleset, remote.run(role, commands.live), remote.run(role, commands.scratch, ruleset));
    }

    yield judgePm2(remote.run("frontend", pm2Command(config.apps.user, "jlist")), config);
    // After the session check, so the lines show where the middleware sent that very request.
    yield judgeProxyLog(remote.run("frontend", pm2Command(config.apps.user, "logs", config.apps.limenFrontend.name, "--nostream", "--lines", "200")), config);
}
