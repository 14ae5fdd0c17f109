import { canonicalAddress, classifyAddress } from "../../core/addresses";

/** A comparable spelling of an address: canonical for IP literals, lower case otherwise. */
export function sameAddress(text: string): string {
    const bare = text
        .trim()
        .replace(/^\[(.*)\]$/, "$1")
        .toLowerCase();
    return canonicalAddress(bare) ?? bare;
}

/**
 * Why an address, as a destination, reaches the host itself, in any spelling (core/addresses.ts
 * classifyAddress); undefined when it does not.
 */
export function loopbackReason(address: string): string | undefined {
    const kind = classifyAddress(address);
    if (kind === "loopback" || kind === "hostname-loopback") return "is a loopback address";
    // Connecting to 0.0.0.0 or :: reaches the local host on Linux.
    if (kind === "unspecified") return "is the unspecified address, which connects to the host itself";
    if (kind === "invalid") return "cannot be read as an address or host name (refused rather than guessed: it may be a loopback spelling)";
    return undefined;
}
