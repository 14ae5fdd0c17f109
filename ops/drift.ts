/**
 * Drift: every artifact in a host's plan (the host tool, each file, the firewall, the pm2 apps)
 * compared with what the host really has. The commands and parsers are hostio/observe*.ts, the same
 * read code the resources' providers run on `pulumi refresh`, so verify and a refresh see the same facts
 * and `pulumi up --refresh` repairs exactly what verify reports.
 *
 * Each judge is pure: the plan and a command's recorded output in, one CheckResult out.
 */
import type { ToolScript } from "../hostio/host-tool-run";
import { desiredFileFacts, FileFacts, fileProbeCommand, hostToolProbeCommand, parseFileProbe } from "../hostio/observe-file";
import { desiredFirewallFacts, FirewallFacts, firewallProbeCommand, parseFirewallProbe } from "../hostio/observe-firewall";
import { desiredPm2Facts, parsePm2Probe, Pm2Facts, pm2ProbeCommand } from "../hostio/observe-pm2";
import { differingFacts } from "../hostio/observe";
import { FilePlan } from "../plan/files";
import { FirewallPlan } from "../plan/firewall";
import { HostPlan, HostRole, HostToolPlan } from "../plan/hosts";
import { Pm2Plan } from "../plan/pm2";
import { sha256 } from "../core/sha256";
import { Remote, RemoteResult } from "./remote";
import { CheckResult, commandFailure, lastLine, oneLine } from "./result";
import { pm2MarkerDir } from "../core/host-paths";

/** What every drift failure ends with: the refresh reads the same facts, and the update reinstalls them. */
export const repairAdvice = "run `pulumi up --refresh` to repair";

/**
 * The host tool's mode and owner as its resource installs and reads it (components/host-resources.ts
 * HostTool; hostio/host-tool.ts installs it 0755 as root). Not in the plan, which has only its content.
 */
export const hostToolFile = { mode: "0755", owner: "root:root" } as const;

export const checkNames = {
    hostTool: (role: HostRole) => `${role} host tool`,
    firewall: (role: HostRole) => `${role} firewall`,
    file: (role: HostRole, path: string) => `${role} file ${path}`,
    pm2: (role: HostRole) => `${role} pm2`,
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** A fact's value as the operator reads it: hashes shortened (enough to compare by eye), nothing as `nothing`. */
function shown(fact: string, value: unknown): string {
    if (value === undefined || value === "") return "nothing";
    if (typeof value !== "string") return JSON.stringify(value);
    return /Sha256$/.test(fact) && /^[0-9a-f]{64}$/.test(value) ? `${value.slice(0, 12)}…` : value;
}

/**
 * Each differing fact as `mode: 0644 on the host, 0600 planned`; a record (pm2's per-app facts) one
 * line per differing entry. With `secretContent`, a differing content is only `content differs`: its
 * hash could confirm a guessed secret, so neither side's is shown.
 */
export function describeDifferences(desired: object, observed: object, options: { secretContent?: boolean } = {}): string[] {
    const differing = differingFacts(desired, observed);
    // A missing file has no mode, owner or content to compare: its state says it all.
    // `contentMatches` restates the content hash in words for the engine's diff; here the hash says it.
    const facts = differing.includes("state") ? ["state"] : differing.filter((fact) => fact !== "contentMatches" || !differing.includes("contentSha256"));
    const want = desired as Record<string, unknown>;
    const have = observed as Record<string, unknown>;
    return facts.flatMap((fact) => {
        if (options.secretContent && fact === "contentSha256") return ["content differs"];
        const planned = want[fact];
        const seen = have[fact];
        if (isRecord(planned) && isRecord(seen)) {
            const keys = [...new Set([...Object.keys(planned), ...Object.keys(seen)])];
            return keys.filter((key) => planned[key] !== seen[key]).map((key) => `${fact} of ${key}: ${shown(fact, seen[key])} on the host, ${shown(fact, planned[key])} planned`);
        }
        return [`${fact}: ${shown(fact, seen)} on the host, ${shown(fact, planned)} planned`];
    });
}

/** The shared part of every drift judge: the probe ran, its output parses, the facts match the plan. */
function judgeFacts<Facts extends object>(
    check: string,
    reading: string,
    result: RemoteResult,
    parse: (stdout: string) => Facts,
    desired: Facts,
    passed: (observed: Facts) => string,
    options: { secretContent?: boolean } = {},
): CheckResult {
    const failure = commandFailure(result, reading);
    if (failure) return { check, ok: false, detail: failure };
    if (result.status !== 0) return { check, ok: false, detail: `${reading} exited ${result.status}: ${oneLine(lastLine(result.stderr))}` };
    let observed: Facts;
    try {
        observed = parse(result.stdout);
    } catch (error) {
        const said = lastLine(result.stderr);
        return { check, ok: false, detail: `${(error as Error).message}${said ? `; the host said: ${oneLine(said, 120)}` : ""}` };
    }
    const differences = describeDifferences(desired, observed, options);
    if (differences.length === 0) return { check, ok: true, detail: passed(observed) };
    return { check, ok: false, detail: `${differences.join("; ")}; ${repairAdvice}` };
}

const fileAsPlanned = (facts: FileFacts) => `${facts.mode} ${facts.owner}, content as planned`;

export function judgeHostTool(role: HostRole, tool: HostToolPlan, result: RemoteResult): CheckResult {
    return judgeFacts(
        checkNames.hostTool(role),
        `reading ${tool.path} on the ${role}`,
        result,
        (stdout) => parseFileProbe(tool.path, stdout, tool.sha256),
        desiredFileFacts({ path: tool.path, ...hostToolFile }, tool.sha256),
        (facts) => `${tool.path} ${fileAsPlanned(facts)}`,
    );
}

export function judgeFile(role: HostRole, file: FilePlan, result: RemoteResult): CheckResult {
    return judgeFacts(
        checkNames.file(role, file.path),
        `reading ${file.path} on the ${role}`,
        result,
        (stdout) => parseFileProbe(file.path, stdout, sha256(file.content)),
        desiredFileFacts(file, sha256(file.content)),
        fileAsPlanned,
        { secretContent: file.secret },
    );
}

/** The firewall probe's arguments, from the plan (the same the FirewallTable resource passes). */
export function firewallProbe(plan: FirewallPlan): { command: ToolScript; stdin: string; table: string } {
    return {
        command: firewallProbeCommand(plan.locations),
        // Loaded into a throwaway namespace on the host, so both sides are listed by the host's own nft.
        stdin: plan.ruleset,
        table: plan.locations.table,
    };
}

export function desiredFirewall(plan: FirewallPlan): FirewallFacts {
    return desiredFirewallFacts({ table: plan.locations.table, rulesetSha256: plan.rulesetSha256, bootUnitSha256: plan.bootUnit.sha256 });
}

export function judgeFirewall(role: HostRole, plan: FirewallPlan, result: RemoteResult): CheckResult {
    const { table } = firewallProbe(plan);
    return judgeFacts(
        checkNames.firewall(role),
        `reading table ${table} on the ${role}`,
        result,
        (stdout) => parseFirewallProbe(table, stdout),
        desiredFirewall(plan),
        () => `table ${table} loaded as rendered; ${plan.locations.bootRuleset} and ${plan.locations.unitName} (enabled) as planned`,
    );
}

export function judgePm2(role: HostRole, plan: Pm2Plan, result: RemoteResult): CheckResult {
    return judgeFacts<Pm2Facts>(
        checkNames.pm2(role),
        `reading pm2's state for ${plan.user} on the ${role}`,
        result,
        (stdout) => parsePm2Probe(plan.user, plan.apps, stdout),
        desiredPm2Facts(plan.user, plan.apps),
        (facts) =>
            `${plan.apps.map((app) => `${app.name} ${facts.processes[app.name]} on ${facts.listening[app.name]}`).join(", ")}; pm2-${plan.user}.service ${facts.bootService}; ${plan.logRotation.timer} ${facts.logRotation}`,
    );
}

/** One check per artifact of the host's plan, in the plan's order; `remote` is the only way they touch the host. */
export async function* driftChecks(host: HostPlan, remote: Remote): AsyncGenerator<CheckResult> {
    const role = host.role;
    yield judgeHostTool(role, host.hostTool, await remote.run(role, hostToolProbeCommand(host.hostTool.path)));
    const firewall = firewallProbe(host.firewall);
    yield judgeFirewall(role, host.firewall, await remote.run(role, firewall.command, firewall.stdin));
    for (const file of host.files) yield judgeFile(role, file, await remote.run(role, fileProbeCommand(file.path)));
    if (host.pm2) yield judgePm2(role, host.pm2, await remote.run(role, pm2ProbeCommand(host.pm2.user, host.pm2.loadedPaths, pm2MarkerDir, host.pm2.logRotation.timer)));
}
