/**
 * The field types the sections are built from, each with its rule in words.
 *
 * Every refusal of a field says its rule: a check with its own message says it itself, and anything
 * zod refuses on its own (a wrong type, a number out of range, a text that does not match) is told
 * with the words registered here for that field (config/messages.ts reads them), never zod's wording.
 */
import { z } from "zod";
import { readAddress, readCidr } from "../../core/addresses";
import { hostKeyTypes, isHostKeyLine } from "../../core/ssh-keys";

export const seedRule = (text: string) => `${text} (seed: network-ports, "What matters")`;

/** The rule each field enforces, in words, for refusals that zod raises without a message of ours. */
export const ruleWords = z.registry<{ rule: string }>();

export function withRule<T extends z.ZodType>(schema: T, rule: string): T {
    ruleWords.add(schema as z.core.$ZodType, { rule });
    return schema;
}

export const port = withRule(z.int().min(1).max(65535), "must be a TCP port: a whole number from 1 to 65535");

export const wholeNumber = (min: number, max: number | undefined, unit: string) =>
    withRule(
        max === undefined ? z.int().min(min) : z.int().min(min).max(max),
        max === undefined ? `must be a whole number of ${unit}, at least ${min}` : `must be a whole number of ${unit} from ${min} to ${max}`,
    );

export const flag = withRule(z.boolean(), "must be true or false");

export const section = <Shape extends z.core.$ZodLooseShape>(shape: Shape, fields: string) => withRule(z.strictObject(shape), `must be a map with the fields ${fields}`);

export const listOf = <Element extends z.ZodType>(element: Element, what: string) => withRule(z.array(element), `must be a list of ${what}`);

export const unixUser = (notRoot: string) =>
    withRule(
        z
            .string()
            .regex(/^[a-z_][a-z0-9_-]*$/, { message: "must be a Unix user name: lower-case letters, digits, _ and -, starting with a letter or _" })
            .refine((user) => user !== "root", { message: notRoot }),
        "must be a Unix user name",
    );

interface AddressRole {
    /** "the backend address", as the sentence's subject. */
    role: string;
    /** Why a loopback address is wrong for this host, in words. */
    loopback: string;
}

/**
 * Why an address cannot be a host's address, in words, or undefined when it can. The role names the
 * key's purpose ("the backend address") so the sentence reads on its own.
 */
function hostAddressProblem(kind: ReturnType<typeof readAddress>["kind"], { role, loopback }: AddressRole): string | undefined {
    switch (kind) {
        case "ipv4":
        case "ipv6":
            return undefined;
        case "loopback":
        case "hostname-loopback":
            return seedRule(`${role} must not be a loopback address (localhost, 127.0.0.0/8, ::1, ::ffff:127.0.0.1 in any spelling): ${loopback}`);
        case "unspecified":
            return `${role} must not be an unspecified address (0.0.0.0, ::, 0): it names no host`;
        case "multicast":
            return `${role} must be one host's address, not a multicast or broadcast address`;
        case "ipv4-mapped":
            return `${role} must be written as the IPv4 address itself (a.b.c.d), not as an IPv4-mapped IPv6 address: nft, Envoy and Node each treat those differently`;
        case "ambiguous-ipv4":
            return `${role} must be written as four decimal numbers without leading zeros, such as 192.0.2.10: shortened, octal, hex and single-number forms are read differently by different tools`;
        case "bracketed-ipv4":
            return `${role} must be written without brackets: brackets belong to IPv6 addresses in URLs`;
        case "zoned":
            return `${role} must not name an interface zone (%eth0): a zone means something on one machine only`;
        case "hostname":
            return `${role} must be an IP address, not a host name: the seed pins each host by IP`;
        case "invalid":
            return `${role} must be an IP address written plainly (IPv4 such as 192.0.2.10, or IPv6 such as 2001:db8::10)`;
    }
}

/**
 * A host's address as the stack writes it into files and dials it: read once by core/addresses.ts
 * readAddress, and only its canonical spelling goes on (never the text as typed: " 192.0.2.100" or
 * "[2001:DB8::10]" become 192.0.2.100 and 2001:db8::10). Never loopback or unspecified.
 */
export const hostAddress = (role: AddressRole) =>
    withRule(
        z.string().transform((text, ctx) => {
            const reading = readAddress(text);
            if (reading.kind === "ipv4" || reading.kind === "ipv6") return reading.address;
            ctx.issues.push({ code: "custom", input: text, message: hostAddressProblem(reading.kind, role)! });
            return z.NEVER;
        }),
        `must be an IP address written plainly (IPv4 such as 192.0.2.10, or IPv6 such as 2001:db8::10)`,
    );

/** An address some host has, read like hostAddress, for lists that other rules compare (deployFrom). */
export const ipAddress = (role: string) => hostAddress({ role, loopback: "it names the machine that reads it, not a host on the network" });

/**
 * A source address for the firewall's internal-client set. Any text is taken here; config/network-rules.ts
 * decides whether it is one of the frontend's addresses (and says so), comparing canonical spellings.
 */
export const clientAddress = withRule(
    z.string().transform((text) => {
        const reading = readAddress(text);
        return reading.kind === "ipv4" || reading.kind === "ipv6" ? reading.address : text.trim();
    }),
    "must be one of the frontend's addresses (limen:frontend.internalAddresses)",
);

/** A loopback bind: 127.0.0.1 (white space aside), the seed's only address for the apps. */
export const loopbackBind = (app: string) => {
    const rule = seedRule(`${app} must listen on 127.0.0.1 only: Envoy is its only client, and any other bind address exposes it to the network`);
    return withRule(
        z.string().transform((text, ctx) => {
            // White space aside, the one spelling: 127.1 or ::ffff:127.0.0.1 reach the same place, but pm2's
            // `-H` and Envoy's cluster are written, compared and probed as 127.0.0.1.
            if (text.trim() === "127.0.0.1") return "127.0.0.1";
            ctx.issues.push({ code: "custom", input: text, message: rule });
            return z.NEVER;
        }),
        rule,
    );
};

const cidrExample = "such as 192.0.2.0/24 or 2001:db8::/64";

/** A network in CIDR form, in its canonical spelling (core/addresses.ts readCidr). */
export const cidr = withRule(
    z.string().transform((text, ctx) => {
        const reading = readCidr(text);
        if ("cidr" in reading) return reading.cidr;
        const address = readAddress(text);
        const message =
            reading.problem === "host-bits"
                ? `has bits set past its prefix: write the network ${reading.network}, or ${text.trim().split("/")[0]}/${address.kind === "ipv6" ? 128 : 32} for one address`
                : reading.problem === "prefix"
                  ? "has a prefix longer than the address: at most /32 for IPv4 and /128 for IPv6"
                  : address.kind === "ipv4" || address.kind === "ipv6"
                    ? `must be a network in CIDR form ${cidrExample}: for one address write ${address.address}/${address.kind === "ipv4" ? 32 : 128}`
                    : `must be a network in CIDR form ${cidrExample}, its address written plainly (IPv4 as four decimal numbers)`;
        ctx.issues.push({ code: "custom", input: text, message });
        return z.NEVER;
    }),
    `must be a network in CIDR form ${cidrExample}`,
);

// The accepted types come from core/ssh-keys.ts, which the policy pack reads too (their names hold no
// regex metacharacters).
const sshKeyLine = new RegExp(`^(${hostKeyTypes.join("|")}) [A-Za-z0-9+/]+={0,2}$`);
const hostKeyRule =
    "must pin the host's SSH public key as one line `<type> <base64>` (for instance the output of `ssh-keyscan -t ed25519 HOST` without the host name); an unpinned connection would trust any server";

/** A pinned host key line; surrounding white space (a pasted newline) is dropped. */
export const sshHostKey = withRule(
    z.string().transform((text, ctx) => {
        const line = text.trim();
        if (!sshKeyLine.test(line)) {
            ctx.issues.push({ code: "custom", input: text, message: hostKeyRule });
            return z.NEVER;
        }
        if (!isHostKeyLine(line)) {
            ctx.issues.push({ code: "custom", input: text, message: "the key's base64 body does not encode a key of the type the line names; copy the whole line again" });
            return z.NEVER;
        }
        return line;
    }),
    hostKeyRule,
);

export const absolutePath = withRule(
    z.string().regex(/^\/[^\0\s'"`$\\]*[^/\0\s'"`$\\]$/, { message: "must be an absolute path with no spaces, quotes, `$` or backslashes" }),
    "must be an absolute path with no spaces, quotes, `$` or backslashes",
);

export const domainName = withRule(
    z.string().regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, { message: "must be a lower-case DNS name such as darc.kr or *.darc.kr" }),
    "must be a lower-case DNS name such as darc.kr or *.darc.kr",
);

export const nextPublicBackendUrlRule = seedRule("NEXT_PUBLIC_BACKEND_URL must never be set: the browser calls the relative path /api and the middleware proxies it");

export const envKeyName = withRule(
    z
        .string()
        .refine((key) => key.toUpperCase() !== "NEXT_PUBLIC_BACKEND_URL", { message: nextPublicBackendUrlRule, abort: true })
        .regex(/^[A-Z_][A-Z0-9_]*$/, { message: "environment variable names are upper case letters, digits and underscores" }),
    "environment variable names are upper case letters, digits and underscores",
);

export const envValues = withRule(
    z.record(envKeyName, withRule(z.string(), "must be text (one .env.production value)")),
    "must be a map of environment variable names to text values",
);
