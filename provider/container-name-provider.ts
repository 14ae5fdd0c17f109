/**
 * The name Envoy's container runs under, claimed for the stack. The Docker provider finds its
 * container by id: when someone removes it and runs another image under the same name, a refresh
 * finds the stack's container gone, and creating it again fails with Docker's "name already in use"
 * while the hand-made container keeps the front door. This resource reads who holds the name, shows a
 * holder that is not the stack's as drift, and removes it before the Docker provider creates the
 * planned container. A container of the planned image's repository is the stack's (this plan's, or
 * an earlier one's the Docker provider is about to replace) and is never touched here.
 */
import { stepSeconds } from "../hostio/deadlines";
import type { ResourceProvider } from "./resource-provider";
import { containerClaimCall } from "../hostio/host-tool";
import { containerHolderProbeCommand } from "../hostio/observe-container-name";
import { HostConnection, run, runTool } from "./host-providers";
import { containerNameFree as nameFree } from "../core/resource-types";

export interface ContainerNameInputs {
    connection: HostConnection;
    toolPath: string;
    /** The container name (Envoy's: limen-envoy). */
    name: string;
    /** The planned image, pinned by digest: its repository's containers are the stack's. */
    image: string;
    /** `free for the stack's container`, or the container that holds the name instead. */
    holder: string;
}

/** The probe's answer (the tool's container-holder) as the fact: only a foreign holder is drift. */
export function judgeHolder(output: string): string {
    const [kind = "", id = "", image = ""] = output.trim().split(/\s+/);
    if (kind === "none" || kind === "planned" || kind === "stack") return nameFree;
    if (kind === "foreign") return `container ${id.slice(0, 12)}, running image ${image}, not the stack's`;
    throw new Error(`unexpected answer about the container name: ${JSON.stringify(output.trim())}`);
}

async function readHolder(props: ContainerNameInputs): Promise<ContainerNameInputs> {
    const probe = await run(props.connection, `reading what holds container name ${props.name}`, containerHolderProbeCommand(props.name, props.image), {
        deadlineSeconds: stepSeconds.container,
    });
    return { ...props, holder: judgeHolder(probe.stdout) };
}

async function claim(inputs: ContainerNameInputs): Promise<void> {
    await runTool(inputs.connection, `claiming container name ${inputs.name}`, containerClaimCall(inputs.toolPath, inputs.name, inputs.image), {
        deadlineSeconds: stepSeconds.container,
    });
}

export const containerNameProvider: ResourceProvider<ContainerNameInputs> = {
    async diff(_id: string, olds: ContainerNameInputs, news: ContainerNameInputs) {
        return { changes: olds.holder !== nameFree || olds.name !== news.name };
    },
    async create(inputs: ContainerNameInputs) {
        await claim(inputs);
        return { id: `${inputs.connection.role}:container:${inputs.name}`, outs: { ...inputs, holder: nameFree } };
    },
    async update(_id: string, _olds: ContainerNameInputs, news: ContainerNameInputs) {
        await claim(news);
        return { outs: { ...news, holder: nameFree } };
    },
    async read(id: string, props: ContainerNameInputs) {
        const observed = await readHolder(props);
        return { id, props: observed, inputs: observed };
    },
    // The name is released with the container, which the Docker provider removes.
    async delete() {},
};
