/** The stack's resource graph as the policy pack sees it, and copies of it with one thing changed. */
import { generateKeyPairSync, JsonWebKey } from "node:crypto";
import { parseConfig } from "../../config";
import { backendFirewallSpec } from "../../plan/firewall";
import { FirewallSpec, renderFirewall } from "../../render/firewall";
import { ed25519HostKey, otherRawConfig, prodRawConfig } from "./fixtures";
import { isSecretOnWire, plainOnWire } from "./mocks";
import { GraphResource, graphOf } from "./policy-harness";
import { registrationsFor } from "./stack-registrations";

export const prod = parseConfig(prodRawConfig());
export const other = parseConfig(otherRawConfig());

export const graphs = new Map<string, GraphResource[]>();

/**
 * The resource graph the stack registers for a raw config, as the engine hands it to the policy pack
 * (registered once per config; each caller gets its own copy).
 */
export async function graphFor(raw: Record<string, string>): Promise<GraphResource[]> {
    const key = JSON.stringify(raw);
    if (!graphs.has(key)) graphs.set(key, graphOf(await registrationsFor(raw)));
    return graphs.get(key)!.map((r) => ({ ...r, wire: structuredClone(r.wire) }));
}

/** A copy of the graph with one resource's wire properties changed (secret envelopes kept). */
export function changed(graph: GraphResource[], name: string, change: (wire: Record<string, unknown>) => void): GraphResource[] {
    const copy = graph.map((r) => ({ ...r, wire: structuredClone(r.wire) }));
    const target = copy.find((r) => r.name === name);
    if (!target) throw new Error(`no resource ${name}`);
    change(target.wire);
    return copy;
}

/** A copy of the graph with one more resource: `like`'s type and inputs under a new name, then changed. */
export function added(graph: GraphResource[], like: string, name: string, change: (wire: Record<string, unknown>) => void): GraphResource[] {
    const model = graph.find((r) => r.name === like);
    if (!model) throw new Error(`no resource ${like}`);
    const resource = { type: model.type, name, urn: `urn:pulumi:unit::limen::${model.type}::${name}`, wire: structuredClone(model.wire) };
    change(resource.wire);
    return [...graph.map((r) => ({ ...r, wire: structuredClone(r.wire) })), resource];
}

/** A copy of the graph with a resource of another type on `like`'s host: its connection and `inputs`. */
export function addedOnHost(graph: GraphResource[], like: string, type: string, name: string, inputs: Record<string, unknown>): GraphResource[] {
    const model = graph.find((r) => r.name === like);
    if (!model) throw new Error(`no resource ${like}`);
    const resource = { type, name, urn: `urn:pulumi:unit::limen::${type}::${name}`, wire: { connection: structuredClone(model.wire.connection), ...inputs } };
    return [...graph.map((r) => ({ ...r, wire: structuredClone(r.wire) })), resource];
}

/** Sets a property's plain value, inside its secret envelope when it has one. */
export function setPlain(wire: Record<string, unknown>, key: string, value: unknown): void {
    const current = wire[key];
    if (isSecretOnWire(current)) (current as { value: unknown }).value = value;
    else wire[key] = value;
}

export const envFile = "frontend-apps-env-production";
// The file that holds Envoy's clusters (the CDS file its container watches).
export const envoyConfig = "frontend-envoy-cds";
export const backendTable = "backend-firewall-table";

export const contentOf = (graph: GraphResource[], name: string) => plainOnWire(graph.find((r) => r.name === name)!.wire.content) as string;
export const connectionOf = (wire: Record<string, unknown>) => plainOnWire(wire.connection) as Record<string, unknown>;
export const withBackendFirewall = (graph: GraphResource[], spec: Partial<FirewallSpec>) =>
    changed(graph, backendTable, (wire) => setPlain(wire, "ruleset", renderFirewall({ ...backendFirewallSpec(prod), ...spec })));
export const withEnvFile = (graph: GraphResource[], text: string) => changed(graph, envFile, (wire) => setPlain(wire, "content", text));
export const withEnvoyConfig = (graph: GraphResource[], text: string) => changed(graph, envoyConfig, (wire) => setPlain(wire, "content", text));

export const loopbackSpellings = [
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
export function sshField(data: Buffer | string): Buffer {
    const bytes = Buffer.from(data);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
}

export const sshMpint = (bytes: Buffer) => sshField(bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const fromJwk = (value: string | undefined) => Buffer.from(value ?? "", "base64url");

/** An OpenSSH public key line for a freshly generated key of `type`, as `ssh-keyscan -t` prints it. */
export function hostKeyLineOf(type: string): string {
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
