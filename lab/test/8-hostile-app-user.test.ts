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
import { shellWord } from "../../core/shell";
import { acmeCertificateCall } from "../../hostio/host-tool";
import { configureLabStack, engineEnv, LabHosts, openLabStack, pulumiBinary, readLabHosts, recordFigure, repoRoot } from "../stack";
import { inNamespace, onHost, onHostOk } from "./probes";

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

/**
 * Root processes the stack starts on the frontend (a step under its deadline, the host tool, installed or
 * sent for the step and run as /proc/self/fd/3 or from /run/limen-tool.*, a hash, a pm2 or certbot call):
 * any still running once a run has ended was left behind.
 */
function rootLeftovers(): string[] {
    return onHostOk("frontend", "ps -eo user=,args=")
        .split("\n")
        .filter((line) => line.startsWith("root "))
        .filter((line) => /limen-deadline|libexec\/limen\/limen-host|\/run\/limen-tool\.|\/proc\/self\/fd\/3|perl -e|sha256sum|pm2 (save|delete|jlist)|certbot/.test(line))
        .filter((line) => !/ps -eo|sh -c ps/.test(line));
}

/** One run of the engine, timed: its outcome (`ok`, `hung` or the failure's message) and seconds. */
async function timed(run: () => Promise<unknown>): Promise<{ outcome: string; seconds: number }> {
    const started = Date.now();
    const outcome = await bounded(run);
    return { outcome, seconds: Math.round((Date.now() - started) / 100) / 10 };
}

describe("the app user cannot stall a deploy, flood root or win a certificate", () => {
    /** Per class: each run's outcome and time, printed as the lab's figures. */
    const classes: Record<string, { outcome: string; seconds: number }[]> = {};
    let appUserWins = 0;
    let leftovers: string[] = [];
    const record = (name: string, run: { outcome: string; seconds: number }) => {
        (classes[name] ??= []).push(run);
        leftovers = [...leftovers, ...rootLeftovers()];
        const said =
            run.outcome === "ok"
                ? "succeeded"
                : run.outcome === "hung"
                  ? "hung"
                  : `failed: ${
                        run.outcome
                            .split("\n")
                            .find((line) => /limen-host|did not|not read|too large|refus/.test(line))
                            ?.trim() ?? run.outcome.slice(0, 200)
                    }`;
        recordFigure(`hostile app user, ${name}`, `${classes[name]!.map((r) => `${r.seconds} s`).join(", ")}: ${said}`);
    };

    /** The lab's config as planned, and one `up --refresh`: the hosts as the stack has them again. */
    const repaired = async (name: string) => {
        await configureLabStack(hosts);
        const after = await timed(() => stack.up({ ...quiet, refresh: true }));
        record(name, after);
        expect(after.outcome).toBe("ok");
    };

    beforeAll(async () => {
        onHost("frontend", "pkill -u limen -f hostile-app-user.js");
        await configureLabStack(hosts);
        expect((await stack.up({ ...quiet, refresh: true })).summary.result).toBe("succeeded");
    }, 300_000);

    it(
        "a sparse .env.production of 8 TiB: read as too large in a moment, then replaced; nothing of root's keeps reading",
        async () => {
            onHostOk("frontend", `su -s /bin/sh limen -c 'truncate -s 8T ${envFile}'`);
            let said = "";
            const preview = await timed(() => stack.preview({ ...quiet, refresh: true, onOutput: (line) => (said += line), diff: true }));
            record("8 TiB sparse .env.production, preview --refresh", preview);
            expect(preview.outcome).toBe("ok");
            expect(said).toContain("too large to read: 8796093022208 bytes, above the limit of 1048576 bytes");
            const up = await timed(() => stack.up({ ...quiet, refresh: true }));
            record("8 TiB sparse .env.production, up --refresh", up);
            expect(up.outcome).toBe("ok");
            expect(onHostOk("frontend", `stat -c %s ${envFile}`).trim()).not.toBe("8796093022208");
            expect(rootLeftovers()).toEqual([]);
        },
        3 * hangAfterMs,
    );

    it(
        "the pm2 daemon stopped (kill -STOP): the read and a deploy fail after pm2's deadline, naming it, and leave the stack unlocked",
        async () => {
            const daemon = onHostOk("frontend", "cat /home/limen/.pm2/pm2.pid").trim();
            onHostOk("frontend", `su -s /bin/sh limen -c 'kill -STOP ${daemon}'`);
            try {
                const read = await timed(() => stack.preview({ ...quiet, refresh: true }));
                record("pm2 daemon stopped, preview --refresh", read);
                expect(read.outcome).toMatch(/did not answer within 15 s/);
                await configureLabStack(hosts, { extraEnv: { HOSTILE_PM2: "stopped" } });
                const deploy = await timed(() => stack.up(quiet));
                record("pm2 daemon stopped, up changing .env.production", deploy);
                expect(deploy.outcome).toMatch(/did not answer within 15 s/);
                // The lock was released: the next run starts at once.
                expect((await timed(() => stack.preview(quiet))).outcome).toBe("ok");
                expect(rootLeftovers()).toEqual([]);
            } finally {
                onHost("frontend", `kill -CONT ${daemon}`);
            }
            await repaired("pm2 daemon running again, up --refresh");
        },
        4 * hangAfterMs,
    );

    it(
        "an app that answers the gate one byte at a time: the gate gives up per request, the deploy fails within its time, naming it",
        async () => {
            const server = "/srv/darc-kr/server.js";
            // The app user's own code: the answer comes one byte a second, and never ends.
            const original = readFileSync(path.join(repoRoot, "lab", "fixtures", "darc-kr", "server.js"), "utf8");
            const answer = 'res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": 7 });\n    res.end("darc.kr");';
            expect(original).toContain(answer);
            const trickle = original.replace(
                answer,
                'res.writeHead(200, { "Content-Type": "text/plain" });\n    const t = setInterval(() => res.write("."), 1000);\n    res.on("close", () => clearInterval(t));',
            );
            const asLimen = (script: string, input: string) => {
                const run = spawnSync(path.join(repoRoot, "lab", "hosts", "exec.sh"), ["frontend", "su", "-s", "/bin/sh", "limen", "-c", script], { input, encoding: "utf8" });
                expect(run.status, run.stderr).toBe(0);
            };
            asLimen(`cat > ${server}`, trickle);
            expect(onHostOk("frontend", `cat ${server}`)).toContain("setInterval");
            try {
                await configureLabStack(hosts, { extraEnv: { HOSTILE_TRICKLE: "1" }, apps: { healthGate: { timeoutSeconds: 10 } } });
                const deploy = await timed(() => stack.up(quiet));
                record("gate answered one byte at a time, up changing .env.production", deploy);
                expect(deploy.outcome).toMatch(/no complete answer within 5 s/);
                expect(rootLeftovers()).toEqual([]);
            } finally {
                // The apps run the trickling code until they reload: the stack sees nothing to change.
                asLimen(`cat > ${server} && pm2 reload darc-kr >/dev/null`, original);
            }
            await repaired("the app answering again, up --refresh");
        },
        4 * hangAfterMs,
    );

    it("the ACME responder's port: the app user cannot bind it, and the host tool refuses a host where any user could", () => {
        const responderPort = 402;
        const bind = onHost(
            "frontend",
            `su -s /bin/sh limen -c "node -e 'require(\\"net\\").createServer().listen(${responderPort}, \\"127.0.0.1\\", () => { console.log(\\"bound\\"); process.exit(0); })'"`,
        );
        if (bind.stdout.includes("bound")) appUserWins++;
        expect(bind.stderr).toContain("EACCES");
        // An admin lowered the sysctl: the tool refuses to run certbot there, before anything changes.
        const started = Date.now();
        // nspawn keeps /proc/sys read-only inside the machine: the sysctl is set in its network namespace from outside.
        const frontendNs = hosts.hosts.frontend.namespace;
        const old = inNamespace(frontendNs, "sysctl", "-n", "net.ipv4.ip_unprivileged_port_start").stdout.trim();
        expect(inNamespace(frontendNs, "sysctl", "-q", "-w", "net.ipv4.ip_unprivileged_port_start=0").status).toBe(0);
        // The stack's own request (hostio/host-tool.ts), on the installed tool's stdin.
        const acmeRequest = acmeCertificateCall("/usr/local/libexec/limen/limen-host", {
            name: "limen",
            domains: ["limen.lab.test"],
            email: "ops@lab.test",
            server: "https://pebble.invalid/dir",
            responderAddress: "127.0.0.1",
            responderPort,
            lineageDir: "/etc/letsencrypt/live/limen",
            publishDir: "/etc/limen/tls/limen",
            hook: "/bin/true",
        }).request;
        let refused;
        try {
            refused = onHost("frontend", `printf '%s\\n' ${shellWord(acmeRequest)} | /usr/local/libexec/limen/limen-host`);
        } finally {
            inNamespace(frontendNs, "sysctl", "-q", "-w", `net.ipv4.ip_unprivileged_port_start=${old}`);
        }
        record("responder port with unprivileged ports from 0, acme-certificate", { outcome: refused.stderr.trim(), seconds: (Date.now() - started) / 1000 });
        expect(refused.status).toBe(1);
        expect(refused.stderr).toContain(`the ACME responder's port ${responderPort} can be bound by any user on this host (net.ipv4.ip_unprivileged_port_start = 0)`);
    });

    it(
        "node resolving into the app user's home: root does not run it, and says where it leads",
        async () => {
            const appNode = "/home/limen/.local/node-v22/bin/node";
            const ranAsRoot = "/root/limen-app-node-ran";
            // A version manager's node, owned by the app user, which notes when root runs it.
            onHostOk(
                "frontend",
                [
                    `rm -f ${ranAsRoot}`,
                    `su -s /bin/sh limen -c 'mkdir -p ${path.dirname(appNode)} && printf "#!/bin/sh\\n[ \\"\\$(id -u)\\" = 0 ] && touch ${ranAsRoot}\\nexec /usr/local/lib/limen-lab/node \\"\\$@\\"\\n" > ${appNode} && chmod 0755 ${appNode}'`,
                    "cp -p /usr/local/bin/node /usr/local/lib/limen-lab/node",
                    `ln -sfn ${appNode} /usr/local/bin/node.new && mv -T /usr/local/bin/node.new /usr/local/bin/node`,
                ].join(" && "),
            );
            try {
                await configureLabStack(hosts, { extraEnv: { HOSTILE_NODE: "1" } });
                const deploy = await timed(() => stack.up(quiet));
                record("node linked into the app user's home, up changing .env.production", deploy);
                expect(deploy.outcome).toContain(`/usr/local/bin/node (really ${appNode}): /home/limen can be changed by user limen: root does not run it`);
                if (onHost("frontend", `test -e ${ranAsRoot}`).status === 0) appUserWins++;
                expect(onHost("frontend", `test -e ${ranAsRoot}`).status).toBe(1);
            } finally {
                onHostOk("frontend", "cp -p /usr/local/lib/limen-lab/node /usr/local/bin/node.new && mv -T /usr/local/bin/node.new /usr/local/bin/node");
            }
            await repaired("node root-owned again, up --refresh");
        },
        3 * hangAfterMs,
    );

    it("totals: no hang, no win for the app user, no root process left on the host", () => {
        const runs = Object.values(classes).flat();
        const hangs = runs.filter((run) => run.outcome === "hung").length;
        recordFigure("hostile app user, classes: runs, hangs, wins for the app user, root processes left", `${runs.length}, ${hangs}, ${appUserWins}, ${leftovers.length}`);
        expect(runs.length).toBeGreaterThanOrEqual(10);
        expect({ hangs, appUserWins, leftovers }).toEqual({ hangs: 0, appUserWins: 0, leftovers: [] });
    });
});
