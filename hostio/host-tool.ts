/**
 * The commands that change a host, as calls of its host tool (files/limen-host.sh) with every name and
 * path passed in from the plan. Pure string builders: the providers run them over SSH.
 */
import * as path from "node:path";
import type { AppsGatePlan } from "../plan/pm2";
import type { FirewallLocations } from "../plan/firewall";
import { toolDeadlinesArg } from "./deadlines";
import { limenFileCommand } from "./limen-file";
import { shellWord } from "../core/shell";

/**
 * `sudo -n TOOL --deadlines … SUBCOMMAND ARGS`: -n fails at once instead of hanging on a password
 * prompt; --deadlines gives the tool its waits' deadlines (hostio/deadlines.ts), kept in one place here.
 */
export function hostToolCommand(toolPath: string, subcommand: string, ...args: string[]): string {
    return ["sudo", "-n", toolPath, "--deadlines", toolDeadlinesArg(), subcommand, ...args].map(shellWord).join(" ");
}

/**
 * Installs the host tool itself (its content on stdin) with the tool's own file access (limen-file,
 * run from the program's copy of it): a new file renamed into place, so a cut connection leaves the
 * old tool, and only in a directory nobody but root can change, since root runs what is there. Then
 * asks the tool whether the host is ready (systemd, nft).
 */
export function installHostToolCommand(toolPath: string): string {
    return `sudo -n ${limenFileCommand("replace", toolPath, "0755", "root:root")} && sudo -n ${shellWord(toolPath)} check-ready`;
}

export function removeHostToolCommand(toolPath: string): string {
    return `sudo -n rm -rf ${shellWord(path.posix.dirname(toolPath))}`;
}

export interface FileInstall {
    path: string;
    mode: string;
    owner: string;
    check: string;
    checkArgs: string[];
}

export function installFileCommand(toolPath: string, file: FileInstall): string {
    return hostToolCommand(toolPath, "install-file", "--path", file.path, "--mode", file.mode, "--owner", file.owner, "--check", file.check, ...file.checkArgs);
}

export function removeFileCommand(toolPath: string, filePath: string): string {
    return hostToolCommand(toolPath, "remove-file", "--path", filePath);
}

function firewallArgs(at: FirewallLocations): string[] {
    return ["--table", at.table, "--boot-ruleset", at.bootRuleset, "--state-dir", at.stateDir, "--marker", at.marker, "--unit", at.unitName, "--revert-unit", at.revertUnit];
}

export function applyFirewallCommand(toolPath: string, at: FirewallLocations, confirmWithinSeconds: number): string {
    return hostToolCommand(toolPath, "apply-firewall", ...firewallArgs(at), "--confirm-within", String(confirmWithinSeconds));
}

export function confirmFirewallCommand(toolPath: string, at: FirewallLocations, rulesetSha256: string): string {
    return hostToolCommand(toolPath, "confirm-firewall", ...firewallArgs(at), "--sha256", rulesetSha256);
}

export function removeFirewallCommand(toolPath: string, at: FirewallLocations): string {
    return hostToolCommand(toolPath, "remove-firewall", ...firewallArgs(at), "--unit-path", at.unitPath);
}

export function pm2EnableCommand(toolPath: string, user: string, markerDir: string, home: string, logRotationTimer: string): string {
    return hostToolCommand(toolPath, "pm2-enable", "--user", user, "--marker-dir", markerDir, "--home", home, "--log-rotation-timer", logRotationTimer);
}

/**
 * The apps' release (files/limen-host.sh, pm2-apply): installs the planned files it gets on stdin
 * (pm2FileSets), reloads the apps and records the sha256 of the files they loaded (`loaded`) in the
 * marker directory. With a gate, a candidate of the new files must pass it before the serving apps are
 * touched, and the reloaded apps after; if either fails, the previous files from stdin come back.
 */
export function pm2ApplyCommand(toolPath: string, user: string, ecosystemPath: string, apps: string[], markerDir: string, loaded: string[], gate?: AppsGatePlan): string {
    return hostToolCommand(
        toolPath,
        "pm2-apply",
        "--user",
        user,
        "--ecosystem",
        ecosystemPath,
        "--apps",
        apps.join(","),
        "--marker-dir",
        markerDir,
        "--loaded",
        loaded.join(","),
        ...(gate ? ["--gate-seconds", String(gate.timeoutSeconds), "--gate-session", gate.sessionUrl, "--gate-page", gate.pageUrl] : []),
    );
}

/** One file of the apps' release: where it goes, as what, its check on the host, and its content. */
export interface ReleaseFile {
    path: string;
    mode: string;
    owner: string;
    /** `ecosystem` for the pm2 ecosystem (judged as data before it is installed), else `none`. */
    check: string;
    content: string;
}

/**
 * pm2-apply's stdin: a line per file, `new|previous PATH MODE OWNER CHECK BASE64`. `previous` is the
 * version the stack last deployed (its state's inputs), put back when the new one fails; absent for a
 * first deploy (the host tool then takes the files the host has).
 */
export function pm2FileSets(planned: ReleaseFile[], previous: ReleaseFile[] | undefined): string {
    const line = (kind: string, file: ReleaseFile) => [kind, file.path, file.mode, file.owner, file.check, Buffer.from(file.content, "utf8").toString("base64")].join(" ");
    return [...planned.map((file) => line("new", file)), ...(previous ?? []).map((file) => line("previous", file)), ""].join("\n");
}

/** Records the files running apps have loaded, without touching the apps. */
export function pm2MarkLoadedCommand(toolPath: string, user: string, markerDir: string, loaded: string[]): string {
    return hostToolCommand(toolPath, "pm2-mark-loaded", "--user", user, "--marker-dir", markerDir, "--loaded", loaded.join(","));
}

/** Writes pm2's saved list again from the running apps (`pm2 save --force` as the apps' user). */
export function pm2SaveCommand(toolPath: string, user: string): string {
    return hostToolCommand(toolPath, "pm2-save", "--user", user);
}

export function pm2RemoveCommand(toolPath: string, user: string, apps: string[], markerDir: string, logRotationTimer?: string): string {
    return hostToolCommand(
        toolPath,
        "pm2-remove",
        "--user",
        user,
        "--apps",
        apps.join(","),
        "--marker-dir",
        markerDir,
        ...(logRotationTimer ? ["--log-rotation-timer", logRotationTimer] : []),
    );
}

/** What every step of the front door's release names (plan/envoy.ts, EnvoyReleasePlan). */
export interface EnvoyReleaseStep {
    toolPath: string;
    stateDir: string;
    containerName: string;
    httpsPort: number;
    serverNames: string[];
    timeoutSeconds: number;
    drainSeconds: number;
}

function envoyReleaseArgs(step: EnvoyReleaseStep): string[] {
    return [
        "--container",
        step.containerName,
        "--state-dir",
        step.stateDir,
        "--https-port",
        String(step.httpsPort),
        "--names",
        step.serverNames.join(","),
        "--seconds",
        String(step.timeoutSeconds),
        "--drain-seconds",
        String(step.drainSeconds),
    ];
}

/**
 * A new Envoy config to the door (files/limen-host.sh, envoy-release): validated, judged on a candidate,
 * then applied in place (`in-place`) or, for a new bootstrap or image, served by a standby while the
 * serving container drains (`handover`). stdin: envoyReleaseStdin.
 */
export function envoyReleaseCommand(
    step: EnvoyReleaseStep & {
        mode: "in-place" | "handover";
        configPath: string;
        dynamicDir: string;
        versions: { lds: string; cds: string };
        /** Which file is moved in first (provider/envoy-release-provider.ts, moveOrder), and for a rollback. */
        order: "cds-first" | "lds-first";
        previousVersions?: { lds: string; cds: string };
        rollbackOrder?: "cds-first" | "lds-first";
        image: string;
        mounts: string[];
    },
): string {
    return hostToolCommand(
        step.toolPath,
        "envoy-release",
        "--mode",
        step.mode,
        "--config",
        step.configPath,
        "--dynamic-dir",
        step.dynamicDir,
        "--lds-version",
        step.versions.lds,
        "--cds-version",
        step.versions.cds,
        "--order",
        step.order,
        ...(step.previousVersions ? ["--previous-lds-version", step.previousVersions.lds, "--previous-cds-version", step.previousVersions.cds] : []),
        ...(step.rollbackOrder ? ["--rollback-order", step.rollbackOrder] : []),
        ...envoyReleaseArgs(step),
        "--envoy-image",
        step.image,
        ...step.mounts.flatMap((dir) => ["--mount", dir]),
    );
}

/** envoy-release's stdin: one base64 line per file (validate, candidate, bootstrap, lds, cds, previous-lds, previous-cds). */
export function envoyReleaseStdin(files: Record<string, string>): string {
    return Object.entries(files)
        .map(([kind, text]) => `${kind} ${Buffer.from(text).toString("base64")}\n`)
        .join("");
}

/** After the Docker provider created the container: ready, the gate, the standby gone (envoy-settle). */
export function envoySettleCommand(step: EnvoyReleaseStep): string {
    return hostToolCommand(step.toolPath, "envoy-settle", ...envoyReleaseArgs(step));
}

/** With Envoy removed: the release's leftovers (envoy-forget). */
export function envoyForgetCommand(toolPath: string, stateDir: string): string {
    return hostToolCommand(toolPath, "envoy-forget", "--state-dir", stateDir);
}

/** Frees container name `name` of a holder that is not the stack's (another repository's image). */
export function containerClaimCommand(toolPath: string, name: string, image: string): string {
    return hostToolCommand(toolPath, "container-claim", "--name", name, "--image", image);
}
