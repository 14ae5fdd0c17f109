/**
 * Every name and path the stack owns on a host, written once. The renderers, the plan, the host tool
 * (which receives them as arguments), `verify` and the policy pack all read them from here.
 */

/** The stack's own nftables table; other tables (Docker's, ufw's) are never touched. */
export const firewallTable = { family: "inet", name: "limen_firewall" } as const;
export const firewallTableName = `${firewallTable.family} ${firewallTable.name}`;

/** The host tool (tools/limen-host, a static Go binary): the few privileged steps, run as root. */
export const hostToolPath = "/usr/local/libexec/limen/limen-host";

export const firewallPaths = {
    /** The confirmed ruleset, loaded at boot. */
    bootRuleset: "/etc/limen/firewall/limen.nft",
    /** A ruleset applied but not yet confirmed over a new SSH connection. */
    pendingRuleset: "/etc/limen/firewall/limen.nft.pending",
    /** The saved previous table and the revert log. */
    stateDir: "/var/lib/limen/firewall",
    /** sha256 of the pending ruleset while a revert is armed. */
    pendingMarker: "/run/limen/firewall-pending.sha256",
    /** The unit that loads the boot ruleset, and the transient unit that reverts an unconfirmed change. */
    bootUnitName: "limen-firewall.service",
    bootUnitPath: "/etc/systemd/system/limen-firewall.service",
    revertUnitName: "limen-firewall-revert",
} as const;

/**
 * The rotation of pm2's logs (limen:apps.logs): logrotate's config, and the service and timer that run
 * it as the app user (render/logrotate.ts).
 */
export const logRotationPaths = {
    config: "/etc/limen/logrotate/pm2.conf",
    servicePath: "/etc/systemd/system/limen-pm2-logrotate.service",
    timerName: "limen-pm2-logrotate.timer",
    timerPath: "/etc/systemd/system/limen-pm2-logrotate.timer",
} as const;

/** Where pm2 startup markers go: the stack removes only the boot units it created itself. */
export const pm2MarkerDir = "/var/lib/limen/pm2";

/**
 * Envoy's release directory, root-only: each container's admin socket directory (admin/<container>) and
 * the config copies the release's candidate and standby run on while they exist (plan/envoy.ts).
 */
export const envoyStateDir = "/var/lib/limen/envoy";

/** Where TLS material from config goes on the frontend (mounted read-only into Envoy's container). */
export const envoyTlsDir = "/etc/limen/envoy/tls";

/** The name of the env file the Next.js app reads in its working directory. */
export const envFileName = ".env.production";

/** Certificates issued and renewed by certbot (limen:tls.source "acme"). */
export const acmePaths = {
    /** certbot's own directory: live/NAME (the lineages), renewal/NAME.conf, accounts/. */
    certbotDir: "/etc/letsencrypt",
    /** The checked pairs Envoy serves: DIR/NAME/current -> DIR/NAME/VERSION/{fullchain,privkey}.pem. */
    publishDir: "/etc/limen/tls",
    /** Envoy's SDS files, one per certificate (mounted read-only into its container). */
    sdsDir: "/etc/limen/envoy/sds",
    /** certbot runs every executable here after each successful renewal: it publishes the new pair. */
    renewalHook: "/etc/letsencrypt/renewal-hooks/deploy/limen-publish",
    /** certbot's HTTP-01 responder listens here during an issuance or renewal, never on a public address. */
    responderAddress: "127.0.0.1",
} as const;

/** Envoy's SDS file for the certificate `name`. */
export const sdsFile = (name: string) => `${acmePaths.sdsDir}/${name}.yaml`;
