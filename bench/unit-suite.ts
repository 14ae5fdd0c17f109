/**
 * Prints the unit suite's wall time (target: under 20 s on a 2-core machine). A figure to read, not
 * a test that fails on a slow day.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const root = path.join(__dirname, "..");
const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs");
const seconds: number[] = [];

for (let run = 1; run <= runs; run++) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [vitest, "run", "--reporter=dot"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0) {
        console.error(`run ${run}: the unit suite failed (exit ${result.status}); its time is not a benchmark figure`);
        process.exit(1);
    }
    seconds.push(elapsed);
    console.log(`run ${run}: ${elapsed.toFixed(2)} s`);
}
seconds.sort((a, b) => a - b);
const median = seconds[Math.floor(seconds.length / 2)] ?? NaN;
console.log(`unit suite wall time: median ${median.toFixed(2)} s over ${runs} runs (min ${seconds[0]?.toFixed(2)} s, max ${seconds.at(-1)?.toFixed(2)} s); target < 20 s`);
