/**
 * A year on the hosts, in minutes: the apps write far past the log limits, the rotation (Debian's
 * logrotate as the app user, limen-pm2-logrotate.timer's service, started here as the timer would)
 * keeps pm2's logs within the policy, the site answers throughout from the outsider, and the
 * runbook's `pm2 logs limen-frontend | grep "Proxy.*session"` still finds the middleware's lines, and
 * Envoy's access log holds one line for each request of the storm.
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

/** A request through the door whose access log line marks a point in the log (its path names it). */
function accessLogMark(name: string): void {
    const mark = inNamespace(
        hosts.hosts.outsider.namespace,
        "curl",
        "-sk",
        "-o",
        "/dev/null",
        "--max-time",
        "10",
        "--resolve",
        `${limenDomain}:443:${hosts.hosts.frontend.ipv4}`,
        `https://${limenDomain}/?access-log-mark=${name}`,
    );
    expect(mark.status, mark.stderr).toBe(0);
}

/** What the access log (`docker logs limen-envoy`, stdout) holds between the start and the end mark. */
interface AccessLogSpan {
    /** Lines between the marks, by site. */
    bySite: Record<string, number>;
    /** Distinct request ids among those lines. */
    requestIds: number;
    /** Lines between the marks that are not JSON. */
    unparsed: number;
}

/**
 * Reads the access log from `since` (the host's clock, taken before the start mark) and summarizes it on
 * the frontend: a storm writes megabytes of lines, far more than a test's output buffer should carry.
 */
function accessLogBetweenMarks(since: string): AccessLogSpan {
    // Envoy writes a line when the request ends: give the last one a moment.
    onHostOk("frontend", "sleep 1");
    const summarize = [
        "const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);",
        "const parsed = lines.map((l) => { try { return JSON.parse(l); } catch { return null; } });",
        "const at = (n) => parsed.findLastIndex((l) => l && l.path === '/?access-log-mark=' + n);",
        "const start = at('start'), end = at('end');",
        "if (start < 0 || end <= start) { console.error('access-log marks not found in order: ' + JSON.stringify({ start, end })); process.exit(3); }",
        "const span = parsed.slice(start + 1, end), bySite = {};",
        "for (const l of span) if (l) bySite[l.site] = (bySite[l.site] || 0) + 1;",
        "console.log(JSON.stringify({ bySite, requestIds: new Set(span.filter(Boolean).map((l) => l.request_id)).size, unparsed: span.filter((l) => !l).length }));",
    ].join(" ");
    return JSON.parse(onHostOk("frontend", `docker logs --since ${since} limen-envoy 2>/dev/null | node -e ${JSON.stringify(summarize)}`)) as AccessLogSpan;
}

/** The frontend's clock, for `docker logs --since` (seconds since the epoch, as Docker takes them). */
function hostClock(): string {
    return onHostOk("frontend", "date +%s.%N").trim();
}

describe("Envoy's access log", () => {
    it("goes to the container's log, bounded by Docker's json-file options from limen:envoy.logs", () => {
        expect(onHostOk("frontend", "docker inspect --format '{{json .HostConfig.LogConfig}}' limen-envoy").trim()).toBe(
            JSON.stringify({ Type: "json-file", Config: { "max-file": "5", "max-size": "50m" } }),
        );
        const since = hostClock();
        accessLogMark("start");
        accessLogMark("end");
        expect(accessLogBetweenMarks(since)).toEqual({ bySite: {}, requestIds: 0, unparsed: 0 });
    });
});

describe("Envoy's container log past its limits", () => {
    it("a flood of requests past limen:envoy.logs: Docker keeps at most maxFiles files of at most maxSizeMb each", async () => {
        const limits = { maxSizeMb: 1, maxFiles: 2 };
        await configureLabStack(hosts, { apps: { logs: policy }, envoy: { logs: limits } });
        // Another log option is another container: through the release's handover.
        expect((await stack.up({ color: "never", onOutput: () => undefined })).summary.resourceChanges).toMatchObject({ replace: 1 });
        // 12,000 requests on the frontend through the door (a line of about 330 bytes each): about 4 MB of log.
        const flood = [
            "const https = require('https'); const agent = new https.Agent({ keepAlive: true, maxSockets: 8 }); let left = 12000, done = 0;",
            "const one = () => { if (left-- <= 0) return; https.get({ host: '127.0.0.1', port: 443, path: '/?envoy-log-flood', servername: 'limen.lab.test', headers: { host: 'limen.lab.test' }, rejectUnauthorized: false, agent }, (res) => { res.resume(); res.on('end', () => { done++; one(); }); }).on('error', () => one()); };",
            "for (let i = 0; i < 8; i++) one(); const t = setInterval(() => { if (done >= 12000) { clearInterval(t); agent.destroy(); console.log(done); } }, 200);",
        ].join(" ");
        expect(Number(onHostOk("frontend", `node -e ${JSON.stringify(flood)}`).trim())).toBe(12000);
        onHostOk("frontend", "sleep 1");
        const logDir = onHostOk("frontend", "dirname $(docker inspect --format '{{.LogPath}}' limen-envoy)").trim();
        const files = onHostOk("frontend", `find ${logDir} -maxdepth 1 -name '*-json.log*' -printf '%f %s\\n'`)
            .trim()
            .split("\n")
            .map((line) => line.split(" "))
            .map(([name = "", bytes = "0"]) => ({ name, bytes: Number(bytes) }));
        recordFigure(
            "Envoy's container log past its limits",
            `12,000 requests; ${files.map((f) => `${f.name.replace(/^[0-9a-f]{64}/, "<id>")} ${(f.bytes / megabyte).toFixed(2)} MB`).join(", ")} (maxSizeMb ${limits.maxSizeMb}, maxFiles ${limits.maxFiles})`,
        );
        expect(files.length).toBeLessThanOrEqual(limits.maxFiles);
        // Docker rotates after the write that crosses the size: a file may hold one line more.
        for (const file of files) expect(file.bytes, file.name).toBeLessThanOrEqual(limits.maxSizeMb * megabyte + 4096);
        // The lab's limits again, for the tests below.
        await configureLabStack(hosts, { apps: { logs: policy } });
        expect((await stack.up({ color: "never", onOutput: () => undefined })).summary.result).toBe("succeeded");
    }, 600_000);
});

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
        const since = hostClock();
        accessLogMark("start");
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
        accessLogMark("end");
        // Envoy's access log holds one line for each request of the storm: those to the LIMEN site between the two marks.
        const logged = accessLogBetweenMarks(since);
        expect(logged.unparsed).toBe(0);
        expect(logged.bySite[limenDomain]).toBe(summary.requests);
        expect(logged.requestIds).toBe(logged.bySite[limenDomain]);
        const owners = new Set([...logFiles().values()].map((file) => file.owner));
        expect([...owners]).toEqual(["limen:limen"]);
        expect(summary.requests).toBeGreaterThan(0);
        expect(summary.failed).toBe(0);
        const kept = totalBytes();
        recordFigure(
            "log rotation",
            `${(written / megabyte).toFixed(0)} MB of app output in 4 floods, each rotated (${rotations.map((s) => s.toFixed(1)).join(", ")} s); ` +
                `pm2's logs hold ${(kept / megabyte).toFixed(1)} MB after (maxSizeMb ${policy.maxSizeMb}, keep ${policy.keep}); ${summary.requests} requests through 443, ${summary.failed} failed, ` +
                `${logged.bySite[limenDomain]} lines in Envoy's access log for them`,
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
