/**
 * The lab, end to end: the real engine converges blank Debian machines, and every claim is measured
 * from outside (connects, HTTP, files and processes on the hosts). The steps build on each other and
 * run in order; lab/run.sh boots fresh machines first.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, openLabStack, readLabHosts, runPulumiCli } from "../stack";
import { inNamespace, labResourceCount, moveAgentFixture, onHost, onHostOk, pm2Status, tcpOpen } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const changes = (summary: { resourceChanges?: Record<string, number> }) => summary.resourceChanges ?? {};
const quiet = { color: "never" as const };
const resourceCount = labResourceCount;

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await configureLabStack(hosts);
    // Things the stack does not own, placed first: destroy must leave them alone.
    onHostOk("backend", "nft add table inet foreign_test && nft add chain inet foreign_test keep '{ type filter hook input priority 10; policy accept; }'");
    onHostOk("frontend", "mkdir -p /etc/limen && echo 'not the stack s' > /etc/limen/foreign.txt");
}, 120_000);

describe("1. converge from blank hosts", () => {
    it("creates every resource of both hosts", async () => {
        const result = await stack.up({ ...quiet, onOutput: () => undefined });
        expect(result.summary.result).toBe("succeeded");
        expect(changes(result.summary)).toEqual({ create: resourceCount });
    }, 300_000);
});

describe("2. idempotence", () => {
    it("a second `pulumi up` changes nothing", async () => {
        const result = await stack.up({ ...quiet, onOutput: () => undefined });
        expect(changes(result.summary)).toEqual({ same: resourceCount });
    }, 300_000);

    it("`pulumi preview --expect-no-changes` passes", async () => {
        const result = await stack.preview({ ...quiet, expectNoChanges: true, onOutput: () => undefined });
        expect(result.changeSummary).toEqual({ same: resourceCount });
    }, 300_000);

    it("the plain CLI, starting index.ts through the language host as prod does, sees the same stack: `pulumi up` changes nothing", () => {
        // package.json's main (launch/program.cjs → index.ts) against the lab's config: nothing of prod's
        // addresses is built in, and the bundle registers what the lab's in-process program registered.
        const output = runPulumiCli(["up", "--yes", "--skip-preview"]);
        expect(output).toMatch(new RegExp(`^\\s+${resourceCount} unchanged$`, "m"));
        expect(output).not.toMatch(/^\s+[~+-] /m);
        expect(runPulumiCli(["preview", "--expect-no-changes"])).toMatch(new RegExp(`^\\s+${resourceCount} unchanged$`, "m"));
    }, 300_000);
});

describe("3. reachability, measured with real connections", () => {
    const backendAddresses = () => [hosts.hosts.backend.ipv4, hosts.hosts.backend.ipv6];
    const frontendAddresses = () => [hosts.hosts.frontend.ipv4, hosts.hosts.frontend.ipv6];

    it.each([18443, 9000])("frontend → backend %i is open over IPv4 and IPv6", (port) => {
        for (const address of backendAddresses()) expect(tcpOpen(hosts.hosts.frontend.namespace, address, port), address).toBe(true);
    });

    it.each([18443, 9000])("outsider → backend %i is closed over IPv4 and IPv6", (port) => {
        for (const address of backendAddresses()) expect(tcpOpen(hosts.hosts.outsider.namespace, address, port), address).toBe(false);
    });

    it.each([9444, 9445])("outsider → frontend %i is closed over IPv4 and IPv6", (port) => {
        for (const address of frontendAddresses()) expect(tcpOpen(hosts.hosts.outsider.namespace, address, port), address).toBe(false);
    });

    it("operator → SSH on both hosts is open; outsider → SSH is closed", () => {
        for (const host of [hosts.hosts.frontend, hosts.hosts.backend]) {
            for (const address of [host.ipv4, host.ipv6]) {
                expect(tcpOpen(hosts.operator.namespace, address, 22), `operator → ${address}`).toBe(true);
                expect(tcpOpen(hosts.hosts.outsider.namespace, address, 22), `outsider → ${address}`).toBe(false);
            }
        }
    });
});

describe("4. the frontend host", () => {
    it(".env.production holds exactly the seed's four keys, 0600, owned by the app user", () => {
        expect(onHostOk("frontend", "stat -c '%a %U:%G' /srv/limen-frontend/.env.production").trim()).toBe("600 limen:limen");
        const lines = onHostOk("frontend", "grep -v '^#' /srv/limen-frontend/.env.production").trim().split("\n");
        expect(lines).toEqual([`BACKEND_HOST=${hosts.hosts.backend.ipv4}`, "BACKEND_PORT=18443", `AGENT_HOST=${hosts.hosts.backend.ipv4}`, "AGENT_PORT=9000"]);
    });

    it("pm2 runs limen-frontend and the darc.kr app, online", () => {
        expect(pm2Status()).toEqual({ "limen-frontend": "online", "darc-kr": "online" });
    });

    it("9444 and 9445 listen on 127.0.0.1 only", () => {
        const listening = onHostOk("frontend", "ss -Hltn '( sport = :9444 or sport = :9445 )' | awk '{print $4}' | sort").trim().split("\n");
        expect(listening).toEqual(["127.0.0.1:9444", "127.0.0.1:9445"]);
    });
});

describe("5. the seed's session flow through the real middleware", () => {
    let cookie = "";

    it("POST /api/auth/session returns Set-Cookie to the client", () => {
        const response = onHostOk("frontend", "curl -s -i -X POST http://127.0.0.1:9444/api/auth/session");
        const setCookie = response.match(/^set-cookie: ([^;\r\n]+)/im);
        expect(setCookie?.[1]).toMatch(/^limen_session=\w+/);
        cookie = setCookie![1]!;
    });

    it("GET with that cookie says valid; without it, not valid", () => {
        expect(JSON.parse(onHostOk("frontend", `curl -s -H 'Cookie: ${cookie}' http://127.0.0.1:9444/api/auth/session`))).toEqual({ valid: true });
        expect(JSON.parse(onHostOk("frontend", "curl -s http://127.0.0.1:9444/api/auth/session"))).toEqual({ valid: false });
    });

    it("the runbook's checks: backend health from the frontend, Proxy lines in pm2 logs", () => {
        const health = inNamespace(hosts.hosts.frontend.namespace, "curl", "-s", "-m", "5", `http://${hosts.hosts.backend.ipv4}:18443/api/health`);
        expect(JSON.parse(health.stdout)).toEqual({ status: "ok" });
        const logs = onHostOk("frontend", "su - limen -c 'pm2 logs limen-frontend --nostream --lines 100' | grep -E 'Proxy.*session'");
        expect(logs).toMatch(new RegExp(`Proxy POST /api/auth/session -> http://${hosts.hosts.backend.ipv4.replace(/\./g, "\\.")}:18443/api/auth/session session`));
    });
});

describe("6. a config change updates only what depends on it", () => {
    it("AGENT_PORT 9000 → 9100: the env file, the apps that load it and the backend firewall update, and it is live", async () => {
        moveAgentFixture(9100);
        await configureLabStack(hosts, { agentPort: 9100 });
        const result = await stack.up({ ...quiet, onOutput: () => undefined });
        expect(changes(result.summary)).toEqual({ same: resourceCount - 3, update: 3 });
        expect(onHostOk("frontend", "grep AGENT_PORT /srv/limen-frontend/.env.production").trim()).toBe("AGENT_PORT=9100");
        expect(tcpOpen(hosts.hosts.frontend.namespace, hosts.hosts.backend.ipv4, 9100)).toBe(true);
        expect(tcpOpen(hosts.hosts.outsider.namespace, hosts.hosts.backend.ipv4, 9100)).toBe(false);
        expect(pm2Status()).toEqual({ "limen-frontend": "online", "darc-kr": "online" });
        // Back where the later tests' default config (AGENT_PORT=9000) has it.
        moveAgentFixture(9000);
    }, 300_000);
});

describe("7. destroy removes what the stack put there, and nothing else", () => {
    it("its table, files, apps and Envoy's container go; Docker, its image cache, the foreign table and file stay", async () => {
        // The apps' release keeps no copy of its files on the host (.env.production's secrets among them): the
        // previous version is in the stack's state. The record of what the apps loaded, and the front door's
        // copies, go with destroy.
        const gateCopies = "ls -A /var/lib/limen/pm2 /var/lib/limen/envoy 2>/dev/null | grep -E '^(good|pending|loaded|envoy-good|envoy-pending)' || true";
        expect(onHostOk("frontend", gateCopies).trim().split("\n")).toEqual(expect.arrayContaining(["loaded-limen.sha256"]));
        expect(onHostOk("frontend", gateCopies)).not.toMatch(/^(good|pending)-/m);
        const result = await stack.destroy({ ...quiet, onOutput: () => undefined });
        expect(changes(result.summary)).toEqual({ delete: resourceCount });
        // No copy of a secret stays behind.
        expect(onHostOk("frontend", gateCopies).trim()).toBe("");
        for (const host of ["frontend", "backend"] as const) {
            expect(onHost(host, "nft list table inet limen_firewall").status, host).not.toBe(0);
            expect(onHost(host, "test -e /etc/systemd/system/limen-firewall.service -o -e /etc/limen/firewall/limen.nft -o -e /usr/local/libexec/limen").status, host).not.toBe(0);
        }
        expect(onHost("frontend", "test -e /srv/limen-frontend/.env.production -o -e /etc/limen/pm2/ecosystem.config.js").status).not.toBe(0);
        // Asking pm2 would start a new daemon; look at what it left instead.
        expect(onHostOk("frontend", "ss -Hltn '( sport = :9444 or sport = :9445 )'").trim()).toBe("");
        expect(onHost("frontend", "test -e /etc/systemd/system/pm2-limen.service").status).not.toBe(0);
        expect(JSON.parse(onHostOk("frontend", "cat /home/limen/.pm2/dump.pm2"))).toEqual([]);
        expect(onHostOk("backend", "nft list tables")).toContain("table inet foreign_test");
        expect(onHostOk("frontend", "cat /etc/limen/foreign.txt").trim()).toBe("not the stack s");
        // The container and its bootstrap go; the daemon runs on and keeps the pulled image (keepLocally).
        expect(onHost("frontend", "docker inspect limen-envoy").status).not.toBe(0);
        expect(onHost("frontend", "test -e /etc/limen/envoy/envoy.yaml").status).not.toBe(0);
        // The release's admin socket directories go with it, and no candidate or standby is left.
        expect(onHost("frontend", "test -e /var/lib/limen/envoy/admin").status).not.toBe(0);
        expect(onHostOk("frontend", "docker ps -a --format '{{.Names}}'").trim()).toBe("");
        expect(onHostOk("frontend", "systemctl is-active docker").trim()).toBe("active");
        expect(onHost("frontend", `docker image inspect ${hosts.envoyImage}`).status).toBe(0);
    }, 300_000);
});
