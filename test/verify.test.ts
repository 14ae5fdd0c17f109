/**
 * `npm run verify`, without hosts: its command line, the judges of each check, the firewall drift
 * comparison on real `nft -j` listings (the stack's own rulesets loaded in a fresh network namespace),
 * the SSH pinning, the config read through a stand-in pulumi CLI, and what it prints.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../components/config";
import { sha256 } from "../components/remote";
import {
    bootFileMarker,
    CheckResult,
    curlCommand,
    firewallCommands,
    firewallRulesetPath,
    healthUrl,
    judgeAppPorts,
    judgeFirewall,
    judgeHealth,
    judgePm2,
    judgeProxyLog,
    judgeSessionCreate,
    judgeSessionValid,
    listeners,
    parseSetCookies,
    pm2Command,
    proxySessionLines,
    Remote,
    renderedRuleset,
    runChecks,
    scratchListingCommand,
    sessionUrl,
} from "../ops/checks";
import { describeTable, diffTables, normaliseTable, parseTableListing, tableListingScript } from "../ops/nft-table";
import { exitCode, formatJson, formatTable, parseArgs } from "../ops/report";
import { describeSshFailure, knownHostsLine, RemoteResult, sshArgs, SshClient, SshTarget } from "../ops/ssh";
import { pulumiCliFromEnv, rawConfigFromCliJson, readStackConfig, StackConfigError } from "../ops/stack-config";
import { fakePrivateKey, otherRawConfig, prodRawConfig, withOverride } from "./support/fixtures";

const other = parseConfig(otherRawConfig());
/** Scratch directories of this file, removed at the end. */
const scratchDirs: string[] = [];
function scratchDir(prefix: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    scratchDirs.push(dir);
    return dir;
}
afterAll(() => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const ok = (stdout: string, status = 0, stderr = ""): RemoteResult => ({ status, stdout, stderr });

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
        [["--stack"], /needs a stack name/],
        [["--stack", "--json"], /needs a stack name/],
        [["--stack", "lab", "--verbose"], /unknown argument "--verbose"/],
        [["--stack", "lab; rm -rf /"], /is not a stack name/],
    ])("%j is refused", (argv, message) => {
        const parsed = parseArgs(argv);
        expect(parsed.kind).toBe("error");
        expect(parsed.kind === "error" && parsed.message).toMatch(message);
    });
});

describe("exit code and output", () => {
    const passed: CheckResult = { check: "backend-health", ok: true, detail: "answered 200" };
    const failed: CheckResult = { check: "firewall-backend", ok: false, detail: 'chain input: rule "tcp dport @public_ports accept" is missing' };
    const log: CheckResult = { check: "proxy-log", ok: true, detail: "1 line", lines: ["0|limen-fr | Proxy POST /api/auth/session -> http://192.0.2.100:18443/api/auth/session session"] };

    it("exits 0 only when every check passed", () => {
        expect(exitCode([passed, log])).toBe(0);
        expect(exitCode([passed, failed, log])).toBe(1);
        expect(exitCode([])).toBe(1);
    });

    it("the table has one row per check, PASS/FAIL, the proxy lines and a summary", () => {
        const table = formatTable("lab", [passed, failed, log]).split("\n");
        expect(table).toContain("CHECK             RESULT  DETAIL");
        expect(table).toContain("backend-health    PASS    answered 200");
        expect(table).toContain('firewall-backend  FAIL    chain input: rule "tcp dport @public_ports accept" is missing');
        expect(table).toContain(`  ${log.lines![0]}`);
        expect(table.at(-1)).toBe("1 of 3 checks failed");
        expect(formatTable("lab", [passed]).split("\n").at(-1)).toBe("all 1 checks passed");
    });

    it("--json is an array of {check, ok, detail}, with the lines on the proxy check", () => {
        expect(JSON.parse(formatJson([passed, failed, log]))).toEqual([
            { check: "backend-health", ok: true, detail: "answered 200" },
            { check: "firewall-backend", ok: false, detail: failed.detail },
            { check: "proxy-log", ok: true, detail: "1 line", lines: log.lines },
        ]);
    });
});

/** Runs `script` in a fresh network namespace with the ruleset on stdin (nothing touches this host's tables). */
function inScratchNamespace(script: string, ruleset: string): string {
    const result = spawnSync("unshare", ["--net", "sh", "-c", script], { input: ruleset, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`unshare: ${result.stderr}`);
    return result.stdout;
}

/** The stack's ruleset loaded fresh, as verify loads it on a host (same command, without sudo). */
function expectedListing(ruleset: string): string {
    const result = spawnSync("sh", ["-c", scratchListingCommand()], { input: ruleset, encoding: "utf8" });
    if (result.status !== 0) throw new Error(result.stderr);
    return result.stdout;
}

/** A host's table after `tamper` (nft commands), as verify's live listing prints it. */
function liveListing(ruleset: string, tamper: string, bootFile = `${sha256(ruleset)}  ${firewallRulesetPath}`): string {
    const listing = inScratchNamespace(`nft -f /dev/stdin && ${tamper || "true"} && ${tableListingScript()}`, ruleset);
    return `${listing}\n${bootFileMarker}\n${bootFile}\n`;
}

function scratchFile(text: string): string {
    const file = path.join(scratchDir("limen-verify-test-"), "ruleset.nft");
    writeFileSync(file, text);
    return file;
}

const handleOf = (chain: string, rule: string) =>
    `$(nft -a list chain inet limen_firewall ${chain} | sed -n 's/^[[:space:]]*${rule} # handle \\([0-9]*\\)$/\\1/p')`;

describe("firewall drift, on real nft listings of the stack's own rulesets", () => {
    const backend = renderedRuleset(other, "backend");
    const frontend = renderedRuleset(other, "frontend");
    const expectedBackend = normaliseTable(parseTableListing(expectedListing(backend)));
    const diffAfter = (tamper: string, ruleset = backend) => diffTables(normaliseTable(parseTableListing(expectedListing(ruleset))), normaliseTable(parseTableListing(liveListing(ruleset, tamper).split(`\n${bootFileMarker}`)[0]!)));

    it("an untouched table equals the rendered one, whatever its handles and counters", () => {
        // Loaded again (new handles), with counters already counting: still no difference.
        const counted = scratchFile(backend.replace("counter drop", "counter packets 7 bytes 420 drop"));
        const live = liveListing(backend, `nft -f ${counted}`);
        expect(live).toContain('"packets": 7');
        expect(diffTables(expectedBackend, normaliseTable(parseTableListing(live.split(`\n${bootFileMarker}`)[0]!)))).toEqual([]);
        expect(describeTable(expectedBackend)).toBe("7 sets, 2 chains, 16 rules");
        expect(diffAfter("", frontend)).toEqual([]);
    });

    it("a rule deleted by hand is reported with its chain and its text", () => {
        expect(diffAfter(`nft delete rule inet limen_firewall input handle ${handleOf("input", "tcp dport @public_ports accept")}`)).toEqual([
            'chain input: rule "tcp dport @public_ports accept" is missing',
        ]);
    });

    it.each([
        ["an element added to a set", "nft add element inet limen_firewall internal_clients_v4 '{ 203.0.113.9 }'", ["set internal_clients_v4 has 203.0.113.9, which the stack does not"]],
        ["an element removed", "nft delete element inet limen_firewall internal_ports '{ 9100 }'", ["set internal_ports lacks 9100"]],
        ["a rule added", "nft insert rule inet limen_firewall input tcp dport 18443 accept", [`chain input: rule "tcp dport 18443 accept" is not in the stack's ruleset`]],
        ["a policy changed", "nft add chain inet limen_firewall input '{ type filter hook input priority filter; policy accept; }'", ['chain input is "hook input policy accept prio 0 type filter", the stack says "hook input policy drop prio 0 type filter"']],
        ["a set removed", `nft delete rule inet limen_firewall input handle ${handleOf("input", "tcp dport @public_ports accept")} && nft delete set inet limen_firewall public_ports`, ["set public_ports is missing", 'chain input: rule "tcp dport @public_ports accept" is missing']],
        ["a chain added", "nft add chain inet limen_firewall extra", ["chain extra is not in the stack's ruleset (0 rule(s))"]],
        [
            "a rule moved to the top",
            `nft delete rule inet limen_firewall input handle ${handleOf("input", "tcp dport @public_ports accept")} && nft insert rule inet limen_firewall input tcp dport @public_ports accept`,
            ['chain input: rule "tcp dport @public_ports accept" is out of order'],
        ],
    ])("%s is reported", (_label, tamper, expected) => {
        expect(diffAfter(tamper)).toEqual(expected);
    });

    it("the firewall check names the host, the difference and how to restore it", () => {
        const tampered = liveListing(backend, `nft delete rule inet limen_firewall input handle ${handleOf("input", "tcp dport @public_ports accept")}`);
        const result = judgeFirewall("backend", backend, ok(tampered), ok(expectedListing(backend)));
        expect(result).toEqual({
            check: "firewall-backend",
            ok: false,
            detail: `the backend's loaded table differs from the stack's: chain input: rule "tcp dport @public_ports accept" is missing; the boot file matches the stack; restore with \`sudo nft -f ${firewallRulesetPath}\``,
        });
        const clean = judgeFirewall("backend", backend, ok(liveListing(backend, "")), ok(expectedListing(backend)));
        expect(clean.ok).toBe(true);
        expect(clean.detail).toContain("7 sets, 2 chains, 16 rules");
    });

    it("a boot file that is not the stack's ruleset fails the check even when the loaded table matches", () => {
        const result = judgeFirewall("frontend", frontend, ok(liveListing(frontend, "", `${"0".repeat(64)}  ${firewallRulesetPath}`)), ok(expectedListing(frontend)));
        expect(result.ok).toBe(false);
        expect(result.detail).toMatch(/after a reboot it would not: .* is not the stack's ruleset either .*run it/);
        expect(judgeFirewall("frontend", frontend, ok(liveListing(frontend, "", "absent")), ok(expectedListing(frontend))).detail).toMatch(/limen\.nft is missing/);
    });

    it("no table loaded at all, or no sudo, is a failure that says so", () => {
        const missing = judgeFirewall("backend", backend, ok("", 1, "Error: No such file or directory; did you mean table 'limen_firewall' in family inet?"), ok(expectedListing(backend)));
        expect(missing.detail).toMatch(/has no table inet limen_firewall loaded/);
        const noSudo = judgeFirewall("backend", backend, ok("", 1, "sudo: a password is required"), ok(""));
        expect(noSudo.detail).toMatch(/passwordless sudo/);
    });

    it("the commands read with sudo -n and load the rendered ruleset only in a throwaway namespace", () => {
        const commands = firewallCommands();
        expect(commands.live).toMatch(/^sudo -n sh -c '.*nft -j list table inet limen_firewall.*sha256sum \/etc\/limen\/firewall\/limen\.nft/);
        expect(commands.live).not.toMatch(/nft -f|nft (add|delete|flush)/);
        expect(commands.scratch).toMatch(/^sudo -n unshare --net sh -c 'nft -f \/dev\/stdin && /);
    });
});

describe("the runbook's other checks", () => {
    it("health: 2xx passes; a timeout points at the backend firewall, a refusal at the listener", () => {
        expect(healthUrl(other)).toBe("http://192.0.2.100:18443/api/health");
        expect(judgeHealth(ok('{"status":"ok"}\nlimen-verify-http-status:200'), other)).toEqual({
            check: "backend-health",
            ok: true,
            detail: 'http://192.0.2.100:18443/api/health answered 200 from the frontend: {"status":"ok"}',
        });
        expect(judgeHealth(ok("\nlimen-verify-http-status:000", 28, "curl: (28) Connection timed out after 5001 milliseconds"), other).detail).toMatch(/timed out .*internal_clients_v4.*18443 in internal_ports/);
        expect(judgeHealth(ok("\nlimen-verify-http-status:000", 7, "curl: (7) Failed to connect to 192.0.2.100 port 18443: Connection refused"), other).detail).toMatch(/ss -ltnp 'sport = :18443'/);
        expect(judgeHealth(ok("bad gateway\nlimen-verify-http-status:502"), other)).toMatchObject({ ok: false, detail: expect.stringMatching(/answered 502/) });
        expect(judgeHealth({ status: undefined, stdout: "", stderr: "", failure: "ssh deploy@192.0.2.10:22: no answer" }, other).detail).toBe("ssh deploy@192.0.2.10:22: no answer");
    });

    it("curl commands bracket IPv6 and keep the status on its own line", () => {
        const v6 = parseConfig(withOverride(otherRawConfig(), "backend", { internalAddress: "2001:db8::100" }));
        expect(healthUrl(v6)).toBe("http://[2001:db8::100]:18443/api/health");
        expect(curlCommand(healthUrl(v6))).toBe("curl -sS -g -m 5 -w '\\nlimen-verify-http-status:%{http_code}' 'http://[2001:db8::100]:18443/api/health'");
    });

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
    ].join("\r\n").replace(/\r\nlimen-verify/, "\nlimen-verify");

    it("session: Set-Cookie is read from the final response; the GET sends it and must say valid", () => {
        expect(parseSetCookies(postResponse)).toEqual([
            { pair: "limen_session=abc123secret", name: "limen_session", attributes: "Path=/; HttpOnly; SameSite=Lax" },
            { pair: "theme=dark", name: "theme", attributes: "" },
        ]);
        const created = judgeSessionCreate(ok(postResponse), other);
        expect("cookies" in created).toBe(true);
        if (!("cookies" in created)) return;
        const valid = judgeSessionValid(created, ok('{"valid":true}\nlimen-verify-http-status:200'), other);
        expect(valid).toEqual({
            check: "session-cookie",
            ok: true,
            detail: 'POST gave Set-Cookie limen_session (Path=/; HttpOnly; SameSite=Lax), theme; GET with it: {"valid":true}',
        });
        expect(valid.detail).not.toContain("abc123secret");
        const invalid = judgeSessionValid(created, ok('{"valid":false}\nlimen-verify-http-status:200'), other);
        expect(invalid).toMatchObject({ ok: false, detail: expect.stringMatching(/does not pass the Cookie header/) });
        expect(invalid.detail).not.toContain("abc123secret");
    });

    it("session: no Set-Cookie, or a backend error, fails with the runbook's next step", () => {
        const noCookie = judgeSessionCreate(ok('HTTP/1.1 200 OK\r\n\r\n{}\nlimen-verify-http-status:200'), other);
        expect(noCookie).toMatchObject({ ok: false, detail: expect.stringMatching(/without Set-Cookie.*curl -si -X POST http:\/\/192\.0\.2\.100:18443\/api\/auth\/session/) });
        const badGateway = judgeSessionCreate(ok("HTTP/1.1 502 Bad Gateway\r\n\r\n\nlimen-verify-http-status:502"), other);
        expect(badGateway).toMatchObject({ ok: false, detail: expect.stringMatching(/answered 502.*BACKEND_HOST=192\.0\.2\.100 and BACKEND_PORT=18443/) });
        expect(sessionUrl(other)).toBe("http://127.0.0.1:9444/api/auth/session");
    });

    const ss = [
        "LISTEN 0      511        127.0.0.1:9444      0.0.0.0:*",
        "LISTEN 0      511        127.0.0.1:9445      0.0.0.0:*",
        "LISTEN 0      128          0.0.0.0:22        0.0.0.0:*",
        "LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*",
        "LISTEN 0      128             [::]:22           [::]:*",
    ].join("\n");

    it("app ports: 127.0.0.1 only passes; another address or no listener fails", () => {
        expect(listeners(ss).get(22)).toEqual(["0.0.0.0", "::"]);
        expect(listeners(ss).get(53)).toEqual(["127.0.0.53"]);
        expect(judgeAppPorts(ok(ss), other)).toEqual({ check: "app-ports-loopback", ok: true, detail: "9444 and 9445 listen on 127.0.0.1 only" });
        const exposed = judgeAppPorts(ok(`${ss}\nLISTEN 0 511 *:9445 *:*`), other);
        expect(exposed).toMatchObject({ ok: false, detail: expect.stringMatching(/9445 \(darc-kr\) also listens on \* \(every address\)/) });
        const down = judgeAppPorts(ok(ss.split("\n").slice(1).join("\n")), other);
        expect(down).toMatchObject({ ok: false, detail: expect.stringMatching(/^nothing listens on 9444 \(limen-frontend down\?/) });
    });

    const jlist = (apps: [string, string][]) => JSON.stringify(apps.map(([name, status], pm_id) => ({ name, pm_id, pm2_env: { status, SESSION_SECRET: "s3cr3t" } })));

    it("pm2: every instance of both apps online passes", () => {
        const all = jlist([["limen-frontend", "online"], ["limen-frontend", "online"], ["darc-kr", "online"], ["darc-kr", "online"]]);
        expect(judgePm2(ok(`${all}\n`), other)).toEqual({ check: "pm2-online", ok: true, detail: "limen-frontend 2/2 online, darc-kr 2/2 online" });
    });

    it.each([
        ["an errored instance", jlist([["limen-frontend", "online"], ["limen-frontend", "errored"], ["darc-kr", "online"], ["darc-kr", "online"]]), /limen-frontend 1\/2 online \(errored\)/],
        ["a missing app", jlist([["limen-frontend", "online"], ["limen-frontend", "online"]]), /darc-kr 0\/2 online/],
        ["a daemon pm2 had to spawn", `[PM2] Spawning PM2 daemon with pm2_home=/home/limen/.pm2\n[PM2] PM2 Successfully daemonized\n[]`, /no pm2 daemon runs for limen/],
        ["output that is not a list", "garbage", /printed no process list/],
    ])("pm2: %s fails", (_label, stdout, detail) => {
        const result = judgePm2(ok(stdout), other);
        expect(result).toMatchObject({ ok: false, detail: expect.stringMatching(detail) });
        expect(result.detail).not.toContain("s3cr3t");
    });

    it("pm2 commands never start a daemon: without a live one they stop with exit 3", () => {
        const command = pm2Command("limen", "jlist");
        expect(command).toMatch(/^sudo -n -u limen -H sh -c '.*pm2\.pid.*kill -0.*exit 3;.*exec pm2 jlist'$/);
        expect(judgePm2(ok("", 3, "limen-verify: no pm2 daemon runs for limen"), other).detail).toMatch(/sudo systemctl start pm2-limen/);
        // The guard, run for real: no pid file, so pm2 is never reached (it would create ~/.pm2).
        const home = scratchDir("limen-verify-home-");
        const script = /sh -c ('.*')$/.exec(command)![1]!.slice(1, -1).replace(/'\\''/g, "'");
        const run = spawnSync("sh", ["-c", script], { env: { HOME: home, PATH: process.env.PATH }, encoding: "utf8" });
        expect(run.status).toBe(3);
        expect(existsSync(path.join(home, ".pm2"))).toBe(false);
    });

    it("proxy log: the last Proxy … session lines across instances, colours removed; unreadable logs fail", () => {
        const logs = [
            "/home/limen/.pm2/logs/limen-frontend-out-0.log last 200 lines:",
            "0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> http://192.0.2.100:18443/api/auth/session session",
            "0|limen-fr | 2026-01-01T10:00:06: Proxy GET /api/health -> http://192.0.2.100:18443/api/health",
            "/home/limen/.pm2/logs/limen-frontend-out-1.log last 200 lines:",
            "\x1b[32m1|limen-fr | 2026-01-01T10:00:01: Proxy GET /api/auth/session -> http://192.0.2.100:18443/api/auth/session session\x1b[39m",
        ].join("\n");
        expect(proxySessionLines(logs)).toEqual([
            "1|limen-fr | 2026-01-01T10:00:01: Proxy GET /api/auth/session -> http://192.0.2.100:18443/api/auth/session session",
            "0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> http://192.0.2.100:18443/api/auth/session session",
        ]);
        expect(judgeProxyLog(ok(logs), other)).toMatchObject({ ok: true, detail: "2 Proxy … session line(s) (below); their target must be http://192.0.2.100:18443" });
        expect(judgeProxyLog(ok("nothing here"), other)).toMatchObject({ ok: true, lines: [], detail: expect.stringMatching(/requests do not reach the middleware/) });
        expect(judgeProxyLog(ok("", 3, "limen-verify: no pm2 daemon runs for limen"), other).ok).toBe(false);
    });

    it("all checks in the runbook's order, each command answered by a stand-in host", () => {
        const backend = renderedRuleset(other, "backend");
        const frontend = renderedRuleset(other, "frontend");
        const commands = firewallCommands();
        const asked: string[] = [];
        const remote: Remote = {
            run(role, command, input) {
                asked.push(`${role}: ${command.split(" ").slice(0, 4).join(" ")}`);
                const ruleset = role === "backend" ? backend : frontend;
                if (command === commands.live) return ok(liveListing(ruleset, ""));
                if (command === commands.scratch) {
                    expect(input).toBe(ruleset);
                    return ok(expectedListing(ruleset));
                }
                if (command === curlCommand(healthUrl(other))) return ok('{"status":"ok"}\nlimen-verify-http-status:200');
                if (command.includes("POST")) return ok(postResponse);
                if (command.includes("Cookie: limen_session=abc123secret; theme=dark")) return ok('{"valid":true}\nlimen-verify-http-status:200');
                if (command === "ss -Hltn") return ok(ss);
                if (command === pm2Command("limen", "jlist")) return ok(jlist([["limen-frontend", "online"], ["limen-frontend", "online"], ["darc-kr", "online"], ["darc-kr", "online"]]));
                if (command.includes("logs")) return ok("0|limen-fr | Proxy POST /api/auth/session -> http://192.0.2.100:18443/api/auth/session session");
                throw new Error(`unexpected command on the ${role}: ${command}`);
            },
        };
        const results = [...runChecks(other, remote)];
        expect(results.map((r) => [r.check, r.ok])).toEqual([
            ["backend-health", true],
            ["session-cookie", true],
            ["app-ports-loopback", true],
            ["firewall-frontend", true],
            ["firewall-backend", true],
            ["pm2-online", true],
            ["proxy-log", true],
        ]);
        expect(exitCode(results)).toBe(0);
        expect(asked.filter((a) => a.startsWith("backend"))).toHaveLength(2);
    });
});

describe("SSH: pinned keys, no prompt, the key in a 0600 file that goes away", () => {
    const target: SshTarget = { role: "backend", address: "2001:db8::100", port: 2222, user: "ops", hostKey: other.backend.hostKey };

    it("known_hosts pins exactly the configured key, in ssh's [address]:port form off port 22", () => {
        expect(knownHostsLine("192.0.2.10", 22, "ssh-ed25519 AAAA")).toBe("192.0.2.10 ssh-ed25519 AAAA");
        expect(knownHostsLine("2001:db8::100", 2222, "ssh-ed25519 AAAA")).toBe("[2001:db8::100]:2222 ssh-ed25519 AAAA");
    });

    it("ssh runs in batch mode with strict checking against the pinned file only", () => {
        const args = sshArgs(target, { identity: "/tmp/x/id", knownHosts: "/tmp/x/known_hosts" }, 15, "ss -Hltn");
        const options = args.filter((_, i) => args[i - 1] === "-o");
        expect(options).toEqual(
            expect.arrayContaining(["BatchMode=yes", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/tmp/x/known_hosts", "GlobalKnownHostsFile=/dev/null", "ConnectTimeout=15", "IdentitiesOnly=yes", "IdentityAgent=none"]),
        );
        expect(args.slice(-2)).toEqual(["ops@2001:db8::100", "ss -Hltn"]);
        expect(args.slice(0, 2)).toEqual(["-F", "/dev/null"]);
    });

    it.each([
        ["Host key verification failed.", /not the one pinned in limen:backend\.hostKey/],
        ["ops@2001:db8::100: Permission denied (publickey).", /limen:sshPrivateKey is not accepted for ops/],
        ["ssh: connect to host 2001:db8::100 port 2222: Connection timed out", /inside limen:ssh\.adminNetworks/],
        ["ssh: connect to host 2001:db8::100 port 2222: Connection refused", /sshd is not listening on port 2222/],
    ])("ssh's %j becomes an operator's next step", (stderr, detail) => {
        expect(describeSshFailure(target, 255, stderr)).toMatch(detail);
        expect(describeSshFailure(target, 1, stderr)).toBeUndefined();
    });

    it("writes the key 0600 in a private directory, reports a refused connection once, and removes the files", () => {
        // Port 1 on loopback: refused at once, no packet leaves this machine.
        const local: SshTarget = { role: "frontend", address: "127.0.0.1", port: 1, user: "ops", hostKey: other.frontend.hostKey };
        const client = new SshClient({ frontend: local, backend: { ...local, role: "backend" } }, fakePrivateKey, 2);
        const dir = client.dir;
        expect(path.basename(dir)).toMatch(/^limen-verify-/);
        expect(readFileSync(path.join(dir, "known_hosts"), "utf8")).toBe(`127.0.0.1:1 ${other.frontend.hostKey}\n`.replace("127.0.0.1:1", "[127.0.0.1]:1").repeat(2));
        expect(statSync(dir).mode & 0o777).toBe(0o700);
        expect(statSync(path.join(dir, "id")).mode & 0o777).toBe(0o600);
        const first = client.run("frontend", "true");
        expect(first.failure).toMatch(/connection refused|ssh/i);
        expect(client.run("frontend", "true").failure).toBe(first.failure);
        expect(JSON.stringify(first)).not.toContain("bGFiLW9ubHkgdGVzdCBrZXk=");
        client.dispose();
        expect(existsSync(dir)).toBe(false);
    });
});

describe("the stack's config, read through the pulumi CLI and the program's own schema", () => {
    /** A stand-in `pulumi` that prints `config --json` for a raw config map, or fails like the CLI. */
    function fakePulumi(raw: Record<string, string> | undefined, secretKeys: string[] = ["limen:sshPrivateKey"]): string {
        const dir = scratchDir("limen-fake-pulumi-");
        const json = raw && JSON.stringify(Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, { value, secret: secretKeys.includes(key) }])));
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

    it("LIMEN_PULUMI_BIN picks the CLI; the default is `pulumi` from PATH", () => {
        expect(pulumiCliFromEnv({}).bin).toBe("pulumi");
        expect(pulumiCliFromEnv({ LIMEN_PULUMI_BIN: "/opt/pulumi/bin/pulumi" }).bin).toBe("/opt/pulumi/bin/pulumi");
        expect(existsSync(path.join(pulumiCliFromEnv({}).cwd, "Pulumi.yaml"))).toBe(true);
    });

    it("parses the CLI's JSON into the config the program sees", () => {
        const bin = fakePulumi(otherRawConfig(), ["limen:sshPrivateKey", "limen:tlsPrivateKey", "limen:envProductionSecrets"]);
        const config = readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }));
        expect(config).toEqual(other);
    });

    it("refuses what `pulumi up` refuses, with the same messages", () => {
        const bin = fakePulumi(withOverride(prodRawConfig(), "backend", { address: "127.1" }));
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(ConfigError);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(/limen:backend\.address = "127\.1": the backend address must not be a loopback address/);
        // A secret stored in plain text is refused too (the CLI says which keys are secret).
        const plain = fakePulumi(prodRawConfig(), []);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: plain }))).toThrow(/limen:sshPrivateKey \(secret\): is stored in plain text/);
    });

    it("a CLI that fails or is missing is reported, never a config value", () => {
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(undefined) }))).toThrow(new StackConfigError("pulumi config --stack prod failed: error: no stack named 'prod' found"));
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: "/nonexistent/pulumi" }))).toThrow(/not found as "\/nonexistent\/pulumi": install it or set LIMEN_PULUMI_BIN/);
        expect(() => rawConfigFromCliJson(JSON.stringify({ "limen:sshPrivateKey": { secret: true } }))).toThrow(/did not show the secret limen:sshPrivateKey/);
        expect(rawConfigFromCliJson(JSON.stringify({ "limen:apps": { objectValue: { user: "limen" }, secret: false } })).raw).toEqual({ "limen:apps": '{"user":"limen"}' });
    });
});
