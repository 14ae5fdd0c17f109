/**
 * The front door's release, in two resources around the Docker provider's container (plan/envoy.ts):
 * - `EnvoyRelease` (envoy-release): the whole config validated and run by a candidate on loopback ports
 *   the gate judges; then, when only the listeners and clusters change, applied in place (Envoy's
 *   dynamic resources files), checked and, if Envoy rejects them or the gate fails, put back from the
 *   previous inputs in the state; when the bootstrap or the image changes (the Docker provider replaces
 *   the container next), served by a standby on the public ports beside the serving container, which
 *   drains. A failure fails the update: the state keeps the previous inputs, so `preview` still shows
 *   the change and the next `up` tries again.
 * - `EnvoyGate` (envoy-settle), after the container is created: it must be ready and pass the gate;
 *   then the standby drains and stops. Run again for a container created anew after drift.
 * The host keeps no copy of a config: the previous version is whatever still serves.
 */
import { envoyReleaseStepSeconds, envoySettleStepSeconds, stepSeconds } from "../hostio/deadlines";
import type { ResourceProvider } from "./resource-provider";
import { EnvoyReleaseFiles, EnvoyReleaseStep, envoyForgetCall, envoyReleaseCall, envoySettleCall } from "../hostio/host-tool";
import { HostConnection, runTool } from "./host-providers";

interface EnvoyStepInputs extends EnvoyReleaseStep {
    connection: HostConnection;
}

/** One dynamic resources file: where, what, the version_info Envoy reports once applied, its resources' names. */
interface DynamicFile {
    path: string;
    content: string;
    version: string;
    names?: string[];
}

/**
 * Which file goes first when `to` replaces `from`. Envoy checks that a listener's routes name clusters it
 * has (validate_clusters, the default for a route table inline in a listener), but not the other way round:
 * so new clusters go in before the listeners that use them, and clusters that go away leave after the
 * listeners that used them.
 */
export function moveOrder(from: DynamicFile, to: DynamicFile): "cds-first" | "lds-first" {
    const kept = new Set(to.names ?? []);
    return (from.names ?? []).some((name) => !kept.has(name)) ? "lds-first" : "cds-first";
}

export interface EnvoyReleaseInputs extends EnvoyStepInputs {
    configPath: string;
    /** The sha256 of the bootstrap the container runs (its label). */
    configSha256: string;
    /** The sha256 of everything the container is made of (plan/envoy.ts): a change replaces it. */
    containerSha256: string;
    bootstrap: string;
    validationBootstrap: string;
    candidateBootstrap: string;
    dynamicDir: string;
    lds: DynamicFile;
    cds: DynamicFile;
    image: string;
    mounts: string[];
}

export interface EnvoyGateInputs extends EnvoyStepInputs {
    configSha256: string;
    containerId: string;
}

/** What the Docker provider's container is made of: a change in any of these replaces it (a handover). */
const container = (inputs: EnvoyReleaseInputs) => JSON.stringify([inputs.containerSha256, inputs.image, inputs.mounts, inputs.configPath, inputs.containerName, inputs.dynamicDir]);
/** What a release brings to the door: a change in any of these is a new release. 1.x's state has no lds. */
const released = (inputs: EnvoyReleaseInputs) => JSON.stringify([container(inputs), inputs.lds?.version, inputs.cds?.version]);
/** What the settle step judges: a new container, config or door. */
const judged = (inputs: EnvoyGateInputs) => JSON.stringify([inputs.configSha256, inputs.containerId, inputs.httpsPort, inputs.serverNames]);
const settings = (inputs: EnvoyStepInputs) => JSON.stringify([inputs.timeoutSeconds, inputs.drainSeconds, inputs.stateDir]);

/**
 * A release: in place when the container stays (its bootstrap, image and mounts unchanged), else the
 * handover to the container the Docker provider creates next. The previous listeners and clusters, for
 * a rollback in place, come from the previous inputs (a 1.x state has none: its first release is a handover).
 */
async function release(inputs: EnvoyReleaseInputs, olds?: EnvoyReleaseInputs): Promise<void> {
    const mode = olds && container(olds) === container(inputs) ? "in-place" : "handover";
    const previous = olds?.lds && olds.cds ? { lds: olds.lds, cds: olds.cds } : undefined;
    const files: EnvoyReleaseFiles = {
        validate: inputs.validationBootstrap,
        candidate: inputs.candidateBootstrap,
        bootstrap: inputs.bootstrap,
        lds: inputs.lds.content,
        cds: inputs.cds.content,
        ...(previous ? { previousLds: previous.lds.content, previousCds: previous.cds.content } : {}),
    };
    const call = envoyReleaseCall(
        {
            ...inputs,
            mode,
            versions: { lds: inputs.lds.version, cds: inputs.cds.version },
            order: previous ? moveOrder(previous.cds, inputs.cds) : "cds-first",
            ...(previous ? { previousVersions: { lds: previous.lds.version, cds: previous.cds.version }, rollbackOrder: moveOrder(inputs.cds, previous.cds) } : {}),
        },
        files,
    );
    const what = mode === "in-place" ? `listeners ${inputs.lds.version} and clusters ${inputs.cds.version}` : `bootstrap ${inputs.configSha256.slice(0, 12)} (a new container)`;
    await runTool(inputs.connection, `releasing Envoy's ${what} to the front door`, call, {
        deadlineSeconds: envoyReleaseStepSeconds(inputs.timeoutSeconds, inputs.drainSeconds),
    });
}

async function settle(inputs: EnvoyGateInputs): Promise<void> {
    await runTool(inputs.connection, `checking that the front door answers for ${inputs.serverNames.join(", ")} through ${inputs.containerName}`, envoySettleCall(inputs), {
        deadlineSeconds: envoySettleStepSeconds(inputs.timeoutSeconds, inputs.drainSeconds),
    });
}

export const envoyReleaseProvider: ResourceProvider<EnvoyReleaseInputs> = {
    async diff(_id: string, olds: EnvoyReleaseInputs, news: EnvoyReleaseInputs) {
        return { changes: released(olds) !== released(news) || settings(olds) !== settings(news) };
    },
    async create(inputs: EnvoyReleaseInputs) {
        await release(inputs);
        return { id: `${inputs.connection.role}:envoy-release:${inputs.containerName}`, outs: inputs };
    },
    async update(_id: string, olds: EnvoyReleaseInputs, news: EnvoyReleaseInputs) {
        // Only a new config, image or mount is released; changed settings alone are recorded.
        if (released(olds) !== released(news)) await release(news, olds);
        return { outs: news };
    },
    // A step, not an artifact: what it released (the bootstrap, the container) is read by their own resources.
    async read(id: string, props: EnvoyReleaseInputs) {
        return { id, props, inputs: props };
    },
    async delete(_id: string, props: EnvoyReleaseInputs) {
        await runTool(props.connection, "removing the front door release's files", envoyForgetCall(props.toolPath, props.stateDir), {
            deadlineSeconds: stepSeconds.container + 30,
        });
    },
};

export const envoyGateProvider: ResourceProvider<EnvoyGateInputs> = {
    async diff(_id: string, olds: EnvoyGateInputs, news: EnvoyGateInputs) {
        // A 1.x gate's state (markerDir, configPath, image, mounts) has no drainSeconds: the upgrade settles once.
        return { changes: judged(olds) !== judged(news) || settings(olds) !== settings(news) };
    },
    async create(inputs: EnvoyGateInputs) {
        await settle(inputs);
        return { id: `${inputs.connection.role}:envoy-gate:${inputs.containerName}`, outs: inputs };
    },
    async update(_id: string, olds: EnvoyGateInputs, news: EnvoyGateInputs) {
        if (judged(olds) !== judged(news) || olds.stateDir !== news.stateDir || olds.drainSeconds !== news.drainSeconds) await settle(news);
        return { outs: news };
    },
    async read(id: string, props: EnvoyGateInputs) {
        return { id, props, inputs: props };
    },
    // The release's files go with EnvoyRelease's delete.
    async delete() {},
};
