import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../components/config";
import { installFileCommands, shellWord } from "../components/remote";
import type { LimenStack } from "../components/stack";
import { backendFirewallSpec, envFileSpec, envoySpec } from "../components/stack";
import { renderEnvFile } from "../render/env-file";
import { renderEnvoy } from "../render/envoy";
import { FirewallSpec, renderFirewall } from "../render/firewall";
import { installFileOf, isHostKeyLine, parseEnv, parseLimenTable, shellWords, sshOptions } from "../policy/rules";
import { toPlain, Unknown } from "../policy/values";
import { ed25519HostKey, otherRawConfig, prodRawConfig, rawConfigFromStackFile, withOverride } from "./support/fixtures";
import { installMocks, isSecretOnWire, plainOnWire, recordRegistrations, secretSignature } from "./support/mocks";
import { GraphResource, graphOf, runResourcePolicy, runStackPolicy, sdkProps, violationsOf } from "./support/policy-harness";

let createLimenStack: (config: ReturnType<typeof parseConfig>) => LimenStack;

beforeAll(async () => {
    await installMocks();
    // Imported after the mocks are installed, as Pulumi's testing guide requires.
    ({ createLimenStack } = await import("../components/stack"));
});

const prod = parseConfig(prodRawConfig());
const other = parseConfig(otherRawConfig());

const graphs = new Map<string, GraphResource[]>();

/**
 * The resource graph the stack registers for a raw config, as the engine hands it to the policy pack
 * (registered once per config; each caller gets its own copy).
 */
async function graphFor(raw: Record<string, string>): Promise<GraphResource[]> {
    const key = JSON.stringify(raw);
    if (!graphs.has(key)) graphs.set(key, graphOf(await recordRegistrations(() => createLimenStack(parseConfig(raw)))));
    return graphs.get(key)!.map((r) => ({ ...r, wire: structuredClone(r.wire) }));
}

/** A copy of the graph with one resource's wire properties changed (secret envelopes kept). */
function changed(graph: GraphResource[], name: string, change: (wire: Record<string, unknown>) => void): GraphResource[] {
    const copy = graph.map((r) => ({ ...r, wire: structuredClone(r.wire) }));
    const target = copy.find((r) => r.name === name);
    if (!target) throw new Error(`no resource ${name}`);
    change(target.wire);
    return copy;
}

/** Sets a property's plain value, inside its secret envelope when it has one. */
function setPlain(wire: Record<string, unknown>, key: string, value: unknown): void {
    const current = wire[key];
    if (isSecretOnWire(current)) (current as { value: unknown }).value = value;
    else wire[key] = value;
}

const stdinOf = (graph: GraphResource[], name: string) => plainOnWire(graph.find((r) => r.name === name)!.wire.stdin) as string;
const connectionOf = (wire: Record<string, unknown>) => plainOnWire(wire.connection) as Record<string, unknown>;
const withBackendFirewall = (graph: GraphResource[], spec: Partial<FirewallSpec>) =>
    changed(graph, "backend-firewall-ruleset", (wire) => setPlain(wire, "stdin", renderFirewall({ ...backendFirewallSpec(prod), ...spec })));
const withEnvFile = (graph: GraphResource[], text: string) => changed(graph, "frontend-apps-env-production", (wire) => setPlain(wire, "stdin", text));
const withEnvoyConfig = (graph: GraphResource[], text: string) => changed(graph, "frontend-envoy-config", (wire) => setPlain(wire, "stdin", text));

const loopbackSpellings = ["127.0.0.1", "127.1", "127.0.0.53", "localhost", "LOCALHOST", "app.localhost", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "0x7f.0.0.1", "2130706433", "0.0.0.0", "::"];

describe("the policy engine's view of the stack", () => {
    it("uses @pulumi/policy's own deserializer and unknown-checking proxy", async () => {
        const graph = await graphFor(otherRawConfig());
        const env = graph.find((r) => r.name === "frontend-apps-env-production")!;
        expect(isSecretOnWire(env.wire.stdin)).toBe(true);
        expect(sdkProps(env.wire).stdin).toContain("SESSION_SECRET=");
        const unknownStdin = sdkProps({ ...env.wire, stdin: unknownValue });
        expect(() => unknownStdin.stdin).toThrow(/can't be known during preview/);
        expect(toPlain(unknownStdin)).toMatchObject({ stdin: new Unknown("stdin") });
    });

    it("reads wire secret envelopes and unknown sentinels the same way", () => {
        const wire = { connection: { "4dabf18193072939515e22adb298388d": secretSignature, value: { host: "192.0.2.10", hostKey: unknownValue } } };
        expect(toPlain(wire)).toEqual({ connection: { host: "192.0.2.10", hostKey: new Unknown("connection.hostKey") } });
    });
});

describe.each([
    ["prod", prodRawConfig, {}],
    ["a second stack (IPv6 frontend address, agent on 9100, secret env values)", otherRawConfig, { internalPorts: [18443, 9100], additionalFrontendAddresses: ["2001:db8::10"] }],
] as const)("%s: every policy passes", (_label, raw, firewallConfig) => {
    it.each(["no-next-public-backend-url", "backend-address-not-loopback", "remote-connections-pin-host-keys", "env-file-not-world-readable"])("%s", async (name) => {
        const outcomes = await runResourcePolicy(name, await graphFor(raw()));
        expect(violationsOf(outcomes)).toEqual([]);
        expect([...outcomes.values()].filter((o) => o.notApplicable !== undefined)).toEqual([]);
    });

    it("backend-firewall-frontend-only", async () => {
        expect(await runStackPolicy("backend-firewall-frontend-only", await graphFor(raw()), firewallConfig)).toEqual({ violations: [] });
    });

    it("envoy-backend-matches-env", async () => {
        expect(await runStackPolicy("envoy-backend-matches-env", await graphFor(raw()))).toEqual({ violations: [] });
    });
});

describe("no-next-public-backend-url", () => {
    it("is not fooled by the env file's own comment that names the key", async () => {
        const graph = await graphFor(prodRawConfig());
        expect(stdinOf(graph, "frontend-apps-env-production")).toContain("# NEXT_PUBLIC_BACKEND_URL is deliberately not set");
        expect(violationsOf(await runResourcePolicy("no-next-public-backend-url", graph))).toEqual([]);
    });

    it.each([
        ["an assignment in .env.production", "NEXT_PUBLIC_BACKEND_URL=http://10.0.0.100:18443"],
        ["an exported, quoted assignment", `export NEXT_PUBLIC_BACKEND_URL='https://api.example.org'`],
        ["an assignment with spaces", "NEXT_PUBLIC_BACKEND_URL = /api"],
    ])("refuses %s", async (_label, line) => {
        const graph = await graphFor(prodRawConfig());
        const outcomes = await runResourcePolicy("no-next-public-backend-url", withEnvFile(graph, `${stdinOf(graph, "frontend-apps-env-production")}${line}\n`));
        expect(violationsOf(outcomes)).toEqual([
            expect.stringMatching(/^command:remote:Command "frontend-apps-env-production": stdin, line 8, assigns NEXT_PUBLIC_BACKEND_URL/),
        ]);
    });

    it("refuses it inside a secret env file without quoting the file", async () => {
        const graph = await graphFor(otherRawConfig());
        const outcomes = await runResourcePolicy("no-next-public-backend-url", withEnvFile(graph, `${stdinOf(graph, "frontend-apps-env-production")}NEXT_PUBLIC_BACKEND_URL=x\n`));
        const messages = violationsOf(outcomes);
        expect(messages).toHaveLength(1);
        expect(messages.join("\n")).not.toMatch(/s3cr3t|SESSION_SECRET/);
    });

    it("refuses it in the pm2 ecosystem (a JSON key) and in a container's environment", async () => {
        let graph = await graphFor(prodRawConfig());
        graph = changed(graph, "frontend-apps-ecosystem", (wire) => {
            wire.stdin = (wire.stdin as string).replace(`"NODE_ENV": "production"`, `"NODE_ENV": "production",\n        "NEXT_PUBLIC_BACKEND_URL": "http://10.0.0.100:18443"`);
        });
        graph = changed(graph, "frontend-envoy-container", (wire) => {
            wire.envs = [...(wire.envs as string[]), "NEXT_PUBLIC_BACKEND_URL=http://10.0.0.100:18443"];
        });
        const outcomes = await runResourcePolicy("no-next-public-backend-url", graph);
        expect(outcomes.get("frontend-apps-ecosystem")!.violations).toHaveLength(1);
        expect(outcomes.get("frontend-envoy-container")!.violations).toEqual([
            { message: expect.stringContaining("envs[1], line 1"), urn: expect.stringMatching(/::frontend-envoy-container$/) },
        ]);
    });

    it("refuses it as an object key of any input", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-envoy-container", (wire) => {
            wire.labels = [{ label: "limen", value: "x" }, { NEXT_PUBLIC_BACKEND_URL: "http://10.0.0.100:18443" }];
        });
        expect(violationsOf(await runResourcePolicy("no-next-public-backend-url", graph))).toEqual([expect.stringContaining("labels[1].NEXT_PUBLIC_BACKEND_URL sets")]);
    });

    it("skips, with the reason, what is unknown during preview", async () => {
        const graph = withEnvFile(await graphFor(prodRawConfig()), unknownValue);
        const outcome = (await runResourcePolicy("no-next-public-backend-url", graph)).get("frontend-apps-env-production")!;
        expect(outcome).toEqual({ violations: [], notApplicable: expect.stringContaining("stdin unknown during preview") });
    });
});

describe("backend-address-not-loopback", () => {
    it.each(loopbackSpellings)("refuses BACKEND_HOST=%s in .env.production", async (address) => {
        const graph = withEnvFile(await graphFor(prodRawConfig()), renderEnvFile({ ...envFileSpec(prod), backendHost: address }));
        const outcomes = await runResourcePolicy("backend-address-not-loopback", graph);
        expect(violationsOf(outcomes)).toEqual([expect.stringContaining(`.env.production BACKEND_HOST=${address} `)]);
    });

    it("refuses a loopback AGENT_HOST in a secret env file", async () => {
        const graph = await graphFor(otherRawConfig());
        const text = stdinOf(graph, "frontend-apps-env-production").replace("AGENT_HOST=192.0.2.100", "AGENT_HOST=127.0.0.1");
        const messages = violationsOf(await runResourcePolicy("backend-address-not-loopback", withEnvFile(graph, text)));
        expect(messages).toEqual([expect.stringContaining("AGENT_HOST=127.0.0.1 is a loopback address")]);
        expect(messages.join("\n")).not.toContain("s3cr3t");
    });

    it.each(loopbackSpellings)("refuses %s as Envoy's limen_backend endpoint", async (address) => {
        const graph = withEnvoyConfig(await graphFor(prodRawConfig()), renderEnvoy({ ...envoySpec(prod), backend: { address, port: 18443 } }));
        const outcomes = await runResourcePolicy("backend-address-not-loopback", graph);
        expect(violationsOf(outcomes)).toEqual([expect.stringContaining(`Envoy cluster limen_backend endpoint ${address} `)]);
    });

    it("refuses an address it cannot read, such as a URL", async () => {
        const graph = withEnvFile(await graphFor(prodRawConfig()), renderEnvFile({ ...envFileSpec(prod), backendHost: "http://10.0.0.100:18443" }));
        expect(violationsOf(await runResourcePolicy("backend-address-not-loopback", graph))).toEqual([expect.stringContaining("cannot be read as an address")]);
    });

    it("skips an env file whose content is unknown during preview, and does not crash", async () => {
        const graph = withEnvFile(await graphFor(otherRawConfig()), unknownValue);
        expect((await runResourcePolicy("backend-address-not-loopback", graph)).get("frontend-apps-env-production")).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("the .env.production content is unknown during preview"),
        });
    });
});

describe("remote-connections-pin-host-keys", () => {
    const placeholder = (JSON.parse(rawConfigFromStackFile("Pulumi.prod.yaml")["limen:backend"]!) as { hostKey: string }).hostKey;

    it.each([
        ["empty", ""],
        ["blank", "   "],
        ["Pulumi.prod.yaml's placeholder", placeholder],
        ["a key of another type than it claims", ed25519HostKey().replace("ssh-ed25519", "ssh-rsa")],
        ["a truncated key", ed25519HostKey().slice(0, 40)],
    ])("refuses a command whose hostKey is %s", async (_label, hostKey) => {
        const graph = changed(await graphFor(prodRawConfig()), "backend-firewall-ruleset", (wire) => {
            connectionOf(wire).hostKey = hostKey;
        });
        const outcomes = await runResourcePolicy("remote-connections-pin-host-keys", graph);
        expect(violationsOf(outcomes)).toEqual([expect.stringMatching(/^command:remote:Command "backend-firewall-ruleset": connection\.hostKey /)]);
    });

    it("refuses a command with no hostKey at all", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-ready", (wire) => {
            delete connectionOf(wire).hostKey;
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([expect.stringContaining("connection.hostKey is not set")]);
    });

    it.each([
        ["StrictHostKeyChecking=no", (opts: string[]) => opts.map((o) => o.replace("StrictHostKeyChecking=yes", "StrictHostKeyChecking=no")), /StrictHostKeyChecking=yes.*found StrictHostKeyChecking=no/],
        ["an earlier StrictHostKeyChecking=accept-new (ssh takes the first)", (opts: string[]) => ["-oStrictHostKeyChecking=accept-new", ...opts], /found StrictHostKeyChecking=accept-new/],
        ["no StrictHostKeyChecking", (opts: string[]) => opts.filter((o, i) => !o.startsWith("StrictHostKeyChecking") && !opts[i + 1]?.startsWith("StrictHostKeyChecking")), /StrictHostKeyChecking=yes.*found none/],
        ["UserKnownHostsFile=/dev/null", (opts: string[]) => opts.map((o) => o.replace(/UserKnownHostsFile=.*/, "UserKnownHostsFile=/dev/null")), /UserKnownHostsFile=\/dev\/null/],
    ])("refuses Docker's ssh:// with %s", async (_label, edit, message) => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-envoy-docker", (wire) => {
            setPlain(wire, "sshOpts", JSON.stringify(edit(JSON.parse(plainOnWire(wire.sshOpts) as string) as string[])));
        });
        const messages = violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph));
        expect(messages).toEqual([expect.stringMatching(message)]);
        expect(messages[0]).toMatch(/^pulumi:providers:docker "frontend-envoy-docker": ssh:\/\/deploy@10\.0\.0\.10:22 /);
    });

    it("the Docker provider's sshOpts arrive JSON-encoded and secret, and are read", async () => {
        const docker = (await graphFor(prodRawConfig())).find((r) => r.name === "frontend-envoy-docker")!;
        expect(isSecretOnWire(docker.wire.sshOpts)).toBe(true);
        expect(sshOptions(JSON.parse(plainOnWire(docker.wire.sshOpts) as string))).toEqual([
            ["identitiesonly", "yes"],
            ["stricthostkeychecking", "yes"],
            ["userknownhostsfile", expect.stringMatching(/known_hosts$/)],
        ]);
    });

    it("skips a connection unknown during preview", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "backend-ready", (wire) => {
            wire.connection = unknownValue;
        });
        expect((await runResourcePolicy("remote-connections-pin-host-keys", graph)).get("backend-ready")).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("connection is unknown during preview"),
        });
    });
});

describe("env-file-not-world-readable", () => {
    const envPath = "/srv/limen-frontend/.env.production";
    const install = (mode: string) => installFileCommands({ path: envPath, mode, owner: "limen:limen", check: "none" });

    it.each(["0600", "0640", "0400", "600"])("accepts mode %s", async (mode) => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-apps-env-production", (wire) => Object.assign(wire, install(mode)));
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", graph))).toEqual([]);
    });

    it.each(["0644", "0604", "0601", "0666", "4600", "rw-------"])("refuses mode %s", async (mode) => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-apps-env-production", (wire) => Object.assign(wire, install(mode)));
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", graph))).toEqual([
            expect.stringContaining(`create installs ${envPath} with mode ${mode}`),
            expect.stringContaining(`update installs ${envPath} with mode ${mode}`),
        ]);
    });

    it("refuses a command that writes the file some other way, whatever its name", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-apps-pm2-service", (wire) => {
            wire.create = `sudo -n sh -c ${shellWord(`cat > ${envPath}`)}`;
        });
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", graph))).toEqual([
            expect.stringMatching(/"frontend-apps-pm2-service": create writes \.env\.production without `install-file --mode`/),
        ]);
    });
});

describe("backend-firewall-frontend-only", () => {
    const check = async (graph: GraphResource[], config: object = {}) => runStackPolicy("backend-firewall-frontend-only", graph, config);

    it.each<[string, Partial<FirewallSpec>, RegExp[]]>([
        ["another client next to the frontend", { internalClients: ["10.0.0.10", "10.0.0.99"] }, [/internal_clients lists 10\.0\.0\.99, which is not a frontend address \(10\.0\.0\.10\)/]],
        ["a whole network as client", { internalClients: ["10.0.0.0/24"] }, [/lists 10\.0\.0\.0\/24/, /hold no frontend address/]],
        ["no client at all", { internalClients: [] }, [/hold no frontend address/]],
        ["18443 left out of internal_ports", { internalTcpPorts: [9000] }, [/port 18443 is not in internal_ports/, /port 18443 is not in guarded_ports/]],
        ["9000 left out of internal_ports", { internalTcpPorts: [18443] }, [/port 9000 is not in internal_ports/, /port 9000 is not in guarded_ports/]],
        ["9000 also public", { publicTcpPorts: [9000] }, [/port 9000 is in public_ports/]],
    ])("refuses a backend ruleset with %s", async (_label, spec, messages) => {
        const outcome = await check(withBackendFirewall(await graphFor(prodRawConfig()), spec));
        expect(outcome.violations.map((v) => v.message)).toEqual(messages.map((m) => expect.stringMatching(m)));
        expect(outcome.violations[0]!.urn).toMatch(/::backend-firewall-ruleset$/);
    });

    it("refuses an element added after the table", async () => {
        const graph = await graphFor(prodRawConfig());
        const text = `${stdinOf(graph, "backend-firewall-ruleset")}add element inet limen_firewall internal_clients_v4 { 203.0.113.5 }\n`;
        const outcome = await check(changed(graph, "backend-firewall-ruleset", (wire) => setPlain(wire, "stdin", text)));
        expect(outcome.violations.map((v) => v.message)).toEqual([expect.stringContaining("lists 203.0.113.5")]);
    });

    it("finds the ruleset by what it does, not by its name", async () => {
        const graph = withBackendFirewall(await graphFor(prodRawConfig()), { internalClients: ["10.0.0.99"] }).map((r) =>
            r.name === "backend-firewall-ruleset" ? { ...r, name: "renamed", urn: r.urn.replace(/backend-firewall-ruleset$/, "renamed") } : r,
        );
        expect((await check(graph)).violations.map((v) => v.urn)).toEqual([expect.stringMatching(/::renamed$/), expect.stringMatching(/::renamed$/)]);
    });

    it("refuses a stack whose backend has no ruleset", async () => {
        const graph = (await graphFor(prodRawConfig())).filter((r) => r.name !== "backend-firewall-ruleset");
        expect((await check(graph)).violations).toEqual([{ message: expect.stringMatching(/^backend 10\.0\.0\.100: no command loads the inet limen_firewall ruleset/), urn: undefined }]);
    });

    it("takes the frontend's host from the commands that install its files, and further addresses from policy config", async () => {
        const graph = await graphFor(otherRawConfig());
        expect((await check(graph)).violations.map((v) => v.message)).toEqual([
            expect.stringContaining("port 9000 is not in internal_ports"),
            expect.stringContaining("port 9000 is not in guarded_ports"),
            expect.stringContaining("internal_clients lists 2001:db8::10, which is not a frontend address (192.0.2.10)"),
        ]);
        expect((await check(graph, { internalPorts: [18443, 9100], additionalFrontendAddresses: ["2001:DB8:0::10"] })).violations).toEqual([]);
    });

    it("skips a ruleset unknown during preview", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "backend-firewall-ruleset", (wire) => {
            wire.stdin = unknownValue;
        });
        expect(await check(graph)).toEqual({ violations: [], notApplicable: expect.stringContaining("backend-firewall-ruleset is unknown during preview") });
    });
});

describe("envoy-backend-matches-env", () => {
    const check = async (graph: GraphResource[]) => runStackPolicy("envoy-backend-matches-env", graph);

    it.each([
        ["the external port", { address: "10.0.0.100", port: 8443 }, /dials 10\.0\.0\.100:8443, but \.env\.production has BACKEND_HOST=10\.0\.0\.100 BACKEND_PORT=18443/],
        ["another address", { address: "10.0.0.101", port: 18443 }, /dials 10\.0\.0\.101:18443/],
    ])("refuses an Envoy cluster on %s", async (_label, backend, message) => {
        const graph = withEnvoyConfig(await graphFor(prodRawConfig()), renderEnvoy({ ...envoySpec(prod), backend }));
        expect((await check(graph)).violations).toEqual([{ message: expect.stringMatching(message), urn: expect.stringMatching(/::frontend-envoy-config$/) }]);
    });

    it("refuses an env file that moved while Envoy did not", async () => {
        const graph = withEnvFile(await graphFor(prodRawConfig()), renderEnvFile({ ...envFileSpec(prod), backendPort: 8443 }));
        expect((await check(graph)).violations.map((v) => v.message)).toEqual([expect.stringContaining("BACKEND_PORT=8443")]);
    });

    it("refuses an Envoy config without the limen_backend cluster, and an env file without BACKEND_HOST", async () => {
        const graph = await graphFor(prodRawConfig());
        const noCluster = withEnvoyConfig(graph, stdinOf(graph, "frontend-envoy-config").replaceAll("limen_backend", "other_backend"));
        expect((await check(noCluster)).violations.map((v) => v.message)).toEqual([expect.stringContaining("has no cluster limen_backend")]);
        const noHost = withEnvFile(graph, stdinOf(graph, "frontend-apps-env-production").replace(/^BACKEND_HOST=.*\n/m, ""));
        expect((await check(noHost)).violations.map((v) => v.message)).toEqual([expect.stringContaining("must set BACKEND_HOST and a numeric BACKEND_PORT")]);
    });

    it("compares IPv6 addresses in any spelling", async () => {
        const config = parseConfig({ ...otherRawConfig(), "limen:backend": JSON.stringify({ ...JSON.parse(otherRawConfig()["limen:backend"]!), internalAddress: "2001:db8::100" }) });
        const graph = withEnvoyConfig(await graphFor(otherRawConfig()), renderEnvoy({ ...envoySpec(config), backend: { address: "2001:DB8:0:0::100", port: 18443 } }));
        const env = renderEnvFile({ ...envFileSpec(other), backendHost: "2001:db8::100" });
        expect((await check(withEnvFile(graph, env))).violations).toEqual([]);
    });

    it("has nothing to compare when Envoy is off (the lab)", async () => {
        const graph = await graphFor(withOverride(prodRawConfig(), "envoy", { enabled: false }));
        expect(graph.some((r) => r.name === "frontend-envoy-config")).toBe(false);
        expect(await check(graph)).toEqual({ violations: [] });
    });

    it("skips a secret env file unknown during preview, and does not crash", async () => {
        const graph = withEnvFile(await graphFor(otherRawConfig()), unknownValue);
        expect(await check(graph)).toEqual({ violations: [], notApplicable: expect.stringContaining("unknown during preview") });
    });
});

describe("what the policies read, judged against the stack's own writers", () => {
    it("shellWords splits what shellWord quotes", () => {
        const words = ["install-file", "--path", "/srv/my app/.env.production", "--owner", "it's:x"];
        expect(shellWords(words.map(shellWord).join(" "))).toEqual(words);
        expect(installFileOf(installFileCommands({ path: "/srv/my app/.env.production", mode: "0600", owner: "limen:limen", check: "none" }).create)).toEqual({
            path: "/srv/my app/.env.production",
            mode: "0600",
            check: "none",
        });
    });

    it("parseEnv reads back what renderEnvFile writes, as Next.js's loader does", () => {
        const spec = { ...envFileSpec(other), extra: { LOG_LEVEL: "info", QUOTED: "a $b 'c", SPACED: "x y" } };
        expect(() => renderEnvFile(spec)).toThrow(/single quote/);
        const text = renderEnvFile({ ...spec, extra: { LOG_LEVEL: "info", DOLLAR: "a$b", SPACED: "x y # z" } });
        const dir = mkdtempSync(path.join(tmpdir(), "limen-policy-env-"));
        writeFileSync(path.join(dir, ".env.production"), text);
        const script = `process.stdout.write(JSON.stringify(require("@next/env").loadEnvConfig(process.argv[1], false, { info() {}, error(e) { throw e; } }).parsedEnv))`;
        const next = JSON.parse(execFileSync(process.execPath, ["-e", script, dir], { encoding: "utf8", env: { PATH: process.env.PATH, NODE_ENV: "production" } }));
        expect(Object.fromEntries(parseEnv(text))).toEqual(next);
    });

    it.each([
        ["prod backend", backendFirewallSpec(prod), ""],
        ["second stack backend", backendFirewallSpec(other), ""],
        ["with an added element", backendFirewallSpec(prod), "add element inet limen_firewall internal_clients_v4 { 203.0.113.5 }\n"],
    ])("parseLimenTable lists the sets nft loads for the %s ruleset", (_label, spec, extra) => {
        const ruleset = renderFirewall(spec) + extra;
        const file = path.join(mkdtempSync(path.join(tmpdir(), "limen-policy-nft-")), "ruleset.nft");
        writeFileSync(file, ruleset);
        const listed = JSON.parse(execFileSync("unshare", ["--net", "sh", "-c", `nft -f ${file} && nft -j list table inet limen_firewall`], { encoding: "utf8" })) as {
            nftables: { set?: { name: string; elem?: unknown[] } }[];
        };
        const element = (e: unknown): string => (typeof e === "object" && e !== null && "prefix" in e ? `${(e as any).prefix.addr}/${(e as any).prefix.len}` : String(e));
        const fromNft = Object.fromEntries(listed.nftables.filter((o) => o.set).map((o) => [o.set!.name, (o.set!.elem ?? []).map(element).sort()]));
        const parsed = Object.fromEntries([...parseLimenTable(ruleset).sets].map(([name, elements]) => [name, [...elements].sort()]));
        expect(parsed).toEqual(fromNft);
        expect(parseLimenTable(ruleset).chains.get("input")).toMatch(/policy drop;/);
    });

    it("isHostKeyLine accepts what ssh-keyscan prints and the fixtures' keys", () => {
        expect(isHostKeyLine(ed25519HostKey())).toBe(true);
        expect(isHostKeyLine(`${ed25519HostKey()} root@frontend`)).toBe(true);
        expect(isHostKeyLine("ssh-ed25519")).toBe(false);
    });
});
