/**
 * The parts of the Pulumi SDK the program uses, taken from the SDK's own modules rather than from
 * `@pulumi/pulumi`'s index. The index also loads the Automation API and closure serialisation, which
 * load TypeScript's compiler and npm's arborist: about 0.8 s of every `pulumi up` / `preview` on 2
 * cores (1.1 s measured in the lab's end-to-end run), for code this program never calls. The language
 * host's run harness itself loads only the runtime's settings, so the program's imports decide.
 */
export { ComponentResource, CustomResource, Resource } from "@pulumi/pulumi/resource";
export type { ComponentResourceOptions, CustomResourceOptions } from "@pulumi/pulumi/resource";
export { Output, secret } from "@pulumi/pulumi/output";
export type { Input } from "@pulumi/pulumi/output";
export { allConfig } from "@pulumi/pulumi/runtime/config";
export { ProviderResource, mergeOptions } from "@pulumi/pulumi/resource";
export type { ResourceOptions } from "@pulumi/pulumi/resource";
export { output } from "@pulumi/pulumi/output";
