/**
 * The drift probes run for real: the file probe on a file here, the firewall probe with nft in a
 * throwaway network namespace, and pm2's guard and list script against a stand-in pm2 package.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { installedToolCommand } from "../../hostio/host-tool-run";
import { fileProbeCommand } from "../../hostio/observe-file";
import { pm2Command, pm2ListCommand, pm2ProbeCommand } from "../../hostio/observe-pm2";
import { FilePlan } from "../../plan/files";
import { sha256 } from "../../core/sha256";
import { firewallProbe, judgeFile, judgeFirewall } from "../../ops/drift";
import { pm2MarkerDir } from "../../core/host-paths";
import { ok, advice, otherPlan, ecosystemFile } from "../support/probe-outputs";
import { scratchDir, sudoShim, scratchFirewall, probeFirewall, deletePublicPorts } from "../support/stand-in-hosts";
import { localStep, stepText } from "../support/tool-script";

describe("drift: files and the host tool", () => {
    it("the file probe, run for real on a file here, reads what the judge compares", () => {
        const dir = scratchDir("limen-verify-file-");
        const file: FilePlan = { ...ecosystemFile, path: path.join(dir, "ecosystem.config.js"), owner: "root:root" };
        writeFileSync(file.path, file.content, { mode: 0o644 });
        chmodSync(file.path, 0o644);
        const probe = () => {
            const run = spawnSync("sh", ["-c", `sudo -n ${localStep(fileProbeCommand(file.path))}`], {
                encoding: "utf8",
                env: { ...process.env, PATH: `${sudoShim()}:${process.env.PATH}` },
            });
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
        // Root's step: a host runs it as `sudo -n sh -c …` with the host tool (hostio/host-tool-run.ts).
        expect(installedToolCommand(probe.command)).toMatch(/^sudo -n sh -c '/);
        const script = stepText(probe.command);
        expect(script).toContain("unshare --net sh -c");
        // Every nft -f reads stdin, inside the unshare; nothing adds, deletes or flushes.
        expect(script.match(/nft -f \S+/g)).toEqual(["nft -f /dev/stdin"]);
        expect(script).not.toMatch(/nft (add|delete|flush|insert|replace)/);
    });
});

describe("drift: pm2", () => {
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
        expect(stepText(pm2ProbeCommand("limen", [], pm2MarkerDir, "limen-pm2-logrotate.timer"))).toContain(pm2ListCommand("limen"));
    });
});
