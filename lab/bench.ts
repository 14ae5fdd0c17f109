/**
 * Lab speed figures (printed, never asserted): full converge, no-op `pulumi up`, no-op
 * `pulumi up --refresh` (which reads every artifact on both hosts), no-op preview, a route change
 * (Envoy's release: a candidate, a standby, two drains of `--drain-time-s`), the SSH
 * connections each opens and the CPU each run used (the whole machine's, and each host's own). Run
 * by `npm run bench:lab` on freshly booted machines, from the operator namespace. Targets on 2
 * cores: `up --refresh` at most the Ansible peer's no-op run (3.5 s), which also reads the hosts; one
 * SSH connection per host is the floor.
 *
 * Two times per operation: the Automation API call (which also runs `pulumi stack history` and the like
 * around the operation), and the `pulumi` CLI process of the operation itself, minus the program's start:
 * the Automation API's program is already loaded in this process.
 *
 * Then the same operations as a user typing `pulumi up` runs them: the plain CLI, which starts the
 * Node.js language host (Pulumi's own, from the shared tools folder or PATH: lab/engine/toolchain.sh
 * chose it, and the figures name it), which starts Node on the SDK's run
 * harness with package.json's main, so the program's start is in the figure. Those runs begin on the
 * hosts the first part destroyed (not freshly booted: pm2 and certbot are installed by then).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { writePeerInventory } from "./ansible-peer/render";
import { configureLabStack, LabHosts, openLabStack, pulumiBinary, readLabHosts, runPulumiCli } from "./stack";
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

const runs = 5;

/**
 * CPU seconds spent so far: the whole machine (/proc/stat, so the operator's processes too) and each
 * lab host's own cgroup (cgroup v2 cpu.stat; lab/hosts/lib.sh lists each machine's cgroups). Read
 * through the root of the process that started the lab, since `ip netns exec` remounts /sys. Without
 * a readable cgroup v2 the hosts' figures are left out.
 */
function cpuSeconds(): { total: number; hosts: Partial<Record<"frontend" | "backend", number>> } {
    const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait, in 1/100 s.
    const busy = ticks.slice(0, 8).reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0) / 100;
    const root = process.env.LIMEN_HOST_NS_PID ? `/proc/${process.env.LIMEN_HOST_NS_PID}/root` : "";
    const hosts: Partial<Record<"frontend" | "backend", number>> = {};
    for (const host of ["frontend", "backend"] as const) {
        const list = path.join(__dirname, ".state", "machines", host, "cgroups");
        const dirs = existsSync(list) ? readFileSync(list, "utf8").trim().split("\n") : [];
        for (const dir of dirs) {
            const stat = `${root}${dir}/cpu.stat`;
            if (!existsSync(stat)) continue;
            const usage = /^usage_usec (\d+)$/m.exec(readFileSync(stat, "utf8"));
            if (usage) hosts[host] = Number(usage[1]) / 1e6;
        }
    }
    return { total: busy, hosts };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One timed run: wall time, the time of the `pulumi` CLI processes in it, the CPU it used, SSH logins. */
interface Sample {
    seconds: number;
    cliSeconds: number;
    cpu: { total: number; frontend?: number; backend?: number };
    logins: number;
}

async function measure(work: () => Promise<unknown>): Promise<Sample> {
    const before = totalLogins();
    const operationsBefore = cli.operationSeconds().length;
    const cpuBefore = cpuSeconds();
    const started = process.hrtime.bigint();
    await work();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuAfter = cpuSeconds();
    return {
        seconds,
        cliSeconds: cli
            .operationSeconds()
            .slice(operationsBefore)
            .reduce((sum, s) => sum + s, 0),
        cpu: {
            total: cpuAfter.total - cpuBefore.total,
            frontend: cpuAfter.hosts.frontend === undefined ? undefined : cpuAfter.hosts.frontend - (cpuBefore.hosts.frontend ?? 0),
            backend: cpuAfter.hosts.backend === undefined ? undefined : cpuAfter.hosts.backend - (cpuBefore.hosts.backend ?? 0),
        },
        logins: totalLogins() - before,
    };
}

function report(label: string, samples: Sample[], withCli = true): void {
    const count = samples.length;
    const list = (values: number[]) => values.map((s) => s.toFixed(2)).join(", ");
    const seconds = samples.map((sample) => sample.seconds);
    const cliSeconds = samples.map((sample) => sample.cliSeconds);
    const logins = samples.reduce((sum, sample) => sum + sample.logins, 0);
    const cliPart = withCli ? `; pulumi CLI process ${median(cliSeconds).toFixed(2)} s (${list(cliSeconds)})` : "";
    console.log(`${label.padEnd(40)} ${median(seconds).toFixed(2)} s median of ${count} (${list(seconds)})${cliPart}; SSH connections per run: ${logins / count}`);
    // Where the CPU went (medians): on 2 cores a run cannot take less wall time than half its CPU.
    const cpu = samples.map((sample) => sample.cpu);
    const frontend = cpu.map((run) => run.frontend).filter((value) => value !== undefined);
    const backend = cpu.map((run) => run.backend).filter((value) => value !== undefined);
    const hosts =
        frontend.length === count && backend.length === count
            ? `: frontend ${median(frontend).toFixed(2)}, backend ${median(backend).toFixed(2)}, operator (engine, program, plugins) ${median(cpu.map((run) => run.total - run.frontend! - run.backend!)).toFixed(2)}`
            : "";
    console.log(`${"".padEnd(40)} CPU ${median(cpu.map((run) => run.total)).toFixed(2)} s${hosts}`);
}

/** Times `count` runs of `work`, each after `prepare` (not timed, not counted). */
async function timedRuns(label: string, work: () => Promise<unknown>, count = runs, prepare?: () => Promise<unknown>): Promise<void> {
    const samples: Sample[] = [];
    for (let run = 0; run < count; run++) {
        await prepare?.();
        samples.push(await measure(work));
    }
    report(label, samples);
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
    // A route change: Envoy's release (validation, candidate, standby, drain, container, settle).
    let routeChange = 0;
    await timedRuns(
        "route change (Envoy release)",
        () => stack.up(quiet),
        3,
        () => configureLabStack(hosts, { envoy: { backendRoutePrefixes: routeChange++ % 2 === 0 ? ["/api/agent"] : [] } }),
    );
    await configureLabStack(hosts);
    await stack.up(quiet);
    await timedRuns("pulumi destroy", () => stack.destroy(quiet), 1);

    console.log(`\nThe plain CLI with the Node.js language host ${process.env.LIMEN_LAB_LANGUAGE_HOST_DIR ?? "(on PATH)"}/pulumi-language-nodejs (the program's start included):`);
    const pulumi =
        (...args: string[]) =>
        async () =>
            runPulumiCli(args, path.join(cli.root, "bin", "pulumi"));
    // Three converges of destroyed hosts: the first follows the destroy above, the others their own.
    let convergeRun = 0;
    await timedRuns("converge after destroy (pulumi up)", pulumi("up", "--yes", "--skip-preview"), 3, async () => {
        if (convergeRun++ > 0) await pulumi("destroy", "--yes", "--skip-preview")();
    });
    await timedRuns("no-op pulumi up", pulumi("up", "--yes", "--skip-preview"));
    await timedRuns("no-op pulumi up --refresh (reads hosts)", pulumi("up", "--yes", "--skip-preview", "--refresh"));
    await timedRuns("no-op pulumi preview", pulumi("preview", "--expect-no-changes"));
    await timedRuns("no-op pulumi preview --refresh", pulumi("preview", "--expect-no-changes", "--refresh"));
    await timedRuns("pulumi destroy", pulumi("destroy", "--yes", "--skip-preview"), 1);

    await besideAnsiblePeer(hosts, pulumi);
}

/**
 * The stack beside the Ansible peer (lab/ansible-peer: a plain playbook installing the same artifacts,
 * rendered by the same plan), interleaved in one spell on the same machines, since this VM's speed
 * drifts: cold converges from blank hosts (`pulumi destroy` and the peer's teardown leave the same),
 * then no-op runs on the same converged hosts, where the peer must find nothing to change (else it is
 * not doing the same job, and the benchmark stops).
 */
async function besideAnsiblePeer(hosts: LabHosts, pulumi: (...args: string[]) => () => Promise<string>): Promise<void> {
    const peerDir = mkdtempSync(path.join(tmpdir(), "limen-ansible-peer-"));
    process.on("exit", () => rmSync(peerDir, { recursive: true, force: true }));
    const inventory = writePeerInventory(hosts, peerDir);
    /** Runs a playbook with fresh SSH connections (no control master left from an earlier run); returns its changed tasks. */
    const playbook = (name: string) => async () => {
        const controlDir = mkdtempSync(path.join(peerDir, "ssh-"));
        const result = spawnSync("ansible-playbook", ["-i", inventory, path.join(__dirname, "ansible-peer", name)], {
            encoding: "utf8",
            env: { ...process.env, ANSIBLE_PIPELINING: "True", ANSIBLE_NOCOLOR: "1", ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir, ANSIBLE_LOCAL_TEMP: path.join(peerDir, "tmp") },
            timeout: 300_000,
        });
        rmSync(controlDir, { recursive: true, force: true });
        if (result.error) throw new Error(`ansible-playbook ${name}: ${result.error.message} (the peer needs Debian's ansible-core)`);
        if (result.status !== 0) throw new Error(`ansible-playbook ${name} failed (exit ${result.status}):\n${result.stdout.slice(-3000)}`);
        return [...result.stdout.matchAll(/changed=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    console.log("\nBeside the Ansible peer (lab/ansible-peer), interleaved on the same machines:");
    const stackCold: Sample[] = [];
    const peerCold: Sample[] = [];
    for (let round = 0; round < 3; round++) {
        stackCold.push(await measure(pulumi("up", "--yes", "--skip-preview")));
        await pulumi("destroy", "--yes", "--skip-preview")();
        peerCold.push(await measure(playbook("site.yml")));
        await playbook("teardown.yml")();
    }
    report("stack: converge from blank (pulumi up)", stackCold);
    report("peer: converge from blank (playbook)", peerCold, false);

    await pulumi("up", "--yes", "--skip-preview")();
    const samples: Record<"up" | "refresh" | "peer", Sample[]> = { up: [], refresh: [], peer: [] };
    for (let round = 0; round < runs; round++) {
        samples.up.push(await measure(pulumi("up", "--yes", "--skip-preview")));
        samples.refresh.push(await measure(pulumi("up", "--yes", "--skip-preview", "--refresh")));
        let changed = 0;
        samples.peer.push(await measure(async () => (changed = await playbook("site.yml")())));
        if (changed > 0) throw new Error(`the Ansible peer changed ${changed} task(s) on hosts the stack had converged: it is not doing the same job`);
    }
    report("stack: no-op pulumi up", samples.up);
    report("stack: no-op pulumi up --refresh", samples.refresh);
    report("peer: no-op playbook (reads the hosts)", samples.peer, false);
    await pulumi("destroy", "--yes", "--skip-preview")();
}

main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
});
