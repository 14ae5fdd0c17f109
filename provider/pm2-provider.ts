/**
 * The provider of the pm2 apps' release: its files (the ecosystem, .env.production) installed, the apps
 * online, listening where the plan says, resurrected at boot, and running with those files. A change is
 * a candidate, then one rolling reload, each with the health gate; a version that fails is put back
 * from the previous inputs in Pulumi's state (nothing about deploys is kept on the host). Shared shape:
 * host-providers.ts.
 */
import { appsOnlineSeconds, gatedStepSeconds, stepSeconds } from "../hostio/deadlines";
import type { ResourceProvider } from "./resource-provider";
import type { AppsGatePlan } from "../plan/pm2";
import { chainCalls, pm2ApplyCall, pm2EnableCall, pm2MarkLoadedCall, pm2RemoveCall, pm2SaveCall, ReleaseFile } from "../hostio/host-tool";
import { desiredPm2Facts, parsePm2Probe, Pm2Facts, pm2ProbeCommand, Pm2AppShape } from "../hostio/observe-pm2";
import { differingFacts } from "../hostio/observe";
import { HostConnection, run, runTool } from "./host-providers";

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
    /**
     * The files of the release (the ecosystem, .env.production; secret when the env file is), which the
     * apply installs; the previous update's are what comes back when a new version fails (absent in a
     * state from 1.0).
     */
    files: ReleaseFile[];
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

async function applyPm2(inputs: Pm2Inputs, previous: Pm2Inputs | undefined): Promise<void> {
    const names = inputs.apps.map((app) => app.name);
    // One SSH command: the boot service enabled and its daemon running, then the release: its files
    // installed, with a gate a candidate of them that must pass it before the serving apps are touched,
    // the apps started or reloaded (in cluster mode each new process takes the port before its
    // predecessor stops), and the health gate again. The files, planned and previous, go on stdin (secret
    // when .env.production is); the previous ones come back when the new ones fail. The host tool's
    // message says which step failed.
    const apply = pm2ApplyCall(
        inputs.toolPath,
        { user: inputs.user, ecosystemPath: inputs.ecosystemPath, apps: names, markerDir: inputs.markerDir, loaded: inputs.loadedPaths, gate: inputs.gate },
        inputs.files,
        previous?.files,
    );
    await runTool(inputs.connection, `enabling pm2 for ${inputs.user} and deploying pm2 apps ${names.join(", ")}`, chainCalls(enableCall(inputs), apply), {
        deadlineSeconds: stepSeconds.pm2 + gatedStepSeconds(inputs.gate?.timeoutSeconds ?? appsOnlineSeconds, 3),
    });
}

/** pm2's boot unit for the user, and the timer that rotates its logs, enabled and started. */
const enableCall = (inputs: Pm2Inputs) => pm2EnableCall(inputs.toolPath, inputs.user, inputs.markerDir, inputs.home, inputs.logRotationTimer);

/** Facts a repair brings back without touching the running apps. */
const repairedWithoutReload = ["savedList", "logRotation"];

export const pm2Provider: ResourceProvider<Pm2Inputs> = {
    async diff(_id: string, olds: Pm2Inputs, news: Pm2Inputs) {
        const changed = differingFacts(desiredPm2Facts(news.user, news.apps), olds);
        return { changes: changed.length > 0 || olds.loadedSha256 !== news.loadedSha256 };
    },

    async create(inputs: Pm2Inputs) {
        await applyPm2(inputs, undefined);
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
                await runTool(news.connection, `enabling the rotation of pm2's logs (${news.logRotationTimer})`, enableCall(news), { deadlineSeconds: stepSeconds.pm2 });
            if (differing.includes("savedList"))
                await runTool(news.connection, "saving pm2's process list", pm2SaveCall(news.toolPath, news.user), { deadlineSeconds: stepSeconds.pm2 });
        } else if (differing.length > 0) await applyPm2(news, olds);
        // Running as planned, with files that changed in the plan: a change that failed and was put back
        // (the state kept the previous version), tried again; otherwise already right, and recorded as such.
        else if (olds.loadedSha256 !== news.loadedSha256) await applyPm2(news, olds);
        else
            await runTool(news.connection, "recording the files the pm2 apps run with", pm2MarkLoadedCall(news.toolPath, news.user, news.markerDir, news.loadedPaths), {
                deadlineSeconds: stepSeconds.read,
            });
        return { outs: news };
    },
    async read(id: string, props: Pm2Inputs) {
        const observed = await readPm2(props);
        return { id, props: observed, inputs: observed };
    },
    async delete(_id: string, props: Pm2Inputs) {
        await runTool(
            props.connection,
            "removing the pm2 apps",
            pm2RemoveCall(
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
