/**
 * The three Docker resources Envoy needs (the provider for the frontend's daemon over SSH, the pulled
 * image, the container), declared on the SDK's own modules. @pulumi/docker's classes import
 * @pulumi/pulumi's index, which costs every `pulumi up` / `preview` about 0.75 s (components/sdk.ts,
 * `npm run bench:start`). These register exactly what @pulumi/docker 's classes register for the
 * arguments the stack uses: the same type tokens, inputs (the provider's non-string settings as JSON,
 * as the generated class sends them), output properties and plugin version, so a deployed stack sees
 * no change. test/components/docker-resources.test.ts holds them to that, request for request, against
 * @pulumi/docker itself; the argument types are @pulumi/docker's own (a type-only import).
 */
import type * as dockerSdk from "@pulumi/docker";
import * as pulumi from "./sdk";

/** The docker plugin version @pulumi/docker asks the engine for (its utilities.getVersion()). */
export const dockerPluginVersion = (require("@pulumi/docker/package.json") as { version: string }).version.replace(/^v/, "");

function withPluginVersion<Options extends pulumi.ResourceOptions>(opts: Options | undefined): Options {
    return pulumi.mergeOptions({ version: dockerPluginVersion }, opts) as Options;
}

export type DockerProviderArgs = Pick<dockerSdk.ProviderArgs, "host" | "sshOpts" | "disableDockerDaemonCheck">;

/** `pulumi:providers:docker`, as @pulumi/docker's `Provider`. */
export class DockerProvider extends pulumi.ProviderResource {
    constructor(name: string, args: DockerProviderArgs, opts?: pulumi.ResourceOptions) {
        super(
            "docker",
            name,
            {
                disableDockerDaemonCheck: pulumi.output(args.disableDockerDaemonCheck).apply(JSON.stringify),
                host: args.host ?? process.env.DOCKER_HOST,
                sshOpts: pulumi.output(args.sshOpts).apply(JSON.stringify),
            },
            withPluginVersion(opts),
        );
    }
}

export type RemoteImageArgs = Pick<dockerSdk.RemoteImageArgs, "name" | "keepLocally">;

/** `docker:index/remoteImage:RemoteImage`, as @pulumi/docker's `RemoteImage`. */
export class RemoteImage extends pulumi.CustomResource {
    declare public readonly imageId: pulumi.Output<string>;
    declare public readonly repoDigest: pulumi.Output<string>;

    constructor(name: string, args: RemoteImageArgs, opts?: pulumi.CustomResourceOptions) {
        super("docker:index/remoteImage:RemoteImage", name, { ...args, imageId: undefined, repoDigest: undefined }, withPluginVersion(opts));
    }
}

export type ContainerArgs = Pick<
    dockerSdk.ContainerArgs,
    "name" | "image" | "networkMode" | "restart" | "command" | "envs" | "mounts" | "labels" | "mustRun" | "logDriver" | "logOpts"
>;

/** `docker:index/container:Container`, as @pulumi/docker's `Container` (only `id` is read back). */
export class Container extends pulumi.CustomResource {
    constructor(name: string, args: ContainerArgs, opts?: pulumi.CustomResourceOptions) {
        super("docker:index/container:Container", name, { ...args }, withPluginVersion(opts));
    }
}
