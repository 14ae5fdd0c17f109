/**
 * The backend preflight: before .env.production or the ecosystem changes, the frontend itself checks the
 * addresses the new files point the apps at. The API must answer the runbook's `/api/health` with a 2xx,
 * and the agent port must accept a TCP connection. A typo in the last octet, an old address or a port
 * where nothing (or something else) listens is refused before any file is touched, in words that name
 * the keys, the address tried and what came back. Runs as the deploy user (no sudo): it only connects.
 */
import type { BackendPreflight } from "../plan/hosts";
import { shellWord } from "./shell";

export type { BackendPreflight };

/** Seconds each of the two checks may take before it counts as a timeout. */
export const preflightTimeoutSeconds = 5;

/** Two lines: `health <curl exit> <HTTP status>` and `agent <exit>` (bash's /dev/tcp under timeout: 124 is a timeout). */
export function preflightCommand(preflight: BackendPreflight): string {
    const curl = ["curl", "-sS", "-g", "-o", "/dev/null", "-m", String(preflightTimeoutSeconds), "-w", "%{http_code}", preflight.healthUrl].map(shellWord).join(" ");
    const agent = `timeout ${preflightTimeoutSeconds} bash -c ${shellWord('exec 3<>"/dev/tcp/$1/$2"')} limen-preflight ${shellWord(preflight.agentHost)} ${preflight.agentPort}`;
    return `code=$(${curl} 2>/dev/null); echo "health $? \${code:-000}"; ${agent} 2>/dev/null; echo "agent $?"`;
}

/** The problems the preflight found, one sentence each; empty when both answered. */
export function judgePreflight(preflight: BackendPreflight, stdout: string): string[] {
    const health = /^health (\d+) (\d{3})$/m.exec(stdout);
    const agent = /^agent (\d+)$/m.exec(stdout);
    if (!health || !agent) return [`the preflight printed nothing it can judge: ${stdout.trim().slice(0, 200) || "no output"}`];
    const problems: string[] = [];
    const curlExit = Number(health[1]);
    const status = Number(health[2]);
    const api = `limen:backend.internalAddress and limen:backend.apiPort (BACKEND_HOST:BACKEND_PORT): ${preflight.healthUrl} from the frontend`;
    if (curlExit === 28) problems.push(`${api} timed out after ${preflightTimeoutSeconds} s (no host there, or a firewall drops it)`);
    else if (curlExit === 7) problems.push(`${api} was refused (nothing listens on that port)`);
    else if (curlExit !== 0) problems.push(`${api} failed (curl exit ${curlExit})`);
    else if (status < 200 || status > 299) problems.push(`${api} answered HTTP ${status}, not 2xx (something else listens there, or the API is unwell)`);
    const agentExit = Number(agent[1]);
    const agentAt = `limen:backend.agentAddress and limen:backend.agentPort (AGENT_HOST:AGENT_PORT): ${preflight.agentHost}:${preflight.agentPort} from the frontend`;
    if (agentExit === 124) problems.push(`${agentAt} timed out after ${preflightTimeoutSeconds} s (no host there, or a firewall drops it)`);
    else if (agentExit !== 0) problems.push(`${agentAt} was refused (nothing listens on that port)`);
    return problems;
}

/** The update's failure: every problem, that nothing changed, and when skipping the preflight is right. */
export function preflightFailure(path: string, problems: string[]): string {
    return (
        `backend preflight refused ${path}: ${problems.join("; ")}. Nothing on the hosts was changed. ` +
        "Fix the address or start the service; set limen:backend.skipPreflight: true only for a first deploy where the backend is not up yet"
    );
}
