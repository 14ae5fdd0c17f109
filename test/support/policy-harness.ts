import type { Policy, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { unknownCheckingProxy } from "@pulumi/policy";
import { policies } from "../../policy/policies";
import type { Registration } from "./mocks";

/**
 * Runs the policy pack's wrappers the way @pulumi/policy's analyzer server does (server.js `analyze`
 * and `analyzeStack`): the wire properties go through the SDK's own deserializer (secrets unwrapped,
 * assets rebuilt) and its unknown-checking proxy, and a `notApplicable` call ends the policy.
 * @pulumi/policy ships no test helper; `deserializeProperties` is internal to it (pinned at 1.21.0),
 * and test/policy/values.test.ts checks that it is still there.
 */
const { deserializeProperties } = require("@pulumi/policy/deserialize") as {
    deserializeProperties(struct: unknown, proxySecrets: boolean): Record<string, unknown>;
};
const { Struct } = require("google-protobuf/google/protobuf/struct_pb") as { Struct: { fromJavaScript(value: unknown): unknown } };

/** One resource of the graph as the engine sends it: type, name, URN and wire properties. */
export interface GraphResource {
    type: string;
    name: string;
    urn: string;
    wire: Record<string, unknown>;
}

export function graphOf(registrations: Registration[]): GraphResource[] {
    return registrations.map((r) => ({ type: r.type, name: r.name, urn: `urn:pulumi:unit::limen::${r.type}::${r.name}`, wire: structuredClone(r.wire) }));
}

export function sdkProps(wire: Record<string, unknown>): Record<string, any> {
    return unknownCheckingProxy(deserializeProperties(Struct.fromJavaScript(wire), false));
}

export interface Outcome {
    violations: { message: string; urn?: string }[];
    /** The reason given to `notApplicable`, when the policy called it. */
    notApplicable?: string;
}

class NotApplicable extends Error {}

async function run(invoke: (report: ReportViolation, notApplicable: (reason?: string) => never) => Promise<void> | void): Promise<Outcome> {
    const outcome: Outcome = { violations: [] };
    try {
        await invoke(
            (message, urn) => outcome.violations.push({ message, urn }),
            (reason) => {
                outcome.notApplicable = reason ?? "";
                throw new NotApplicable();
            },
        );
    } catch (error) {
        if (!(error instanceof NotApplicable)) throw error;
    }
    return outcome;
}

export function policyNamed<T extends Policy>(name: string): T {
    const policy = policies.find((p) => p.name === name);
    if (!policy) throw new Error(`no policy ${name}`);
    return policy as unknown as T;
}

/** Runs a resource policy on every resource of the graph; the outcomes by resource name. */
export async function runResourcePolicy(name: string, graph: GraphResource[]): Promise<Map<string, Outcome>> {
    const policy = policyNamed<ResourceValidationPolicy>(name);
    const validations = [policy.validateResource ?? []].flat();
    const outcomes = new Map<string, Outcome>();
    for (const resource of graph) {
        const props = sdkProps(resource.wire);
        const outcome = await run(async (report, notApplicable) => {
            const args = { type: resource.type, name: resource.name, urn: resource.urn, props, notApplicable } as unknown as ResourceValidationArgs;
            for (const validate of validations) await validate(args, report);
        });
        outcomes.set(resource.name, outcome);
    }
    return outcomes;
}

/** Runs a stack policy on the whole graph, with the policy config an operator would pass. */
export async function runStackPolicy(name: string, graph: GraphResource[], config: object = {}): Promise<Outcome> {
    const policy = policyNamed<StackValidationPolicy>(name);
    const resources = graph.map((r) => ({ type: r.type, name: r.name, urn: r.urn, props: sdkProps(r.wire) }));
    return run((report, notApplicable) => {
        const args = { resources, getConfig: () => config, notApplicable } as unknown as StackValidationArgs;
        return policy.validateStack(args, report);
    });
}

/** Every violation message of a resource policy's outcomes. */
export function violationsOf(outcomes: Map<string, Outcome>): string[] {
    return [...outcomes.values()].flatMap((o) => o.violations.map((v) => v.message));
}
