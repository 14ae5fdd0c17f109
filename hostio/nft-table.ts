/**
 * Drift of the stack's nftables table: what a host has loaded against what the stack renders.
 *
 * Both sides are listed by the same `nft` (the host's own, see firewallCommands in checks.ts), once as
 * JSON for the comparison and once as text with handles for the report, so a difference reads the way
 * `nft list` prints it. Handles and counter values are ignored: they differ on every load.
 */
import { firewallTableName } from "../core/host-paths";
const textMarker = "--- limen-verify: nft -a list ---";

/** POSIX sh that prints the table as JSON, a marker line, then as text with handles. */
export function tableListingScript(table: string = firewallTableName): string {
    return `nft -j list table ${table} && echo '${textMarker}' && nft -a list table ${table}`;
}

/** What tableListingScript printed. */
export interface TableListing {
    /** `nft -j list table` output. */
    json: string;
    /** `nft -a list table` output. */
    text: string;
}

export function parseTableListing(stdout: string): TableListing {
    const at = stdout.indexOf(`\n${textMarker}\n`);
    if (at < 0) throw new Error("the nft listing is incomplete (no text part after the JSON)");
    return { json: stdout.slice(0, at), text: stdout.slice(at + textMarker.length + 2) };
}

interface RuleEntry {
    /** Identity for the comparison: the rule's expressions without handles and counter values. */
    key: string;
    /** The rule as `nft list` prints it, counters zeroed out. */
    text: string;
}

interface Definition {
    /** Everything but the name, contents and handle, e.g. `type ipv4_addr flags interval`. */
    head: string;
}

/** A table reduced to what a deployment decides: definitions, set elements, rule order. */
export interface NormalisedTable {
    sets: Map<string, Definition & { elements: string[] }>;
    chains: Map<string, Definition & { rules: RuleEntry[] }>;
    /** Any other object kind (named counters, quotas, flowtables...), as `kind name` → definition. */
    others: Map<string, string>;
}

/** Sorted keys, so two equal objects give equal text whatever order nft printed them in. */
function stableJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
    if (value && typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value) ?? "null";
}

/** Drops what changes without anyone changing the rules: handles, counter values, timeouts ticking down. */
function withoutRuntimeState(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(withoutRuntimeState);
    if (!value || typeof value !== "object") return value;
    const object = value as Record<string, unknown>;
    const counts = "packets" in object && "bytes" in object;
    return Object.fromEntries(
        Object.entries(object)
            .filter(([key]) => key !== "handle" && key !== "expires" && !(counts && (key === "packets" || key === "bytes")) && key !== "used")
            .map(([key, v]) => [key, withoutRuntimeState(v)]),
    );
}

/** One set element as nft writes it: `192.0.2.0/24`, `1000-2000`, `18443`. */
function describeElement(element: unknown): string {
    if (typeof element === "string" || typeof element === "number") return String(element);
    if (Array.isArray(element)) return element.map(describeElement).join(" : ");
    if (element && typeof element === "object") {
        const object = element as Record<string, unknown>;
        const prefix = object.prefix as { addr?: unknown; len?: unknown } | undefined;
        if (prefix && "addr" in prefix) return `${String(prefix.addr)}/${String(prefix.len)}`;
        if (Array.isArray(object.range)) return object.range.map(describeElement).join("-");
        if (Array.isArray(object.concat)) return object.concat.map(describeElement).join(" . ");
        if (object.elem && typeof object.elem === "object") {
            const { val, ...rest } = object.elem as Record<string, unknown>;
            return Object.keys(rest).length === 0 ? describeElement(val) : `${describeElement(val)} ${stableJson(rest)}`;
        }
    }
    return stableJson(element);
}

function describeHead(object: Record<string, unknown>, omit: string[]): string {
    return Object.entries(object)
        .filter(([key]) => !omit.includes(key))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, value]) => `${key} ${Array.isArray(value) ? value.join(",") : typeof value === "object" ? stableJson(value) : String(value)}`)
        .join(" ");
}

/** `chain → handle → rule text` from `nft -a list table`. */
export function ruleTexts(text: string): Map<string, Map<number, string>> {
    const chains = new Map<string, Map<number, string>>();
    let chain: Map<number, string> | undefined;
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        const chainStart = /^chain (\S+) \{/.exec(line);
        if (chainStart) {
            chain = new Map();
            chains.set(chainStart[1]!, chain);
            continue;
        }
        // A closing brace on its own line ends the chain (or a set, which is outside any chain).
        if (line === "}") {
            chain = undefined;
            continue;
        }
        const rule = /^(.*?)\s+# handle (\d+)$/.exec(line);
        if (chain && rule) chain.set(Number(rule[2]), rule[1]!.replace(/counter packets \d+ bytes \d+/g, "counter"));
    }
    return chains;
}

/** Parses a TableListing into what the comparison looks at. */
export function normaliseTable(listing: TableListing): NormalisedTable {
    const document = JSON.parse(listing.json) as { nftables?: Record<string, Record<string, unknown>>[] };
    if (!Array.isArray(document.nftables)) throw new Error("nft -j printed no `nftables` array");
    const texts = ruleTexts(listing.text);
    const table: NormalisedTable = { sets: new Map(), chains: new Map(), others: new Map() };
    const rules: Record<string, unknown>[] = [];
    for (const entry of document.nftables) {
        const [kind, body] = Object.entries(entry)[0] ?? [];
        if (!kind || !body || kind === "metainfo" || kind === "table") continue;
        if (kind === "rule") {
            rules.push(body);
            continue;
        }
        const clean = withoutRuntimeState(body) as Record<string, unknown>;
        const name = String(clean.name);
        if (kind === "set" || kind === "map") {
            const elements = (Array.isArray(clean.elem) ? clean.elem : []).map(describeElement).sort();
            table.sets.set(kind === "map" ? `map ${name}` : name, { head: describeHead(clean, ["family", "table", "name", "elem"]), elements });
        } else if (kind === "chain") {
            table.chains.set(name, { head: describeHead(clean, ["family", "table", "name"]), rules: [] });
        } else {
            table.others.set(`${kind} ${name}`, describeHead(clean, ["family", "table", "name"]));
        }
    }
    for (const rule of rules) {
        const chainName = String(rule.chain);
        const chain = table.chains.get(chainName) ?? { head: "(not listed)", rules: [] };
        table.chains.set(chainName, chain);
        const key = stableJson(withoutRuntimeState({ expr: rule.expr, comment: rule.comment }));
        const text = texts.get(chainName)?.get(Number(rule.handle)) ?? key;
        chain.rules.push({ key, text });
    }
    return table;
}

/** Positions of the longest common subsequence of two key lists (rule order matters in a chain). */
function commonSubsequence(a: string[], b: string[]): [Set<number>, Set<number>] {
    const lengths = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) {
        for (let j = b.length - 1; j >= 0; j--) {
            lengths[i]![j] = a[i] === b[j] ? lengths[i + 1]![j + 1]! + 1 : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
        }
    }
    const inA = new Set<number>();
    const inB = new Set<number>();
    for (let i = 0, j = 0; i < a.length && j < b.length;) {
        if (a[i] === b[j]) {
            inA.add(i++);
            inB.add(j++);
        } else if (lengths[i + 1]![j]! >= lengths[i]![j + 1]!) i++;
        else j++;
    }
    return [inA, inB];
}

const sortedUnion = (a: Iterable<string>, b: Iterable<string>) => [...new Set([...a, ...b])].sort();

/**
 * What differs between the table a host has loaded (`live`) and the one the stack renders
 * (`expected`), one line per difference, worded from the host's side; empty when they are equal.
 */
export function diffTables(expected: NormalisedTable, live: NormalisedTable): string[] {
    const differences: string[] = [];
    for (const name of sortedUnion(expected.sets.keys(), live.sets.keys())) {
        const want = expected.sets.get(name);
        const have = live.sets.get(name);
        if (!have) differences.push(`set ${name} is missing`);
        else if (!want) differences.push(`set ${name} is not in the stack's ruleset`);
        else {
            if (want.head !== have.head) differences.push(`set ${name} is declared "${have.head}", the stack says "${want.head}"`);
            const missing = want.elements.filter((e) => !have.elements.includes(e));
            const extra = have.elements.filter((e) => !want.elements.includes(e));
            if (missing.length > 0) differences.push(`set ${name} lacks ${missing.join(", ")}`);
            if (extra.length > 0) differences.push(`set ${name} has ${extra.join(", ")}, which the stack does not`);
        }
    }
    for (const name of sortedUnion(expected.chains.keys(), live.chains.keys())) {
        const want = expected.chains.get(name);
        const have = live.chains.get(name);
        if (!have) differences.push(`chain ${name} is missing`);
        else if (!want) differences.push(`chain ${name} is not in the stack's ruleset (${have.rules.length} rule(s))`);
        else {
            if (want.head !== have.head) differences.push(`chain ${name} is "${have.head}", the stack says "${want.head}"`);
            const [keptWant, keptHave] = commonSubsequence(
                want.rules.map((r) => r.key),
                have.rules.map((r) => r.key),
            );
            const missing = want.rules.filter((_, i) => !keptWant.has(i));
            const extra = have.rules.filter((_, i) => !keptHave.has(i));
            const moved = new Set(missing.filter((m) => extra.some((e) => e.key === m.key)).map((m) => m.key));
            for (const rule of missing) {
                differences.push(moved.has(rule.key) ? `chain ${name}: rule "${rule.text}" is out of order` : `chain ${name}: rule "${rule.text}" is missing`);
            }
            for (const rule of extra.filter((e) => !moved.has(e.key))) differences.push(`chain ${name}: rule "${rule.text}" is not in the stack's ruleset`);
        }
    }
    for (const name of sortedUnion(expected.others.keys(), live.others.keys())) {
        const want = expected.others.get(name);
        const have = live.others.get(name);
        if (have === undefined) differences.push(`${name} is missing`);
        else if (want === undefined) differences.push(`${name} is not in the stack's ruleset`);
        else if (want !== have) differences.push(`${name} is "${have}", the stack says "${want}"`);
    }
    return differences;
}

/** "5 sets, 2 chains, 17 rules", for a passing check. */
export function describeTable(table: NormalisedTable): string {
    const rules = [...table.chains.values()].reduce((sum, chain) => sum + chain.rules.length, 0);
    return `${table.sets.size} sets, ${table.chains.size} chains, ${rules} rules`;
}
