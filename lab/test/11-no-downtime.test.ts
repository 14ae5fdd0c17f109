/**
 * A deploy never takes the site down. Measured from the outsider's namespace through the front door,
 * as users reach the site:
 * - the reload storm: deploys that each reload both apps (a rolling `pm2 reload`), under two client
 *   loops that never retry, one with a new connection per request and one reusing kept-alive
 *   connections as a browser does;
 * - the health gate after a reload, and the rollback when the apps fail it;
 * - the same gate for Envoy's container, and its rollback.
 * Runs after 10-front-door.test.ts.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { configureLabStack, LabHosts, LabOverrides, openLabStack, readLabHosts, recordFigure, repoRoot, stateDir } from "../stack";
import { background, labResourceCount, pm2Status } from "./probes";

let stack: Stack;
let hosts: LabHosts;
const quiet = { color: "never" as const, onOutput: () => undefined };
const limenDomain = "limen.lab.test";

beforeAll(async () => {
    hosts = readLabHosts();
    stack = await openLabStack();
    await converge();
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
function stormClients(modes: string[]) {
    const stopFile = path.join(stateDir, `storm-stop-${process.pid}`);
    rmSync(stopFile, { force: true });
    const loops = modes.map((mode) => {
        const progressFile = path.join(stateDir, `storm-${mode}-${process.pid}.json`);
        rmSync(progressFile, { force: true });
        const output = background("ip", [
            "netns",
            "exec",
            hosts.hosts.outsider.namespace,
            process.execPath,
            path.join(repoRoot, "lab", "storm", "client.js"),
            `--url=https://${limenDomain}/`,
            `--connect=${hosts.hosts.frontend.ipv4}`,
            `--mode=${mode}`,
            `--stop-file=${stopFile}`,
            `--progress-file=${progressFile}`,
        ]);
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

/** The pm2 process ids of the apps, e.g. "limen-frontend:1234,1240 darc-kr:1235,1241". */
function workerPids(): string {
    const apps = pm2Status("limen");
    return Object.keys(apps)
        .sort()
        .map((name) => `${name}:${apps[name]}`)
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
