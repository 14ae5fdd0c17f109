/**
 * Safe under faults, measured on the lab machines: a firewall change that cuts SSH reverts by itself,
 * re-applying rules opens no window, a Docker-style DNAT does not bypass the firewall, a broken file
 * changes nothing, a cut SSH session or a reboot leaves working hosts, a slow sshd is waited for, a
 * changed host key is refused, two `pulumi up` do not interleave, secrets
 * stay out of state and logs, and bad configs never reach a host. Runs after 1-cycle.test.ts.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it } from "vitest";
import { hostToolPath } from "../../core/host-paths";
import { shellWord } from "../../core/shell";
import { FileInstall, installFileCall } from "../../hostio/host-tool";
import { invalidConfigs } from "../../test/support/invalid-configs";
import { configureLabStack, engineEnv, LabHosts, labConfig, openLabStack, pulumiBinary, readLabHosts, recordFigure, repoRoot, writeLabConfig } from "../stack";
import { background, inNamespace, labResourceCount, moveAgentFixture, onHost, onHostOk, pm2Status, tcpOpen, tcpOpensWithin } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const quiet = { color: "never" as const, onOutput: () => undefined };

const exec = path.join(repoRoot, "lab", "hosts", "exec.sh");

function sshLogins(host: "frontend" | "backend", sinceEpoch: number): number {
    return Number(onHostOk(host, `journalctl -u ssh.service --since @${sinceEpoch} --no-pager -o cat | grep -c 'Accepted publickey' || true`).trim());
}

async function converged(): Promise<void> {
    await configureLabStack(hosts);
    const result = await stack.up(quiet);
    expect(result.summary.result).toBe("succeeded");
}

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await converged();
}, 300_000);

describe("bad input never reaches a host", () => {
    it(`each of the ${invalidConfigs.length} invalid configs is refused naming its key, and no command reaches a host`, async () => {
        const since = Math.floor(Date.now() / 1000);
        const base = labConfig(hosts);
        let refused = 0;
        for (const invalid of invalidConfigs) {
            writeLabConfig(invalid.breakIt(base));
            const error = await stack.up(quiet).then(
                () => undefined,
                (e: Error) => e.message,
            );
            const shortKey = `'${invalid.key.replace(/^limen:/, "")}'`;
            expect(error, invalid.name).toBeDefined();
            expect(error!.includes(invalid.key) || error!.includes(shortKey), `${invalid.name}: ${error}`).toBe(true);
            refused++;
        }
        expect(sshLogins("frontend", since) + sshLogins("backend", since)).toBe(0);
        recordFigure("bad configs refused (0 SSH sessions opened)", `${refused} of ${invalidConfigs.length}`);
        await configureLabStack(hosts);
    }, 600_000);
});

describe("firewall changes cannot lock anyone out", () => {
    it("a change that cuts the operator's SSH is restored by the hosts themselves; the next good `up` converges", async () => {
        // Only the outsider may SSH: the operator (and so this deployment) is cut off.
        await configureLabStack(hosts, { adminNetworks: [`${hosts.hosts.outsider.ipv4}/32`] });
        const error = await stack.up(quiet).then(
            () => "",
            (e: Error) => e.message,
        );
        const failedAt = Date.now();
        expect(error).toMatch(/the new ruleset of table inet limen_firewall was not confirmed over a new SSH connection, so the host restores the previous one/);
        expect(error).toMatch(new RegExp(`${hosts.hosts.backend.ipv4.replace(/\./g, "\\.")}|${hosts.hosts.frontend.ipv4.replace(/\./g, "\\.")}`));
        let restoredAfter = -1;
        for (let waited = 0; waited < 60_000; waited += 500) {
            if (tcpOpen(hosts.operator.namespace, hosts.hosts.backend.ipv4, 22) && tcpOpen(hosts.operator.namespace, hosts.hosts.frontend.ipv4, 22)) {
                restoredAfter = Date.now() - failedAt;
                break;
            }
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
        expect(restoredAfter).toBeGreaterThanOrEqual(0);
        expect(onHostOk("backend", "cat /var/lib/limen/firewall/reverts.log")).toMatch(/restored the previous ruleset/);
        recordFigure("lockout: SSH back by itself after", `${(restoredAfter / 1000).toFixed(1)} s after \`pulumi up\` failed (revert armed for 20 s)`);
        await converged();
        expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.backend.ipv4, 18443)).toBe(false);
    }, 300_000);

    it("an outsider probing 18443 in a tight loop while the rules are re-applied never connects", async () => {
        const backend = hosts.hosts.backend.ipv4;
        // Four loops of connects with a 50 ms limit each: a window of a few milliseconds would be hit.
        const loop = `ok=0; n=0; end=$((SECONDS + 25)); while [ $SECONDS -lt $end ] && [ $n -lt 5000 ]; do n=$((n + 1)); curl -s -o /dev/null --connect-timeout 0.05 http://${backend}:18443/api/health && ok=$((ok + 1)); done; echo "$n $ok"`;
        const loops = [1, 2, 3, 4].map(() => background("ip", ["netns", "exec", hosts.hosts.outsider.namespace, "bash", "-c", loop]));
        for (const publicApiPorts of [[8443], [], [8443], []]) {
            await configureLabStack(hosts, { publicApiPorts });
            // Each run must really re-apply the backend's table, or the probes measure nothing.
            const result = await stack.up(quiet);
            expect(result.summary.resourceChanges).toEqual({ same: labResourceCount - 1, update: 1 });
        }
        const counts = (await Promise.all(loops)).map((out) => out.trim().split(" ").map(Number));
        const probes = counts.reduce((sum, [n]) => sum + (n ?? 0), 0);
        const connects = counts.reduce((sum, [, ok]) => sum + (ok ?? 0), 0);
        expect(probes).toBeGreaterThan(0);
        expect(connects).toBe(0);
        recordFigure("probes of 18443 during 4 re-applies", `${probes} probes, ${connects} connects`);
    }, 300_000);

    it("a Docker-style DNAT in front of 18443 does not open it to the outsider", async () => {
        const backend = hosts.hosts.backend.ipv4;
        // A "container" namespace inside the backend, reached by DNAT and forwarding, as Docker publishes
        // ports; 28443 is published the same way but not guarded, to show the DNAT path itself works.
        // The machine sees /proc/sys read-only; its network namespace is the lab's, so forwarding is set from here.
        expect(inNamespace(hosts.hosts.backend.namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1").status).toBe(0);
        onHostOk(
            "backend",
            [
                "ip netns add ctr",
                "ip link add ctr0 type veth peer name eth0 netns ctr",
                "ip addr add 172.30.0.1/24 dev ctr0 && ip link set ctr0 up",
                "ip netns exec ctr ip addr add 172.30.0.2/24 dev eth0 && ip netns exec ctr ip link set eth0 up && ip netns exec ctr ip link set lo up",
                "ip netns exec ctr ip route add default via 172.30.0.1",
                "nft add table ip dockerlike",
                "nft add chain ip dockerlike prerouting '{ type nat hook prerouting priority dstnat; }'",
                "nft add rule ip dockerlike prerouting tcp dport 18443 dnat to 172.30.0.2:18443",
                "nft add rule ip dockerlike prerouting tcp dport 28443 dnat to 172.30.0.2:18443",
                // Detached from this exec's session, so the "container" outlives it.
                'setsid -f ip netns exec ctr node -e \'require("net").createServer((s) => s.end("ctr")).listen(18443)\' >/dev/null 2>&1',
                "sleep 1",
            ].join(" && "),
        );
        try {
            expect(tcpOpensWithin(hosts.hosts.outsider.namespace, backend, 28443)).toBe(true);
            expect(tcpOpen(hosts.hosts.outsider.namespace, backend, 18443)).toBe(false);
        } finally {
            onHost("backend", "pkill -f 'listen\\(18443\\)'; nft delete table ip dockerlike; ip netns del ctr; ip link del ctr0");
            inNamespace(hosts.hosts.backend.namespace, "sysctl", "-qw", "net.ipv4.ip_forward=0");
        }
    }, 120_000);
});

/** The stack's install-file request (hostio/host-tool.ts) for `file`, on the installed tool's stdin. */
const installRequest = (file: FileInstall) => `printf '%s\\n' ${shellWord(installFileCall(hostToolPath, file).request)} | ${hostToolPath}`;

describe("nothing half-changed", () => {
    it("a file that fails validation leaves the installed file and the running service untouched", () => {
        const ecosystem = "/etc/limen/pm2/ecosystem.config.js";
        const before = onHostOk("frontend", `sha256sum ${ecosystem}`);
        const broken = onHost(
            "frontend",
            installRequest({ path: ecosystem, mode: "0644", owner: "root:root", check: "ecosystem", checkArgs: [], content: "module.exports = {{\n" }),
        );
        expect(broken.status).not.toBe(0);
        expect(broken.stderr).toMatch(/the new ecosystem file is not `module.exports = <JSON with an apps array>;`; the installed one is unchanged/);
        expect(onHostOk("frontend", `sha256sum ${ecosystem}`)).toBe(before);
        const rulesetBefore = onHostOk("backend", "nft list table inet limen_firewall | sha256sum");
        const badRules = onHost(
            "backend",
            installRequest({
                path: "/etc/limen/firewall/limen.nft",
                mode: "0600",
                owner: "root:root",
                check: "nft",
                checkArgs: [],
                content: "table inet limen_firewall { chain input { tcp dport @nope accept; } }\n",
            }),
        );
        expect(badRules.stderr).toMatch(/nft rejected the new ruleset; the installed one is unchanged/);
        expect(badRules.status).not.toBe(0);
        expect(onHostOk("backend", "nft list table inet limen_firewall | sha256sum")).toBe(rulesetBefore);
        expect(onHostOk("frontend", "find /etc/limen /srv/limen-frontend -maxdepth 2 -name '.limen-??????.*'").trim()).toBe("");
        expect(pm2Status()).toEqual({ "limen-frontend": "online", "darc-kr": "online" });
    });

    it("SSH cut in the middle of `pulumi up`: the next `pulumi up` converges, with no partial file", async () => {
        moveAgentFixture(9100);
        await configureLabStack(hosts, { agentPort: 9100, extraEnv: { CUT: "1" } });
        const cutter = background(exec, ["frontend", "sh", "-c", "sleep 0.3; for i in $(seq 20); do pkill -f 'sshd: deploy' ; sleep 0.1; done; true"]);
        const cutterBackend = background(exec, ["backend", "sh", "-c", "sleep 0.3; for i in $(seq 20); do pkill -f 'sshd: deploy' ; sleep 0.1; done; true"]);
        await stack.up(quiet).catch(() => undefined);
        await Promise.all([cutter, cutterBackend]);
        const result = await stack.up(quiet);
        expect(result.summary.result).toBe("succeeded");
        await stack.preview({ ...quiet, expectNoChanges: true });
        expect(onHostOk("frontend", "find /etc/limen /srv/limen-frontend -maxdepth 2 -name '.limen-??????.*'").trim()).toBe("");
        expect(onHostOk("frontend", "grep -E '^(AGENT_PORT|CUT)=' /srv/limen-frontend/.env.production").trim()).toBe("AGENT_PORT=9100\nCUT=1");
        moveAgentFixture(9000);
        await converged();
    }, 300_000);
});

describe("hosts come back and are waited for", () => {
    it("after a reboot of both machines, the firewall and the pm2 apps are back by themselves", async () => {
        for (const host of ["frontend", "backend"]) {
            const restart = spawnSync(path.join(repoRoot, "lab", "hosts", "restart.sh"), [host], { encoding: "utf8" });
            expect(restart.status, `${restart.stdout}${restart.stderr}`).toBe(0);
        }
        let status: Record<string, string> = {};
        for (let waited = 0; waited < 60_000; waited += 1000) {
            status = onHost("frontend", "true").status === 0 ? pm2Status() : {};
            if (status["limen-frontend"] === "online" && status["darc-kr"] === "online") break;
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        expect(status).toEqual({ "limen-frontend": "online", "darc-kr": "online" });
        for (const host of ["frontend", "backend"] as const) expect(onHost(host, "nft list table inet limen_firewall").status, host).toBe(0);
        expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.backend.ipv4, 18443)).toBe(false);
        expect(tcpOpen(hosts.hosts.frontend.namespace, hosts.hosts.backend.ipv4, 18443)).toBe(true);
        await stack.preview({ ...quiet, expectNoChanges: true });
    }, 300_000);

    it("sshd slow to come up: `pulumi up` waits for it instead of failing", async () => {
        onHostOk("backend", "systemctl stop ssh.service ssh.socket 2>/dev/null; (sleep 8; systemctl start ssh.service) >/dev/null 2>&1 &");
        await configureLabStack(hosts, { publicApiPorts: [8443] });
        const started = Date.now();
        const result = await stack.up(quiet);
        expect(result.summary.result).toBe("succeeded");
        expect(Date.now() - started).toBeGreaterThan(7000);
        await converged();
    }, 300_000);

    it("a host key that changed: `pulumi up` refuses, naming the host", async () => {
        onHostOk(
            "backend",
            "cp -a /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub /root/ && rm /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh.service",
        );
        try {
            await configureLabStack(hosts, { publicApiPorts: [8443] });
            const error = await stack.up(quiet).then(
                () => "",
                (e: Error) => e.message,
            );
            expect(error).toMatch(new RegExp(`${hosts.hosts.backend.ipv4.replace(/\./g, "\\.")}:22.*host key`, "s"));
            // Nothing changed on the backend: its public_ports set is still empty.
            expect(onHostOk("backend", "nft list set inet limen_firewall public_ports")).not.toMatch(/elements/);
        } finally {
            onHostOk("backend", "cp -a /root/ssh_host_ed25519_key /root/ssh_host_ed25519_key.pub /etc/ssh/ && systemctl restart ssh.service");
        }
        await converged();
    }, 300_000);

    it("two `pulumi up` at once: they never run together, one that cannot run stops cleanly on the lock; the hosts are intact", async () => {
        await configureLabStack(hosts, { extraEnv: { RACE: "1" } });
        const env = { ...process.env, ...engineEnv() };
        const runOnce = () =>
            new Promise<string>((resolve) => {
                const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "lab", "up-once.ts")], { env, cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] });
                let out = "";
                child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
                child.on("close", () => resolve(out.trim()));
            });
        const outcomes = await Promise.all([runOnce(), runOnce()]);
        // The file backend's lock: each run writes its lock, then looks for others. Usually one runs
        // and the other stops; when both start in the same instant both may stop. Never both run.
        expect(outcomes.filter((o) => o === "succeeded").length).toBeLessThanOrEqual(1);
        for (const outcome of outcomes.filter((o) => o !== "succeeded")) expect(outcome).toMatch(/locked/);
        recordFigure("two `pulumi up` at once", outcomes.map((o) => (o === "succeeded" ? "ran" : "stopped on the lock")).join(", "));
        await stack.up(quiet);
        await stack.preview({ ...quiet, expectNoChanges: true });
        expect(pm2Status()).toEqual({ "limen-frontend": "online", "darc-kr": "online" });
        await converged();
    }, 300_000);
});

describe("secrets stay secret", () => {
    it("no plaintext private key in `pulumi stack export`, in the engine's output or in any command's recorded output", async () => {
        const keyBody = readKeyBody();
        let engineOutput = "";
        await configureLabStack(hosts, { extraEnv: { SECRETS_CHECK: "1" } });
        await stack.up({ color: "never", onOutput: (line) => (engineOutput += line) });
        // The CLI's own `pulumi stack export` (the Automation API's exportStack adds --show-secrets).
        const exported = execFileSync(pulumiBinary(), ["stack", "export", "--stack", "lab"], {
            cwd: repoRoot,
            env: { ...process.env, ...engineEnv() },
            encoding: "utf8",
        });
        expect(exported.length).toBeGreaterThan(1000);
        expect(exported).not.toContain(keyBody);
        expect(engineOutput).not.toContain(keyBody);
        expect(exported).toContain("ciphertext");
        expect(onHostOk("frontend", "stat -c '%a' /srv/limen-frontend/.env.production").trim()).toBe("600");
        await converged();
    }, 300_000);
});

function readKeyBody(): string {
    // A line from the middle of the key: present in any plaintext copy, absent from ciphertext.
    const lines = readFileSync(hosts.deployPrivateKeyPath, "utf8").trim().split("\n");
    return lines[Math.floor(lines.length / 2)] ?? "";
}
