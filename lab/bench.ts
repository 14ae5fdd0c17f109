/**
 * Lab speed figures (printed, never asserted): full converge, no-op `pulumi up`, no-op
 * `pulumi up --refresh` (which reads every artifact on both hosts), no-op preview, and the SSH
 * connections each opens. Run by `npm run bench:lab` on freshly booted machines, from the operator
 * namespace. Targets on 2 cores: `up --refresh` at most the Ansible peer's no-op run (3.5 s), which
 * also reads the hosts; one SSH connection per host is the floor.
 *
 * Two times per operation: the Automation API call (which also runs `pulumi stack history` and the like
 * around the operation), and the `pulumi` CLI process of the operation itself, minus the program's start:
 * the Automation API's program is already loaded in this process.
 *
 * Then the same operations as a user typing `pulumi up` runs them: the plain CLI, which starts the
 * Node.js language host (the lab's stand-in, lab/language-host), which starts Node on the SDK's run
 * harness with package.json's main, so the program's start is in the figure. Those runs begin on the
 * hosts the first part destroyed (not freshly booted: pm2 and certbot are installed by then).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { configureLabStack, openLabStack, pulumiBinary, readLabHosts, runPulumiCli } from "./stack";
import { onHostOk } from "./test/probes";

/** An install root whose bin/pulumi runs the engine and records how long each operation's process took. */
function timedCliRoot(): { root: string; operationSeconds: () => number[] } {
    const root = mkdtempSync(path.join(tmpdir(), "limen-bench-cli-"));
    const log = path.join(root, "operations.log");
    mkdirSync(path.join(root, "bin"));
    const wrapper = path.join(root, "bin", "pulumi");
    writeFileSync(
        wrapper,
        [
            "#!/bin/bash",
            `started=$(date +%s%N); ${JSON.stringify(pulumiBinary())} "$@"; status=$?`,
            `case "$1" in up|preview|destroy|refresh) echo "$1 $(( $(date +%s%N) - started ))" >> ${JSON.stringify(log)} ;; esac`,
            "exit $status",
            "",
        ].join("\n"),
    );
    chmodSync(wrapper, 0o755);
    process.on("exit", () => rmSync(root, { recursive: true, force: true }));
    return {
        root,
        operationSeconds: () => {
            const lines = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
            return lines.map((line) => Number(line.split(" ")[1]) / 1e9);
        },
    };
}

const cli = timedCliRoot();
process.env.LIMEN_LAB_PULUMI_ROOT = cli.root;

const runs = 3;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function timedRuns(label: string, work: () => Promise<unknown>, count = runs): Promise<void> {
    const seconds: number[] = [];
    const cliSeconds: number[] = [];
    let logins = 0;
    for (let run = 0; run < count; run++) {
        const before = totalLogins();
        const operationsBefore = cli.operationSeconds().length;
        const started = process.hrtime.bigint();
        await work();
        seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
        cliSeconds.push(
            cli
                .operationSeconds()
                .slice(operationsBefore)
                .reduce((sum, s) => sum + s, 0),
        );
        logins += totalLogins() - before;
    }
    const list = (values: number[]) => values.map((s) => s.toFixed(2)).join(", ");
    console.log(
        `${label.padEnd(40)} ${median(seconds).toFixed(2)} s median of ${count} (${list(seconds)}); pulumi CLI process ${median(cliSeconds).toFixed(2)} s (${list(cliSeconds)}); SSH connections per run: ${logins / count}`,
    );
}

/** SSH logins sshd has accepted since boot, on both machines (the journal counts every new connection). */
function totalLogins(): number {
    const count = (host: "frontend" | "backend") => Number(onHostOk(host, "journalctl -u ssh.service -b --no-pager -o cat | grep -c 'Accepted publickey' || true").trim());
    return count("frontend") + count("backend");
}

async function main(): Promise<void> {
    const hosts = readLabHosts();
    const stack = await openLabStack();
    await configureLabStack(hosts);
    const quiet = { color: "never" as const, onOutput: () => undefined };

    let created = {};
    await timedRuns(
        "full converge (pulumi up)",
        async () => {
            created = (await stack.up(quiet)).summary.resourceChanges ?? {};
        },
        1,
    );
    console.log(`${"resources created".padEnd(40)} ${JSON.stringify(created)}`);
    await timedRuns("no-op pulumi up", () => stack.up(quiet));
    await timedRuns("no-op pulumi up --refresh (reads hosts)", () => stack.up({ ...quiet, refresh: true }));
    await timedRuns("no-op pulumi preview", () => stack.preview({ ...quiet, expectNoChanges: true }));
    await timedRuns("no-op pulumi preview --refresh", () => stack.preview({ ...quiet, refresh: true, expectNoChanges: true }));
    await timedRuns("pulumi destroy", () => stack.destroy(quiet), 1);

    console.log("\nThe plain CLI with the Node.js language host (the program's start included):");
    const pulumi =
        (...args: string[]) =>
        async () =>
            runPulumiCli(args, path.join(cli.root, "bin", "pulumi"));
    await timedRuns("converge after destroy (pulumi up)", pulumi("up", "--yes", "--skip-preview"), 1);
    await timedRuns("no-op pulumi up", pulumi("up", "--yes", "--skip-preview"));
    await timedRuns("no-op pulumi up --refresh (reads hosts)", pulumi("up", "--yes", "--skip-preview", "--refresh"));
    await timedRuns("no-op pulumi preview", pulumi("preview", "--expect-no-changes"));
    await timedRuns("no-op pulumi preview --refresh", pulumi("preview", "--expect-no-changes", "--refresh"));
    await timedRuns("pulumi destroy", pulumi("destroy", "--yes", "--skip-preview"), 1);
}

main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
});
