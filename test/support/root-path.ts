import * as path from "node:path";

/**
 * Root's PATH as sudo gives it on a Debian host (secure_path), with the Node that runs the tests first.
 * The host tool refuses to run when a directory on its PATH is one another user can change (root runs
 * what it finds there), so the tests run it with this PATH rather than npm's, which names directories
 * such as /tmp/node_modules/.bin that anyone could create.
 */
export const rootPath = [path.dirname(process.execPath), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");
