/**
 * The program's start as `pulumi up` / `preview` pay it on every run: Node with the project's
 * Pulumi.yaml runtime options (ts-node with the tsconfig named there, type-checking off when that
 * tsconfig says `noCheck`, as @pulumi/pulumi's cmd/run decides), index.ts run to its last resource
 * registration under Pulumi's mocks (no engine, no host). Printed beside the same start with
 * type-checking on, which is what every deploy paid before tsconfig.deploy.json. A figure to read, not
 * a test.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

const root = path.join(__dirname, "..");
const runs = Number(process.env.BENCH_RUNS ?? 3);
const project = parse(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { runtime: { options?: { tsconfig?: string } } };
const deployTsconfig = project.runtime.options?.tsconfig ?? "tsconfig.json";
const noCheck = Boolean((JSON.parse(readFileSync(path.join(root, deployTsconfig), "utf8")) as { compilerOptions?: { noCheck?: boolean } }).compilerOptions?.noCheck);

// Runs inside the measured process: mocks, the prod config, then index.ts; exits once registrations settle.
const driver = `
const pulumi = require("@pulumi/pulumi");
const { prodRawConfig } = require("./test/support/fixtures");
pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name + "-id", state: a.inputs }), call: () => ({}) }, "limen", "prod", false);
pulumi.runtime.setAllConfig(prodRawConfig(), ["limen:sshPrivateKey"]);
require("./index");
setTimeout(() => process.exit(0), 200);
`;

function measure(label: string, env: Record<string, string>): void {
    const wall: number[] = [];
    let cpu = 0;
    let rss = 0;
    for (let run = 0; run < runs; run++) {
        const started = process.hrtime.bigint();
        const result = spawnSync("/usr/bin/time", ["-f", "%U %S %M", process.execPath, "-r", "ts-node/register", "-e", driver], {
            cwd: root,
            env: { ...process.env, ...env },
            encoding: "utf8",
        });
        wall.push(Number(process.hrtime.bigint() - started) / 1e9 - 0.2);
        if (result.status !== 0) {
            console.error(`${label}: the program failed (exit ${result.status}):\n${result.stderr.slice(-2000)}`);
            process.exit(1);
        }
        const [user = "0", system = "0", maxKb = "0"] = result.stderr.trim().split("\n").at(-1)!.split(" ");
        cpu += Number(user) + Number(system);
        rss = Math.max(rss, Number(maxKb));
    }
    wall.sort((a, b) => a - b);
    console.log(`${label.padEnd(52)} ${wall[Math.floor(runs / 2)]!.toFixed(2)} s wall (median of ${runs}), ${(cpu / runs).toFixed(2)} s CPU, ${(rss / 1024).toFixed(0)} MiB`);
}

measure(`program start as deployed (${deployTsconfig}, noCheck ${noCheck})`, { TS_NODE_PROJECT: deployTsconfig, TS_NODE_TRANSPILE_ONLY: String(noCheck) });
measure("program start with type-checking (tsconfig.json)", { TS_NODE_PROJECT: "tsconfig.json", TS_NODE_TRANSPILE_ONLY: "false" });
