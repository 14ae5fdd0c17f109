import { describe, expect, it, vi } from "vitest";
import { describeDialError, dial, hostKeyAlgorithms, isSshError, parseHostKey, SshTarget } from "../../hostio/ssh";

const target: SshTarget = {
    role: "backend",
    address: "192.0.2.100",
    port: 22,
    user: "deploy",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFEsiDBCziheX9kXbn+JukyMc0MWKuYnw8DvTbtkjv0k",
    connectAttempts: 3,
    connectTimeoutSeconds: 1,
};

describe("the pinned host key", () => {
    it("is the wire-format blob of the config line, offered under its own algorithm names only", () => {
        const { type, blob } = parseHostKey(`${target.hostKey} root@backend`);
        expect(type).toBe("ssh-ed25519");
        // The blob starts with its own type, length-prefixed, as ssh2 hands it to the verifier.
        expect(blob.subarray(4, 4 + blob.readUInt32BE(0)).toString()).toBe("ssh-ed25519");
        expect(hostKeyAlgorithms("ssh-rsa")).toEqual(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
        expect(hostKeyAlgorithms("ecdsa-sha2-nistp256")).toEqual(["ecdsa-sha2-nistp256"]);
    });

    it("a line without a key is refused", () => {
        expect(() => parseHostKey("ssh-ed25519")).toThrow(/the pinned host key is not a `type base64` line/);
    });
});

describe("dial errors, in words an operator acts on", () => {
    it.each([
        [{ message: "x", code: "ECONNREFUSED" }, false, /connection refused: sshd is not listening on port 22/, true],
        [{ message: "Timed out while waiting for handshake" }, false, /no answer: is this machine inside limen:ssh.adminNetworks/, true],
        [{ message: "All configured authentication methods failed", level: "client-authentication" }, false, /the key in limen:sshPrivateKey is not accepted for deploy/, false],
        [{ message: "Handshake failed" }, true, /the host key it presented is not the one pinned in limen:backend.hostKey/, false],
        [{ message: "Cannot parse privateKey: Unsupported key format" }, false, /limen:sshPrivateKey cannot be read/, false],
    ])("%j (host key rejected: %s)", (error, rejected, message, retry) => {
        const described = describeDialError(target, Object.assign(new Error(error.message), error), rejected);
        expect(described.message).toMatch(/^ssh deploy@192\.0\.2\.100:22: /);
        expect(described.message).toMatch(message);
        expect(described.retry).toBe(retry);
    });

    it("a private key ssh2 cannot parse fails at once as an SshError that shows no key material", async () => {
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90LWEta2V5LXNlY3JldC1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n";
        const error = await dial(target, key).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(isSshError(error)).toBe(true);
        expect(error!.message).toMatch(/limen:sshPrivateKey cannot be read/);
        expect(error!.message).not.toContain("bm90LWEta2V5");
    });
});

describe("the connection", () => {
    it("turns Nagle's algorithm off before dialling (each exec's small packets would wait for a delayed ACK)", async () => {
        const net = await import("node:net");
        // A listener that hangs up at once: the dial fails, but only after the socket was set up.
        const server = net.createServer((socket) => socket.destroy());
        await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
        const port = (server.address() as import("node:net").AddressInfo).port;
        const setNoDelay = vi.spyOn(net.Socket.prototype, "setNoDelay");
        try {
            // Node's own key generator: ssh2's generateKeyPairSync("ed25519") makes a key its own parser
            // refuses about once in 256 (it strips a leading zero byte of the public key,
            // https://github.com/mscdex/ssh2/issues/1390), and this test then failed before any socket existed.
            const { generateKeyPairSync } = await import("node:crypto");
            const key = generateKeyPairSync("ec", {
                namedCurve: "P-256",
                privateKeyEncoding: { type: "sec1", format: "pem" },
                publicKeyEncoding: { type: "spki", format: "pem" },
            }).privateKey;
            const error = await dial({ ...target, address: "127.0.0.1", port, connectAttempts: 1 }, key).then(
                () => undefined,
                (e: Error) => e,
            );
            expect(isSshError(error)).toBe(true);
            expect(setNoDelay).toHaveBeenCalledWith(true);
        } finally {
            setNoDelay.mockRestore();
            server.close();
        }
    });
});
