/** The config-mutations' shapes and how they change a config: a value set, or one taken from the config. */
import type { KeyPath } from "../../config";

export const secretMarker = "S3CRET";

/** A config as its keys' values, without the `limen:` prefix (the raw map is built from it). */
export type Structured = Record<string, unknown>;

/** An absolute URL a mutation put into an env value, in parts, so the judge can tell where it points. */
export interface GeneratedUrl {
    map: "extraEnv" | "envProductionSecrets";
    key: string;
    value: string;
    /** The host as written in the URL (any spelling). */
    host: string;
    /** The port as written, "" for none. */
    port: string;
    scheme: string;
}

export interface Mutation {
    /** What it does, for the counterexample report. */
    label: string;
    /** The keys it changes (any key below one of these counts as touched too). */
    touches: KeyPath[];
    /**
     * Applies the change to `config`; a value taken from the config (the current value, another
     * key's address) is read from `base`, so the change writes the same value alone and with others.
     */
    apply: (config: Structured, base: Structured) => Structured;
    /** Top-level keys it sets with --secret. */
    secret?: string[];
    /** Secret keys it leaves in plain text (set without --secret). */
    plainText?: string[];
    url?: GeneratedUrl;
}

export const clone = <T>(value: T): T => structuredClone(value);

/** Sets (or, with undefined, deletes) the value at `path`, creating maps and lists on the way. */
export function setIn(config: Structured, path: KeyPath, value: unknown): Structured {
    const next = clone(config);
    let node: Record<string | number, unknown> = next;
    for (let i = 0; i < path.length - 1; i++) {
        const segment = path[i]!;
        const child = node[segment];
        if (typeof child !== "object" || child === null) node[segment] = typeof path[i + 1] === "number" ? [] : {};
        node = node[segment] as Record<string | number, unknown>;
    }
    const last = path.at(-1)!;
    if (value === undefined) {
        if (Array.isArray(node) && typeof last === "number") node.splice(last, 1);
        else delete node[last];
    } else {
        node[last] = value;
    }
    return next;
}

export function getIn(config: Structured, path: KeyPath): unknown {
    let node: unknown = config;
    for (const segment of path) {
        if (typeof node !== "object" || node === null) return undefined;
        node = (node as Record<string | number, unknown>)[segment];
    }
    return node;
}

export const set = (label: string, path: KeyPath, value: unknown, extra: Partial<Mutation> = {}): Mutation => ({
    label: `${label}: ${path.join(".")} = ${JSON.stringify(value)}`,
    touches: [path],
    apply: (config) => setIn(config, path, value),
    ...extra,
});

/** A change whose value comes from the valid config it starts from (the current value, another key's). */
export const setFrom = (label: string, path: KeyPath, value: (base: Structured) => unknown, touches: KeyPath[] = [path]): Mutation => ({
    label: `${label}: ${path.join(".")}`,
    touches,
    apply: (config, base) => setIn(config, path, value(base)),
});
