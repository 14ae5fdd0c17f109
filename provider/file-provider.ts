/**
 * The provider of a file the stack installs on a host, and of the host tool (a file installed without
 * the tool itself): read, install through the tool's validated install (after the backend preflight
 * for the files that point the apps at the backend), converge, remove. Shared shape: host-providers.ts.
 */
import { stepSeconds } from "../hostio/deadlines";
import type { ResourceProvider } from "./resource-provider";
import { installFileCall, installHostToolStep, removeFileCall, removeHostToolCommand } from "../hostio/host-tool";
import { desiredFileFacts, FileFacts, fileProbeCommand, hostToolProbeCommand, parseFileProbe } from "../hostio/observe-file";
import { differingFacts } from "../hostio/observe";
import { BackendPreflight, judgePreflight, preflightCommand, preflightFailure } from "../hostio/preflight";
import { HostConnection, run } from "./host-providers";

/** The plan's inputs, and the facts about the file (path, state, mode, owner, content: desired as inputs, observed on read). */
export interface FileInputs extends FileFacts {
    connection: HostConnection;
    /** Where the host tool is (it installs and validates the file). */
    toolPath: string;
    /** Validation of the new content on the host before it replaces the file (`none`, `nft`, `ecosystem`, `envoy`). */
    check: string;
    checkArgs: string[];
    /** The content; secret end to end for secret content. The host tool has none: its bytes are copied by sha256. */
    content: string;
    /** The planned content's hash; a refresh never overwrites it (it does `contentSha256`). */
    plannedSha256: string;
    /** `file`, or `host-tool` for the tool itself. */
    kind: string;
    /** For the files that point the apps at the backend: what the frontend checks before they change. */
    preflight?: BackendPreflight;
}

async function readFile(props: FileInputs): Promise<FileInputs> {
    const probe = await run(props.connection, `reading ${props.path}`, props.kind === "host-tool" ? hostToolProbeCommand(props.path) : fileProbeCommand(props.path), {
        deadlineSeconds: stepSeconds.read,
    });
    return { ...props, ...parseFileProbe(props.path, probe.stdout, props.plannedSha256 ?? props.contentSha256) };
}

async function installFile(inputs: FileInputs): Promise<void> {
    if (inputs.preflight) await checkBackend(inputs, inputs.preflight);
    if (inputs.kind === "host-tool") {
        await run(inputs.connection, `installing ${inputs.path}`, installHostToolStep(inputs.path), { deadlineSeconds: stepSeconds.install });
        return;
    }
    const install = installFileCall(inputs.toolPath, inputs);
    await run(inputs.connection, `installing ${inputs.path}`, install.step, { stdin: install.request, deadlineSeconds: stepSeconds.install });
}

/** The backend preflight (hostio/preflight.ts), over the same connection: fails before anything changes. */
async function checkBackend(inputs: FileInputs, preflight: BackendPreflight): Promise<void> {
    const result = await run(inputs.connection, `checking the backend before ${inputs.path} changes`, preflightCommand(preflight), { deadlineSeconds: stepSeconds.read });
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
        if (props.kind === "host-tool") {
            await run(props.connection, `removing ${props.path}`, removeHostToolCommand(props.path), { deadlineSeconds: stepSeconds.install });
            return;
        }
        const remove = removeFileCall(props.toolPath, props.path);
        await run(props.connection, `removing ${props.path}`, remove.step, { stdin: remove.request, deadlineSeconds: stepSeconds.install });
    },
};
