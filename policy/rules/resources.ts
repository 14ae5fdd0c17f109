import { hostResourceTypes } from "../../core/resource-types";
import { at, Plain, ResourceView, Unknown } from "../values";

/**
 * The resource types components/host-resources.ts and certificate-resources.ts register (served by the
 * project's provider plugin, provider/), whose inputs are the host plan's values (plan/hosts.ts) as
 * typed properties. The policies read those properties; the types are only how a resource says which
 * properties it has.
 */
export { hostResourceTypes };

export const dockerProviderType = "pulumi:providers:docker";

/** A resource's inputs, but for `leaveOut`. */
export function inputsOf(r: ResourceView, leaveOut: string[] = []): Record<string, Plain> {
    return Object.fromEntries(Object.entries(r.props).filter(([key]) => !leaveOut.includes(key)));
}

const stackTypes: readonly string[] = Object.values(hostResourceTypes);

/** One of the stack's own host resources, whose typed inputs say what it puts on the host. */
export function isStackHostResource(r: ResourceView): boolean {
    return stackTypes.includes(r.type);
}

/**
 * Whether a resource acts on a host over SSH: the stack's own host resources, and anything else with a
 * `connection` input (a command resource added by hand, say), so that nothing reaches a host unchecked.
 */
export function actsOnHost(r: ResourceView): boolean {
    return isStackHostResource(r) || (r.props.connection !== undefined && r.props.connection !== null);
}

/**
 * A file the file provider installs (HostFile, or HostTool for the tool itself): its `path`, `mode`
 * and `content` are exactly what ends up on the host (the tool has no `content`: the binary whose sha256
 * is its `contentSha256`).
 */
export function isInstalledFile(r: ResourceView): boolean {
    return r.type === hostResourceTypes.file || r.type === hostResourceTypes.hostTool;
}

/** The address a host resource connects to (`connection.address`, components/host-resources.ts HostConnection). */
export function connectionAddress(r: ResourceView): string | Unknown | undefined {
    const address = at(r.props, "connection.address");
    return typeof address === "string" || address instanceof Unknown ? address : undefined;
}

/** A string input, `Unknown` when it is unknown during preview, undefined otherwise. */
export function textInput(r: ResourceView, key: string): string | Unknown | undefined {
    const value = r.props[key];
    return typeof value === "string" || value instanceof Unknown ? value : undefined;
}
