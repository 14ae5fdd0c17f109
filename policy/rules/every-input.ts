/** What the policies read in every input of every resource: assignments of the forbidden keys. */
import { forbiddenEnvKeys } from "../../render/env-file";
import { ResourceView, stringsIn } from "../values";
import { describe, Finding, skipped, violation } from "./findings";
import { inputsOf } from "./resources";

const forbiddenKeys = forbiddenEnvKeys.map((key) => key.toUpperCase());
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** An assignment of a forbidden key: `KEY=`, `KEY:` (YAML), `"KEY":` (JSON), `-e KEY=…`, `export KEY=…`. */
const forbiddenAssignment = new RegExp(`(?<![A-Za-z0-9_])(?:${forbiddenEnvKeys.map(escape).join("|")})["']?\\s*[=:]`, "i");

/**
 * Nothing anywhere sets NEXT_PUBLIC_BACKEND_URL (seed: the browser uses the relative path /api; a
 * NEXT_PUBLIC_ value is inlined into the client bundle). Every string input of the resource is read,
 * a file's content included, whatever the resource is; comment lines (`#`, `//`) are not assignments.
 */
export function forbiddenEnvKeyFindings(r: ResourceView): Finding[] {
    const { keys, strings, unknowns } = stringsIn(inputsOf(r));
    const findings: Finding[] = [];
    for (const { path: where, key } of keys) {
        if (forbiddenKeys.includes(key.toUpperCase()))
            findings.push(violation(r.urn, `${describe(r)}: ${where} sets ${key} (seed: NEXT_PUBLIC_BACKEND_URL is never set; the browser calls the relative /api)`));
    }
    for (const { path: where, text } of strings) {
        text.split(/\r?\n/).forEach((line, index) => {
            if (/^\s*(#|\/\/)/.test(line) || !forbiddenAssignment.test(line)) return;
            findings.push(
                violation(r.urn, `${describe(r)}: ${where}, line ${index + 1}, assigns NEXT_PUBLIC_BACKEND_URL (seed: it is never set; the browser calls the relative /api)`),
            );
        });
    }
    if (unknowns.length > 0) {
        findings.push(skipped(r.urn, `${describe(r)}: ${unknowns.map((u) => u.path).join(", ")} unknown during preview, not scanned for NEXT_PUBLIC_BACKEND_URL`));
    }
    return findings;
}
