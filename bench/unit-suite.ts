/**
 * Prints the wall time of the two vitest projects, each run on its own as `npm run test:unit` and
 * `npm run test:tools` run it, and their total (target for unit, the inner loop: under 10 s on a
 * 2-core machine, vitest's own start included). A figure to read, not a test that fails on a slow day.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const root = path.join(__dirname, "..");
const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs");
const projects = ["unit", "tools"] as const;
const seconds: Record<(typeof projects)[number] | "total", number[]> = { unit: [], tools: [], total: [] };

for (let run = 1; run <= runs; run++) {
    let total = 0;
    for (const project of projects) {
        const started = process.hrtime.bigint();
        const result = spawnSync(process.execPath, [vitest, "run", "--project", project, "--reporter=dot"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
        const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
        if (result.status !== 0) {
            console.error(`run ${run}: the ${project} tests failed (exit ${result.status}); their time is not a benchmark figure`);
            process.exit(1);
        }
        seconds[project].push(elapsed);
        total += elapsed;
    }
    seconds.total.push(total);
    console.log(`run ${run}: unit ${seconds.unit.at(-1)!.toFixed(2)} s, tools ${seconds.tools.at(-1)!.toFixed(2)} s, total ${total.toFixed(2)} s`);
}

const targets: Record<keyof typeof seconds, string> = { unit: "; target < 10 s", tools: "", total: "" };
for (const [label, times] of Object.entries(seconds) as [keyof typeof seconds, number[]][]) {
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    console.log(
        `${label.padEnd(5)} wall time: median ${median.toFixed(2)} s over ${runs} runs (min ${sorted[0]?.toFixed(2)} s, max ${sorted.at(-1)?.toFixed(2)} s)${targets[label]}`,
    );
}
