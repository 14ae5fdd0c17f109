/**
 * The provider of the firewall: the live table, the ruleset loaded at boot and the unit that loads it.
 * A change is applied, confirmed over a new SSH connection, and reverted by the host itself when the
 * confirmation does not come. Shared shape: host-providers.ts.
 */
import { stepSeconds } from "../hostio/deadlines";
import type { ResourceProvider } from "./resource-provider";
import { confirmDial } from "../core/firewall-timing";
import type { FirewallLocations } from "../plan/firewall";
import { applyFirewallCall, confirmFirewallCall, installFileCall, removeFirewallCall } from "../hostio/host-tool";
import { desiredFirewallFacts, FirewallFacts, firewallProbeCommand, parseFirewallProbe } from "../hostio/observe-firewall";
import { differingFacts } from "../hostio/observe";
import { HostConnection, run, runTool } from "./host-providers";

/** The plan's inputs, and the facts about the table (desired as inputs, observed on read). */
export interface FirewallInputs extends FirewallFacts {
    connection: HostConnection;
    toolPath: string;
    locations: FirewallLocations;
    ruleset: string;
    rulesetSha256: string;
    bootUnitContent: string;
    confirmWithinSeconds: number;
}

/**
 * Apply → confirm → (host reverts by itself without the confirmation). The confirmation dials a NEW
 * connection: the one that applied survives any ruleset through conntrack, a new one proves the
 * operator is not locked out.
 */
async function applyFirewall(inputs: FirewallInputs): Promise<void> {
    const at = inputs.locations;
    await installBootUnit(inputs);
    await runTool(inputs.connection, `applying table ${at.table}`, applyFirewallCall(inputs.toolPath, at, inputs.ruleset, inputs.confirmWithinSeconds), {
        deadlineSeconds: stepSeconds.firewall,
    });
    // Dial budget well inside the revert window: a confirmation that arrived after the revert would
    // confirm a ruleset the host no longer has loaded.
    const freshDial = { ...inputs.connection, connectAttempts: confirmDial.attempts + 1, connectTimeoutSeconds: confirmDial.timeoutSeconds };
    try {
        await runTool(freshDial, `confirming table ${at.table} over a new SSH connection`, confirmFirewallCall(inputs.toolPath, at, inputs.rulesetSha256), {
            fresh: true,
            deadlineSeconds: stepSeconds.firewall,
        });
    } catch (error) {
        throw new Error(
            `${inputs.connection.role} (${inputs.connection.address}): the new ruleset of table ${at.table} was not confirmed over a new SSH connection, ` +
                `so the host restores the previous one within ${inputs.confirmWithinSeconds} s. If the new rules cut SSH from where pulumi runs, ` +
                `check limen:ssh.adminNetworks. (${(error as Error).message})`,
        );
    }
}

async function readFirewall(props: FirewallInputs): Promise<FirewallInputs> {
    const at = props.locations;
    const probe = await run(props.connection, `reading table ${at.table}`, firewallProbeCommand(at), {
        stdin: props.ruleset,
        deadlineSeconds: stepSeconds.read,
    });
    return { ...props, ...parseFirewallProbe(props.table, probe.stdout) };
}

/** Reinstalls and re-enables the boot unit of an already confirmed ruleset. */
async function repairBootUnit(inputs: FirewallInputs): Promise<void> {
    const at = inputs.locations;
    await installBootUnit(inputs);
    await runTool(inputs.connection, `enabling ${at.unitName}`, confirmFirewallCall(inputs.toolPath, at, inputs.rulesetSha256), { deadlineSeconds: stepSeconds.firewall });
}

async function installBootUnit(inputs: FirewallInputs): Promise<void> {
    const at = inputs.locations;
    await runTool(
        inputs.connection,
        `installing ${at.unitPath}`,
        installFileCall(inputs.toolPath, { path: at.unitPath, mode: "0644", owner: "root:root", check: "none", checkArgs: [], content: inputs.bootUnitContent }),
        { deadlineSeconds: stepSeconds.install },
    );
}

export const firewallProvider: ResourceProvider<FirewallInputs> = {
    async diff(_id: string, olds: FirewallInputs, news: FirewallInputs) {
        const changed = differingFacts(desiredFirewallFacts(news), olds);
        return { changes: changed.length > 0 };
    },
    async create(inputs: FirewallInputs) {
        await applyFirewall(inputs);
        return { id: `${inputs.connection.role}:${inputs.table}`, outs: inputs };
    },
    async update(_id: string, _olds: FirewallInputs, news: FirewallInputs) {
        // Converge: a table already loaded, persisted and enabled as planned is not re-applied.
        const observed = await readFirewall(news);
        const differing = differingFacts(desiredFirewallFacts(news), observed);
        if (differing.includes("live") || differing.includes("bootRulesetSha256")) await applyFirewall(news);
        // Only the boot unit drifted: the loaded table is right and stays untouched.
        else if (differing.length > 0) await repairBootUnit(news);
        return { outs: news };
    },
    async read(id: string, props: FirewallInputs) {
        const observed = await readFirewall(props);
        return { id, props: observed, inputs: observed };
    },
    async delete(_id: string, props: FirewallInputs) {
        await runTool(props.connection, `removing table ${props.locations.table}`, removeFirewallCall(props.toolPath, props.locations), { deadlineSeconds: stepSeconds.firewall });
    },
};
