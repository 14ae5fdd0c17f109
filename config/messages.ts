/**
 * The words of a refusal. Every line names the keys it is about and says the rule; a line about a
 * secret key, a key Pulumi holds as secret, or an unknown key (a misspelled secret is still a secret)
 * never shows its value.
 */
import { z } from "zod";
import { configNamespace } from "./schema";
import { fieldNames, isKnownPath, KeyPath, mayBeLeftOut, ruleAt, valueAt } from "./view";

/**
 * What the parse gives zod as its message for issues a field raises without words of its own, so
 * they can be told from the words a field's check carries (zod prefers a check's own message).
 */
export const noWordsOfItsOwn = "\u0000no words of its own\u0000";

/**
 * A key's name as an operator writes it: `limen:backend.publicApiPorts[0]`, `limen:apps.extraEnv.API_URL`.
 * A top-level key is written as Pulumi keeps it (`limen:ssh.port` set without --path is one key of that
 * name); a field name that is not a plain word is quoted, as `--path` reads it (`extraEnv["A B"]`).
 */
export function keyName(path: KeyPath): string {
    const segments = path.map((segment, index) => {
        if (typeof segment === "number") return `[${segment}]`;
        if (index === 0) return segment;
        return /^[A-Za-z0-9_-]+$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
    });
    return `${configNamespace}:${segments.join("")}`;
}

/** The command that sets one key, as an operator types it (`--path` whenever the key has a dot or index). */
export function setCommand(path: KeyPath, value: string, secret: boolean): string {
    const pathFlag = path.length > 1 ? " --path" : "";
    return `pulumi config set${secret ? " --secret" : ""}${pathFlag} '${keyName(path)}' ${value}`;
}

const longestShown = 80;

/** A value as a line shows it: JSON, cut short. */
export function shownValue(value: unknown): string {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > longestShown ? `${text.slice(0, longestShown - 1)}…` : text;
}

/** The value as one shell word, for a suggested command (a value with spaces or quotes gets quotes). */
function shellWord(value: unknown): string {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return /^[A-Za-z0-9_./:@+,=%-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

const kindOf = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "list" : typeof value === "object" ? "map" : typeof value);

interface Said {
    /** The config the key is read from. */
    input: unknown;
    /** The key the issue is at. */
    path: KeyPath;
    /** The value there, as the operator gave it. */
    value: unknown;
    /** Whether the value is secret (described, never quoted). */
    secret: boolean;
}

/**
 * What the operator gave instead of the expected type, and how to give it right. The usual cause is
 * how the value was set: Pulumi keeps `pulumi config set --path k.port "22 "` or a quoted YAML number
 * as text, and a `pulumi config set --path k.list '[...]'` as one text holding JSON.
 */
function instead(expected: string, { input, path, value, secret }: Said): string {
    const text = typeof value === "string" ? value : undefined;
    const trimmed = text?.trim();
    const quoted = secret ? "" : ` ${shownValue(value)}`;
    if (value === null) return `it is empty (a key with no value): give it one${mayBeLeftOut(input, path) ? ", or remove the line to use the default" : ""}`;
    if (text !== undefined && (expected === "number" || expected === "int")) {
        if (/^-?\d+(\.\d+)?$/.test(trimmed!) && Number.isInteger(Number(trimmed))) {
            return `it is the text${quoted}, not a number: write it without quotes in Pulumi.<stack>.yaml, or set it with \`${setCommand(path, trimmed!, secret)}\``;
        }
        return "it is text, not a number";
    }
    if (typeof value === "number" && expected === "int") return "it is not a whole number";
    if (text !== undefined && expected === "boolean") {
        if (/^(true|false)$/i.test(trimmed!)) {
            return `it is the text${quoted}, not true or false: write it without quotes in Pulumi.<stack>.yaml, or set it with \`${setCommand(path, trimmed!.toLowerCase(), secret)}\``;
        }
        return "it is text";
    }
    if (text !== undefined && (expected === "array" || expected === "object" || expected === "record")) {
        const json = parseJson(trimmed!);
        const list = expected === "array";
        if (list ? Array.isArray(json) : kindOf(json) === "map") {
            const [first, firstValue] = list ? [0, (json as unknown[])[0]] : (Object.entries(json as object)[0] ?? ["<field>", "<value>"]);
            const example = setCommand([...path, first ?? 0], secret ? "<value>" : shellWord(firstValue ?? "<value>"), secret);
            return `it is one text holding JSON, not a ${list ? "list" : "map"} (\`pulumi config set\` stores what it is given as text): set each ${list ? "entry" : "field"} on its own, for instance \`${example}\`, or write the ${list ? "list" : "map"} in Pulumi.<stack>.yaml`;
        }
        if (list) {
            return `it is one text, not a list: write it as a list even for one entry (${secret ? "[<value>]" : `[${trimmed}]`}), or set it with \`${setCommand([...path, 0], secret ? "<value>" : shellWord(trimmed), secret)}\``;
        }
        return `it is text, not a map: write the ${expected === "record" ? "names and values" : "fields"} in Pulumi.<stack>.yaml, or set each with \`pulumi config set --path '${keyName(path)}.<name>' <value>\``;
    }
    return `it is a ${kindOf(value)}`;
}

/** The words for one zod issue at `path`: the field's own words, or its rule and what was given instead. */
export function issueWords(issue: z.core.$ZodIssue, path: KeyPath, input: unknown, secret: boolean): string {
    if (issue.message !== noWordsOfItsOwn) return issue.message;
    const rule = ruleAt(input, path) ?? "does not fit the configuration table in docs/configuration.md";
    const value = valueAt(input, path);
    if (value === undefined) return `is required; it ${rule}`;
    if (issue.code === "invalid_type") return `${rule} (${instead(issue.expected, { input, path, value, secret })})`;
    return rule;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diagonal = row[0]!;
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const above = row[j]!;
            row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return row[b.length]!;
}

/** The known field `name` was most likely meant to be, if any is close. */
export function closestField(name: string, known: string[]): string | undefined {
    const lower = name.toLowerCase();
    const exact = known.find((field) => field.toLowerCase() === lower);
    if (exact) return exact;
    const scored = known.map((field) => [field, distance(lower, field.toLowerCase())] as const).sort((a, b) => a[1] - b[1]);
    const [best, score] = scored[0] ?? [];
    return best !== undefined && score !== undefined && score <= Math.max(1, Math.floor(name.length / 4)) ? best : undefined;
}

/** A Pulumi key written as a path (`ssh.port`, `apps.extraEnv.API_URL`, `ssh.adminNetworks[0]`), as segments. */
function pathSegments(name: string): KeyPath | undefined {
    const segments: (string | number)[] = [];
    for (const match of name.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) segments.push(match[2] !== undefined ? Number(match[2]) : match[1]!);
    return segments.length > 1 ? segments : undefined;
}

const unknownKeysRule = "unknown keys are errors, not ignored; every key is in the configuration table in docs/configuration.md";

/**
 * The words for a key the schema does not have: the key it most likely meant, and for a top-level
 * `limen:ssh.port` the cause, a `pulumi config set` without `--path`, with the command that sets it.
 */
export function unknownKeyWords(input: unknown, path: KeyPath, isSecretKey: (top: string) => boolean): string {
    const name = path.at(-1);
    if (typeof name !== "string") return `is not a key: ${unknownKeysRule}`;
    const dotted = path.length === 1 ? pathSegments(name) : undefined;
    if (dotted && fieldNames(input, []).includes(String(dotted[0]))) {
        const secret = isSecretKey(String(dotted[0]));
        const meant = isKnownPath(dotted) ? dotted : undefined;
        const fix = meant
            ? `remove it with \`pulumi config rm '${keyName(path)}'\` and set it with \`${setCommand(meant, "<value>", secret)}\``
            : `remove it with \`pulumi config rm '${keyName(path)}'\`; ${keyName([dotted[0]!])} has no key ${keyName(dotted)} (see the configuration table in docs/configuration.md)`;
        return `unknown key, set without --path: Pulumi keeps "${name}" as one key of that name, which this program never reads; ${fix}`;
    }
    const meant = closestField(name, fieldNames(input, path.slice(0, -1)));
    return meant ? `unknown key: did you mean ${keyName([...path.slice(0, -1), meant])}? (${unknownKeysRule})` : `unknown key: ${unknownKeysRule}`;
}
