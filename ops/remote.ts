/**
 * How verify reaches the hosts: hostio/ssh.ts, the same ssh2 client the resources' providers use, so
 * verify trusts exactly what `pulumi up` trusts (the pinned host key, the deploy key from config, no
 * agent, no password). The key stays in memory: nothing is written to disk, so an interrupted run
 * leaves nothing behind.
 */
import { stepSeconds } from "../hostio/deadlines";
import type { ToolScript } from "../hostio/host-tool-run";
import { isSshError, runOnHost } from "../hostio/ssh";
import type { HostRole, SshEndpoint } from "../plan/hosts";

export type { HostRole };

export interface RemoteResult {
    /** Exit status of the remote command; undefined when it did not run (see `failure`). */
    status: number | undefined;
    stdout: string;
    stderr: string;
    /** Why the command did not run, in words an operator can act on. */
    failure?: string;
}

/** What the checks need from the hosts: one shell command or a step of the host tool, stdin optional. The only way they touch a host. */
export interface Remote {
    run(role: HostRole, command: string | ToolScript, stdin?: string): Promise<RemoteResult>;
}

/** hostio/ssh.ts's runOnHost, or a stand-in with its signature (tests). */
export type RunOnHost = typeof runOnHost;

/**
 * How long verify waits for one command. Every command verify runs only reads, and the slowest (the
 * firewall probe, which loads a ruleset into a scratch namespace) takes about a second; the host stops
 * one at the read deadline (hostio/deadlines.ts) and this is the client's own limit past that, for a
 * connection that hangs: waiting longer would stall the whole report.
 */
export const commandTimeoutSeconds = 120;

export class PlannedHosts implements Remote {
    /** A host that could not be reached is not dialled again: its later checks report the first failure. */
    private readonly unreachable = new Map<HostRole, string>();

    constructor(
        private readonly endpoints: Record<HostRole, SshEndpoint>,
        private readonly privateKey: string,
        private readonly runOn: RunOnHost = runOnHost,
        private readonly timeoutSeconds = commandTimeoutSeconds,
    ) {}

    async run(role: HostRole, command: string | ToolScript, stdin?: string): Promise<RemoteResult> {
        const known = this.unreachable.get(role);
        if (known) return { status: undefined, stdout: "", stderr: "", failure: known };
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new CommandTimeout(`the ${role} did not finish a command within ${this.timeoutSeconds} s`)), this.timeoutSeconds * 1000);
            // The timer alone must not keep verify running once every check is done.
            timer.unref();
        });
        try {
            const options = { deadlineSeconds: stepSeconds.read, ...(stdin === undefined ? {} : { stdin }) };
            const result = await Promise.race([this.runOn(this.endpoints[role], this.privateKey, command, options), timedOut]);
            if (result.deadlinePassed) {
                return {
                    status: undefined,
                    stdout: result.stdout,
                    stderr: result.stderr,
                    failure: `${role} (${this.endpoints[role].address}): the command did not finish within ${stepSeconds.read} s and was stopped on the host`,
                };
            }
            return { status: result.status, stdout: result.stdout, stderr: result.stderr };
        } catch (error) {
            // SshError: the host cannot be reached with this endpoint and key (refused, wrong host key,
            // a key ssh2 cannot read): every later check of that host reports the same.
            const unreachable = isSshError(error) ? error.message : undefined;
            if (unreachable) {
                this.unreachable.set(role, unreachable);
                return { status: undefined, stdout: "", stderr: "", failure: unreachable };
            }
            // A connection that was up and failed one command (a channel refused, a timeout) may still
            // serve the next one, so it is not marked unreachable. ssh2's messages carry no key material.
            return { status: undefined, stdout: "", stderr: "", failure: `${role} (${this.endpoints[role].address}): ${(error as Error).message}` };
        } finally {
            clearTimeout(timer);
        }
    }
}

class CommandTimeout extends Error {
    override name = "CommandTimeout";
}
