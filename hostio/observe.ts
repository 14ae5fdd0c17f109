/**
 * What is really on a host, per artifact the stack owns, read the same way for every kind: read-only
 * commands that look, and pure parsers that turn their output into "facts" worded the way the plan
 * states them. The resources' providers report these facts on `pulumi refresh`, and `npm run verify`
 * compares the same facts with the plan, so a drift reads the same in both: `mode: "0644" => "0600"`.
 * The probes per kind are in observe-file.ts, observe-firewall.ts and observe-pm2.ts (certificates.ts
 * for served certificates); this holds what they share: the marked sections of a probe's output, and
 * the comparison of facts.
 *
 * Every command only reads, and none asks the host tool (a host whose tool was deleted must still
 * be readable). No Pulumi code.
 */
import { isDeepStrictEqual } from "node:util";

/** The line a probe prints before each section of its output. */
export const probeMarker = (name: string) => `--- limen-probe: ${name} ---`;

/** A probe's output split at its markers, as section name → text. */
export function probeSections(stdout: string): Map<string, string> {
    const parts = new Map<string, string>();
    const pattern = /^--- limen-probe: ([a-z-]+) ---$/gm;
    const found = [...stdout.matchAll(pattern)];
    found.forEach((match, index) => {
        const start = match.index! + match[0].length + 1;
        const end = index + 1 < found.length ? found[index + 1]!.index! : stdout.length;
        parts.set(match[1]!, stdout.slice(start, end).replace(/\n$/, ""));
    });
    return parts;
}

/** Property names whose values differ, in the order of `desired`. */
export function differingFacts(desired: object, observed: object | undefined): string[] {
    const seen = (observed ?? {}) as Record<string, unknown>;
    return Object.entries(desired)
        .filter(([key, value]) => !isDeepStrictEqual(value, seen[key]))
        .map(([key]) => key);
}
