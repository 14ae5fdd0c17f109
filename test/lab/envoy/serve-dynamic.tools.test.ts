/**
 * The lab's Envoy stand-in (lab/envoy) on the bootstrap the container runs: listeners and clusters from
 * the LDS and CDS files (render/envoy.ts), reloaded in place when a file is moved into the watched
 * directory, a rejected file leaving the served config as it was. Clients run throughout, on kept-alive
 * and on new connections: a change in place must fail none of their requests.
 */
import * as https from "node:https";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createServer, Server } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { EnvoySpec, envoyDynamicDir, renderDiscoveryResponse, renderEnvoyBootstrap, renderEnvoyResources } from "../../../render/envoy";
import { selfSignedPair } from "../../support/certificates";
import { adminSocketOf, freePort, get, httpsFor, serve, upstream, work, writeBootstrap } from "../../support/envoy-stand-in";

const dynamicDir = path.join(work, "dynamic");
let spec: EnvoySpec;
let bootstrapFile = "";
let envoy: Awaited<ReturnType<typeof serve>>;

/** Moves a new version of `kind` into the watched directory (a write beside it, then a rename), as the host tool does. */
function publish(kind: "lds" | "cds", next: EnvoySpec): string {
    const resources = renderEnvoyResources(next);
    const { text, version } = renderDiscoveryResponse(kind, kind === "lds" ? resources.listeners : resources.clusters);
    writeFileSync(path.join(dynamicDir, `.${kind}.new`), text);
    renameSync(path.join(dynamicDir, `.${kind}.new`), path.join(dynamicDir, `${kind}.yaml`));
    return version;
}

async function stats(): Promise<Record<string, string>> {
    const body = (await get({ socketPath: adminSocketOf(bootstrapFile), path: "/stats?filter=^(listener_manager|cluster_manager)" })).body;
    return Object.fromEntries(
        body
            .trim()
            .split("\n")
            .map((line) => line.split(": ") as [string, string]),
    );
}

/** Waits until `name` reads `value` in /stats (the stand-in polls its directories every second). */
async function statBecomes(name: string, value: string): Promise<Record<string, string>> {
    for (let i = 0; i < 50; i++) {
        const now = await stats();
        if (now[name] === value) return now;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${name} never became ${value}: ${JSON.stringify(await stats())}`);
}

/** A client loop on one kept-alive connection and one on new connections, until stopped: every failure kept. */
function clients(port: number) {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const failures: string[] = [];
    let requests = 0;
    let running = true;
    const ask = (keepAlive: boolean) =>
        new Promise<void>((resolve) => {
            const req = https.get(
                { host: "127.0.0.1", port, path: "/", servername: "limen.test", headers: { host: "limen.test" }, rejectUnauthorized: false, agent: keepAlive ? agent : false },
                (res) => {
                    res.resume();
                    res.on("end", () => {
                        requests++;
                        if (res.statusCode !== 200) failures.push(`status ${res.statusCode}`);
                        resolve();
                    });
                },
            );
            req.on("error", (error) => {
                requests++;
                failures.push(String(error));
                resolve();
            });
        });
    const loop = async (keepAlive: boolean) => {
        while (running) await ask(keepAlive);
    };
    const loops = [loop(true), loop(false)];
    return {
        async stop() {
            running = false;
            await Promise.all(loops);
            agent.destroy();
            return { requests, failures };
        },
    };
}

describe("the stand-in on dynamic resources from the filesystem", () => {
    beforeAll(async () => {
        const [nextjs, darc, backend] = await Promise.all(["nextjs", "darc", "backend"].map(upstream));
        const [http, httpsPort] = await Promise.all([freePort(), freePort()]);
        const pair = selfSignedPair(path.join(work, "dynamic-pair"), ["limen.test", "darc.test"], 7);
        spec = {
            httpPort: http ?? 0,
            httpsPort: httpsPort ?? 0,
            limenDomains: ["limen.test"],
            darcDomains: ["darc.test"],
            nextjs: { host: "127.0.0.1", port: nextjs ?? 0 },
            darc: { host: "127.0.0.1", port: darc ?? 0 },
            backend: { address: "127.0.0.1", port: backend ?? 0 },
            backendRoutePrefixes: [],
            tls: { mode: "files", certificateChainPath: pair.chainPath, privateKeyPath: pair.keyPath },
        };
        mkdirSync(dynamicDir);
        publish("cds", spec);
        publish("lds", spec);
        bootstrapFile = writeBootstrap("dynamic.yaml", renderEnvoyBootstrap().replaceAll(envoyDynamicDir, dynamicDir));
        envoy = await serve(bootstrapFile);
    }, 60_000);

    it("serves the listeners and clusters of the files, and reports their versions", async () => {
        const resources = renderEnvoyResources(spec);
        const now = await stats();
        expect(now["listener_manager.lds.version_text"]).toBe(JSON.stringify(renderDiscoveryResponse("lds", resources.listeners).version));
        expect(now["cluster_manager.cds.version_text"]).toBe(JSON.stringify(renderDiscoveryResponse("cds", resources.clusters).version));
        expect(JSON.parse((await httpsFor(spec.httpsPort, "limen.test")).body).upstream).toBe("nextjs");
    });

    it("applies a new route in place: no request fails, and the route answers", async () => {
        const running = clients(spec.httpsPort);
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (const prefixes of [["/api/agent"], [], ["/api/agent"]]) {
            const version = publish("lds", { ...spec, backendRoutePrefixes: prefixes });
            await statBecomes("listener_manager.lds.version_text", JSON.stringify(version));
            await new Promise((resolve) => setTimeout(resolve, 300));
        }
        const { requests, failures } = await running.stop();
        expect(failures).toEqual([]);
        expect(requests).toBeGreaterThan(20);
        expect(JSON.parse((await httpsFor(spec.httpsPort, "limen.test", "/api/agent/x")).body).upstream).toBe("backend");
    });

    it("rejects a listener file whose route names a cluster the clusters file lacks, and keeps serving the previous one", async () => {
        const before = await stats();
        const broken = renderEnvoyResources(spec).listeners.map((listener) => JSON.parse(JSON.stringify(listener).replaceAll('"limen_nextjs"', '"no_such_cluster"')));
        const { text } = renderDiscoveryResponse("lds", broken);
        writeFileSync(path.join(dynamicDir, ".lds.new"), text);
        renameSync(path.join(dynamicDir, ".lds.new"), path.join(dynamicDir, "lds.yaml"));
        const after = await statBecomes("listener_manager.lds.update_rejected", String(Number(before["listener_manager.lds.update_rejected"]) + 1));
        expect(after["listener_manager.lds.version_text"]).toBe(before["listener_manager.lds.version_text"]);
        expect(JSON.parse((await httpsFor(spec.httpsPort, "limen.test", "/api/agent/x")).body).upstream).toBe("backend");
    });

    it("rejects a listener on a port another process holds, and keeps serving the previous one", async () => {
        const squatter: Server = createServer((socket) => socket.destroy());
        const held = await freePort();
        await new Promise<void>((resolve) => squatter.listen(held, "::", resolve));
        try {
            const before = await stats();
            publish("lds", { ...spec, httpPort: held ?? 0 });
            const after = await statBecomes("listener_manager.lds.update_rejected", String(Number(before["listener_manager.lds.update_rejected"]) + 1));
            expect(after["listener_manager.lds.version_text"]).toBe(before["listener_manager.lds.version_text"]);
            expect((await httpsFor(spec.httpsPort, "darc.test")).status).toBe(200);
        } finally {
            await new Promise((resolve) => squatter.close(resolve));
        }
    });

    it("writes one JSON line per request to stdout, with the time, the site, the status, the upstream cluster, the duration and the request id", async () => {
        const before = envoy.stdout().split("\n").length;
        const answers = [await httpsFor(spec.httpsPort, "limen.test", "/?access-log=1"), await httpsFor(spec.httpsPort, "limen.test", "/nowhere", undefined)];
        await new Promise((resolve) => setTimeout(resolve, 200));
        const lines = envoy
            .stdout()
            .split("\n")
            .slice(before - 1)
            .filter(Boolean)
            .map((line) => JSON.parse(line) as Record<string, unknown>);
        const mine = lines.filter((line) => line.path === "/?access-log=1");
        expect(mine).toHaveLength(1);
        expect(mine[0]).toEqual({
            duration_ms: expect.any(Number),
            flags: "-",
            method: "GET",
            path: "/?access-log=1",
            request_id: JSON.parse(answers[0]!.body).requestId ?? expect.stringMatching(/^[0-9a-f-]{36}$/),
            site: "limen.test",
            status: 200,
            time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
            upstream: "limen_nextjs",
            upstream_host: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
        });
        // The keys in Envoy's order for a json_format (sorted), every request logged once.
        expect(Object.keys(mine[0]!)).toEqual(["duration_ms", "flags", "method", "path", "request_id", "site", "status", "time", "upstream", "upstream_host"]);
        expect(lines.filter((line) => line.path === "/nowhere")).toHaveLength(1);
    });
    it("a new port is a new listener (Envoy names each by its port); the old one closes after the drain", async () => {
        const moved = await freePort();
        const version = publish("lds", { ...spec, httpsPort: moved ?? 0 });
        await statBecomes("listener_manager.lds.version_text", JSON.stringify(version));
        expect((await httpsFor(moved ?? 0, "limen.test")).status).toBe(200);
        const listed = JSON.parse((await get({ socketPath: adminSocketOf(bootstrapFile), path: "/listeners?format=json" })).body);
        expect(listed.listener_statuses.map((l: { name: string }) => l.name).sort()).toEqual([`http_${spec.httpPort}`, `https_${moved}`]);
    });
});
