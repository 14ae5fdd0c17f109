/**
 * The hash the plan gives every content it carries (a file, the firewall's ruleset and boot unit, the
 * host tool, Envoy's bootstrap): the providers, verify and the container's label compare it.
 */
import { createHash } from "node:crypto";

export function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}
