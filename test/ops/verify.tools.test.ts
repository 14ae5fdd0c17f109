/**
 * `npm run verify` (ops/verify.ts): the module graph it loads (no Pulumi SDK), and the whole command end
 * to end with a stand-in pulumi and stand-in hosts.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it, vi } from "vitest";
import { ConfigError, parseConfig } from "../../config";
import { HostRole, RunOnHost } from "../../ops/remote";
import { main } from "../../ops/verify";
import { otherRawConfig, prodRawConfig, repoRoot, withOverride } from "../support/fixtures";
import { other, otherPlan } from "../support/probe-outputs";
import { deletePublicPorts, HostChanges, standInHosts, allCheckNames, toExec, fakePulumi } from "../support/stand-in-hosts";

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

describe("npm run verify, end to end with a stand-in pulumi and stand-in hosts", () => {
    const secretKeys = ["limen:sshPrivateKey", "limen:tlsPrivateKey", "limen:envProductionSecrets"];

    /** main() with its stdout and stderr captured. */
    async function runMain(argv: string[], env: NodeJS.ProcessEnv, changes?: HostChanges): Promise<{ code: number; stdout: string; stderr: string; keys: string[] }> {
        const hosts = standInHosts(other, otherPlan, changes);
        const keys: string[] = [];
        const runOn: RunOnHost = async (target, key, command, options) => {
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
