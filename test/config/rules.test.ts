/** The seed's values and its rules (config/rules.ts): each wrong setting refused, naming the key. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { problemsOf } from "../support/config-problems";
import { otherRawConfig, prodRawConfig, withOverride } from "../support/fixtures";

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
        expect(problemsOf(withOverride(prod, "backend", { internalAddress }))).toEqual([expect.stringMatching(/^limen:backend\.internalAddress = .*loopback/)]);
    });

    it.each(loopbackSpellings)("AGENT_HOST (backend.agentAddress) %s is loopback", (agentAddress) => {
        expect(problemsOf(withOverride(prod, "backend", { agentAddress }))).toEqual([expect.stringMatching(/^limen:backend\.agentAddress = .*loopback/)]);
    });

    it.each(unspecifiedSpellings)("backend address %s is unspecified", (address) => {
        expect(problemsOf(withOverride(prod, "backend", { address }))).toEqual([expect.stringMatching(/^limen:backend\.address = .*unspecified/)]);
    });

    it("the external port where the internal one belongs", () => {
        const problems = problemsOf(withOverride(prod, "backend", { apiPort: 8443, publicApiPorts: [8443] }));
        expect(problems).toEqual([expect.stringMatching(/^limen:backend\.apiPort = 8443 and limen:backend\.publicApiPorts\[0\] = 8443: .*internal port/)]);
    });

    it.each([18443, 9000])("a public API port that is an internal one (%i)", (publicPort) => {
        const problems = problemsOf(withOverride(prod, "backend", { publicApiPorts: [publicPort] }));
        expect(problems).toEqual([expect.stringMatching(new RegExp(`limen:backend\\.publicApiPorts\\[0\\] = ${publicPort}\\b.*: .*internal port`))]);
    });

    it.each([
        ["NEXT_PUBLIC_BACKEND_URL", "/api", /NEXT_PUBLIC_BACKEND_URL must never be set/],
        ["next_public_backend_url", "/api", /must never be set|upper case/],
        ["API_URL", "http://10.0.0.100:18443", /absolute URL to the backend/],
        ["API_URL", "http://localhost/api", /absolute URL to a loopback address/],
        ["API_URL", "http://[::1]:18443/api", /absolute URL to a loopback address/],
        ["API_URL", "//10.0.0.100:18443/api", /absolute URL to the backend \(limen:backend\.internalAddress\)/],
        ["API_URL", "\\\\10.0.0.100:18443/api", /absolute URL to the backend/],
        ["API_HOST", "10.0.0.100:18443", /absolute URL to the backend/],
        ["API_HOST", "10.0.0.100:18443/api", /absolute URL to the backend/],
        ["API_URL", "http:10.0.0.100:18443", /absolute URL to the backend/],
        ["API_URL", "HTTP://0x0a.0.0.100/api", /absolute URL to the backend/],
        ["API_URL", " http://10.0.0.100/api", /absolute URL to the backend/],
        ["API_URL", "ht\ttp://10.0.0.100/api", /absolute URL to the backend/],
        ["API_URL", "redis://[::ffff:7f00:1]:6379", /absolute URL to a loopback address/],
        ["CACHE_URL", "localhost:6379", /absolute URL to a loopback address/],
        ["CACHE_URL", "cache.example.org:6379", /explicit port/],
        // Found by test/config/config.property.test.ts: one-part IPv4 hosts before a port.
        ["API_URL", "2130706432:18443/api", /absolute URL to a loopback address/],
        ["API_URL", "0:18443", /absolute URL to a loopback address/],
        // Also found there: a scheme-relative URL takes the page's scheme, https, so :80 is a port.
        ["API_URL", "//192.0.2.1:80/api", /explicit port/],
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

    it.each(["12:30", "9:00", "redis:6379", "/api", "https://limen.darc.kr/api"])("extra .env value %j is not an absolute URL to refuse", (value) => {
        expect(problemsOf(withOverride(prod, "apps", { extraEnv: { NOTE: value } }))).toEqual([]);
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
        expect(problemsOf(withOverride(prod, "ssh", { adminNetworks: [] }))).toEqual([expect.stringMatching(/^limen:ssh\.adminNetworks = \[\]: .*locks every operator/)]);
    });

    it("an SSH allow-list that leaves out where pulumi runs from", () => {
        expect(problemsOf(withOverride(prod, "ssh", { deployFrom: ["192.0.2.50"] }))).toEqual([
            expect.stringMatching(/^limen:ssh\.deployFrom\[0\] = "192\.0\.2\.50": .*lock this deployment out/),
        ]);
    });

    it.each([
        [
            "apps",
            { darc: { port: 9444 } },
            /^limen:apps\.limenFrontend\.port = 9444 and limen:apps\.darc\.port = 9444: both are port 9444 on the frontend: two services cannot listen on one port/,
        ],
        ["envoy", { httpsPort: 9445 }, /^limen:apps\.darc\.port = 9445 and limen:envoy\.httpsPort = 9445: both are port 9445 on the frontend/],
        ["backend", { agentPort: 18443 }, /^limen:backend\.apiPort = 18443 and limen:backend\.agentPort = 18443: both are port 18443 on the backend/],
        ["ssh", { port: 443 }, /^limen:ssh\.port = 443 and limen:envoy\.httpsPort = 443: both are port 443 on the frontend/],
        // The line names the key the operator changed, not only the one that held the port first.
        ["ssh", { port: 18443 }, /^limen:ssh\.port = 18443 and limen:backend\.apiPort = 18443: both are port 18443 on the backend/],
    ])("port collision in %s, naming both keys", (key, patch, rule) => {
        expect(problemsOf(withOverride(prod, key, patch))).toEqual([expect.stringMatching(rule)]);
    });

    it("Envoy has no admin port since 2.0.0: 9901 is free for SSH, and a stack that still sets limen:envoy.adminPort is told to delete it", () => {
        expect(problemsOf(withOverride(withOverride(prod, "envoy", { enabled: false }), "ssh", { port: 9901 }))).toEqual([]);
        expect(problemsOf(withOverride(prod, "envoy", { adminPort: 9901 }))).toEqual([
            expect.stringMatching(/^limen:envoy\.adminPort.*was removed in 2\.0\.0: Envoy's admin answers on a unix socket.*delete the key/),
        ]);
    });

    it.each([
        ["frontend", { ...frontend, hostKey: undefined }, /^limen:frontend\.hostKey: is required/],
        ["frontend", { ...frontend, hostKey: "" }, /^limen:frontend\.hostKey = "": must pin/],
        ["backend", { ...backend, hostKey: "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==" }, /^limen:backend\.hostKey = .*does not encode/],
    ])("a connection without a pinned host key (%s)", (key, value, rule) => {
        expect(problemsOf({ ...prod, [`limen:${key}`]: JSON.stringify(value) })).toEqual([expect.stringMatching(rule)]);
    });
});

describe("the backend is never the frontend", () => {
    it.each([
        ["internalAddress", "10.0.0.10", 'limen:backend.internalAddress = "10.0.0.10" and limen:frontend.address = "10.0.0.10"'],
        ["agentAddress", " 10.0.0.10", 'limen:backend.agentAddress = " 10.0.0.10" and limen:frontend.address = "10.0.0.10"'],
        ["address", "10.0.0.10", 'limen:backend.address = "10.0.0.10" and limen:frontend.address = "10.0.0.10"'],
    ])("backend.%s at the frontend's address names both keys", (field, address, keys) => {
        expect(problemsOf(withOverride(prod, "backend", { [field]: address }))).toEqual([
            `${keys}: the backend's address is one of the frontend's own: BACKEND_HOST, AGENT_HOST and Envoy's cluster would point the frontend at itself (seed: network-ports, "What matters")`,
        ]);
    });
});

describe("the apps stay on 127.0.0.1", () => {
    it.each([["-H"], ["--hostname=0.0.0.0"], ["-p"], ["-H0.0.0.0"], ["--port"]])("an app argument %s that sets the bind flags is refused", (arg) => {
        expect(problemsOf(withOverride(prod, "apps", { darc: { args: ["start", arg, "0.0.0.0"] } }))).toEqual([
            expect.stringMatching(/^limen:apps\.darc\.args\[1\] = .*must not set the host or port/),
        ]);
    });

    it.each(["HOSTNAME", "PORT"])("%s in .env.production is refused: pm2 sets it from the app's host and port", (key) => {
        expect(problemsOf(withOverride(prod, "apps", { extraEnv: { [key]: "0.0.0.0" } }))).toEqual([
            expect.stringMatching(new RegExp(`^limen:apps\\.extraEnv\\.${key} = .*off 127\\.0\\.0\\.1`)),
        ]);
    });
});
