import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentKeyLifetimeSeconds, knownHostsLine, loadIntoAgent, setAgentLoader, sshAgentMaterial } from "../../hostio/ssh-material";

/**
 * hostio/ssh-material.ts with the real ssh-agent: the Docker provider's key lives only in the stack's
 * agent, which outlives the program (refresh, destroy and an update's deletes run the provider without
 * it); only public files are written.
 */
describe("the Docker provider's SSH material, held by the stack's ssh-agent", () => {
    let runtime: string;
    let privateKey: string;
    let publicKey: string;
    const saved = process.env.XDG_RUNTIME_DIR;
    const pin = { address: "192.0.2.10", port: 2222, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests" };
    const agentKeys = (socket: string) => spawnSync("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: socket }, encoding: "utf8" });

    beforeAll(() => {
        runtime = mkdtempSync(path.join(tmpdir(), "limen-runtime-"));
        process.env.XDG_RUNTIME_DIR = runtime;
        setAgentLoader(loadIntoAgent);
        // A throwaway key, as the stack's limen:sshPrivateKey would be.
        const keyDir = mkdtempSync(path.join(tmpdir(), "limen-key-"));
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "limen-test", "-f", path.join(keyDir, "id")]);
        privateKey = readFileSync(path.join(keyDir, "id"), "utf8");
        publicKey = readFileSync(path.join(keyDir, "id.pub"), "utf8").split(" ").slice(0, 2).join(" ");
        rmSync(keyDir, { recursive: true, force: true });
    });

    afterAll(() => {
        // The agents these tests started: the program leaves its agent running on purpose, a test does not.
        spawnSync("pkill", ["-f", `ssh-agent -a ${runtime}/`]);
        rmSync(runtime, { recursive: true, force: true });
        if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
        else process.env.XDG_RUNTIME_DIR = saved;
    });

    it("loads the key into an agent of its own and writes only public files, in a 0700 directory", () => {
        const material = sshAgentMaterial("docker-test", privateKey, [pin]);
        expect(material.dir).toBe(path.join(runtime, "limen-infra", "docker-test"));
        expect((statSync(material.dir).mode & 0o777).toString(8)).toBe("700");
        expect(readdirSync(material.dir).sort()).toEqual(["agent.sock", "id.pub", "known_hosts"]);
        expect(readFileSync(material.publicKey, "utf8")).toContain(publicKey);
        expect(readFileSync(material.knownHosts, "utf8")).toBe(`[192.0.2.10]:2222 ${pin.hostKey}\n`);
        expect(knownHostsLine("192.0.2.10", 22, pin.hostKey)).toBe(`192.0.2.10 ${pin.hostKey}`);
        // No file in the directory holds the private key.
        for (const file of ["id.pub", "known_hosts"]) expect(readFileSync(path.join(material.dir, file), "utf8")).not.toContain("PRIVATE KEY");
        const listed = agentKeys(material.agentSocket);
        expect(listed.status).toBe(0);
        expect(listed.stdout.trim().split("\n")).toHaveLength(1);
        expect(agentKeyLifetimeSeconds).toBe(3600);
    });

    it("the agent outlives the process that loaded the key, and a second run reuses it with the key once", () => {
        const child = spawnSync(
            process.execPath,
            [
                "--import",
                "tsx",
                "-e",
                `const m = require(${JSON.stringify(path.join(__dirname, "..", "..", "hostio", "ssh-material.ts"))}); ` +
                    `console.log(m.sshAgentMaterial("docker-outlives", require("fs").readFileSync(0, "utf8"), []).agentSocket)`,
            ],
            { env: { ...process.env, XDG_RUNTIME_DIR: runtime }, input: privateKey, encoding: "utf8" },
        );
        expect(child.status, child.stderr).toBe(0);
        const socket = child.stdout.trim();
        // The process has exited; the provider started later still finds the key.
        expect(agentKeys(socket).status).toBe(0);
        sshAgentMaterial("docker-outlives", privateKey, []);
        expect(agentKeys(socket).stdout.trim().split("\n")).toHaveLength(1);
        expect(
            spawnSync("pgrep", ["-f", `ssh-agent -a ${socket}`], { encoding: "utf8" })
                .stdout.trim()
                .split("\n"),
        ).toHaveLength(1);
    });

    it("a socket no agent answers on (a reboot, a killed agent) gets a new agent; a private key file of an earlier version goes", () => {
        const dir = path.join(runtime, "limen-infra", "docker-stale");
        sshAgentMaterial("docker-stale", privateKey, []);
        spawnSync("pkill", ["-f", `ssh-agent -a ${dir}/agent.sock`]);
        expect(agentKeys(path.join(dir, "agent.sock")).status).toBe(2);
        writeFileSync(path.join(dir, "id"), privateKey, { mode: 0o600 });
        const material = sshAgentMaterial("docker-stale", privateKey, []);
        expect(agentKeys(material.agentSocket).status).toBe(0);
        expect(readdirSync(dir).sort()).toEqual(["agent.sock", "id.pub", "known_hosts"]);
    });

    it("a key the agent refuses fails the run, saying so", () => {
        expect(() => sshAgentMaterial("docker-bad", "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n", [])).toThrow(/ssh-add/);
    });
});
