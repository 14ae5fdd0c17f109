/**
 * What the policies read in `.env.production`: a file resource whose `path` names it, its `content`
 * parsed as Next.js's loader reads it, and its `mode`.
 */
import * as path from "node:path";
import { envFileName } from "../../core/host-paths";
import { Plain, ResourceView, stringsIn, Unknown } from "../values";
import { loopbackReason } from "./addresses";
import { describe, Finding, skipped, violation } from "./findings";
import { actsOnHost, inputsOf, isInstalledFile, isStackHostResource, textInput } from "./resources";

/** Whether a resource installs `.env.production` (in any directory); Unknown when its path is. */
export function installsEnvFile(r: ResourceView): boolean | Unknown {
    if (!isInstalledFile(r)) return false;
    const file = textInput(r, "path");
    return file instanceof Unknown ? file : file !== undefined && path.posix.basename(file) === envFileName;
}

export const isEnvFile = (r: ResourceView): boolean => installsEnvFile(r) === true;

const unknownPath = (r: ResourceView, what: string) =>
    skipped(r.urn, `${describe(r)}: path is unknown during preview, so it is not known whether it installs ${envFileName}; ${what}`);

/**
 * The keys and values of a .env file as dotenv reads them: `KEY=value`, `export KEY=value`, values
 * plain or quoted (render/env-file.ts writes single quotes with `$` escaped).
 */
export function parseEnv(text: string): Map<string, string> {
    const env = new Map<string, string>();
    for (const line of text.split(/\r?\n/)) {
        const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/.exec(line);
        if (!match) continue;
        const [, key, raw] = match as unknown as [string, string, string];
        let value = raw;
        if (/^'.*'$/.test(raw)) value = raw.slice(1, -1).replace(/\\\$/g, "$");
        else if (/^".*"$/.test(raw))
            value = raw
                .slice(1, -1)
                .replace(/\\n/g, "\n")
                .replace(/\\(["\\$])/g, "$1");
        else value = raw.replace(/\s+#.*$/, "");
        env.set(key, value);
    }
    return env;
}

/**
 * BACKEND_HOST and AGENT_HOST of `.env.production` are not loopback, in any spelling: from the
 * frontend, a loopback address points at the frontend itself (seed: "What matters").
 */
export function envFileLoopbackFindings(r: ResourceView): Finding[] {
    const envFile = installsEnvFile(r);
    if (envFile instanceof Unknown) return [unknownPath(r, "not checked for loopback addresses")];
    if (!envFile) return [];
    const content = textInput(r, "content");
    if (content instanceof Unknown) {
        return [skipped(r.urn, `${describe(r)}: the ${envFileName} content is unknown during preview and was not checked for loopback addresses (the config schema refuses them)`)];
    }
    if (content === undefined) return [];
    const env = parseEnv(content);
    const findings: Finding[] = [];
    for (const key of ["BACKEND_HOST", "AGENT_HOST"]) {
        const value = env.get(key);
        const reason = value === undefined ? undefined : loopbackReason(value);
        if (reason)
            findings.push(
                violation(r.urn, `${describe(r)}: ${envFileName} ${key}=${value} ${reason}; from the frontend it would not reach the backend (seed: never localhost/127.0.0.1)`),
            );
    }
    return findings;
}

function modeText(mode: Plain | undefined): string {
    return typeof mode === "string" || typeof mode === "number" ? String(mode) : "(none)";
}

/**
 * The env file is not world-readable: a file resource that installs `.env.production` has a `mode`
 * with no bits for others and no special bits (0600, 0640). Anything else on a host whose inputs
 * name the file (a command resource, say: not one of the stack's own types) cannot show the mode it
 * leaves, and is refused.
 */
export function envFileModeFindings(r: ResourceView): Finding[] {
    if (isInstalledFile(r)) {
        const envFile = installsEnvFile(r);
        if (envFile instanceof Unknown) return [unknownPath(r, "its mode was not checked")];
        if (!envFile) return [];
        const mode = r.props.mode;
        if (mode instanceof Unknown) return [skipped(r.urn, `${describe(r)}: mode is unknown during preview; ${envFileName}'s mode was not checked`)];
        const bits = typeof mode === "string" && /^[0-7]{3,4}$/.test(mode) ? parseInt(mode, 8) : undefined;
        if (bits === undefined || (bits & 0o007) !== 0 || (bits & 0o7000) !== 0) {
            return [
                violation(
                    r.urn,
                    `${describe(r)}: installs ${String(r.props.path)} with mode ${modeText(mode)}; it must give others nothing (0600 or 0640): the file may hold secrets`,
                ),
            ];
        }
        return [];
    }
    // The stack's other host resources say in typed inputs what they write (a table and its boot unit,
    // pm2's state), and none of it is this file: Pm2Apps names it only to see whether the apps loaded it.
    if (!actsOnHost(r) || isStackHostResource(r)) return [];
    // The connection is how the resource reaches the host, not something it writes there.
    const { strings, unknowns } = stringsIn(inputsOf(r, ["connection"]));
    const findings: Finding[] = strings
        .filter(({ text }) => text.includes(envFileName))
        .map(({ path: where }) =>
            violation(
                r.urn,
                `${describe(r)}: ${where} names ${envFileName}; only a file resource (HostFile) declares the mode it leaves, so the file's mode cannot be shown to exclude others`,
            ),
        );
    if (unknowns.length > 0) {
        findings.push(skipped(r.urn, `${describe(r)}: ${unknowns.map((u) => u.path).join(", ")} unknown during preview; not checked for ${envFileName}`));
    }
    return findings;
}
