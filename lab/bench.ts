/**
 * Lab speed figures (printed, never asserted): full converge, no-op `pulumi up`, no-op
 * `pulumi up --refresh` (which reads every artifact on both hosts), no-op preview, and the SSH
 * connections each opens. Run by `npm run bench:lab` on freshly booted machines, from the operator
 * namespace. Targets on 2 cores: `up --refresh` at most the Ansible peer's no-op run (3.5 s), which
 * also reads the hosts; one SSH connection per host is the floor.
 */
import { configureLabStack, openLabStack, readLabHosts } from "./stack";
import { onHostOk } from "./test/probes";

const runs = 3;

async function timedRuns(label: string, work: () => Promise<unknown>, count = runs): Promise<{ medianSeconds: number; logins: number }> {
    const seconds: number[] = [];
    let logins = 0;
    for (let run = 0; run < count; run++) {
        const before = totalLogins();
        const started = process.hrtime.bigint();
        await work();
        seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
        logins += totalLogins() - before;
    }
    seconds.sort((a, b) => a - b);
    const medianSeconds = seconds[Math.floor(seconds.length / 2)]!;
    const perRun = logins / count;
    console.log(`${label.padEnd(40)} ${medianSeconds.toFixed(2)} s median of ${count} (${seconds.map((s) => s.toFixed(2)).join(", ")}); SSH connections per run: ${perRun}`);
    return { medianSeconds, logins: perRun };
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
}

main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
});
