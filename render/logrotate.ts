/**
 * The rotation of pm2's logs on the frontend (limen:apps.logs): Debian's logrotate, run as the app
 * user by a systemd timer every 15 minutes (docs/operations.md, "Logs").
 *
 * Why logrotate as the app user, and not pm2's rotation module (pm2-logrotate) or logrotate as root:
 * - The logs are in the app user's home, which root never writes or reads through
 *   (docs/security.md). As that user, logrotate has exactly the rights pm2 has on them, and nothing the app
 *   user can put there (a link, a FIFO) reaches further than the app user already does.
 * - pm2-logrotate runs inside the app user's pm2, fetched from the npm registry on the host at install
 *   time; it stops when the daemon is stopped or wedged, which is when the logs matter most. logrotate
 *   is a Debian package, started by systemd whatever pm2 does.
 * - `copytruncate`: pm2's daemon keeps each log open (in append mode), so the file is copied and then
 *   truncated in place; no signal to pm2, which the app user can stop. Lines written between the copy
 *   and the truncation are lost: at most what the apps write in the time a copy of `maxsize` takes.
 *   Nothing writes to the copy, so it is compressed at once.
 */
export interface LogRotationSpec {
    user: string;
    /** The app user's home: pm2 keeps its logs in `<home>/.pm2`. */
    home: string;
    maxSizeMb: number;
    keep: number;
    maxAgeDays: number;
    /** Where the rendered config is installed (the service runs it). */
    configPath: string;
}

export const logRotationEveryMinutes = 15;

/** logrotate's config: every log of the user's pm2, by size (checked every run) and daily, `keep` of each kept. */
export function renderLogRotationConfig(spec: LogRotationSpec): string {
    const pm2Home = `${spec.home}/.pm2`;
    return [
        `# pm2's logs of ${spec.user}, rotated as ${spec.user} (limen:apps.logs). Rendered by limen-infra; replaced by \`pulumi up\`.`,
        `${pm2Home}/logs/*.log ${pm2Home}/pm2.log {`,
        "    daily",
        `    maxsize ${spec.maxSizeMb}M`,
        `    rotate ${spec.keep}`,
        `    maxage ${spec.maxAgeDays}`,
        "    copytruncate",
        // Compressed at once: with copytruncate nothing writes to the copy (delaycompress is for a log
        // its writer still holds after a rename).
        "    compress",
        "    missingok",
        "    notifempty",
        "    nomail",
        "}",
        "",
    ].join("\n");
}

/** The oneshot service the timer starts: logrotate as the app user, its state in the user's pm2 home. */
export function renderLogRotationService(spec: LogRotationSpec): string {
    return [
        "[Unit]",
        `Description=limen-infra: rotate pm2's logs of ${spec.user} (limen:apps.logs)`,
        "",
        "[Service]",
        "Type=oneshot",
        `User=${spec.user}`,
        `Group=${spec.user}`,
        `ExecStart=/usr/sbin/logrotate --state ${spec.home}/.pm2/logrotate.state ${spec.configPath}`,
        // A deadline: a copy of a few hundred megabytes takes seconds; a run that hangs is stopped.
        "TimeoutStartSec=600",
        "NoNewPrivileges=yes",
        "Nice=10",
        "IOSchedulingClass=idle",
        "",
    ].join("\n");
}

export function renderLogRotationTimer(spec: LogRotationSpec): string {
    return [
        "[Unit]",
        `Description=limen-infra: rotate pm2's logs of ${spec.user} every ${logRotationEveryMinutes} minutes`,
        "",
        "[Timer]",
        `OnCalendar=*:0/${logRotationEveryMinutes}`,
        "AccuracySec=1min",
        "Persistent=true",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ].join("\n");
}
