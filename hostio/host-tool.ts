/**
 * The steps that change a host, as requests to its host tool (tools/limen-host; each request's fields in
 * tools/limen-host/requests/*.md) with every name and path passed in from the plan. Pure builders: the
 * providers run them over SSH.
 *
 * A request is one JSON object on the tool's stdin, never in argv: a file's content (a TLS key among
 * them) travels inside it as base64, so nothing secret is ever in a command line. Each carries the
 * tool's deadlines (hostio/deadlines.ts, kept in one place here) and asks for the tool's text output,
 * the words the providers' parsers read. The step runs the planned tool, installed or sent for the step
 * (hostio/host-tool-run.ts).
 */
import * as path from "node:path";
import type { AppsGatePlan } from "../plan/pm2";
import type { FirewallLocations } from "../plan/firewall";
import { toolDeadlines } from "./deadlines";
import { toolRequest, ToolScript, toolStep } from "./host-tool-run";
import { shellWord } from "../core/shell";

/** A step of the host tool and its request (the step's stdin). */
export interface ToolCall {
    step: ToolScript;
    request: string;
}

/** The request `command` with its fields, the tool's deadlines and the text output. */
export function toolCall(toolPath: string, command: string, fields: Record<string, unknown>): ToolCall {
    return { step: toolStep(toolPath), request: JSON.stringify({ command, output: "text", deadlines: toolDeadlines, ...fields }) };
}

/**
 * Two requests in one step: `first`'s in the step's text, so it must carry nothing secret (names and
 * paths only), then `then`'s on stdin, run only when the first succeeded.
 */
export function chainCalls(first: ToolCall, then: ToolCall): ToolCall {
    return { step: { toolPath: then.step.toolPath, script: `printf '%s\\n' ${shellWord(first.request)} | "$LIMEN_TOOL" && "$LIMEN_TOOL"` }, request: then.request };
}

const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/**
 * Installs the host tool itself: the planned binary, always sent for this step (the installed one is
 * missing or not the planned one, which is why the step runs), writes itself to `toolPath` (a new file
 * renamed into place, so a cut connection leaves the old tool, and only in a directory nobody but root
 * can change, since root runs what is there). Then the installed tool says whether the host is ready
 * (systemd, nft, and the programs it runs from PATH, each one only root can change).
 */
export function installHostToolStep(toolPath: string): ToolScript {
    const installSelf = toolRequest({ command: "install-self", path: toolPath });
    const checkReady = `printf '%s\\n' ${shellWord(JSON.stringify({ command: "check-ready", output: "text" }))} | ${shellWord(toolPath)}`;
    return { toolPath, script: `${installSelf} && ${checkReady}`, alwaysSend: true };
}

export function removeHostToolCommand(toolPath: string): string {
    return `sudo -n rm -rf ${shellWord(path.posix.dirname(toolPath))}`;
}

export interface FileInstall {
    path: string;
    mode: string;
    owner: string;
    check: string;
    /** Extra arguments of the check, as `--envoy-image IMAGE` and `--mount DIR` pairs (state written by 1.x keeps them). */
    checkArgs: string[];
    content: string;
}

/** The check's arguments as the request's fields. */
function checkFields(checkArgs: string[]): Record<string, unknown> {
    const fields: { envoyImage?: string; mounts?: string[] } = {};
    for (let i = 0; i < checkArgs.length; i += 2) {
        const [flag, value] = [checkArgs[i], checkArgs[i + 1] ?? ""];
        if (flag === "--envoy-image") fields.envoyImage = value;
        else if (flag === "--mount") fields.mounts = [...(fields.mounts ?? []), value];
        else throw new Error(`install-file: unknown check argument ${flag}`);
    }
    return fields;
}

export function installFileCall(toolPath: string, file: FileInstall): ToolCall {
    return toolCall(toolPath, "install-file", {
        path: file.path,
        mode: file.mode,
        owner: file.owner,
        check: file.check,
        ...checkFields(file.checkArgs),
        contentBase64: base64(file.content),
    });
}

export function removeFileCall(toolPath: string, filePath: string): ToolCall {
    return toolCall(toolPath, "remove-file", { path: filePath });
}

function firewallTarget(at: FirewallLocations): Record<string, unknown> {
    const [family = "", name = ""] = at.table.split(" ");
    return { table: { family, name }, bootRuleset: at.bootRuleset, stateDir: at.stateDir, marker: at.marker, unit: at.unitName, revertUnit: at.revertUnit };
}

/** Applies the rendered ruleset and arms the host's own revert, which fires unless confirmed in time. */
export function applyFirewallCall(toolPath: string, at: FirewallLocations, ruleset: string, confirmWithinSeconds: number): ToolCall {
    return toolCall(toolPath, "apply-firewall", { ...firewallTarget(at), confirmWithinSeconds, contentBase64: base64(ruleset) });
}

export function confirmFirewallCall(toolPath: string, at: FirewallLocations, rulesetSha256: string): ToolCall {
    return toolCall(toolPath, "confirm-firewall", { ...firewallTarget(at), sha256: rulesetSha256 });
}

export function removeFirewallCall(toolPath: string, at: FirewallLocations): ToolCall {
    return toolCall(toolPath, "remove-firewall", { ...firewallTarget(at), unitPath: at.unitPath });
}

export function pm2EnableCall(toolPath: string, user: string, markerDir: string, home: string, logRotationTimer: string): ToolCall {
    return toolCall(toolPath, "pm2-enable", { user, markerDir, home, logRotationTimer });
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
 * The apps' release (the tool's pm2-apply): installs the planned files, reloads the apps and records the
 * sha256 of the files they loaded (`loaded`) in the marker directory. With a gate, a candidate of the new
 * files must pass it before the serving apps are touched, and the reloaded apps after; if either fails,
 * the previous files come back. `previous` is the version the stack last deployed (its state's inputs);
 * absent for a first deploy (the tool then takes the files the host has).
 */
export function pm2ApplyCall(
    toolPath: string,
    release: { user: string; ecosystemPath: string; apps: string[]; markerDir: string; loaded: string[]; gate?: AppsGatePlan },
    planned: ReleaseFile[],
    previous: ReleaseFile[] | undefined,
): ToolCall {
    const file = (set: string, f: ReleaseFile) => ({ set, path: f.path, mode: f.mode, owner: f.owner, check: f.check, contentBase64: base64(f.content) });
    return toolCall(toolPath, "pm2-apply", {
        user: release.user,
        ecosystem: release.ecosystemPath,
        apps: release.apps,
        markerDir: release.markerDir,
        loaded: release.loaded,
        ...(release.gate ? { gate: { seconds: release.gate.timeoutSeconds, sessionUrl: release.gate.sessionUrl, pageUrl: release.gate.pageUrl } } : {}),
        files: [...planned.map((f) => file("new", f)), ...(previous ?? []).map((f) => file("previous", f))],
    });
}

/** Records the files running apps have loaded, without touching the apps. */
export function pm2MarkLoadedCall(toolPath: string, user: string, markerDir: string, loaded: string[]): ToolCall {
    return toolCall(toolPath, "pm2-mark-loaded", { user, markerDir, loaded });
}

/** Writes pm2's saved list again from the running apps (`pm2 save --force` as the apps' user). */
export function pm2SaveCall(toolPath: string, user: string): ToolCall {
    return toolCall(toolPath, "pm2-save", { user });
}

export function pm2RemoveCall(toolPath: string, user: string, apps: string[], markerDir: string, logRotationTimer?: string): ToolCall {
    return toolCall(toolPath, "pm2-remove", { user, apps, markerDir, ...(logRotationTimer ? { logRotationTimer } : {}) });
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

function envoyReleaseFields(step: EnvoyReleaseStep): Record<string, unknown> {
    return {
        container: step.containerName,
        stateDir: step.stateDir,
        httpsPort: step.httpsPort,
        names: step.serverNames,
        seconds: step.timeoutSeconds,
        drainSeconds: step.drainSeconds,
    };
}

/** The release's files (validate, candidate, bootstrap, lds, cds, and previousLds/previousCds for a rollback). */
export interface EnvoyReleaseFiles {
    validate: string;
    candidate: string;
    bootstrap: string;
    lds: string;
    cds: string;
    previousLds?: string;
    previousCds?: string;
}

/**
 * A new Envoy config to the door (the tool's envoy-release): validated, judged on a candidate, then
 * applied in place (`in-place`) or, for a new bootstrap or image, served by a standby while the serving
 * container drains (`handover`).
 */
export function envoyReleaseCall(
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
    files: EnvoyReleaseFiles,
): ToolCall {
    const encoded = Object.fromEntries(Object.entries(files).map(([kind, text]) => [kind, base64(text as string)]));
    return toolCall(step.toolPath, "envoy-release", {
        mode: step.mode,
        config: step.configPath,
        dynamicDir: step.dynamicDir,
        ldsVersion: step.versions.lds,
        cdsVersion: step.versions.cds,
        order: step.order,
        ...(step.previousVersions ? { previousLdsVersion: step.previousVersions.lds, previousCdsVersion: step.previousVersions.cds } : {}),
        ...(step.rollbackOrder ? { rollbackOrder: step.rollbackOrder } : {}),
        ...envoyReleaseFields(step),
        envoyImage: step.image,
        mounts: step.mounts,
        files: encoded,
    });
}

/** After the Docker provider created the container: ready, the gate, the standby gone (envoy-settle). */
export function envoySettleCall(step: EnvoyReleaseStep): ToolCall {
    return toolCall(step.toolPath, "envoy-settle", envoyReleaseFields(step));
}

/** With Envoy removed: the release's leftovers (envoy-forget). */
export function envoyForgetCall(toolPath: string, stateDir: string): ToolCall {
    return toolCall(toolPath, "envoy-forget", { stateDir });
}

/** Frees container name `name` of a holder that is not the stack's (another repository's image). */
export function containerClaimCall(toolPath: string, name: string, image: string): ToolCall {
    return toolCall(toolPath, "container-claim", { name, image });
}

/** A placeholder pair for the domains until the real certificate is issued (tls-placeholder). */
export function tlsPlaceholderCall(toolPath: string, publishDir: string, domains: string[]): ToolCall {
    return toolCall(toolPath, "tls-placeholder", { publishDir, domains });
}

/** Obtains (or renews) the certificate with certbot and publishes the checked pair (acme-certificate). */
export function acmeCertificateCall(
    toolPath: string,
    certificate: {
        name: string;
        domains: string[];
        email: string;
        server: string;
        responderAddress: string;
        responderPort: number;
        lineageDir: string;
        publishDir: string;
        hook: string;
    },
): ToolCall {
    return toolCall(toolPath, "acme-certificate", { ...certificate });
}

export function acmeRemoveCall(toolPath: string, name: string, publishDir: string): ToolCall {
    return toolCall(toolPath, "acme-remove", { name, publishDir });
}
