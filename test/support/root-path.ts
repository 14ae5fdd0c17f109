import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** True when nobody but root can change `dir` or any directory above it (root's, not group- or world-writable). */
function onlyRootCanChange(dir: string): boolean {
    for (let at = path.resolve(dir); ; at = path.dirname(at)) {
        const st = lstatSync(at);
        if (st.uid !== 0 || (st.mode & 0o022) !== 0) return false;
        if (at === path.dirname(at)) return true;
    }
}

/**
 * The directory of a `node` root may run: the one running the tests when nobody but root can change where
 * it lives (the machine's, or tools/node/node22.sh's under /var/cache/limen-infra when the tests run as
 * root). A normal user's `sudo env PATH=… npm test` (the README's) runs a node from that user's own cache, which
 * the host tool rightly refuses to run as root: then a copy of it in the run's scratch directory (root's,
 * 0755; test/support/global-setup.ts), made once per run. The copy is renamed into place, so workers that
 * make it at the same time never see half a binary.
 */
function nodeDirForRoot(): string {
    const running = path.dirname(process.execPath);
    if (onlyRootCanChange(running)) return running;
    const dir = path.join(process.env.LIMEN_TEST_SCRATCH ?? tmpdir(), "node-for-root");
    const node = path.join(dir, "node");
    if (!existsSync(node)) {
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        chmodSync(dir, 0o755);
        const partial = `${node}.${process.pid}`;
        copyFileSync(process.execPath, partial);
        // libuv's copy keeps the source's owner when root copies: the copy must be root's own.
        chownSync(partial, 0, 0);
        chmodSync(partial, 0o755);
        renameSync(partial, node);
    }
    return dir;
}

/** A `node` root may run (see nodeDirForRoot). */
export const nodeForRoot = path.join(nodeDirForRoot(), "node");

/**
 * Root's PATH as sudo gives it on a Debian host (secure_path), with a Node 22 that root may run first.
 * The host tool refuses to run when a directory on its PATH is one another user can change (root runs
 * what it finds there), so the tests run it with this PATH rather than npm's, which names directories
 * such as /tmp/node_modules/.bin that anyone could create.
 */
export const rootPath = [path.dirname(nodeForRoot), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");
