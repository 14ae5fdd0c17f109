import * as ipaddr from "ipaddr.js";

/**
 * How the stack reads an address, written once: the config schema reads every address and network it
 * is given through readAddress / readCidr and keeps only the canonical spelling they return, so what
 * reaches `.env.production`, Envoy's cluster, the firewall and the SSH target is never the raw text.
 *
 * The seed forbids `localhost` / `127.0.0.1` as the backend address. Writing a regex for that misses
 * `127.1`, `0x7f.0.0.1`, `2130706433`, `::ffff:127.0.0.1` and friends, which the C resolver and Node
 * all accept as loopback; ipaddr.js parses the same spellings inet_aton does.
 */
export type AddressKind = "loopback" | "unspecified" | "hostname-loopback" | "hostname" | "ipv4" | "ipv6" | "invalid";

/** What readAddress makes of a text: an IP literal in its one canonical spelling, or why not. */
export type AddressReading =
    | { kind: "ipv4" | "ipv6"; address: string }
    | {
          kind:
              | "loopback"
              | "unspecified"
              | "hostname-loopback"
              | "hostname"
              /** 224.0.0.0/4, ff00::/8, 255.255.255.255: a group of hosts or all of them, never one. */
              | "multicast"
              /** ::ffff:a.b.c.d: an IPv4 host written as IPv6; nft, Envoy and Node each treat it differently. */
              | "ipv4-mapped"
              /** 010.0.0.1, 0x0a.0.0.1, 10.1, 167772161: inet_aton reads these, but octal or decimal is a guess. */
              | "ambiguous-ipv4"
              /** [10.0.0.1]: brackets belong to IPv6 in a URL. */
              | "bracketed-ipv4"
              /** fe80::1%eth0: a zone names an interface of one machine. */
              | "zoned"
              | "invalid";
      };

const loopbackNames = new Set(["localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"]);
const hostnamePattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * Reads an address as an operator may type it: surrounding white space, IPv6 in brackets, upper-case
 * hex and uncompressed IPv6 are read as the address they unambiguously are, and returned in the one
 * spelling the stack writes (dotted-quad IPv4, RFC 5952 IPv6). Loopback and unspecified addresses are
 * recognised in every spelling, including the ones refused as ambiguous.
 */
export function readAddress(raw: string): AddressReading {
    const trimmed = raw.trim();
    const bracketed = /^\[(.*)\]$/.exec(trimmed);
    const text = (bracketed ? bracketed[1]! : trimmed).toLowerCase();
    if (text === "") return { kind: "invalid" };
    if (loopbackNames.has(text) || text.endsWith(".localhost")) return { kind: "hostname-loopback" };
    if (text.includes("%")) {
        // The zone does not change where the address points: fe80::1%lo is still not loopback, ::1%lo is.
        const bare = text.slice(0, text.indexOf("%"));
        const reading = ipaddr.IPv6.isValid(bare) ? readAddress(bare) : { kind: "invalid" as const };
        return reading.kind === "loopback" || reading.kind === "unspecified" ? reading : { kind: reading.kind === "invalid" ? "invalid" : "zoned" };
    }
    if (!ipaddr.isValid(text)) return { kind: hostnamePattern.test(text) ? "hostname" : "invalid" };

    let parsed = ipaddr.parse(text);
    // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291) counts as mapped: Linux does not route it
    // to the IPv4 host, so ::127.0.0.1 is neither loopback nor a usable address.
    const mapped = parsed.kind() === "ipv6" && ((parsed as ipaddr.IPv6).isIPv4MappedAddress() || isIpv4Compatible(parsed as ipaddr.IPv6));
    if (mapped) {
        const [high, low] = (parsed as ipaddr.IPv6).parts.slice(6) as [number, number];
        parsed = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
    }
    const range = parsed.range();
    if (range === "loopback") return { kind: "loopback" };
    if (range === "unspecified") return { kind: "unspecified" };
    if (range === "multicast" || range === "broadcast") return { kind: "multicast" };
    if (mapped) return { kind: "ipv4-mapped" };
    if (parsed.kind() === "ipv4") {
        if (bracketed) return { kind: "bracketed-ipv4" };
        const canonical = parsed.toString();
        return ipaddr.IPv4.isValidFourPartDecimal(text) && canonical === text ? { kind: "ipv4", address: canonical } : { kind: "ambiguous-ipv4" };
    }
    return { kind: "ipv6", address: (parsed as ipaddr.IPv6).toRFC5952String() };
}

function isIpv4Compatible(address: ipaddr.IPv6): boolean {
    const parts = address.parts;
    return parts.slice(0, 6).every((part) => part === 0) && (parts[6] !== 0 || (parts[7] ?? 0) > 1);
}

/**
 * The coarse kind of an address as a destination, for checks that judge text already written (the
 * policy pack): anything readAddress would not hand out as a host address is "invalid".
 */
export function classifyAddress(raw: string): AddressKind {
    const reading = readAddress(raw);
    switch (reading.kind) {
        case "loopback":
        case "unspecified":
        case "hostname-loopback":
        case "hostname":
        case "ipv4":
        case "ipv6":
            return reading.kind;
        case "multicast":
            return addressFamily(raw.trim().replace(/^\[(.*)\]$/, "$1"));
        default:
            return "invalid";
    }
}

/**
 * The one spelling the stack writes into files: dotted-quad IPv4, RFC 5952 IPv6. Anything else
 * (`010.0.0.1`, `::FFFF:a00:1`) is refused rather than guessed, since nft, Envoy and Node disagree on it.
 */
export function canonicalAddress(text: string): string | undefined {
    if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text).toString();
    if (ipaddr.IPv6.isValid(text) && !text.includes("%")) return ipaddr.IPv6.parse(text).toRFC5952String();
    return undefined;
}

export function addressFamily(address: string): "ipv4" | "ipv6" {
    return ipaddr.parse(address).kind();
}

/** What readCidr makes of a text: a network in its canonical spelling, or why not. */
export type CidrReading = { cidr: string } | { problem: "not-cidr" | "address" | "prefix" | "host-bits"; network?: string };

/**
 * Reads a network as `address/prefix`: white space, upper-case hex and leading zeros in the prefix are
 * read as what they unambiguously mean; the address must be dotted-quad IPv4 or IPv6, and no bit may
 * be set past the prefix (10.0.0.5/24 is refused, naming 10.0.0.0/24 and 10.0.0.5/32, rather than
 * guessing which one was meant).
 */
export function readCidr(raw: string): CidrReading {
    const match = /^([^/]+)\/(\d{1,3})$/.exec(raw.trim().toLowerCase());
    if (!match) return { problem: "not-cidr" };
    const text = match[1]!;
    const prefix = Number(match[2]);
    const canonical = canonicalAddress(text);
    if (canonical === undefined || (ipaddr.IPv4.isValidFourPartDecimal(text) && canonical !== text)) return { problem: "address" };
    const parsed = ipaddr.parse(canonical);
    if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) return { problem: "address" };
    if (prefix > (parsed.kind() === "ipv4" ? 32 : 128)) return { problem: "prefix" };
    const network =
        parsed.kind() === "ipv4"
            ? ipaddr.IPv4.networkAddressFromCIDR(`${canonical}/${prefix}`).toString()
            : ipaddr.IPv6.networkAddressFromCIDR(`${canonical}/${prefix}`).toRFC5952String();
    if (network !== canonical) return { problem: "host-bits", network: `${network}/${prefix}` };
    return { cidr: `${canonical}/${prefix}` };
}

/** Whether `address` lies inside `cidr` (both already validated, same family or not). */
export function cidrContains(cidr: string, address: string): boolean {
    const [network, prefix] = ipaddr.parseCIDR(cidr);
    const parsed = ipaddr.parse(address);
    return parsed.kind() === network.kind() && parsed.match(network, prefix);
}

export function isCidr(text: string): boolean {
    return "cidr" in readCidr(text);
}

/** Renders an address for a URL or host:port pair (IPv6 needs brackets). */
export function hostForUrl(address: string): string {
    return addressFamily(address) === "ipv6" ? `[${address}]` : address;
}
