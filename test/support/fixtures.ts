import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";

export const repoRoot = path.join(__dirname, "..", "..");

/** An OpenSSH public key line for a freshly generated ed25519 key, as `ssh-keyscan` prints it. */
export function ed25519HostKey(): string {
    const der = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
    const raw = der.subarray(der.length - 32);
    const field = (buf: Buffer) =>
        Buffer.concat([Buffer.alloc(4), buf])
            .fill(0, 0, 4)
            .map((b, i) => (i < 4 ? (buf.length >> (8 * (3 - i))) & 0xff : b));
    const blob = Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]);
    return `ssh-ed25519 ${blob.toString("base64")}`;
}

let throwaway: string | undefined;

/**
 * A real ed25519 private key made for this test run, for the program run whole in a child process: it
 * loads the key into the Docker provider's ssh-agent (hostio/ssh-material.ts), which refuses a fake one.
 */
export function throwawayPrivateKey(): string {
    if (throwaway === undefined) {
        const dir = mkdtempSync(path.join(tmpdir(), "limen-throwaway-key-"));
        try {
            execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "limen-unit-test", "-f", path.join(dir, "id")]);
            throwaway = readFileSync(path.join(dir, "id"), "utf8");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    }
    return throwaway;
}

export const fakePrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nbGFiLW9ubHkgdGVzdCBrZXk=\n-----END OPENSSH PRIVATE KEY-----\n";

/** Turns a Pulumi.<stack>.yaml `config:` block into the map Pulumi hands the program (objects as JSON). */
export function rawConfigFromStackFile(file: string): Record<string, string> {
    const document = parse(readFileSync(path.join(repoRoot, file), "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(Object.entries(document.config).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]));
}

const frontendKey = ed25519HostKey();
const backendKey = ed25519HostKey();

/**
 * Pulumi.prod.yaml as committed, with what an operator adds before the first preview: the pinned host
 * keys (placeholders in the file) and the secret private key.
 */
export function prodRawConfig(): Record<string, string> {
    const raw = rawConfigFromStackFile("Pulumi.prod.yaml");
    const withKey = (key: string, hostKey: string) => JSON.stringify({ ...JSON.parse(raw[key] ?? "{}"), hostKey });
    return {
        ...raw,
        "limen:frontend": withKey("limen:frontend", frontendKey),
        "limen:backend": withKey("limen:backend", backendKey),
        "limen:sshPrivateKey": fakePrivateKey,
    };
}

/**
 * A real self-signed certificate (made once with openssl, key thrown away, valid for a century) naming
 * the fixtures' domains: limen:tls.certificateChain must be a certificate that covers limen:domains.
 */
export const fixtureCertificate =
    "-----BEGIN CERTIFICATE-----\n" +
    "MIIB9DCCAZqgAwIBAgIUcCrYblHVyh2sZiU99vl2kmTf9JcwCgYIKoZIzj0EAwIw\n" +
    "IzEhMB8GA1UEAwwYbGltZW4taW5mcmEgdGVzdCBmaXh0dXJlMCAXDTI2MTEzMDA2\n" +
    "NTIxNVoYDzIxMjYxMTA2MDY1MjE1WjAjMSEwHwYDVQQDDBhsaW1lbi1pbmZyYSB0\n" +
    "ZXN0IGZpeHR1cmUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQ0gGIAHoKtBms5\n" +
    "mIFwRI1TKvlBT3Km3FKlqU9iQMIJoNG1fmWNFC1rm2VVTeda6QEqpMdLxbjR0rlA\n" +
    "ygegEekMo4GpMIGmMB0GA1UdDgQWBBS76A7C47iL7Pc/DQEt7QMoa0XwnzAfBgNV\n" +
    "HSMEGDAWgBS76A7C47iL7Pc/DQEt7QMoa0XwnzAPBgNVHRMBAf8EBTADAQH/MFMG\n" +
    "A1UdEQRMMEqCEWxpbWVuLmV4YW1wbGUub3JnghBkYXJjLmV4YW1wbGUub3Jngg1s\n" +
    "aW1lbi5kYXJjLmtyggdkYXJjLmtyggt3d3cuZGFyYy5rcjAKBggqhkjOPQQDAgNI\n" +
    "ADBFAiEAjvuFLz7AyL3iOxYY1Z1yY3oPlDvWtfdEsdMik2bayxsCIH/QQDivjCWD\n" +
    "MSs+pm6QDmbLuB/ekkfIlkkYTvMhREwy\n" +
    "-----END CERTIFICATE-----\n";

/** A second stack on documentation addresses: nothing of it may mention 10.0.0.x. */
export function otherRawConfig(): Record<string, string> {
    return {
        "limen:ssh": JSON.stringify({ user: "ops", port: 2222, adminNetworks: ["198.51.100.0/24", "2001:db8:ffff::/48"], deployFrom: ["198.51.100.7"] }),
        "limen:sshPrivateKey": fakePrivateKey,
        "limen:frontend": JSON.stringify({ address: "192.0.2.10", hostKey: frontendKey, internalAddresses: ["192.0.2.10", "2001:db8::10"] }),
        "limen:backend": JSON.stringify({ address: "192.0.2.100", hostKey: backendKey, apiPort: 18443, agentPort: 9100, publicApiPorts: [8443] }),
        "limen:envoy": JSON.stringify({
            enabled: true,
            image: "envoyproxy/envoy:v1.38.0@sha256:8146b97ee61a42cd216514709e4e3198af75f014974e3d9f310aef9c901fcbdf",
            backendRoutePrefixes: ["/api/agent"],
        }),
        "limen:tls": JSON.stringify({ source: "config", certificateChain: fixtureCertificate }),
        "limen:tlsPrivateKey": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXRscy1rZXk=\n-----END PRIVATE KEY-----\n",
        "limen:domains": JSON.stringify({ limen: ["limen.example.org"], darc: ["darc.example.org"] }),
        "limen:apps": JSON.stringify({ extraEnv: { LOG_LEVEL: "info" } }),
        "limen:envProductionSecrets": JSON.stringify({ SESSION_SECRET: "s3cr3t-$ession-value" }),
    };
}

/** Replaces one top-level key's object fields (or the whole string value). */
export function withOverride(raw: Record<string, string>, key: string, patch: Record<string, unknown> | string | undefined): Record<string, string> {
    const next = { ...raw };
    if (patch === undefined) {
        delete next[`limen:${key}`];
    } else if (typeof patch === "string") {
        next[`limen:${key}`] = patch;
    } else {
        next[`limen:${key}`] = JSON.stringify({ ...JSON.parse(raw[`limen:${key}`] ?? "{}"), ...patch });
    }
    return next;
}
