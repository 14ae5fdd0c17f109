/**
 * `npm run verify` watches the disks: the free space of each host's root filesystem and, on the
 * frontend, of the one holding pm2's logs, with the size of those logs. A filesystem with less than
 * limen:verify.minFreeDiskPercent free fails the check, naming the path. Read as the deploy user (df
 * of /) and as the app user (its own pm2 home): nothing here reads as root.
 */
import { LimenConfig } from "../config";
import { shellWord } from "../core/shell";
import type { HostRole } from "../plan/hosts";
import { appsHome } from "../plan/pm2";
import { RemoteResult } from "./remote";
import { CheckResult, commandFailure, lastLine, oneLine } from "./result";

const marker = "--- limen-verify: logs ---";

/** The paths whose filesystems are judged on a host, and the directory of logs measured there. */
export function diskPaths(config: LimenConfig, role: HostRole): { paths: string[]; logs?: string } {
    if (role === "backend") return { paths: ["/"] };
    const pm2Home = `${appsHome(config)}/.pm2`;
    return { paths: ["/", pm2Home], logs: `${pm2Home}/logs` };
}

/**
 * `df` of each path (POSIX format, bytes), then the bytes under the logs directory. On the frontend as
 * the app user, whose home may be closed to the deploy user; the logs' size is du's, which counts what
 * the files take on disk (a sparse file of terabytes counts as what it holds).
 */
export function diskCommand(config: LimenConfig, role: HostRole): string {
    const { paths, logs } = diskPaths(config, role);
    const df = `df -P -B1 ${paths.map(shellWord).join(" ")}`;
    if (!logs) return df;
    const script = `${df}; echo ${shellWord(marker)}; du -sB1 ${shellWord(logs)} 2>/dev/null || echo none`;
    return `sudo -n -u ${shellWord(config.apps.user)} -H sh -c ${shellWord(script)}`;
}

interface Filesystem {
    mount: string;
    size: number;
    available: number;
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

export function judgeDisk(config: LimenConfig, role: HostRole, result: RemoteResult): CheckResult {
    const check = `${role} disk`;
    const failure = commandFailure(result, `df on the ${role}`);
    if (failure) return { check, ok: false, detail: failure };
    const [dfText = "", logsText] = result.stdout.split(`${marker}\n`);
    const { paths, logs } = diskPaths(config, role);
    // df prints one line per path given, in order, after its header.
    const lines = dfText
        .trim()
        .split("\n")
        .slice(1)
        .map((line) => line.trim().split(/\s+/));
    if (result.status !== 0 || lines.length !== paths.length) {
        return { check, ok: false, detail: `df ${paths.join(" ")} on the ${role} exited ${result.status}: ${oneLine(lastLine(result.stderr) || dfText)}` };
    }
    const byPath = new Map<string, Filesystem>(
        paths.map((path, index) => {
            const fields = lines[index]!;
            return [path, { mount: fields.at(-1) ?? "?", size: Number(fields[1]), available: Number(fields[3]) }];
        }),
    );
    const minimum = config.verify.minFreeDiskPercent;
    const seen = new Set<string>();
    const problems: string[] = [];
    const parts: string[] = [];
    for (const [path, fs] of byPath) {
        if (seen.has(fs.mount)) continue;
        seen.add(fs.mount);
        const freePercent = fs.size > 0 ? (100 * fs.available) / fs.size : 0;
        const where = path === fs.mount ? path : `${path} (on ${fs.mount})`;
        parts.push(`${where} ${freePercent.toFixed(0)}% free (${gib(fs.available)} of ${gib(fs.size)})`);
        if (freePercent < minimum)
            problems.push(`${where} has ${freePercent.toFixed(1)}% free (${gib(fs.available)} of ${gib(fs.size)}), below limen:verify.minFreeDiskPercent ${minimum}%`);
    }
    if (logs) {
        const bytes = Number(/^(\d+)\s/.exec((logsText ?? "").trim())?.[1]);
        parts.push(Number.isFinite(bytes) ? `pm2's logs (${logs}) ${mib(bytes)}` : `pm2's logs (${logs}) not there`);
        if (problems.length > 0 && Number.isFinite(bytes)) problems.push(`pm2's logs (${logs}) take ${mib(bytes)}`);
    }
    if (problems.length > 0) return { check, ok: false, detail: `${problems.join("; ")}: free space there (\`sudo du -xh --max-depth=2 / | sort -h | tail\` finds what fills it)` };
    return { check, ok: true, detail: parts.join("; ") };
}
