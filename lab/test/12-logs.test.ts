/**
 * A year on the hosts, in minutes: the apps write far past the log limits, the rotation (Debian's
 * logrotate as the app user, limen-pm2-logrotate.timer's service, started here as the timer would)
 * keeps pm2's logs within the policy, the site answers throughout from the outsider, and the
 * runbook's `pm2 logs limen-frontend | grep "Proxy.*session"` still finds the middleware's lines.
 * Runs after 11-no-downtime.test.ts.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, openLabStack, readLabHosts, recordFigure, stateDir } from "../stack";
import { inNamespace, onHostOk, stormLoop } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const limenDomain = "limen.lab.test";
/** The lab's policy: small, so that a few floods go past it many times. */
const policy = { maxSizeMb: 20, keep: 2, maxAgeDays: 14 };
const logsDir = "/home/limen/.pm2/logs";
const megabyte = 1024 * 1024;

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await configureLabStack(hosts, { apps: { logs: policy } });
    const result = await stack.up({ color: "never", onOutput: () => undefined });
    expect(result.summary.result).toBe("succeeded");
}, 300_000);

afterAll(async () => {
    // The lab's default policy again, for the files after this one.
    await configureLabStack(hosts);
    await stack.up({ color: "never", onOutput: () => undefined });
}, 300_000);

/** Every file in pm2's logs directory: name → bytes, and owner. */
function logFiles(): Map<string, { bytes: number; owner: string }> {
    const files = new Map<string, { bytes: number; owner: string }>();
    for (const line of onHostOk("frontend", `find ${logsDir} -maxdepth 1 -type f -printf '%f %s %u:%g\\n'`).trim().split("\n").filter(Boolean)) {
        const [name = "", bytes = "0", owner = ""] = line.split(" ");
        files.set(name, { bytes: Number(bytes), owner });
    }
    return files;
}

const totalBytes = () => [...logFiles().values()].reduce((sum, file) => sum + file.bytes, 0);

/** `pm2 sendSignal SIGUSR2 darc-kr`: each darc-kr process prints 50 MB (lab/fixtures/darc-kr/server.js); waits until pm2 has written it. */
async function flood(): Promise<number> {
    const before = totalBytes();
    onHostOk("frontend", "su - limen -c 'pm2 sendSignal SIGUSR2 darc-kr' >/dev/null");
    const expected = 2 * 50 * megabyte;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
        const written = totalBytes() - before;
        if (written >= expected) return written;
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`pm2 wrote ${((totalBytes() - before) / megabyte).toFixed(0)} MB of the flood's ${expected / megabyte} MB within 120 s`);
}

/** The rotation's service, as its timer starts it; how long it took. */
function rotate(): number {
    const started = Date.now();
    onHostOk("frontend", "systemctl start limen-pm2-logrotate.service");
    return (Date.now() - started) / 1000;
}

/** The logs darc-kr's processes write now: `darc-kr-out-<pm2 id>.log`. */
function floodedLogs(): string[] {
    const list = JSON.parse(onHostOk("frontend", "su - limen -c 'pm2 jlist'").trim().split("\n").at(-1) ?? "[]") as { name: string; pm_id: number }[];
    return list.filter((p) => p.name === "darc-kr").map((p) => `darc-kr-out-${p.pm_id}.log`);
}

/** Each log pm2 writes (`*.log`) and its rotated files (`*.log.N`, `*.log.N.gz`). */
function byLog(): Map<string, { current: number; rotated: string[] }> {
    const logs = new Map<string, { current: number; rotated: string[] }>();
    for (const [name, file] of logFiles()) {
        const base = /^(.*\.log)(\.\d+(\.gz)?)?$/.exec(name)?.[1];
        if (!base) continue;
        const entry = logs.get(base) ?? { current: 0, rotated: [] };
        if (name === base) entry.current = file.bytes;
        else entry.rotated.push(name);
        logs.set(base, entry);
    }
    return logs;
}

describe("pm2's logs rotate within the policy while the site answers", () => {
    it("the timer is enabled and active, and its service runs logrotate as the app user", () => {
        expect(onHostOk("frontend", "systemctl is-enabled limen-pm2-logrotate.timer; systemctl is-active limen-pm2-logrotate.timer").trim().split("\n")).toEqual([
            "enabled",
            "active",
        ]);
        expect(onHostOk("frontend", "systemctl show --property=User --value limen-pm2-logrotate.service").trim()).toBe("limen");
        expect(onHostOk("frontend", "systemctl list-timers --all --no-legend limen-pm2-logrotate.timer")).toContain("limen-pm2-logrotate.service");
    });

    it("four floods of 100 MB, each followed by the rotation: every log back under maxSizeMb, at most `keep` rotated files of each, all the app user's; no request failed", async () => {
        const stopFile = path.join(stateDir, `logs-storm-stop-${process.pid}`);
        rmSync(stopFile, { force: true });
        const client = stormLoop(hosts, `https://${limenDomain}/`, { mode: "fresh", stopFile });
        let written = 0;
        const rotations: number[] = [];
        // The timer would rotate at its own times too (every quarter hour), under a flood that is being
        // counted: it is stopped for the test, which starts its service itself, and started again after.
        onHostOk("frontend", "systemctl stop limen-pm2-logrotate.timer");
        try {
            for (let round = 1; round <= 4; round++) {
                written += await flood();
                rotations.push(rotate());
                const logs = byLog();
                // The flooded logs: those of darc-kr's processes now (pm2 names a log after its process id;
                // files of earlier ids stay, and rotate only by age).
                const darc = [...logs.entries()].filter(([name]) => floodedLogs().includes(name));
                expect(darc.length).toBe(2);
                for (const [name, log] of logs) {
                    expect(`${name}: ${log.current} bytes`).toBe(`${name}: ${Math.min(log.current, policy.maxSizeMb * megabyte)} bytes`);
                    expect(log.rotated.length, `${name}: ${log.rotated.join(" ")}`).toBeLessThanOrEqual(policy.keep);
                }
                // Rotated once per round while rounds last: from the second round on, keep's worth.
                for (const [name, log] of darc) expect(log.rotated.length, name).toBe(Math.min(round, policy.keep));
            }
        } finally {
            // The client runs in the outsider's namespace, on this machine's files.
            writeFileSync(stopFile, "");
            onHostOk("frontend", "systemctl start limen-pm2-logrotate.timer");
        }
        const summary = JSON.parse((await client).trim().split("\n").at(-1) ?? "{}") as { requests?: number; failed?: number };
        const owners = new Set([...logFiles().values()].map((file) => file.owner));
        expect([...owners]).toEqual(["limen:limen"]);
        expect(summary.requests).toBeGreaterThan(0);
        expect(summary.failed).toBe(0);
        const kept = totalBytes();
        recordFigure(
            "log rotation",
            `${(written / megabyte).toFixed(0)} MB of app output in 4 floods, each rotated (${rotations.map((s) => s.toFixed(1)).join(", ")} s); ` +
                `pm2's logs hold ${(kept / megabyte).toFixed(1)} MB after (maxSizeMb ${policy.maxSizeMb}, keep ${policy.keep}); ${summary.requests} requests through 443, ${summary.failed} failed`,
        );
    }, 900_000);

    it("`pm2 logs limen-frontend` still shows the middleware's Proxy … session lines after a rotation", () => {
        rotate();
        const login = inNamespace(
            hosts.hosts.outsider.namespace,
            "curl",
            "-sk",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "--resolve",
            `${limenDomain}:443:${hosts.hosts.frontend.ipv4}`,
            `https://${limenDomain}/api/auth/session`,
        );
        expect(login.stdout).toBe("200");
        const lines = onHostOk("frontend", "su - limen -c 'pm2 logs limen-frontend --nostream --lines 40' 2>&1 | grep 'Proxy.*session'");
        expect(lines).toMatch(/Proxy POST \/api\/auth\/session -> http:\/\/\S+\/api\/auth\/session/);
    });
});
