/**
 * SSH key material for tools that read it only from files (the Docker CLI's ssh:// transport): a
 * private directory (0700) with the key and a known_hosts file holding only the pinned keys (0600),
 * removed when the process exits however it exits.
 *
 * The directory's name is stable (the Docker provider's config holds the paths, and a path that changed
 * on every run would show as a provider change), so it lives in a directory only this user can enter:
 * $XDG_RUNTIME_DIR, else ~/.cache; never the shared temporary directory, where another user could
 * place a link first.
 */
import { lstatSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";

export interface SshMaterial {
    dir: string;
    identity: string;
    knownHosts: string;
    /** Removes the directory now (also done at exit). */
    dispose(): void;
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

/** The directories written by this process, removed by one exit listener however many are written. */
const written = new Set<string>();
function removeWritten(): void {
    for (const dir of written) rmSync(dir, { recursive: true, force: true });
    written.clear();
}

export function writeSshMaterial(name: string, privateKey: string, pins: { address: string; port: number; hostKey: string }[]): SshMaterial {
    const dir = privateDir(name);
    const identity = path.join(dir, "id");
    const knownHosts = path.join(dir, "known_hosts");
    if (written.size === 0) process.once("exit", removeWritten);
    written.add(dir);
    const dispose = () => {
        rmSync(dir, { recursive: true, force: true });
        written.delete(dir);
        if (written.size === 0) process.off("exit", removeWritten);
    };
    // ssh refuses a key file without its final newline on some versions.
    writeFileSync(identity, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
    writeFileSync(knownHosts, pins.map((pin) => knownHostsLine(pin.address, pin.port, pin.hostKey)).join("\n") + "\n", { mode: 0o600 });
    return { dir, identity, knownHosts, dispose };
}
