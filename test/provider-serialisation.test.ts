/**
 * The providers' code as the engine's dynamic-provider plugin runs it: serialised by Pulumi's closure
 * capture, loaded from that text in a fresh Node process. What works in the program but not there (a
 * class whose `super(message)` is lost, a module value not captured) shows here, without a host.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import { fakePrivateKey, prodRawConfig } from "./support/fixtures";
import { installMocks, plainOnWire, recordRegistrations, Registration } from "./support/mocks";

let registrations: Registration[];

beforeAll(async () => {
    await installMocks();
    const { createLimenStack } = await import("../components/stack");
    registrations = await recordRegistrations(() => {
        createLimenStack(parseConfig(prodRawConfig()));
    });
}, 60_000);

/** Loads a resource's serialised provider in a fresh process and runs `script` with it as `provider`. */
function runProvider(resource: string, script: string): { status: number | null; stdout: string; stderr: string } {
    const registration = registrations.find((r) => r.name === resource)!;
    const dir = mkdtempSync(path.join(tmpdir(), "limen-provider-"));
    const file = path.join(dir, "provider.js");
    writeFileSync(file, String(registration.wire.__provider));
    // Loaded the way @pulumi/pulumi's cmd/dynamic-provider loads it (require-from-string, so its run-time
    // requires such as ssh2 resolve from the project's node_modules).
    const driver = `const code = require("fs").readFileSync(${JSON.stringify(file)}, "utf8"); const provider = require("require-from-string")(code).handler(); (async () => { ${script} })().catch((e) => { console.log("threw", JSON.stringify({ name: e.name, message: e.message })); });`;
    const result = spawnSync(process.execPath, ["-e", driver], { cwd: path.join(__dirname, ".."), encoding: "utf8", timeout: 30_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the serialised providers", () => {
    it.each(["frontend-host-tool", "backend-firewall-table", "frontend-apps-env-production", "frontend-apps-pm2"])(
        "%s loads and has read, diff, create, update and delete",
        (resource) => {
            const result = runProvider(resource, `console.log(["read", "diff", "create", "update", "delete"].map((m) => typeof provider[m]).join(","));`);
            expect(result.stdout.trim()).toBe("function,function,function,function,function");
        },
    );

    it("diff compares the recorded facts with the plan, with no host", () => {
        const registration = registrations.find((r) => r.name === "frontend-apps-env-production")!;
        const inputs = JSON.stringify(registration.wire, (_key, value) => plainOnWire(value));
        const result = runProvider(
            "frontend-apps-env-production",
            `const news = ${inputs}; const same = await provider.diff("id", news, news); const drifted = await provider.diff("id", { ...news, mode: "0644" }, news); console.log(JSON.stringify([same.changes, drifted.changes]));`,
        );
        expect(result.stdout.trim()).toBe("[false,true]");
    });

    it("an unreachable host fails with the operator's message, not `undefined` (errors survive serialisation)", () => {
        const registration = registrations.find((r) => r.name === "backend-firewall-table")!;
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
        const result = runProvider(
            "backend-firewall-table",
            `await provider.read("id", { ...${JSON.stringify({ locations: registration.wire.locations, ruleset: "", table: "inet limen_firewall" })}, connection: ${JSON.stringify(connection)} });`,
        );
        const thrown = JSON.parse(result.stdout.trim().replace(/^threw /, "")) as { name: string; message: string };
        expect(thrown.message).toMatch(/^ssh deploy@127\.0\.0\.1:1: /);
    });
});
