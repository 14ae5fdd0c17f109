/**
 * The provider plugin as the engine runs it: provider/pulumi-resource-limen started as a process, spoken
 * to over gRPC with the engine's own protocol messages. Diffs and errors are checked here with no host;
 * the lab runs the same plugin against real machines.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { hostResourceTypes } from "../../core/resource-types";
import { typeOfUrn } from "../../provider/server";
import { fakePrivateKey, prodRawConfig } from "../support/fixtures";
import { installMocks, plainOnWire, recordRegistrations, Registration } from "../support/mocks";

const root = path.join(__dirname, "..", "..");
let plugin: ChildProcess;
let client: provrpc.ResourceProviderClient;
let registrations: Registration[];

beforeAll(async () => {
    await installMocks();
    const { createLimenStack } = await import("../../components/stack");
    registrations = await recordRegistrations(() => {
        createLimenStack(parseConfig(prodRawConfig()));
    });
    // As the engine starts it: the executable Pulumi.yaml's plugins.providers points at, its address as argument.
    plugin = spawn(path.join(root, "provider", "pulumi-resource-limen"), ["127.0.0.1:1"], { stdio: ["ignore", "pipe", "pipe"] });
    const port = await new Promise<string>((resolve, reject) => {
        plugin.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
        plugin.once("exit", (code) => reject(new Error(`the plugin exited (${code}) before printing its port`)));
    });
    expect(port).toMatch(/^\d+$/);
    client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 60_000);

afterAll(() => {
    client?.close();
    plugin?.kill();
});

/** One unary call, as a promise (the generated client's methods are overloaded, so the response type is named). */
function call<Res>(method: (...args: never[]) => unknown, request: unknown): Promise<Res> {
    const unary = method as unknown as (request: unknown, callback: (error: grpc.ServiceError | null, response: Res) => void) => unknown;
    return new Promise((resolve, reject) => unary.call(client, request, (error, response) => (error ? reject(error) : resolve(response))));
}

function registration(name: string): Registration {
    const found = registrations.find((r) => r.name === name);
    if (!found) throw new Error(`no resource ${name}`);
    return found;
}

/** A resource's inputs as the engine sends them to a provider that does not accept secrets: plain values. */
function wireInputs(r: Registration): Record<string, structproto.JavaScriptValue> {
    return JSON.parse(JSON.stringify(r.wire, (_key, value) => plainOnWire(value))) as Record<string, structproto.JavaScriptValue>;
}

const urnOf = (r: Registration, type = r.type) => `urn:pulumi:prod::limen::limen:frontend:FrontendApps$${type}::${r.name}`;
const struct = (value: Record<string, structproto.JavaScriptValue>) => structproto.Struct.fromJavaScript(value);

function diff(r: Registration, olds: Record<string, structproto.JavaScriptValue>, news: Record<string, structproto.JavaScriptValue>) {
    const request = new provproto.DiffRequest().setUrn(urnOf(r)).setId("frontend:x").setOlds(struct(olds)).setNews(struct(news));
    return call<provproto.DiffResponse>(client.diff, request);
}

describe("the provider plugin", () => {
    it("says its version and takes secrets unwrapped, with no create or update in a preview", async () => {
        const info = await call<plugproto.PluginInfo>(client.getPluginInfo, new emptyproto.Empty());
        expect(info.getVersion()).toBe((JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version);
        const configured = await call<provproto.ConfigureResponse>(client.configure, new provproto.ConfigureRequest().setArgs(struct({})));
        expect([configured.getAcceptsecrets(), configured.getSupportspreview()]).toEqual([false, false]);
    });

    it("serves every type the components register for a host resource (anything with a connection)", () => {
        const registered = new Set(registrations.filter((r) => r.wire.connection !== undefined).map((r) => r.type));
        expect([...registered].sort()).toEqual(Object.values(hostResourceTypes).sort());
        expect(typeOfUrn("urn:pulumi:prod::limen::limen:host:RemoteHost$limen:host:HostTool::frontend-host-tool")).toBe("limen:host:HostTool");
    });

    it("check returns the inputs unchanged", async () => {
        const r = registration("frontend-apps-env-production");
        const response = await call<provproto.CheckResponse>(
            client.check,
            new provproto.CheckRequest()
                .setUrn(urnOf(r))
                .setOlds(struct({}))
                .setNews(struct(wireInputs(r))),
        );
        expect(response.getInputs()!.toJavaScript()).toEqual(wireInputs(r));
        expect(response.getFailuresList()).toEqual([]);
    });

    it("diff compares the recorded facts with the plan, with no host: none when equal, some when the mode drifted", async () => {
        const r = registration("frontend-apps-env-production");
        const news = wireInputs(r);
        expect((await diff(r, news, news)).getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
        const drifted = await diff(r, { ...news, mode: "0644" }, news);
        expect(drifted.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_SOME);
        expect(drifted.getReplacesList()).toEqual([]);
        // Another path is another file: replaced (the new one installed before the old one goes).
        expect((await diff(r, { ...news, path: "/srv/elsewhere/.env.production" }, news)).getReplacesList()).toEqual(["path"]);
    });

    it("an unreachable host fails a read with the operator's message", async () => {
        const r = registration("backend-firewall-table");
        const connection = {
            role: "backend",
            address: "127.0.0.1",
            port: 1,
            user: "deploy",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFEsiDBCziheX9kXbn+JukyMc0MWKuYnw8DvTbtkjv0k",
            connectAttempts: 1,
            connectTimeoutSeconds: 2,
            privateKey: fakePrivateKey,
        };
        const request = new provproto.ReadRequest()
            .setUrn(urnOf(r))
            .setId("backend:inet limen_firewall")
            .setProperties(struct({ ...wireInputs(r), connection }));
        await expect(call(client.read, request)).rejects.toThrow(/ssh deploy@127\.0\.0\.1:1: /);
    });

    it("a type it does not serve is refused by name", async () => {
        const r = registration("frontend-apps-pm2");
        const request = new provproto.DiffRequest().setUrn(urnOf(r, "limen:host:Nothing")).setOlds(struct({})).setNews(struct({}));
        await expect(call(client.diff, request)).rejects.toThrow(/the limen provider has no resource type limen:host:Nothing/);
    });
});

describe("the plugin's launcher", () => {
    it("in a checkout without its dependencies, says to run npm ci instead of a module error", () => {
        const checkout = mkdtempSync(path.join(tmpdir(), "limen-checkout-"));
        try {
            mkdirSync(path.join(checkout, "provider"));
            copyFileSync(path.join(root, "provider", "pulumi-resource-limen"), path.join(checkout, "provider", "pulumi-resource-limen"));
            const result = spawnSync("sh", [path.join(checkout, "provider", "pulumi-resource-limen"), "127.0.0.1:1"], { encoding: "utf8", timeout: 10_000 });
            expect(result.status).toBe(1);
            expect(result.stderr).toBe(`pulumi-resource-limen: this checkout's dependencies are not installed; run \`npm ci\` in ${checkout}\n`);
            expect(result.stdout).toBe("");
        } finally {
            rmSync(checkout, { recursive: true, force: true });
        }
    });
});
