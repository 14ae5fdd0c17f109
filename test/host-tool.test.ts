import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import { backendFirewallSpec, pm2Spec } from "../plan/hosts";
import { renderFirewall } from "../render/firewall";
import { renderEcosystem } from "../render/pm2";
import { prodRawConfig } from "./support/fixtures";

/**
 * files/limen-host.sh run for real on this machine (in a fresh network namespace, so `nft` touches
 * nothing here): the same script the stack installs on every host.
 */
const tool = path.join(__dirname, "..", "files", "limen-host.sh");
const prod = parseConfig(prodRawConfig());

function hostTool(args: string[], stdin: string) {
    const result = spawnSync("unshare", ["--net", "bash", tool, ...args], { input: stdin, encoding: "utf8" });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function scratchDir(): string {
    return mkdtempSync(path.join(tmpdir(), "limen-host-"));
}

describe("limen-host install-file", () => {
    it.each([
        ["nft", "limen.nft", renderFirewall(backendFirewallSpec(prod))],
        ["ecosystem", "ecosystem.config.js", renderEcosystem(pm2Spec(prod))],
        ["none", ".env.production", "BACKEND_HOST=10.0.0.100\n"],
    ])("installs a file that passes --check %s, with its mode and owner", (check, name, content) => {
        const target = path.join(scratchDir(), "etc", name);
        const result = hostTool(["install-file", "--path", target, "--mode", "0640", "--owner", "root:root", "--check", check], content);
        expect(result).toMatchObject({ status: 0, stdout: `installed ${target}\n` });
        expect(readFileSync(target, "utf8")).toBe(content);
        expect((statSync(target).mode & 0o777).toString(8)).toBe("640");
        expect(readdirSync(path.dirname(target))).toEqual([name]);
    });

    it("says unchanged, and rewrites nothing, when the content is already there", () => {
        const target = path.join(scratchDir(), "ecosystem.config.js");
        const content = renderEcosystem(pm2Spec(prod));
        const install = ["install-file", "--path", target, "--mode", "0644", "--owner", "root:root", "--check", "ecosystem"];
        hostTool(install, content);
        const before = statSync(target).mtimeMs;
        expect(hostTool(install, content).stdout).toBe(`unchanged ${target}\n`);
        expect(statSync(target).mtimeMs).toBe(before);
    });

    it.each([
        ["nft", "limen.nft", renderFirewall(backendFirewallSpec(prod)), (good: string) => good.replace("@public_ports", "@missing_set"), /nft rejected the new ruleset/],
        ["ecosystem", "ecosystem.config.js", renderEcosystem(pm2Spec(prod)), (good: string) => good.replace("module.exports = {", "module.exports = {{"), /is not `module.exports = <JSON/],
        // Code that would run if the file were loaded with require(): refused without being run.
        ["ecosystem", "ecosystem.config.js", renderEcosystem(pm2Spec(prod)), (good: string) => good.replace("module.exports = {", 'require("fs").writeFileSync("/tmp/limen-pwned", "x"); module.exports = {'), /is not `module.exports = <JSON/],
    ])("a file that fails --check %s leaves the installed one and no temporary file", (check, name, good, breakIt, message) => {
        const dir = scratchDir();
        const target = path.join(dir, name);
        const install = ["install-file", "--path", target, "--mode", "0644", "--owner", "root:root", "--check", check];
        expect(hostTool(install, good).status).toBe(0);
        const result = hostTool(install, breakIt(good));
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(message);
        expect(readFileSync(target, "utf8")).toBe(good);
        expect(readdirSync(dir)).toEqual([name]);
    });

    it("same content with another mode is fixed in place: same file, same mtime (apps that loaded it need no reload)", () => {
        const target = path.join(scratchDir(), ".env.production");
        const install = (mode: string) => hostTool(["install-file", "--path", target, "--mode", mode, "--owner", "root:root", "--check", "none"], "A=1\n");
        install("0600");
        const before = statSync(target);
        expect(install("0644").stdout).toBe(`fixed mode and owner of ${target}\n`);
        const after = statSync(target);
        expect([after.ino, after.mtimeMs, (after.mode & 0o777).toString(8)]).toEqual([before.ino, before.mtimeMs, "644"]);
    });

    it("remove-file removes the file and nothing beside it", () => {
        const dir = scratchDir();
        const target = path.join(dir, "a.env");
        writeFileSync(path.join(dir, "keep.txt"), "not ours");
        hostTool(["install-file", "--path", target, "--mode", "0600", "--owner", "root:root", "--check", "none"], "A=1\n");
        expect(hostTool(["remove-file", "--path", target], "").status).toBe(0);
        expect(readdirSync(dir)).toEqual(["keep.txt"]);
    });
});

describe("limen-host refuses missing and empty arguments, naming them", () => {
    it.each([
        [["install-file", "--path", "/tmp/x", "--mode", "0600", "--owner", "root:root"], /install-file: --check is required/],
        [["install-file", "--path", "", "--mode", "0600", "--owner", "root:root", "--check", "none"], /install-file: --path needs a non-empty value/],
        [["install-file", "--paht", "/tmp/x"], /install-file: unknown argument '--paht'/],
        [["pm2-enable", "--user", "", "--marker-dir", "/var/lib/limen/pm2"], /pm2-enable: --user needs a non-empty value/],
        [["pm2-apply", "--user", "limen", "--apps", "a"], /pm2-apply: --ecosystem is required/],
        [["apply-firewall", "--table", "inet limen_firewall", "--confirm-within", "20"], /apply-firewall: --boot-ruleset is required/],
        [["remove-file"], /remove-file: --path is required/],
        // Every pm2 subcommand, each with an empty user and with --user as the last word.
        [["pm2-apply", "--user", "", "--ecosystem", "/e.js", "--apps", "a", "--marker-dir", "/m", "--loaded", "x"], /pm2-apply: --user needs a non-empty value/],
        [["pm2-mark-loaded", "--user", "", "--marker-dir", "/m", "--loaded", "x"], /pm2-mark-loaded: --user needs a non-empty value/],
        [["pm2-remove", "--apps", "a", "--marker-dir", "/m", "--user"], /pm2-remove: --user needs a non-empty value/],
        [["pm2-remove", "--apps", "a", "--marker-dir", "/m"], /pm2-remove: --user is required/],
        [["confirm-firewall", "--table", "inet limen_firewall", "--boot-ruleset", "/b", "--state-dir", "/s", "--marker", "/m", "--unit", "u", "--revert-unit", "r", "--sha256", ""], /confirm-firewall: --sha256 needs a non-empty value/],
        [[], /usage: limen-host check-ready\|install-file/],
        [["pm2-enabel"], /usage: limen-host /],
    ])("%j", (args, message) => {
        const result = hostTool(args as string[], "");
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(message);
    });
});
