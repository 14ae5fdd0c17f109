/**
 * What is on a host of the firewall the stack owns: the loaded table compared with the rendered
 * ruleset (both listed by the host's own nft), the ruleset loaded at boot and the unit that loads it.
 * Facts as observe.ts describes them.
 */
import { describeReading, FileReading, parseFileReadings, readFiles } from "./file-readings";
import type { ToolScript } from "./host-tool-run";
import { hostToolPath } from "../core/host-paths";
import { diffTables, normaliseTable, parseTableListing, tableListingScript } from "./nft-table";
import { probeMarker, probeSections } from "./observe";
import { shellWord } from "../core/shell";

export interface FirewallFacts {
    table: string;
    /** `loaded as rendered`, `missing`, or the differences (`chain input: rule "…" is not in the stack's ruleset`). */
    live: string;
    /** sha256 of the ruleset loaded at boot; `missing` when there is none. */
    bootRulesetSha256: string;
    /** `systemctl is-enabled` of the boot unit. */
    bootUnit: string;
    /** sha256 of the boot unit's file; `missing` when there is none. */
    bootUnitSha256: string;
}

export const liveAsRendered = "loaded as rendered";

export function desiredFirewallFacts(plan: { table: string; rulesetSha256: string; bootUnitSha256: string }): FirewallFacts {
    return {
        table: plan.table,
        live: liveAsRendered,
        bootRulesetSha256: plan.rulesetSha256,
        bootUnit: "enabled",
        bootUnitSha256: plan.bootUnitSha256,
    };
}

/**
 * One command that lists the loaded table, the rendered ruleset (on stdin) loaded into a throwaway
 * network namespace, and the boot file and unit. Both listings come from the host's own nft, so a
 * difference between nft versions never reads as drift.
 */
export function firewallProbeCommand(paths: { table: string; bootRuleset: string; unitName: string; unitPath: string }): ToolScript {
    const script = [
        `echo '${probeMarker("scratch")}'`,
        `unshare --net sh -c ${shellWord(`nft -f /dev/stdin && ${tableListingScript(paths.table)}`)}`,
        `echo '${probeMarker("live")}'`,
        `{ ${tableListingScript(paths.table)} || echo missing; }`,
        `echo '${probeMarker("unit")}'`,
        `{ systemctl is-enabled ${shellWord(paths.unitName)} 2>/dev/null || true; }`,
        `echo '${probeMarker("files")}'`,
        readFiles(paths.bootRuleset, paths.unitPath),
    ].join("; ");
    return { toolPath: hostToolPath, script };
}

/** A file's sha256 as a firewall fact: `missing`, or what is there instead of the file. */
function hashFact(reading: FileReading): string {
    return reading.kind === "file" && reading.sha256 ? reading.sha256 : describeReading(reading);
}
export function parseFirewallProbe(table: string, stdout: string): FirewallFacts {
    const parts = probeSections(stdout);
    const scratch = parts.get("scratch");
    const live = parts.get("live");
    // The boot ruleset, then the unit file, as the probe asks for them.
    const [bootRuleset, unitFile] = parseFileReadings(parts.get("files") ?? "");
    if (scratch === undefined || live === undefined || !bootRuleset || !unitFile) throw new Error("cannot read the firewall's state: the probe's output is incomplete");
    let liveFact: string;
    if (live.trim() === "missing" || live.trim() === "") liveFact = "missing";
    else {
        const differences = diffTables(normaliseTable(parseTableListing(scratch)), normaliseTable(parseTableListing(live)));
        liveFact = differences.length === 0 ? liveAsRendered : differences.join("; ");
    }
    return {
        table,
        live: liveFact,
        bootRulesetSha256: hashFact(bootRuleset),
        bootUnit: (parts.get("unit") ?? "").trim() || "not installed",
        bootUnitSha256: hashFact(unitFile),
    };
}
