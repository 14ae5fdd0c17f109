/**
 * What the stack's host resources do on a host: read it, install, converge, remove. One provider per
 * artifact kind: a file or the host tool (file-provider.ts), the firewall table with its boot ruleset
 * and unit (firewall-provider.ts), the pm2 apps (pm2-provider.ts); served to the engine by this
 * project's provider plugin (provider/server.ts) under the types in core/resource-types.ts; the resources
 * themselves are declared in components/host-resources.ts. This holds what they share: the connection
 * to the host and running a command on it.
 *
 * Every resource keeps its inputs and outputs in the same shape: the facts (hostio/observe*.ts) are
 * top-level properties, and a refresh returns the observed facts as the inputs too, so the engine's
 * diff shows observed → planned. A plain `preview` / `up` does no host I/O: the diff compares the facts
 * recorded in state with the plan. No Pulumi SDK here: the plugin starts in a fraction of a second
 * because it loads only this, hostio/ and gRPC.
 */
import type { ToolCall } from "../hostio/host-tool";
import type { ToolScript } from "../hostio/host-tool-run";
import { ExecResult, isSshError, RunOptions, runOnHost, SshTarget } from "../hostio/ssh";

/** How a provider reaches its host: the plan's endpoint plus the private key (a secret input). */
export interface HostConnection extends SshTarget {
    privateKey: string;
}

/**
 * Runs a command under its deadline (hostio/deadlines.ts) and fails with the host's own words when it
 * fails (stderr, never stdin), or, past the deadline, saying what it waited for and for how long.
 */
export async function run(connection: HostConnection, what: string, command: string | ToolScript, options: RunOptions): Promise<ExecResult> {
    const { privateKey, ...target } = connection;
    let result: ExecResult;
    try {
        result = await runOnHost(target, privateKey, command, options);
    } catch (error) {
        // A host that cannot be reached says so in its own words (hostio/ssh.ts); a connection that hangs says which step.
        if (isSshError(error)) throw error;
        throw new Error(`${connection.role} (${connection.address}): ${what}: ${(error as Error).message}`);
    }
    const failure = stepFailure(connection, what, options.deadlineSeconds, result);
    if (failure) throw failure;
    return result;
}

/** A step of the host tool (hostio/host-tool.ts): its request is the step's stdin. */
export function runTool(connection: HostConnection, what: string, call: ToolCall, options: Omit<RunOptions, "stdin">): Promise<ExecResult> {
    return run(connection, what, call.step, { ...options, stdin: call.request });
}

/**
 * Why a step that ran failed, in the words `pulumi up` shows: past its deadline, what it was doing and
 * for how long (with the tool's own last words, whose narrower deadlines name what they waited for:
 * pm2, a gate request, certbot); otherwise the host's own words (stderr, never stdin). Undefined when
 * it succeeded.
 */
export function stepFailure(connection: Pick<HostConnection, "role" | "address">, what: string, deadlineSeconds: number, result: ExecResult): Error | undefined {
    const where = `${connection.role} (${connection.address})`;
    if (result.deadlinePassed) {
        const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join("\n");
        return new Error(
            `${where}: ${what} did not finish within ${deadlineSeconds} s: the host stopped it, and nothing it started runs there now${said ? `; it had said: ${said}` : ""}`,
        );
    }
    if (result.status !== 0) {
        const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-5).join("\n");
        return new Error(`${where}: ${what} failed (exit ${result.status}): ${said}`);
    }
    return undefined;
}
