/**
 * `npm run verify`, without hosts: its command line, the module graph it loads (no Pulumi), the drift
 * judges on recorded probe outputs and on the firewall probe run for real (nft in a throwaway network
 * namespace), the runbook's judges, every check run against a stand-in host, the SSH wrapper, the
 * config read through a stand-in pulumi CLI, and what it prints.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { ConfigError, LimenConfig, parseConfig } from "../config";
import { fileProbeCommand } from "../hostio/observe-file";
import { pm2Command, pm2ListCommand, pm2ProbeCommand } from "../hostio/observe-pm2";
import { runOnHost, sshError } from "../hostio/ssh";
import type { CertificatePlan } from "../plan/certificates";
import { FilePlan } from "../plan/files";
import { FirewallPlan } from "../plan/firewall";
import { planStack, SshEndpoint, StackPlan } from "../plan/hosts";
import { sha256 } from "../plan/sha256";
import { certificateProbe, judgeCertificate } from "../ops/certificates";
import { CheckResult, runChecks } from "../ops/checks";
import { describeDifferences, firewallProbe, hostToolFile, judgeFile, judgeFirewall, judgeHostTool, judgePm2, repairAdvice } from "../ops/drift";
import { HostRole, PlannedHosts, Remote, RemoteResult, RunOnHost } from "../ops/remote";
import { exitCode, flagsTakenByNpm, formatJson, formatTable, npmFlagsMessage, parseArgs } from "../ops/report";
import { backendOrigin } from "../plan/backend-api";
import { curlCommand, healthUrl, judgeAppPorts, judgeHealth, judgeSessionCreate, judgeSessionValid, parseSetCookies, sessionUrl } from "../ops/runbook";
import { hostClockCommand, judgeProxyLog, parseProxyLine, proxyLogCommand, proxySessionLines } from "../ops/proxy-log";
import { pulumiCliFromEnv, rawConfigFromCliJson, readStackConfig, StackConfigError } from "../ops/stack-config";
import { main } from "../ops/verify";
import { openssl, selfSignedPair } from "./support/certificates";
import { otherRawConfig, prodRawConfig, repoRoot, withOverride } from "./support/fixtures";
import { pm2MarkerDir } from "../plan/host-paths";

const other = parseConfig(otherRawConfig());
const otherPlan = planStack(other);

/** Scratch directories of this file, removed at the end. */
const scratchDirs: string[] = [];
function scratchDir(prefix: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    scratchDirs.push(dir);
    return dir;
}
afterAll(() => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const ok = (stdout: string, status = 0, stderr = ""): RemoteResult => ({ status, stdout, stderr });
const advice = "run `pulumi up --refresh` to repair";

describe("command line", () => {
    it.each([
        [["--stack", "lab"], { kind: "run", stack: "lab", json: false }],
        [["--stack=prod", "--json"], { kind: "run", stack: "prod", json: true }],
        [["--json", "-s", "acme/limen/prod"], { kind: "run", stack: "acme/limen/prod", json: true }],
        [["--help"], { kind: "help" }],
    ])("%j → %j", (argv, expected) => {
        expect(parseArgs(argv)).toEqual(expected);
    });

    it.each([
        [[], /--stack <name> is required/],
        [["--stack"], /--stack needs a stack name/],
        [["--stack="], /--stack needs a stack name/],
        [["--stack", "--json"], /needs a stack name/],
        [["--stack", "lab", "--verbose"], /unknown argument "--verbose"/],
        [["--stack", "lab", "--json=false"], /unknown argument "--json=false"/],
        [["prod"], /unknown argument "prod"/],
        [["--stack", "lab", "-s", "prod"], /--stack given twice \("lab", "prod"\)/],
        [["--stack", "lab; rm -rf /"], /is not a stack name/],
    ])("%j is refused", (argv, message) => {
        const parsed = parseArgs(argv);
        expect(parsed.kind).toBe("error");
        expect(parsed.kind === "error" && parsed.message).toMatch(message);
    });

    it("verify's own flags that npm kept (given before `--`) are named, only under `npm run verify`", () => {
        // What `npm run verify --stack prod --json` leaves: "prod" as an argument, the flags as npm config.
        expect(flagsTakenByNpm({ npm_lifecycle_event: "verify", npm_config_stack: "true", npm_config_json: "true" })).toEqual(["--stack", "--json"]);
        expect(flagsTakenByNpm({ npm_lifecycle_event: "verify", npm_config_json: "true", npm_config_loglevel: "silent" })).toEqual(["--json"]);
        expect(flagsTakenByNpm({ npm_lifecycle_event: "verify", npm_config_loglevel: "silent" })).toEqual([]);
        // Another script's npm config is not verify's business (e.g. `npm test --json` starting the lab).
        expect(flagsTakenByNpm({ npm_lifecycle_event: "test", npm_config_json: "true" })).toEqual([]);
        expect(npmFlagsMessage(["--stack", "--json"])).toMatch(/^npm read --stack and --json as its own options \(.*\) and did not pass them on: /);
        expect(npmFlagsMessage(["--json"])).toBe(
            "npm read --json as its own option (from before `--`, or an npmrc) and did not pass it on: put verify's flags after `--`, e.g. `npm run verify -- --stack prod --json`",
        );
    });
});

describe("exit code and output", () => {
    const passed: CheckResult = { check: "backend-health", ok: true, detail: "answered 200" };
    const failed: CheckResult = {
        check: "backend firewall",
        ok: false,
        detail: `live: chain input: rule "tcp dport @public_ports accept" is missing on the host, loaded as rendered planned; ${advice}`,
    };
    const log: CheckResult = {
        check: "proxy-log",
        ok: true,
        detail: "1 line",
        lines: ["0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> http://192.0.2.100:18443/api/auth/session session"],
    };

    it("exits 0 only when every check passed", () => {
        expect(exitCode([passed, log])).toBe(0);
        expect(exitCode([passed, failed, log])).toBe(1);
        expect(exitCode([])).toBe(1);
    });

    it("the table has one row per check, PASS/FAIL, the proxy lines and a summary", () => {
        const table = formatTable("lab", [passed, failed, log]).split("\n");
        expect(table[0]).toBe("limen verify, stack lab");
        expect(table).toContain("CHECK             RESULT  DETAIL");
        expect(table).toContain("backend-health    PASS    answered 200");
        expect(table).toContain(`backend firewall  FAIL    ${failed.detail}`);
        expect(table).toContain(`  ${log.lines![0]}`);
        expect(table.at(-1)).toBe("1 of 3 checks failed");
        expect(formatTable("lab", [passed]).split("\n").at(-1)).toBe("all 1 checks passed");
    });

    it("--json is an array of {check, ok, detail}, with the lines on the proxy check", () => {
        expect(JSON.parse(formatJson([passed, failed, log]))).toEqual([
            { check: "backend-health", ok: true, detail: "answered 200" },
            { check: "backend firewall", ok: false, detail: failed.detail },
            { check: "proxy-log", ok: true, detail: "1 line", lines: log.lines },
        ]);
    });
});

describe("what verify loads", () => {
    /** The project files and @pulumi modules in require.cache after `node` loads `entry` through tsx. */
    function loadedBy(entry: string): { project: string[]; pulumi: number } {
        const script = [
            `require(${JSON.stringify(entry)});`,
            "const keys = Object.keys(require.cache);",
            "console.log(JSON.stringify({",
            "  project: keys.filter((k) => !k.includes('node_modules')).map((k) => require('node:path').relative(process.cwd(), k)),",
            "  pulumi: keys.filter((k) => k.includes('@pulumi')).length,",
            "}));",
        ].join("\n");
        const run = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
        if (run.status !== 0) throw new Error(`node exited ${run.status}: ${run.stderr}`);
        return JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { project: string[]; pulumi: number };
    }

    it("ops/verify and everything it imports load no Pulumi SDK, no provider and no Pulumi component", () => {
        const loaded = loadedBy("./ops/verify");
        expect(loaded.pulumi).toBe(0);
        // It did load the whole graph: the plan, the read code and the SSH client the providers use.
        expect(loaded.project).toEqual(expect.arrayContaining(["ops/verify.ts", "ops/checks.ts", "ops/drift.ts", "plan/hosts.ts", "hostio/observe.ts", "hostio/ssh.ts"]));
        expect(loaded.project.filter((file) => file.startsWith("components/"))).toEqual([]);
        expect(loaded.project).toEqual(expect.arrayContaining(["config/index.ts", "config/load.ts", "config/rules.ts"]));
    }, 60_000);

    it("the same probe sees the SDK when a module does load it (the resources' providers)", () => {
        expect(loadedBy("./components/host-resources").pulumi).toBeGreaterThan(0);
    }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Drift: the plan's artifacts against recorded probe outputs.

/** What `stat -c "%a %U:%G"` and sha256sum print for a file (fileProbeCommand's output). */
/** limen-file's `read` line for a file at `path` (hostio/limen-file.ts). */
const fileProbeOutput = (path: string, mode: string, owner: string, content: string) => `file\t${mode}\t${owner}\t${loadedAt}\t${sha256(content)}\t${path}\t\n`;
/** limen-file's `read` line for something other than a file at `path`. */
const otherProbeOutput = (path: string, kind: string, note = "") => `${kind}\t-\t-\t-\t-\t${path}\t${note}\n`;

const envFile = otherPlan.frontend.files.find((file) => file.name === "env-production")!;
const ecosystemFile = otherPlan.frontend.files.find((file) => file.name === "ecosystem")!;

describe("drift: files and the host tool", () => {
    it("differing facts read `fact: <host> on the host, <plan> planned`; records one line per entry", () => {
        expect(describeDifferences({ state: "present", mode: "0600", owner: "limen:limen" }, { state: "present", mode: "0644", owner: "root:root" })).toEqual([
            "mode: 0644 on the host, 0600 planned",
            "owner: root:root on the host, limen:limen planned",
        ]);
        expect(describeDifferences({ processes: { a: "2 online", b: "2 online" } }, { processes: { a: "2 online", b: "missing" } })).toEqual([
            "processes of b: missing on the host, 2 online planned",
        ]);
        expect(describeDifferences({ contentSha256: "a".repeat(64) }, { contentSha256: "b".repeat(64) })).toEqual([
            "contentSha256: bbbbbbbbbbbb… on the host, aaaaaaaaaaaa… planned",
        ]);
        expect(describeDifferences({ contentSha256: "a".repeat(64) }, { contentSha256: "b".repeat(64) }, { secretContent: true })).toEqual(["content differs"]);
        expect(describeDifferences({ mode: "0600" }, { mode: "0600" })).toEqual([]);
    });

    it("a file as planned passes; its check is named after the host and the path", () => {
        expect(judgeFile("frontend", ecosystemFile, ok(fileProbeOutput(ecosystemFile.path, "0644", "root:root", ecosystemFile.content)))).toEqual({
            check: "frontend file /etc/limen/pm2/ecosystem.config.js",
            ok: true,
            detail: "0644 root:root, content as planned",
        });
    });

    it("a changed mode, owner or content is listed fact by fact, with the repair", () => {
        expect(repairAdvice).toBe(advice);
        const result = judgeFile("frontend", ecosystemFile, ok(fileProbeOutput(ecosystemFile.path, "0664", "limen:limen", "module.exports = {}\n")));
        expect(result).toEqual({
            check: "frontend file /etc/limen/pm2/ecosystem.config.js",
            ok: false,
            detail: `mode: 0664 on the host, 0644 planned; owner: limen:limen on the host, root:root planned; contentSha256: ${sha256("module.exports = {}\n").slice(0, 12)}… on the host, ${sha256(ecosystemFile.content).slice(0, 12)}… planned; ${advice}`,
        });
    });

    it("a secret file's content is only `content differs`: no content, no hash of either side", () => {
        expect(envFile.secret).toBe(true);
        const onHost = "BACKEND_HOST=203.0.113.5\nSESSION_SECRET=leaked-by-hand\n";
        const result = judgeFile("frontend", envFile, ok(fileProbeOutput(envFile.path, "0644", "limen:limen", onHost)));
        expect(result).toEqual({
            check: "frontend file /srv/limen-frontend/.env.production",
            ok: false,
            detail: `mode: 0644 on the host, 0600 planned; content differs; ${advice}`,
        });
        const printed = formatJson([result]) + formatTable("lab", [result]);
        for (const secret of [sha256(onHost), sha256(envFile.content), sha256(onHost).slice(0, 12), sha256(envFile.content).slice(0, 12), "s3cr3t", "leaked-by-hand"]) {
            expect(printed).not.toContain(secret);
        }
    });

    it("a missing file says only that (no mode, owner or content to compare)", () => {
        expect(judgeFile("frontend", envFile, ok(otherProbeOutput(envFile.path, "missing")))).toMatchObject({
            ok: false,
            detail: `state: missing on the host, present planned; ${advice}`,
        });
    });

    it.each([
        ["symlink", "", "a symbolic link"],
        ["fifo", "", "a FIFO"],
        ["directory", "", "a directory"],
        ["hardlink", "2 names", "a hard link (2 names, so it may be any file)"],
        [
            "unsafe",
            "/srv/x is a symbolic link that another user could have placed (/srv can be changed by user limen): not followed",
            "not read: /srv/x is a symbolic link that another user could have placed (/srv can be changed by user limen): not followed",
        ],
    ])("%s at a file's path is named as what it is, not read", (kind, note, said) => {
        expect(judgeFile("frontend", envFile, ok(otherProbeOutput(envFile.path, kind, note)))).toMatchObject({
            ok: false,
            detail: `state: ${said} on the host, present planned; ${advice}`,
        });
    });

    it("a probe that could not run or printed nonsense is a failure that says why, not drift", () => {
        expect(judgeFile("frontend", envFile, ok("", 1, "sudo: a password is required"))).toEqual({
            check: "frontend file /srv/limen-frontend/.env.production",
            ok: false,
            detail: 'reading /srv/limen-frontend/.env.production on the frontend: sudo asks for a password; the deploy user needs passwordless sudo (README, "Set up")',
        });
        expect(judgeFile("frontend", envFile, ok("garbage"))).toMatchObject({
            ok: false,
            detail: "cannot read the state of /srv/limen-frontend/.env.production: unexpected probe output",
        });
        const unreachable = { status: undefined, stdout: "", stderr: "", failure: "ssh ops@192.0.2.10:2222: no answer" };
        expect(judgeFile("frontend", envFile, unreachable).detail).toBe("ssh ops@192.0.2.10:2222: no answer");
    });

    it("the host tool is a root-owned 0755 file with the plan's content", () => {
        const tool = otherPlan.backend.hostTool;
        expect(hostToolFile).toEqual({ mode: "0755", owner: "root:root" });
        expect(judgeHostTool("backend", tool, ok(fileProbeOutput(tool.path, "0755", "root:root", tool.content)))).toEqual({
            check: "backend host tool",
            ok: true,
            detail: "/usr/local/libexec/limen/limen-host 0755 root:root, content as planned",
        });
        const edited = judgeHostTool("backend", tool, ok(fileProbeOutput(tool.path, "0755", "root:root", `${tool.content}\n# edited by hand\n`)));
        expect(edited).toMatchObject({
            check: "backend host tool",
            ok: false,
            detail: expect.stringMatching(/^contentSha256: [0-9a-f]{12}… on the host, [0-9a-f]{12}… planned; run `pulumi up --refresh` to repair$/),
        });
        expect(judgeHostTool("backend", tool, ok(otherProbeOutput(tool.path, "missing")))).toMatchObject({
            ok: false,
            detail: `state: missing on the host, present planned; ${advice}`,
        });
    });

    it("the file probe, run for real on a file here, reads what the judge compares", () => {
        const dir = scratchDir("limen-verify-file-");
        const file: FilePlan = { ...ecosystemFile, path: path.join(dir, "ecosystem.config.js"), owner: "root:root" };
        writeFileSync(file.path, file.content, { mode: 0o644 });
        chmodSync(file.path, 0o644);
        const probe = () => {
            const run = spawnSync("sh", ["-c", fileProbeCommand(file.path)], { encoding: "utf8", env: { ...process.env, PATH: `${sudoShim()}:${process.env.PATH}` } });
            return ok(run.stdout, run.status ?? 1, run.stderr);
        };
        // The owner is whoever runs this test; compared as root:root only when that is root.
        const asRoot = process.getuid?.() === 0;
        const first = judgeFile("frontend", asRoot ? file : { ...file, owner: probe().stdout.split("\t")[2]! }, probe());
        expect(first.ok, first.detail).toBe(true);
        chmodSync(file.path, 0o600);
        expect(judgeFile("frontend", asRoot ? file : { ...file, owner: probe().stdout.split("\t")[2]! }, probe()).detail).toBe(`mode: 0600 on the host, 0644 planned; ${advice}`);
        rmSync(file.path);
        expect(judgeFile("frontend", file, probe()).detail).toBe(`state: missing on the host, present planned; ${advice}`);
    });
});

// ---------------------------------------------------------------------------------------------
// Drift: the firewall, with the probe run for real in a throwaway network namespace.

/** A directory with `sudo` (drops -n and runs the rest) and `systemctl` (prints $LIMEN_TEST_UNIT_STATE) stand-ins. */
let shimDir: string | undefined;
function sudoShim(): string {
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
function scratchFirewall(plan: FirewallPlan): FirewallPlan {
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
 * firewallProbe's command as the host runs it, in a fresh network namespace standing in for the host
 * (its table loaded from the plan, then tampered with); nothing touches this machine's own tables.
 */
function probeFirewall(plan: FirewallPlan, state: HostFirewallState = {}): RemoteResult {
    const dir = scratchDir("limen-verify-nft-");
    writeFileSync(path.join(dir, "loaded.nft"), plan.ruleset);
    const load = state.unloaded ? "true" : `nft -f ${path.join(dir, "loaded.nft")}`;
    const probe = firewallProbe(plan);
    const run = spawnSync("unshare", ["--net", "sh", "-c", `${load} && ${state.tamper ?? "true"} && ${probe.command}`], {
        input: probe.stdin,
        encoding: "utf8",
        env: { ...process.env, PATH: `${sudoShim()}:${process.env.PATH}`, LIMEN_TEST_UNIT_STATE: state.unitState ?? "enabled" },
    });
    if (run.error) throw run.error;
    return ok(run.stdout, run.status ?? 1, run.stderr);
}

const handleOf = (chain: string, rule: string) => `$(nft -a list chain inet limen_firewall ${chain} | sed -n 's/^[[:space:]]*${rule} # handle \\([0-9]*\\)$/\\1/p')`;
const deletePublicPorts = `nft delete rule inet limen_firewall input handle ${handleOf("input", "tcp dport @public_ports accept")}`;

describe("drift: the firewall, probed with nft in a throwaway namespace", () => {
    const backend = scratchFirewall(otherPlan.backend.firewall);
    const frontend = scratchFirewall(otherPlan.frontend.firewall);

    it("the table as rendered, with its boot ruleset and unit, passes on both hosts", () => {
        expect(judgeFirewall("backend", backend, probeFirewall(backend))).toEqual({
            check: "backend firewall",
            ok: true,
            detail: `table inet limen_firewall loaded as rendered; ${backend.locations.bootRuleset} and limen-firewall.service (enabled) as planned`,
        });
        expect(judgeFirewall("frontend", frontend, probeFirewall(frontend)).ok).toBe(true);
    });

    it("counters that count and handles that differ are not drift", () => {
        const dir = scratchDir("limen-verify-counted-");
        writeFileSync(path.join(dir, "counted.nft"), backend.ruleset.replace("counter drop", "counter packets 7 bytes 420 drop"));
        expect(judgeFirewall("backend", backend, probeFirewall(backend, { tamper: `nft -f ${path.join(dir, "counted.nft")}` })).ok).toBe(true);
    });

    it("a rule deleted by hand fails the check, naming the rule, with the repair", () => {
        expect(judgeFirewall("backend", backend, probeFirewall(backend, { tamper: deletePublicPorts }))).toEqual({
            check: "backend firewall",
            ok: false,
            detail: `live: chain input: rule "tcp dport @public_ports accept" is missing on the host, loaded as rendered planned; ${advice}`,
        });
    });

    it.each([
        [
            "an element added to a set",
            "nft add element inet limen_firewall internal_clients_v4 '{ 203.0.113.9 }'",
            "live: set internal_clients_v4 has 203.0.113.9, which the stack does not on the host",
        ],
        ["an element removed", "nft delete element inet limen_firewall internal_ports '{ 9100 }'", "live: set internal_ports lacks 9100 on the host"],
        [
            "a rule added",
            "nft insert rule inet limen_firewall input tcp dport 18443 accept",
            `live: chain input: rule "tcp dport 18443 accept" is not in the stack's ruleset on the host`,
        ],
        [
            "a policy changed",
            "nft add chain inet limen_firewall input '{ type filter hook input priority filter; policy accept; }'",
            'live: chain input is "hook input policy accept prio 0 type filter", the stack says "hook input policy drop prio 0 type filter" on the host',
        ],
        [
            "a rule moved to the top",
            `${deletePublicPorts} && nft insert rule inet limen_firewall input tcp dport @public_ports accept`,
            'live: chain input: rule "tcp dport @public_ports accept" is out of order on the host',
        ],
    ])("%s is reported", (_label, tamper, expected) => {
        expect(judgeFirewall("backend", backend, probeFirewall(backend, { tamper })).detail).toBe(`${expected}, loaded as rendered planned; ${advice}`);
    });

    it("no table loaded, a boot ruleset that is not the plan's, or a disabled unit each fail", () => {
        expect(judgeFirewall("backend", backend, probeFirewall(backend, { unloaded: true })).detail).toBe(`live: missing on the host, loaded as rendered planned; ${advice}`);

        const staleBoot = scratchFirewall(otherPlan.backend.firewall);
        writeFileSync(staleBoot.locations.bootRuleset, "# an older ruleset\n");
        expect(judgeFirewall("backend", staleBoot, probeFirewall(staleBoot)).detail).toBe(
            `bootRulesetSha256: ${sha256("# an older ruleset\n").slice(0, 12)}… on the host, ${staleBoot.rulesetSha256.slice(0, 12)}… planned; ${advice}`,
        );
        rmSync(staleBoot.locations.bootRuleset);
        rmSync(staleBoot.locations.unitPath);
        expect(judgeFirewall("backend", staleBoot, probeFirewall(staleBoot, { unitState: "disabled" })).detail).toBe(
            `bootRulesetSha256: missing on the host, ${staleBoot.rulesetSha256.slice(0, 12)}… planned; bootUnit: disabled on the host, enabled planned; bootUnitSha256: missing on the host, ${sha256(staleBoot.bootUnit.content).slice(0, 12)}… planned; ${advice}`,
        );
    });

    it("no sudo, or output the probe cannot have printed, is a failure that says so", () => {
        expect(judgeFirewall("backend", backend, ok("", 1, "sudo: a password is required")).detail).toMatch(
            /^reading table inet limen_firewall on the backend: sudo asks for a password/,
        );
        expect(judgeFirewall("backend", backend, ok("--- limen-probe: scratch ---\n", 0, "Error: syntax error")).detail).toBe(
            "cannot read the firewall's state: the probe's output is incomplete; the host said: Error: syntax error",
        );
    });

    it("the probe only reads: the plan's ruleset is loaded in a namespace of its own, on stdin", () => {
        const probe = firewallProbe(backend);
        expect(probe.stdin).toBe(backend.ruleset);
        expect(probe.command).toMatch(/^sudo -n sh -c '/);
        expect(probe.command).toContain("unshare --net sh -c");
        // Every nft -f reads stdin, inside the unshare; nothing adds, deletes or flushes.
        expect(probe.command.match(/nft -f \S+/g)).toEqual(["nft -f /dev/stdin"]);
        expect(probe.command).not.toMatch(/nft (add|delete|flush|insert|replace)/);
    });
});

// ---------------------------------------------------------------------------------------------
// Drift: pm2.

const pm2 = otherPlan.frontend.pm2!;
const loadedAt = 1767261000; // when the ecosystem and env file last changed (seconds)
const startedAt = (loadedAt + 60) * 1000; // when the apps started (milliseconds, as pm2 says)

const ss = [
    "LISTEN 0      511        127.0.0.1:9444      0.0.0.0:*",
    "LISTEN 0      511        127.0.0.1:9445      0.0.0.0:*",
    "LISTEN 0      128          0.0.0.0:22        0.0.0.0:*",
    "LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*",
    "LISTEN 0      128             [::]:22           [::]:*",
].join("\n");

const allOnline = ["limen-frontend online", "limen-frontend online", "darc-kr online", "darc-kr online"];

/**
 * pm2ProbeCommand's output: `name status started` lines, the sockets, the boot unit, the record of what
 * the apps loaded, and limen-file's reading of the loaded files (`current`: `sha256  path` lines; without
 * it, each loaded path is a file last changed at loadedAt).
 */
function pm2ProbeOutput(
    processes: string[] = allOnline,
    options: { sockets?: string; unit?: string; started?: number; loaded?: string; current?: string; saved?: string } = {},
): string {
    const listed = processes.some((line) => line === "no-daemon" || line.startsWith("unreadable "));
    return [
        "--- limen-probe: processes ---",
        ...processes.map((line) => (line === "no-daemon" || line.startsWith("unreadable ") ? line : `${line} ${options.started ?? startedAt}`)),
        // pm2ListCommand's last line: what ~/.pm2/dump.pm2 holds, per app.
        ...(listed ? [] : [`saved ${options.saved ?? JSON.stringify({ "limen-frontend": 2, "darc-kr": 2 })}`]),
        "--- limen-probe: sockets ---",
        options.sockets ?? ss,
        "--- limen-probe: unit ---",
        options.unit ?? "enabled",
        "--- limen-probe: loaded ---",
        options.loaded ?? "",
        "--- limen-probe: files ---",
        ...pm2.loadedPaths.map((path, index) => {
            const hash =
                options.current === undefined ? sha256(path) : /^([0-9a-f]{64}) {2}(.*)$/m.exec(options.current.split("\n").find((line) => line.endsWith(`  ${path}`)) ?? "")?.[1];
            return hash ? `file\t0644\troot:root\t${loadedAt - 3600 * index}\t${hash}\t${path}\t` : otherProbeOutput(path, "missing").trimEnd();
        }),
        "",
    ].join("\n");
}

describe("drift: pm2", () => {
    it("every instance online, on its loopback port, resurrected at boot and started after its files changed, passes", () => {
        expect(judgePm2("frontend", pm2, ok(pm2ProbeOutput()))).toEqual({
            check: "frontend pm2",
            ok: true,
            detail: "limen-frontend 2 online on 127.0.0.1:9444, darc-kr 2 online on 127.0.0.1:9445; pm2-limen.service enabled",
        });
    });

    it.each([
        [
            "an errored instance",
            pm2ProbeOutput(["limen-frontend online", "limen-frontend errored", "darc-kr online", "darc-kr online"]),
            "processes of limen-frontend: 1 online, 1 errored on the host, 2 online planned",
        ],
        [
            "a deleted app",
            pm2ProbeOutput(["limen-frontend online", "limen-frontend online"], {
                sockets: ss
                    .split("\n")
                    .filter((l) => !l.includes("9445"))
                    .join("\n"),
            }),
            "processes of darc-kr: missing on the host, 2 online planned; listening of darc-kr: nothing on the host, 127.0.0.1:9445 planned",
        ],
        [
            "an app bound to every address",
            pm2ProbeOutput(allOnline, { sockets: ss.replace("127.0.0.1:9445", "*:9445") }),
            "listening of darc-kr: *:9445 on the host, 127.0.0.1:9445 planned",
        ],
        ["no boot unit", pm2ProbeOutput(allOnline, { unit: "" }), "bootService: not installed on the host, enabled planned"],
        [
            "apps that did not reload after their files changed",
            pm2ProbeOutput(allOnline, { started: (loadedAt - 60) * 1000 }),
            "loadedFiles: limen-frontend, darc-kr run with files that changed since they were loaded on the host, current planned",
        ],
        [
            "apps whose recorded files differ from the files now (a hand edit, no reload)",
            pm2ProbeOutput(allOnline, { loaded: `${"a".repeat(64)}  /srv/limen-frontend/.env.production`, current: `${"b".repeat(64)}  /srv/limen-frontend/.env.production` }),
            "loadedFiles: limen-frontend, darc-kr run with files that changed since they were loaded on the host, current planned",
        ],
        [
            "a saved list deleted by hand (pm2 would bring nothing back at boot)",
            pm2ProbeOutput(allOnline, { saved: "missing" }),
            "savedList: nothing saved: ~/.pm2/dump.pm2 is missing on the host, limen-frontend ×2, darc-kr ×2 planned",
        ],
        [
            "a saved list without one app",
            pm2ProbeOutput(allOnline, { saved: JSON.stringify({ "limen-frontend": 2 }) }),
            "savedList: limen-frontend ×2, darc-kr ×0 on the host, limen-frontend ×2, darc-kr ×2 planned",
        ],
        [
            "a FIFO at the saved list",
            pm2ProbeOutput(allOnline, { saved: "not-a-file" }),
            "savedList: nothing saved: ~/.pm2/dump.pm2 is not a regular file on the host, limen-frontend ×2, darc-kr ×2 planned",
        ],
    ])("%s is drift, with the repair", (_label, stdout, expected) => {
        expect(judgePm2("frontend", pm2, ok(stdout))).toEqual({ check: "frontend pm2", ok: false, detail: `${expected}; ${advice}` });
    });

    it("a file rewritten with the content the apps loaded is not drift, whatever its mtime (the record decides)", () => {
        const record = `${"a".repeat(64)}  /srv/limen-frontend/.env.production`;
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(allOnline, { started: (loadedAt - 60) * 1000, loaded: record, current: record })));
        expect(result.ok).toBe(true);
    });

    it("a loaded file that is missing now is the file's drift, not the apps'", () => {
        const ecosystem = `${"a".repeat(64)}  /etc/limen/pm2/ecosystem.config.js`;
        const env = `${"c".repeat(64)}  /srv/limen-frontend/.env.production`;
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(allOnline, { loaded: `${ecosystem}\n${env}`, current: ecosystem })));
        expect(result).toMatchObject({ ok: true });
    });

    it("no pm2 daemon is drift too (the refresh's update starts and reloads the apps)", () => {
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(["no-daemon"], { sockets: "" })));
        expect(result.detail).toBe(
            "processes of limen-frontend: no pm2 daemon on the host, 2 online planned; processes of darc-kr: no pm2 daemon on the host, 2 online planned; " +
                `listening of limen-frontend: nothing on the host, 127.0.0.1:9444 planned; listening of darc-kr: nothing on the host, 127.0.0.1:9445 planned; ` +
                `savedList: not read: no pm2 daemon on the host, limen-frontend ×2, darc-kr ×2 planned; ${advice}`,
        );
    });

    it("a process list that cannot be read fails the check with pm2's words, never reads as no daemon or no apps", () => {
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(["unreadable 4"]), 0, "limen-probe: pm2: connect EACCES /home/limen/.pm2/rpc.sock"));
        expect(result.ok).toBe(false);
        expect(result.detail).toBe(
            "cannot read pm2's state: listing the pm2 processes of limen failed (exit 4); the host said: limen-probe: pm2: connect EACCES /home/limen/.pm2/rpc.sock",
        );
    });

    it("the probe is asked about the files the apps load, as the Pm2Apps resource asks", () => {
        expect(pm2.loadedPaths).toEqual(["/etc/limen/pm2/ecosystem.config.js", "/srv/limen-frontend/.env.production"]);
        expect(judgePm2("frontend", pm2, ok("", 1, "sudo: a password is required")).detail).toMatch(/^reading pm2's state for limen on the frontend: sudo asks for a password/);
    });

    /** The script `sudo -n -u USER -H sh -c '…'` runs, unquoted. */
    const innerScript = (command: string) => /sh -c ('.*')$/.exec(command)![1]!.slice(1, -1).replace(/'\\''/g, "'");

    it("pm2 commands never start a daemon: without a live one they stop with exit 3", () => {
        const command = pm2Command("limen", "jlist");
        expect(command).toMatch(/^sudo -n -u limen -H sh -c '.*pm2\.pid.*kill -0.*exit 3;.*exec pm2 jlist'$/);
        // The guard, run for real: no pid file, so pm2 is never reached (it would create ~/.pm2).
        const home = scratchDir("limen-verify-home-");
        const run = spawnSync("sh", ["-c", innerScript(command)], { env: { HOME: home, PATH: process.env.PATH }, encoding: "utf8" });
        expect(run.status).toBe(3);
        expect(existsSync(path.join(home, ".pm2"))).toBe(false);
    });

    it("the process list comes from pm2's API in one Node process, found from the pm2 on PATH, without the apps' environment", () => {
        // A stand-in pm2 package laid out as npm installs it (<package>/bin/pm2, reached through a
        // symlink on PATH); its API answers as pm2's does, environment included.
        const root = scratchDir("limen-verify-pm2-");
        const pkg = path.join(root, "lib", "node_modules", "pm2");
        mkdirSync(path.join(pkg, "bin"), { recursive: true });
        writeFileSync(path.join(pkg, "bin", "pm2"), "#!/bin/sh\nexit 99\n", { mode: 0o755 });
        const apps = [
            { name: "limen-frontend", pm2_env: { status: "online", pm_uptime: 1700000000001, BACKEND_HOST: "10.0.0.100", SESSION_SECRET: "s3cret" } },
            { name: "darc-kr", pm2_env: { status: "stopped", pm_uptime: 1700000000002 } },
        ];
        writeFileSync(path.join(pkg, "index.js"), `exports.connect = (cb) => cb(null); exports.list = (cb) => cb(null, ${JSON.stringify(apps)});`);
        mkdirSync(path.join(root, "bin"));
        symlinkSync(path.join(pkg, "bin", "pm2"), path.join(root, "bin", "pm2"));
        const home = path.join(root, "home");
        mkdirSync(path.join(home, ".pm2"), { recursive: true });
        writeFileSync(path.join(home, ".pm2", "pm2.pid"), String(process.pid));
        const env = { HOME: home, PATH: `${path.join(root, "bin")}:${path.dirname(process.execPath)}:/usr/bin:/bin` };
        const run = spawnSync("sh", ["-c", innerScript(pm2ListCommand("limen"))], { env, encoding: "utf8" });
        expect(run.stderr).toBe("");
        expect(run.status).toBe(0);
        expect(run.stdout).toBe("limen-frontend online 1700000000001\ndarc-kr stopped 1700000000002\nsaved missing\n");

        // The saved list, counted per app; a FIFO or a link there is named, never read through or waited on.
        const dump = path.join(home, ".pm2", "dump.pm2");
        writeFileSync(dump, JSON.stringify([{ name: "limen-frontend" }, { name: "limen-frontend" }, { name: "darc-kr" }]));
        const lastLine = () =>
            spawnSync("sh", ["-c", innerScript(pm2ListCommand("limen"))], { env, encoding: "utf8", timeout: 10_000 })
                .stdout.trim()
                .split("\n")
                .at(-1);
        expect(lastLine()).toBe('saved {"limen-frontend":2,"darc-kr":1}');
        rmSync(dump);
        spawnSync("mkfifo", [dump]);
        expect(lastLine()).toBe("saved not-a-file");
        rmSync(dump);
        symlinkSync(path.join(home, ".pm2", "pm2.pid"), dump);
        expect(lastLine()).toBe("saved unreadable");
        rmSync(dump);

        // An API error is a failed look (exit 4, pm2's words), never an empty list.
        writeFileSync(path.join(pkg, "index.js"), `exports.connect = (cb) => cb(new Error("connect EACCES rpc.sock"));`);
        const failed = spawnSync("sh", ["-c", innerScript(pm2ListCommand("limen"))], { env, encoding: "utf8" });
        expect(failed.status).toBe(4);
        expect(failed.stdout).toBe("");
        expect(failed.stderr).toBe("limen-probe: pm2: connect EACCES rpc.sock\n");

        // And without a live daemon it never loads pm2 (whose connect would start one).
        writeFileSync(path.join(home, ".pm2", "pm2.pid"), "999999999");
        const noDaemon = spawnSync("sh", ["-c", innerScript(pm2ListCommand("limen"))], { env, encoding: "utf8" });
        expect(noDaemon.status).toBe(3);
        expect(pm2ProbeCommand("limen", [], pm2MarkerDir)).toContain(pm2ListCommand("limen").replace(/'/g, "'\\''"));
    });
});

// ---------------------------------------------------------------------------------------------
// The runbook's checks.

const postResponse = [
    "HTTP/1.1 100 Continue",
    "",
    "HTTP/1.1 200 OK",
    "content-type: application/json",
    "set-cookie: limen_session=abc123secret; Path=/; HttpOnly; SameSite=Lax",
    "Set-Cookie: theme=dark",
    "",
    '{"created":true}',
    "limen-verify-http-status:200",
]
    .join("\r\n")
    .replace(/\r\nlimen-verify/, "\nlimen-verify");

describe("the runbook's checks", () => {
    it("health: 2xx passes; a timeout points at the backend firewall, a refusal at the listener", () => {
        expect(healthUrl(other)).toBe("http://192.0.2.100:18443/api/health");
        expect(judgeHealth(ok('{"status":"ok"}\nlimen-verify-http-status:200'), other)).toEqual({
            check: "backend-health",
            ok: true,
            detail: 'http://192.0.2.100:18443/api/health answered 200 from the frontend: {"status":"ok"}',
        });
        expect(judgeHealth(ok("\nlimen-verify-http-status:000", 28, "curl: (28) Connection timed out after 5001 milliseconds"), other).detail).toMatch(
            /timed out .*internal_clients_v4.*18443 in internal_ports \(see `backend firewall`\)/,
        );
        expect(judgeHealth(ok("\nlimen-verify-http-status:000", 7, "curl: (7) Failed to connect to 192.0.2.100 port 18443: Connection refused"), other).detail).toMatch(
            /ss -ltnp 'sport = :18443'/,
        );
        expect(judgeHealth(ok("bad gateway\nlimen-verify-http-status:502"), other)).toMatchObject({ ok: false, detail: expect.stringMatching(/answered 502/) });
        expect(judgeHealth({ status: undefined, stdout: "", stderr: "", failure: "ssh ops@192.0.2.10:2222: no answer" }, other).detail).toBe("ssh ops@192.0.2.10:2222: no answer");
    });

    it("curl commands bracket IPv6 and keep the status on its own line", () => {
        const v6 = parseConfig(withOverride(otherRawConfig(), "backend", { internalAddress: "2001:db8::100" }));
        expect(healthUrl(v6)).toBe("http://[2001:db8::100]:18443/api/health");
        expect(curlCommand(healthUrl(v6))).toBe("curl -sS -g -m 5 -w '\\nlimen-verify-http-status:%{http_code}' 'http://[2001:db8::100]:18443/api/health'");
    });

    it("session: Set-Cookie is read from the final response; the GET sends it and must say valid", () => {
        expect(parseSetCookies(postResponse)).toEqual([
            { pair: "limen_session=abc123secret", name: "limen_session", attributes: "Path=/; HttpOnly; SameSite=Lax" },
            { pair: "theme=dark", name: "theme", attributes: "" },
        ]);
        const created = judgeSessionCreate(ok(postResponse), other);
        if (!("cookies" in created)) throw new Error(`the POST was judged a failure: ${created.detail}`);
        const valid = judgeSessionValid(created, ok('{"valid":true}\nlimen-verify-http-status:200'), other);
        expect(valid).toEqual({
            check: "session-cookie",
            ok: true,
            detail: 'POST gave Set-Cookie limen_session (Path=/; HttpOnly; SameSite=Lax), theme; GET with it: {"valid":true}',
        });
        const invalid = judgeSessionValid(created, ok('{"valid":false}\nlimen-verify-http-status:200'), other);
        expect(invalid).toMatchObject({ ok: false, detail: expect.stringMatching(/does not pass the Cookie header/) });
        expect(invalid.detail).not.toContain("abc123secret");
    });

    it("session: no Set-Cookie, or a backend error, fails with the runbook's next step", () => {
        const noCookie = judgeSessionCreate(ok("HTTP/1.1 200 OK\r\n\r\n{}\nlimen-verify-http-status:200"), other);
        expect(noCookie).toMatchObject({ ok: false, detail: expect.stringMatching(/without Set-Cookie.*curl -si -X POST http:\/\/192\.0\.2\.100:18443\/api\/auth\/session/) });
        const badGateway = judgeSessionCreate(ok("HTTP/1.1 502 Bad Gateway\r\n\r\n\nlimen-verify-http-status:502"), other);
        expect(badGateway).toMatchObject({ ok: false, detail: expect.stringMatching(/answered 502.*BACKEND_HOST=192\.0\.2\.100 and BACKEND_PORT=18443/) });
        const down = judgeSessionCreate(ok("\nlimen-verify-http-status:000", 7, "curl: (7) Failed to connect to 127.0.0.1 port 9444: Connection refused"), other);
        expect(down).toMatchObject({ ok: false, detail: expect.stringMatching(/is limen-frontend up\? \(see `frontend pm2`\)$/) });
        expect(sessionUrl(other)).toBe("http://127.0.0.1:9444/api/auth/session");
    });

    it("app ports: the app's loopback address only passes; another address or no listener fails", () => {
        expect(judgeAppPorts(ok(ss), other)).toEqual({ check: "app-ports-loopback", ok: true, detail: "9444 and 9445 listen on 127.0.0.1 only" });
        const exposed = judgeAppPorts(ok(`${ss}\nLISTEN 0 511 *:9445 *:*`), other);
        expect(exposed).toMatchObject({ ok: false, detail: expect.stringMatching(/9445 \(darc-kr\) also listens on \* \(every address\)/) });
        const v6 = judgeAppPorts(ok(`${ss}\nLISTEN 0 511 [::]:9444 [::]:*`), other);
        expect(v6).toMatchObject({ ok: false, detail: expect.stringMatching(/9444 \(limen-frontend\) also listens on \[::\]/) });
        const down = judgeAppPorts(ok(ss.split("\n").slice(1).join("\n")), other);
        expect(down).toMatchObject({ ok: false, detail: expect.stringMatching(/^nothing listens on 9444 \(limen-frontend down\?/) });
    });
});

describe("the runbook's proxy-log: the middleware's lines for verify's own request", () => {
    const backend = "http://192.0.2.100:18443";
    const clock = ok("2026-01-01T10:00:05\n");
    const older = `0|limen-fr | 2026-01-01T09:59:00: Proxy POST /api/auth/session -> ${backend}/api/auth/session session`;
    const post = `0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> ${backend}/api/auth/session session`;
    const get = `\x1b[32m1|limen-fr | 2026-01-01T10:00:06: Proxy GET /api/auth/session -> ${backend}/api/auth/session session\x1b[39m`;
    const logs = (...lines: string[]) =>
        ok(["[TAILING] Tailing last 1000 lines for [limen-frontend] process", "/home/limen/.pm2/logs/limen-frontend-out-0.log last 1000 lines:", ...lines, ""].join("\n"));

    it("reads the logs of the apps' user without starting pm2, and the clock in pm2's own format", () => {
        expect(proxyLogCommand(other)).toBe(pm2Command("limen", "logs", "limen-frontend", "--nostream", "--lines", "1000"));
        expect(hostClockCommand).toBe("env -u TZ date +%Y-%m-%dT%H:%M:%S");
        expect(backendOrigin(other)).toBe(backend);
    });

    it("parses the middleware's line: method, path, target", () => {
        expect(parseProxyLine(post)).toEqual({ stamp: "2026-01-01T10:00:05", method: "POST", path: "/api/auth/session", target: `${backend}/api/auth/session` });
        expect(parseProxyLine("0|limen-fr | Proxy POST /api/auth/session -> no backend: BACKEND_HOST/BACKEND_PORT unset")).toMatchObject({
            stamp: undefined,
            target: "no backend: BACKEND_HOST/BACKEND_PORT unset",
        });
        expect(proxySessionLines([get, older, "0|limen-fr | 2026-01-01T10:00:05: Proxy GET /api/health -> x", post].join("\n"))).toEqual([
            older,
            post,
            get.replace(/\x1b\[[0-9;]*m/g, ""),
        ]);
    });

    it("passes when the POST verify made is logged since its clock reading, sent to the backend", () => {
        const result = judgeProxyLog(clock, logs(older, post, get), other);
        expect(result).toEqual({
            check: "proxy-log",
            ok: true,
            detail: `verify's POST passed the middleware to ${backend}: 2 Proxy … session line(s) since 2026-01-01T10:00:05 (below)`,
            lines: [post, get.replace(/\x1b\[[0-9;]*m/g, "")],
        });
    });

    it("fails when only older lines are there: verify's own request did not pass the middleware", () => {
        const result = judgeProxyLog(clock, logs(older), other);
        expect(result).toEqual({
            check: "proxy-log",
            ok: false,
            detail: "no `Proxy POST /api/auth/session` line since 2026-01-01T10:00:05 (the frontend's clock) in the last 1000 lines of pm2 logs limen-frontend: verify's own POST http://127.0.0.1:9444/api/auth/session did not pass the middleware (the latest older lines are below)",
            lines: [older],
        });
        expect(judgeProxyLog(clock, logs(), other)).toMatchObject({ ok: false, lines: [], detail: expect.stringMatching(/did not pass the middleware$/) });
        // A GET is not the POST verify made.
        expect(judgeProxyLog(clock, logs(get), other).ok).toBe(false);
    });

    it.each([
        ["another host", "http://203.0.113.5:18443/api/auth/session", "http://203.0.113.5:18443/api/auth/session"],
        ["another port", "http://192.0.2.100:8443/api/auth/session", "http://192.0.2.100:8443/api/auth/session"],
        ["https", "https://192.0.2.100:18443/api/auth/session", "https://192.0.2.100:18443/api/auth/session"],
    ])("fails when the target is %s", (_label, target, named) => {
        const result = judgeProxyLog(clock, logs(`0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> ${target} session`), other);
        expect(result.ok).toBe(false);
        expect(result.detail).toBe(
            `since 2026-01-01T10:00:05 the middleware sent session requests to ${named}, not ${backend}: \`.env.production\` must read BACKEND_HOST=192.0.2.100 and BACKEND_PORT=18443 (see \`frontend file /srv/limen-frontend/.env.production\`)`,
        );
    });

    it("fails when the middleware has no backend configured", () => {
        const result = judgeProxyLog(clock, logs("0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> no backend: BACKEND_HOST/BACKEND_PORT unset"), other);
        expect(result).toMatchObject({
            ok: false,
            detail: expect.stringMatching(/^since 2026-01-01T10:00:05 the middleware sent session requests to no backend: BACKEND_HOST\/BACKEND_PORT unset, not http/),
        });
    });

    it("an IPv6 backend is compared as an origin, brackets and all", () => {
        const v6 = parseConfig(withOverride(otherRawConfig(), "backend", { internalAddress: "2001:db8::100" }));
        const line = (target: string) => logs(`0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> ${target}/api/auth/session session`);
        expect(judgeProxyLog(clock, line("http://[2001:db8::100]:18443"), v6).ok).toBe(true);
        expect(judgeProxyLog(clock, line("http://[2001:db8::101]:18443"), v6).ok).toBe(false);
    });

    it("fails when it cannot tell verify's request from older ones, or cannot read the clock or the logs", () => {
        const unstamped = judgeProxyLog(clock, logs(`0|limen-fr | Proxy POST /api/auth/session -> ${backend}/api/auth/session session`), other);
        expect(unstamped).toMatchObject({ ok: false, detail: expect.stringMatching(/carry no timestamp.*time: true.*frontend file \/etc\/limen\/pm2\/ecosystem\.config\.js/) });
        expect(judgeProxyLog(ok("", 127, "sh: date: not found"), logs(post), other)).toMatchObject({ ok: false, detail: "date on the frontend: sh: date: not found" });
        expect(judgeProxyLog(ok("Thu Jan  1 10:00:05 UTC 2026\n"), logs(post), other)).toMatchObject({
            ok: false,
            detail: expect.stringMatching(/^cannot read the frontend's clock/),
        });
        expect(judgeProxyLog(clock, ok("", 3, "limen-probe: no pm2 daemon runs for limen"), other)).toMatchObject({
            ok: false,
            detail: expect.stringMatching(/no pm2 daemon runs for limen.*frontend pm2/),
        });
        const unreachable = { status: undefined, stdout: "", stderr: "", failure: "ssh ops@192.0.2.10:2222: no answer" };
        expect(judgeProxyLog(unreachable, unreachable, other)).toEqual({ check: "proxy-log", ok: false, detail: "ssh ops@192.0.2.10:2222: no answer", lines: [] });
    });
});

// ---------------------------------------------------------------------------------------------
// Every check, against stand-in hosts.

interface HostChanges {
    /** nft commands run on the backend after its table is loaded. */
    backendTamper?: string;
    /** What the frontend's env file holds instead of the plan's content. */
    envFileOnHost?: string;
    /** The Proxy line's target instead of the backend. */
    proxyTarget?: string;
}

/** The firewall probe's output per host and change, run once each: nft in a namespace takes a moment. */
const firewallOutputs = new Map<string, RemoteResult>();

/** Answers each command verify runs the way converged hosts would (with `changes` applied), or throws. */
function standInHosts(
    config: LimenConfig,
    plan: StackPlan,
    changes: HostChanges = {},
): { answer: (role: HostRole, command: string, stdin?: string) => RemoteResult; asked: string[] } {
    const asked: string[] = [];
    const firewalls = { frontend: scratchFirewall(plan.frontend.firewall), backend: scratchFirewall(plan.backend.firewall) };
    const answer = (role: HostRole, command: string, stdin?: string): RemoteResult => {
        asked.push(`${role}: ${command}`);
        const host = plan[role];
        // The stand-in's boot files live elsewhere, so its probe is matched by the plan's own command.
        if (command === firewallProbe(host.firewall).command) {
            expect(stdin).toBe(host.firewall.ruleset);
            const tamper = role === "backend" ? changes.backendTamper : undefined;
            const key = `${role}|${tamper ?? ""}`;
            if (!firewallOutputs.has(key)) firewallOutputs.set(key, probeFirewall(firewalls[role], { tamper }));
            return firewallOutputs.get(key)!;
        }
        if (command === fileProbeCommand(host.hostTool.path)) return ok(fileProbeOutput(host.hostTool.path, hostToolFile.mode, hostToolFile.owner, host.hostTool.content));
        for (const file of host.files) {
            if (command !== fileProbeCommand(file.path)) continue;
            const content = file.name === "env-production" && changes.envFileOnHost !== undefined ? changes.envFileOnHost : file.content;
            return ok(fileProbeOutput(file.path, file.mode, file.owner, content));
        }
        if (host.pm2 && command === pm2ProbeCommand(host.pm2.user, host.pm2.loadedPaths, pm2MarkerDir)) return ok(pm2ProbeOutput());
        for (const certificate of host.certificates) {
            if (command !== certificateProbe(certificate)) continue;
            return ok(
                `present=yes\nnot-after=${opensslDate(new Date(Date.now() + 60 * 86_400_000))}\nnames=${certificate.domains.join(",")}\nissuer=CN=stand-in\nkey=matches\nchain=ok\n`,
            );
        }
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

const remoteFor = (hosts: ReturnType<typeof standInHosts>): Remote => ({ run: async (role, command, stdin) => hosts.answer(role, command, stdin) });

async function collect(results: AsyncIterable<CheckResult>): Promise<CheckResult[]> {
    const all: CheckResult[] = [];
    for await (const result of results) all.push(result);
    return all;
}

const allCheckNames = [
    "backend-health",
    "session-cookie",
    "proxy-log",
    "app-ports-loopback",
    "frontend host tool",
    "frontend firewall",
    "frontend file /etc/limen/pm2/ecosystem.config.js",
    "frontend file /srv/limen-frontend/.env.production",
    "frontend file /etc/limen/envoy/tls/fullchain.pem",
    "frontend file /etc/limen/envoy/tls/privkey.pem",
    "frontend file /etc/limen/envoy/envoy.yaml",
    "frontend pm2",
    "backend host tool",
    "backend firewall",
    "frontend certificate sites",
];

describe("every check, against stand-in hosts", () => {
    it("converged hosts pass every check: the runbook's, then one per artifact of each host's plan", async () => {
        const hosts = standInHosts(other, otherPlan);
        const results = await collect(runChecks(other, otherPlan, remoteFor(hosts)));
        expect(
            results.map((r) => [r.check, r.ok]),
            JSON.stringify(results, null, 2),
        ).toEqual(allCheckNames.map((name) => [name, true]));
        expect(exitCode(results)).toBe(0);
        // The clock is read before the POST, the logs right after the session check.
        expect(hosts.asked.slice(0, 6)).toEqual([
            `frontend: ${curlCommand(healthUrl(other))}`,
            `frontend: ${hostClockCommand}`,
            `frontend: ${curlCommand(sessionUrl(other), "-i", "-X", "POST")}`,
            `frontend: ${curlCommand(sessionUrl(other), "-H", "Cookie: limen_session=abc123secret; theme=dark")}`,
            `frontend: ${proxyLogCommand(other)}`,
            "frontend: ss -Hltn",
        ]);
    });

    it("every artifact of the plan has its check: files, host tools, firewalls, pm2", () => {
        const artifacts = (["frontend", "backend"] as const).flatMap((role) => {
            const host = otherPlan[role];
            return [`${role} host tool`, `${role} firewall`, ...host.files.map((file) => `${role} file ${file.path}`), ...(host.pm2 ? [`${role} pm2`] : [])];
        });
        const certificates = otherPlan.frontend.certificates.map((certificate) => `frontend certificate ${certificate.name}`);
        expect(certificates).toEqual(["frontend certificate sites"]);
        expect(allCheckNames.slice(4)).toEqual([...artifacts, ...certificates]);
    });

    it("drift and a wrong proxy target fail their checks only, with the repair and without secrets", async () => {
        const hosts = standInHosts(other, otherPlan, {
            backendTamper: deletePublicPorts,
            envFileOnHost: "BACKEND_HOST=203.0.113.5\nSESSION_SECRET=s3cr3t-$ession-value\n",
            proxyTarget: "http://203.0.113.5:18443",
        });
        const results = await collect(runChecks(other, otherPlan, remoteFor(hosts)));
        const failed = results.filter((r) => !r.ok);
        expect(failed.map((r) => r.check)).toEqual(["proxy-log", "frontend file /srv/limen-frontend/.env.production", "backend firewall"]);
        expect(failed[1]!.detail).toBe(`content differs; ${advice}`);
        expect(failed[2]!.detail).toBe(`live: chain input: rule "tcp dport @public_ports accept" is missing on the host, loaded as rendered planned; ${advice}`);
        expect(exitCode(results)).toBe(1);
        const printed = formatJson(results) + formatTable("lab", results);
        for (const secret of ["s3cr3t", "abc123secret", sha256(envFile.content).slice(0, 12), "c2VjcmV0LXRscy1rZXk="]) expect(printed).not.toContain(secret);
    });

    it("a host that cannot be reached fails each of its checks with the SSH reason; the other host is still checked", async () => {
        const converged = standInHosts(other, otherPlan);
        const pinned = `ssh ops@192.0.2.10:2222: the host key it presented is not the one pinned in limen:frontend.hostKey`;
        let frontendDials = 0;
        const runOn: RunOnHost = async (target, _key, command, options = {}) => {
            if (target.role === "frontend") {
                frontendDials++;
                throw sshError(pinned);
            }
            return toExec(converged.answer(target.role as HostRole, command, options.stdin));
        };
        const results = await collect(runChecks(other, otherPlan, new PlannedHosts({ frontend: otherPlan.frontend.ssh, backend: otherPlan.backend.ssh }, "key", runOn)));
        const byName = Object.fromEntries(results.map((r) => [r.check, r]));
        for (const name of allCheckNames.filter((check) => !check.startsWith("backend "))) expect(byName[name], name).toMatchObject({ ok: false, detail: pinned });
        expect(byName["backend firewall"]!.ok).toBe(true);
        expect(byName["backend host tool"]!.ok).toBe(true);
        // Dialled once: the later checks on that host report the first failure.
        expect(frontendDials).toBe(1);
    });
});

const toExec = (result: RemoteResult) => ({ status: result.status ?? 255, stdout: result.stdout, stderr: result.stderr });

// ---------------------------------------------------------------------------------------------
// The SSH wrapper.

describe("SSH: hostio/ssh.ts with the plan's endpoints, nothing on disk", () => {
    const endpoint = (role: HostRole): SshEndpoint => ({ ...otherPlan[role].ssh });

    it("passes the plan's endpoint, the key and stdin to runOnHost, and returns its result", async () => {
        const calls: unknown[][] = [];
        const runOn: RunOnHost = async (...args) => {
            calls.push(args);
            return { status: 0, stdout: "out", stderr: "" };
        };
        const hosts = new PlannedHosts({ frontend: endpoint("frontend"), backend: endpoint("backend") }, "the key", runOn);
        expect(await hosts.run("backend", "cat", "in")).toEqual({ status: 0, stdout: "out", stderr: "" });
        expect(await hosts.run("frontend", "true")).toEqual({ status: 0, stdout: "out", stderr: "" });
        expect(calls).toEqual([
            [otherPlan.backend.ssh, "the key", "cat", { stdin: "in" }],
            [otherPlan.frontend.ssh, "the key", "true", {}],
        ]);
    });

    it("an error after the connection is up fails that command only; a hung command times out", async () => {
        let calls = 0;
        const flaky: RunOnHost = async () => {
            calls++;
            if (calls === 1) throw new Error("Channel open failure: open failed");
            return { status: 0, stdout: "fine", stderr: "" };
        };
        const hosts = new PlannedHosts({ frontend: endpoint("frontend"), backend: endpoint("backend") }, "key", flaky);
        expect(await hosts.run("frontend", "true")).toEqual({ status: undefined, stdout: "", stderr: "", failure: "frontend (192.0.2.10): Channel open failure: open failed" });
        expect((await hosts.run("frontend", "true")).stdout).toBe("fine");
        const hung = new PlannedHosts({ frontend: endpoint("frontend"), backend: endpoint("backend") }, "key", () => new Promise(() => undefined), 0.05);
        expect((await hung.run("backend", "nft list ruleset")).failure).toBe("backend (192.0.2.100): the backend did not finish a command within 0.05 s");
    });

    // Port 1 on loopback: refused at once, no packet leaves this machine.
    const local: SshEndpoint = { role: "frontend", address: "127.0.0.1", port: 1, user: "ops", hostKey: other.frontend.hostKey, connectAttempts: 1, connectTimeoutSeconds: 2 };

    /** The real runOnHost, counting its calls. */
    function countingRunOnHost(): { runOn: RunOnHost; dials: () => number } {
        let dials = 0;
        return {
            runOn: (...args) => {
                dials++;
                return runOnHost(...args);
            },
            dials: () => dials,
        };
    }

    it("the real client against a closed local port: refused at once, reported once, never the key", async () => {
        const key = generateKeyPairSync("ec", {
            namedCurve: "P-256",
            privateKeyEncoding: { type: "sec1", format: "pem" },
            publicKeyEncoding: { type: "spki", format: "pem" },
        }).privateKey;
        const counting = countingRunOnHost();
        const hosts = new PlannedHosts({ frontend: local, backend: { ...local, role: "backend" } }, key, counting.runOn);
        const first = await hosts.run("frontend", "true");
        expect(first.failure).toBe("ssh ops@127.0.0.1:1: connection refused: sshd is not listening on port 1");
        expect(await hosts.run("frontend", "true")).toEqual(first);
        expect(counting.dials()).toBe(1);
        expect(JSON.stringify(first)).not.toContain(key.split("\n")[1]!);
    });

    it("a key ssh2 cannot read fails every check of the host with the config key to fix, dialled once", async () => {
        const counting = countingRunOnHost();
        const hosts = new PlannedHosts({ frontend: local, backend: { ...local, role: "backend" } }, other.sshPrivateKey, counting.runOn);
        const first = await hosts.run("frontend", "true");
        expect(first.failure).toBe("ssh ops@127.0.0.1:1: limen:sshPrivateKey cannot be read as an unencrypted private key");
        expect(await hosts.run("frontend", "true")).toEqual(first);
        expect(counting.dials()).toBe(1);
        expect(JSON.stringify(first)).not.toContain("bGFiLW9ubHkgdGVzdCBrZXk=");
    });
});

// ---------------------------------------------------------------------------------------------
// The config, and the whole command.

/** A stand-in `pulumi` that prints `config --json` for a raw config map, or fails like the CLI. */
function fakePulumi(raw: Record<string, string> | undefined, secretKeys: string[] = ["limen:sshPrivateKey"], textKeys: string[] = []): string {
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

describe("the stack's config, read through the pulumi CLI and the program's own schema", () => {
    it("LIMEN_PULUMI_BIN picks the CLI; the default is `pulumi` from PATH", () => {
        expect(pulumiCliFromEnv({}).bin).toBe("pulumi");
        expect(pulumiCliFromEnv({ LIMEN_PULUMI_BIN: "/opt/pulumi/bin/pulumi" }).bin).toBe("/opt/pulumi/bin/pulumi");
        expect(existsSync(path.join(pulumiCliFromEnv({}).cwd, "Pulumi.yaml"))).toBe(true);
    });

    it("parses the CLI's JSON into the config the program sees", () => {
        const bin = fakePulumi(otherRawConfig(), ["limen:sshPrivateKey", "limen:tlsPrivateKey", "limen:envProductionSecrets"]);
        expect(readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toEqual(other);
    });

    it("refuses what `pulumi up` refuses, with the same messages", () => {
        const bin = fakePulumi(withOverride(prodRawConfig(), "backend", { address: "127.1" }));
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(ConfigError);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(
            /limen:backend\.address = "127\.1": the backend address must not be a loopback address/,
        );
        // A secret stored in plain text is refused too (the CLI says which keys are secret).
        const plain = fakePulumi(prodRawConfig(), []);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: plain }))).toThrow(/limen:sshPrivateKey \(secret\): is stored in plain text/);
    });

    it("says exactly what `pulumi up` says: the same ConfigError, line for line", () => {
        const raw = withOverride(withOverride(prodRawConfig(), "backend", { apiPort: "18443", address: " 127.0.0.1" }), "ssh", { port: 443 });
        let expected = "";
        try {
            parseConfig(raw);
        } catch (error) {
            expected = (error as ConfigError).message;
        }
        expect(expected).toMatch(/^limen: 3 configuration problem\(s\)/);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(raw) }))).toThrow(ConfigError);
        try {
            readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(raw) }));
        } catch (error) {
            expect((error as ConfigError).message).toBe(expected);
        }
    });

    it("a key stored as one JSON text (set without --path) is refused with how to set it, where a program could not tell", () => {
        const raw = withOverride(prodRawConfig(), "ssh", { port: 2222 });
        const bin = fakePulumi(raw, ["limen:sshPrivateKey"], ["limen:ssh"]);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(
            /limen:ssh = .*: must be a map with the fields .* \(it is one text holding JSON, not a map .*`pulumi config set --path 'limen:ssh\.user' deploy`/,
        );
        expect(rawConfigFromCliJson(JSON.stringify({ "limen:ssh": { value: '{"port":22}', secret: false } })).storedAsText).toEqual(new Set(["limen:ssh"]));
        expect(rawConfigFromCliJson(JSON.stringify({ "limen:ssh": { value: '{"port":22}', objectValue: { port: 22 }, secret: false } })).storedAsText).toEqual(new Set());
    });

    it.each([
        [
            "config:\n  limen:ssh:\n    user: deploy\n   port: 22\n",
            /^Pulumi\.prod\.yaml is not valid YAML \(line 4, column \d+: [^)]+\): fix that line, or take the file back from version control; `pulumi config set/,
        ],
        ["config:\n  limen:sshPrivateKey: -----BEGIN KEY: hunter2\n  - x\n", /^Pulumi\.prod\.yaml is not valid YAML \(line \d+, column \d+: [^)]+\)/],
        ["- config\n", /^Pulumi\.prod\.yaml must be a YAML map with a `config:` map/],
        ["config: [a, b]\n", /^Pulumi\.prod\.yaml: `config:` must be a map of `limen:<key>: <value>` entries/],
    ])("a stack file that is not a stack file (%j) is named, with the line, never its text", (text, message) => {
        const cwd = scratchDir("limen-stack-file-");
        writeFileSync(path.join(cwd, "Pulumi.prod.yaml"), text);
        const cli = { ...pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(undefined) }), cwd };
        let thrown: Error | undefined;
        try {
            readStackConfig("prod", cli);
        } catch (error) {
            thrown = error as Error;
        }
        expect(thrown).toBeInstanceOf(StackConfigError);
        expect(thrown!.message).toMatch(message);
        expect(thrown!.message).toMatch(/\(pulumi config --stack prod said: error: no stack named 'prod' found\)$/);
        expect(thrown!.message).not.toContain("hunter2");
    });

    it("a CLI that fails or is missing is reported, never a config value", () => {
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(undefined) }))).toThrow(
            new StackConfigError("pulumi config --stack prod failed: error: no stack named 'prod' found"),
        );
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: "/nonexistent/pulumi" }))).toThrow(
            /not found as "\/nonexistent\/pulumi": install it or set LIMEN_PULUMI_BIN/,
        );
        expect(() => rawConfigFromCliJson(JSON.stringify({ "limen:sshPrivateKey": { secret: true } }))).toThrow(/did not show the secret limen:sshPrivateKey/);
        expect(rawConfigFromCliJson(JSON.stringify({ "limen:apps": { objectValue: { user: "limen" }, secret: false } })).raw).toEqual({ "limen:apps": '{"user":"limen"}' });
    });
});

describe("npm run verify, end to end with a stand-in pulumi and stand-in hosts", () => {
    const secretKeys = ["limen:sshPrivateKey", "limen:tlsPrivateKey", "limen:envProductionSecrets"];

    /** main() with its stdout and stderr captured. */
    async function runMain(argv: string[], env: NodeJS.ProcessEnv, changes?: HostChanges): Promise<{ code: number; stdout: string; stderr: string; keys: string[] }> {
        const hosts = standInHosts(other, otherPlan, changes);
        const keys: string[] = [];
        const runOn: RunOnHost = async (target, key, command, options = {}) => {
            keys.push(key);
            return toExec(hosts.answer(target.role as HostRole, command, options.stdin));
        };
        const out: string[] = [];
        const err: string[] = [];
        const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => out.push(String(chunk)) > 0);
        const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => err.push(String(chunk)) > 0);
        try {
            const code = await main(argv, env, runOn);
            return { code, stdout: out.join(""), stderr: err.join(""), keys };
        } finally {
            stdout.mockRestore();
            stderr.mockRestore();
        }
    }

    it("exit 0 and a JSON row per check when the hosts are as planned; the key is the config's", async () => {
        const run = await runMain(["--stack", "prod", "--json"], { LIMEN_PULUMI_BIN: fakePulumi(otherRawConfig(), secretKeys) });
        expect(run.code).toBe(0);
        const rows = JSON.parse(run.stdout) as { check: string; ok: boolean }[];
        expect(rows.map((row) => row.check)).toEqual(allCheckNames);
        expect(new Set(run.keys)).toEqual(new Set([other.sshPrivateKey]));
    });

    it("exit 1 on drift, the table naming it", async () => {
        const run = await runMain(["--stack", "prod"], { LIMEN_PULUMI_BIN: fakePulumi(otherRawConfig(), secretKeys) }, { backendTamper: deletePublicPorts });
        expect(run.code).toBe(1);
        expect(run.stdout).toMatch(
            /^backend firewall +FAIL +live: chain input: rule "tcp dport @public_ports accept" is missing on the host, loaded as rendered planned; run `pulumi up --refresh` to repair$/m,
        );
        expect(run.stdout.trim().split("\n").at(-1)).toBe(`1 of ${allCheckNames.length} checks failed`);
    });

    it("exit 2 and no host asked: a refused config, a usage error, or verify's flags taken by npm", async () => {
        const refused = await runMain(["--stack", "prod", "--json"], { LIMEN_PULUMI_BIN: fakePulumi(withOverride(prodRawConfig(), "backend", { address: "127.1" })) });
        expect(refused.code).toBe(2);
        expect(JSON.parse(refused.stdout)).toEqual([{ check: "config", ok: false, detail: expect.stringMatching(/limen:backend\.address = "127\.1"/) }]);
        expect(refused.keys).toEqual([]);

        // Without --json, the lines `pulumi up` prints, as they are.
        const broken = withOverride(withOverride(prodRawConfig(), "backend", { address: "127.1", apiPort: "18443" }), "ssh", { port: 443 });
        const table = await runMain(["--stack", "prod"], { LIMEN_PULUMI_BIN: fakePulumi(broken) });
        let expected = "";
        try {
            parseConfig(broken);
        } catch (error) {
            expected = (error as ConfigError).message;
        }
        expect(table).toMatchObject({ code: 2, stdout: "", stderr: `limen verify: ${expected}\n`, keys: [] });

        const usage = await runMain(["--stack", "prod", "--jsn"], {});
        expect(usage).toMatchObject({ code: 2, stdout: "", keys: [] });
        expect(usage.stderr).toMatch(/unknown argument "--jsn"/);

        // `npm run verify --json -- --stack prod`: npm kept --json; without the check this printed a table.
        const npm = await runMain(["--stack", "prod"], { npm_lifecycle_event: "verify", npm_config_json: "true", LIMEN_PULUMI_BIN: fakePulumi(otherRawConfig(), secretKeys) });
        expect(npm).toMatchObject({ code: 2, stdout: "", keys: [] });
        expect(npm.stderr).toMatch(/npm read --json as its own option/);
    });
});

// ---------------------------------------------------------------------------------------------
// Certificates: the probe run for real on pairs made here with openssl, judged at chosen dates.

describe("certificates: the probe run for real, judged by days left, names, key and chain", () => {
    const dir = scratchDir("limen-verify-tls-");
    /** A self-signed pair for `names`, valid `days`, in `dir/<label>/`. */
    const pair = (label: string, names: string[], days: number) => selfSignedPair(path.join(dir, label), names, days);
    const served = (files: { chainPath: string; keyPath: string }, domains: string[], lineageDir?: string): CertificatePlan => ({
        name: "limen",
        domains,
        ...files,
        sdsPath: undefined,
        acme: lineageDir
            ? {
                  email: "ops@example.org",
                  directoryUrl: "https://acme.example.org/dir",
                  responder: { address: "127.0.0.1", port: 8402 },
                  lineageDir,
                  publishDir: path.dirname(files.chainPath),
                  renewalHook: "/nonexistent",
              }
            : undefined,
    });
    const probe = (certificate: CertificatePlan, units: { timer?: string; lastRun?: string } = {}) => {
        const env = {
            ...process.env,
            PATH: `${sudoShim()}:${process.env.PATH}`,
            LIMEN_TEST_UNIT_STATE: units.timer ?? "enabled",
            LIMEN_TEST_SERVICE_RESULT: units.lastRun ?? "success",
        };
        const run = spawnSync("sh", ["-c", certificateProbe(certificate)], { encoding: "utf8", env });
        return ok(run.stdout, run.status ?? 1, run.stderr);
    };
    const daysFromNow = (days: number) => new Date(Date.now() + days * 86_400_000);
    const good = pair("good", ["limen.example.org", "www.example.org"], 90);
    const domains = ["limen.example.org", "www.example.org"];

    it("a fresh pair covering every domain passes with its days left", () => {
        const result = judgeCertificate("frontend", served(good, domains), probe(served(good, domains)), new Date());
        expect(result.ok, result.detail).toBe(true);
        expect(result.warning).toBeUndefined();
        expect(result.detail).toMatch(
            /^(89|90) days left \(until \d{4}-\d\d-\d\d\); covers limen\.example\.org, www\.example\.org; key and chain match; issuer CN=limen\.example\.org$/,
        );
    });

    it("warns under 21 days, fails under 10 and once expired, naming the date", () => {
        const certificate = served(good, domains);
        const output = probe(certificate);
        const at = (daysLeft: number) => judgeCertificate("frontend", certificate, output, new Date(daysFromNow(90).getTime() - daysLeft * 86_400_000 - 3_600_000));
        expect(at(25)).toMatchObject({ ok: true });
        expect(at(25).warning).toBeUndefined();
        expect(at(15)).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/^15 days left \(until .*\), under 21: renew it/) });
        expect(at(5)).toMatchObject({ ok: false, detail: expect.stringMatching(/^5 days left .*under 10/) });
        expect(at(-3)).toMatchObject({ ok: false, detail: expect.stringMatching(/^expired on \d{4}-\d\d-\d\d/) });
    });

    it("fails when the names do not cover a domain, the key is another, or the chain is out of order", () => {
        const narrow = pair("narrow", ["limen.example.org"], 90);
        expect(judgeCertificate("frontend", served(narrow, domains), probe(served(narrow, domains)), new Date())).toMatchObject({
            ok: false,
            detail: "does not cover www.example.org (it names limen.example.org)",
        });
        const other = pair("other", domains, 90);
        const mismatched = { chainPath: good.chainPath, keyPath: other.keyPath };
        expect(judgeCertificate("frontend", served(mismatched, domains), probe(served(mismatched, domains)), new Date())).toMatchObject({
            ok: false,
            detail: `the key ${other.keyPath} does not belong to the certificate`,
        });
        // The leaf followed by a certificate that did not sign it.
        const brokenChain = path.join(dir, "broken-chain.pem");
        writeFileSync(brokenChain, openssl("x509", "-in", good.chainPath) + openssl("x509", "-in", other.chainPath));
        const broken = { chainPath: brokenChain, keyPath: good.keyPath };
        expect(judgeCertificate("frontend", served(broken, domains), probe(served(broken, domains)), new Date())).toMatchObject({
            ok: false,
            detail: "the chain is out of order or incomplete",
        });
        const missing = { chainPath: path.join(dir, "none.pem"), keyPath: good.keyPath };
        expect(judgeCertificate("frontend", served(missing, domains), probe(served(missing, domains)), new Date())).toMatchObject({
            ok: false,
            detail: `no certificate at ${missing.chainPath}; put a valid pair there`,
        });
    });

    it("for an issued certificate, a lineage that is not the one served, or no renewal timer, fails", () => {
        // certbot's layout: live/<name>/ beside renewal/<name>.conf, written as certbot writes it.
        const lineage = pair("certbot/live/limen", domains, 90);
        const renewalConf = path.join(dir, "certbot", "renewal", "limen.conf");
        spawnSync("mkdir", ["-p", path.dirname(renewalConf)]);
        const writeRenewal = (authenticator: string, port: number) =>
            writeFileSync(
                renewalConf,
                `version = 2.1.0\n[renewalparams]\nauthenticator = ${authenticator}\nserver = https://acme.example.org/dir\nhttp01_port = ${port}\nhttp01_address = 127.0.0.1\n`,
            );
        writeRenewal("standalone", 8402);
        const certificate = served(good, domains, path.dirname(lineage.chainPath));
        const result = judgeCertificate("frontend", certificate, probe(certificate), new Date());
        expect(result.ok).toBe(false);
        expect(result.detail).toMatch(/^certbot holds another certificate than the one served: the renewal hook refused it or did not run/);
        const sameAsServed = served(lineage, domains, path.dirname(lineage.chainPath));
        const healthy = judgeCertificate("frontend", sameAsServed, probe(sameAsServed), new Date());
        expect(healthy.ok, healthy.detail).toBe(true);
        expect(healthy.detail).toMatch(/renewed by certbot\.timer$/);
        expect(judgeCertificate("frontend", sameAsServed, probe(sameAsServed, { timer: "disabled" }), new Date())).toMatchObject({
            ok: false,
            detail: "certbot.timer is disabled, so nothing renews; run `pulumi up --refresh`",
        });
        expect(judgeCertificate("frontend", sameAsServed, probe(sameAsServed, { lastRun: "exit-code" }), new Date())).toMatchObject({
            ok: true,
            warning: true,
            detail: expect.stringMatching(/^the last certbot run ended with exit-code: `journalctl -u certbot.service`; \d+ days left/),
        });
        // A lineage renewed another way (by hand, on port 80) would fail behind Envoy.
        writeRenewal("standalone", 80);
        expect(judgeCertificate("frontend", sameAsServed, probe(sameAsServed), new Date())).toMatchObject({
            ok: false,
            detail: "certbot renews with `standalone 127.0.0.1:80`, not standalone 127.0.0.1:8402 where Envoy forwards the challenge, so renewals fail; run `pulumi up --refresh`",
        });
    });

    it("the table marks a warning WARN and counts it, without failing the run", () => {
        const warned: CheckResult = { check: "frontend certificate limen", ok: true, warning: true, detail: "15 days left" };
        const table = formatTable("lab", [warned]);
        expect(table).toMatch(/frontend certificate limen\s+WARN\s+15 days left/);
        expect(table).toContain("all 1 checks passed, 1 with a warning");
        expect(exitCode([warned])).toBe(0);
        expect(JSON.parse(formatJson([warned]))).toEqual([{ check: "frontend certificate limen", ok: true, warning: true, detail: "15 days left" }]);
    });
});
