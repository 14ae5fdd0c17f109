/**
 * The program's start as `pulumi up` / `preview` pay it on every run: Node loads the Pulumi SDK (the
 * language host's cmd/run does that first), then the program named by package.json "main" (Pulumi.yaml
 * sets `typescript: false`: launch/program.cjs, index.ts built into one file), run to its last resource
 * registration under Pulumi's mocks (no engine, no host). Printed for the usual start (the bundle is
 * current), the first start after an edit (the bundle is rebuilt), and, for comparison, the same
 * program through ts-node without type-checking, which is what the language host runs for a
 * TypeScript project by default. A figure to read, not a test.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { prodRawConfig } from "../test/support/fixtures";
import { mockedProgramScript } from "../test/support/mocked-program";

const root = path.join(__dirname, "..");
const runs = Number(process.env.BENCH_RUNS ?? 5);
const main = (JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { main: string }).main;
const settle = 0.2;
const prodConfig = prodRawConfig();
// Envoy is the one part that loads @pulumi/docker, and with it @pulumi/pulumi's whole index (components/envoy.ts).
const envoyOffConfig = { ...prodConfig, "limen:envoy": JSON.stringify({ ...JSON.parse(prodConfig["limen:envoy"] ?? "{}"), enabled: false }) };

// Runs inside the measured process, after what the harness loads first (its instrumentation and
// source-map-support); exits once registrations settle.
const driver = (program: string, preload: string, config: Record<string, string>) =>
    mockedProgramScript(program, config, {
        preload: `${preload}\nrequire("@pulumi/pulumi/cmd/run/instrumentation");\nrequire("source-map-support/register");`,
        settleMs: settle * 1000,
        settled: "process.exit(0)",
    });

interface Variant {
    preload?: string;
    before?: () => void;
    config?: Record<string, string>;
}

function measure(label: string, program: string, { preload = "", before = () => {}, config = prodConfig }: Variant = {}): void {
    const wall: number[] = [];
    let cpu = 0;
    let rss = 0;
    for (let run = 0; run < runs; run++) {
        before();
        const started = process.hrtime.bigint();
        const result = spawnSync("/usr/bin/time", ["-f", "%U %S %M", process.execPath, "-e", driver(program, preload, config)], {
            cwd: root,
            encoding: "utf8",
        });
        wall.push(Number(process.hrtime.bigint() - started) / 1e9 - settle);
        if (result.status !== 0) {
            console.error(`${label}: the program failed (exit ${result.status}):\n${result.stderr.slice(-2000)}`);
            process.exit(1);
        }
        const [user = "0", system = "0", maxKb = "0"] = result.stderr.trim().split("\n").at(-1)!.split(" ");
        cpu += Number(user) + Number(system);
        rss = Math.max(rss, Number(maxKb));
    }
    wall.sort((a, b) => a - b);
    console.log(`${label.padEnd(60)} ${wall[Math.floor(runs / 2)]!.toFixed(2)} s wall (median of ${runs}), ${(cpu / runs).toFixed(2)} s CPU, ${(rss / 1024).toFixed(0)} MiB`);
}

const { defaultCacheDir } = require("../launch/bundle.cjs") as { defaultCacheDir: string };
const stamp = path.join(defaultCacheDir, "program.stamp.json");
measure(`prod config (${main}, bundle current)`, `./${main}`);
measure(`prod config, first start after an edit (bundle rebuilt)`, `./${main}`, { before: () => rmSync(stamp, { force: true }) });
measure("prod config with Envoy off (as in the lab)", `./${main}`, { config: envoyOffConfig });
measure("prod config, index.ts through ts-node, transpile-only", "./index.ts", {
    preload: `require("ts-node").register({ transpileOnly: true, project: "tsconfig.json" });`,
});
