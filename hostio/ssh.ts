/**
 * SSH to a host the way the stack trusts it: the pinned host key and nothing else, the deploy key from
 * config, no agent, no password. Used by the resources' providers (read, create, update, delete) and by
 * `npm run verify`; it loads no Pulumi code.
 *
 * Connections are shared per host within one process (a refresh of every resource on a host costs one
 * SSH connection) and closed once idle. The firewall confirmation asks for a fresh one on purpose.
 *
 * ssh2 is loaded with `require` inside the functions that dial, so the provider plugin and `verify`
 * pay for it only when they contact a host (a preview never does).
 */
import { createHash } from "node:crypto";
import type { Client, ConnectConfig } from "ssh2";
import type { SshEndpoint } from "../plan/hosts";
import { killAfterSeconds, underDeadline } from "./deadlines";
import { hostToolBinary } from "./host-tool-binary";
import { installedToolCommand, isToolScript, notPlannedMessage, notPlannedStatus, removeSentToolCommand, sendToolCommand, ToolScript } from "./host-tool-run";

/** A host as the plan names it (role, address, port, user, pinned key, dial attempts and timeout). */
export type SshTarget = SshEndpoint;

export interface ExecResult {
    status: number;
    stdout: string;
    stderr: string;
    /** The step ran past its deadline and was stopped on the host (hostio/deadlines.ts). */
    deadlinePassed?: boolean;
}

/** A host that could not be reached, in words an operator can act on. Never carries key material. */
export type SshError = Error & { name: "SshError"; retry: boolean };

/** A plain Error marked by its name (`isSshError`), with whether another attempt could help. */
export function sshError(message: string, retry = false): SshError {
    return Object.assign(new Error(message), { name: "SshError" as const, retry });
}

export function isSshError(error: unknown): error is SshError {
    return error instanceof Error && error.name === "SshError";
}

/** The algorithm names under which a server may present a key of this type. */
export function hostKeyAlgorithms(keyType: string): string[] {
    return keyType === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [keyType];
}

/** `type base64 [comment]` → the key type and its wire-format blob, which is what ssh2 hands the verifier. */
export function parseHostKey(line: string): { type: string; blob: Buffer } {
    const [type = "", base64 = ""] = line.trim().split(/\s+/);
    const blob = Buffer.from(base64, "base64");
    if (type === "" || blob.length === 0) throw sshError("the pinned host key is not a `type base64` line");
    return { type, blob };
}

function where(target: SshTarget): string {
    const host = target.address.includes(":") ? `[${target.address}]` : target.address;
    return `ssh ${target.user}@${host}:${target.port}`;
}

/** Why a dial failed, and whether another attempt could help (sshd still starting, a lost packet). */
export function describeDialError(target: SshTarget, error: Error & { code?: string; level?: string }, hostKeyRejected: boolean): { message: string; retry: boolean } {
    if (hostKeyRejected) {
        return {
            message: `${where(target)}: the host key it presented is not the one pinned in limen:${target.role}.hostKey; compare \`ssh-keyscan -t ${parseHostKey(target.hostKey).type} ${target.address}\` with the host's console before changing the pin`,
            retry: false,
        };
    }
    if (error.level === "client-authentication") return { message: `${where(target)}: the key in limen:sshPrivateKey is not accepted for ${target.user}`, retry: false };
    if (error.code === "ECONNREFUSED") return { message: `${where(target)}: connection refused: sshd is not listening on port ${target.port}`, retry: true };
    if (/timed out/i.test(error.message) || error.code === "ETIMEDOUT") {
        return { message: `${where(target)}: no answer: is this machine inside limen:ssh.adminNetworks, and is the host up?`, retry: true };
    }
    if (/Cannot parse privateKey|Encrypted private OpenSSH key|privateKey value does not contain a \(valid\) private key/i.test(error.message)) {
        return { message: `${where(target)}: limen:sshPrivateKey cannot be read as an unencrypted private key`, retry: false };
    }
    return { message: `${where(target)}: ${error.message}`, retry: true };
}

async function dialOnce(target: SshTarget, privateKey: string): Promise<Client> {
    const { Client: SshClient } = require("ssh2") as typeof import("ssh2");
    const pinned = parseHostKey(target.hostKey);
    return new Promise<Client>((resolve, reject) => {
        const client = new SshClient();
        let hostKeyRejected = false;
        const config: ConnectConfig = {
            host: target.address,
            port: target.port,
            username: target.user,
            privateKey,
            agent: undefined,
            tryKeyboard: false,
            readyTimeout: target.connectTimeoutSeconds * 1000,
            keepaliveInterval: 5000,
            keepaliveCountMax: 3,
            algorithms: { serverHostKey: hostKeyAlgorithms(pinned.type) as NonNullable<ConnectConfig["algorithms"]>["serverHostKey"] },
            hostVerifier: (key: Buffer) => {
                hostKeyRejected = !key.equals(pinned.blob);
                return !hostKeyRejected;
            },
        };
        client.once("ready", () => resolve(client));
        client.once("error", (error: Error & { code?: string; level?: string }) => {
            client.end();
            const described = describeDialError(target, error, hostKeyRejected);
            reject(sshError(described.message, described.retry));
        });
        try {
            client.connect(config);
            // Small request/answer packets both ways: with Nagle's algorithm on (Node's default, which
            // ssh2 keeps) every exec and every handshake round waited for the peer's delayed ACK, about
            // 85 ms per command measured in the lab.
            client.setNoDelay(true);
        } catch (error) {
            // A key ssh2 cannot parse throws here, before any connection: say which key, never its text.
            const described = describeDialError(target, error as Error, false);
            reject(sshError(described.message, false));
        }
    });
}

/** Dials up to `connectAttempts` times (sshd may still be starting after a boot). */
export async function dial(target: SshTarget, privateKey: string): Promise<Client> {
    let last: Error | undefined;
    for (let attempt = 1; attempt <= Math.max(1, target.connectAttempts); attempt++) {
        try {
            return await dialOnce(target, privateKey);
        } catch (error) {
            last = error as Error;
            if (!(error as { retry?: boolean }).retry || attempt === target.connectAttempts) break;
            await new Promise((done) => setTimeout(done, 1000));
        }
    }
    throw last ?? sshError(`${where(target)}: no attempt made`);
}

/** `timeout`'s exit statuses: stopped by SIGTERM (124), or by SIGKILL after it (137, 128 + 9). */
const stoppedByDeadline = new Set([124, 137]);

/**
 * Runs one command over an open connection; stdin is written and closed, never echoed. With
 * `deadlineSeconds` (the command is `underDeadline`), a step the host stopped at its deadline is
 * marked `deadlinePassed`; should no answer come at all (a connection that hangs), the channel is
 * closed a little after the host's own deadline and the promise rejects.
 */
export function execOn(client: Client, command: string, stdin?: string | Buffer, deadlineSeconds?: number): Promise<ExecResult> {
    const started = Date.now();
    return new Promise<ExecResult>((resolve, reject) => {
        client.exec(command, (error, stream) => {
            if (error) return reject(error);
            const stdout: Buffer[] = [];
            const stderr: Buffer[] = [];
            let giveUp: NodeJS.Timeout | undefined;
            if (deadlineSeconds !== undefined) {
                const waitSeconds = deadlineSeconds + killAfterSeconds + 10;
                giveUp = setTimeout(() => {
                    stream.close();
                    reject(
                        new Error(`no answer from the host ${waitSeconds} s after the command started (its deadline on the host was ${deadlineSeconds} s): the connection hangs`),
                    );
                }, waitSeconds * 1000);
            }
            stream.on("data", (chunk: Buffer) => stdout.push(chunk));
            stream.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
            stream.on("close", (code: number | null, signal?: string) => {
                clearTimeout(giveUp);
                const status = code ?? (signal ? 128 : 255);
                resolve({
                    status,
                    stdout: Buffer.concat(stdout).toString("utf8"),
                    stderr: Buffer.concat(stderr).toString("utf8"),
                    // The status alone could be the command's own: the time it took tells.
                    ...(deadlineSeconds !== undefined && stoppedByDeadline.has(status) && Date.now() - started >= deadlineSeconds * 1000 ? { deadlinePassed: true } : {}),
                });
            });
            stream.end(stdin ?? "");
        });
    });
}

interface PoolEntry {
    client: Promise<Client>;
    active: number;
    idleTimer: NodeJS.Timeout | undefined;
    target: SshTarget;
    /** The planned host tool sent over this connection (hostio/host-tool-run.ts), once, when a step needed it. */
    sentTool?: Promise<string>;
}

interface Pool {
    entries: Map<string, PoolEntry>;
    /** Connections opened in this process, for the benchmark's count. */
    opened: number;
}

/** The process's shared connections, one per host and key. */
const sharedPool: Pool = { entries: new Map(), opened: 0 };
/** How long an idle shared connection stays open: long enough for the next resource's read. */
const idleCloseMs = 2000;

/** How many SSH connections this process has opened (the benchmark reports it). */
export function connectionsOpened(): number {
    return sharedPool.opened;
}

function entryKey(target: SshTarget, privateKey: string): string {
    const keyId = createHash("sha256").update(privateKey).digest("hex");
    return [target.user, target.address, target.port, target.hostKey, keyId].join("|");
}

export interface RunOptions {
    stdin?: string | Buffer;
    /** A new connection just for this command (the firewall confirmation's proof that one still gets in). */
    fresh?: boolean;
    /** How long the step may take on the host (hostio/deadlines.ts); it is stopped there after that. */
    deadlineSeconds: number;
}

/** How long sending the planned tool may take: a few megabytes, compressed, over the step's connection. */
const sendToolSeconds = 120;

/**
 * Runs `command` on the host under its deadline (`underDeadline`). `fresh: true` opens a new
 * connection just for it and closes it after, which is what the firewall confirmation needs: proof
 * that a NEW connection still gets in.
 *
 * A step of the host tool (hostio/host-tool-run.ts) runs with the installed tool when it is the planned
 * one. Otherwise (a host whose tool is missing, changed, or an older release's) the planned tool is sent
 * once per connection, into a root-only directory on tmpfs that goes when the connection closes, and the
 * step runs again with it, under the same deadline, on the same connection.
 */
export async function runOnHost(target: SshTarget, privateKey: string, command: string | ToolScript, options: RunOptions): Promise<ExecResult> {
    const connection = await acquire(target, privateKey, options.fresh === true);
    try {
        const exec = (text: string) => execOn(connection.client, underDeadline(text, target.user, options.deadlineSeconds), options.stdin, options.deadlineSeconds);
        if (!isToolScript(command)) return await exec(command);
        if (!command.alwaysSend) {
            const installed = await exec(installedToolCommand(command));
            if (installed.status !== notPlannedStatus || !installed.stderr.includes(notPlannedMessage)) return installed;
        }
        const sent = await connection.sentTool();
        return await exec(installedToolCommand({ ...command, toolPath: sent }));
    } finally {
        connection.release();
    }
}

/** Sends the planned tool over `client` and says where it is on the host. */
async function sendTool(client: Client, target: SshTarget): Promise<string> {
    const tool = await hostToolBinary();
    const sent = await execOn(client, underDeadline(sendToolCommand(tool.size), target.user, sendToolSeconds), tool.gzipped, sendToolSeconds);
    const at = sent.stdout.trim();
    if (sent.status !== 0 || !/^\/run\/limen-tool\.[A-Za-z0-9]{6}\/limen-host$/.test(at)) {
        throw new Error(
            `${where(target)}: the planned host tool could not be sent (exit ${sent.status}): ${(sent.stderr.trim() || sent.stdout.trim()).split("\n").slice(-3).join("\n")}`,
        );
    }
    return at;
}

/** Removes a tool sent over `client` (its directory), before the connection closes. */
async function removeSentTool(client: Client, target: SshTarget, at: string): Promise<void> {
    await execOn(client, underDeadline(removeSentToolCommand(at), target.user, sendToolSeconds), undefined, sendToolSeconds).catch(() => undefined);
}

interface Connection {
    client: Client;
    /** The planned tool on the host, sent over this connection once (hostio/host-tool-run.ts). */
    sentTool(): Promise<string>;
    release(): void;
}

/** A connection for one command: the host's shared one, or (`fresh`) a new one closed after it. */
async function acquire(target: SshTarget, privateKey: string, fresh: boolean): Promise<Connection> {
    if (fresh) {
        const client = await dial(target, privateKey);
        sharedPool.opened++;
        let sent: Promise<string> | undefined;
        return {
            client,
            sentTool: () => (sent ??= sendTool(client, target)),
            release: () => {
                const done = sent ? sent.then((at) => removeSentTool(client, target, at)).catch(() => undefined) : Promise.resolve();
                void done.then(() => client.end());
            },
        };
    }
    const key = entryKey(target, privateKey);
    let entry = sharedPool.entries.get(key);
    if (!entry) {
        const created: PoolEntry = { client: dial(target, privateKey), active: 0, idleTimer: undefined, target };
        sharedPool.entries.set(key, created);
        created.client.then(
            (client) => {
                sharedPool.opened++;
                // A connection the host closed (reboot, sshd restart) is dialled again next time.
                client.once("close", () => sharedPool.entries.get(key) === created && sharedPool.entries.delete(key));
            },
            () => sharedPool.entries.get(key) === created && sharedPool.entries.delete(key),
        );
        entry = created;
    }
    const current = entry;
    if (current.idleTimer) clearTimeout(current.idleTimer);
    current.active++;
    let client: Client;
    try {
        client = await current.client;
    } catch (error) {
        current.active--;
        throw error;
    }
    return {
        client,
        sentTool: () => {
            current.sentTool ??= sendTool(client, target);
            // A failed send is not kept: the next step tries again.
            current.sentTool.catch(() => {
                current.sentTool = undefined;
            });
            return current.sentTool;
        },
        release: () => {
            current.active--;
            if (current.active > 0) return;
            current.idleTimer = setTimeout(() => {
                if (current.active > 0) return;
                sharedPool.entries.delete(key);
                void closeEntry(current);
            }, idleCloseMs);
            current.idleTimer.unref();
        },
    };
}

/** Closes a shared connection, removing the tool sent over it first. */
async function closeEntry(entry: PoolEntry): Promise<void> {
    const client = await entry.client.catch(() => undefined);
    if (!client) return;
    const sent = await entry.sentTool?.catch(() => undefined);
    if (sent) await removeSentTool(client, entry.target, sent);
    client.end();
}

/** Closes every shared connection now (verify calls it before exiting), removing the tools sent over them. */
export async function closeAll(): Promise<void> {
    const entries = [...sharedPool.entries.values()];
    sharedPool.entries.clear();
    await Promise.all(entries.map((entry) => closeEntry(entry)));
}
