/**
 * What the stack's host resources do on a host: read it, install, converge, remove. One provider per
 * artifact kind: a file or the host tool (file-provider.ts), the firewall table with its boot ruleset
 * and unit (firewall-provider.ts), the pm2 apps (pm2-provider.ts); served to the engine by this
 * project's provider plugin (provider/server.ts) under the types in resource-types.ts; the resources
 * themselves are declared in components/host-resources.ts. This holds what they share: the connection
 * to the host and running a command on it.
 *
 * Every resource keeps its inputs and outputs in the same shape: the facts (hostio/observe*.ts) are
 * top-level properties, and a refresh returns the observed facts as the inputs too, so the engine's
 * diff shows observed → planned. A plain `preview` / `up` does no host I/O: the diff compares the facts
 * recorded in state with the plan. No Pulumi SDK here: the plugin starts in a fraction of a second
 * because it loads only this, hostio/ and gRPC.
 */
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
