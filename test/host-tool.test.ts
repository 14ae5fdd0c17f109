import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import { backendFirewallSpec } from "../plan/firewall";
import { pm2Spec } from "../plan/pm2";
import { renderFirewall } from "../render/firewall";
import { renderEcosystem } from "../render/pm2";
import { selfSignedPair } from "./support/certificates";
import { prodRawConfig } from "./support/fixtures";
import { rootPath } from "./support/root-path";

/**
 * files/limen-host.sh run for real on this machine (in a fresh network namespace, so `nft` touches
 * nothing here): the same script the stack installs on every host.
 */
const tool = path.join(__dirname, "..", "files", "limen-host.sh");
const prod = parseConfig(prodRawConfig());

function hostTool(args: string[], stdin: string) {
    const result = spawnSync("unshare", ["--net", "bash", tool, ...args], { input: stdin, encoding: "utf8", env: { ...process.env, PATH: rootPath } });
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

/** pm2-apply's required arguments, for the cases that add to them. */
const pm2ApplyArgs = ["pm2-apply", "--user", "limen", "--ecosystem", "/e.js", "--apps", "a", "--marker-dir", "/m", "--loaded", "x"];

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

describe("limen-host acme-certificate runs certbot only when the lineage is not as planned", () => {
    /** A host with stand-ins for certbot (records its arguments, then `exitCode`) and systemctl. */
    function acmeHost(certbotExit: number) {
        const root = scratchDir();
        const bin = path.join(root, "bin");
        spawnSync("mkdir", ["-p", bin]);
        const calls = path.join(root, "certbot-calls");
        writeFileSync(path.join(bin, "certbot"), `#!/bin/sh\necho "$*" >> ${calls}\nexit ${certbotExit}\n`, { mode: 0o755 });
        writeFileSync(path.join(bin, "systemctl"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
        writeFileSync(path.join(root, "hook"), "#!/bin/sh\n", { mode: 0o755 });
        const lineageDir = path.join(root, "letsencrypt", "live", "limen");
        const publishDir = path.join(root, "tls", "limen");
        const args = ["acme-certificate", "--name", "limen", "--domains", "limen.example.org", "--email", "ops@example.org", "--server", "https://acme.example.org/dir"];
        const run = () => {
            const result = spawnSync(
                "unshare",
                [
                    "--net",
                    "bash",
                    tool,
                    ...args,
                    "--responder-address",
                    "127.0.0.1",
                    "--responder-port",
                    "8402",
                    "--lineage-dir",
                    lineageDir,
                    "--publish-dir",
                    publishDir,
                    "--hook",
                    path.join(root, "hook"),
                ],
                {
                    encoding: "utf8",
                    env: { ...process.env, PATH: `${bin}:${rootPath}` },
                },
            );
            let certbot: string[] = [];
            try {
                certbot = readFileSync(calls, "utf8").trim().split("\n");
            } catch {
                certbot = [];
            }
            return { status: result.status, stderr: result.stderr, certbot };
        };
        /** certbot's files as an earlier issuance left them, renewing with `authenticator` on `port`. */
        const issued = (port: number) => {
            const pair = selfSignedPair(lineageDir, ["limen.example.org"], 60);
            writeFileSync(path.join(lineageDir, "cert.pem"), readFileSync(pair.chainPath));
            spawnSync("mkdir", ["-p", path.join(root, "letsencrypt", "renewal")]);
            writeFileSync(
                path.join(root, "letsencrypt", "renewal", "limen.conf"),
                `[renewalparams]\nauthenticator = standalone\nserver = https://acme.example.org/dir\nhttp01_port = ${port}\nhttp01_address = 127.0.0.1\n`,
            );
            spawnSync("mkdir", ["-p", publishDir]);
            writeFileSync(path.join(publishDir, ".acme-email"), "ops@example.org\n");
        };
        return { run, issued, publishDir, lineageDir };
    }

    it("no lineage: certbot certonly with the standalone responder on 127.0.0.1, and a failure leaves the served pair", () => {
        const host = acmeHost(1);
        const result = host.run();
        expect(result.status).toBe(1);
        expect(result.certbot).toEqual([
            "certonly --non-interactive --agree-tos --no-eff-email --email ops@example.org --server https://acme.example.org/dir --standalone --http-01-address 127.0.0.1 --http-01-port 8402 --cert-name limen --domains limen.example.org --preferred-challenges http",
        ]);
        expect(result.stderr).toContain("certbot could not obtain the certificate limen for limen.example.org from https://acme.example.org/dir");
        expect(result.stderr).toContain("the pair served is unchanged");
    });

    it("a lineage as planned: certbot is not run, and its pair is published", () => {
        const host = acmeHost(1);
        host.issued(8402);
        const result = host.run();
        expect(result.status, result.stderr).toBe(0);
        expect(result.certbot).toEqual([]);
        expect(readFileSync(path.join(host.publishDir, "current", "fullchain.pem"), "utf8")).toBe(readFileSync(path.join(host.lineageDir, "fullchain.pem"), "utf8"));
    });

    it("a lineage renewed another way (port 80): reissued with the planned responder, forced", () => {
        const host = acmeHost(0);
        host.issued(80);
        const result = host.run();
        expect(result.status, result.stderr).toBe(0);
        expect(result.certbot).toHaveLength(1);
        expect(result.certbot[0]).toMatch(/^certonly .* --http-01-port 8402 .* --force-renewal$/);
    });
});

describe("limen-host pm2-apply: one Node process on pm2's API", () => {
    /**
     * A stand-in pm2 package laid out as npm installs it (`<package>/bin/pm2`, on PATH through a
     * symlink) whose API records each call; app `a` is still launching at the first look and online
     * from the second, `b` is online at once. `reloadError` makes the reload fail as pm2 reports it.
     */
    function fakePm2(options: { reloadError?: string } = {}) {
        const root = scratchDir();
        const pkg = path.join(root, "lib", "node_modules", "pm2");
        const bin = path.join(root, "bin");
        spawnSync("mkdir", ["-p", path.join(pkg, "bin"), bin]);
        writeFileSync(path.join(pkg, "bin", "pm2"), "#!/bin/sh\necho the CLI is not used >&2; exit 99\n", { mode: 0o755 });
        spawnSync("ln", ["-s", path.join(pkg, "bin", "pm2"), path.join(bin, "pm2")]);
        const calls = path.join(root, "pm2-calls");
        writeFileSync(
            path.join(pkg, "index.js"),
            `const fs = require("fs");
const record = (call) => fs.appendFileSync(${JSON.stringify(calls)}, call + "\\n");
let looks = 0;
exports.connect = (cb) => { record("connect " + process.env.PM2_HOME); cb(null); };
exports.reload = (file, opts, cb) => { record("reload " + file + " " + JSON.stringify(opts)); console.log("[PM2] App [a] launched"); cb(${options.reloadError ? `new Error(${JSON.stringify(options.reloadError)})` : "null"}); };
exports.list = (cb) => { looks++; record("list"); const a = looks < 2 ? "launching" : "online"; cb(null, [{ name: "a", pm2_env: { status: a } }, { name: "a", pm2_env: { status: "online" } }, { name: "b", pm2_env: { status: "online" } }]); };
exports.dump = (force, cb) => { record("dump " + force); cb(null); };
`,
        );
        // sudo -u USER -H CMD...: runs CMD (the test runs as root already).
        writeFileSync(path.join(bin, "sudo"), '#!/bin/sh\nshift 3\nexec "$@"\n', { mode: 0o755 });
        const loaded = path.join(root, "ecosystem.config.js");
        writeFileSync(loaded, "module.exports = {};\n");
        const markers = path.join(root, "markers");
        const run = () =>
            spawnSync("bash", [tool, "pm2-apply", "--user", "root", "--ecosystem", loaded, "--apps", "a,b", "--marker-dir", markers, "--loaded", loaded], {
                encoding: "utf8",
                env: { ...process.env, PATH: `${bin}:${rootPath}` },
            });
        const recorded = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []);
        return { run, recorded, loaded, markers };
    }

    it("starts or reloads with the current environment, looks until every process of each app is online, saves, records what they loaded", () => {
        const pm2 = fakePm2();
        const result = pm2.run();
        expect(result.status, result.stderr).toBe(0);
        expect(pm2.recorded()).toEqual(["connect /root/.pm2", `reload ${pm2.loaded} {"updateEnv":true}`, "list", "list", "dump true"]);
        expect(readFileSync(path.join(pm2.markers, "loaded-root.sha256"), "utf8")).toContain(pm2.loaded);
        // pm2's own chatter stays out of the tool's output.
        expect(result.stdout).toBe("pm2 apps online: a,b\n");
    });

    it("a failed reload stops the apply with pm2's words: nothing saved, nothing recorded", () => {
        const pm2 = fakePm2({ reloadError: "File ecosystem.config.js malformated" });
        const result = pm2.run();
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(`limen-host: pm2-apply: starting or reloading ${pm2.loaded}: File ecosystem.config.js malformated`);
        expect(pm2.recorded()).not.toContain("dump true");
        expect(existsSync(path.join(pm2.markers, "loaded-root.sha256"))).toBe(false);
    });
});

describe("limen-host confirm-firewall reloads systemd's unit files at most once, and only when needed", () => {
    /**
     * An already confirmed ruleset (the repair of its boot unit) on a host whose systemctl stand-in
     * records each call and answers `is-enabled` and `show` (LoadState, NeedDaemonReload) as told.
     */
    function confirmOn(unit: { enabled: boolean; loadState: string; needsReload: boolean }) {
        const root = scratchDir();
        const bin = path.join(root, "bin");
        spawnSync("mkdir", ["-p", bin]);
        const calls = path.join(root, "systemctl-calls");
        writeFileSync(
            path.join(bin, "systemctl"),
            [
                "#!/bin/sh",
                `echo "$*" >> ${calls}`,
                `case "$1" in is-enabled) exit ${unit.enabled ? 0 : 1} ;; show) printf 'NeedDaemonReload=%s\\nLoadState=%s\\n' ${unit.needsReload ? "yes" : "no"} ${unit.loadState} ;; esac`,
                "exit 0",
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        const ruleset = path.join(root, "limen.nft");
        writeFileSync(ruleset, "table inet limen_firewall {}\n");
        const sha = spawnSync("sha256sum", [ruleset], { encoding: "utf8" }).stdout.split(" ")[0]!;
        const result = spawnSync(
            "bash",
            [
                tool,
                "confirm-firewall",
                ...["--table", "inet limen_firewall", "--boot-ruleset", ruleset, "--state-dir", path.join(root, "state"), "--marker", path.join(root, "pending.sha256")],
                ...["--unit", "limen-firewall.service", "--revert-unit", "limen-firewall-revert", "--sha256", sha],
            ],
            { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${rootPath}` } },
        );
        expect(result.status, result.stderr).toBe(0);
        expect(result.stdout).toBe(`already confirmed ${sha}\n`);
        return readFileSync(calls, "utf8")
            .trim()
            .split("\n")
            .filter((call) => !/^(stop|reset-failed) limen-firewall-revert/.test(call));
    }

    const show = "show --property=LoadState --property=NeedDaemonReload limen-firewall.service";
    it.each([
        // Disabled: `systemctl enable`, which reloads systemd's unit files by itself.
        [{ enabled: false, loadState: "not-found", needsReload: false }, ["is-enabled --quiet limen-firewall.service", "enable --quiet limen-firewall.service"]],
        [{ enabled: true, loadState: "loaded", needsReload: false }, ["is-enabled --quiet limen-firewall.service", show]],
        [{ enabled: true, loadState: "loaded", needsReload: true }, ["is-enabled --quiet limen-firewall.service", show, "daemon-reload"]],
        // systemd holding a broken copy (a unit file removed under it) reloads even without NeedDaemonReload.
        [{ enabled: true, loadState: "error", needsReload: false }, ["is-enabled --quiet limen-firewall.service", show, "daemon-reload"]],
    ])("boot unit %j: %j", (unit, expected) => {
        expect(confirmOn(unit)).toEqual(expected);
    });
});
