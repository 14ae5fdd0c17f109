/**
 * launch/: what `pulumi up` and the engine actually start. The program and the provider plugin run as
 * esbuild bundles of the TypeScript sources (launch/bundle.cjs); these tests check that a bundle is
 * rebuilt whenever it could differ from the sources, never half-written, and that the bundled program
 * registers exactly what index.ts registers.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { prodRawConfig, throwawayPrivateKey, withOverride } from "../support/fixtures";
import { mockedProgramScript } from "../support/mocked-program";

const root = path.join(__dirname, "..", "..");
const { freshBundle } = createRequire(__filename)(path.join(root, "launch", "bundle.cjs")) as {
    freshBundle(target: { name: string; entry: string; root?: string; cacheDir?: string }): { bundle: string; built: boolean };
};

describe("freshBundle", () => {
    let project: string;
    let cacheDir: string;
    const target = () => ({ name: "app", entry: "main.ts", root: project, cacheDir });
    /** Runs the bundle in a fresh Node process (a require cache would hide a rebuild) and returns what it prints. */
    const run = (bundle: string) => spawnSync(process.execPath, [bundle], { encoding: "utf8" }).stdout.trim();

    beforeEach(() => {
        project = mkdtempSync(path.join(tmpdir(), "limen-bundle-"));
        cacheDir = path.join(project, "cache");
        writeFileSync(path.join(project, "main.ts"), `import { greeting } from "./greeting";\nconsole.log(greeting satisfies string);\n`);
        writeFileSync(path.join(project, "greeting.ts"), `export const greeting: string = "one";\n`);
    });
    afterEach(() => rmSync(project, { recursive: true, force: true }));

    it("builds once, then reuses the bundle while no source changed", () => {
        const first = freshBundle(target());
        expect(first.built).toBe(true);
        expect(run(first.bundle)).toBe("one");
        const second = freshBundle(target());
        expect(second).toEqual({ bundle: first.bundle, built: false });
        expect(run(second.bundle)).toBe("one");
    });

    it("rebuilds when an imported file's content changes, whatever its modification time says", () => {
        freshBundle(target());
        const greeting = path.join(project, "greeting.ts");
        const { mtime } = statSync(greeting);
        writeFileSync(greeting, `export const greeting: string = "two";\n`);
        utimesSync(greeting, mtime, mtime);
        const next = freshBundle(target());
        expect(next.built).toBe(true);
        expect(run(next.bundle)).toBe("two");
    });

    it("rebuilds when a new import appears, and takes the new file in", () => {
        freshBundle(target());
        writeFileSync(path.join(project, "farewell.ts"), `export const farewell = "bye";\n`);
        writeFileSync(path.join(project, "main.ts"), `import { greeting } from "./greeting";\nimport { farewell } from "./farewell";\nconsole.log(greeting + " " + farewell);\n`);
        const next = freshBundle(target());
        expect(next.built).toBe(true);
        expect(run(next.bundle)).toBe("one bye");
        expect(JSON.parse(readFileSync(path.join(cacheDir, "app.stamp.json"), "utf8")).inputs).toEqual(["farewell.ts", "greeting.ts", "main.ts"]);
    });

    it("rebuilds when a stamped source is gone, and says where the build fails", () => {
        freshBundle(target());
        rmSync(path.join(project, "greeting.ts"));
        expect(() => freshBundle(target())).toThrow(/^main\.ts does not build:\n {2}main\.ts:1:\d+: Could not resolve "\.\/greeting"/);
    });

    it("refuses sources that do not parse, names file and line, and leaves no partial file behind", () => {
        freshBundle(target());
        writeFileSync(path.join(project, "greeting.ts"), `export const greeting: string = ;\n`);
        expect(() => freshBundle(target())).toThrow(/^main\.ts does not build:\n {2}greeting\.ts:1:\d+: /);
        expect(readdirSync(cacheDir).filter((f) => f.endsWith(".tmp") || f.endsWith(".tmp.map"))).toEqual([]);
        // The old bundle is not taken for current: the next start tries again and fails again.
        expect(() => freshBundle(target())).toThrow(/does not build/);
    });

    it("tells the bundle which checkout it was built from (its own path is under node_modules, which checkouts may share)", () => {
        writeFileSync(path.join(project, "main.ts"), `declare const LIMEN_PROJECT_ROOT: string;\nconsole.log(LIMEN_PROJECT_ROOT);\n`);
        expect(run(freshBundle(target()).bundle)).toBe(project);
    });

    it("rebuilds when the stamp is missing or does not match", () => {
        const { bundle } = freshBundle(target());
        rmSync(path.join(cacheDir, "app.stamp.json"));
        expect(freshBundle(target()).built).toBe(true);
        const stampPath = path.join(cacheDir, "app.stamp.json");
        const stamp = JSON.parse(readFileSync(stampPath, "utf8"));
        writeFileSync(stampPath, JSON.stringify({ ...stamp, digest: "0".repeat(64) }));
        expect(freshBundle(target()).built).toBe(true);
        rmSync(bundle);
        expect(freshBundle(target()).built).toBe(true);
        expect(existsSync(bundle)).toBe(true);
    });
});

/** The program run whole loads the deploy key into the Docker provider's ssh-agent: a real key (the agent refuses a fake one). */
const withRealKey = (raw: Record<string, string>) => ({ ...raw, "limen:sshPrivateKey": throwawayPrivateKey() });

describe("the bundled program", () => {
    /**
     * Runs a program under Pulumi's mocks in its own Node process, as the language host would (SDK
     * first, then the program), and returns every registration (type, name, inputs) and the outputs.
     */
    function registrationsOf(program: string, preload = ""): { resources: unknown[]; outputs: string[] } {
        const driver = mockedProgramScript(program, withRealKey(prodRawConfig()), {
            preload,
            settleMs: 1000,
            settled:
                "console.log(JSON.stringify({ resources: registered.sort((a, b) => (a.type + a.name).localeCompare(b.type + b.name)), outputs: Object.keys(exported).sort() }))",
        });
        const result = spawnSync(process.execPath, ["-e", driver], { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
        if (result.status !== 0) throw new Error(`${program} failed: ${result.stderr}`);
        return JSON.parse(result.stdout);
    }

    it("is package.json's main, and Pulumi.yaml runs it without ts-node", () => {
        expect(JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).main).toBe("launch/program.cjs");
        expect(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")).toMatch(/^ {4}typescript: false$/m);
    });

    it("registers exactly what index.ts registers through ts-node, and exports the same outputs", () => {
        const bundled = registrationsOf("./launch/program.cjs");
        const direct = registrationsOf("./index.ts", `require("ts-node").register({ transpileOnly: true, project: "tsconfig.json" });`);
        expect(bundled.resources.length).toBeGreaterThan(10);
        expect(bundled).toEqual(direct);
        expect(bundled.outputs).toContain("frontendRulesetSha256");
    }, 60_000);

    it("never loads @pulumi/pulumi's index, TypeScript or npm's arborist, Envoy's Docker resources included (about 0.75 s per deploy)", () => {
        // As the language host's harness starts it: the runtime's own modules, then the program.
        const driver = mockedProgramScript("./launch/program.cjs", withRealKey(prodRawConfig()), {
            settleMs: 1000,
            settled: "console.log(JSON.stringify(Object.keys(require.cache)))",
        });
        const result = spawnSync(process.execPath, ["-e", driver], { cwd: root, encoding: "utf8" });
        expect(result.stderr).toBe("");
        const loaded = JSON.parse(result.stdout) as string[];
        // Its package.json only, for the plugin version (components/docker-resources.ts).
        expect(loaded.filter((file) => file.includes("@pulumi/docker/"))).toEqual([path.join(root, "node_modules", "@pulumi", "docker", "package.json")]);
        expect(loaded.some((file) => file.endsWith("node_modules/@pulumi/pulumi/resource.js"))).toBe(true);
        expect(loaded.filter((file) => /node_modules\/(typescript|@npmcli\/arborist)\//.test(file) || file.endsWith("node_modules/@pulumi/pulumi/index.js"))).toEqual([]);
    }, 60_000);

    it("maps stack traces with Node's own source maps, not the harness's source-map-support (which mapped ~900 SDK traces per run)", () => {
        // As the harness starts it (source-map-support installed first), with a config the program refuses.
        const driver = [
            'require("@pulumi/pulumi/cmd/run/instrumentation");',
            'require("source-map-support/register");',
            'require("@pulumi/pulumi/runtime/mocks").setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, "limen", "prod", false);',
            `require("@pulumi/pulumi/runtime/config").setAllConfig(${JSON.stringify(withOverride(prodRawConfig(), "backend", { address: "127.0.0.1" }))}, ["limen:sshPrivateKey"]);`,
            "let frames = [];",
            'try { require("./launch/program.cjs"); } catch (error) { frames = String(error.stack).split("\\n").filter((line) => /^\\s+at /.test(line)); }',
            "console.log(JSON.stringify({ hook: typeof Error.prepareStackTrace, frames }));",
        ].join("\n");
        const result = spawnSync(process.execPath, ["-e", driver], { cwd: root, encoding: "utf8" });
        expect(result.stderr).toBe("");
        const { hook, frames } = JSON.parse(result.stdout) as { hook: string; frames: string[] };
        expect(hook).toBe("undefined");
        // The refusal still names the TypeScript line that refused it.
        expect(frames[0]).toMatch(/^\s+at parseConfig \(.*\/config\/load\.ts:\d+:\d+\)$/);
        expect(frames.some((frame) => frame.includes(`${path.sep}index.ts:`))).toBe(true);
    }, 60_000);

    it("reads the project's files from the project root, wherever the bundle sits", () => {
        const bundled = registrationsOf("./launch/program.cjs") as { resources: { type: string; inputs: { content?: string; contentSha256?: string } }[] };
        const hostTool = bundled.resources.find((r) => r.type === "limen:host:HostTool");
        // The host tool is named by the sha256 committed beside its sources; its bytes are no input.
        const committed = readFileSync(path.join(root, "tools", "limen-host", "limen-host.sha256"), "utf8").split(" ")[0];
        expect(hostTool?.inputs.contentSha256).toBe(committed);
        expect(hostTool?.inputs).not.toHaveProperty("content");
    }, 60_000);
});
