/**
 * Reading the config one key at a time: where a key's schema is, what words its rule has, and the
 * checked value of any single key even when others are broken.
 *
 * The cross-key rules (./rules.ts) read through ConfigView, so each rule runs whenever the keys it
 * reads are fine, whatever else is wrong: one run reports every problem, not the first key's.
 */
import { z } from "zod";
import { configSchema, ruleWords } from "./schema";

/** A key below `limen:`, as segments: ["backend", "publicApiPorts", 0]. */
export type KeyPath = readonly (string | number)[];

interface Def {
    type: string;
    innerType?: z.ZodType;
    in?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    element?: z.ZodType;
    valueType?: z.ZodType;
    keyType?: z.ZodType;
    options?: z.ZodType[];
    discriminator?: string;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The schema and the wrappers around it (default, optional, a transform's input), outermost first. */
function layers(schema: z.ZodType): z.ZodType[] {
    const chain = [schema];
    for (let def = defOf(schema); ; def = defOf(chain.at(-1)!)) {
        const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
        if (!inner) return chain;
        chain.push(inner);
    }
}

/** The schema that holds a value's shape: the innermost layer. */
function core(schema: z.ZodType): Def {
    return defOf(layers(schema).at(-1)!);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The option of a discriminated union the container's discriminator picks, if any. */
function unionOption(def: Def, container: unknown): Def | undefined {
    if (!def.discriminator || !isPlainObject(container)) return undefined;
    const wanted = container[def.discriminator];
    return def.options?.map(defOf).find((option) => {
        const literal = option.shape?.[def.discriminator!];
        return literal !== undefined && (defOf(literal) as unknown as { values: unknown[] }).values?.includes(wanted);
    });
}

/**
 * The schema one step below `schema` (a field, a list element, a map value), given the value that
 * step reads from; undefined when there is no such key.
 */
function childSchema(schema: z.ZodType, segment: string | number, container: unknown): z.ZodType | undefined {
    const def = core(schema);
    switch (def.type) {
        case "object":
            return typeof segment === "string" && def.shape && Object.hasOwn(def.shape, segment) ? def.shape[segment] : undefined;
        case "union":
            return typeof segment === "string" ? unionOption(def, container)?.shape?.[segment] : undefined;
        case "array":
            return typeof segment === "number" ? def.element : undefined;
        case "record":
            return typeof segment === "string" ? def.valueType : undefined;
        default:
            return undefined;
    }
}

/** Whether a value can hold the keys a schema describes (an object for a map, an array for a list). */
function fitsContainer(schema: z.ZodType, value: unknown): boolean {
    const type = core(schema).type;
    return type === "array" ? Array.isArray(value) : type === "object" || type === "union" || type === "record" ? isPlainObject(value) : false;
}

/** The value at `path` in a decoded config, or undefined. */
export function valueAt(input: unknown, path: KeyPath): unknown {
    let node = input;
    for (const segment of path) {
        if (typeof node !== "object" || node === null) return undefined;
        node = (node as Record<string | number, unknown>)[segment];
    }
    return node;
}

/** The schema of the key at `path`, read against the config `input` (the TLS source picks its fields). */
export function schemaAt(input: unknown, path: KeyPath): z.ZodType | undefined {
    let schema: z.ZodType | undefined = configSchema;
    for (let i = 0; i < path.length && schema; i++) schema = childSchema(schema, path[i]!, valueAt(input, path.slice(0, i)));
    return schema;
}

/** The words registered for the rule of the key at `path` (config/schema/fields.ts). */
export function ruleAt(input: unknown, path: KeyPath): string | undefined {
    const schema = schemaAt(input, path);
    if (!schema) return undefined;
    for (const layer of layers(schema)) {
        const rule = ruleWords.get(layer)?.rule;
        if (rule) return rule;
    }
    return undefined;
}

/** Whether the key at `path` may be left out (it has a default, or is optional). */
export function mayBeLeftOut(input: unknown, path: KeyPath): boolean {
    const schema = schemaAt(input, path);
    return schema !== undefined && layers(schema).some((layer) => ["default", "prefault", "optional"].includes(defOf(layer).type));
}

/** Whether a top-level key holds a map or a list (Pulumi hands those over as JSON text). */
export function isStructuredKey(key: string): boolean {
    const schema = configSchema.shape[key as keyof typeof configSchema.shape] as z.ZodType | undefined;
    return schema !== undefined && ["object", "union", "array", "record"].includes(core(schema).type);
}

/** The field names a key may have at `path` (for "did you mean"), or [] when it holds no fields. */
export function fieldNames(input: unknown, path: KeyPath): string[] {
    const schema = path.length === 0 ? configSchema : schemaAt(input, path);
    if (!schema) return [];
    const def = core(schema);
    if (def.type === "object") return Object.keys(def.shape ?? {});
    if (def.type === "union") {
        const option = unionOption(def, valueAt(input, path));
        return [...new Set((option ? [option] : (def.options ?? []).map(defOf)).flatMap((o) => Object.keys(o.shape ?? {})))];
    }
    return [];
}

/** Whether `path` names a key of the schema whatever the values (for a key typed without --path). */
export function isKnownPath(path: KeyPath): boolean {
    let schemas: z.ZodType[] = [configSchema];
    for (const segment of path) {
        schemas = schemas.flatMap((schema) => {
            const def = core(schema);
            if (def.type === "union") return (def.options ?? []).map((option) => childSchema(option, segment, undefined)).filter((s): s is z.ZodType => s !== undefined);
            const child = childSchema(schema, segment, undefined);
            return child ? [child] : [];
        });
        if (schemas.length === 0) return false;
    }
    return true;
}

/**
 * Defaults that come from another key, in the order they resolve: the plan and the rules both read
 * them from here, so "internalClients defaults to the frontend's addresses" is written once.
 */
export const derivedDefaults: readonly { key: KeyPath; from: KeyPath; asList?: true }[] = [
    { key: ["frontend", "internalAddresses"], from: ["frontend", "address"], asList: true },
    { key: ["backend", "internalAddress"], from: ["backend", "address"] },
    { key: ["backend", "agentAddress"], from: ["backend", "internalAddress"] },
    { key: ["backend", "internalClients"], from: ["frontend", "internalAddresses"] },
];

const samePath = (a: KeyPath, b: KeyPath) => a.length === b.length && a.every((segment, i) => segment === b[i]);

/**
 * The checked value of single keys of a config whose other keys may be broken. A key reads as
 * undefined when its own value is refused, when a map or list above it has the wrong type, or when
 * the key it defaults to reads as undefined; a key left out reads as its default.
 */
export class ConfigView {
    /**
     * `isSecret` says which top-level keys' values must never be quoted (secret, held secret by
     * Pulumi, or unknown): a rule describes those values instead.
     */
    constructor(
        private readonly input: Record<string, unknown>,
        readonly isSecret: (top: string) => boolean = () => false,
    ) {}

    /** The checked value at `path`, defaults applied; undefined when it cannot be read. */
    get<T>(path: KeyPath): T | undefined {
        const read = this.read(path);
        if (!read.ok) return undefined;
        if (read.value !== undefined) return read.value as T;
        const derived = derivedDefaults.find((d) => samePath(d.key, path));
        if (!derived) return undefined;
        const from = this.get<unknown>(derived.from);
        return (from === undefined ? undefined : derived.asList ? [from] : from) as T | undefined;
    }

    /** Whether the key's value is fine on its own, or left out (it reads as its default then). */
    readable(path: KeyPath): boolean {
        return this.read(path).ok;
    }

    /** Whether the operator set the key (it is in the config, whatever its value). */
    isSet(path: KeyPath): boolean {
        return valueAt(this.input, path) !== undefined;
    }

    /** The elements of a list that are fine on their own, with their indexes; [] when the list cannot be read. */
    elements<T>(path: KeyPath): [number, T][] {
        const list = valueAt(this.input, path);
        if (list === undefined) {
            const value = this.get<T[]>(path);
            return Array.isArray(value) ? value.map((element, index): [number, T] => [index, element]) : [];
        }
        if (!Array.isArray(list)) return [];
        return list.flatMap((_, index): [number, T][] => {
            const read = this.read([...path, index]);
            return read.ok ? [[index, read.value as T]] : [];
        });
    }

    /** The entries of a map whose names and values are fine on their own; [] when the map cannot be read. */
    entries<T>(path: KeyPath): [string, T][] {
        const map = valueAt(this.input, path);
        const schema = schemaAt(this.input, path);
        if (!isPlainObject(map) || !schema) return [];
        const keyType = core(schema).keyType;
        return Object.keys(map).flatMap((name): [string, T][] => {
            if (keyType && !keyType.safeParse(name).success) return [];
            const read = this.read([...path, name]);
            return read.ok ? [[name, read.value as T]] : [];
        });
    }

    private read(path: KeyPath): { ok: boolean; value?: unknown } {
        let schema: z.ZodType | undefined = configSchema;
        let node: unknown = this.input;
        for (const segment of path) {
            // A key left out stands for its default; a map or list of the wrong type stands for nothing.
            if (node !== undefined && !fitsContainer(schema, node)) return { ok: false };
            schema = childSchema(schema, segment, node);
            if (!schema) return { ok: false };
            node = node === undefined ? undefined : (node as Record<string | number, unknown>)[segment];
        }
        const result = schema.safeParse(node);
        return { ok: result.success, value: result.data };
    }
}
