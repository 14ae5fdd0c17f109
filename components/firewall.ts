import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { FirewallSpec, renderFirewall } from "../render/firewall";
import { RemoteHost } from "./host";
import { hostTool, sha256 } from "./remote";

export interface HostFirewallArgs {
    /** The host the ruleset goes on. */
    host: RemoteHost;
    /** What the ruleset allows; see render/firewall.ts. */
    spec: FirewallSpec;
}

/**
 * The host's nftables table `inet limen_firewall`: validated with `nft -c`, installed, applied as
 * one transaction and persisted by limen-firewall.service. Other tables are never touched.
 */
export class HostFirewall extends pulumi.ComponentResource {
    public readonly ruleset: string;
    /** sha256 of the ruleset, to compare with what a host has loaded. */
    public readonly rulesetSha256: string;
    public readonly applied: command.remote.Command;

    constructor(name: string, args: HostFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:firewall:HostFirewall", name, {}, opts);
        this.ruleset = renderFirewall(args.spec);
        this.rulesetSha256 = sha256(this.ruleset);
        this.applied = new command.remote.Command(
            `${name}-ruleset`,
            {
                connection: args.host.connection,
                create: hostTool("apply-firewall"),
                update: hostTool("apply-firewall"),
                delete: hostTool("remove-firewall"),
                // A changed ruleset is an update that applies it (no replacement, so no delete in between).
                stdin: this.ruleset,
            },
            { parent: this, dependsOn: [args.host.ready] },
        );
        this.registerOutputs({ ruleset: this.ruleset, applied: this.applied.stdout });
    }
}
