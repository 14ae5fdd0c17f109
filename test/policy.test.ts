import { execFileSync } from "node:child_process";
import { generateKeyPairSync, JsonWebKey } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import type { LimenStack } from "../components/stack";
import { envFileName } from "../plan/host-paths";
import { backendFirewallSpec } from "../plan/firewall";
import { envFileSpec } from "../plan/files";
import { envoySpec } from "../plan/envoy";
import { planStack } from "../plan/hosts";
import { hostKeyTypes, isHostKeyLine } from "../plan/ssh-keys";
import { renderEnvFile } from "../render/env-file";
import { renderEnvoy } from "../render/envoy";
import { FirewallSpec, renderFirewall } from "../render/firewall";
import { actsOnHost, hostResourceTypes, isEnvFile, isEnvoyBootstrapFile, parseEnv, parseLimenTable, sshOptions } from "../policy/rules";
import { toPlain, toResourceView, Unknown } from "../policy/values";
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

/** A copy of the graph with one more resource: `like`'s type and inputs under a new name, then changed. */
function added(graph: GraphResource[], like: string, name: string, change: (wire: Record<string, unknown>) => void): GraphResource[] {
    const model = graph.find((r) => r.name === like);
    if (!model) throw new Error(`no resource ${like}`);
    const resource = { type: model.type, name, urn: `urn:pulumi:unit::limen::${model.type}::${name}`, wire: structuredClone(model.wire) };
    change(resource.wire);
    return [...graph.map((r) => ({ ...r, wire: structuredClone(r.wire) })), resource];
}

/** A copy of the graph with a resource of another type on `like`'s host: its connection and `inputs`. */
function addedOnHost(graph: GraphResource[], like: string, type: string, name: string, inputs: Record<string, unknown>): GraphResource[] {
    const model = graph.find((r) => r.name === like);
    if (!model) throw new Error(`no resource ${like}`);
    const resource = { type, name, urn: `urn:pulumi:unit::limen::${type}::${name}`, wire: { connection: structuredClone(model.wire.connection), ...inputs } };
    return [...graph.map((r) => ({ ...r, wire: structuredClone(r.wire) })), resource];
}

/** Sets a property's plain value, inside its secret envelope when it has one. */
function setPlain(wire: Record<string, unknown>, key: string, value: unknown): void {
    const current = wire[key];
    if (isSecretOnWire(current)) (current as { value: unknown }).value = value;
    else wire[key] = value;
}

const envFile = "frontend-apps-env-production";
const envoyConfig = "frontend-envoy-config";
const backendTable = "backend-firewall-table";

const contentOf = (graph: GraphResource[], name: string) => plainOnWire(graph.find((r) => r.name === name)!.wire.content) as string;
const connectionOf = (wire: Record<string, unknown>) => plainOnWire(wire.connection) as Record<string, unknown>;
const withBackendFirewall = (graph: GraphResource[], spec: Partial<FirewallSpec>) =>
    changed(graph, backendTable, (wire) => setPlain(wire, "ruleset", renderFirewall({ ...backendFirewallSpec(prod), ...spec })));
const withEnvFile = (graph: GraphResource[], text: string) => changed(graph, envFile, (wire) => setPlain(wire, "content", text));
const withEnvoyConfig = (graph: GraphResource[], text: string) => changed(graph, envoyConfig, (wire) => setPlain(wire, "content", text));

const loopbackSpellings = [
    "127.0.0.1",
    "127.1",
    "127.0.0.53",
    "localhost",
    "LOCALHOST",
    "app.localhost",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",
    "0x7f.0.0.1",
    "2130706433",
    "0.0.0.0",
    "::",
];

/** One length-prefixed field of an SSH key blob (RFC 4251 5). */
function sshField(data: Buffer | string): Buffer {
    const bytes = Buffer.from(data);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
}

const sshMpint = (bytes: Buffer) => sshField(bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const fromJwk = (value: string | undefined) => Buffer.from(value ?? "", "base64url");

/** An OpenSSH public key line for a freshly generated key of `type`, as `ssh-keyscan -t` prints it. */
function hostKeyLineOf(type: string): string {
    if (type === "ssh-ed25519") return ed25519HostKey();
    let fields: Buffer[];
    if (type === "ssh-rsa") {
        const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" }) as JsonWebKey;
        fields = [sshField(type), sshMpint(fromJwk(jwk.e)), sshMpint(fromJwk(jwk.n))];
    } else {
        const curve = type.replace("ecdsa-sha2-", "");
        const jwk = generateKeyPairSync("ec", { namedCurve: `P-${curve.replace("nistp", "")}` }).publicKey.export({ format: "jwk" }) as JsonWebKey;
        fields = [sshField(type), sshField(curve), sshField(Buffer.concat([Buffer.from([4]), fromJwk(jwk.x), fromJwk(jwk.y)]))];
    }
    return `${type} ${Buffer.concat(fields).toString("base64")}`;
}

describe("the policy engine's view of the stack", () => {
    it("uses @pulumi/policy's own deserializer and unknown-checking proxy", async () => {
        const graph = await graphFor(otherRawConfig());
        const env = graph.find((r) => r.name === envFile)!;
        expect(isSecretOnWire(env.wire.content)).toBe(true);
        expect(sdkProps(env.wire).content).toContain("SESSION_SECRET=");
        const unknownContent = sdkProps({ ...env.wire, content: unknownValue });
        expect(() => unknownContent.content).toThrow(/can't be known during preview/);
        expect(toPlain(unknownContent)).toMatchObject({ content: new Unknown("content") });
    });

    it("reads wire secret envelopes and unknown sentinels the same way", () => {
        const wire = { connection: { "4dabf18193072939515e22adb298388d": secretSignature, value: { address: "192.0.2.10", hostKey: unknownValue } } };
        expect(toPlain(wire)).toEqual({ connection: { address: "192.0.2.10", hostKey: new Unknown("connection.hostKey") } });
    });

    it("knows the types components/host-resources.ts registers, and finds the plan's files by their inputs", async () => {
        // With certificates from ACME, so that every type the stack has is registered.
        const { "limen:tlsPrivateKey": _unused, ...withoutKey } = otherRawConfig();
        const graph = await graphFor({ ...withoutKey, "limen:tls": JSON.stringify({ source: "acme", email: "ops@example.org" }) });
        const views = graph.map((r) => toResourceView({ ...r, props: sdkProps(r.wire) }));
        // Every resource that reaches a host is one the policies recognise as such, and each type they
        // know is one the stack registers: a renamed type would fail here, not pass every policy unread.
        expect(new Set(graph.filter((r) => r.wire.connection !== undefined).map((r) => r.type))).toEqual(new Set(Object.values(hostResourceTypes)));
        expect(
            views
                .filter(actsOnHost)
                .map((r) => r.name)
                .sort(),
        ).toEqual(
            graph
                .filter((r) => r.wire.connection !== undefined)
                .map((r) => r.name)
                .sort(),
        );
        expect(views.filter(isEnvFile).map((r) => [r.name, r.props.path])).toEqual([[envFile, planStack(other).frontend.files.find((f) => f.name === "env-production")!.path]]);
        expect(views.filter(isEnvoyBootstrapFile).map((r) => r.name)).toEqual([envoyConfig]);
        expect(path.posix.basename(String(views.find((r) => r.name === envFile)!.props.path))).toBe(envFileName);
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
        expect(contentOf(graph, envFile)).toContain("# NEXT_PUBLIC_BACKEND_URL is deliberately not set");
        expect(violationsOf(await runResourcePolicy("no-next-public-backend-url", graph))).toEqual([]);
    });

    it.each([
        ["an assignment in .env.production", "NEXT_PUBLIC_BACKEND_URL=http://10.0.0.100:18443"],
        ["an exported, quoted assignment", `export NEXT_PUBLIC_BACKEND_URL='https://api.example.org'`],
        ["an assignment with spaces", "NEXT_PUBLIC_BACKEND_URL = /api"],
    ])("refuses %s", async (_label, line) => {
        const graph = await graphFor(prodRawConfig());
        const outcomes = await runResourcePolicy("no-next-public-backend-url", withEnvFile(graph, `${contentOf(graph, envFile)}${line}\n`));
        expect(violationsOf(outcomes)).toEqual([expect.stringMatching(/^limen:host:HostFile "frontend-apps-env-production": content, line 8, assigns NEXT_PUBLIC_BACKEND_URL/)]);
    });

    it("refuses it inside a secret env file without quoting the file", async () => {
        const graph = await graphFor(otherRawConfig());
        const outcomes = await runResourcePolicy("no-next-public-backend-url", withEnvFile(graph, `${contentOf(graph, envFile)}NEXT_PUBLIC_BACKEND_URL=x\n`));
        const messages = violationsOf(outcomes);
        expect(messages).toHaveLength(1);
        expect(messages.join("\n")).not.toMatch(/s3cr3t|SESSION_SECRET/);
    });

    it("refuses it in the pm2 ecosystem (a JSON key) and in a container's environment", async () => {
        let graph = await graphFor(prodRawConfig());
        const ecosystem = contentOf(graph, "frontend-apps-ecosystem");
        // The added key goes on the line after the first app's NODE_ENV.
        const line = ecosystem.split("\n").findIndex((text) => text.includes(`"NODE_ENV": "production"`)) + 2;
        expect(line).toBeGreaterThan(1);
        graph = changed(graph, "frontend-apps-ecosystem", (wire) => {
            wire.content = ecosystem.replace(`"NODE_ENV": "production"`, `"NODE_ENV": "production",\n        "NEXT_PUBLIC_BACKEND_URL": "http://10.0.0.100:18443"`);
        });
        graph = changed(graph, "frontend-envoy-container", (wire) => {
            wire.envs = [...(wire.envs as string[]), "NEXT_PUBLIC_BACKEND_URL=http://10.0.0.100:18443"];
        });
        const outcomes = await runResourcePolicy("no-next-public-backend-url", graph);
        expect(outcomes.get("frontend-apps-ecosystem")!.violations).toEqual([
            { message: expect.stringContaining(`content, line ${line}, assigns`), urn: expect.stringMatching(/::frontend-apps-ecosystem$/) },
        ]);
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
        const outcome = (await runResourcePolicy("no-next-public-backend-url", graph)).get(envFile)!;
        expect(outcome).toEqual({ violations: [], notApplicable: expect.stringContaining("content unknown during preview") });
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
        const text = contentOf(graph, envFile).replace("AGENT_HOST=192.0.2.100", "AGENT_HOST=127.0.0.1");
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

    it("finds the files by their inputs, whatever the resources' names: an env file by its path, Envoy's bootstrap by its content", async () => {
        const graph = await graphFor(prodRawConfig());
        let edited = added(graph, envFile, "renamed-env", (wire) => {
            wire.path = "/srv/elsewhere/.env.production";
            setPlain(wire, "content", renderEnvFile({ ...envFileSpec(prod), backendHost: "localhost" }));
        });
        edited = added(edited, envoyConfig, "renamed-envoy", (wire) => {
            // Without the `envoy` check, the content still says what the file is.
            wire.check = "none";
            wire.content = renderEnvoy({ ...envoySpec(prod), backend: { address: "127.0.0.1", port: 18443 } });
        });
        const outcomes = await runResourcePolicy("backend-address-not-loopback", edited);
        expect(outcomes.get("renamed-env")!.violations.map((v) => v.message)).toEqual([expect.stringContaining("BACKEND_HOST=localhost is a loopback address")]);
        expect(outcomes.get("renamed-envoy")!.violations.map((v) => v.message)).toEqual([expect.stringContaining("endpoint 127.0.0.1 is a loopback address")]);
        expect(violationsOf(outcomes)).toHaveLength(2);
    });

    it("skips an env file whose content is unknown during preview, and does not crash", async () => {
        const graph = withEnvFile(await graphFor(otherRawConfig()), unknownValue);
        expect((await runResourcePolicy("backend-address-not-loopback", graph)).get(envFile)).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("the .env.production content is unknown during preview"),
        });
    });
});

describe("remote-connections-pin-host-keys", () => {
    const placeholder = (JSON.parse(rawConfigFromStackFile("Pulumi.prod.yaml")["limen:backend"]!) as { hostKey: string }).hostKey;
    const skKey = `sk-ssh-ed25519@openssh.com ${Buffer.concat([sshField("sk-ssh-ed25519@openssh.com"), sshField(Buffer.alloc(32, 7)), sshField("ssh:")]).toString("base64")}`;

    it.each([
        ["empty", ""],
        ["blank", "   "],
        ["Pulumi.prod.yaml's placeholder", placeholder],
        ["a key of another type than it claims", ed25519HostKey().replace("ssh-ed25519", "ssh-rsa")],
        ["a truncated key", ed25519HostKey().slice(0, 40)],
        ["a security-key type, which the config refuses too", skKey],
    ])("refuses a host resource whose hostKey is %s", async (_label, hostKey) => {
        const graph = changed(await graphFor(prodRawConfig()), backendTable, (wire) => {
            connectionOf(wire).hostKey = hostKey;
        });
        const outcomes = await runResourcePolicy("remote-connections-pin-host-keys", graph);
        expect(violationsOf(outcomes)).toEqual([expect.stringMatching(/^limen:host:FirewallTable "backend-firewall-table": connection\.hostKey /)]);
    });

    it("refuses a host resource with no hostKey at all", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-apps-pm2", (wire) => {
            delete connectionOf(wire).hostKey;
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringMatching(/^limen:host:Pm2Apps "frontend-apps-pm2": connection\.hostKey is not set/),
        ]);
    });

    it("refuses a host resource with no connection", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-apps-ecosystem", (wire) => {
            delete wire.connection;
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringContaining(`"frontend-apps-ecosystem": has no connection to check`),
        ]);
    });

    it("checks any resource with a connection, whatever its type, and its jump host", async () => {
        const graph = addedOnHost(await graphFor(prodRawConfig()), "frontend-apps-pm2", "command:remote:Command", "hand-written", {
            connection: { host: "10.0.0.10", user: "deploy", hostKey: ed25519HostKey(), proxy: { host: "10.0.0.1", user: "jump" } },
            create: "true",
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringMatching(/^command:remote:Command "hand-written": connection\.proxy\.hostKey is not set/),
        ]);
    });

    it.each([
        [
            "StrictHostKeyChecking=no",
            (opts: string[]) => opts.map((o) => o.replace("StrictHostKeyChecking=yes", "StrictHostKeyChecking=no")),
            /StrictHostKeyChecking=yes.*found StrictHostKeyChecking=no/,
        ],
        [
            "an earlier StrictHostKeyChecking=accept-new (ssh takes the first)",
            (opts: string[]) => ["-oStrictHostKeyChecking=accept-new", ...opts],
            /found StrictHostKeyChecking=accept-new/,
        ],
        [
            "no StrictHostKeyChecking",
            (opts: string[]) => opts.filter((o, i) => !o.startsWith("StrictHostKeyChecking") && !opts[i + 1]?.startsWith("StrictHostKeyChecking")),
            /StrictHostKeyChecking=yes.*found none/,
        ],
        ["UserKnownHostsFile=/dev/null", (opts: string[]) => opts.map((o) => o.replace(/UserKnownHostsFile=.*/, "UserKnownHostsFile=/dev/null")), /UserKnownHostsFile=\/dev\/null/],
    ])("refuses Docker's ssh:// with %s", async (_label, edit, message) => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-envoy-docker", (wire) => {
            setPlain(wire, "sshOpts", JSON.stringify(edit(JSON.parse(plainOnWire(wire.sshOpts) as string) as string[])));
        });
        const messages = violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph));
        expect(messages).toEqual([expect.stringMatching(message)]);
        expect(messages[0]).toMatch(/^pulumi:providers:docker "frontend-envoy-docker": ssh:\/\/deploy@10\.0\.0\.10:22 /);
    });

    it("refuses Docker sshOpts it cannot read, rather than guessing", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "frontend-envoy-docker", (wire) => {
            setPlain(wire, "sshOpts", "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/tmp/k");
        });
        expect(violationsOf(await runResourcePolicy("remote-connections-pin-host-keys", graph))).toEqual([
            expect.stringContaining("sshOpts cannot be read as a list of ssh arguments"),
        ]);
    });

    it("the Docker provider's sshOpts arrive JSON-encoded and secret, and are read", async () => {
        const docker = (await graphFor(prodRawConfig())).find((r) => r.name === "frontend-envoy-docker")!;
        expect(isSecretOnWire(docker.wire.sshOpts)).toBe(true);
        expect(sshOptions(JSON.parse(plainOnWire(docker.wire.sshOpts) as string))).toEqual([
            ["identityagent", expect.stringMatching(/agent\.sock$/)],
            ["identitiesonly", "yes"],
            ["stricthostkeychecking", "yes"],
            ["userknownhostsfile", expect.stringMatching(/known_hosts$/)],
        ]);
    });

    it("skips a connection unknown during preview", async () => {
        const graph = changed(await graphFor(prodRawConfig()), "backend-host-tool", (wire) => {
            wire.connection = unknownValue;
        });
        expect((await runResourcePolicy("remote-connections-pin-host-keys", graph)).get("backend-host-tool")).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("connection is unknown during preview"),
        });
    });
});

describe("env-file-not-world-readable", () => {
    const envPath = "/srv/limen-frontend/.env.production";
    const withMode = async (mode: unknown) => changed(await graphFor(prodRawConfig()), envFile, (wire) => Object.assign(wire, { mode }));

    it("reads the mode the plan gives the file", async () => {
        const graph = await graphFor(prodRawConfig());
        expect(graph.find((r) => r.name === envFile)!.wire).toMatchObject({ path: envPath, mode: "0600" });
    });

    it.each(["0600", "0640", "0400", "600"])("accepts mode %s", async (mode) => {
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", await withMode(mode)))).toEqual([]);
    });

    it.each(["0644", "0604", "0601", "0666", "4600", "rw-------"])("refuses mode %s", async (mode) => {
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", await withMode(mode)))).toEqual([
            expect.stringMatching(new RegExp(`^limen:host:HostFile "frontend-apps-env-production": installs ${envPath} with mode ${mode}; it must give others nothing`)),
        ]);
    });

    it("checks every file resource that installs the file, whatever its name or directory", async () => {
        const graph = added(await graphFor(prodRawConfig()), "frontend-apps-ecosystem", "renamed", (wire) => {
            wire.path = "/srv/darc-kr/.env.production";
        });
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", graph))).toEqual([
            expect.stringContaining(`"renamed": installs /srv/darc-kr/.env.production with mode 0644`),
        ]);
    });

    it("refuses a resource that writes the file some other way, whatever its name", async () => {
        const graph = addedOnHost(await graphFor(prodRawConfig()), "frontend-apps-pm2", "command:remote:Command", "hand-written", {
            create: `sudo -n sh -c 'cat > ${envPath}'`,
        });
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", graph))).toEqual([
            expect.stringMatching(/"hand-written": create names \.env\.production; only a file resource \(HostFile\) declares the mode it leaves/),
        ]);
    });

    it("skips a mode or a path unknown during preview", async () => {
        expect((await runResourcePolicy("env-file-not-world-readable", await withMode(unknownValue))).get(envFile)).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("mode is unknown during preview"),
        });
        const graph = changed(await graphFor(prodRawConfig()), envFile, (wire) => Object.assign(wire, { path: unknownValue }));
        expect((await runResourcePolicy("env-file-not-world-readable", graph)).get(envFile)).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("path is unknown during preview, so it is not known whether it installs .env.production"),
        });
    });
});

describe("backend-firewall-frontend-only", () => {
    const check = async (graph: GraphResource[], config: object = {}) => runStackPolicy("backend-firewall-frontend-only", graph, config);

    it.each<[string, Partial<FirewallSpec>, RegExp[]]>([
        [
            "another client next to the frontend",
            { internalClients: ["10.0.0.10", "10.0.0.99"] },
            [/internal_clients lists 10\.0\.0\.99, which is not a frontend address \(10\.0\.0\.10\)/],
        ],
        ["a whole network as client", { internalClients: ["10.0.0.0/24"] }, [/lists 10\.0\.0\.0\/24/, /hold no frontend address/]],
        ["no client at all", { internalClients: [] }, [/hold no frontend address/]],
        ["18443 left out of internal_ports", { internalTcpPorts: [9000] }, [/port 18443 is not in internal_ports/, /port 18443 is not in guarded_ports/]],
        ["9000 left out of internal_ports", { internalTcpPorts: [18443] }, [/port 9000 is not in internal_ports/, /port 9000 is not in guarded_ports/]],
        ["9000 also public", { publicTcpPorts: [9000] }, [/port 9000 is in public_ports/]],
    ])("refuses a backend ruleset with %s", async (_label, spec, messages) => {
        const outcome = await check(withBackendFirewall(await graphFor(prodRawConfig()), spec));
        expect(outcome.violations.map((v) => v.message)).toEqual(messages.map((m) => expect.stringMatching(m)));
        expect(outcome.violations[0]!.urn).toMatch(/::backend-firewall-table$/);
    });

    it("refuses an element added after the table", async () => {
        const graph = await graphFor(prodRawConfig());
        const ruleset = `${graph.find((r) => r.name === backendTable)!.wire.ruleset as string}add element inet limen_firewall internal_clients_v4 { 203.0.113.5 }\n`;
        const outcome = await check(changed(graph, backendTable, (wire) => setPlain(wire, "ruleset", ruleset)));
        expect(outcome.violations.map((v) => v.message)).toEqual([expect.stringContaining("lists 203.0.113.5")]);
    });

    it("finds the ruleset by what it does, not by its name", async () => {
        const graph = withBackendFirewall(await graphFor(prodRawConfig()), { internalClients: ["10.0.0.99"] }).map((r) =>
            r.name === backendTable ? { ...r, name: "renamed", urn: r.urn.replace(/backend-firewall-table$/, "renamed") } : r,
        );
        expect((await check(graph)).violations.map((v) => v.urn)).toEqual([expect.stringMatching(/::renamed$/), expect.stringMatching(/::renamed$/)]);
    });

    it("refuses a stack whose backend has no ruleset", async () => {
        const graph = (await graphFor(prodRawConfig())).filter((r) => r.name !== backendTable);
        expect((await check(graph)).violations).toEqual([
            { message: expect.stringMatching(/^backend 10\.0\.0\.100: no FirewallTable loads the inet limen_firewall ruleset/), urn: undefined },
        ]);
    });

    it("does not take a ruleset written to a file for one that is loaded", async () => {
        const graph = await graphFor(prodRawConfig());
        const ruleset = graph.find((r) => r.name === backendTable)!.wire.ruleset as string;
        const asFile = addedOnHost(graph, backendTable, "limen:host:HostFile", "backend-ruleset-file", {
            toolPath: "/usr/local/libexec/limen/limen-host",
            path: "/etc/nftables.conf",
            mode: "0644",
            owner: "root:root",
            check: "nft",
            checkArgs: [],
            content: ruleset,
        }).filter((r) => r.name !== backendTable);
        expect((await check(asFile)).violations.map((v) => v.message)).toEqual([expect.stringMatching(/^backend 10\.0\.0\.100: no FirewallTable loads/)]);
    });

    it("takes the frontend's host from the resources that install its files, and further addresses from policy config", async () => {
        const graph = await graphFor(otherRawConfig());
        expect((await check(graph)).violations.map((v) => v.message)).toEqual([
            expect.stringContaining("port 9000 is not in internal_ports"),
            expect.stringContaining("port 9000 is not in guarded_ports"),
            expect.stringContaining("internal_clients lists 2001:db8::10, which is not a frontend address (192.0.2.10)"),
        ]);
        expect((await check(graph, { internalPorts: [18443, 9100], additionalFrontendAddresses: ["2001:DB8:0::10"] })).violations).toEqual([]);
    });

    it("refuses a stack in which no resource installs the frontend's files", async () => {
        const graph = (await graphFor(prodRawConfig())).filter((r) => r.name !== envFile && r.name !== envoyConfig);
        expect((await check(graph)).violations).toEqual([{ message: expect.stringMatching(/^no resource installs \.env\.production or the Envoy config/), urn: undefined }]);
    });

    it("skips a ruleset unknown during preview", async () => {
        const graph = changed(await graphFor(prodRawConfig()), backendTable, (wire) => {
            wire.ruleset = unknownValue;
        });
        expect(await check(graph)).toEqual({ violations: [], notApplicable: expect.stringContaining("backend-firewall-table is unknown during preview") });
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
        const noCluster = withEnvoyConfig(graph, contentOf(graph, envoyConfig).replaceAll("limen_backend", "other_backend"));
        expect((await check(noCluster)).violations.map((v) => v.message)).toEqual([expect.stringContaining("has no cluster limen_backend")]);
        const noHost = withEnvFile(graph, contentOf(graph, envFile).replace(/^BACKEND_HOST=.*\n/m, ""));
        expect((await check(noHost)).violations.map((v) => v.message)).toEqual([expect.stringContaining("must set BACKEND_HOST and a numeric BACKEND_PORT")]);
    });

    it("compares IPv6 addresses in any spelling", async () => {
        const config = parseConfig({
            ...otherRawConfig(),
            "limen:backend": JSON.stringify({ ...JSON.parse(otherRawConfig()["limen:backend"]!), internalAddress: "2001:db8::100" }),
        });
        const graph = withEnvoyConfig(await graphFor(otherRawConfig()), renderEnvoy({ ...envoySpec(config), backend: { address: "2001:DB8:0:0::100", port: 18443 } }));
        const env = renderEnvFile({ ...envFileSpec(other), backendHost: "2001:db8::100" });
        expect((await check(withEnvFile(graph, env))).violations).toEqual([]);
    });

    it("has nothing to compare when Envoy is off (the lab)", async () => {
        const graph = await graphFor(withOverride(prodRawConfig(), "envoy", { enabled: false }));
        expect(graph.some((r) => r.name === envoyConfig)).toBe(false);
        expect(await check(graph)).toEqual({ violations: [] });
    });

    it("skips a secret env file unknown during preview, and does not crash", async () => {
        const graph = withEnvFile(await graphFor(otherRawConfig()), unknownValue);
        expect(await check(graph)).toEqual({ violations: [], notApplicable: expect.stringContaining("unknown during preview") });
    });
});

describe("what the policies read, judged against the stack's own writers", () => {
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

    it("the plan's firewall ruleset is what the FirewallTable carries", async () => {
        const graph = await graphFor(prodRawConfig());
        expect(graph.find((r) => r.name === backendTable)!.wire.ruleset).toBe(planStack(prod).backend.firewall.ruleset);
    });

    it("isHostKeyLine accepts what ssh-keyscan prints and the fixtures' keys", () => {
        expect(isHostKeyLine(ed25519HostKey())).toBe(true);
        expect(isHostKeyLine(`${ed25519HostKey()} root@frontend`)).toBe(true);
        expect(isHostKeyLine("ssh-ed25519")).toBe(false);
    });

    it.each(hostKeyTypes)("the config schema and the policy both accept a %s host key", (type) => {
        const line = hostKeyLineOf(type);
        expect(isHostKeyLine(line)).toBe(true);
        expect(parseConfig(withOverride(prodRawConfig(), "backend", { hostKey: line })).backend.hostKey).toBe(line);
    });

    it.each([
        [
            "a security-key type",
            `sk-ssh-ed25519@openssh.com ${Buffer.concat([sshField("sk-ssh-ed25519@openssh.com"), sshField(Buffer.alloc(32, 7)), sshField("ssh:")]).toString("base64")}`,
        ],
        ["DSA", `ssh-dss ${Buffer.concat([sshField("ssh-dss"), ...[1, 2, 3, 4].map((n) => sshMpint(Buffer.alloc(20, n)))]).toString("base64")}`],
        ["an ECDSA key relabelled with another curve", hostKeyLineOf("ecdsa-sha2-nistp256").replace(/^\S+/, "ecdsa-sha2-nistp384")],
        ["a key with a field cut off", `ssh-rsa ${sshField("ssh-rsa").toString("base64")}`],
    ])("the config schema and the policy both refuse %s", (_label, line) => {
        expect(isHostKeyLine(line)).toBe(false);
        expect(() => parseConfig(withOverride(prodRawConfig(), "backend", { hostKey: line }))).toThrow(/limen:backend\.hostKey/);
    });
});
