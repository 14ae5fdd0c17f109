/** verify's hosts (ops/remote.ts): hostio/ssh.ts with the plan's endpoints, nothing on disk. */
import { stepSeconds } from "../../hostio/deadlines";
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runOnHost } from "../../hostio/ssh";
import { SshEndpoint } from "../../plan/hosts";
import { HostRole, PlannedHosts, RunOnHost } from "../../ops/remote";
import { other, otherPlan } from "../support/probe-outputs";

describe("SSH: hostio/ssh.ts with the plan's endpoints, nothing on disk", () => {
    const endpoint = (role: HostRole): SshEndpoint => ({ ...otherPlan[role].ssh });

    it("passes the plan's endpoint, the key and stdin to runOnHost, and returns its result", async () => {
        const calls: unknown[][] = [];
        const runOn: RunOnHost = async (...args) => {
            calls.push(args);
            return { status: 0, stdout: "out", stderr: "" };
        };
        const hosts = new PlannedHosts({ frontend: endpoint("frontend"), backend: endpoint("backend") }, "the key", runOn);
        expect(await hosts.run("backend", "cat", "in")).toEqual({ status: 0, stdout: "out", stderr: "" });
        expect(await hosts.run("frontend", "true")).toEqual({ status: 0, stdout: "out", stderr: "" });
        expect(calls).toEqual([
            [otherPlan.backend.ssh, "the key", "cat", { stdin: "in", deadlineSeconds: stepSeconds.read }],
            [otherPlan.frontend.ssh, "the key", "true", { deadlineSeconds: stepSeconds.read }],
        ]);
    });

    it("an error after the connection is up fails that command only; a hung command times out", async () => {
        let calls = 0;
        const flaky: RunOnHost = async () => {
            calls++;
            if (calls === 1) throw new Error("Channel open failure: open failed");
            return { status: 0, stdout: "fine", stderr: "" };
        };
        const hosts = new PlannedHosts({ frontend: endpoint("frontend"), backend: endpoint("backend") }, "key", flaky);
        expect(await hosts.run("frontend", "true")).toEqual({ status: undefined, stdout: "", stderr: "", failure: "frontend (192.0.2.10): Channel open failure: open failed" });
        expect((await hosts.run("frontend", "true")).stdout).toBe("fine");
        const hung = new PlannedHosts({ frontend: endpoint("frontend"), backend: endpoint("backend") }, "key", () => new Promise(() => undefined), 0.05);
        expect((await hung.run("backend", "nft list ruleset")).failure).toBe("backend (192.0.2.100): the backend did not finish a command within 0.05 s");
    });

    // Port 1 on loopback: refused at once, no packet leaves this machine.
    const local: SshEndpoint = { role: "frontend", address: "127.0.0.1", port: 1, user: "ops", hostKey: other.frontend.hostKey, connectAttempts: 1, connectTimeoutSeconds: 2 };

    /** The real runOnHost, counting its calls. */
    function countingRunOnHost(): { runOn: RunOnHost; dials: () => number } {
        let dials = 0;
        return {
            runOn: (...args) => {
                dials++;
                return runOnHost(...args);
            },
            dials: () => dials,
        };
    }

    it("the real client against a closed local port: refused at once, reported once, never the key", async () => {
        const key = generateKeyPairSync("ec", {
            namedCurve: "P-256",
            privateKeyEncoding: { type: "sec1", format: "pem" },
            publicKeyEncoding: { type: "spki", format: "pem" },
        }).privateKey;
        const counting = countingRunOnHost();
        const hosts = new PlannedHosts({ frontend: local, backend: { ...local, role: "backend" } }, key, counting.runOn);
        const first = await hosts.run("frontend", "true");
        expect(first.failure).toBe("ssh ops@127.0.0.1:1: connection refused: sshd is not listening on port 1");
        expect(await hosts.run("frontend", "true")).toEqual(first);
        expect(counting.dials()).toBe(1);
        expect(JSON.stringify(first)).not.toContain(key.split("\n")[1]!);
    });

    it("a key ssh2 cannot read fails every check of the host with the config key to fix, dialled once", async () => {
        const counting = countingRunOnHost();
        const hosts = new PlannedHosts({ frontend: local, backend: { ...local, role: "backend" } }, other.sshPrivateKey, counting.runOn);
        const first = await hosts.run("frontend", "true");
        expect(first.failure).toBe("ssh ops@127.0.0.1:1: limen:sshPrivateKey cannot be read as an unencrypted private key");
        expect(await hosts.run("frontend", "true")).toEqual(first);
        expect(counting.dials()).toBe(1);
        expect(JSON.stringify(first)).not.toContain("bGFiLW9ubHkgdGVzdCBrZXk=");
    });
});
