/** The host tool (tools/limen-host) run for real: install-file, its refusals of missing arguments, and publishing certificate pairs. */
import { readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { backendFirewallSpec } from "../../plan/firewall";
import { pm2Spec } from "../../plan/pm2";
import { renderFirewall } from "../../render/firewall";
import { renderEcosystem } from "../../render/pm2";
import { selfSignedPair } from "../support/certificates";
import { prod, hostTool, scratchDir, pm2ApplyArgs } from "../support/host-tool";


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
        [
            "ecosystem",
            "ecosystem.config.js",
            renderEcosystem(pm2Spec(prod)),
            (good: string) => good.replace("module.exports = {", "module.exports = {{"),
            /is not `module.exports = <JSON/,
        ],
        // Code that would run if the file were loaded with require(): refused without being run.
        [
            "ecosystem",
            "ecosystem.config.js",
            renderEcosystem(pm2Spec(prod)),
            (good: string) => good.replace("module.exports = {", 'require("fs").writeFileSync("/tmp/limen-pwned", "x"); module.exports = {'),
            /is not `module.exports = <JSON/,
        ],
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
        // The health gate needs both of its URLs, and a whole number of seconds.
        [[...pm2ApplyArgs, "--gate-seconds", "20", "--gate-page", "http://127.0.0.1:9445/"], /pm2-apply: --gate-session is required/],
        [
            [...pm2ApplyArgs, "--gate-seconds", "soon", "--gate-session", "http://127.0.0.1:9444/api/auth/session", "--gate-page", "http://127.0.0.1:9445/"],
            /pm2-apply: --gate-seconds must be a whole number of seconds, got 'soon'/,
        ],
        [["apply-firewall", "--table", "inet limen_firewall", "--confirm-within", "20"], /apply-firewall: --boot-ruleset is required/],
        [["remove-file"], /remove-file: --path is required/],
        // Every pm2 subcommand, each with an empty user and with --user as the last word.
        [["pm2-apply", "--user", "", "--ecosystem", "/e.js", "--apps", "a", "--marker-dir", "/m", "--loaded", "x"], /pm2-apply: --user needs a non-empty value/],
        [["pm2-mark-loaded", "--user", "", "--marker-dir", "/m", "--loaded", "x"], /pm2-mark-loaded: --user needs a non-empty value/],
        [["pm2-remove", "--apps", "a", "--marker-dir", "/m", "--user"], /pm2-remove: --user needs a non-empty value/],
        [["pm2-remove", "--apps", "a", "--marker-dir", "/m"], /pm2-remove: --user is required/],
        [
            [
                "confirm-firewall",
                "--table",
                "inet limen_firewall",
                "--boot-ruleset",
                "/b",
                "--state-dir",
                "/s",
                "--marker",
                "/m",
                "--unit",
                "u",
                "--revert-unit",
                "r",
                "--sha256",
                "",
            ],
            /confirm-firewall: --sha256 needs a non-empty value/,
        ],
        [[], /usage: limen-host check-ready\|install-file/],
        [["pm2-enabel"], /usage: limen-host /],
    ])("%j", (args, message) => {
        const result = hostTool(args as string[], "");
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(message);
    });
});

describe("limen-host publishes certificate pairs only after checking them", () => {
    /** A certbot-like lineage: fullchain.pem and privkey.pem for `names`. */
    const lineage = (names: string[]): string => path.dirname(selfSignedPair(scratchDir(), names, 30).chainPath);
    const current = (publish: string) => readFileSync(path.join(publish, "current", "fullchain.pem"), "utf8");
    const versions = (publish: string) => readdirSync(publish).filter((entry) => entry !== "current" && !entry.startsWith("."));

    it("tls-placeholder publishes a self-signed pair once, and never replaces a pair already there", () => {
        const publish = path.join(scratchDir(), "limen");
        const first = hostTool(["tls-placeholder", "--publish-dir", publish, "--domains", "limen.example.org,www.example.org"], "");
        expect(first).toMatchObject({ status: 0, stdout: expect.stringMatching(/^published .*\/current -> \d{8}T/) });
        const placeholder = current(publish);
        expect(hostTool(["tls-placeholder", "--publish-dir", publish, "--domains", "limen.example.org"], "")).toMatchObject({ status: 0, stdout: `kept ${publish}/current\n` });
        expect(current(publish)).toBe(placeholder);
    });

    it("tls-publish swaps current/ to a new complete version, keeps the one before, and says unchanged for the same pair", () => {
        const publish = path.join(scratchDir(), "limen");
        const first = lineage(["limen.example.org"]);
        expect(hostTool(["tls-publish", "--lineage-dir", first, "--publish-dir", publish, "--domains", "limen.example.org"], "").status).toBe(0);
        expect(current(publish)).toBe(readFileSync(path.join(first, "fullchain.pem"), "utf8"));
        expect((statSync(path.join(publish, "current", "privkey.pem")).mode & 0o777).toString(8)).toBe("600");
        expect(hostTool(["tls-publish", "--lineage-dir", first, "--publish-dir", publish, "--domains", "limen.example.org"], "").stdout).toBe(`unchanged ${publish}/current\n`);
        const second = lineage(["limen.example.org"]);
        const third = lineage(["limen.example.org"]);
        hostTool(["tls-publish", "--lineage-dir", second, "--publish-dir", publish, "--domains", "limen.example.org"], "");
        hostTool(["tls-publish", "--lineage-dir", third, "--publish-dir", publish, "--domains", "limen.example.org"], "");
        expect(current(publish)).toBe(readFileSync(path.join(third, "fullchain.pem"), "utf8"));
        // The current version and the one before it; older ones are gone.
        expect(versions(publish)).toHaveLength(2);
    });

    it.each([
        [
            "a key of another certificate",
            (dir: string) => writeFileSync(path.join(dir, "privkey.pem"), readFileSync(path.join(lineage(["limen.example.org"]), "privkey.pem"))),
            /the key in .* does not belong to the certificate/,
        ],
        ["names that do not cover a domain", () => undefined, /does not cover www\.example\.org/],
        ["no certificate at all", (dir: string) => writeFileSync(path.join(dir, "fullchain.pem"), "not a certificate\n"), /holds no PEM certificate/],
    ])("tls-publish refuses %s and leaves the pair served", (_label, spoil, message) => {
        const publish = path.join(scratchDir(), "limen");
        const good = lineage(["limen.example.org", "www.example.org"]);
        hostTool(["tls-publish", "--lineage-dir", good, "--publish-dir", publish, "--domains", "limen.example.org,www.example.org"], "");
        const served = current(publish);
        const bad = lineage(["limen.example.org"]);
        spoil(bad);
        const refused = hostTool(["tls-publish", "--lineage-dir", bad, "--publish-dir", publish, "--domains", "limen.example.org,www.example.org"], "");
        expect(refused.status).toBe(1);
        expect(refused.stderr).toMatch(message);
        expect(refused.stderr).toContain(`${publish}/current is unchanged`);
        expect(current(publish)).toBe(served);
        expect(versions(publish)).toHaveLength(1);
    });

    it("acme-certificate and acme-remove refuse missing arguments before touching anything", () => {
        expect(hostTool(["acme-certificate", "--name", "limen"], "")).toMatchObject({ status: 1, stderr: "limen-host: acme-certificate: --domains is required\n" });
        expect(hostTool(["acme-remove", "--name", "limen", "--publish-dir", "/srv/elsewhere"], "")).toMatchObject({
            status: 1,
            stderr: expect.stringContaining("refusing to remove /srv/elsewhere: not under /etc/limen"),
        });
    });
});
