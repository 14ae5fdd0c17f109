/** Generated values: addresses in every spelling, ports at and past the edges, CIDRs, and .env.production entries. */
import fc from "fast-check";
import type { KeyPath } from "../../config";
import { secretMarker, Structured, Mutation, getIn, set, setFrom } from "./config-mutation-core";
import { portKeys, hostAddressKeys, bindKeys } from "./config-mutation-keys";

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

export const addressChange = fc.oneof(
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

export const portChange = fc.oneof(
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

export const cidrChange = fc.oneof(
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

export const envPlainChange = fc
    .tuple(
        fc.constantFrom("extraEnv" as const, "envProductionSecrets" as const),
        fc.constantFrom(...envKeys),
        fc.constantFrom("info", "", "it's", "a\nb", "$HOME", " spaced ", "12:30", "8443", "18443", "/api"),
    )
    .map(([map, key, text]): Mutation => {
        const path: KeyPath = map === "extraEnv" ? ["apps", "extraEnv", key] : ["envProductionSecrets", key];
        return set("env value", path, map === "envProductionSecrets" ? `${secretMarker}${text}` : text);
    });
