/**
 * A deploy never takes the site down. Measured from the outsider's namespace through the front door,
 * as users reach the site:
 * - the reload storm: deploys that each reload both apps (a rolling `pm2 reload`), under two client
 *   loops that never retry, one with a new connection per request and one reusing kept-alive
 *   connections as a browser does;
 * - the candidate: a release the health gate refuses never reaches the serving apps, and costs no request;
 * - Envoy's releases: route changes applied in place, an image change through a standby beside the
 *   serving container, and configs Envoy or its candidate refuses, before the door changes.
 * Runs after 10-front-door.test.ts.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, LabOverrides, openLabStack, readLabHosts, recordFigure, repoRoot, stateDir } from "../stack";
import { inNamespace, labResourceCount, onHost, onHostOk, pm2Status, stormLoop } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const quiet = { color: "never" as const, onOutput: () => undefined };
const limenDomain = "limen.lab.test";

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await converge();
    // pm2's daemon reads its cluster scheduling when it starts (the host tool's pm2 environment: NODE_CLUSTER_SCHED_POLICY).
    // 6-upgrade left one started by pre-release versions, which never had it; a host this version
    // converges from blank starts its daemon with it. Restarted here (the unit resurrects the apps) so
    // that the storm measures what such a host does.
    onHostOk("frontend", "systemctl restart pm2-limen.service");
    await converge();
    expect(onHostOk("frontend", "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value pm2-limen.service)/environ")).toContain("NODE_CLUSTER_SCHED_POLICY=none");
}, 300_000);

async function converge(overrides: LabOverrides = {}): Promise<Record<string, number>> {
    await configureLabStack(hosts, overrides);
    const result = await stack.up(quiet);
    return result.summary.resourceChanges ?? {};
}

interface Failure {
    at: number;
    loop: string;
    request: string;
    error: string;
}

/**
 * The storm's clients (lab/storm/client.js, Node's stdlib, no retries) from the outsider through the
 * front door: one loop per mode, each until `stop()`. `counts()` reads their progress so far.
 */
function stormClients(modes: ("keepalive" | "fresh")[]) {
    const stopFile = path.join(stateDir, `storm-stop-${process.pid}`);
    rmSync(stopFile, { force: true });
    const loops = modes.map((mode) => {
        const progressFile = path.join(stateDir, `storm-${mode}-${process.pid}.json`);
        rmSync(progressFile, { force: true });
        const output = stormLoop(hosts, `https://${limenDomain}/`, { mode, stopFile, progressFile });
        return { mode, output, progressFile };
    });
    return {
        counts(): { requests: number; failed: number } {
            let requests = 0;
            let failed = 0;
            for (const loop of loops) {
                if (!existsSync(loop.progressFile)) continue;
                const progress = JSON.parse(readFileSync(loop.progressFile, "utf8")) as { requests: number; failed: number };
                requests += progress.requests;
                failed += progress.failed;
            }
            return { requests, failed };
        },
        async stop(): Promise<{ byMode: Record<string, { requests: number; failed: number }>; failures: Failure[] }> {
            writeFileSync(stopFile, "");
            const byMode: Record<string, { requests: number; failed: number }> = {};
            const failures: Failure[] = [];
            for (const loop of loops) {
                const lines = (await loop.output).trim().split("\n").filter(Boolean);
                const summary = JSON.parse(lines.at(-1) ?? "{}") as { requests?: number; failed?: number };
                if (summary.requests === undefined) throw new Error(`the ${loop.mode} loop ended without its summary:\n${lines.join("\n")}`);
                byMode[loop.mode] = { requests: summary.requests, failed: summary.failed ?? 0 };
                failures.push(...lines.slice(0, -1).map((line) => JSON.parse(line) as Failure));
                rmSync(loop.progressFile, { force: true });
            }
            rmSync(stopFile, { force: true });
            return { byMode, failures };
        },
    };
}

/** The pm2 process ids of the apps, e.g. "darc-kr:1235,1241 limen-frontend:1234,1240". */
function workerPids(): string {
    const output = onHostOk("frontend", "su - limen -c 'pm2 jlist'").trim().split("\n").at(-1) ?? "[]";
    const pids = new Map<string, number[]>();
    for (const process of JSON.parse(output) as { name: string; pid: number }[]) pids.set(process.name, [...(pids.get(process.name) ?? []), process.pid]);
    return [...pids.keys()]
        .sort()
        .map((name) => `${name}:${pids.get(name)!.join(",")}`)
        .join(" ");
}

describe("the reload storm", () => {
    it("deploys that reload both apps, at least 20 of them and 10,000 requests through the front door, fail no request", async () => {
        const clients = stormClients(["keepalive", "fresh"]);
        // Each deploy: its start and end, and the workers before and after, to place any failure.
        const deploys: { index: number; from: number; to: number; workers: string }[] = [];
        let stopped: ReturnType<typeof clients.stop> | undefined;
        try {
            await new Promise((resolve) => setTimeout(resolve, 1000));
            for (let index = 1; index <= 60 && (index <= 20 || clients.counts().requests < 10_000); index++) {
                const before = workerPids();
                const from = Date.now() / 1000;
                const changes = await converge({ extraEnv: { RELEASE: `storm-${index}` } });
                // The env file, then the apps that load it (a rolling reload of both).
                expect(changes).toEqual({ same: labResourceCount - 2, update: 2 });
                deploys.push({ index, from, to: Date.now() / 1000, workers: `${before} -> ${workerPids()}` });
            }
            await new Promise((resolve) => setTimeout(resolve, 1000));
        } finally {
            stopped = clients.stop();
        }
        const result = await stopped;
        const placed = result.failures.map((failure) => {
            const deploy = deploys.find((d) => failure.at >= d.from - 1 && failure.at <= d.to + 1);
            const when = new Date(failure.at * 1000).toISOString();
            return `${when} ${failure.loop} ${failure.request}: ${failure.error} (${deploy ? `deploy ${deploy.index}, workers ${deploy.workers}` : "between deploys"})`;
        });
        const requests = Object.values(result.byMode).reduce((sum, loop) => sum + loop.requests, 0);
        const failed = Object.values(result.byMode).reduce((sum, loop) => sum + loop.failed, 0);
        // Every failure by its line, so that a failure says when, where and how.
        expect(placed).toEqual([]);
        expect(failed).toBe(0);
        expect(deploys.length).toBeGreaterThanOrEqual(20);
        expect(requests).toBeGreaterThanOrEqual(10_000);
        recordFigure(
            "reload storm",
            `${deploys.length} deploys (each a rolling reload of both apps), ${requests} requests through 443 ` +
                `(${result.byMode.keepalive!.requests} kept-alive, ${result.byMode.fresh!.requests} new connection each), ${failed} failed`,
        );
    }, 900_000);
});

/** sha256 of the files the apps load, as the host has them. */
function loadedFilesOnHost(): string {
    return onHostOk("frontend", "sha256sum /etc/limen/pm2/ecosystem.config.js /srv/limen-frontend/.env.production");
}

/** The design's session check through the front door, from the outsider: Set-Cookie, then valid. */
function sessionThroughFrontDoor(): boolean {
    const resolve = `${limenDomain}:443:${hosts.hosts.frontend.ipv4}`;
    const login = inNamespace(
        hosts.hosts.outsider.namespace,
        "curl",
        "-sk",
        "--max-time",
        "10",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-X",
        "POST",
        "--resolve",
        resolve,
        `https://${limenDomain}/api/auth/session`,
    );
    const cookie = /^set-cookie: ([^;\r\n]+)/im.exec(login.stdout)?.[1];
    if (!cookie) return false;
    const check = inNamespace(
        hosts.hosts.outsider.namespace,
        "curl",
        "-sk",
        "--max-time",
        "10",
        "-H",
        `Cookie: ${cookie}`,
        "--resolve",
        resolve,
        `https://${limenDomain}/api/auth/session`,
    );
    return /"valid":\s*true/.test(check.stdout);
}

describe("a release the health gate refuses runs only as a candidate: the serving apps are never touched", () => {
    // Short in the lab, so that a failing gate is seen quickly; the lab's apps start in about 2 s.
    const gate = { healthGate: { timeoutSeconds: 20 } };

    async function rolledBack(name: string, overrides: LabOverrides, problem: RegExp): Promise<void> {
        expect(await converge({ apps: gate })).not.toHaveProperty("create");
        const filesBefore = loadedFilesOnHost();
        const workersBefore = workerPids();
        const clients = stormClients(["keepalive", "fresh"]);
        const started = Date.now();
        let error = "";
        let stopped: ReturnType<typeof clients.stop> | undefined;
        try {
            await configureLabStack(hosts, { ...overrides, apps: { ...gate, ...overrides.apps } });
            error = await stack.up(quiet).then(
                () => "",
                (e: Error) => e.message,
            );
        } finally {
            stopped = clients.stop();
        }
        const upSeconds = (Date.now() - started) / 1000;
        const { byMode, failures } = (await stopped)!;
        // `pulumi up` fails naming the candidate, what the gate saw, and that nothing else changed.
        expect(error).toMatch(problem);
        expect(error).toMatch(/Rolled back: the serving apps were not touched, and the previous ecosystem and \.env\.production are in place again; the change is not applied/);
        // The host runs the files it ran before, in the same processes, no candidate is left, and the site answers.
        expect(loadedFilesOnHost()).toBe(filesBefore);
        expect(workerPids()).toBe(workersBefore);
        expect(Object.values(pm2Status("limen")).every((status) => status.includes("online"))).toBe(true);
        expect(sessionThroughFrontDoor()).toBe(true);
        // The state keeps the previous facts: preview still shows the change to the apps.
        const preview = await stack.preview({ color: "never", diff: true });
        expect(preview.changeSummary.update ?? 0).toBeGreaterThan(0);
        const requests = Object.values(byMode).reduce((sum, loop) => sum + loop.requests, 0);
        // Every failure by its line: the serving apps never saw the release, so none may fail.
        expect(failures.map((f) => `${new Date(f.at * 1000).toISOString()} ${f.loop} ${f.request}: ${f.error}`)).toEqual([]);
        expect(requests).toBeGreaterThan(0);
        recordFigure(
            `refused as a candidate: ${name}`,
            `\`pulumi up\` failed and put the files back in ${upSeconds.toFixed(1)} s; through 443 ${failures.length} of ${requests} requests failed, the serving apps' processes unchanged`,
        );
    }

    it("apps that cannot start with the new .env.production: the previous files come back and `pulumi up` fails saying so; the next `up` tries again", async () => {
        // An env value the app refuses at start (lab/fixtures/limen-frontend/instrumentation.js). Next.js
        // then serves 500 to every request; a server that exits instead is not online in time.
        const broken: LabOverrides = { extraEnv: { LIMEN_FIXTURE_START: "refuse" } };
        await rolledBack(
            "apps that cannot start",
            broken,
            /run as a candidate \(limen-frontend on port \d+, darc-kr on port \d+\) before the serving apps were touched, failed the health gate: (not passed within 20 s: session check: POST http:\/\/127\.0\.0\.1:\d+\/api\/auth\/session answered 500|limen-frontend-candidate exited)/,
        );
        // The next `up` tries the same change again (and rolls it back again).
        const again = await stack.up(quiet).then(
            () => "",
            (e: Error) => e.message,
        );
        expect(again).toMatch(/Rolled back/);
        // A good config converges, and the site answers.
        expect(await converge({ apps: gate })).toMatchObject({ update: expect.any(Number) });
        expect(sessionThroughFrontDoor()).toBe(true);
    }, 600_000);

    it("an env change that starts but breaks the session check (the middleware sends it where the backend has nothing): refused the same way", async () => {
        // An env value that changes only the apps (lab/fixtures/limen-frontend/proxy.js). A wrong backend
        // address would break the session check too, but it also changes Envoy's config, whose container
        // is replaced (docs/safety.md, "Envoy's release": the front door's gate).
        await rolledBack(
            "the session check fails",
            { extraEnv: { LIMEN_FIXTURE_SESSION: "broken" } },
            /run as a candidate \(limen-frontend on port \d+, darc-kr on port \d+\) before the serving apps were touched, failed the health gate: not passed within 20 s: session check: POST http:\/\/127\.0\.0\.1:\d+\/api\/auth\/session answered 404/,
        );
        expect(await converge({ apps: gate })).toMatchObject({ update: expect.any(Number) });
        expect(sessionThroughFrontDoor()).toBe(true);
    }, 600_000);
});

/** The serving container's id (docker inspect). */
const envoyContainerId = () => onHostOk("frontend", "docker inspect --format '{{.Id}}' limen-envoy").trim();

/** Runs `deploys` under the storm's clients (kept-alive and new connections) and returns what they saw. */
async function underClients(deploys: () => Promise<void>) {
    const clients = stormClients(["keepalive", "fresh"]);
    let stopped: ReturnType<typeof clients.stop> | undefined;
    try {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await deploys();
        await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
        stopped = clients.stop();
    }
    const { byMode, failures } = await stopped;
    const requests = Object.values(byMode).reduce((sum, mode) => sum + mode.requests, 0);
    return {
        byMode,
        failures,
        requests,
        summary: `through 443 ${failures.length} of ${requests} requests failed (kept-alive ${byMode.keepalive!.requests}, new connections ${byMode.fresh!.requests})`,
    };
}

describe("Envoy's releases: a new config is judged on a candidate, then applied in place, or served by a standby while a new container replaces the old", () => {
    it("route changes, at least 5, are applied in place by the same container and fail no request through 443", async () => {
        expect(await converge()).not.toHaveProperty("create");
        const container = envoyContainerId();
        const seconds: number[] = [];
        const seen = await underClients(async () => {
            for (let index = 1; index <= 6; index++) {
                const started = Date.now();
                // One backend route prefix added, then removed: Envoy's listeners alone change.
                const changes = await converge({ envoy: { backendRoutePrefixes: index % 2 === 1 ? ["/api/agent"] : [] } });
                seconds.push((Date.now() - started) / 1000);
                // The release (candidate, then in place) and the listeners file it installed.
                expect(changes).toEqual({ same: labResourceCount - 2, update: 2 });
            }
        });
        expect(envoyContainerId()).toBe(container);
        recordFigure(
            "Envoy route changes in place",
            `${seconds.length} deploys (${Math.min(...seconds).toFixed(1)} to ${Math.max(...seconds).toFixed(1)} s each); ${seen.summary}`,
        );
        expect(seen.failures).toEqual([]);
        expect(seen.requests).toBeGreaterThan(1000);
    }, 900_000);

    it("two domain changes (a second LIMEN name added, then removed) are applied in place and fail no request through 443", async () => {
        expect(await converge()).not.toHaveProperty("create");
        const container = envoyContainerId();
        const seconds: number[] = [];
        const seen = await underClients(async () => {
            for (const limen of [[limenDomain, "app.lab.test"], [limenDomain]]) {
                const started = Date.now();
                const changes = await converge({ domains: { limen } });
                seconds.push((Date.now() - started) / 1000);
                // The listeners (their virtual hosts) in place; the settle step asks the names again.
                expect(changes).toMatchObject({ update: expect.any(Number) });
                expect(changes).not.toHaveProperty("replace");
            }
        });
        expect(envoyContainerId()).toBe(container);
        recordFigure("Envoy domain changes in place", `${seconds.length} deploys (${seconds.map((s) => s.toFixed(1)).join(", ")} s); ${seen.summary}`);
        expect(seen.failures).toEqual([]);
    }, 900_000);

    it("an image change starts a new container beside the old one (a standby serves while Docker replaces it), and fails no request through 443", async () => {
        expect(await converge()).not.toHaveProperty("create");
        const variant = spawnSync("bash", [path.join(repoRoot, "lab", "registry", "registry.sh"), "variant", "image-change"], { encoding: "utf8" });
        expect(variant.status, variant.stderr).toBe(0);
        const image = variant.stdout.trim().split("\n").at(-1)!;
        expect(image).toMatch(/@sha256:[0-9a-f]{64}$/);
        expect(image).not.toBe(hosts.envoyImage);
        const containers = [envoyContainerId()];
        const seconds: number[] = [];
        const seen = await underClients(async () => {
            for (const next of [image, hosts.envoyImage]) {
                const started = Date.now();
                const changes = await converge({ envoy: { image: next } });
                seconds.push((Date.now() - started) / 1000);
                // The image resource and the container; the release and the settle step around them.
                expect(changes).toEqual({ same: labResourceCount - 4, update: 2, replace: 2 });
                containers.push(envoyContainerId());
            }
        });
        expect(new Set(containers).size).toBe(3);
        expect(onHostOk("frontend", "docker ps -a --format '{{.Names}}' | sort").trim()).toBe("limen-envoy");
        recordFigure("Envoy image changes (a new container through the handover)", `${seconds.length} deploys (${seconds.map((s) => s.toFixed(1)).join(", ")} s); ${seen.summary}`);
        expect(seen.failures).toEqual([]);
    }, 900_000);

    it("a config whose new port another process holds: Envoy rejects it in place, the previous listeners come back, `pulumi up` fails saying so, and the next `up` tries again", async () => {
        expect(await converge()).not.toHaveProperty("create");
        const listenersBefore = onHostOk("frontend", "sha256sum /etc/limen/envoy/dynamic/lds.yaml");
        const container = envoyContainerId();
        // The app user holds 8080 (any port it may bind): `envoy --mode validate` accepts a config with
        // httpPort 8080, and the candidate (on loopback ports) passes, but the serving Envoy cannot bind it.
        onHostOk("frontend", `systemd-run --quiet --uid=limen --unit=lab-port-squatter node -e 'require("net").createServer((s) => s.destroy()).listen(8080)'`);
        const started = Date.now();
        let error = "";
        let again = "";
        let seen: Awaited<ReturnType<typeof underClients>>;
        try {
            seen = await underClients(async () => {
                await configureLabStack(hosts, { envoy: { httpPort: 8080 } });
                error = await stack.up(quiet).then(
                    () => "",
                    (e: Error) => e.message,
                );
                again = await stack.up(quiet).then(
                    () => "",
                    (e: Error) => e.message,
                );
            });
        } finally {
            onHost("frontend", "systemctl stop lab-port-squatter");
        }
        const upSeconds = (Date.now() - started) / 1000;
        expect(error).toMatch(/Envoy rejected the new listeners or clusters;.*Rolled back: Envoy serves the previous listeners and clusters again/s);
        expect(again).toMatch(/Rolled back/);
        expect(onHostOk("frontend", "sha256sum /etc/limen/envoy/dynamic/lds.yaml")).toBe(listenersBefore);
        expect(envoyContainerId()).toBe(container);
        expect(onHostOk("frontend", "docker ps -a --format '{{.Names}}' | sort").trim()).toBe("limen-envoy");
        expect(sessionThroughFrontDoor()).toBe(true);
        // The state keeps the previous inputs: preview still shows the release.
        const preview = await stack.preview({ color: "never" });
        expect(preview.changeSummary.update ?? 0).toBeGreaterThan(0);
        recordFigure(
            "refused: an Envoy config whose new port another process holds",
            `two \`pulumi up\` failed and rolled back in ${upSeconds.toFixed(1)} s; ${seen!.summary}; the container and its listeners unchanged`,
        );
        expect(seen!.failures).toEqual([]);
        await converge();
        expect(sessionThroughFrontDoor()).toBe(true);
    }, 900_000);

    it("a route to a port where nothing listens: the candidate fails the gate, `pulumi up` fails naming what the door answered, and nothing the door serves changed", async () => {
        expect(await converge()).not.toHaveProperty("create");
        const listenersBefore = onHostOk("frontend", "sha256sum /etc/limen/envoy/dynamic/lds.yaml /etc/limen/envoy/dynamic/cds.yaml");
        // The stack keeps Envoy's routes and the apps' ports together, so no config routes to a closed
        // port: the darc.kr app is stopped by hand instead (nothing listens on 9445), and a route change
        // comes. Its candidate asks darc.kr through the new config and gets Envoy's 503.
        onHostOk("frontend", "su - limen -c 'pm2 stop darc-kr' >/dev/null");
        let error = "";
        let seen: Awaited<ReturnType<typeof underClients>>;
        try {
            seen = await underClients(async () => {
                await configureLabStack(hosts, { envoy: { backendRoutePrefixes: ["/api/agent"] } });
                error = await stack.up(quiet).then(
                    () => "",
                    (e: Error) => e.message,
                );
            });
        } finally {
            onHostOk("frontend", "su - limen -c 'pm2 start darc-kr' >/dev/null");
        }
        expect(error).toMatch(
            /the new config failed on its candidate \(127\.0\.0\.1:\d+\): front door gate, not passed within 30 s: https:\/\/darc\.lab\.test\/ \(127\.0\.0\.1:\d+\) answered 503\. Nothing changed/,
        );
        expect(onHostOk("frontend", "sha256sum /etc/limen/envoy/dynamic/lds.yaml /etc/limen/envoy/dynamic/cds.yaml")).toBe(listenersBefore);
        recordFigure("refused: a route to a port where nothing listens (darc.kr's app stopped)", `${seen!.summary} (the clients ask LIMEN's site)`);
        expect(seen!.failures).toEqual([]);
        await converge();
        expect(sessionThroughFrontDoor()).toBe(true);
    }, 900_000);
});
