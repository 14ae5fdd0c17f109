/**
 * Read-only commands on the hosts through the system `ssh` client, held to what the stack itself
 * trusts: the host keys pinned in config (StrictHostKeyChecking=yes against a known_hosts file holding
 * only those keys), the deploy key from config, no agent, no password prompt, no user ssh_config.
 *
 * The key lives in a 0600 file in a 0700 temporary directory that is removed when the process ends,
 * however it ends; it is never printed.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { hostForUrl } from "../components/addresses";

export type HostRole = "frontend" | "backend";

export interface SshTarget {
    role: HostRole;
    address: string;
    port: number;
    user: string;
    /** Pinned `ssh-ed25519 AAAA...` line (limen:<role>.hostKey). */
    hostKey: string;
}

export interface RemoteResult {
    /** Exit status of the remote command; undefined when no session came up (see `failure`). */
    status: number | undefined;
    stdout: string;
    stderr: string;
    /** Why the host could not be reached, in words an operator can act on. */
    failure?: string;
}

/** One known_hosts line pinning `hostKey` for `address` (with the `[addr]:port` form ssh uses off port 22). */
export function knownHostsLine(address: string, port: number, hostKey: string): string {
    return `${port === 22 ? address : `[${address}]:${port}`} ${hostKey}`;
}

/** The ssh command line for one remote command (nothing secret in it: the key is a file path). */
export function sshArgs(target: SshTarget, files: { identity: string; knownHosts: string }, connectTimeoutSeconds: number, remoteCommand: string): string[] {
    return [
        "-F", "/dev/null",
        "-i", files.identity,
        "-p", String(target.port),
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${files.knownHosts}`,
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", `ConnectTimeout=${connectTimeoutSeconds}`,
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
        "-o", "LogLevel=ERROR",
        "--",
        `${target.user}@${target.address}`,
        remoteCommand,
    ];
}

/** Turns ssh's own error (exit 255) into what to do about it; undefined when the session itself was fine. */
export function describeSshFailure(target: SshTarget, status: number | null, stderr: string): string | undefined {
    if (status !== 255) return undefined;
    const where = `ssh ${target.user}@${hostForUrl(target.address)}:${target.port}`;
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/i.test(stderr)) {
        return `${where}: the host's key is not the one pinned in limen:${target.role}.hostKey; compare \`ssh-keyscan -t ed25519 ${target.address}\` with the host's console before changing the pin`;
    }
    if (/Permission denied/i.test(stderr)) return `${where}: the key in limen:sshPrivateKey is not accepted for ${target.user}`;
    if (/timed out/i.test(stderr)) {
        return `${where}: no answer: is this machine inside limen:ssh.adminNetworks, and is the host up?`;
    }
    if (/Connection refused/i.test(stderr)) return `${where}: connection refused: sshd is not listening on port ${target.port}`;
    const lastLine = stderr.trim().split("\n").at(-1) ?? "";
    // Exit 255 may also be a remote command's own status; only ssh's messages start with "ssh:" or name the host.
    if (/^ssh:|^kex_|^Connection|^Load key|^Bad /i.test(lastLine) || stderr.trim() === "") return `${where}: ${lastLine || "ssh failed"}`;
    return undefined;
}

export class SshClient {
    /** The 0700 directory holding the key and known_hosts files while the client lives. */
    readonly dir: string;
    private readonly files: { identity: string; knownHosts: string };
    /** A host that could not be reached is not dialled again: every later check reports the first failure. */
    private readonly unreachable = new Map<HostRole, string>();
    private readonly cleanup = () => this.dispose();

    constructor(
        private readonly targets: Record<HostRole, SshTarget>,
        privateKey: string,
        private readonly connectTimeoutSeconds: number,
    ) {
        this.dir = mkdtempSync(path.join(tmpdir(), "limen-verify-"));
        process.on("exit", this.cleanup);
        this.files = { identity: path.join(this.dir, "id"), knownHosts: path.join(this.dir, "known_hosts") };
        // ssh refuses a key file without its final newline on some versions.
        writeFileSync(this.files.identity, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
        writeFileSync(this.files.knownHosts, Object.values(targets).map((t) => knownHostsLine(t.address, t.port, t.hostKey)).join("\n") + "\n", { mode: 0o600 });
    }

    target(role: HostRole): SshTarget {
        return this.targets[role];
    }

    /** Runs `remoteCommand` (a POSIX shell command line) on the host, stdin from `input`. */
    run(role: HostRole, remoteCommand: string, input?: string): RemoteResult {
        const known = this.unreachable.get(role);
        if (known) return { status: undefined, stdout: "", stderr: "", failure: known };
        const target = this.targets[role];
        const result = spawnSync("ssh", sshArgs(target, this.files, this.connectTimeoutSeconds, remoteCommand), {
            input: input ?? "",
            encoding: "utf8",
            timeout: (this.connectTimeoutSeconds + 60) * 1000,
            maxBuffer: 64 * 1024 * 1024,
        });
        if (result.error) {
            const failure =
                (result.error as NodeJS.ErrnoException).code === "ENOENT"
                    ? "the `ssh` client is not installed on this machine"
                    : `ssh ${target.address}: ${result.error.message}`;
            return { status: undefined, stdout: result.stdout ?? "", stderr: result.stderr ?? "", failure };
        }
        const failure = describeSshFailure(target, result.status, result.stderr);
        if (failure) {
            this.unreachable.set(role, failure);
            return { status: undefined, stdout: result.stdout, stderr: result.stderr, failure };
        }
        return { status: result.status ?? undefined, stdout: result.stdout, stderr: result.stderr };
    }

    /** Removes the key and known_hosts files (also run at process exit). */
    dispose(): void {
        rmSync(this.dir, { recursive: true, force: true });
        process.off("exit", this.cleanup);
    }
}
