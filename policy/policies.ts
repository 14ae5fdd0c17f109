import type { Policies, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import {
    backendFirewallFindings,
    envFileModeFindings,
    envoyBackendFindings,
    FirewallPolicyConfig,
    Finding,
    forbiddenEnvKeyFindings,
    hostKeyFindings,
    loopbackBackendFindings,
    seedInternalPorts,
} from "./rules";
import { ResourceView, toResourceView } from "./values";

/**
 * The policy engine's side of policy/rules/: each wrapper turns what the SDK hands over into plain
 * resources, runs one pure function, reports its violations and, when the only findings are values
 * unknown during preview, marks the policy not applicable with the reason (shown in the policy summary).
 */
function report(findings: Finding[], reportViolation: ReportViolation, notApplicable: (reason: string) => never): void {
    const violations = findings.filter((f) => f.kind === "violation");
    for (const v of violations) reportViolation(v.message, v.urn === "" ? undefined : v.urn);
    const skipped = findings.filter((f) => f.kind === "skipped");
    if (violations.length === 0 && skipped.length > 0) notApplicable(skipped.map((f) => f.message).join("; "));
}

function resourcePolicy(name: string, description: string, check: (r: ResourceView) => Finding[]): ResourceValidationPolicy {
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) =>
            report(check(toResourceView(args)), reportViolation, (reason) => args.notApplicable(reason)),
    };
}

function stackResources(args: StackValidationArgs): ResourceView[] {
    return args.resources.map(toResourceView);
}

export const firewallConfigSchema = {
    properties: {
        internalPorts: { type: "array" as const, items: { type: "integer" as const, minimum: 1, maximum: 65535 }, default: seedInternalPorts },
        additionalFrontendAddresses: { type: "array" as const, items: { type: "string" as const }, default: [] as string[] },
    },
};

export const policies: Policies = [
    resourcePolicy("no-next-public-backend-url", "Nothing sets NEXT_PUBLIC_BACKEND_URL: the browser calls the relative path /api (seed: network-ports).", forbiddenEnvKeyFindings),
    resourcePolicy(
        "backend-address-not-loopback",
        "BACKEND_HOST, AGENT_HOST and Envoy's limen_backend cluster are never a loopback address, in any spelling.",
        loopbackBackendFindings,
    ),
    resourcePolicy(
        "remote-connections-pin-host-keys",
        "Every SSH connection pins the host key: every resource that acts on a host sets connection.hostKey to a real key line, Docker's ssh:// uses StrictHostKeyChecking=yes with its own known_hosts.",
        hostKeyFindings,
    ),
    resourcePolicy("env-file-not-world-readable", ".env.production is installed with a mode that gives others nothing (0600 or 0640).", envFileModeFindings),
    {
        name: "backend-firewall-frontend-only",
        description: "The backend's internal ports (18443, 9000) are in the firewall's internal_ports, reachable from the frontend's addresses only.",
        enforcementLevel: "mandatory",
        configSchema: firewallConfigSchema,
        validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
            const given = args.getConfig<Partial<FirewallPolicyConfig>>();
            const config: FirewallPolicyConfig = {
                internalPorts: given.internalPorts ?? seedInternalPorts,
                additionalFrontendAddresses: given.additionalFrontendAddresses ?? [],
            };
            report(backendFirewallFindings(stackResources(args), config), reportViolation, (reason) => args.notApplicable(reason));
        },
    } satisfies StackValidationPolicy,
    {
        name: "envoy-backend-matches-env",
        description: "Envoy's limen_backend cluster dials BACKEND_HOST:BACKEND_PORT of .env.production, the backend's internal address and port.",
        enforcementLevel: "mandatory",
        validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) =>
            report(envoyBackendFindings(stackResources(args)), reportViolation, (reason) => args.notApplicable(reason)),
    } satisfies StackValidationPolicy,
];
