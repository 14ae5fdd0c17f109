/**
 * What the stack's host resources do on a host: read it, install, converge, remove. One provider per
 * artifact kind (a file, the host tool, the firewall table with its boot ruleset and unit, the pm2
 * apps), served to the engine by this project's provider plugin (provider/server.ts) under the types
 * in resource-types.ts; the resources themselves are declared in components/host-resources.ts.
 *
 * Every resource keeps its inputs and outputs in the same shape: the facts (hostio/observe.ts) are
 * top-level properties, and a refresh returns the observed facts as the inputs too, so the engine's
 * diff shows observed → planned. A plain `preview` / `up` does no host I/O: the diff compares the facts
 * recorded in state with the plan. No Pulumi SDK here: the plugin starts in a fraction of a second
 * because it loads only this, hostio/ and gRPC.
 */
import type { ResourceProvider } from "./resource-provider";
import { confirmDial } from "../plan/firewall-timing";
import type { AppsGatePlan, FirewallLocations } from "../plan/hosts";
import {
    applyFirewallCommand,
    confirmFirewallCommand,
    installFileCommand,
    installHostToolCommand,
    pm2ApplyCommand,
    pm2EnableCommand,
    pm2MarkLoadedCommand,
    pm2RemoveCommand,
    pm2SaveCommand,
    removeFileCommand,
    removeFirewallCommand,
    removeHostToolCommand,
} from "../hostio/host-tool";
import { desiredFileFacts, fileProbeCommand, parseFileProbe } from "../hostio/observe-file";
import { desiredFirewallFacts, firewallProbeCommand, parseFirewallProbe } from "../hostio/observe-firewall";
import { desiredPm2Facts, parsePm2Probe, pm2ProbeCommand, Pm2AppShape } from "../hostio/observe-pm2";
import { differingFacts } from "../hostio/observe";
import { BackendPreflight, judgePreflight, preflightCommand, preflightFailure } from "../hostio/preflight";
import { ExecResult, runOnHost, SshTarget } from "../hostio/ssh";

/** How a provider reaches its host: the plan's endpoint plus the private key (a secret input). */
export interface HostConnection extends SshTarget {
    privateKey: string;
}

/** Runs a command and fails with the host's own words when it fails (stderr, never stdin). */
export async function run(connection: HostConnection, what: string, command: string, options: { stdin?: string; fresh?: boolean } = {}): Promise<ExecResult> {
    const { privateKey, ...target } = connection;
    const result = await runOnHost(target, privateKey, command, options);
    if (result.status !== 0) {
        const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-5).join("\n");
        throw new Error(`${connection.role} (${connection.address}): ${what} failed (exit ${result.status}): ${said}`);
    }
    return result;
}

// ---------------------------------------------------------------------------------------------
// Files (and the host tool, which is a file installed without the tool itself).

export interface FileInputs {
    connection: HostConnection;
    /** Where the host tool is (it installs and validates the file). */
    toolPath: string;
    path: string;
    /** Four-digit octal mode. */
    mode: string;
    /** `user:group`. */
    owner: string;
    /** Validation of the new content on the host before it replaces the file (`none`, `nft`, `ecosystem`, `envoy`). */
    check: string;
    checkArgs: string[];
    /** The content; secret end to end for secret content. */
    content: string;
    contentSha256: string;
    state: string;
    /** `as planned`, or how the host's content differs (see hostio/observe.ts). */
    contentMatches: string;
    /** The planned content's hash; a refresh never overwrites it (it does `contentSha256`). */
    plannedSha256: string;
    /** `file`, or `host-tool` for the tool itself. */
    kind: string;
    /** For the files that point the apps at the backend: what the frontend checks before they change. */
    preflight?: BackendPreflight;
}

async function readFile(props: FileInputs): Promise<FileInputs> {
    const probe = await run(props.connection, `reading ${props.path}`, fileProbeCommand(props.path));
    return { ...props, ...parseFileProbe(props.path, probe.stdout, props.plannedSha256 ?? props.contentSha256) };
}

async function installFile(inputs: FileInputs): Promise<void> {
    if (inputs.preflight) await checkBackend(inputs, inputs.preflight);
    const command = inputs.kind === "host-tool" ? installHostToolCommand(inputs.path) : installFileCommand(inputs.toolPath, inputs);
    await run(inputs.connection, `installing ${inputs.path}`, command, { stdin: inputs.content });
}

/** The backend preflight (hostio/preflight.ts), over the same connection: fails before anything changes. */
async function checkBackend(inputs: FileInputs, preflight: BackendPreflight): Promise<void> {
    const result = await run(inputs.connection, `checking the backend before ${inputs.path} changes`, preflightCommand(preflight));
    const problems = judgePreflight(preflight, result.stdout);
    if (problems.length > 0) throw new Error(`${inputs.connection.role} (${inputs.connection.address}): ${preflightFailure(inputs.path, problems)}`);
}

export const fileProvider: ResourceProvider<FileInputs> = {
    async diff(_id: string, olds: FileInputs, news: FileInputs) {
        const changed = differingFacts(desiredFileFacts(news, news.contentSha256), olds);
        // A new place for the file is a new file: the old one is removed after the new one is installed.
        return { changes: changed.length > 0, replaces: olds.path !== undefined && olds.path !== news.path && olds.kind === news.kind ? ["path"] : [] };
    },
    async create(inputs: FileInputs) {
        await installFile(inputs);
        return { id: `${inputs.connection.role}:${inputs.path}`, outs: inputs };
    },
    async update(_id: string, _olds: FileInputs, news: FileInputs) {
        // Converge: nothing is rewritten when the host already has what the plan says (a stack
        // upgraded from the command-resource version arrives here with nothing recorded).
        const observed = await readFile(news);
        if (differingFacts(desiredFileFacts(news, news.contentSha256), observed).length > 0) await installFile(news);
        return { outs: news };
    },
    async read(id: string, props: FileInputs) {
        const observed = await readFile(props);
        return { id, props: observed, inputs: observed };
    },
    async delete(_id: string, props: FileInputs) {
        const command = props.kind === "host-tool" ? removeHostToolCommand(props.path) : removeFileCommand(props.toolPath, props.path);
        await run(props.connection, `removing ${props.path}`, command);
    },
};

// ---------------------------------------------------------------------------------------------
// The firewall: the live table, the ruleset loaded at boot and the unit that loads it.

export interface FirewallInputs {
    connection: HostConnection;
    toolPath: string;
    locations: FirewallLocations;
    ruleset: string;
    rulesetSha256: string;
    bootUnitContent: string;
    confirmWithinSeconds: number;
    table: string;
    live: string;
    bootRulesetSha256: string;
    bootUnit: string;
    bootUnitSha256: string;
}

/**
 * Apply → confirm → (host reverts by itself without the confirmation). The confirmation dials a NEW
 * connection: the one that applied survives any ruleset through conntrack, a new one proves the
 * operator is not locked out.
 */
async function applyFirewall(inputs: FirewallInputs): Promise<void> {
    const at = inputs.locations;
    await installBootUnit(inputs);
    await run(inputs.connection, `applying table ${at.table}`, applyFirewallCommand(inputs.toolPath, at, inputs.confirmWithinSeconds), { stdin: inputs.ruleset });
    // Dial budget well inside the revert window: a confirmation that arrived after the revert would
    // confirm a ruleset the host no longer has loaded.
    const freshDial = { ...inputs.connection, connectAttempts: confirmDial.attempts + 1, connectTimeoutSeconds: confirmDial.timeoutSeconds };
    try {
        await run(freshDial, `confirming table ${at.table} over a new SSH connection`, confirmFirewallCommand(inputs.toolPath, at, inputs.rulesetSha256), { fresh: true });
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
    });
    return { ...props, ...parseFirewallProbe(props.table, probe.stdout) };
}

/** Reinstalls and re-enables the boot unit of an already confirmed ruleset. */
async function repairBootUnit(inputs: FirewallInputs): Promise<void> {
    const at = inputs.locations;
    await installBootUnit(inputs);
    await run(inputs.connection, `enabling ${at.unitName}`, confirmFirewallCommand(inputs.toolPath, at, inputs.rulesetSha256));
}

async function installBootUnit(inputs: FirewallInputs): Promise<void> {
    const at = inputs.locations;
    await run(
        inputs.connection,
        `installing ${at.unitPath}`,
        installFileCommand(inputs.toolPath, { path: at.unitPath, mode: "0644", owner: "root:root", check: "none", checkArgs: [] }),
        {
            stdin: inputs.bootUnitContent,
        },
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
        await run(props.connection, `removing table ${props.locations.table}`, removeFirewallCommand(props.toolPath, props.locations));
    },
};

// ---------------------------------------------------------------------------------------------
// pm2: the apps online, listening where the plan says, resurrected at boot.

export interface Pm2Inputs {
    connection: HostConnection;
    toolPath: string;
    markerDir: string;
    ecosystemPath: string;
    apps: Pm2AppShape[];
    /** sha256 over the files the apps load: a change reloads them. */
    loadedSha256: string;
    /** Paths of those files: apps started before their last change have not loaded them. */
    loadedPaths: string[];
    /** The health gate after a reload, and the rollback when it fails; absent when switched off. */
    gate?: AppsGatePlan;
    user: string;
    processes: Record<string, string>;
    listening: Record<string, string>;
    bootService: string;
    loadedFiles: string;
    savedList: string;
}

async function readPm2(props: Pm2Inputs): Promise<Pm2Inputs> {
    const probe = await run(props.connection, "reading pm2's state", pm2ProbeCommand(props.user, props.loadedPaths, props.markerDir));
    try {
        return { ...props, ...parsePm2Probe(props.user, props.apps, probe.stdout) };
    } catch (error) {
        // pm2's own words (the probe's stderr) say why the list could not be read.
        const said = probe.stderr.trim().split("\n").slice(-3).join("\n");
        throw new Error(`${props.connection.role} (${props.connection.address}): ${(error as Error).message}${said ? `: ${said}` : ""}`);
    }
}

async function applyPm2(inputs: Pm2Inputs, retryOnly = false): Promise<void> {
    const names = inputs.apps.map((app) => app.name);
    // One SSH command: the boot service enabled and its daemon running, then the apps started or
    // reloaded (in cluster mode each new process takes the port before its predecessor stops), and
    // the health gate with its rollback. The plan's sha256 of the loaded files goes on stdin (it is
    // secret when .env.production is). The host tool's message says which step failed.
    const apply = pm2ApplyCommand(
        inputs.toolPath,
        inputs.user,
        inputs.ecosystemPath,
        names,
        inputs.markerDir,
        inputs.loadedPaths,
        inputs.gate,
        retryOnly ? "stdin, retry only" : "stdin",
    );
    await run(
        inputs.connection,
        retryOnly
            ? `trying again a change to pm2 apps ${names.join(", ")} that the health gate sent back`
            : `enabling pm2 for ${inputs.user} and reloading pm2 apps ${names.join(", ")}`,
        retryOnly ? apply : `${pm2EnableCommand(inputs.toolPath, inputs.user, inputs.markerDir)} && ${apply}`,
        { stdin: `${inputs.loadedSha256}\n` },
    );
}

export const pm2Provider: ResourceProvider<Pm2Inputs> = {
    async diff(_id: string, olds: Pm2Inputs, news: Pm2Inputs) {
        const changed = differingFacts(desiredPm2Facts(news.user, news.apps), olds);
        return { changes: changed.length > 0 || olds.loadedSha256 !== news.loadedSha256 };
    },

    async create(inputs: Pm2Inputs) {
        await applyPm2(inputs);
        return { id: `${inputs.connection.role}:pm2:${inputs.user}`, outs: inputs };
    },
    async update(_id: string, olds: Pm2Inputs, news: Pm2Inputs) {
        // Converge: apps that run as planned and started after their files last changed are left
        // alone; anything else gets a rolling reload.
        const observed = await readPm2(news);
        const differing = differingFacts(desiredPm2Facts(news.user, news.apps), observed);
        // Only the saved list is off (deleted by hand, say): saved again from the running apps, which stay as they are.
        if (differing.length === 1 && differing[0] === "savedList") await run(news.connection, "saving pm2's process list", pm2SaveCommand(news.toolPath, news.user));
        else if (differing.length > 0) await applyPm2(news);
        // Running as planned, with files that changed in the plan: a change the health gate sent back
        // (the files were rolled back), tried again; otherwise already right, and recorded as such.
        else if (olds.loadedSha256 !== news.loadedSha256) await applyPm2(news, true);
        else await run(news.connection, "recording the files the pm2 apps run with", pm2MarkLoadedCommand(news.toolPath, news.user, news.markerDir, news.loadedPaths));
        return { outs: news };
    },
    async read(id: string, props: Pm2Inputs) {
        const observed = await readPm2(props);
        return { id, props: observed, inputs: observed };
    },
    async delete(_id: string, props: Pm2Inputs) {
        await run(
            props.connection,
            "removing the pm2 apps",
            pm2RemoveCommand(
                props.toolPath,
                props.user,
                props.apps.map((app) => app.name),
                props.markerDir,
            ),
        );
    },
};
