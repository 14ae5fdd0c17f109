/**
 * SSH material for the Docker CLI's ssh:// transport (the Docker provider), which takes options, not
 * keys: the deploy key held by an ssh-agent of the stack's own, and a known_hosts file with only the
 * pinned host keys.
 *
 * The provider does not only run while the program does: `pulumi refresh`, `destroy` and the refresh of
 * `up --refresh` start it from the options recorded in the state, and the deletes of an `up` run after
 * the program has exited. So what the options name must outlive the program, and a private key must
 * not be left behind in a file: the key lives only in the agent's memory, loaded with a lifetime
 * (`ssh-add -t`), and the agent answers on a socket in a directory only this user can enter. What stays
 * on disk is public: the key's public half (it tells ssh which of the agent's keys to offer) and the
 * host keys. Each run of the program loads the key again, so the agent holds it for an hour after the
 * last run. (PULUMI_RUN_PROGRAM=true makes `refresh` and `destroy` run the program first; see
 * docs/operations.md, "Pull requests and deploys".)
 *
 * The directory's name is stable (the Docker provider's config holds the paths, and a path that changed
 * on every run would show as a provider change), so it lives in a directory only this user can enter:
 * $XDG_RUNTIME_DIR, else ~/.cache; never the shared temporary directory, where another user could
 * place a link first.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";

/** How long the agent keeps the key after the program last loaded it. */
export const agentKeyLifetimeSeconds = 3600;

export interface SshAgentMaterial {
    dir: string;
    /** The agent's socket (ssh's IdentityAgent). */
    agentSocket: string;
    /** The key's public half: with IdentitiesOnly, the one agent key ssh offers. */
    publicKey: string;
    knownHosts: string;
}

/**
 * Makes sure an agent answers on `agentSocket` (starting one when none does), loads `privateKey` into it
 * with the lifetime (on ssh-add's standard input only), and returns the public key lines it holds.
 */
export function loadIntoAgent(agentSocket: string, privateKey: string): string {
    const env = { ...process.env, SSH_AUTH_SOCK: agentSocket };
    // ssh-add -l: 0 keys listed, 1 no keys; 2 (or any other) means no agent answers there.
    const probe = spawnSync("ssh-add", ["-l"], { env, stdio: "ignore" });
    if (probe.status !== 0 && probe.status !== 1) {
        rmSync(agentSocket, { force: true });
        execFileSync("ssh-agent", ["-a", agentSocket], { env, stdio: "ignore" });
    }
    // Replaces any earlier copy of the key and restarts its lifetime.
    const key = privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`;
    execFileSync("ssh-add", ["-q", "-t", String(agentKeyLifetimeSeconds), "-"], { env, input: key, stdio: ["pipe", "ignore", "pipe"] });
    // The agent is the stack's own and holds this one key: its public half is what the agent lists.
    return execFileSync("ssh-add", ["-L"], { env, encoding: "utf8" });
}

let agentLoader: (agentSocket: string, privateKey: string) => string = loadIntoAgent;

/** Replaces the agent loader: the unit tests run the program under mocks, with throwaway keys and no agent. */
export function setAgentLoader(loader: (agentSocket: string, privateKey: string) => string): void {
    agentLoader = loader;
}

/**
 * The Docker provider's SSH material for `name`: the key loaded into the stack's agent for it, the
 * public files ssh needs beside the agent's socket.
 */
export function sshAgentMaterial(name: string, privateKey: string, pins: { address: string; port: number; hostKey: string }[]): SshAgentMaterial {
    const dir = privateDir(name);
    const agentSocket = path.join(dir, "agent.sock");
    const publicKey = path.join(dir, "id.pub");
    const knownHosts = path.join(dir, "known_hosts");
    // Earlier versions kept the private key here as a file while the program ran.
    rmSync(path.join(dir, "id"), { force: true });
    // 0600: ssh judges a named identity file as it would a private key, and warns on a wider mode.
    writeFileSync(publicKey, agentLoader(agentSocket, privateKey), { mode: 0o600 });
    chmodSync(publicKey, 0o600);
    writeFileSync(knownHosts, pins.map((pin) => knownHostsLine(pin.address, pin.port, pin.hostKey)).join("\n") + "\n", { mode: 0o644 });
    return { dir, agentSocket, publicKey, knownHosts };
}

/** One known_hosts line pinning `hostKey` for `address` (with the `[addr]:port` form ssh uses off port 22). */
export function knownHostsLine(address: string, port: number, hostKey: string): string {
    return `${port === 22 ? address : `[${address}]:${port}`} ${hostKey}`;
}

/** A directory for `name` inside a parent only this user can enter; refuses a link or a foreign owner. */
export function privateDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
    const parent = env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, "limen-infra") : path.join(homedir(), ".cache", "limen-infra");
    for (const dir of [parent, path.join(parent, name)]) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const stat = lstatSync(dir);
        if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) {
            throw new Error(`${dir} must be a directory of this user's with mode 0700; remove it and run again`);
        }
    }
    return path.join(parent, name);
}
