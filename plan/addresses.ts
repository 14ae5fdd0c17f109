import * as ipaddr from "ipaddr.js";

/**
 * Classifies how an address would be reached, in every spelling an operator might type.
 *
 * The seed forbids `localhost` / `127.0.0.1` as the backend address. Writing a regex for that misses
 * `127.1`, `0x7f.0.0.1`, `2130706433`, `::ffff:127.0.0.1` and friends, which the C resolver and Node
 * all accept as loopback; ipaddr.js parses the same spellings inet_aton does.
 */
export type AddressKind =
    | "loopback"
    | "unspecified"
    | "hostname-loopback"
    | "hostname"
    | "ipv4"
    | "ipv6"
    | "invalid";

const loopbackNames = new Set(["localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"]);

export function classifyAddress(raw: string): AddressKind {
    const text = raw.trim().replace(/^\[(.*)\]$/, "$1").toLowerCase();
    if (text === "") return "invalid";
    if (loopbackNames.has(text) || text.endsWith(".localhost")) return "hostname-loopback";
    if (ipaddr.isValid(text)) {
        let parsed = ipaddr.parse(text);
        if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
            parsed = (parsed as ipaddr.IPv6).toIPv4Address();
        }
        const range = parsed.range();
        if (range === "loopback") return "loopback";
        if (range === "unspecified") return "unspecified";
        return canonicalAddress(text) === text ? (parsed.kind() as "ipv4" | "ipv6") : "invalid";
    }
    return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(text) ? "hostname" : "invalid";
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

/** Whether `address` lies inside `cidr` (both already validated, same family or not). */
export function cidrContains(cidr: string, address: string): boolean {
    const [network, prefix] = ipaddr.parseCIDR(cidr);
    const parsed = ipaddr.parse(address);
    return parsed.kind() === network.kind() && parsed.match(network, prefix);
}

export function isCidr(text: string): boolean {
    try {
        const [network, prefix] = ipaddr.parseCIDR(text);
        return canonicalAddress(text.split("/")[0] ?? "") !== undefined && prefix >= 0 && network !== undefined;
    } catch {
        return false;
    }
}

/** Renders an address for a URL or host:port pair (IPv6 needs brackets). */
export function hostForUrl(address: string): string {
    return addressFamily(address) === "ipv6" ? `[${address}]` : address;
}
