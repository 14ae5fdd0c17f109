/**
 * Stand-ins for what `npm run verify` talks to: scratch directories, a `sudo`/`systemctl` shim, the
 * firewall probe run for real (nft in a throwaway network namespace), converged hosts answering every
 * command verify runs, and a stand-in `pulumi` CLI. They spawn processes: only the tools project uses them.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, expect } from "vitest";
import { LimenConfig } from "../../config";
import type { ToolScript } from "../../hostio/host-tool-run";
import { fileProbeCommand, hostToolProbeCommand } from "../../hostio/observe-file";
import { pm2ProbeCommand } from "../../hostio/observe-pm2";
import { diskCommand, diskPaths } from "../../ops/disks";
import { FirewallPlan } from "../../plan/firewall";
import { StackPlan } from "../../plan/hosts";
import { certificateProbe } from "../../ops/certificates";
import { CheckResult } from "../../ops/checks";
import { firewallProbe, hostToolFile } from "../../ops/drift";
import { HostRole, Remote, RemoteResult } from "../../ops/remote";
import { backendOrigin } from "../../plan/backend-api";
import { curlCommand, healthUrl, sessionUrl } from "../../ops/runbook";
import { hostClockCommand, proxyLogCommand } from "../../ops/proxy-log";
import { pm2MarkerDir } from "../../core/host-paths";
import { ok, fileProbeOutput, pm2ProbeOutput, postResponse, ss, toolStatusOutput } from "./probe-outputs";
import { localStep, stepText } from "./tool-script";

/** Scratch directories of the test file that made them, removed when it ends. */
const scratchDirs: string[] = [];
export function scratchDir(prefix: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    scratchDirs.push(dir);
    return dir;
}
afterAll(() => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A directory with `sudo` (drops -n and runs the rest) and `systemctl` (prints $LIMEN_TEST_UNIT_STATE) stand-ins. */
let shimDir: string | undefined;
export function sudoShim(): string {
    if (shimDir) return shimDir;
    shimDir = scratchDir("limen-verify-shim-");
    writeFileSync(path.join(shimDir, "sudo"), '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n', { mode: 0o755 });
    writeFileSync(
        path.join(shimDir, "systemctl"),
        '#!/bin/sh\ncase "$1" in show) echo "${LIMEN_TEST_SERVICE_RESULT:-success}" ;; *) echo "${LIMEN_TEST_UNIT_STATE:-enabled}" ;; esac\n',
        { mode: 0o755 },
    );
    return shimDir;
}

/** A firewall plan whose boot files live in a scratch directory, written as `pulumi up` leaves them. */
export function scratchFirewall(plan: FirewallPlan): FirewallPlan {
    const dir = scratchDir("limen-verify-boot-");
    const scratch = { ...plan, locations: { ...plan.locations, bootRuleset: path.join(dir, "limen.nft"), unitPath: path.join(dir, "limen-firewall.service") } };
    writeFileSync(scratch.locations.bootRuleset, plan.ruleset);
    writeFileSync(scratch.locations.unitPath, plan.bootUnit.content);
    return scratch;
}

interface HostFirewallState {
    /** nft commands run after the plan's ruleset is loaded (a hand edit). */
    tamper?: string;
    /** No table loaded at all. */
    unloaded?: boolean;
    unitState?: string;
}

/**
 * firewallProbe's step as the host runs it (as root, with the tests' build of the host tool), in a fresh
 * network namespace standing in for the host (its table loaded from the plan, then tampered with);
 * nothing touches this machine's own tables.
 */
export function probeFirewall(plan: FirewallPlan, state: HostFirewallState = {}): RemoteResult {
    const dir = scratchDir("limen-verify-nft-");
    writeFileSync(path.join(dir, "loaded.nft"), plan.ruleset);
    const load = state.unloaded ? "true" : `nft -f ${path.join(dir, "loaded.nft")}`;
    const probe = firewallProbe(plan);
    const run = spawnSync("unshare", ["--net", "sh", "-c", `${load} && ${state.tamper ?? "true"} && ${localStep(probe.command)}`], {
        input: probe.stdin,
        encoding: "utf8",
        env: { ...process.env, PATH: `${sudoShim()}:${process.env.PATH}`, LIMEN_TEST_UNIT_STATE: state.unitState ?? "enabled" },
    });
    if (run.error) throw run.error;
    return ok(run.stdout, run.status ?? 1, run.stderr);
}

const handleOf = (chain: string, rule: string) => `$(nft -a list chain inet limen_firewall ${chain} | sed -n 's/^[[:space:]]*${rule} # handle \\([0-9]*\\)$/\\1/p')`;
export const deletePublicPorts = `nft delete rule inet limen_firewall input handle ${handleOf("input", "tcp dport @public_ports accept")}`;

export interface HostChanges {
    /** nft commands run on the backend after its table is loaded. */
    backendTamper?: string;
    /** What the frontend's env file holds instead of the plan's content. */
    envFileOnHost?: string;
    /** The Proxy line's target instead of the backend. */
    proxyTarget?: string;
    /** Free space of the frontend's root filesystem, in percent (default 40). */
    frontendFreePercent?: number;
}

/** diskCommand's output: df of the paths (one filesystem, 20 GiB), then du of pm2's logs on the frontend. */
function diskOutput(config: LimenConfig, role: HostRole, freePercent: number): string {
    const size = 20 * 1024 ** 3;
    const available = Math.round((size * freePercent) / 100);
    const { paths, logs } = diskPaths(config, role);
    return [
        "Filesystem 1-blocks Used Available Capacity Mounted on",
        ...paths.map(() => `/dev/vda1 ${size} ${size - available} ${available} ${100 - freePercent}% /`),
        ...(logs ? ["--- limen-verify: logs ---", `12582912\t${logs}`] : []),
        "",
    ].join("\n");
}

/** The firewall probe's output per host and change, run once each: nft in a namespace takes a moment. */
const firewallOutputs = new Map<string, RemoteResult>();

/**
 * Answers each command verify runs the way converged hosts would (with `changes` applied), or throws.
 * A step of the host tool is matched, and listed in `asked`, by its text (stepText).
 */
export function standInHosts(
    config: LimenConfig,
    plan: StackPlan,
    changes: HostChanges = {},
): { answer: (role: HostRole, step: string | ToolScript, stdin?: string | Buffer) => RemoteResult; asked: string[] } {
    const asked: string[] = [];
    const firewalls = { frontend: scratchFirewall(plan.frontend.firewall), backend: scratchFirewall(plan.backend.firewall) };
    const answer = (role: HostRole, step: string | ToolScript, input?: string | Buffer): RemoteResult => {
        const command = stepText(step);
        const stdin = Buffer.isBuffer(input) ? input.toString("utf8") : input;
        asked.push(`${role}: ${command}`);
        const host = plan[role];
        // The stand-in's boot files live elsewhere, so its probe is matched by the plan's own command.
        if (command === stepText(firewallProbe(host.firewall).command)) {
            expect(stdin).toBe(host.firewall.ruleset);
            const tamper = role === "backend" ? changes.backendTamper : undefined;
            const key = `${role}|${tamper ?? ""}`;
            if (!firewallOutputs.has(key)) firewallOutputs.set(key, probeFirewall(firewalls[role], { tamper }));
            return firewallOutputs.get(key)!;
        }
        if (command === stepText(hostToolProbeCommand(host.hostTool.path)))
            return ok(toolStatusOutput(host.hostTool.path, host.hostTool.sha256, hostToolFile.mode, hostToolFile.owner));
        for (const file of host.files) {
            if (command !== stepText(fileProbeCommand(file.path))) continue;
            const content = file.name === "env-production" && changes.envFileOnHost !== undefined ? changes.envFileOnHost : file.content;
            return ok(fileProbeOutput(file.path, file.mode, file.owner, content));
        }
        if (host.pm2 && command === stepText(pm2ProbeCommand(host.pm2.user, host.pm2.loadedPaths, pm2MarkerDir, host.pm2.logRotation.timer))) return ok(pm2ProbeOutput());
        for (const certificate of host.certificates) {
            if (command !== stepText(certificateProbe(certificate))) continue;
            return ok(
                `present=yes\nnot-after=${opensslDate(new Date(Date.now() + 60 * 86_400_000))}\nnames=${certificate.domains.join(",")}\nissuer=CN=stand-in\nkey=matches\nchain=ok\n`,
            );
        }
        if (command === diskCommand(config, role)) return ok(diskOutput(config, role, role === "frontend" ? (changes.frontendFreePercent ?? 40) : 40));
        if (role !== "frontend") throw new Error(`unexpected command on the ${role}: ${command}`);
        if (command === curlCommand(healthUrl(config))) return ok('{"status":"ok"}\nlimen-verify-http-status:200');
        if (command === hostClockCommand) return ok("2026-01-01T10:00:05\n");
        if (command === curlCommand(sessionUrl(config), "-i", "-X", "POST")) return ok(postResponse);
        if (command === curlCommand(sessionUrl(config), "-H", "Cookie: limen_session=abc123secret; theme=dark")) return ok('{"valid":true}\nlimen-verify-http-status:200');
        if (command === proxyLogCommand(config)) {
            const target = changes.proxyTarget ?? backendOrigin(config);
            return ok(`0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> ${target}/api/auth/session session\n`);
        }
        if (command === "ss -Hltn") return ok(ss);
        throw new Error(`unexpected command on the ${role}: ${command}`);
    };
    return { answer, asked };
}

/** A date as `openssl x509 -enddate` prints it: `Jan 30 00:00:00 2027 GMT`. */
function opensslDate(date: Date): string {
    // toUTCString: "Sat, 30 Jan 2027 00:00:00 GMT"; openssl pads the day with a space, not a zero.
    const [, dayOfMonth, month, year, time] = date.toUTCString().split(" ");
    return `${month} ${String(Number(dayOfMonth)).padStart(2, " ")} ${time} ${year} GMT`;
}

export const remoteFor = (hosts: ReturnType<typeof standInHosts>): Remote => ({ run: async (role, command, stdin) => hosts.answer(role, command, stdin) });

export async function collect(results: AsyncIterable<CheckResult>): Promise<CheckResult[]> {
    const all: CheckResult[] = [];
    for await (const result of results) all.push(result);
    return all;
}

export const allCheckNames = [
    "backend-health",
    "session-cookie",
    "proxy-log",
    "app-ports-loopback",
    "frontend host tool",
    "frontend firewall",
    "frontend file /etc/limen/pm2/ecosystem.config.js",
    "frontend file /srv/limen-frontend/.env.production",
    "frontend file /etc/limen/logrotate/pm2.conf",
    "frontend file /etc/systemd/system/limen-pm2-logrotate.service",
    "frontend file /etc/systemd/system/limen-pm2-logrotate.timer",
    "frontend file /etc/limen/envoy/tls/fullchain.pem",
    "frontend file /etc/limen/envoy/tls/privkey.pem",
    "frontend file /etc/limen/envoy/envoy.yaml",
    "frontend file /etc/limen/envoy/dynamic/lds.yaml",
    "frontend file /etc/limen/envoy/dynamic/cds.yaml",
    "frontend pm2",
    "backend host tool",
    "backend firewall",
    "frontend certificate sites",
    "frontend disk",
    "backend disk",
];

export const toExec = (result: RemoteResult) => ({ status: result.status ?? 255, stdout: result.stdout, stderr: result.stderr });

/** A stand-in `pulumi` that prints `config --json` for a raw config map, or fails like the CLI. */
export function fakePulumi(raw: Record<string, string> | undefined, secretKeys: string[] = ["limen:sshPrivateKey"], textKeys: string[] = []): string {
    const dir = scratchDir("limen-fake-pulumi-");
    // As the CLI prints them: every value as text, and a map or list also as objectValue.
    const entry = (key: string, value: string) => {
        const structured = /^\s*[{[]/.test(value) && !textKeys.includes(key);
        return structured ? { value, objectValue: JSON.parse(value), secret: secretKeys.includes(key) } : { value, secret: secretKeys.includes(key) };
    };
    const json = raw && JSON.stringify(Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, entry(key, value)])));
    writeFileSync(path.join(dir, "out.json"), json ?? "");
    const bin = path.join(dir, "pulumi");
    writeFileSync(
        bin,
        raw
            ? `#!/bin/sh\n[ "$*" = "config --json --show-secrets --stack prod" ] || { echo "error: unexpected args $*" >&2; exit 9; }\ncat "${dir}/out.json"\n`
            : `#!/bin/sh\necho "error: no stack named 'prod' found" >&2\nexit 255\n`,
    );
    chmodSync(bin, 0o755);
    return bin;
}
