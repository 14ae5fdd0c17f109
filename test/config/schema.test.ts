/** The config's shape (config/schema), the invalid-config corpus, and addresses read once, canonically. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { planStack } from "../../plan/hosts";
import { namedKeys, problemsOf, zodWording } from "../support/config-problems";
import { fakePrivateKey, fixtureCertificate, prodRawConfig, withOverride } from "../support/fixtures";
import { invalidConfigs, toRawConfig, toStructuredConfig } from "../support/invalid-configs";

const prod = prodRawConfig();

describe("shape of the config", () => {
    it("reports unknown keys at every level, each under its full name, with the key it most likely meant and never its value", () => {
        const raw = withOverride({ ...prod, "limen:fronted": JSON.stringify({ address: "198.51.100.77" }) }, "backend", { apiport: 18443 });
        expect(problemsOf(raw)).toEqual([
            "limen:fronted: unknown key: did you mean limen:frontend? (unknown keys are errors, not ignored; every key is in the configuration table in docs/configuration.md)",
            "limen:backend.apiport: unknown key: did you mean limen:backend.apiPort? (unknown keys are errors, not ignored; every key is in the configuration table in docs/configuration.md)",
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

describe("an empty key (YAML `key:` with nothing after it)", () => {
    it("says to give it a value, and to remove the line only where a default exists", () => {
        expect(problemsOf(withOverride(prod, "backend", { apiPort: null, hostKey: null }))).toEqual([
            "limen:backend.hostKey = null: must pin the host's SSH public key as one line `<type> <base64>` (for instance the output of `ssh-keyscan -t ed25519 HOST` without the host name); an unpinned connection would trust any server (it is empty (a key with no value): give it one)",
            "limen:backend.apiPort = null: must be a TCP port: a whole number from 1 to 65535 (it is empty (a key with no value): give it one, or remove the line to use the default)",
        ]);
    });
});
