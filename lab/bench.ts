/**
 * Lab speed figures (printed, never asserted): full converge, no-op `pulumi up`, no-op preview, and
 * the SSH sessions one converge opens. Run by `npm run bench:lab` on freshly booted machines, from
 * the operator namespace. Targets on 2 cores: converge < 60 s, no-op preview < 10 s.
 */
import { configureLabStack, openLabStack, readLabHosts } from "./stack";
import { onHostOk } from "./test/probes";

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    const result = await work();
    console.log(`${label.padEnd(34)} ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(2)} s`);
    return result;
}

/** SSH logins sshd accepted since `since` (epoch seconds), on one machine. */
function sshLogins(host: "frontend" | "backend", since: number): number {
    const log = onHostOk(host, `journalctl -u ssh.service --since @${since} --no-pager -o cat | grep -c 'Accepted publickey' || true`);
    return Number(log.trim());
}

async function main(): Promise<void> {
    const hosts = readLabHosts();
    const stack = await openLabStack();
    await configureLabStack(hosts);
    const quiet = { color: "never" as const, onOutput: () => undefined };

    const since = Math.floor(Date.now() / 1000) - 1;
    const converge = await timed("full converge (pulumi up)", () => stack.up(quiet));
    const sessions = { frontend: sshLogins("frontend", since), backend: sshLogins("backend", since) };
    await timed("no-op pulumi up", () => stack.up(quiet));
    await timed("no-op pulumi preview", () => stack.preview({ ...quiet, expectNoChanges: true }));
    console.log(`${"resources created".padEnd(34)} ${JSON.stringify(converge.summary.resourceChanges)}`);
    console.log(`${"SSH sessions in one converge".padEnd(34)} ${sessions.frontend + sessions.backend} (frontend ${sessions.frontend}, backend ${sessions.backend})`);
    await timed("pulumi destroy", () => stack.destroy(quiet));
}

main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
});
