/**
 * Loading the config: Pulumi's strings → decoded values → every field's own rules and every
 * cross-key rule, all of them on every run → either the typed config or one ConfigError listing every
 * problem. Nothing of a secret's value reaches a message: secret and unknown keys are described,
 * never shown, and a last pass blanks any secret text a message might still quote.
 */
import { z } from "zod";
import { closestField, issueWords, keyName, noWordsOfItsOwn, shownValue, unknownKeyWords } from "./messages";
import { crossKeyRules } from "./rules";
import { configNamespace, configSchema, RawConfig, secretKeys } from "./schema";
import { derivedDefaults, isKnownPath, isStructuredKey, KeyPath, valueAt, ConfigView } from "./view";

export interface LimenConfig {
    ssh: RawConfig["ssh"];
    sshPrivateKey: string;
    frontend: Required<RawConfig["frontend"]>;
    backend: Required<RawConfig["backend"]>;
    envoy: RawConfig["envoy"];
    tls: RawConfig["tls"];
    tlsPrivateKey: string | undefined;
    domains: RawConfig["domains"];
    apps: RawConfig["apps"];
    verify: RawConfig["verify"];
    envProductionSecrets: Record<string, string>;
}

/** One problem: the keys it is about, the rule in words, and which keys decided it. */
export interface ConfigProblem {
    keys: KeyPath[];
    /** The rule, in words. */
    message: string;
    /** "field" for a key's own rule, "unknown key", "secret in plain text", or the cross-key rule's name. */
    rule: string;
    /** Every key the verdict depends on: another value of any of these may change it. */
    reads: KeyPath[];
    /** The line as printed: `limen:<key> = <value>[ and …]: <rule>`. */
    text: string;
}

export class ConfigError extends Error {
    /** The printed lines, one per problem. */
    readonly problems: string[];

    constructor(readonly details: ConfigProblem[]) {
        const problems = details.map((problem) => problem.text);
        super(`${configNamespace}: ${problems.length} configuration problem(s); nothing was deployed:\n${problems.map((p) => `  ✖ ${p}`).join("\n")}`);
        this.name = "ConfigError";
        this.problems = problems;
    }
}

export interface ParseOptions {
    /**
     * Whether Pulumi holds a key's value as plain text although it may look like JSON. `pulumi config
     * --json` says so (no objectValue); a running program cannot tell (Pulumi refuses such a key before
     * the program runs, as a value of the wrong type).
     */
    storedAsText?: (fullKey: string) => boolean;
}

const isDeclaredSecret = (fullKey: string) => (secretKeys as readonly string[]).includes(fullKey.slice(configNamespace.length + 1));

/**
 * Parses the stack's raw config (`limen:<key>` → string, as Pulumi hands it over) into typed values.
 * Throws ConfigError with every problem at once; secret values never appear in its text.
 * `isSecret` says which keys Pulumi holds as secrets (their values are never shown either).
 */
export function parseConfig(raw: Record<string, string>, isSecret: (fullKey: string) => boolean = isDeclaredSecret, options: ParseOptions = {}): LimenConfig {
    const input: Record<string, unknown> = {};
    for (const [fullKey, text] of Object.entries(raw)) {
        const [namespace, key] = splitKey(fullKey);
        if (namespace !== configNamespace) continue;
        input[key] = isStructuredKey(key) && !options.storedAsText?.(fullKey) ? decodeJson(text) : text;
    }
    const known = (top: string) => Object.hasOwn(configSchema.shape, top);
    const hidden = (top: string) => (secretKeys as readonly string[]).includes(top) || isSecret(`${configNamespace}:${top}`) || !known(top);

    const found: Omit<ConfigProblem, "text">[] = [];
    // Pulumi enforces `secret: true` only for keys without a default, so the optional secret keys
    // are checked here: a plaintext value would sit unencrypted in Pulumi.<stack>.yaml.
    for (const key of secretKeys) {
        const fullKey = `${configNamespace}:${key}`;
        const value = raw[fullKey];
        if (value !== undefined && value !== "" && value !== "{}" && !isSecret(fullKey)) {
            found.push({
                keys: [[key]],
                message: `is stored in plain text; set it again with \`pulumi config set --secret ${fullKey}\``,
                rule: "secret in plain text",
                reads: [[key]],
            });
        }
    }
    for (const key of Object.keys(input).filter((key) => !known(key))) {
        found.push({ keys: [[key]], message: unknownKeyWords(input, [key], hidden), rule: "unknown key", reads: [[key]] });
    }

    const output: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(configSchema.shape) as [string, z.ZodType][]) {
        const result = schema.safeParse(input[key], { error: () => noWordsOfItsOwn });
        if (result.success) output[key] = result.data;
        else found.push(...fieldProblems(key, result.error.issues, input, hidden(key)));
    }

    const view = new ConfigView(input, hidden);
    for (const rule of crossKeyRules) {
        for (const finding of rule.check(view)) found.push({ ...finding, rule: rule.name, reads: rule.reads });
    }

    if (found.length > 0) {
        // Secrets in plain text first, then unknown top-level keys, then every problem by its first key's section.
        const order = (problem: Omit<ConfigProblem, "text">) => {
            const top = String(problem.keys[0]?.[0]);
            return problem.rule === "secret in plain text" ? -2 : known(top) ? Object.keys(configSchema.shape).indexOf(top) : -1;
        };
        const sorted = found.map((problem, index) => ({ problem, index })).sort((a, b) => order(a.problem) - order(b.problem) || a.index - b.index);
        const blank = secretBlanker(raw, input);
        throw new ConfigError(sorted.map(({ problem }) => ({ ...problem, text: blank(renderLine(problem, input, hidden)) })));
    }
    return withDefaults(output as RawConfig);
}

/** One problem per key a field's issues are about (the first issue at a key says enough). */
function fieldProblems(key: string, issues: z.core.$ZodIssue[], input: Record<string, unknown>, secret: boolean): Omit<ConfigProblem, "text">[] {
    const problems = new Map<string, Omit<ConfigProblem, "text">>();
    const add = (path: KeyPath, message: string, rule = "field") => {
        const name = keyName(path);
        // The TLS fields' rules depend on the source; a key's other rules depend on nothing else.
        const reads = path[0] === "tls" ? [path, ["tls", "source"]] : [path];
        if (!problems.has(name)) problems.set(name, { keys: [path], message, rule, reads });
    };
    for (const issue of issues) {
        const path: KeyPath = [key, ...(issue.path as (string | number)[])];
        if (issue.code === "unrecognized_keys") {
            for (const unknown of issue.keys)
                add(
                    [...path, unknown],
                    unknownKeyWords(input, [...path, unknown], () => secret),
                    "unknown key",
                );
        } else if (issue.code === "invalid_key") {
            const inner = issue.issues[0];
            const words = inner && inner.message !== noWordsOfItsOwn ? inner.message : "environment variable names are upper case letters, digits and underscores";
            // A secret map's malformed name may be a pasted value: the map is named, not the name.
            if (secret && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(path.at(-1)))) add(path.slice(0, -1), `one of its names is not an environment variable name: ${words}`);
            else add(path, words);
        } else if (issue.code === "invalid_union") {
            add(path, issueWordsForUnion(issue, path, input, secret));
        } else {
            add(path, issueWords(issue, path, input, secret));
        }
    }
    return [...problems.values()];
}

/** A discriminated union (limen:tls) refuses at its discriminator; its words are the union's rule. */
function issueWordsForUnion(issue: z.core.$ZodIssue, path: KeyPath, input: unknown, secret: boolean): string {
    const unionPath = path.slice(0, -1);
    const words = issueWords({ ...issue, code: "invalid_value", values: [], message: noWordsOfItsOwn } as z.core.$ZodIssue, unionPath, input, secret);
    const given = valueAt(input, path);
    return given === undefined ? `is required; it ${words.replace(/^is required; it /, "")}` : words;
}

function renderLine(problem: Omit<ConfigProblem, "text">, input: Record<string, unknown>, hidden: (top: string) => boolean): string {
    const named = problem.keys.map((path) => {
        const name = keyName(path);
        const top = String(path[0]);
        if (problem.rule === "unknown key" || !isKnownPath(path)) return name;
        if (hidden(top)) return `${name} (secret)`;
        const value = valueAt(input, path);
        return value === undefined ? name : `${name} = ${shownValue(value)}`;
    });
    const keys = named.length <= 2 ? named.join(" and ") : `${named.slice(0, -1).join(", ")} and ${named.at(-1)}`;
    return `${keys}: ${problem.message}`;
}

/**
 * Blanks any text of a secret key (or of a misspelled one) that a line quotes. The lines are built
 * never to quote them; this is the second lock, for key material and tokens, long enough to tell
 * from the words around them. (Values of other keys Pulumi holds as secret are only ever described:
 * blanking them here could blank the same text in a rule's example, such as darc.kr.)
 */
function secretBlanker(raw: Record<string, string>, input: Record<string, unknown>): (line: string) => string {
    const texts = new Set<string>();
    const collect = (value: unknown): void => {
        if (typeof value === "string") texts.add(value);
        else if (value && typeof value === "object") Object.values(value).forEach(collect);
    };
    const secretLike = (top: string) =>
        (secretKeys as readonly string[]).includes(top) || (!Object.hasOwn(configSchema.shape, top) && closestField(top, [...secretKeys]) !== undefined);
    for (const [top, value] of Object.entries(input)) {
        if (!secretLike(top)) continue;
        collect(value);
        collect(raw[`${configNamespace}:${top}`]);
    }
    const secrets = [...texts].filter((text) => text.trim().length >= 8).sort((a, b) => b.length - a.length);
    return (line) => secrets.reduce((text, secret) => text.split(secret).join("[secret]"), line);
}

function splitKey(fullKey: string): [string, string] {
    const colon = fullKey.indexOf(":");
    return colon < 0 ? ["", fullKey] : [fullKey.slice(0, colon), fullKey.slice(colon + 1)];
}

/** Pulumi hands maps and lists over as JSON text; text that is not JSON stays text (and is refused as such). */
function decodeJson(text: string): unknown {
    const trimmed = text.trim();
    if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return text;
    try {
        return JSON.parse(trimmed);
    } catch {
        return text;
    }
}

/** The keys whose defaults are other keys (config/view.ts derivedDefaults), filled in. */
function withDefaults(parsed: RawConfig): LimenConfig {
    const config = { ...parsed, frontend: { ...parsed.frontend }, backend: { ...parsed.backend } } as unknown as Record<string, Record<string, unknown>>;
    for (const { key, from, asList } of derivedDefaults) {
        const [section, field] = key as [string, string];
        const [fromSection, fromField] = from as [string, string];
        const source = config[fromSection]![fromField];
        if (config[section]![field] === undefined) config[section]![field] = asList ? [source] : source;
    }
    return config as unknown as LimenConfig;
}
