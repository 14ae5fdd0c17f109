/**
 * The provider of the pm2 apps: online, listening where the plan says, resurrected at boot, and running
 * with the files as they are now. A change is one rolling reload with the health gate and its
 * rollback. Shared shape: host-providers.ts.
 */
import { appsOnlineSeconds, gatedStepSeconds, stepSeconds } from "../hostio/deadlines";
import type { ResourceProvider } from "./resource-provider";
import type { AppsGatePlan } from "../plan/pm2";
import { pm2ApplyCommand, pm2EnableCommand, pm2MarkLoadedCommand, pm2RemoveCommand, pm2SaveCommand } from "../hostio/host-tool";
import { desiredPm2Facts, parsePm2Probe, Pm2Facts, pm2ProbeCommand, Pm2AppShape } from "../hostio/observe-pm2";
import { differingFacts } from "../hostio/observe";
import { HostConnection, run } from "./host-providers";

/** The plan's inputs, and the facts about the apps (desired as inputs, observed on read). */
export interface Pm2Inputs extends Pm2Facts {
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
    /** The app user's home, and the timer that rotates pm2's logs there (absent in a state from 1.0). */
    home: string;
    logRotationTimer: string;
}

async function readPm2(props: Pm2Inputs): Promise<Pm2Inputs> {
    const probe = await run(props.connection, "reading pm2's state", pm2ProbeCommand(props.user, props.loadedPaths, props.markerDir, props.logRotationTimer), {
        deadlineSeconds: stepSeconds.read,
    });
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
    // One SSH command: the boot service enabled and its daemon running, then, with a gate, a candidate
    // of the new files that must pass it before the serving apps are touched, then the apps started or
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
        retryOnly ? apply : `${enableCommand(inputs)} && ${apply}`,
        { stdin: `${inputs.loadedSha256}\n`, deadlineSeconds: stepSeconds.pm2 + gatedStepSeconds(inputs.gate?.timeoutSeconds ?? appsOnlineSeconds, 3) },
    );
}

/** pm2's boot unit for the user, and the timer that rotates its logs, enabled and started. */
const enableCommand = (inputs: Pm2Inputs) => pm2EnableCommand(inputs.toolPath, inputs.user, inputs.markerDir, inputs.home, inputs.logRotationTimer);

/** Facts a repair brings back without touching the running apps. */
const repairedWithoutReload = ["savedList", "logRotation"];

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
        // Only the saved list (deleted by hand, say) or the log rotation's timer (disabled by hand, or not
        // there yet on a stack upgraded from 1.0) is off: repaired, and the running apps stay as they are.
        if (differing.length > 0 && differing.every((fact) => repairedWithoutReload.includes(fact))) {
            if (differing.includes("logRotation"))
                await run(news.connection, `enabling the rotation of pm2's logs (${news.logRotationTimer})`, enableCommand(news), { deadlineSeconds: stepSeconds.pm2 });
            if (differing.includes("savedList"))
                await run(news.connection, "saving pm2's process list", pm2SaveCommand(news.toolPath, news.user), { deadlineSeconds: stepSeconds.pm2 });
        } else if (differing.length > 0) await applyPm2(news);
        // Running as planned, with files that changed in the plan: a change the health gate sent back
        // (the files were rolled back), tried again; otherwise already right, and recorded as such.
        else if (olds.loadedSha256 !== news.loadedSha256) await applyPm2(news, true);
        else
            await run(news.connection, "recording the files the pm2 apps run with", pm2MarkLoadedCommand(news.toolPath, news.user, news.markerDir, news.loadedPaths), {
                deadlineSeconds: stepSeconds.read,
            });
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
                props.logRotationTimer,
            ),
            { deadlineSeconds: stepSeconds.pm2 },
        );
    },
};
