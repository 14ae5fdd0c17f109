/**
 * The backend preflight: before .env.production or the ecosystem changes, the frontend itself checks the
 * addresses the new files point the apps at. The API must answer the runbook's `/api/health` with a 2xx,
 * and the agent port must accept a TCP connection. A typo in the last octet, an old address or a port
 * where nothing (or something else) listens is refused before any file is touched, in words that name
 * the keys, the address tried and what came back. Runs as the deploy user (no sudo): it only connects.
 */
import type { BackendPreflight } from "../plan/backend-api";
import { shellWord } from "../core/shell";

export type { BackendPreflight };

/** Seconds each of the two checks may take before it counts as a timeout. */
export const preflightTimeoutSeconds = 5;

/**
 * Three lines: `api-connect <exit> <what the connect said>`, `agent-connect …` (bash's /dev/tcp under
 * timeout: 124 is a timeout, and the kernel's own words tell "refused" from "no route to host"), then
 * `health <curl exit> <HTTP status>` for the API once it accepts a connection.
 */
export function preflightCommand(preflight: BackendPreflight): string {
    const api = new URL(preflight.healthUrl);
    const connect = (name: string, host: string, port: number | string) =>
        `said=$(timeout ${preflightTimeoutSeconds} bash -c ${shellWord('exec 3<>"/dev/tcp/$1/$2"')} limen-preflight ${shellWord(host)} ${port} 2>&1); echo "${name}-connect $? $(echo $said | tr -s '\\n' ' ')"`;
    const curl = ["curl", "-sS", "-g", "-o", "/dev/null", "-m", String(preflightTimeoutSeconds), "-w", "%{http_code}", preflight.healthUrl].map(shellWord).join(" ");
    return [
        connect("api", api.hostname.replace(/^\[|\]$/g, ""), api.port || "80"),
        connect("agent", preflight.agentHost, preflight.agentPort),
        `code=$(${curl} 2>/dev/null); echo "health $? \${code:-000}"`,
    ].join("; ");
}

/** What a failed connect means, from its exit status and the kernel's words. */
function connectProblem(exit: number, said: string): string | undefined {
    if (exit === 0) return undefined;
    if (exit === 124) return `timed out after ${preflightTimeoutSeconds} s (no host answers there, or a firewall drops it)`;
    if (/no route to host/i.test(said)) return "is unreachable (no host has that address: no route to host)";
    if (/connection refused/i.test(said)) return "was refused (nothing listens on that port)";
    return `could not connect (${said.replace(/^.*connect: /, "").trim() || `exit ${exit}`})`;
}

/** The problems the preflight found, one sentence each; empty when both answered. */
export function judgePreflight(preflight: BackendPreflight, stdout: string): string[] {
    const apiConnect = /^api-connect (\d+) ?(.*)$/m.exec(stdout);
    const agentConnect = /^agent-connect (\d+) ?(.*)$/m.exec(stdout);
    const health = /^health (\d+) (\d{3})$/m.exec(stdout);
    if (!apiConnect || !agentConnect || !health) return [`the preflight printed nothing it can judge: ${stdout.trim().slice(0, 200) || "no output"}`];
    const problems: string[] = [];
    const api = `limen:backend.internalAddress and limen:backend.apiPort (BACKEND_HOST:BACKEND_PORT): ${preflight.healthUrl} from the frontend`;
    const apiProblem = connectProblem(Number(apiConnect[1]), apiConnect[2]!);
    const curlExit = Number(health[1]);
    const status = Number(health[2]);
    if (apiProblem) problems.push(`${api} ${apiProblem}`);
    else if (curlExit === 28) problems.push(`${api} timed out after ${preflightTimeoutSeconds} s waiting for an answer`);
    else if (curlExit !== 0) problems.push(`${api} failed (curl exit ${curlExit})`);
    else if (status < 200 || status > 299) problems.push(`${api} answered HTTP ${status}, not 2xx (something else listens there, or the API is unwell)`);
    const agentProblem = connectProblem(Number(agentConnect[1]), agentConnect[2]!);
    if (agentProblem)
        problems.push(
            `limen:backend.agentAddress and limen:backend.agentPort (AGENT_HOST:AGENT_PORT): ${preflight.agentHost}:${preflight.agentPort} from the frontend ${agentProblem}`,
        );
    return problems;
}

/** The update's failure: every problem, that nothing changed, and when skipping the preflight is right. */
export function preflightFailure(path: string, problems: string[]): string {
    return (
        `backend preflight refused ${path}: ${problems.join("; ")}. Nothing on the hosts was changed. ` +
        "Fix the address or start the service; set limen:backend.skipPreflight: true only for a first deploy where the backend is not up yet"
    );
}
