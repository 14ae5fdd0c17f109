import * as pulumi from "./sdk";
import type { HostPlan } from "../plan/hosts";
import { HostConnection, HostTool } from "./host-resources";

export interface RemoteHostArgs {
    /** The host's plan: its SSH endpoint (pinned host key, non-root user) and the host tool. */
    plan: Pick<HostPlan, "ssh" | "hostTool">;
    /** SSH private key, a Pulumi secret. */
    privateKey: pulumi.Output<string>;
}

/**
 * One host reached over SSH with a pinned host key, and the gate every resource on it waits for:
 * the host tool (tools/limen-host) installed, which proves SSH, passwordless sudo, systemd and nft.
 */
export class RemoteHost extends pulumi.ComponentResource {
    /** Endpoint and key for the resources' providers; secret as a whole. */
    public readonly connection: pulumi.Output<HostConnection>;
    /** The host tool; everything else on this host depends on it. */
    public readonly ready: HostTool;
    public readonly address: string;
    public readonly toolPath: string;

    constructor(name: string, args: RemoteHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:host:RemoteHost", name, {}, opts);
        this.address = args.plan.ssh.address;
        this.toolPath = args.plan.hostTool.path;
        this.connection = pulumi.secret(args.privateKey.apply((privateKey) => ({ ...args.plan.ssh, privateKey })));
        this.ready = new HostTool(`${name}-host-tool`, { connection: this.connection, path: args.plan.hostTool.path, contentSha256: args.plan.hostTool.sha256 }, { parent: this });
        this.registerOutputs({ address: this.address, ready: this.ready.id });
    }
}
