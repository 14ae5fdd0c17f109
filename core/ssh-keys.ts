/**
 * The SSH host keys the stack accepts as a pin, written once: the config schema (config/schema/fields.ts)
 * refuses any other in `limen:frontend.hostKey` / `limen:backend.hostKey`, and the policy pack
 * (policy/rules/ssh.ts) refuses a resource whose connection carries any other. Before, each kept its
 * own list and they had drifted apart (the pack accepted security-key types the config refused).
 *
 * Pure: no Pulumi, no I/O.
 */

/**
 * The key types a host can present that the stack's SSH clients verify: ssh2 in hostio/ssh.ts
 * (ssh-rsa also under its rsa-sha2-256/512 signature names) and OpenSSH for Docker's ssh://.
 * ssh2 verifies no security-key (`sk-…@openssh.com`) host key, so a pin of one could never connect;
 * DSA is left out as OpenSSH has dropped it.
 */
export const hostKeyTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;

export type HostKeyType = (typeof hostKeyTypes)[number];

/** An ECDSA public key blob: the curve name, then an uncompressed point (0x04, x, y). */
const ecdsaKey = (curve: string, coordinateBytes: number) => (fields: Buffer[]) =>
    fields.length === 3 && fields[1]!.toString("latin1") === curve && fields[2]!.length === 1 + 2 * coordinateBytes && fields[2]![0] === 0x04;

/** The fields after the type name that a key of each type has (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4). */
const keyShapes: Record<HostKeyType, (fields: Buffer[]) => boolean> = {
    "ssh-ed25519": (fields) => fields.length === 2 && fields[1]!.length === 32,
    "ecdsa-sha2-nistp256": ecdsaKey("nistp256", 32),
    "ecdsa-sha2-nistp384": ecdsaKey("nistp384", 48),
    "ecdsa-sha2-nistp521": ecdsaKey("nistp521", 66),
    // The public exponent and the modulus.
    "ssh-rsa": (fields) => fields.length === 3 && fields[2]!.length > 0,
};

const isHostKeyType = (type: string): type is HostKeyType => (hostKeyTypes as readonly string[]).includes(type);

/**
 * Whether a line is an OpenSSH public host key of an accepted type (`<type> <base64> [comment]`, as
 * in a .pub file or ssh-keyscan's output without the host name) whose blob really is a key of that
 * type: length-prefixed fields from the type name to the last byte, shaped as that type's key. A
 * placeholder, a truncated paste or a relabelled key is not a pinned key.
 */
export function isHostKeyLine(line: string): boolean {
    const match = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(\s.*)?$/.exec(line.trim());
    const type = match?.[1];
    if (!match || type === undefined || !isHostKeyType(type)) return false;
    const blob = Buffer.from(match[2]!, "base64");
    const fields: Buffer[] = [];
    for (let offset = 0; offset < blob.length;) {
        if (offset + 4 > blob.length) return false;
        const length = blob.readUInt32BE(offset);
        if (offset + 4 + length > blob.length) return false;
        fields.push(blob.subarray(offset + 4, offset + 4 + length));
        offset += 4 + length;
    }
    return fields.length > 0 && fields[0]!.toString("latin1") === type && keyShapes[type](fields);
}
