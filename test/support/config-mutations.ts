/**
 * Generated mistakes for the config boundary's property test: from a valid config, change a few keys
 * the way operators do (a type swapped, a space or case changed, an address in another spelling, a
 * port at or past an edge, a CIDR, an absolute URL in an env value, a key misspelled or set without
 * --path, a secret mishandled) and record which keys each change touched.
 *
 * Every secret value a mutation writes carries `secretMarker`, and nothing else does: a message that
 * contains the marker has leaked a secret.
 */
import fc from "fast-check";
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

const clone = <T>(value: T): T => structuredClone(value);

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

const set = (label: string, path: KeyPath, value: unknown, extra: Partial<Mutation> = {}): Mutation => ({
    label: `${label}: ${path.join(".")} = ${JSON.stringify(value)}`,
    touches: [path],
    apply: (config) => setIn(config, path, value),
    ...extra,
});

/** A change whose value comes from the valid config it starts from (the current value, another key's). */
const setFrom = (label: string, path: KeyPath, value: (base: Structured) => unknown, touches: KeyPath[] = [path]): Mutation => ({
    label: `${label}: ${path.join(".")}`,
    touches,
    apply: (config, base) => setIn(config, path, value(base)),
});

// ---------------------------------------------------------------------------------------------
// Where to change.

export const portKeys: KeyPath[] = [
    ["ssh", "port"],
    ["backend", "apiPort"],
    ["backend", "agentPort"],
    ["envoy", "httpPort"],
    ["envoy", "httpsPort"],
    ["envoy", "adminPort"],
    ["apps", "limenFrontend", "port"],
    ["apps", "darc", "port"],
    ["backend", "publicApiPorts", 0],
];

export const hostAddressKeys: KeyPath[] = [
    ["frontend", "address"],
    ["backend", "address"],
    ["backend", "internalAddress"],
    ["backend", "agentAddress"],
    ["frontend", "internalAddresses", 0],
    ["backend", "internalClients", 0],
    ["ssh", "deployFrom", 0],
];

export const bindKeys: KeyPath[] = [
    ["apps", "limenFrontend", "host"],
    ["apps", "darc", "host"],
];

/** Keys of every other kind, and whole sections, for type swaps, white space and deletions. */
export const otherKeys: KeyPath[] = [
    ["ssh"],
    ["ssh", "user"],
    ["ssh", "adminNetworks"],
    ["ssh", "deployFrom"],
    ["ssh", "connectAttempts"],
    ["ssh", "connectTimeoutSeconds"],
    ["ssh", "firewallConfirmSeconds"],
    ["sshPrivateKey"],
    ["frontend"],
    ["frontend", "hostKey"],
    ["frontend", "internalAddresses"],
    ["backend"],
    ["backend", "hostKey"],
    ["backend", "publicApiPorts"],
    ["backend", "internalClients"],
    ["envoy"],
    ["envoy", "enabled"],
    ["envoy", "image"],
    ["envoy", "configPath"],
    ["envoy", "backendRoutePrefixes"],
    ["envoy", "backendRoutePrefixes", 0],
    ["tls"],
    ["tls", "certificateChainPath"],
    ["tls", "privateKeyPath"],
    ["tls", "certificateChain"],
    ["tlsPrivateKey"],
    ["domains"],
    ["domains", "limen"],
    ["domains", "limen", 0],
    ["domains", "darc"],
    ["apps"],
    ["apps", "user"],
    ["apps", "ecosystemPath"],
    ["apps", "instances"],
    ["apps", "restart"],
    ["apps", "restart", "killTimeoutMs"],
    ["apps", "limenFrontend", "name"],
    ["apps", "limenFrontend", "cwd"],
    ["apps", "darc", "name"],
    ["apps", "darc", "args"],
    ["apps", "darc", "args", 0],
    ["apps", "extraEnv"],
    ["envProductionSecrets"],
];

const isSecretPath = (path: KeyPath) => ["sshPrivateKey", "tlsPrivateKey", "envProductionSecrets"].includes(String(path[0]));

// ---------------------------------------------------------------------------------------------
// Type swaps, white space and case.

/** Another type for the value at a key, in the forms Pulumi and YAML produce. */
const typeSwaps: { name: string; swap: (value: unknown) => unknown }[] = [
    { name: "as text", swap: (v) => (typeof v === "string" ? v : JSON.stringify(v ?? "")) },
    { name: "as a fraction", swap: (v) => (typeof v === "number" ? v + 0.5 : 2.5) },
    { name: "as a number", swap: (v) => (typeof v === "number" ? -v : 18443) },
    { name: "as true", swap: () => true },
    { name: 'as "true"', swap: () => "true" },
    { name: "as null", swap: () => null },
    { name: "in a list", swap: (v) => [v] },
    { name: "in a map", swap: (v) => ({ value: v }) },
    { name: "as an empty text", swap: () => "" },
    { name: "as JSON text of a list", swap: (v) => JSON.stringify([v]) },
    { name: "as an empty list", swap: () => [] },
];

/** White space and case, the changes copying and pasting makes. */
const textChanges: { name: string; change: (text: string) => string }[] = [
    { name: "leading space", change: (t) => ` ${t}` },
    { name: "trailing space", change: (t) => `${t} ` },
    { name: "trailing newline", change: (t) => `${t}\n` },
    { name: "tab", change: (t) => `\t${t}` },
    { name: "upper case", change: (t) => t.toUpperCase() },
    { name: "lower case", change: (t) => t.toLowerCase() },
    { name: "brackets", change: (t) => `[${t}]` },
    { name: "quotes", change: (t) => `"${t}"` },
];

/** A secret key's value keeps the marker whatever is done to it, so a leak is visible. */
const markSecret = (path: KeyPath, value: unknown): unknown =>
    isSecretPath(path) && typeof value === "string" && !value.includes(secretMarker) ? `${secretMarker}-${value}` : value;

const typeSwap = fc
    .tuple(fc.constantFrom(...portKeys, ...hostAddressKeys, ...bindKeys, ...otherKeys), fc.constantFrom(...typeSwaps))
    .map(([path, { name, swap }]): Mutation => setFrom(`type swap ${name}`, path, (config) => markSecret(path, swap(getIn(config, path)))));

const stringKeys = [...hostAddressKeys, ...bindKeys, ...otherKeys.filter((path) => path.length > 1 || ["sshPrivateKey", "tlsPrivateKey"].includes(String(path[0])))];

const textChange = fc.tuple(fc.constantFrom(...stringKeys), fc.constantFrom(...textChanges)).map(([path, { name, change }]): Mutation =>
    setFrom(`${name}`, path, (config) => {
        const value = getIn(config, path);
        return typeof value === "string" ? change(value) : markSecret(path, change(String(value ?? "")));
    }),
);

// ---------------------------------------------------------------------------------------------
// Addresses: every spelling of loopback and unspecified, IPv4 and IPv6.

/** One IPv4 part in decimal, hex or octal (inet_aton reads all three). */
const ipv4Part = (value: number, radix: "dec" | "hex" | "oct") =>
    radix === "hex" ? `0x${value.toString(16)}` : radix === "oct" && value > 0 ? `0${value.toString(8)}` : String(value);

/** An IPv4 address in dotted, shortened (a.b.c, a.b) or single-number form, each part in some radix. */
const ipv4Spelling = (octets: fc.Arbitrary<[number, number, number, number]>) =>
    fc
        .tuple(octets, fc.constantFrom(4, 3, 2, 1), fc.array(fc.constantFrom("dec" as const, "dec" as const, "hex" as const, "oct" as const), { minLength: 4, maxLength: 4 }))
        .map(([[a, b, c, d], parts, radixes]) => {
            const values =
                parts === 4 ? [a, b, c, d] : parts === 3 ? [a, b, (c << 8) | d] : parts === 2 ? [a, (b << 16) | (c << 8) | d] : [((a << 24) | (b << 16) | (c << 8) | d) >>> 0];
            return values.map((value, i) => ipv4Part(value, radixes[i]!)).join(".");
        });

const octet = fc.integer({ min: 0, max: 255 });
const loopbackV4 = ipv4Spelling(fc.tuple(fc.constant(127), octet, octet, octet));
const unspecifiedV4 = ipv4Spelling(fc.tuple(fc.constant(0), fc.constant(0), fc.constant(0), fc.constant(0)));

/** An IPv6 address with groups `groups` (8 numbers), compressed or not, padded or not, any case. */
const ipv6Spelling = (groups: number[]) =>
    fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()).map(([compress, pad, upper]) => {
        let parts = groups.map((g) => (pad ? g.toString(16).padStart(4, "0") : g.toString(16)));
        let text = parts.join(":");
        if (compress) {
            // The longest run of zero groups becomes ::.
            let best = [-1, 0];
            for (let i = 0; i < 8; i++) {
                let j = i;
                while (j < 8 && groups[j] === 0) j++;
                if (j - i > best[1]!) best = [i, j - i];
            }
            if (best[1]! > 1) {
                parts = [...parts.slice(0, best[0]), "", ...parts.slice(best[0]! + best[1]!)];
                text = parts.join(":").replace(/^:/, "::").replace(/:$/, "::").replace(/:{3,}/, "::");
                if (text === ":") text = "::";
            }
        }
        return upper ? text.toUpperCase() : text;
    });

const loopbackV6 = fc.oneof(
    ipv6Spelling([0, 0, 0, 0, 0, 0, 0, 1]),
    fc.tuple(octet, octet, octet).chain(([b, c, d]) => fc.constantFrom(`::ffff:127.${b}.${c}.${d}`, `::FFFF:7f${b.toString(16).padStart(2, "0")}:${((c << 8) | d).toString(16)}`)),
);
const unspecifiedV6 = fc.oneof(ipv6Spelling([0, 0, 0, 0, 0, 0, 0, 0]), fc.constantFrom("::ffff:0.0.0.0", "::ffff:0:0"));

const dressed = (address: fc.Arbitrary<string>) =>
    fc.tuple(address, fc.constantFrom("", " ", "\t"), fc.boolean()).map(([text, space, bracket]) => {
        const body = bracket && text.includes(":") ? `[${text}]` : text;
        return `${space}${body}${space}`;
    });

export const loopbackSpelling = dressed(
    fc.oneof(loopbackV4, loopbackV6, fc.constantFrom("localhost", "LOCALHOST", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "db.localhost")),
);
export const unspecifiedSpelling = dressed(fc.oneof(unspecifiedV4, unspecifiedV6));

/** Addresses that are fine, in spellings that are fine too (they must be deployed canonically). */
const usableAddress = dressed(
    fc.oneof(
        fc.tuple(fc.constantFrom(192, 198, 203, 10), octet, octet, fc.integer({ min: 1, max: 254 })).map(([a, b, c, d]) => `${a}.${b}.${c}.${d}`),
        fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff })).chain(([g, h]) => ipv6Spelling([0x2001, 0xdb8, 0, 0, 0, 0, g, h])),
    ),
);

/** Spellings the stack refuses rather than guesses, and names. */
const refusedAddress = fc.constantFrom(
    "010.000.000.100",
    "10.1",
    "0x0a000064",
    "167772260",
    "[10.0.0.100]",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "fe80::1%eth0",
    "::ffff:10.0.0.100",
    "backend.internal",
    "10.0.0.300",
    "",
    " ",
    "::g",
);

/** Another spelling of an address the config already holds (a backend at the frontend's own address). */
const spellingOfKey = (from: KeyPath) => (config: Structured) => {
    const address = String(getIn(config, from) ?? "");
    return address.includes(":") ? `[${address.toUpperCase()}]` : ` ${address}`;
};

const addressChange = fc.oneof(
    fc
        .tuple(fc.constantFrom(...hostAddressKeys, ...bindKeys), fc.oneof(loopbackSpelling, unspecifiedSpelling, usableAddress, refusedAddress))
        .map(([path, address]) => set("address", path, address)),
    fc
        .tuple(fc.constantFrom(...hostAddressKeys), fc.constantFrom<KeyPath>(["frontend", "address"], ["backend", "address"], ["frontend", "internalAddresses", 0]))
        .map(([path, from]) => setFrom(`address of ${from.join(".")}`, path, spellingOfKey(from))),
);

// ---------------------------------------------------------------------------------------------
// Ports at and past the edges, CIDRs.

const portValue = fc.oneof(
    fc.constantFrom(0, 1, 22, 80, 443, 8443, 9000, 9444, 9445, 9901, 18443, 65535, 65536, -1, 1.5, "443", "18443", " 22"),
    fc.integer({ min: -2, max: 70000 }),
);

const portChange = fc.oneof(
    fc.tuple(fc.constantFrom(...portKeys), portValue).map(([path, port]) => set("port", path, port)),
    fc.tuple(fc.constantFrom(...portKeys), fc.constantFrom(...portKeys)).map(([path, from]) => setFrom(`port of ${from.join(".")}`, path, (config) => getIn(config, from) ?? 9000)),
);

const cidrValue = fc.oneof(
    fc.constantFrom(
        "10.0.0.0/24",
        " 10.0.0.0/24",
        "10.0.0.5/24",
        "10.0.0.0/33",
        "::/0",
        "0.0.0.0/0",
        "2001:DB8::/32",
        "2001:db8::/129",
        "[2001:db8::]/64",
        "10.0.0.0",
        "010.0.0.0/8",
        "10.0.0.0/024",
        "fe80::/10",
        "not-a-cidr",
        "",
        "198.51.100.0/24",
        "203.0.113.7/32",
    ),
    fc.tuple(octet, octet, fc.integer({ min: 0, max: 32 })).map(([a, b, prefix]) => `${a}.${b}.0.0/${prefix}`),
);

const cidrChange = fc.oneof(
    fc.tuple(fc.constantFrom(0, 1), cidrValue).map(([index, cidr]) => set("CIDR", ["ssh", "adminNetworks", index], cidr)),
    fc.constantFrom<unknown>("10.0.0.0/24", [], '["10.0.0.0/24"]', ["10.0.0.0/24", "10.0.0.0/24"]).map((networks) => set("CIDR list", ["ssh", "adminNetworks"], networks)),
);

// ---------------------------------------------------------------------------------------------
// .env.production entries: absolute URLs in every form, keys the seed forbids.

const envKeys = [
    "API_URL",
    "NEXT_PUBLIC_API_URL",
    "API_PORT",
    "CACHE_PORT",
    "NEXT_PUBLIC_BACKEND_URL",
    "next_public_backend_url",
    "BACKEND_HOST",
    "AGENT_PORT",
    "HOSTNAME",
    "PORT",
    "LOG_LEVEL",
    "lower_key",
];

/** A host for a URL: the backend's (in another spelling), a loopback one, the frontend's, another. */
const urlHost = (config: Structured): fc.Arbitrary<string> => {
    const address = (path: KeyPath) => String(getIn(config, path) ?? "192.0.2.1").trim();
    const bracket = (text: string) => (text.includes(":") && !text.startsWith("[") ? `[${text}]` : text);
    return fc.oneof(
        fc.constantFrom(
            ...[
                ["backend", "address"],
                ["backend", "internalAddress"],
                ["backend", "agentAddress"],
                ["frontend", "address"],
            ].map((p) => bracket(address(p))),
            "api.example.org",
            "localhost",
            "[::1]",
            "127.1",
            "0x7f.1",
            "[::ffff:127.0.0.1]",
            "0",
        ),
        loopbackV4,
    );
};

const urlForms = ["scheme", "scheme-relative", "host-port", "host-port-path", "scheme-colon", "backslashes"] as const;

function urlValue(form: (typeof urlForms)[number], scheme: string, host: string, port: string): string {
    const withPort = port === "" ? host : `${host}:${port}`;
    switch (form) {
        case "scheme":
            return `${scheme}://${withPort}/api`;
        case "scheme-relative":
            return `//${withPort}/api`;
        case "host-port":
            return `${host}:${port || "18443"}`;
        case "host-port-path":
            return `${host}:${port || "18443"}/api`;
        case "scheme-colon":
            return `${scheme}:${withPort}`;
        case "backslashes":
            return `\\\\${withPort}/api`;
    }
}

/** An env entry with an absolute URL; its parts go with it for the judge. */
export const envUrlChange = (base: Structured): fc.Arbitrary<Mutation> =>
    fc
        .tuple(
            fc.constantFrom("extraEnv" as const, "envProductionSecrets" as const),
            fc.constantFrom(...envKeys),
            fc.constantFrom(...urlForms),
            fc.constantFrom("http", "https", "HTTP", "redis"),
            urlHost(base),
            fc.constantFrom("", "18443", "443", "80", "8443", "9000"),
        )
        .map(([map, key, form, scheme, host, port]): Mutation => {
            const secret = map === "envProductionSecrets";
            const plain = urlValue(form, scheme, host, port);
            // A secret value carries the marker in its query, where it changes nothing the rules judge.
            const value = secret ? `${plain}${plain.includes("?") ? "&" : "?"}t=${secretMarker}` : plain;
            const path: KeyPath = map === "extraEnv" ? ["apps", "extraEnv", key] : ["envProductionSecrets", key];
            const writtenPort = form === "host-port" || form === "host-port-path" ? port || "18443" : port;
            // The scheme the URL is read with: its own, the page's (HTTPS) for `//host`, http for `host:port`.
            const readScheme = form === "scheme" || form === "scheme-colon" ? scheme.toLowerCase() : form === "scheme-relative" || form === "backslashes" ? "https" : "http";
            return { ...set(`env URL (${form})`, path, value), url: { map, key, value, host, port: writtenPort, scheme: readScheme } };
        });

const envPlainChange = fc
    .tuple(
        fc.constantFrom("extraEnv" as const, "envProductionSecrets" as const),
        fc.constantFrom(...envKeys),
        fc.constantFrom("info", "", "it's", "a\nb", "$HOME", " spaced ", "12:30", "8443", "18443", "/api"),
    )
    .map(([map, key, text]): Mutation => {
        const path: KeyPath = map === "extraEnv" ? ["apps", "extraEnv", key] : ["envProductionSecrets", key];
        return set("env value", path, map === "envProductionSecrets" ? `${secretMarker}${text}` : text);
    });

// ---------------------------------------------------------------------------------------------
// Unknown and misspelled keys, keys set without --path, secrets.

const misspellings: { name: string; change: (key: string) => string }[] = [
    { name: "lower case", change: (k) => k.toLowerCase() },
    { name: "one letter's case", change: (k) => k.replace(/[A-Z]/, (c) => c.toLowerCase()).replace(/^[a-z]/, (c) => (k === k.toLowerCase() ? c.toUpperCase() : c)) },
    { name: "a letter dropped", change: (k) => k.slice(0, 2) + k.slice(3) },
    { name: "snake case", change: (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) },
    { name: "a letter doubled", change: (k) => k.slice(0, 3) + k[2] + k.slice(3) },
];

const topKeys = ["ssh", "sshPrivateKey", "frontend", "backend", "envoy", "tls", "tlsPrivateKey", "domains", "apps", "envProductionSecrets"];
const secretPrivateKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${secretMarker}-misspelled-key-body\n-----END OPENSSH PRIVATE KEY-----\n`;

const unknownTopKey = fc.tuple(fc.constantFrom(...topKeys), fc.constantFrom(...misspellings), fc.boolean()).map(([key, { name, change }, withSecretFlag]): Mutation => {
    const misspelled = change(key);
    const secret = isSecretPath([key]);
    return {
        label: `misspelled top-level key (${name}): ${misspelled}${withSecretFlag ? " --secret" : ""}`,
        touches: [[misspelled]],
        apply: (config, base) => (misspelled === key ? config : { ...config, [misspelled]: secret ? secretPrivateKey : clone(base[key] ?? "x") }),
        secret: withSecretFlag || secret ? [misspelled] : [],
    };
});

const nestedFields: KeyPath[] = [
    ["backend", "apiPort"],
    ["backend", "internalAddress"],
    ["apps", "extraEnv"],
    ["ssh", "adminNetworks"],
    ["envoy", "httpsPort"],
    ["apps", "limenFrontend", "port"],
    ["domains", "limen"],
];

const unknownNestedKey = fc.tuple(fc.constantFrom(...nestedFields), fc.constantFrom(...misspellings)).map(([path, { name, change }]): Mutation => {
    const misspelled = [...path.slice(0, -1), change(String(path.at(-1)))];
    return setFrom(`misspelled key (${name})`, misspelled, (config) => clone(getIn(config, path) ?? 1));
});

/** `pulumi config set limen:ssh.port 2222` without --path: one top-level key named "ssh.port". */
const withoutPath = fc
    .constantFrom<[string, string, boolean]>(
        ["ssh.port", "2222", false],
        ["backend.apiPort", "18443", false],
        ["apps.extraEnv.LOG_LEVEL", "info", false],
        ["ssh.adminNetworks[0]", "10.0.0.0/24", false],
        ["envProductionSecrets.TOKEN", `${secretMarker}-dotted`, true],
        ["ssh.prot", "22", false],
    )
    .map(([key, value, secret]): Mutation => ({
        label: `set without --path: ${key}`,
        touches: [[key]],
        apply: (config) => ({ ...config, [key]: value }),
        secret: secret ? [key] : [],
    }));

const secretPem = (what: string) => `-----BEGIN PRIVATE KEY-----\n${secretMarker}-${what}\n-----END PRIVATE KEY-----\n`;

const secretChange = fc.oneof(
    fc
        .constantFrom("", `${secretMarker}-not-a-key`, `  ${secretPem("padded")}  `, JSON.stringify({ key: `${secretMarker}-json` }), secretPem("other"))
        .map((value) => set("SSH private key", ["sshPrivateKey"], value)),
    fc.constant<Mutation>({ label: "SSH private key in plain text", touches: [["sshPrivateKey"]], apply: (config) => config, plainText: ["sshPrivateKey"] }),
    fc.constantFrom(secretPem("tls"), "", `${secretMarker}-not-pem`).map((value) => set("TLS private key", ["tlsPrivateKey"], value)),
    fc.constant<Mutation>({ label: "TLS private key removed", touches: [["tlsPrivateKey"]], apply: (config) => setIn(config, ["tlsPrivateKey"], undefined) }),
    fc.constant<Mutation>({
        label: "env secrets in plain text",
        touches: [["envProductionSecrets"]],
        apply: (config) => setIn(config, ["envProductionSecrets", "PLAIN"], `${secretMarker}-plain`),
        plainText: ["envProductionSecrets"],
    }),
    fc
        .constantFrom<unknown>(
            { TOKEN: `${secretMarker}-1` },
            { [`${secretMarker}-pasted`]: "x" },
            { TOKEN: [`${secretMarker}-list`] },
            { NOTE: `${secretMarker}\nsecond line` },
            JSON.stringify({ A: `${secretMarker}-text` }),
            `${secretMarker}-not-a-map`,
        )
        .map((value) => set("env secrets", ["envProductionSecrets"], value)),
);

/** A key Pulumi holds as secret because a value inside it was set with --secret --path. */
const heldSecret = fc
    .constantFrom<[string, KeyPath, unknown]>(
        ["apps", ["apps", "extraEnv", "TOKEN"], `${secretMarker}-held`],
        ["apps", ["apps", "user"], `${secretMarker}-user`],
        ["ssh", ["ssh", "user"], `root${secretMarker}`],
        ["backend", ["backend", "address"], `${secretMarker}.example`],
        ["backend", ["backend", "internalClients", 0], `${secretMarker}-client`],
        ["frontend", ["frontend", "hostKey"], `ssh-ed25519 ${secretMarker}`],
        ["domains", ["domains", "limen", 0], `${secretMarker}.example.org`],
    )
    .map(([top, path, value]): Mutation => ({ ...set("held as secret", path, value), secret: [top] }));

const deletion = fc
    .constantFrom(...portKeys, ...hostAddressKeys, ...bindKeys, ...otherKeys)
    .map((path): Mutation => ({ label: `deleted: ${path.join(".")}`, touches: [path], apply: (config) => setIn(config, path, undefined) }));

/** Switching the TLS source changes what every TLS field means: it touches the whole section. */
const tlsSource = fc
    .constantFrom("host-files", "config", "file", "", undefined)
    .map((source): Mutation => ({ ...set("TLS source", ["tls", "source"], source), touches: [["tls"]] }));

const enabledSwitch = fc.constantFrom(true, false).map((enabled) => set("Envoy switch", ["envoy", "enabled"], enabled));

/** One mistake of any class, from a config like `base` (URLs name its addresses). */
export const mutation = (base: Structured): fc.Arbitrary<Mutation> =>
    fc.oneof(
        { arbitrary: typeSwap, weight: 3 },
        { arbitrary: textChange, weight: 2 },
        { arbitrary: addressChange, weight: 4 },
        { arbitrary: portChange, weight: 3 },
        { arbitrary: cidrChange, weight: 2 },
        { arbitrary: envUrlChange(base), weight: 4 },
        { arbitrary: envPlainChange, weight: 1 },
        { arbitrary: unknownTopKey, weight: 1 },
        { arbitrary: unknownNestedKey, weight: 1 },
        { arbitrary: withoutPath, weight: 1 },
        { arbitrary: secretChange, weight: 2 },
        { arbitrary: heldSecret, weight: 1 },
        { arbitrary: deletion, weight: 2 },
        { arbitrary: tlsSource, weight: 1 },
        { arbitrary: enabledSwitch, weight: 1 },
    );
