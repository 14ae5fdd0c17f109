/** The policy engine's view of the stack (policy/values.ts). */
import * as path from "node:path";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { envFileName } from "../../core/host-paths";
import { planStack } from "../../plan/hosts";
import { actsOnHost, hostResourceTypes, isEnvFile, isEnvoyBootstrapFile } from "../../policy/rules";
import { toPlain, toResourceView, Unknown } from "../../policy/values";
import { otherRawConfig, prodRawConfig } from "../support/fixtures";
import { isSecretOnWire, secretSignature } from "../support/mocks";
import { runResourcePolicy, runStackPolicy, sdkProps, violationsOf } from "../support/policy-harness";
import { other, graphFor, envFile, envoyConfig } from "../support/policy-graphs";
import { useMockedStack } from "../support/stack-registrations";

useMockedStack();

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
