import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { FirewallSpec, renderFirewall } from "../render/firewall";
import { RemoteHost } from "./host";
import { confirmDial } from "./firewall-timing";
import { hostTool, rerunOnChange, sha256 } from "./remote";

export interface HostFirewallArgs {
    /** The host the ruleset goes on. */
    host: RemoteHost;
    /** What the ruleset allows; see render/firewall.ts. */
    spec: FirewallSpec;
    /** Seconds a new ruleset has to be confirmed over a new SSH connection before the host restores the previous one (default 60). */
    confirmWithinSeconds: number;
}

/**
 * The host's nftables table `inet limen_firewall`, changed so that it cannot lock anyone out:
 * validated with `nft -c`, applied as one transaction with a revert armed on the host, then
 * confirmed over a new SSH connection, which disarms the revert and persists the ruleset for boot
 * (limen-firewall.service). Without the confirmation the host restores the previous ruleset by
 * itself and `pulumi up` fails. Other tables are never touched.
 */
export class HostFirewall extends pulumi.ComponentResource {
    public readonly ruleset: string;
    /** sha256 of the ruleset, to compare with what a host has loaded. */
    public readonly rulesetSha256: string;
    public readonly applied: command.remote.Command;
    /** The confirmation; everything else on the host waits for it. */
    public readonly confirmed: command.remote.Command;

    constructor(name: string, args: HostFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("limen:firewall:HostFirewall", name, {}, opts);
        this.ruleset = renderFirewall(args.spec);
        this.rulesetSha256 = sha256(this.ruleset);
        const apply = hostTool("apply-firewall", "--confirm-within", String(args.confirmWithinSeconds));
        this.applied = new command.remote.Command(
            `${name}-ruleset`,
            {
                connection: args.host.connection,
                create: apply,
                update: apply,
                delete: hostTool("remove-firewall"),
                // A changed ruleset is an update that applies it (no replacement, so no delete in between).
                stdin: this.ruleset,
            },
            { parent: this, dependsOn: [args.host.ready] },
        );
        // Its own connection, so the provider opens a new SSH session: proof that the new rules still let us in.
        const freshConnection = pulumi
            .output(args.host.connection)
            .apply((connection) => ({ ...connection, dialErrorLimit: confirmDial.attempts, perDialTimeout: confirmDial.timeoutSeconds }));
        this.confirmed = rerunOnChange(
            `${name}-confirm`,
            // Whenever the apply runs again, so does its confirmation (else the armed revert would fire).
            { connection: freshConnection, command: hostTool("confirm-firewall", "--sha256", this.rulesetSha256), contentHashes: [this.rulesetSha256, sha256(apply)] },
            { parent: this, dependsOn: [this.applied] },
        );
        this.registerOutputs({ ruleset: this.ruleset, applied: this.applied.stdout, confirmed: this.confirmed.stdout });
    }
}
