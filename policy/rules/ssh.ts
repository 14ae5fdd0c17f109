/**
 * What the policies read about SSH: the `connection` of every resource that acts on a host, and the
 * Docker provider's `sshOpts`.
 */
import { isHostKeyLine } from "../../core/ssh-keys";
import { at, isRecord, Plain, ResourceView, Unknown } from "../values";
import { describe, Finding, skipped, violation } from "./findings";
import { actsOnHost, dockerProviderType } from "./resources";

/** `-o Key=Value`, `-oKey=Value`, `-o "Key Value"` options of an ssh argument list, keys in lower case. */
export function sshOptions(args: string[]): [string, string][] {
    const options: [string, string][] = [];
    for (let i = 0; i < args.length; i++) {
        const arg = args[i]!;
        const option = arg === "-o" ? args[++i] : arg.startsWith("-o") ? arg.slice(2) : undefined;
        if (option === undefined) continue;
        const match = /^\s*([A-Za-z]+)\s*(?:=|\s)\s*(.*?)\s*$/.exec(option);
        if (match) options.push([match[1]!.toLowerCase(), match[2]!]);
    }
    return options;
}

/** The ssh arguments of the Docker provider's `sshOpts`: JSON-encoded on the wire (@pulumi/docker provider.ts), or a list. */
function sshArguments(raw: Plain | undefined): string[] | undefined {
    if (raw === undefined || raw === null) return [];
    let args: unknown = raw;
    if (typeof raw === "string") {
        try {
            args = JSON.parse(raw);
        } catch {
            return undefined;
        }
    }
    return Array.isArray(args) ? args.filter((a): a is string => typeof a === "string") : undefined;
}

function dockerSshOptsFindings(r: ResourceView): Finding[] {
    const host = r.props.host;
    if (host instanceof Unknown) return [skipped(r.urn, `${describe(r)}: host is unknown during preview; its SSH options were not checked`)];
    if (typeof host !== "string" || !host.startsWith("ssh://")) return [];
    const raw = r.props.sshOpts;
    if (raw instanceof Unknown) return [skipped(r.urn, `${describe(r)}: sshOpts is unknown during preview and was not checked`)];
    const list = sshArguments(raw);
    // Refused rather than guessed: options that cannot be read cannot be shown to check the host key.
    if (list === undefined) return [violation(r.urn, `${describe(r)}: ${host}: sshOpts cannot be read as a list of ssh arguments`)];
    // ssh takes the first value it sees for an option, so only the first occurrence counts.
    const first = (key: string) => sshOptions(list).find(([k]) => k === key)?.[1];
    const findings: Finding[] = [];
    const strict = first("stricthostkeychecking");
    if (strict?.toLowerCase() !== "yes") {
        findings.push(
            violation(
                r.urn,
                `${describe(r)}: ${host} must pass -o StrictHostKeyChecking=yes in sshOpts (found ${strict === undefined ? "none" : `StrictHostKeyChecking=${strict}`}); otherwise an unknown host key is accepted`,
            ),
        );
    }
    const knownHosts = first("userknownhostsfile");
    if (!knownHosts || knownHosts.split(/\s+/).some((file) => file === "/dev/null")) {
        findings.push(
            violation(
                r.urn,
                `${describe(r)}: ${host} must pass -o UserKnownHostsFile=<file with the pinned key> in sshOpts (found ${knownHosts === undefined ? "none" : `UserKnownHostsFile=${knownHosts}`})`,
            ),
        );
    }
    return findings;
}

/**
 * Every remote connection pins a host key: each resource that acts on a host has a `connection` whose
 * `hostKey` (and a jump host's, `connection.proxy`, where a resource has one) is a real OpenSSH key
 * line of an accepted type (core/ssh-keys.ts, the same check as the config schema's), and the Docker
 * provider's ssh:// transport checks the host key strictly against a known_hosts file of its own.
 */
export function hostKeyFindings(r: ResourceView): Finding[] {
    if (r.type === dockerProviderType) return dockerSshOptsFindings(r);
    if (!actsOnHost(r)) return [];
    const connection = r.props.connection;
    if (connection instanceof Unknown) return [skipped(r.urn, `${describe(r)}: connection is unknown during preview; its host key was not checked`)];
    if (!isRecord(connection)) return [violation(r.urn, `${describe(r)}: has no connection to check`)];
    const findings: Finding[] = [];
    const hops: [string, Plain | undefined][] = [["connection", connection]];
    if (connection.proxy !== undefined && connection.proxy !== null) hops.push(["connection.proxy", connection.proxy]);
    for (const [where, hop] of hops) {
        const hostKey = at(hop, "hostKey");
        if (hostKey instanceof Unknown) findings.push(skipped(r.urn, `${describe(r)}: ${where}.hostKey is unknown during preview and was not checked`));
        else if (typeof hostKey !== "string" || hostKey.trim() === "") {
            findings.push(violation(r.urn, `${describe(r)}: ${where}.hostKey is not set: the connection would accept any host key`));
        } else if (!isHostKeyLine(hostKey)) {
            findings.push(
                violation(
                    r.urn,
                    `${describe(r)}: ${where}.hostKey "${hostKey.slice(0, 60)}" is not an OpenSSH host key line of an accepted type (paste the output of ssh-keyscan -t ed25519 <host>)`,
                ),
            );
        }
    }
    return findings;
}
