/**
 * The front door's gate (files/limen-host.sh, envoy-gate). After the Docker provider replaced Envoy's
 * container with a new config, an https request on the host to 127.0.0.1 with each site's name must get
 * the site's answer. If it does not, the config that last passed comes back through the same validated
 * install, the container is restarted on it, and the update fails: the state keeps the previous facts,
 * so `preview` still shows the change and the next `up` installs it again and tries.
 */
import { gatedStepSeconds, stepSeconds } from "../hostio/deadlines";
import type { ResourceProvider } from "./resource-provider";
import { envoyGateCommand, envoyGateForgetCommand } from "../hostio/host-tool";
import { HostConnection, run } from "./host-providers";

export interface EnvoyGateInputs {
    connection: HostConnection;
    toolPath: string;
    markerDir: string;
    /** The installed bootstrap, and the sha256 the plan gives it (the container's label). */
    configPath: string;
    configSha256: string;
    /** The container the gate judges: a new one (a replacement, or one recreated after drift) is judged again. */
    containerName: string;
    containerId: string;
    /** The image and mounts `envoy --mode validate` runs with when a config is put back. */
    image: string;
    mounts: string[];
    httpsPort: number;
    /** One name per site (SNI and Host). */
    serverNames: string[];
    timeoutSeconds: number;
}

const judged = (inputs: EnvoyGateInputs) => JSON.stringify([inputs.configSha256, inputs.containerId, inputs.httpsPort, inputs.serverNames, inputs.configPath]);

async function gate(inputs: EnvoyGateInputs): Promise<void> {
    await run(inputs.connection, `checking that the front door answers for ${inputs.serverNames.join(", ")}`, envoyGateCommand(inputs), {
        stdin: `${inputs.configSha256}\n`,
        deadlineSeconds: gatedStepSeconds(inputs.timeoutSeconds),
    });
}

export const envoyGateProvider: ResourceProvider<EnvoyGateInputs> = {
    async diff(_id: string, olds: EnvoyGateInputs, news: EnvoyGateInputs) {
        return { changes: judged(olds) !== judged(news) || olds.timeoutSeconds !== news.timeoutSeconds };
    },
    async create(inputs: EnvoyGateInputs) {
        await gate(inputs);
        return { id: `${inputs.connection.role}:envoy-gate:${inputs.containerName}`, outs: inputs };
    },
    async update(_id: string, olds: EnvoyGateInputs, news: EnvoyGateInputs) {
        // Only what the door serves is judged again; a changed timeout alone is recorded.
        if (judged(olds) !== judged(news)) await gate(news);
        return { outs: news };
    },
    // A check, not an artifact: what it judged (the container, the bootstrap) is read by their own resources.
    async read(id: string, props: EnvoyGateInputs) {
        return { id, props, inputs: props };
    },
    async delete(_id: string, props: EnvoyGateInputs) {
        await run(props.connection, "removing the front door gate's copies", envoyGateForgetCommand(props.toolPath, props.markerDir), { deadlineSeconds: stepSeconds.install });
    },
};
