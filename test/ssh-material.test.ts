import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { knownHostsLine, writeSshMaterial } from "../hostio/ssh-material";

/** hostio/ssh-material.ts: the key and known_hosts for the Docker CLI, private and removed at exit. */
describe("SSH material for tools that read files", () => {
    const runtime = mkdtempSync(path.join(tmpdir(), "limen-runtime-"));
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = runtime;
    afterAll(() => {
        if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
        else process.env.XDG_RUNTIME_DIR = saved;
    });
    const pin = { address: "192.0.2.10", port: 2222, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests" };

    it("writes the key 0600 and only the pinned host keys, in a 0700 directory, and dispose removes it", () => {
        const material = writeSshMaterial("docker-test", "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----", [pin]);
        expect(material.dir).toBe(path.join(runtime, "limen-infra", "docker-test"));
        expect((statSync(material.dir).mode & 0o777).toString(8)).toBe("700");
        expect((statSync(material.identity).mode & 0o777).toString(8)).toBe("600");
        expect(readFileSync(material.identity, "utf8").endsWith("\n")).toBe(true);
        expect(readFileSync(material.knownHosts, "utf8")).toBe(`[192.0.2.10]:2222 ${pin.hostKey}\n`);
        expect(knownHostsLine("192.0.2.10", 22, pin.hostKey)).toBe(`192.0.2.10 ${pin.hostKey}`);
        material.dispose();
        expect(existsSync(material.dir)).toBe(false);
    });

    it("many writes in one process add one exit listener, which removes every directory written", () => {
        const before = process.listenerCount("exit");
        const materials = Array.from({ length: 12 }, (_unused, i) => writeSshMaterial(`docker-many-${i % 3}`, "key", [pin]));
        expect(process.listenerCount("exit") - before).toBeLessThanOrEqual(1);
        for (const material of materials) material.dispose();
        expect(process.listenerCount("exit")).toBe(before);
        // A process that writes and exits without disposing leaves nothing behind.
        const child = spawnSync(
            process.execPath,
            [
                "--import",
                "tsx",
                "-e",
                `const m = require(${JSON.stringify(path.join(__dirname, "..", "hostio", "ssh-material.ts"))}).writeSshMaterial("docker-exit", "key", []); console.log(require("fs").existsSync(m.identity))`,
            ],
            {
                env: { ...process.env, XDG_RUNTIME_DIR: runtime },
                encoding: "utf8",
            },
        );
        expect(child.status, child.stderr).toBe(0);
        expect(child.stdout.trim()).toBe("true");
        expect(existsSync(path.join(runtime, "limen-infra", "docker-exit"))).toBe(false);
    });
});
