/**
 * The app user never becomes root through a deploy. The app faces the internet and runs as `limen`, so
 * this test takes the attacker's seat: lab/fixtures/hostile-app-user.js runs as limen on the frontend,
 * swaps every new entry in limen's directories for a link to a root-owned canary the moment it
 * appears, and on signal puts a FIFO or a link at .env.production itself. Meanwhile 20 deploys change
 * .env.production and the ecosystem, then `up --refresh` and `verify` run. Afterwards the canary's
 * owner, mode and content are as they were, nothing hung, and every run either succeeded or said
 * which path held what. Runs last (after 7-acme.test.ts).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, engineEnv, LabHosts, openLabStack, pulumiBinary, readLabHosts, recordFigure, repoRoot } from "../stack";
import { onHost, onHostOk } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const quiet = { color: "never" as const, onOutput: () => undefined };

const canary = "/etc/limen-canary";
const envFile = "/srv/limen-frontend/.env.production";
const attackerDirs = ["/srv/limen-frontend", "/srv/darc-kr", "/home/limen"];
const hostileScript = "/usr/local/lib/limen-lab/hostile-app-user.js";
/** Outside the directories it watches, or it would swap its own log. */
const hostileLog = "/tmp/limen-hostile.log";
/** Longer than any deploy, refresh or verify takes here (a few seconds): past it, a run has hung. */
const hangAfterMs = 240_000;

/** Owner, mode and sha256 of the canary, as root sees them. */
const canaryState = () => onHostOk("frontend", `stat -c '%U:%G %a' ${canary} && sha256sum < ${canary}`).trim();

/** The outcome of one run: `ok`, `hung`, or the failure's message. */
async function bounded(run: () => Promise<unknown>): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("hung"), hangAfterMs)));
    const outcome = run().then(
        () => "ok",
        (error: Error) => error.message,
    );
    const result = await Promise.race([outcome, hung]);
    clearTimeout(timer);
    if (result === "hung") await stack.cancel().catch(() => undefined);
    return result;
}

/** A failure must name the path it stopped at and what it found there. */
const namesPathAndFinding = (message: string) =>
    /(\/srv\/limen-frontend\/\S+)[^\n]*(symbolic link|FIFO|hard link|was removed before it could be renamed)|(symbolic link|FIFO)[^\n]*\/srv\/limen-frontend\//.test(message);

function signalHostile(signal: "USR1" | "USR2"): void {
    onHostOk("frontend", `pkill -${signal} -u limen -f hostile-app-user.js && sleep 0.5`);
}

/** `npm run verify -- --stack lab --json`, as an operator runs it, bounded like the rest. */
function verify(): { status: number | null; output: string; timedOut: boolean } {
    const run = spawnSync("npm", ["run", "--silent", "verify", "--", "--stack", "lab", "--json"], {
        cwd: repoRoot,
        env: { ...process.env, ...engineEnv(), LIMEN_PULUMI_BIN: pulumiBinary() },
        encoding: "utf8",
        timeout: hangAfterMs,
    });
    return { status: run.status, output: `${run.stdout}${run.stderr}`, timedOut: run.error !== undefined };
}

let canaryBefore: string;

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await configureLabStack(hosts);
    expect((await stack.up(quiet)).summary.result).toBe("succeeded");
    onHostOk("frontend", `head -c 64 /dev/urandom | base64 > ${canary} && chown root:root ${canary} && chmod 0600 ${canary}`);
    canaryBefore = canaryState();
    const script = readFileSync(path.join(repoRoot, "lab", "fixtures", "hostile-app-user.js"), "utf8");
    const install = spawnSync(path.join(repoRoot, "lab", "hosts", "exec.sh"), ["frontend", "sh", "-c", `mkdir -p ${path.dirname(hostileScript)} && cat > ${hostileScript}`], {
        input: script,
        encoding: "utf8",
    });
    expect(install.status, install.stderr).toBe(0);
    onHostOk(
        "frontend",
        `su -s /bin/sh limen -c 'setsid node ${hostileScript} ${canary} ${envFile} ${attackerDirs.join(" ")} > ${hostileLog} 2>&1 < /dev/null &' && sleep 1 && grep -q watching ${hostileLog}`,
    );
}, 300_000);

afterAll(async () => {
    onHost("frontend", `pkill -u limen -f hostile-app-user.js; rm -f ${canary} ${hostileLog}`);
    // Leave the hosts as the stack has them, whatever the attacker left behind.
    await configureLabStack(hosts);
    await stack.up({ ...quiet, refresh: true });
}, 300_000);

describe("a hostile app user during deploys, a refresh and verify", () => {
    const outcomes: string[] = [];

    it(
        "20 deploys that change .env.production and the ecosystem: the canary never changes, nothing hangs",
        async () => {
            let canaryChanges = 0;
            for (let round = 1; round <= 20; round++) {
                // Now and then, the attacker puts a FIFO or a link at the artifact's own name before the deploy.
                if (round % 5 === 1) signalHostile("USR1");
                if (round % 5 === 3) signalHostile("USR2");
                await configureLabStack(hosts, { extraEnv: { HOSTILE_ROUND: String(round) }, restartDelayMs: 2000 + round });
                const outcome = await bounded(() => stack.up(quiet));
                outcomes.push(outcome);
                if (canaryState() !== canaryBefore) canaryChanges++;
                if (outcome !== "ok" && outcome !== "hung") expect(namesPathAndFinding(outcome), outcome).toBe(true);
            }
            const hangs = outcomes.filter((outcome) => outcome === "hung").length;
            const succeeded = outcomes.filter((outcome) => outcome === "ok").length;
            recordFigure(
                "hostile app user: deploys run",
                `${outcomes.length} (${succeeded} succeeded, ${outcomes.length - succeeded - hangs} stopped naming the path and what was there)`,
            );
            recordFigure("hostile app user: canary changes", String(canaryChanges));
            recordFigure("hostile app user: hangs", String(hangs));
            expect({ canaryChanges, hangs }).toEqual({ canaryChanges: 0, hangs: 0 });
            expect(canaryState()).toBe(canaryBefore);
        },
        20 * hangAfterMs,
    );

    it(
        "`up --refresh` with a FIFO at .env.production: nothing hangs; the FIFO is replaced, or the run says what it found",
        async () => {
            signalHostile("USR1");
            const outcome = await bounded(() => stack.up({ ...quiet, refresh: true }));
            expect(outcome).not.toBe("hung");
            // The watcher is still swapping new entries: it may win the race for this run's new file too.
            if (outcome === "ok") expect(onHostOk("frontend", `stat -c %F ${envFile}`).trim()).toBe("regular file");
            else expect(namesPathAndFinding(outcome), outcome).toBe(true);
            expect(canaryState()).toBe(canaryBefore);
        },
        2 * hangAfterMs,
    );

    it(
        "verify with a link at .env.production says so, and reads nothing through it",
        () => {
            signalHostile("USR2");
            const run = verify();
            expect(run.timedOut).toBe(false);
            expect(run.status).toBe(1);
            expect(run.output).toContain(`frontend file ${envFile}`);
            expect(run.output).toMatch(/state: a symbolic link on the host, present planned/);
            expect(canaryState()).toBe(canaryBefore);
        },
        hangAfterMs,
    );

    it(
        "what the attacker tried, and the hosts repaired once it stops",
        async () => {
            const log = onHostOk("frontend", `cat ${hostileLog}`);
            const count = (what: string) => log.split("\n").filter((line) => line.startsWith(`${what} `)).length;
            recordFigure(
                "hostile app user: new entries seen, swapped for links; FIFOs, links at the artifact",
                `${count("saw")}, ${count("swapped")}; ${count("fifo")}, ${count("link")}`,
            );
            // It saw the temporary file of every deploy that wrote .env.production (whether it won the race is luck).
            expect(count("saw")).toBeGreaterThanOrEqual(20);
            // 10 signals (4 of each kind before deploys, one before the refresh, one before verify); one may lose a race with a deploy.
            expect(count("fifo") + count("link")).toBeGreaterThanOrEqual(8);
            onHostOk("frontend", "pkill -u limen -f hostile-app-user.js; sleep 0.5");
            await configureLabStack(hosts);
            expect((await stack.up({ ...quiet, refresh: true })).summary.result).toBe("succeeded");
            const clean = verify();
            expect(clean.status, clean.output).toBe(0);
            expect(canaryState()).toBe(canaryBefore);
        },
        2 * hangAfterMs,
    );
});
