/**
 * How long every remote step may take, in one place. The app user owns the apps and their pm2 daemon,
 * and can stall either (a daemon stopped with `kill -STOP` accepts connections and never answers; an
 * app can answer one byte a second): without a deadline a deploy waits on it forever, holding the
 * stack's lock, and whatever root started keeps running on the host.
 *
 * Two tiers:
 * - Each SSH step (one command the provider or verify runs) runs on the host under root's `timeout`
 *   (hostio/ssh.ts, `underDeadline`), which stops the whole step at its deadline, root's processes
 *   included, and says so; the client gives up a little later still, should the connection itself hang.
 * - Inside the host tool, each wait on something the app user can stall has a shorter deadline of its
 *   own (`toolDeadlines`, passed to every call as `--deadlines`), so that a failure names what it
 *   waited for: `pm2 did not answer list within 15 s`, not only "the step took too long".
 */

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

/** The host tool's own deadlines, as its `--deadlines` option carries them (files/limen-host.sh, `deadline`). */
export const toolDeadlines = { "pm2-call": pm2CallSeconds, "gate-request": gateRequestSeconds, certbot: certbotSeconds, "envoy-validate": envoyValidateSeconds } as const;

/** `pm2-call=15,gate-request=5,certbot=240,envoy-validate=120`. */
export function toolDeadlinesArg(): string {
    return Object.entries(toolDeadlines)
        .map(([name, seconds]) => `${name}=${seconds}`)
        .join(",");
}

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
 * A step that runs a health gate (the apps' reload, the front door's check): the gate, a rollback,
 * and the gate again, each within the gate's time, plus room for the reloads and installs around them.
 */
export function gatedStepSeconds(gateSeconds: number): number {
    return 2 * (gateSeconds + gateRequestSeconds) + 3 * pm2CallSeconds + stepSeconds.install;
}

/** Obtaining a certificate: certbot twice at most (a busy certbot is waited for once), and publishing. */
export const certificateStepSeconds = 2 * certbotSeconds + 60;

/** How long pm2-apply waits for the apps to come online when no health gate is set (files/limen-host.sh). */
export const appsOnlineSeconds = 60;
