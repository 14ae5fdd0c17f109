/** The address policies (policy/rules/addresses.ts): no NEXT_PUBLIC backend URL, no loopback backend. */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { envFileSpec } from "../../../plan/files";
import { envoySpec } from "../../../plan/envoy";
import { renderEnvFile } from "../../../render/env-file";
import { renderEnvoy } from "../../../render/envoy";
import { otherRawConfig, prodRawConfig } from "../../support/fixtures";
import { runResourcePolicy, violationsOf } from "../../support/policy-harness";
import { prod, graphFor, changed, added, setPlain, envFile, envoyConfig, contentOf, withEnvFile, withEnvoyConfig, loopbackSpellings } from "../../support/policy-graphs";
import { useMockedStack } from "../../support/stack-registrations";

useMockedStack();

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
