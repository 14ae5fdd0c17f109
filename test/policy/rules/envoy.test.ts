/** envoy-backend-matches-env (policy/rules/envoy.ts). */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../config";
import { envFileSpec } from "../../../plan/files";
import { envoySpec } from "../../../plan/envoy";
import { renderEnvFile } from "../../../render/env-file";
import { renderEnvoy } from "../../../render/envoy";
import { otherRawConfig, prodRawConfig, withOverride } from "../../support/fixtures";
import { GraphResource, runStackPolicy } from "../../support/policy-harness";
import { prod, other, graphFor, envFile, envoyConfig, contentOf, withEnvFile, withEnvoyConfig } from "../../support/policy-graphs";
import { useMockedStack } from "../../support/stack-registrations";

useMockedStack();

describe("envoy-backend-matches-env", () => {
    const check = async (graph: GraphResource[]) => runStackPolicy("envoy-backend-matches-env", graph);

    it.each([
        ["the external port", { address: "10.0.0.100", port: 8443 }, /dials 10\.0\.0\.100:8443, but \.env\.production has BACKEND_HOST=10\.0\.0\.100 BACKEND_PORT=18443/],
        ["another address", { address: "10.0.0.101", port: 18443 }, /dials 10\.0\.0\.101:18443/],
    ])("refuses an Envoy cluster on %s", async (_label, backend, message) => {
        const graph = withEnvoyConfig(await graphFor(prodRawConfig()), renderEnvoy({ ...envoySpec(prod), backend }));
        expect((await check(graph)).violations).toEqual([{ message: expect.stringMatching(message), urn: expect.stringMatching(/::frontend-envoy-cds$/) }]);
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
