/**
 * What the policies read in the firewall: each host's FirewallTable `ruleset` (the nft text it loads
 * and keeps for boot), and which host is the frontend, told by the files only the frontend gets.
 */
import { envFileName, firewallTable } from "../../core/host-paths";
import { ResourceView, Unknown } from "../values";
import { sameAddress } from "./addresses";
import { isEnvFile } from "./env-file";
import { isEnvoyBootstrapFile } from "./envoy";
import { describe, Finding, skipped, violation } from "./findings";
import { actsOnHost, connectionAddress, hostResourceTypes, isInstalledFile, textInput } from "./resources";
import { seedPorts } from "../../core/seed";

/** The backend's internal ports in the design document: the LIMEN API and the agent service. */
export const seedInternalPorts: number[] = [seedPorts.backendApi, seedPorts.agent];

// ---- nftables ---------------------------------------------------------------------------------------

function balancedBlock(text: string, open: number): string {
    let depth = 0;
    for (let i = open; i < text.length; i++) {
        if (text[i] === "{") depth++;
        else if (text[i] === "}" && --depth === 0) return text.slice(open + 1, i);
    }
    return text.slice(open + 1);
}

function withoutComments(text: string): string {
    return text.replace(/#[^\n]*/g, "");
}

/** Declares the stack's table with a body (`table inet limen_firewall {`), i.e. is one of its rulesets. */
export function isLimenRuleset(text: string): boolean {
    return new RegExp(`\\btable\\s+${firewallTable.family}\\s+${firewallTable.name}\\s*\\{`).test(withoutComments(text));
}

export interface LimenTable {
    sets: Map<string, string[]>;
    chains: Map<string, string>;
}

/**
 * The sets and chains of the last `table inet limen_firewall { … }` block (the one `nft -f` leaves in
 * place: render/firewall.ts declares, deletes and re-creates the table), plus any elements that
 * `add element` statements add to its sets.
 */
export function parseLimenTable(text: string): LimenTable {
    const clean = withoutComments(text);
    const tableStart = new RegExp(`\\btable\\s+${firewallTable.family}\\s+${firewallTable.name}\\s*\\{`, "g");
    let body = "";
    for (let m = tableStart.exec(clean); m; m = tableStart.exec(clean)) body = balancedBlock(clean, m.index + m[0].length - 1);

    const sets = new Map<string, string[]>();
    const elementsOf = (block: string) => {
        const list = /\belements\s*=\s*\{([^}]*)\}/.exec(block);
        return list ? list[1]!.split(/[\s,]+/).filter((e) => e !== "") : [];
    };
    for (const m of body.matchAll(/\bset\s+([A-Za-z0-9_]+)\s*\{/g)) {
        sets.set(m[1]!, elementsOf(balancedBlock(body, m.index! + m[0].length - 1)));
    }
    const added = new RegExp(`\\b(?:add|create)\\s+element\\s+${firewallTable.family}\\s+${firewallTable.name}\\s+([A-Za-z0-9_]+)\\s*\\{([^}]*)\\}`, "g");
    for (const m of clean.matchAll(added)) {
        sets.set(m[1]!, [...(sets.get(m[1]!) ?? []), ...m[2]!.split(/[\s,]+/).filter((e) => e !== "")]);
    }

    const chains = new Map<string, string>();
    for (const m of body.matchAll(/\bchain\s+([A-Za-z0-9_]+)\s*\{/g)) {
        chains.set(m[1]!, balancedBlock(body, m.index! + m[0].length - 1));
    }
    return { sets, chains };
}

/** Whether a set of ports (numbers or `a-b` ranges) contains `port`. */
function portSetHas(elements: string[], port: number): boolean {
    return elements.some((e) => {
        const [low, high] = e.split("-").map(Number);
        return low !== undefined && (high === undefined ? low === port : low <= port && port <= high);
    });
}

// ---- the policy -------------------------------------------------------------------------------------

export interface FirewallPolicyConfig {
    /** Ports only the frontend may reach on the backend (default the seed's 18443 and 9000). */
    internalPorts: number[];
    /** Frontend addresses besides its SSH address, e.g. its IPv6 address (default none). */
    additionalFrontendAddresses: string[];
}

/**
 * The backend firewall keeps the internal ports to the frontend alone (seed: 18443 and 9000 are
 * "internal network" ports for talking to the frontend).
 *
 * The frontend is the host (connection address) that `.env.production` or the Envoy bootstrap goes
 * to; every other host a resource acts on is a backend host. On every backend host, a FirewallTable
 * loads the stack's ruleset, which lists those ports in `internal_ports` (and `guarded_ports`, which
 * prerouting drops for anyone else) and not in `public_ports`; `internal_clients_v4`/`_v6` hold
 * frontend addresses only, and at least one; the input chain drops by default. Only a FirewallTable
 * counts: a ruleset merely written to a file is not loaded.
 */
export function backendFirewallFindings(resources: ResourceView[], config: FirewallPolicyConfig): Finding[] {
    const onHosts = resources.filter(actsOnHost);
    const frontendFiles = onHosts.filter((r) => isEnvFile(r) || isEnvoyBootstrapFile(r));
    if (frontendFiles.length === 0) {
        const unknownPaths = onHosts.filter((r) => isInstalledFile(r) && r.props.path instanceof Unknown);
        return unknownPaths.length > 0
            ? [
                  skipped(
                      "",
                      `the path of ${unknownPaths.map((r) => r.name).join(", ")} is unknown during preview, so the frontend cannot be told apart; the backend firewall was not checked`,
                  ),
              ]
            : [violation("", `no resource installs ${envFileName} or the Envoy config, so the frontend (the backend's only allowed client) cannot be told apart`)];
    }
    const unknownHosts = onHosts.filter((r) => connectionAddress(r) instanceof Unknown);
    if (unknownHosts.length > 0) {
        return [skipped("", `the connection address of ${unknownHosts.map((r) => r.name).join(", ")} is unknown during preview; the backend firewall was not checked`)];
    }
    const hostOf = (r: ResourceView) => connectionAddress(r) as string | undefined;
    const frontendHosts = new Set(
        frontendFiles
            .map(hostOf)
            .filter((h): h is string => h !== undefined)
            .map(sameAddress),
    );
    const backendHosts = [
        ...new Set(
            onHosts
                .map(hostOf)
                .filter((h): h is string => h !== undefined)
                .map(sameAddress),
        ),
    ].filter((h) => !frontendHosts.has(h));
    if (backendHosts.length === 0) return [violation("", "no resource acts on a host other than the frontend: the backend and its firewall are missing")];

    const allowed = new Set([...frontendHosts, ...config.additionalFrontendAddresses.map(sameAddress)]);
    const findings: Finding[] = [];
    for (const backend of backendHosts) {
        const tables = onHosts.filter((r) => r.type === hostResourceTypes.firewall && sameAddress(hostOf(r) ?? "") === backend);
        const rulesets = tables.flatMap((r) => {
            const ruleset = textInput(r, "ruleset");
            return typeof ruleset === "string" && isLimenRuleset(ruleset) ? [{ r, ruleset }] : [];
        });
        if (rulesets.length === 0) {
            const unknownRulesets = tables.filter((r) => r.props.ruleset instanceof Unknown);
            findings.push(
                unknownRulesets.length > 0
                    ? skipped("", `backend ${backend}: the ruleset of ${unknownRulesets.map((r) => r.name).join(", ")} is unknown during preview; its firewall was not checked`)
                    : violation(
                          "",
                          `backend ${backend}: no FirewallTable loads the ${firewallTable.family} ${firewallTable.name} ruleset, so nothing keeps ${config.internalPorts.join(", ")} to the frontend`,
                      ),
            );
            continue;
        }
        for (const { r, ruleset } of rulesets) {
            const table = parseLimenTable(ruleset);
            const set = (name: string) => table.sets.get(name) ?? [];
            const where = `${describe(r)} (backend ${backend})`;
            for (const port of config.internalPorts) {
                if (!portSetHas(set("internal_ports"), port)) findings.push(violation(r.urn, `${where}: port ${port} is not in internal_ports, so the frontend cannot reach it`));
                if (!portSetHas(set("guarded_ports"), port))
                    findings.push(violation(r.urn, `${where}: port ${port} is not in guarded_ports, so prerouting does not drop it for other sources`));
                if (portSetHas(set("public_ports"), port))
                    findings.push(violation(r.urn, `${where}: port ${port} is in public_ports, open to everyone (seed: internal network only)`));
            }
            const clients = [...set("internal_clients_v4"), ...set("internal_clients_v6")];
            for (const client of clients) {
                if (!allowed.has(sameAddress(client))) {
                    findings.push(
                        violation(
                            r.urn,
                            `${where}: internal_clients lists ${client}, which is not a frontend address (${[...allowed].join(", ")}); only the frontend may reach ${config.internalPorts.join(", ")}`,
                        ),
                    );
                }
            }
            if (!clients.some((client) => allowed.has(sameAddress(client)))) {
                findings.push(violation(r.urn, `${where}: internal_clients_v4/_v6 hold no frontend address, so the frontend cannot reach the backend`));
            }
            const input = table.chains.get("input");
            if (input === undefined || !/\bpolicy\s+drop\s*;/.test(input)) findings.push(violation(r.urn, `${where}: the input chain does not drop by default`));
        }
    }
    return findings;
}
