import * as pulumi from "./sdk";
import { FirewallPlan } from "../plan/firewall";
import { FirewallTable } from "./host-resources";
import { RemoteHost } from "./host";

export interface HostFirewallArgs {
    /** The host the ruleset goes on. */
    host: RemoteHost;
    /** The rendered ruleset, its boot unit and the confirmation window, from the host's plan. */
    plan: FirewallPlan;
}

/**
 * The host's nftables table `inet limen_firewall`, changed so that it cannot lock anyone out:
 * validated with `nft -c`, applied as one transaction with a revert armed on the host, then confirmed
 * over a new SSH connection, which disarms the revert and persists the ruleset for boot
 * (limen-firewall.service). Without the confirmation the host restores the previous ruleset by itself
 * and `pulumi up` fails. Other tables are never touched. A refresh compares the loaded table, the boot
 * ruleset and the unit with the plan.
 */
export class HostFirewall extends pulumi.ComponentResource {
    public readonly ruleset: string;
    /** sha256 of the ruleset, to compare with what a host has loaded. */
    public readonly rulesetSha256: string;
    /** The applied and confirmed table; everything else on the host waits for it. */
    public readonly confirmed: FirewallTable;

    constructor(name: string, args: HostFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:firewall:HostFirewall", name, {}, opts);
        this.ruleset = args.plan.ruleset;
        this.rulesetSha256 = args.plan.rulesetSha256;
        this.confirmed = new FirewallTable(
            `${name}-table`,
            {
                connection: args.host.connection,
                toolPath: args.host.toolPath,
                locations: args.plan.locations,
                ruleset: args.plan.ruleset,
                rulesetSha256: args.plan.rulesetSha256,
                bootUnitContent: args.plan.bootUnit.content,
                bootUnitSha256: args.plan.bootUnit.sha256,
                confirmWithinSeconds: args.plan.confirmWithinSeconds,
            },
            { parent: this, dependsOn: [args.host.ready] },
        );
        this.registerOutputs({ rulesetSha256: this.rulesetSha256, confirmed: this.confirmed.id });
    }
}
