import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../config";
import { planStack } from "../plan/hosts";
import { namedKeys, problemsOf, zodWording } from "./support/config-problems";
import { fakePrivateKey, fixtureCertificate, otherRawConfig, prodRawConfig, withOverride } from "./support/fixtures";
import { invalidConfigs, toRawConfig, toStructuredConfig } from "./support/invalid-configs";

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
        // Found by test/config.property.test.ts: one-part IPv4 hosts before a port.
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
        ["envoy", { adminPort: 9445 }, /^limen:apps\.darc\.port = 9445 and limen:envoy\.adminPort = 9445: both are port 9445 on the frontend/],
        ["backend", { agentPort: 18443 }, /^limen:backend\.apiPort = 18443 and limen:backend\.agentPort = 18443: both are port 18443 on the backend/],
        ["ssh", { port: 443 }, /^limen:ssh\.port = 443 and limen:envoy\.httpsPort = 443: both are port 443 on the frontend/],
        // The line names the key the operator changed, not only the one that held the port first.
        ["ssh", { port: 18443 }, /^limen:ssh\.port = 18443 and limen:backend\.apiPort = 18443: both are port 18443 on the backend/],
    ])("port collision in %s, naming both keys", (key, patch, rule) => {
        expect(problemsOf(withOverride(prod, key, patch))).toEqual([expect.stringMatching(rule)]);
    });

    it("Envoy's admin port is guarded by the firewall even with Envoy off, so SSH may not use it", () => {
        expect(problemsOf(withOverride(withOverride(prod, "envoy", { enabled: false }), "ssh", { port: 9901 }))).toEqual([
            expect.stringMatching(/^limen:ssh\.port = 9901 and limen:envoy\.adminPort: both are port 9901 on the frontend/),
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

describe("shape of the config", () => {
    it("reports unknown keys at every level, each under its full name, with the key it most likely meant and never its value", () => {
        const raw = withOverride({ ...prod, "limen:fronted": JSON.stringify({ address: "198.51.100.77" }) }, "backend", { apiport: 18443 });
        expect(problemsOf(raw)).toEqual([
            "limen:fronted: unknown key: did you mean limen:frontend? (unknown keys are errors, not ignored; every key is in the configuration table in README.md)",
            "limen:backend.apiport: unknown key: did you mean limen:backend.apiPort? (unknown keys are errors, not ignored; every key is in the configuration table in README.md)",
        ]);
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

    it("takes Docker's reference grammar for the image: a registry host with a port, a path, a tag, and the digest", () => {
        const digest = "@sha256:" + "b".repeat(64);
        for (const image of ["registry.lab.test:5000/limen-lab/envoy", "envoyproxy/envoy:v1.38.0", "ghcr.io/org/team/envoy", "localhost:5000/envoy"]) {
            expect(problemsOf(withOverride(prod, "envoy", { image: image + digest })), image).toEqual([]);
        }
        for (const image of ["registry.lab.test:5000/", "Envoy", "registry:port/envoy", "envoy//x", "envoy:v1:2"]) {
            expect(problemsOf(withOverride(prod, "envoy", { image: image + digest })), image).toEqual([
                expect.stringMatching(/^limen:envoy\.image = .*: must pin the image by digest/),
            ]);
        }
    });

    it("requires the TLS key secret when the certificate comes from config", () => {
        const raw = { ...prod, "limen:tls": JSON.stringify({ source: "config", certificateChain: fixtureCertificate }) };
        expect(problemsOf(raw)).toEqual([
            expect.stringMatching(/^limen:tlsPrivateKey \(secret\) and limen:tls\.source = "config": the TLS private key is required when the certificate comes from config/),
        ]);
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

    it.each(invalidConfigs.map((c) => [c.name, c] as const))("%s: refused, naming its key and saying the rule", (_name, invalid) => {
        const problems = problemsOf(toRawConfig(invalid.breakIt(toStructuredConfig(prod))));
        expect(problems.length).toBeGreaterThan(0);
        expect(
            problems.some((problem) => namedKeys(problem).includes(invalid.key)),
            problems.join("\n"),
        ).toBe(true);
        for (const problem of problems) expect(problem, "zod's own wording").not.toMatch(zodWording);
    });
});

describe("addresses are read once, and only their canonical spelling reaches the hosts", () => {
    it.each([
        [" 10.0.0.100", "10.0.0.100"],
        ["10.0.0.100\t", "10.0.0.100"],
        ["[2001:DB8::100]", "2001:db8::100"],
        ["2001:0db8:0000:0000:0000:0000:0000:0100", "2001:db8::100"],
    ])("backend address %j is deployed as %s: .env.production, Envoy's cluster and the SSH target", (address, canonical) => {
        const config = parseConfig(withOverride(prod, "backend", { address }));
        expect(config.backend).toMatchObject({ address: canonical, internalAddress: canonical, agentAddress: canonical });
        const plan = planStack(config);
        const envFile = plan.frontend.files.find((file) => file.name === "env-production")!.content;
        expect(envFile).toMatch(new RegExp(`^BACKEND_HOST=${canonical}$`, "m"));
        expect(plan.frontend.envoy!.spec.backend.address).toBe(canonical);
        expect(plan.backend.ssh.address).toBe(canonical);
    });

    it("a frontend address with a space renders the firewall with the address itself (it used to crash the renderer)", () => {
        const config = parseConfig(withOverride(prod, "frontend", { address: "10.0.0.10 " }));
        expect(config.frontend.internalAddresses).toEqual(["10.0.0.10"]);
        expect(planStack(config).backend.firewall.ruleset).toMatch(/set internal_clients_v4 \{ type ipv4_addr; elements = \{ 10\.0\.0\.10 \}; \}/);
    });

    it("networks and deployment addresses are canonical too, and compared canonically", () => {
        const config = parseConfig(withOverride(prod, "ssh", { adminNetworks: [" 10.0.0.0/024", "2001:DB8::/32"], deployFrom: ["2001:db8:0::7"] }));
        expect(config.ssh.adminNetworks).toEqual(["10.0.0.0/24", "2001:db8::/32"]);
        expect(config.ssh.deployFrom).toEqual(["2001:db8::7"]);
        const internalClients = parseConfig(withOverride(prod, "backend", { internalClients: [" 10.0.0.10"] })).backend.internalClients;
        expect(internalClients).toEqual(["10.0.0.10"]);
    });

    it.each([
        ["[10.0.0.100]", /without brackets/],
        ["10.1", /four decimal numbers without leading zeros/],
        ["010.000.000.100", /four decimal numbers without leading zeros/],
        ["::ffff:10.0.0.100", /the IPv4 address itself/],
        ["224.0.0.1", /one host's address/],
        ["fe80::1%eth0", /interface zone/],
        ["backend.internal", /not a host name/],
    ])("backend address %j is refused, saying how to write it", (address, rule) => {
        expect(problemsOf(withOverride(prod, "backend", { address }))).toEqual([expect.stringMatching(rule)]);
    });
});

describe("a wrong type says what was given and the rule, never that the key is missing", () => {
    it.each([
        [
            "backend",
            { apiPort: "18443" },
            'limen:backend.apiPort = "18443": must be a TCP port: a whole number from 1 to 65535 (it is the text "18443", not a number: write it without quotes in Pulumi.<stack>.yaml, or set it with `pulumi config set --path \'limen:backend.apiPort\' 18443`)',
        ],
        ["backend", { apiPort: 18443.5 }, "limen:backend.apiPort = 18443.5: must be a TCP port: a whole number from 1 to 65535 (it is not a whole number)"],
        [
            "envoy",
            { enabled: "true" },
            'limen:envoy.enabled = "true": must be true or false (it is the text "true", not true or false: write it without quotes in Pulumi.<stack>.yaml, or set it with `pulumi config set --path \'limen:envoy.enabled\' true`)',
        ],
        [
            "ssh",
            { adminNetworks: "10.0.0.0/24" },
            "limen:ssh.adminNetworks = \"10.0.0.0/24\": must be a list of networks in CIDR form, such as [192.0.2.0/24, 2001:db8::/64] (it is one text, not a list: write it as a list even for one entry ([10.0.0.0/24]), or set it with `pulumi config set --path 'limen:ssh.adminNetworks[0]' 10.0.0.0/24`)",
        ],
        [
            "ssh",
            { port: null },
            "limen:ssh.port = null: must be a TCP port: a whole number from 1 to 65535 (it is empty (a key with no value): give it one, or remove the line to use the default)",
        ],
        ["domains", { limen: { name: "limen.darc.kr" } }, 'limen:domains.limen = {"name":"limen.darc.kr"}: must be a list of lower-case DNS names (it is a map)'],
    ])("%s %j", (key, patch, line) => {
        expect(problemsOf(withOverride(prod, key, patch))).toEqual([line]);
    });

    it("ports at and past the edges", () => {
        for (const port of [1, 65535]) expect(problemsOf(withOverride(prod, "backend", { publicApiPorts: [port] }))).toEqual([]);
        for (const port of [0, 65536, -1]) {
            expect(problemsOf(withOverride(prod, "backend", { publicApiPorts: [port] }))).toEqual([
                `limen:backend.publicApiPorts[0] = ${port}: must be a TCP port: a whole number from 1 to 65535`,
            ]);
        }
    });

    it("a list or map set as one JSON text (`pulumi config set --path` without a path per entry) says how to set it", () => {
        const problems = problemsOf(withOverride(prod, "apps", { extraEnv: '{"LOG_LEVEL":"info"}' }));
        expect(problems).toEqual([
            expect.stringContaining(
                "it is one text holding JSON, not a map (`pulumi config set` stores what it is given as text): set each field on its own, for instance `pulumi config set --path 'limen:apps.extraEnv.LOG_LEVEL' info`",
            ),
        ]);
    });

    it("a whole key stored as text (what `pulumi config --json` reports) is refused as text, not read as JSON", () => {
        const raw = { ...prod, "limen:ssh": JSON.stringify({ user: "deploy", adminNetworks: ["10.0.0.0/24"] }) };
        expect(() => parseConfig(raw, undefined, { storedAsText: (key) => key === "limen:ssh" })).toThrow(
            /limen:ssh = .*: must be a map with the fields user, port, .* \(it is one text holding JSON, not a map .*`pulumi config set --path 'limen:ssh.user' deploy`/,
        );
        expect(parseConfig(raw).ssh.user).toBe("deploy");
    });

    it("a structured key set without --path names the command that sets it", () => {
        expect(problemsOf({ ...prod, "limen:ssh.port": "2222" })).toEqual([
            "limen:ssh.port: unknown key, set without --path: Pulumi keeps \"ssh.port\" as one key of that name, which this program never reads; remove it with `pulumi config rm 'limen:ssh.port'` and set it with `pulumi config set --path 'limen:ssh.port' <value>`",
        ]);
        expect(problemsOf({ ...prod, "limen:envProductionSecrets.TOKEN": "x" })).toEqual([
            expect.stringContaining("`pulumi config set --secret --path 'limen:envProductionSecrets.TOKEN' <value>`"),
        ]);
    });
});

describe("every problem at once: a rule runs whenever the keys it reads are fine", () => {
    it("a broken key does not hide a clash or a seed rule elsewhere in the same section", () => {
        const raw = withOverride(withOverride(prod, "backend", { hostKey: "none", publicApiPorts: [9000], internalClients: ["10.0.0.10", "203.0.113.9"] }), "ssh", {
            user: "root",
            port: 18443,
        });
        const problems = problemsOf(raw);
        expect(
            problems.map((problem) =>
                namedKeys(problem)
                    .filter((key) => problem.startsWith(key))
                    .join(" "),
            ),
        ).toEqual(["limen:ssh.user", "limen:ssh.port", "limen:backend.hostKey", "limen:backend.publicApiPorts[0]", "limen:backend.internalClients[1]"]);
    });

    it("a broken list entry leaves the other entries' rules running", () => {
        const problems = problemsOf(withOverride(prod, "backend", { publicApiPorts: ["8443", 18443] }));
        expect(problems).toEqual([
            expect.stringMatching(/^limen:backend\.publicApiPorts\[0\] = "8443": must be a TCP port/),
            expect.stringMatching(/limen:backend\.publicApiPorts\[1\] = 18443: the API port/),
        ]);
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

describe("nothing of a secret reaches a message", () => {
    const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1ib2R5LWZvci10ZXN0cw==\n-----END OPENSSH PRIVATE KEY-----\n";
    const thrown = (raw: Record<string, string>, isSecret?: (key: string) => boolean): ConfigError => {
        try {
            parseConfig(raw, isSecret);
        } catch (error) {
            if (error instanceof ConfigError) return error;
        }
        throw new Error("accepted");
    };

    it("a misspelled secret key (set with --secret) is named with the key it meant, its value never shown", () => {
        const error = thrown({ ...prod, "limen:sshPrivatekey": privateKey }, (key) => key === "limen:sshPrivateKey" || key === "limen:sshPrivatekey");
        expect(error.problems).toEqual([
            "limen:sshPrivatekey: unknown key: did you mean limen:sshPrivateKey? (unknown keys are errors, not ignored; every key is in the configuration table in README.md)",
        ]);
        expect(error.message).not.toContain("c2VjcmV0");
    });

    it("the same misspelling in plain text is not shown either", () => {
        expect(thrown({ ...prod, "limen:ssh_private_key": privateKey }).message).not.toContain("c2VjcmV0");
    });

    it("a key Pulumi holds as secret (a --secret --path inside limen:apps) is described, never shown", () => {
        const raw = withOverride(prod, "apps", { extraEnv: { API_URL: "http://10.0.0.100:18443/?token=s3cr3t-t0ken" }, user: "root" });
        const error = thrown(raw, (key) => key === "limen:apps" || key === "limen:sshPrivateKey");
        expect(error.problems).toEqual([
            "limen:apps.user (secret): must not be root: the apps face the network through Envoy",
            expect.stringMatching(/^limen:apps\.extraEnv\.API_URL \(secret\): the secret value is an absolute URL to the backend/),
        ]);
        expect(error.message).not.toContain("s3cr3t");
    });

    it("a secret value of the wrong type, or with a name that may be a pasted value, is described without it", () => {
        const error = thrown({ ...prod, "limen:envProductionSecrets": JSON.stringify({ TOKEN: 123456789, "sk-live-0123456789": "x", NOTE: "s3cr3t'quote" }) });
        expect(error.problems).toEqual([
            "limen:envProductionSecrets.TOKEN (secret): must be text (one .env.production value) (it is a number)",
            "limen:envProductionSecrets (secret): one of its names is not an environment variable name: environment variable names are upper case letters, digits and underscores",
            "limen:envProductionSecrets.NOTE (secret): a .env.production value may not contain a newline or a single quote (Next.js's loader would not read it back unchanged)",
        ]);
        expect(error.message).not.toMatch(/123456789|sk-live|s3cr3t/);
    });
});

describe("an empty key (YAML `key:` with nothing after it)", () => {
    it("says to give it a value, and to remove the line only where a default exists", () => {
        expect(problemsOf(withOverride(prod, "backend", { apiPort: null, hostKey: null }))).toEqual([
            "limen:backend.hostKey = null: must pin the host's SSH public key as one line `<type> <base64>` (for instance the output of `ssh-keyscan -t ed25519 HOST` without the host name); an unpinned connection would trust any server (it is empty (a key with no value): give it one)",
            "limen:backend.apiPort = null: must be a TCP port: a whole number from 1 to 65535 (it is empty (a key with no value): give it one, or remove the line to use the default)",
        ]);
    });
});

describe('certificates: limen:tls.source "acme", and certificates that must cover the domains', () => {
    const acme = (fields: Record<string, unknown>) => ({ ...prod, "limen:tls": JSON.stringify({ source: "acme", email: "ops@darc.kr", ...fields }) });

    it("takes acme with Let's Encrypt, one certificate per site and responder port 8402 by default", () => {
        const config = parseConfig(acme({}));
        expect(config.tls).toEqual({
            source: "acme",
            email: "ops@darc.kr",
            directoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
            certificates: "per-site",
            responderPort: 8402,
        });
    });

    it("refuses an e-mail that is not an address and a directory that is not https, naming the key and the rule", () => {
        expect(problemsOf(acme({ email: "ops at darc.kr" }))).toEqual([
            'limen:tls.email = "ops at darc.kr": must be an e-mail address such as ops@darc.kr (the ACME account\'s contact)',
        ]);
        expect(problemsOf(acme({ directoryUrl: "http://acme.example.org/directory" }))).toEqual([
            'limen:tls.directoryUrl = "http://acme.example.org/directory": must be an ACME directory URL on https, such as https://acme-v02.api.letsencrypt.org/directory',
        ]);
        expect(problemsOf(acme({ certificates: "each" }))).toEqual([
            expect.stringMatching(/^limen:tls\.certificates = "each": must be "per-site" \(one certificate for limen:domains\.limen/),
        ]);
    });

    it("refuses a wildcard domain, which HTTP-01 cannot prove, naming the domain and the source", () => {
        const raw = withOverride(acme({}), "domains", { darc: ["darc.kr", "*.darc.kr"] });
        expect(problemsOf(raw)).toEqual([
            expect.stringMatching(
                /^limen:domains\.darc\[1\] = "\*\.darc\.kr" and limen:tls\.source = "acme": no certificate can cover \*\.darc\.kr: ACME's HTTP-01 challenge cannot prove a wildcard name/,
            ),
        ]);
    });

    it("refuses a responder port another service of the frontend uses, and a TLS key secret that acme would never use", () => {
        expect(problemsOf(acme({ responderPort: 9444 }))).toEqual([expect.stringMatching(/^limen:apps\.limenFrontend\.port = 9444 and limen:tls\.responderPort = 9444: /)]);
        expect(problemsOf({ ...acme({}), "limen:tlsPrivateKey": fakePrivateKey })).toEqual([
            expect.stringMatching(/^limen:tlsPrivateKey \(secret\) and limen:tls\.source = "acme": a TLS private key is set, but certbot makes the keys on the frontend/),
        ]);
    });

    it("refuses a certificate from config that does not cover a domain, naming the domain and what it covers", () => {
        const raw = withOverride(
            { ...prod, "limen:tls": JSON.stringify({ source: "config", certificateChain: fixtureCertificate }), "limen:tlsPrivateKey": fakePrivateKey },
            "domains",
            { limen: ["limen.darc.kr", "api.darc.kr"] },
        );
        expect(problemsOf(raw)).toEqual([
            expect.stringMatching(
                /^limen:domains\.limen\[1\] = "api\.darc\.kr" and limen:tls\.certificateChain = .*: the certificate in limen:tls\.certificateChain does not cover api\.darc\.kr \(it names limen\.example\.org, darc\.example\.org, limen\.darc\.kr, darc\.kr, www\.darc\.kr\)/,
            ),
        ]);
    });

    it("refuses host-files paths that are not absolute", () => {
        const raw = {
            ...prod,
            "limen:tls": JSON.stringify({ source: "host-files", certificateChainPath: "live/limen/fullchain.pem", privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem" }),
        };
        expect(problemsOf(raw)).toEqual([expect.stringMatching(/^limen:tls\.certificateChainPath = "live\/limen\/fullchain\.pem": must be an absolute path/)]);
    });
});
