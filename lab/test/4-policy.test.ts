/**
 * The policy pack (policy/) judging the real resource graph in `pulumi preview`: the lab stack passes,
 * and a program that adds a resource breaking the seed's rules is refused with the policy's message.
 * The config schema already refuses every wrong *setting*; the pack guards against a wrong *program*.
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { beforeAll, describe, expect, it } from "vitest";
import { HostFile } from "../../components/host-resources";
import { hostToolPath } from "../../core/host-paths";
import { sha256 } from "../../core/sha256";
import { policies } from "../../policy/policies";
import { configureLabStack, LabHosts, openLabStack, readLabHosts, repoRoot, stateDir } from "../stack";

let hosts: LabHosts;
const policyPack = path.join(repoRoot, "lab", "policy-pack");

/** What the engine reports of one pack's policies on a resource or the stack (policyAnalyze*SummaryEvent). */
interface PolicySummary {
    policyPackName: string;
    passed?: string[];
    failed?: string[];
}
const policyConfig = path.join(stateDir, "policy-config.json");
const quiet = { color: "never" as const, onOutput: () => undefined };

beforeAll(async () => {
    hosts = readLabHosts();
    await configureLabStack(hosts);
    // The lab's frontend also reaches the backend over IPv6; the pack learns that address from its config.
    writeFileSync(policyConfig, JSON.stringify({ "backend-firewall-frontend-only": { additionalFrontendAddresses: [hosts.hosts.frontend.ipv6] } }));
}, 120_000);

describe("the seed's rules as policy, in `pulumi preview --policy-pack`", () => {
    it("the lab stack passes every policy", async () => {
        const stack = await openLabStack();
        const events: EngineEvent[] = [];
        await stack.preview({ ...quiet, policyPacks: [policyPack], policyPackConfigs: [policyConfig], onEvent: (event) => events.push(event) });
        // The pack ran, and each of its policies passed: the engine reports what every policy judged, per
        // resource and for the stack, in events the SDK's types do not name yet. A preview that never loaded
        // the pack has no violation either, so the absence of one proves nothing.
        const raw = events as unknown as Record<string, PolicySummary | undefined>[];
        const perResource = raw.flatMap((event) => (event.policyAnalyzeSummaryEvent ? [event.policyAnalyzeSummaryEvent] : []));
        const forStack = raw.flatMap((event) => (event.policyAnalyzeStackSummaryEvent ? [event.policyAnalyzeStackSummaryEvent] : []));
        const names = (kind: "validateResource" | "validateStack") =>
            policies
                .filter((policy) => kind in policy)
                .map((policy) => policy.name)
                .sort();
        // Every resource the preview visited was judged by the pack, and nothing failed.
        expect(perResource.length).toBe(events.filter((event) => event.resourcePreEvent).length);
        expect(new Set(perResource.map((summary) => summary.policyPackName))).toEqual(new Set(["limen"]));
        expect(perResource.flatMap((summary) => summary.failed ?? [])).toEqual([]);
        expect([...new Set(perResource.flatMap((summary) => summary.passed ?? []))].sort()).toEqual(names("validateResource"));
        expect(forStack.map((summary) => [summary.policyPackName, [...(summary.passed ?? [])].sort(), summary.failed ?? []])).toEqual([["limen", names("validateStack"), []]]);
        expect(events.flatMap((event) => (event.policyEvent ? [`${event.policyEvent.policyName}: ${event.policyEvent.message}`] : []))).toEqual([]);
    }, 300_000);

    it("a program that writes NEXT_PUBLIC_BACKEND_URL to a host is refused with the policy's message", async () => {
        const { frontend } = hosts.hosts;
        const content = `NEXT_PUBLIC_BACKEND_URL=http://${hosts.hosts.backend.ipv4}:18443\n`;
        const stack = await openLabStack(() => {
            // A file the stack's own resource type would install on the frontend; the pack must refuse it
            // in preview, before any provider runs.
            new HostFile(
                "lab-policy-violation",
                {
                    connection: pulumi.secret({
                        role: "frontend",
                        address: frontend.ipv4,
                        port: frontend.sshPort,
                        user: frontend.user,
                        hostKey: frontend.hostKey,
                        connectAttempts: 1,
                        connectTimeoutSeconds: 5,
                        // A preview never dials a host (the provider's create is not called), so no key is needed.
                        privateKey: "",
                    }),
                    toolPath: hostToolPath,
                    path: "/etc/limen/lab-policy-violation.env",
                    mode: "0600",
                    owner: "root:root",
                    check: "none",
                    checkArgs: [],
                    content,
                    contentSha256: sha256(content),
                },
                { secret: false },
            );
        });
        const events: EngineEvent[] = [];
        const error = await stack.preview({ ...quiet, policyPacks: [policyPack], policyPackConfigs: [policyConfig], onEvent: (event) => events.push(event) }).then(
            () => "",
            (e: Error) => e.message,
        );
        expect(error).toMatch(/mandatory/);
        expect(error).toMatch(/NEXT_PUBLIC_BACKEND_URL/);
        // The violation came from the pack, at the mandatory level, on the program's own resource.
        const violations = events.flatMap((event) => (event.policyEvent ? [event.policyEvent] : []));
        expect(violations.map((v) => [v.policyPackName, v.enforcementLevel, v.resourceUrn?.split("::").at(-1)])).toContainEqual(["limen", "mandatory", "lab-policy-violation"]);
        expect(error).toMatch(/lab-policy-violation/);
    }, 300_000);
});
