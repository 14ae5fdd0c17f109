import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../components/config";
import { fakePrivateKey, otherRawConfig, prodRawConfig, withOverride } from "./support/fixtures";
import { invalidConfigs, toRawConfig, toStructuredConfig } from "./support/invalid-configs";

function problemsOf(raw: Record<string, string>): string[] {
    try {
        parseConfig(raw);
    } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
    }
    return [];
}

const prod = prodRawConfig();
const frontend = JSON.parse(prod["limen:frontend"]!);
const backend = JSON.parse(prod["limen:backend"]!);

describe("the seed's values", () => {
    it("are accepted exactly as Pulumi.prod.yaml states them", () => {
        const config = parseConfig(prod);
        expect(config.frontend.address).toBe("10.0.0.10");
        expect(config.backend).toMatchObject({
            address: "10.0.0.100",
            internalAddress: "10.0.0.100",
            apiPort: 18443,
            agentAddress: "10.0.0.100",
            agentPort: 9000,
            publicApiPorts: [],
            internalClients: ["10.0.0.10"],
        });
        expect(config.envoy).toMatchObject({ httpPort: 80, httpsPort: 443, enabled: true });
        expect(config.apps.limenFrontend).toMatchObject({ name: "limen-frontend", host: "127.0.0.1", port: 9444 });
        expect(config.apps.darc).toMatchObject({ host: "127.0.0.1", port: 9445 });
    });

    it("a second stack on other addresses is accepted too", () => {
        expect(parseConfig(otherRawConfig()).backend.agentPort).toBe(9100);
    });
});

const loopbackSpellings = [
    "localhost",
    "LOCALHOST",
    "localhost.localdomain",
    "ip6-localhost",
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "127.255.255.254",
    "0x7f.0.0.1",
    "0x7f000001",
    "2130706433",
    "017700000001",
    "127.000.000.001",
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "0:0:0:0:0:ffff:7f00:0001",
];
const unspecifiedSpellings = ["0.0.0.0", "0", "::", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0"];

describe("the seed's wrong settings are refused, naming the key", () => {
    it.each(loopbackSpellings)("backend address %s is loopback", (address) => {
        const problems = problemsOf(withOverride(prod, "backend", { address }));
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(/^limen:backend\.address = .*loopback/);
    });

    it.each(loopbackSpellings)("BACKEND_HOST (backend.internalAddress) %s is loopback", (internalAddress) => {
        expect(problemsOf(withOverride(prod, "backend", { internalAddress }))).toEqual([
            expect.stringMatching(/^limen:backend\.internalAddress = .*loopback/),
        ]);
    });

    it.each(loopbackSpellings)("AGENT_HOST (backend.agentAddress) %s is loopback", (agentAddress) => {
        expect(problemsOf(withOverride(prod, "backend", { agentAddress }))).toEqual([
            expect.stringMatching(/^limen:backend\.agentAddress = .*loopback/),
        ]);
    });

    it.each(unspecifiedSpellings)("backend address %s is unspecified", (address) => {
        expect(problemsOf(withOverride(prod, "backend", { address }))).toEqual([expect.stringMatching(/^limen:backend\.address = .*unspecified/)]);
    });

    it("the external port where the internal one belongs", () => {
        const problems = problemsOf(withOverride(prod, "backend", { apiPort: 8443, publicApiPorts: [8443] }));
        expect(problems).toEqual([expect.stringMatching(/^limen:backend\.apiPort = 8443: .*internal port/)]);
    });

    it.each([18443, 9000])("a public API port that is an internal one (%i)", (publicPort) => {
        const problems = problemsOf(withOverride(prod, "backend", { publicApiPorts: [publicPort] }));
        expect(problems.some((p) => p.startsWith(`limen:backend.publicApiPorts[0] = ${publicPort}: `))).toBe(true);
    });

    it.each([
        ["NEXT_PUBLIC_BACKEND_URL", "/api", /NEXT_PUBLIC_BACKEND_URL must never be set/],
        ["next_public_backend_url", "/api", /must never be set|upper case/],
        ["API_URL", "http://10.0.0.100:18443", /absolute URL to the backend/],
        ["API_URL", "http://localhost/api", /absolute URL to the backend/],
        ["API_URL", "http://[::1]:18443/api", /absolute URL to the backend/],
        ["SITE_URL", "https://limen.darc.kr:8443/", /explicit port/],
        ["NEXT_PUBLIC_API_BASE", "https://api.limen.darc.kr", /sent to browsers/],
        ["BACKEND_HOST", "10.0.0.100", /rendered from limen:backend/],
        ["NOTE", "it's", /single quote/],
    ])("extra .env key %s=%s", (key, value, rule) => {
        const problems = problemsOf(withOverride(prod, "apps", { extraEnv: { [key]: value } }));
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(new RegExp(`^limen:apps\\.extraEnv\\.${key} = `));
        expect(problems[0]).toMatch(rule);
    });

    it("a secret .env key pointing at the backend, without showing the secret", () => {
        const problems = problemsOf({ ...prod, "limen:envProductionSecrets": JSON.stringify({ API_URL: "http://10.0.0.100:18443/?token=hunter2" }) });
        expect(problems).toEqual([expect.stringMatching(/^limen:envProductionSecrets\.API_URL \(secret\): .*absolute URL/)]);
        expect(problems.join("\n")).not.toContain("hunter2");
    });

    it.each([
        ["limenFrontend", "0.0.0.0"],
        ["limenFrontend", "10.0.0.10"],
        ["darc", "::"],
        ["darc", "localhost"],
    ])("%s bound to %s instead of 127.0.0.1", (app, host) => {
        const problems = problemsOf(withOverride(prod, "apps", { [app]: { host } }));
        expect(problems).toEqual([expect.stringMatching(new RegExp(`^limen:apps\\.${app}\\.host = "${host}": .*127\\.0\\.0\\.1 only`))]);
    });

    it.each(["0.0.0.0", "10.0.0.0", "10.0.0.11", "::"])("internal ports opened to %s, not the frontend", (client) => {
        const problems = problemsOf(withOverride(prod, "backend", { internalClients: ["10.0.0.10", client] }));
        expect(problems).toEqual([expect.stringMatching(/^limen:backend\.internalClients\[1\] = .*only to the frontend/)]);
    });

    it("an empty SSH allow-list", () => {
        expect(problemsOf(withOverride(prod, "ssh", { adminNetworks: [] }))).toEqual([
            expect.stringMatching(/^limen:ssh\.adminNetworks = \[\]: .*locks every operator/),
        ]);
    });

    it("an SSH allow-list that leaves out where pulumi runs from", () => {
        expect(problemsOf(withOverride(prod, "ssh", { deployFrom: ["192.0.2.50"] }))).toEqual([
            expect.stringMatching(/^limen:ssh\.deployFrom\[0\] = "192\.0\.2\.50": .*lock this deployment out/),
        ]);
    });

    it.each([
        ["apps", { darc: { port: 9444 } }, /^limen:apps\.darc\.port = 9444: port 9444 is already used on the frontend by limen:apps\.limenFrontend\.port/],
        ["envoy", { adminPort: 9445 }, /^limen:envoy\.adminPort = 9445: .*limen:apps\.darc\.port/],
        ["backend", { agentPort: 18443 }, /^limen:backend\.agentPort = 18443: .*limen:backend\.apiPort/],
        ["ssh", { port: 443 }, /^limen:envoy\.httpsPort = 443: .*limen:ssh\.port/],
    ])("port collision in %s", (key, patch, rule) => {
        expect(problemsOf(withOverride(prod, key, patch))).toEqual([expect.stringMatching(rule)]);
    });

    it.each([
        ["frontend", { ...frontend, hostKey: undefined }, /^limen:frontend\.hostKey: is required/],
        ["frontend", { ...frontend, hostKey: "" }, /^limen:frontend\.hostKey = "": must pin/],
        ["backend", { ...backend, hostKey: "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==" }, /^limen:backend\.hostKey = .*does not encode/],
    ])("a connection without a pinned host key (%s)", (key, value, rule) => {
        expect(problemsOf({ ...prod, [`limen:${key}`]: JSON.stringify(value) })).toEqual([expect.stringMatching(rule)]);
    });
});

describe("shape of the config", () => {
    it("reports unknown keys at every level, each under its full name", () => {
        const raw = withOverride({ ...prod, "limen:fronted": "{}" }, "backend", { apiport: 18443 });
        expect(problemsOf(raw)).toEqual([expect.stringMatching(/^limen:fronted = \{\}: unknown key/), expect.stringMatching(/^limen:backend\.apiport = 18443: unknown key/)]);
    });

    it("reports every problem at once, across keys", () => {
        const raw = withOverride(withOverride(prod, "backend", { address: "127.0.0.1" }), "apps", { darc: { host: "0.0.0.0" } });
        const problems = problemsOf(withOverride(raw, "ssh", { user: "root" }));
        expect(problems.map((p) => p.split(" ")[0])).toEqual(["limen:ssh.user", "limen:backend.address", "limen:apps.darc.host"]);
    });

    it("names missing required keys", () => {
        expect(problemsOf(withOverride(prod, "domains", undefined))).toEqual([expect.stringMatching(/^limen:domains: is required/)]);
    });

    it("never prints the SSH private key", () => {
        const secret = "-----BEGIN NOT A KEY----- hunter2";
        const problems = problemsOf({ ...prod, "limen:sshPrivateKey": secret });
        expect(problems).toEqual([expect.stringMatching(/^limen:sshPrivateKey \(secret\): must be a PEM or OpenSSH private key/)]);
        expect(problems.join("\n")).not.toContain("hunter2");
    });

    it("requires a digest-pinned Envoy image", () => {
        expect(problemsOf(withOverride(prod, "envoy", { image: "envoyproxy/envoy:v1.38-latest" }))).toEqual([
            expect.stringMatching(/^limen:envoy\.image = "envoyproxy\/envoy:v1\.38-latest": must pin the image by digest/),
        ]);
    });

    it("requires the TLS key secret when the certificate comes from config", () => {
        const raw = { ...prod, "limen:tls": JSON.stringify({ source: "config", certificateChain: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----" }) };
        expect(problemsOf(raw)).toEqual([expect.stringMatching(/^limen:tlsPrivateKey \(secret\): is required when limen:tls\.source is "config"/)]);
        expect(problemsOf({ ...raw, "limen:tlsPrivateKey": fakePrivateKey })).toEqual([]);
    });

    it("keeps the runbook's pm2 app name", () => {
        expect(problemsOf(withOverride(prod, "apps", { limenFrontend: { name: "web" } }))).toEqual([
            expect.stringMatching(/^limen:apps\.limenFrontend\.name = "web": must be named "limen-frontend"/),
        ]);
    });
});

describe("the invalid-config corpus (also run through the engine by the lab)", () => {
    it("holds at least 30 configs", () => {
        expect(invalidConfigs.length).toBeGreaterThanOrEqual(30);
    });

    it.each(invalidConfigs.map((c) => [c.name, c] as const))("%s: refused, naming its key", (_name, invalid) => {
        const problems = problemsOf(toRawConfig(invalid.breakIt(toStructuredConfig(prod))));
        expect(problems.length).toBeGreaterThan(0);
        const namesKey = (problem: string) => problem.startsWith(`${invalid.key} `) || problem.startsWith(`${invalid.key}:`);
        expect(problems.some(namesKey), problems.join("\n")).toBe(true);
    });
});
