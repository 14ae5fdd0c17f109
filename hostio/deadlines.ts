/**
 * How long every remote step may take, in one place. The app user owns the apps and their pm2 daemon,
 * and can stall either (a daemon stopped with `kill -STOP` accepts connections and never answers; an
 * app can answer one byte a second): without a deadline a deploy waits on it forever, holding the
 * stack's lock, and whatever root started keeps running on the host.
 *
 * Two tiers:
 * - Each SSH step (one command the provider or verify runs) runs on the host under root's `timeout`
 *   (`underDeadline` below, run by hostio/ssh.ts), which stops the whole step at its deadline, root's processes
 *   included, and says so; the client gives up a little later still, should the connection itself hang.
 * - Inside the host tool, each wait on something the app user can stall has a shorter deadline of its
 *   own (`toolDeadlines`, passed to every call as `--deadlines`), so that a failure names what it
 *   waited for: `pm2 did not answer list within 15 s`, not only "the step took too long".
 */
import { shellWord } from "../core/shell";

/** Seconds between the deadline's SIGTERM and the SIGKILL for whatever ignores it. */
export const killAfterSeconds = 5;

/** One call into the app user's pm2 daemon (connect, list, save, delete): well under a second when it is well. */
export const pm2CallSeconds = 15;

/** One request of a health gate, from connect to the last byte of the answer (not an idle timeout). */
export const gateRequestSeconds = 5;

/** One run of certbot: an ACME order with HTTP-01 takes seconds; a CA that stalls is given up on. */
export const certbotSeconds = 240;

/** `envoy --mode validate` in the pinned image (a `docker run`): a second or two. */
export const envoyValidateSeconds = 120;

/** The host tool's own deadlines, as every request carries them (`deadlines`: tools/limen-host/limits). */
export const toolDeadlines = { "pm2-call": pm2CallSeconds, "gate-request": gateRequestSeconds, certbot: certbotSeconds, "envoy-validate": envoyValidateSeconds } as const;

/**
 * The deadline of each kind of SSH step, in seconds. Each is several times what the step takes in the
 * lab (a read: under a second; an install with Envoy's validation in its image: a few seconds).
 */
export const stepSeconds = {
    /** A read-only probe (refresh, verify). */
    read: 60,
    /** Installing the host tool, a file (checked first: nft -c, Envoy's image), or removing one. */
    install: 180,
    /** Applying, confirming or removing the firewall table. */
    firewall: 120,
    /** pm2's boot unit, a save of its list, removing the apps. */
    pm2: 120,
    /** Claiming the name of Envoy's container (Docker answers). */
    container: 60,
} as const;

/**
 * A step that runs a health gate: `gates` runs of it, each within the gate's time, plus room for the
 * reloads and installs around them. The front door's check is the gate, a rollback and the gate again
 * (2); the apps' apply adds the candidate's gate before those (3).
 */
export function gatedStepSeconds(gateSeconds: number, gates: 2 | 3 = 2): number {
    return gates * (gateSeconds + gateRequestSeconds) + (gates + 1) * pm2CallSeconds + stepSeconds.install;
}

/**
 * The front door's release (envoy-release): the validation, the candidate's start and gate, the
 * standby's start and the serving container's drain. envoy-settle: the new container's start and gate,
 * the standby's drain and stop (10 s).
 */
export function envoyReleaseStepSeconds(gateSeconds: number, drainSeconds: number): number {
    return envoyValidateSeconds + 3 * (gateSeconds + gateRequestSeconds) + drainSeconds + stepSeconds.install;
}

export function envoySettleStepSeconds(gateSeconds: number, drainSeconds: number): number {
    return 2 * (gateSeconds + gateRequestSeconds) + drainSeconds + 10 + stepSeconds.install;
}

/** Obtaining a certificate: certbot twice at most (a busy certbot is waited for once), and publishing. */
export const certificateStepSeconds = 2 * certbotSeconds + 60;

/** How long pm2-apply waits for the apps to come online when no health gate is set (the host tool's pm2-apply). */
export const appsOnlineSeconds = 60;

/**
 * The root shell that keeps a step's deadline: `timeout` runs the step as the SSH user again (so the
 * command has the same rights as without a deadline: setpriv, as the user with its groups) and, at the deadline, sends SIGTERM to its
 * process group, which holds every process the step started through sudo, root's included; SIGKILL
 * follows `killAfterSeconds` later for a step that ignores it. `timeout` returns as soon as its own
 * child is gone, so whatever in the group ignored SIGTERM and outlived it is killed here (the group is
 * `timeout`'s: it makes itself the leader). Run as root, since a `timeout` run as the SSH user could
 * not stop the root processes its sudo started. stdin goes to the step (fd 3: an asynchronous
 * command's own stdin would be /dev/null).
 */
const deadlineShell = [
    "exec 3<&0",
    // setpriv (util-linux) drops to the user with its groups and a clean environment, without sudo's PAM session.
    `/usr/bin/timeout --kill-after=${killAfterSeconds} "$1" /usr/bin/setpriv --reuid="$2" --regid="$(id -g "$2")" --init-groups --reset-env -- /bin/sh -c "$3" <&3 3<&- &`,
    "step=$!",
    "exec 3<&-",
    'wait "$step"',
    "status=$?",
    // dash's kill takes a negative pid (the group) after the signal, and no "--".
    'case $status in 124 | 137) kill -KILL "-$step" 2>/dev/null ;; esac',
    'exit "$status"',
].join("\n");

/**
 * `command` as the host runs it under a deadline of `seconds` (see deadlineShell): a step the host
 * gives up on leaves nothing running, and exits with `timeout`'s status (124, or 137 after SIGKILL).
 */
export function underDeadline(command: string, user: string, seconds: number): string {
    return ["sudo", "-n", "/bin/sh", "-c", deadlineShell, "limen-deadline", String(seconds), user, command].map(shellWord).join(" ");
}
