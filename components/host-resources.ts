/**
 * Resources that read the host: each artifact the stack owns (a file, the host tool, the firewall
 * table with its boot ruleset and unit, the pm2 apps) is a resource of this project's provider plugin
 * (provider/), which reports what is really there. So `pulumi refresh` / `preview --refresh` list
 * exactly the drifted artifacts with the facts that differ (`mode: "0644" => "0600"`), and
 * `pulumi up --refresh` repairs them through the same validated install as any change. A plain
 * `preview` / `up` does no host I/O. What each resource does on the host: provider/*-provider.ts.
 */
import * as pulumi from "./sdk";
import type { AppsGatePlan } from "../plan/pm2";
import type { FirewallLocations } from "../plan/firewall";
import { contentAsPlanned } from "../hostio/observe-file";
import { desiredFirewallFacts } from "../hostio/observe-firewall";
import { desiredPm2Facts, Pm2AppShape } from "../hostio/observe-pm2";
import type { ReleaseFile } from "../hostio/host-tool";
import type { FileInputs } from "../provider/file-provider";
import type { HostConnection } from "../provider/host-providers";
import { containerNameFree, hostResourceTypes } from "../core/resource-types";

export type { HostConnection };

/** A file's settings as its provider takes them (provider/file-provider.ts), the content and connection as inputs. */
export type HostFileArgs = Pick<FileInputs, "toolPath" | "path" | "mode" | "owner" | "check" | "checkArgs" | "preflight"> & {
    connection: pulumi.Input<HostConnection>;
    /** A secret Output for secret content, and it stays secret end to end. */
    content: pulumi.Input<string>;
    contentSha256: pulumi.Input<string>;
};

/** One file on a host, installed through the host tool (temporary file, validation, rename). */
export class HostFile extends pulumi.CustomResource {
    constructor(name: string, args: HostFileArgs, opts: pulumi.CustomResourceOptions & { secret: boolean }) {
        const { secret, ...rest } = opts;
        super(
            hostResourceTypes.file,
            name,
            { ...args, plannedSha256: args.contentSha256, state: "present", contentMatches: contentAsPlanned, kind: "file" },
            { ...rest, additionalSecretOutputs: ["connection", ...(secret ? ["content", "contentSha256", "plannedSha256"] : [])] },
        );
    }
}

export interface HostToolArgs {
    connection: pulumi.Input<HostConnection>;
    path: string;
    /** The planned binary's sha256 (core/host-tool-release.ts): the provider copies the bytes that have it. */
    contentSha256: string;
}

/**
 * The host tool (tools/limen-host, a static binary), and the gate everything on a host waits for:
 * installing it proves SSH, passwordless sudo, systemd and nft. Its bytes are not an input (megabytes in
 * every checkpoint): the provider copies the build whose sha256 is the planned one (hostio/host-tool-binary.ts).
 */
export class HostTool extends pulumi.CustomResource {
    constructor(name: string, args: HostToolArgs, opts: pulumi.CustomResourceOptions) {
        super(
            hostResourceTypes.hostTool,
            name,
            {
                ...args,
                toolPath: args.path,
                mode: "0755",
                owner: "root:root",
                check: "none",
                checkArgs: [],
                plannedSha256: args.contentSha256,
                state: "present",
                contentMatches: contentAsPlanned,
                kind: "host-tool",
            },
            { ...opts, additionalSecretOutputs: ["connection"] },
        );
    }
}

export interface FirewallTableArgs {
    connection: pulumi.Input<HostConnection>;
    toolPath: string;
    locations: FirewallLocations;
    ruleset: string;
    rulesetSha256: string;
    bootUnitContent: string;
    bootUnitSha256: string;
    /** Seconds a new ruleset has to be confirmed over a new SSH connection (default 60). */
    confirmWithinSeconds: number;
}

/** The stack's nftables table on one host, as loaded and as persisted for boot. */
export class FirewallTable extends pulumi.CustomResource {
    constructor(name: string, args: FirewallTableArgs, opts: pulumi.CustomResourceOptions) {
        const desired = desiredFirewallFacts({ table: args.locations.table, rulesetSha256: args.rulesetSha256, bootUnitSha256: args.bootUnitSha256 });
        super(hostResourceTypes.firewall, name, { ...args, ...desired }, { ...opts, additionalSecretOutputs: ["connection"] });
    }
}

export interface Pm2AppsArgs {
    connection: pulumi.Input<HostConnection>;
    toolPath: string;
    markerDir: string;
    user: string;
    ecosystemPath: string;
    apps: Pm2AppShape[];
    /** sha256 over the ecosystem and .env.production; secret when the env file is. */
    loadedSha256: pulumi.Input<string>;
    /** Paths of the ecosystem and .env.production. */
    loadedPaths: string[];
    /** The health gate after a reload, and the rollback when it fails; absent when switched off. */
    gate?: AppsGatePlan;
    /** The app user's home (checked against the host's) and the timer that rotates pm2's logs there. */
    home: string;
    logRotationTimer: string;
    /** The release's files: the apply installs them, and puts back the previous update's when a version fails. */
    files: pulumi.Input<ReleaseFile[]>;
}

/** The frontend's pm2 apps under the app user's pm2, with its boot unit and the rotation of its logs. */
export class Pm2Apps extends pulumi.CustomResource {
    constructor(name: string, args: Pm2AppsArgs, opts: pulumi.CustomResourceOptions & { secret: boolean }) {
        const { secret, ...rest } = opts;
        super(
            hostResourceTypes.pm2,
            name,
            { ...args, ...desiredPm2Facts(args.user, args.apps) },
            { ...rest, additionalSecretOutputs: ["connection", ...(secret ? ["loadedSha256", "files"] : [])] },
        );
    }
}

export interface ContainerNameArgs {
    connection: pulumi.Input<HostConnection>;
    toolPath: string;
    name: string;
    /** The planned image, pinned by digest. */
    image: string;
}

/** The name Envoy's container runs under, freed of any container that is not the stack's (provider/container-name-provider.ts). */
export class ContainerName extends pulumi.CustomResource {
    constructor(name: string, args: ContainerNameArgs, opts: pulumi.CustomResourceOptions) {
        super(hostResourceTypes.containerName, name, { ...args, holder: containerNameFree }, { ...opts, additionalSecretOutputs: ["connection"] });
    }
}

/** What both steps of the front door's release name (plan/envoy.ts, EnvoyReleasePlan). */
interface EnvoyReleaseStepArgs {
    connection: pulumi.Input<HostConnection>;
    toolPath: string;
    stateDir: string;
    containerName: string;
    httpsPort: number;
    serverNames: string[];
    timeoutSeconds: number;
    drainSeconds: number;
}

export interface EnvoyReleaseArgs extends EnvoyReleaseStepArgs {
    configPath: string;
    configSha256: string;
    containerSha256: string;
    bootstrap: string;
    validationBootstrap: string;
    candidateBootstrap: string;
    dynamicDir: string;
    lds: { path: string; content: string; version: string; names: string[] };
    cds: { path: string; content: string; version: string; names: string[] };
    image: string;
    mounts: string[];
}

/** The front door's release before the container is replaced (provider/envoy-release-provider.ts). */
export class EnvoyRelease extends pulumi.CustomResource {
    constructor(name: string, args: EnvoyReleaseArgs, opts: pulumi.CustomResourceOptions) {
        super(hostResourceTypes.envoyRelease, name, args, { ...opts, additionalSecretOutputs: ["connection"] });
    }
}

export interface EnvoyGateArgs extends EnvoyReleaseStepArgs {
    configSha256: string;
    /** The container's id: a new container (a release, or a repair after drift) is judged again. */
    containerId: pulumi.Input<string>;
}

/** After Envoy's container is created: ready, the gate, the standby gone (provider/envoy-release-provider.ts). */
export class EnvoyGate extends pulumi.CustomResource {
    constructor(name: string, args: EnvoyGateArgs, opts: pulumi.CustomResourceOptions) {
        super(hostResourceTypes.envoyGate, name, args, { ...opts, additionalSecretOutputs: ["connection"] });
    }
}
