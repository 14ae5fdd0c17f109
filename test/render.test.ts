import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import { backendFirewallSpec, frontendFirewallSpec } from "../plan/firewall";
import { envFileSpec } from "../plan/files";
import { envoySpec } from "../plan/envoy";
import { pm2Spec } from "../plan/pm2";
import { renderEnvFile } from "../render/env-file";
import { envoyClusterNames, renderEnvoy } from "../render/envoy";
import { renderFirewall } from "../render/firewall";
import { renderEcosystem } from "../render/pm2";
import { otherRawConfig, prodRawConfig, withOverride } from "./support/fixtures";

const prod = parseConfig(prodRawConfig());
const other = parseConfig(otherRawConfig());
/** Pulumi.prod.yaml with the certificates certbot keeps in live/ named as host files, as before the acme source. */
const prodHostFiles = parseConfig(
    withOverride(
        prodRawConfig(),
        "tls",
        JSON.stringify({ source: "host-files", certificateChainPath: "/etc/letsencrypt/live/limen/fullchain.pem", privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" }),
    ),
);

function scratch(name: string, text: string): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "limen-render-")), name);
    writeFileSync(file, text);
    return file;
}

/** `nft -c -f` in a fresh network namespace: the real parser and kernel checks, no effect on this host. */
function nftCheck(ruleset: string): { status: number | null; stderr: string } {
    const result = spawnSync("unshare", ["--net", "nft", "-c", "-f", scratch("ruleset.nft", ruleset)], { encoding: "utf8" });
    return { status: result.status, stderr: result.stderr };
}

/** Applies the ruleset twice in a fresh namespace and lists the table, as a host would after two runs. */
function nftApplyTwice(ruleset: string): string {
    const file = scratch("ruleset.nft", ruleset);
    return execFileSync("unshare", ["--net", "sh", "-c", `nft -f ${file} && nft -f ${file} && nft list table inet limen_firewall`], { encoding: "utf8" });
}

describe("nftables rulesets, judged by nft", () => {
    it.each([
        ["backend", prod, backendFirewallSpec],
        ["frontend", prod, frontendFirewallSpec],
        ["backend (IPv6, public port)", other, backendFirewallSpec],
        ["frontend (IPv6 admin)", other, frontendFirewallSpec],
    ] as const)("%s passes nft -c and applies on a fresh host and again over itself", (_label, config, spec) => {
        const ruleset = renderFirewall(spec(config));
        expect(nftCheck(ruleset)).toMatchObject({ status: 0, stderr: "" });
        const listed = nftApplyTwice(ruleset);
        expect(listed).toContain("hook prerouting priority mangle; policy accept;");
        expect(listed).toContain("hook input priority filter; policy drop;");
    });

    it("nft rejects a broken ruleset (the check can fail)", () => {
        const broken = renderFirewall(backendFirewallSpec(prod)).replace("tcp dport @public_ports accept", "tcp dport @no_such_set accept");
        const result = nftCheck(broken);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(/no_such_set/);
    });

    it("the backend keeps 18443 and 9000 to the frontend, on IPv4 and IPv6, before NAT and at input", () => {
        const listed = nftApplyTwice(renderFirewall(backendFirewallSpec(other)));
        expect(listed).toMatch(/set internal_ports \{[^}]*elements = \{ 9100, 18443 \}/s);
        expect(listed).toMatch(/set internal_clients_v4 \{[^}]*elements = \{ 192\.0\.2\.10 \}/s);
        expect(listed).toMatch(/set internal_clients_v6 \{[^}]*elements = \{ 2001:db8::10 \}/s);
        const prerouting = listed.slice(listed.indexOf("chain prerouting"), listed.indexOf("chain input"));
        expect(prerouting).toMatch(/tcp dport @guarded_ports counter packets \d+ bytes \d+ drop/);
        expect(prerouting.indexOf("ip saddr @internal_clients_v4 accept")).toBeLessThan(prerouting.indexOf("@guarded_ports"));
        expect(listed).toMatch(/set public_ports \{[^}]*elements = \{ 8443 \}/s);
    });

    it("the frontend opens 80/443, guards 9444/9445, Envoy's admin port and certbot's responder, and SSH only from admin networks", () => {
        const ruleset = renderFirewall(frontendFirewallSpec(prod));
        const listed = nftApplyTwice(ruleset);
        expect(listed).toMatch(/set public_ports \{[^}]*elements = \{ 80, 443 \}/s);
        expect(listed).toMatch(/set guarded_ports \{[^}]*elements = \{ 8402, 9444, 9445, 9901 \}/s);
        expect(listed).toMatch(/set admin_v4 \{[^}]*elements = \{ 10\.0\.0\.0\/24 \}/s);
        expect(listed).toMatch(/tcp dport 22 ip saddr @admin_v4 accept/);
        expect(ruleset).not.toMatch(/flush ruleset/);
    });
});

// Whether Envoy loads the rendered bootstrap is judged by Envoy's own validators in
// test/envoy-api.test.ts (tools/envoy-check); these tests read what the render says.
describe("Envoy bootstrap, as rendered", () => {
    it("pins the backend cluster to the internal address and port, written into the file", () => {
        const text = renderEnvoy(envoySpec(prod));
        const bootstrap = parse(text);
        const backend = bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === envoyClusterNames.backend);
        expect(backend.type).toBe("STATIC");
        expect(backend.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: "10.0.0.100", port_value: 18443 });
        expect(text).not.toMatch(/\$\{|environment_variable|envoy\.resource_monitors\.env/);
    });

    it("routes LIMEN domains to 127.0.0.1:9444, darc.kr to 127.0.0.1:9445, configured prefixes to the backend", () => {
        const bootstrap = parse(renderEnvoy(envoySpec(other)));
        const [http, https] = bootstrap.static_resources.listeners;
        const hosts = https.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts;
        expect(hosts.map((h: { name: string; domains: string[] }) => [h.name, h.domains])).toEqual([
            ["limen", ["limen.example.org"]],
            ["darc", ["darc.example.org"]],
        ]);
        expect(hosts[0].routes.map((r: { match: { prefix: string }; route: { cluster: string } }) => [r.match.prefix, r.route.cluster])).toEqual([
            ["/api/agent", "limen_backend"],
            ["/", "limen_nextjs"],
        ]);
        const addressOf = (name: string) =>
            bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === name).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
        expect(addressOf("limen_nextjs")).toEqual({ address: "127.0.0.1", port_value: 9444 });
        expect(addressOf("darc_site")).toEqual({ address: "127.0.0.1", port_value: 9445 });
        expect(http.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].redirect).toEqual({ https_redirect: true });
    });

    it("follows the edge-proxy hardening guide and keeps admin on 127.0.0.1; host files are named in the bootstrap", () => {
        const bootstrap = parse(renderEnvoy(envoySpec(prodHostFiles)));
        expect(bootstrap.admin.address.socket_address.address).toBe("127.0.0.1");
        for (const listener of bootstrap.static_resources.listeners) {
            const manager = listener.filter_chains[0].filters[0].typed_config;
            expect(manager.use_remote_address).toBe(true);
            expect(manager.common_http_protocol_options.headers_with_underscores_action).toBe("REJECT_REQUEST");
            expect(manager.request_timeout).toBe("300s");
            expect(manager.stream_idle_timeout).toBe("300s");
            expect(listener.per_connection_buffer_limit_bytes).toBe(32768);
        }
        for (const cluster of bootstrap.static_resources.clusters) expect(cluster.per_connection_buffer_limit_bytes).toBe(32768);
        const tls = bootstrap.static_resources.listeners[1].filter_chains[0].transport_socket.typed_config.common_tls_context;
        expect(tls.tls_params.tls_minimum_protocol_version).toBe("TLSv1_2");
        expect(tls.tls_certificates[0]).toEqual({
            certificate_chain: { filename: "/etc/letsencrypt/live/limen/fullchain.pem" },
            private_key: { filename: "/etc/letsencrypt/live/limen/privkey.pem" },
        });
    });

    it("keeps the hardening and TLS settings on every https chain when certificates come through SDS", () => {
        const certificates = [
            { name: "limen", serverNames: ["limen.darc.kr"], sdsPath: "/etc/limen/envoy/sds/limen.yaml" },
            { name: "darc", serverNames: ["darc.kr", "www.darc.kr"], sdsPath: "/etc/limen/envoy/sds/darc.yaml" },
        ];
        const bootstrap = parse(renderEnvoy({ ...envoySpec(prod), tls: { mode: "sds", certificates }, acmeChallenge: { address: "127.0.0.1", port: 8555 } }));
        const https = bootstrap.static_resources.listeners[1];
        const chains = [...https.filter_chains, https.default_filter_chain];
        expect(chains).toHaveLength(3);
        for (const chain of chains) {
            const manager = chain.filters[0].typed_config;
            expect(manager.use_remote_address).toBe(true);
            expect(manager.common_http_protocol_options.headers_with_underscores_action).toBe("REJECT_REQUEST");
            expect(manager.request_timeout).toBe("300s");
            expect(manager.route_config.name).toBe("sites");
            const tls = chain.transport_socket.typed_config.common_tls_context;
            expect(tls.tls_params.tls_minimum_protocol_version).toBe("TLSv1_2");
            expect(tls.alpn_protocols).toEqual(["h2", "http/1.1"]);
            expect(tls.tls_certificates).toBeUndefined();
        }
        expect(https.per_connection_buffer_limit_bytes).toBe(32768);
        for (const cluster of bootstrap.static_resources.clusters) expect(cluster.per_connection_buffer_limit_bytes).toBe(32768);
    });
});

describe("pm2 ecosystem, loaded by pm2 itself", () => {
    function loadWithPm2(text: string) {
        const file = scratch("ecosystem.config.js", text);
        const script = `
            const Common = require("pm2/lib/Common");
            const conf = require(process.argv[1]);
            const verified = Common.verifyConfs(conf.apps);
            // pm2 returns (not throws) an Error for a config it refuses.
            if (verified instanceof Error) { console.error(verified.message); process.exit(1); }
            process.stdout.write(JSON.stringify(verified));`;
        return JSON.parse(execFileSync(process.execPath, ["-e", script, file], { encoding: "utf8", cwd: path.join(__dirname, "..") }));
    }

    it("declares limen-frontend and the darc.kr app on 127.0.0.1:9444 and :9445", () => {
        const apps = loadWithPm2(renderEcosystem(pm2Spec(prod)));
        expect(apps.map((a: { name: string; args: string[]; cwd: string }) => [a.name, a.cwd, a.args])).toEqual([
            ["limen-frontend", "/srv/limen-frontend", ["start", "-H", "127.0.0.1", "-p", "9444"]],
            ["darc-kr", "/srv/darc-kr", ["start", "-H", "127.0.0.1", "-p", "9445"]],
        ]);
        expect(apps[0].env).toMatchObject({ HOSTNAME: "127.0.0.1", PORT: "9444" });
        expect(JSON.stringify(apps)).not.toMatch(/BACKEND|NEXT_PUBLIC/);
        expect(apps[0]).toMatchObject({ autorestart: true, max_restarts: 10, restart_delay: 2000, kill_timeout: 5000, instances: 2 });
        // pm2's own spelling once it has read the file: cluster mode is what makes a reload rolling.
        expect(apps.map((a: { exec_mode: string }) => a.exec_mode)).toEqual(["cluster_mode", "cluster_mode"]);
    });

    it("pm2 rejects a broken ecosystem (the check can fail)", () => {
        const broken = renderEcosystem(pm2Spec(prod)).replace('"name": "darc-kr"', '"name": 42');
        expect(() => loadWithPm2(broken)).toThrow(/Expect "name" to be a typeof/);
    });
});

describe(".env.production, read back by Next.js's own loader", () => {
    /**
     * A fresh Node process with NODE_ENV=production, as `next start` has: @next/env picks its files by
     * NODE_ENV (vitest sets "test") and keeps what it loaded in process.env, so it must not share ours.
     */
    function loadWithNext(text: string): Record<string, string> {
        const dir = path.dirname(scratch(".env.production", text));
        const script = `
            const { loadEnvConfig } = require("@next/env");
            const { parsedEnv, loadedEnvFiles } = loadEnvConfig(process.argv[1], false, { info() {}, error(e) { throw e; } });
            if (loadedEnvFiles.map((f) => f.path).join() !== ".env.production") throw new Error("loaded " + JSON.stringify(loadedEnvFiles));
            process.stdout.write(JSON.stringify(parsedEnv));`;
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: "production" };
        return JSON.parse(execFileSync(process.execPath, ["-e", script, dir], { encoding: "utf8", env, cwd: path.join(__dirname, "..") }));
    }

    it("delivers exactly the seed's four keys to Next.js", () => {
        expect(loadWithNext(renderEnvFile(envFileSpec(prod)))).toEqual({
            BACKEND_HOST: "10.0.0.100",
            BACKEND_PORT: "18443",
            AGENT_HOST: "10.0.0.100",
            AGENT_PORT: "9000",
        });
    });

    it.each(['p$ss w#rd"x', "$HOME", "${HOME}", "back\\slash", "a\\$b", " spaced ", "#hash", "", "x=y", "üñí"])("extra value %j reaches Next.js unchanged", (value) => {
        const env = loadWithNext(renderEnvFile({ ...envFileSpec(prod), extra: { EXTRA: value } }));
        expect(env.EXTRA).toBe(value);
        expect(Object.keys(env)).toEqual(["BACKEND_HOST", "BACKEND_PORT", "AGENT_HOST", "AGENT_PORT", "EXTRA"]);
    });

    it("never contains NEXT_PUBLIC_BACKEND_URL, even when asked to", () => {
        expect(() => renderEnvFile({ ...envFileSpec(prod), extra: { NEXT_PUBLIC_BACKEND_URL: "/api" } })).toThrow(/never/);
        expect(renderEnvFile(envFileSpec(other))).not.toMatch(/^NEXT_PUBLIC/m);
    });
});
