/**
 * What is on the frontend of the pm2 apps the stack runs: their processes, where they listen, pm2's
 * boot unit and saved list, and whether they run with the files as they are now. Every look asks the
 * apps' user's own pm2 daemon, and only when it runs. Facts as observe.ts describes them.
 */
import { parseFileReadings, readFiles, rootOnlyDir } from "./file-readings";
import type { ToolScript } from "./host-tool-run";
import { hostToolPath } from "../core/host-paths";
import { probeMarker, probeSections } from "./observe";
import { pm2CallSeconds } from "./deadlines";
import { shellWord } from "../core/shell";

export interface Pm2Facts {
    user: string;
    /** Per app: `2 online`, `1 online, 1 stopped`, `missing`, or `no pm2 daemon`. */
    processes: Record<string, string>;
    /** Per app: where its port is listened on (`127.0.0.1:9444`), or `nothing`. */
    listening: Record<string, string>;
    /** `systemctl is-enabled` of pm2's boot unit for the user. */
    bootService: string;
    /** `current` when every app runs with the files as they are now; else which apps run stale files. */
    loadedFiles: string;
    /**
     * What pm2's saved list (`~/.pm2/dump.pm2`, which `pm2 resurrect` starts at boot) holds of each app:
     * `limen-frontend ×2, darc-kr ×2`, or why there is none (`nothing saved: … missing`).
     */
    savedList: string;
    /** The timer that rotates pm2's logs: `enabled, active`, or what `systemctl is-enabled` and `is-active` say. */
    logRotation: string;
}

export interface Pm2AppShape {
    name: string;
    host: string;
    port: number;
    instances: number;
}

export function desiredPm2Facts(user: string, apps: Pm2AppShape[]): Pm2Facts {
    return {
        user,
        processes: Object.fromEntries(apps.map((app) => [app.name, `${app.instances} online`])),
        listening: Object.fromEntries(apps.map((app) => [app.name, `${app.host.includes(":") ? `[${app.host}]` : app.host}:${app.port}`])),
        bootService: "enabled",
        loadedFiles: "current",
        savedList: savedListFact(apps, Object.fromEntries(apps.map((app) => [app.name, app.instances]))),
        logRotation: "enabled, active",
    };
}

/** The saved list's fact: each planned app with the number of its processes the list holds, in plan order. */
function savedListFact(apps: Pm2AppShape[], saved: Record<string, number>): string {
    return apps.map((app) => `${app.name} ×${saved[app.name] ?? 0}`).join(", ");
}

/**
 * The guard every pm2 look starts with, run as the apps' user: only when that user's daemon runs, for
 * any pm2 command or API connection starts a daemon when there is none, which would change the host
 * and hide that the apps were not running. Exits 3 without one.
 */
function pm2DaemonGuard(): string {
    return ['pid=$(cat "$HOME/.pm2/pm2.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null', `|| { echo "limen-probe: no pm2 daemon runs for $(id -un)" >&2; exit 3; };`].join(" ");
}

/** A pm2 CLI command as the apps' user, only when that user's daemon runs (see pm2DaemonGuard). */
export function pm2Command(user: string, ...args: string[]): string {
    const script = [pm2DaemonGuard(), `PM2_HOME="$HOME/.pm2" exec pm2 ${args.map(shellWord).join(" ")}`].join(" ");
    return `sudo -n -u ${shellWord(user)} -H sh -c ${shellWord(script)}`;
}

/**
 * The largest saved list (`~/.pm2/dump.pm2`) the probe reads. It holds each process's whole
 * environment, a few kilobytes per process; anything larger is reported, not read.
 */
export const savedListMaxBytes = 8 * 1024 * 1024;

/**
 * pm2's process list through pm2's programmatic API (`require("pm2")`: connect, list), in one Node
 * process, printed as `name status startedMs` lines: names, statuses and start times only, since the
 * full list carries every app's environment. Found from the `pm2` on PATH (`<package>/bin/pm2`), so
 * it is the installed pm2 whatever its version.
 *
 * Why not `pm2 jlist | node -e …`: that starts two Node processes, and pm2's CLI lingers about 0.15 s
 * after printing while it closes its sockets. This is the longest read of a refresh (0.39 s as two
 * processes, 0.26 s as one, measured on the lab's frontend), so it sets the refresh's wall time.
 */
export function pm2ListCommand(user: string): string {
    const list = [
        'const pm2=require(process.argv[1]),fs=require("fs");',
        `const MAX=${savedListMaxBytes};`,
        "const fail=(e)=>{console.error(`limen-probe: pm2: ${e.message}`);process.exit(4)};",
        // The saved list, opened as its user but never through a link or into a FIFO (the app user could put either there).
        "const saved=()=>{let fd;try{fd=fs.openSync(`${process.env.PM2_HOME}/dump.pm2`,fs.constants.O_RDONLY|fs.constants.O_NOFOLLOW|fs.constants.O_NONBLOCK)}",
        'catch(e){return e.code==="ENOENT"?"missing":"unreadable"}',
        // Its size is judged on the descriptor before it is read: the app user can make it a sparse file of terabytes.
        'try{const st=fs.fstatSync(fd);if(!st.isFile())return "not-a-file";if(st.size>MAX)return `too-large ${st.size}`;',
        'const c={};for(const p of JSON.parse(fs.readFileSync(fd,"utf8")))c[p.name]=(c[p.name]||0)+1;return JSON.stringify(c)}',
        'catch{return "unreadable"}finally{fs.closeSync(fd)}};',
        // A daemon that is stopped (kill -STOP) or wedged accepts the connection and never answers.
        `let step="connect";setTimeout(()=>{console.error(\`limen-probe: pm2 did not answer \${step} within ${pm2CallSeconds} s\`);process.exit(6)},${pm2CallSeconds * 1000}).unref();`,
        'pm2.connect((e)=>{if(e)return fail(e);step="list";pm2.list((e,list)=>{if(e)return fail(e);',
        'process.stdout.write(list.map((p)=>`${p.name} ${p.pm2_env.status} ${p.pm2_env.pm_uptime}\\n`).join("")+`saved ${saved()}\\n`,()=>process.exit(0))})})',
    ].join("");
    const script = [
        pm2DaemonGuard(),
        'pm2_bin=$(readlink -f "$(command -v pm2)") || { echo "limen-probe: pm2 is not installed" >&2; exit 5; };',
        `PM2_HOME="$HOME/.pm2" exec node -e ${shellWord(list)} "\${pm2_bin%/bin/pm2}"`,
    ].join(" ");
    return `sudo -n -u ${shellWord(user)} -H sh -c ${shellWord(script)}`;
}

/**
 * The process list (pm2ListCommand), the sockets, the boot unit, and when the files the apps load
 * last changed.
 */
export function pm2ProbeCommand(user: string, loadedPaths: string[], markerDir: string, logRotationTimer: string | undefined): ToolScript {
    const script = [
        // The rotation timer first: the sections below end with the files' readings.
        ...(logRotationTimer
            ? [
                  `echo '${probeMarker("rotation")}'`,
                  `{ systemctl is-enabled ${shellWord(logRotationTimer)} 2>/dev/null || true; systemctl is-active ${shellWord(logRotationTimer)} 2>/dev/null || true; }`,
              ]
            : []),
        `echo '${probeMarker("processes")}'`,
        // Exit 3 is the guard's "no daemon" (a fact); any other failure makes the read fail, with pm2's words on stderr.
        `{ list=$(${pm2ListCommand(user)}); rc=$?; case $rc in 0) printf '%s\\n' "$list" ;; 3) echo no-daemon ;; *) echo "unreadable $rc" ;; esac; }`,
        `echo '${probeMarker("sockets")}'`,
        "ss -Hltn",
        `echo '${probeMarker("unit")}'`,
        `{ systemctl is-enabled ${shellWord(`pm2-${user}.service`)} 2>/dev/null || true; }`,
        // The record is read only from a directory nobody but root can change (it is printed back).
        `echo '${probeMarker("loaded")}'`,
        `{ ${rootOnlyDir(markerDir)} 2>/dev/null && cat ${shellWord(`${markerDir}/loaded-${user}.sha256`)} 2>/dev/null || true; }`,
        // .env.production sits in the app user's directory: read as limen-file reads it.
        `echo '${probeMarker("files")}'`,
        readFiles(...loadedPaths),
    ].join("; ");
    return { toolPath: hostToolPath, script };
}

/** Listening sockets from `ss -Hltn`, as port → local addresses (`*` for every address). */
export function listeners(ssOutput: string): Map<number, string[]> {
    const byPort = new Map<number, string[]>();
    for (const line of ssOutput.split("\n")) {
        const local = line.trim().split(/\s+/)[3];
        if (!local) continue;
        const colon = local.lastIndexOf(":");
        const port = Number(local.slice(colon + 1));
        const address = local.slice(0, colon).replace(/%\S+$/, "");
        if (!Number.isInteger(port) || colon < 0) continue;
        const list = byPort.get(port) ?? [];
        if (!list.includes(address)) list.push(address);
        byPort.set(port, list);
    }
    return byPort;
}

export function parsePm2Probe(user: string, apps: Pm2AppShape[], stdout: string): Pm2Facts {
    const parts = probeSections(stdout);
    const processText = parts.get("processes");
    if (processText === undefined || !parts.has("unit")) throw new Error("cannot read pm2's state: the probe's output is incomplete");
    const unreadable = /^unreadable (\d+)$/.exec(processText.trim());
    if (unreadable?.[1] === "6")
        throw new Error(`cannot read pm2's state: the pm2 daemon of ${user} did not answer within ${pm2CallSeconds} s (stopped or wedged: \`sudo -u ${user} pm2 ping\`)`);
    if (unreadable) throw new Error(`cannot read pm2's state: listing the pm2 processes of ${user} failed (exit ${unreadable[1]})`);
    const noDaemon = processText.trim() === "no-daemon";
    const lines = processText.split("\n").map((line) => line.trim());
    const statuses = lines.map((line) => line.split(" ")).filter((fields) => fields.length === 3);
    const savedLine = lines.find((line) => line.startsWith("saved "))?.slice("saved ".length);
    const files = parseFileReadings(parts.get("files") ?? "").filter((reading) => reading.kind === "file" && reading.sha256);
    const newestChange = Math.max(0, ...files.map((reading) => reading.mtimeSeconds)) * 1000;
    // With the record of what the apps loaded (written by every reload), the files' content decides;
    // without one (apps started by an earlier version of the stack), their start time against the
    // files' last change does.
    // A loaded file that is missing now is the file's drift, not the apps': only files present count.
    const hashLines = (text: string) =>
        text
            .split("\n")
            .map((line) => line.trim())
            .filter(Boolean);
    // As the host tool records them (`sha256sum`'s format); a link or a FIFO at a path is not a loaded file.
    const current = files.map((reading) => `${reading.sha256}  ${reading.path}`);
    const presentPaths = new Set(current.map((line) => line.split(/\s+/).slice(1).join(" ")));
    const loadedRecord = hashLines(parts.get("loaded") ?? "");
    const filesLoaded =
        loadedRecord.length === 0 ? undefined : loadedRecord.filter((line) => presentPaths.has(line.split(/\s+/).slice(1).join(" "))).join("\n") === current.join("\n");
    const stale: string[] = [];
    const byPort = listeners(parts.get("sockets") ?? "");
    const processes: Record<string, string> = {};
    const listening: Record<string, string> = {};
    for (const app of apps) {
        if (noDaemon) processes[app.name] = "no pm2 daemon";
        else {
            const counts = new Map<string, number>();
            for (const [name, status, started] of statuses) {
                if (name !== app.name) continue;
                counts.set(status!, (counts.get(status!) ?? 0) + 1);
                const startedBeforeChange = filesLoaded === undefined ? Number(started) < newestChange : !filesLoaded;
                if (status === "online" && startedBeforeChange && !stale.includes(app.name)) stale.push(app.name);
            }
            processes[app.name] =
                counts.size === 0
                    ? "missing"
                    : [...counts.entries()]
                          .sort(([a], [b]) => (a === "online" ? -1 : b === "online" ? 1 : a.localeCompare(b)))
                          .map(([status, count]) => `${count} ${status}`)
                          .join(", ");
        }
        const addresses = (byPort.get(app.port) ?? []).sort();
        listening[app.name] = addresses.length === 0 ? "nothing" : addresses.map((address) => `${address}:${app.port}`).join(", ");
    }
    return {
        user,
        processes,
        listening,
        bootService: (parts.get("unit") ?? "").trim() || "not installed",
        loadedFiles: stale.length === 0 ? "current" : `${stale.join(", ")} run with files that changed since they were loaded`,
        savedList: savedListObserved(apps, noDaemon, savedLine),
        logRotation: parts.has("rotation")
            ? (parts.get("rotation") ?? "")
                  .split("\n")
                  .map((line) => line.trim())
                  .filter(Boolean)
                  .join(", ") || "not installed"
            : "not read",
    };
}

function savedListObserved(apps: Pm2AppShape[], noDaemon: boolean, line: string | undefined): string {
    if (noDaemon) return "not read: no pm2 daemon";
    switch (line) {
        case undefined:
            return "not read";
        case "missing":
            return "nothing saved: ~/.pm2/dump.pm2 is missing";
        case "not-a-file":
            return "nothing saved: ~/.pm2/dump.pm2 is not a regular file";
        case "unreadable":
            return "nothing saved: ~/.pm2/dump.pm2 is unreadable";
        default:
            if (line.startsWith("too-large ")) return `not read: ~/.pm2/dump.pm2 is ${line.slice("too-large ".length)} bytes, above the limit of ${savedListMaxBytes} bytes`;
            try {
                return savedListFact(apps, JSON.parse(line) as Record<string, number>);
            } catch {
                return "not read";
            }
    }
}
