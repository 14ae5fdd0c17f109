import * as pulumi from "@pulumi/pulumi";
import { Secret, UnknownValueError } from "@pulumi/policy";
import { isRpcSecret } from "@pulumi/pulumi/runtime/rpc";

/**
 * A value the policies cannot see: unknown during preview (computed by another resource, or derived
 * from one), or an asset whose content is not in the resource graph. Policies skip it with a message
 * instead of guessing.
 */
export class Unknown {
    constructor(
        /** Property path, such as `content` or `connection.hostKey`. */
        public readonly path: string,
    ) {}
}

/** Plain data as the policies read it: JSON values, with `Unknown` where nothing can be known. */
export type Plain = string | number | boolean | null | Unknown | Plain[] | { [key: string]: Plain };

/** One resource of the graph, as the pure policy functions take it. */
export interface ResourceView {
    type: string;
    name: string;
    urn: string;
    props: Record<string, Plain>;
}

/**
 * The engine's wire sentinels for unknown values (sdk/go/common/resource/plugin/rpc.go). The policy
 * SDK normally hides them behind a proxy that throws on access; they are matched here too so that
 * values which never went through that proxy (tests, mocks) behave the same.
 */
const unknownSentinels = new Set([
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58",
    "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]);

function child(path: string, key: string | number): string {
    return typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`;
}

/**
 * Reads one property through the policy SDK's proxy, which throws `UnknownValueError` for an unknown,
 * and copies it as the value at `path`.
 */
function read(container: any, key: string | number, path: string): Plain {
    let value: unknown;
    try {
        value = container[key];
    } catch (error) {
        if (error instanceof UnknownValueError) return new Unknown(path);
        throw error;
    }
    return toPlain(value, path);
}

/**
 * Copies resource properties as the policy SDK hands them over (a proxy that throws on unknowns,
 * secrets already unwrapped) or as they travel on the wire (secret envelopes, unknown sentinels)
 * into plain data. Secrets are unwrapped: the policies read their content but never quote it.
 */
export function toPlain(value: unknown, path = ""): Plain {
    if (value === undefined || value === null) return null;
    if (typeof value === "string") return unknownSentinels.has(value) ? new Unknown(path) : value;
    if (typeof value === "number" || typeof value === "boolean") return value;
    if (value instanceof Unknown) return value;
    if (value instanceof Secret) return toPlain(value.value, path);
    if (pulumi.asset.Asset.isInstance(value) || pulumi.asset.Archive.isInstance(value)) return new Unknown(path);
    if (isRpcSecret(value)) return read(value, "value", path);
    if (Array.isArray(value)) {
        const length = (value as unknown[]).length;
        const items: Plain[] = [];
        for (let i = 0; i < length; i++) items.push(read(value, i, child(path, i)));
        return items;
    }
    if (typeof value === "object") {
        const copy: { [key: string]: Plain } = {};
        for (const key of Object.keys(value)) copy[key] = read(value, key, child(path, key));
        return copy;
    }
    return null;
}

export function toResourceView(resource: { type: string; name: string; urn: string; props: unknown }): ResourceView {
    const props = toPlain(resource.props);
    return { type: resource.type, name: resource.name, urn: resource.urn, props: isRecord(props) ? props : {} };
}

export function isRecord(value: Plain | undefined): value is { [key: string]: Plain } {
    return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Unknown);
}

/** The value at a dotted path (`connection.hostKey`), or undefined when any step is missing. */
export function at(value: Plain | undefined, path: string): Plain | undefined {
    let current: Plain | undefined = value;
    for (const key of path.split(".")) {
        if (current instanceof Unknown) return current;
        if (!isRecord(current)) return undefined;
        current = current[key];
    }
    return current;
}

/** Every object key and string in a value, with its property path; unknowns are returned apart. */
export function stringsIn(value: Plain, path = ""): { keys: { path: string; key: string }[]; strings: { path: string; text: string }[]; unknowns: Unknown[] } {
    const keys: { path: string; key: string }[] = [];
    const strings: { path: string; text: string }[] = [];
    const unknowns: Unknown[] = [];
    const walk = (v: Plain, p: string) => {
        if (v instanceof Unknown) unknowns.push(v);
        else if (typeof v === "string") strings.push({ path: p, text: v });
        else if (Array.isArray(v)) v.forEach((item, i) => walk(item, child(p, i)));
        else if (isRecord(v)) {
            for (const [key, item] of Object.entries(v)) {
                keys.push({ path: child(p, key), key });
                walk(item, child(p, key));
            }
        }
    };
    walk(value, path);
    return { keys, strings, unknowns };
}
