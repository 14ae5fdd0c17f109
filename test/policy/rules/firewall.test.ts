/** backend-firewall-frontend-only (policy/rules/firewall.ts). */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { FirewallSpec } from "../../../render/firewall";
import { otherRawConfig, prodRawConfig } from "../../support/fixtures";
import { GraphResource, runStackPolicy } from "../../support/policy-harness";
import { graphFor, changed, addedOnHost, setPlain, envFile, envoyConfig, backendTable, withBackendFirewall } from "../../support/policy-graphs";
import { useMockedStack } from "../../support/stack-registrations";

useMockedStack();

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
