/**
 * The shape every cross-key rule has, apart from the rules themselves, so that the files holding
 * rules (port-rules.ts, network-rules.ts, app-rules.ts, tls-rules.ts, path-rules.ts, and rules.ts, which
 * lists them all) import it without importing each other.
 */
import type { ConfigView, KeyPath } from "./view";

export interface RuleFinding {
    /** The keys the finding is about, in the order the message names them. */
    keys: KeyPath[];
    message: string;
}

export interface CrossKeyRule {
    /** What the rule keeps, in a few words (tests and the property test group findings by it). */
    name: string;
    /** Every key the verdict depends on, including the keys their defaults come from. */
    reads: KeyPath[];
    check(view: ConfigView): RuleFinding[];
}
