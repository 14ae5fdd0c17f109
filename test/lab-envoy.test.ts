import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import { AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import type { TLSSocket } from "node:tls";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvoySpec, renderEnvoy, renderSdsSecret } from "../render/envoy";
import { selfSignedPair } from "./support/certificates";
import { repoRoot } from "./support/fixtures";

/**
 * The lab's stand-in for Envoy (lab/envoy: a Go program on tools/envoy-check's sources) run on
 * bootstraps renderEnvoy renders, on high ports, in front of node servers on 127.0.0.1: real requests
 * prove what it serves, and its validate and serve modes prove what it refuses.
 */
let envoyBin = "";
const work = mkdtempSync(path.join(tmpdir(), "lab-envoy-test-"));
const processes: ChildProcess[] = [];
const upstreams: http.Server[] = [];

beforeAll(() => {
    // Built from lab/envoy and tools/envoy-check and cached outside the repo; a no-op once cached.
    const build = spawnSync("bash", [path.join(repoRoot, "lab", "envoy", "build.sh")], { encoding: "utf8" });
    if (build.error || build.status !== 0) throw new Error(`lab/envoy/build.sh failed (exit ${build.status}): ${build.stderr}`);
    envoyBin = build.stdout.trim().split("\n").at(-1) ?? "";
}, 900_000);

afterAll(async () => {
    for (const p of processes) p.kill("SIGTERM");
    await Promise.all(upstreams.map((s) => new Promise((resolve) => s.close(resolve))));
    rmSync(work, { recursive: true, force: true });
});

type Seen = { upstream: string; url: string; host?: string; cookie?: string; xff?: string; proto?: string };

/** An app on 127.0.0.1 that answers what it saw, and sets a cookie. */
async function upstream(name: string): Promise<number> {
    const server = http.createServer((req, res) => {
        const seen: Seen = { upstream: name, url: req.url ?? "", host: req.headers.host, cookie: req.headers.cookie };
        seen.xff = req.headers["x-forwarded-for"] as string;
        seen.proto = req.headers["x-forwarded-proto"] as string;
        res.setHeader("set-cookie", [`session=${name}; Path=/; HttpOnly`, "theme=dark"]);
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(seen));
    });
    upstreams.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (the kernel's pick, released). */
async function freePort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
}

/** Publishes a pair as files/limen-host.sh tls-publish does: a new directory, then `current` swapped by a rename. */
function publish(dir: string, version: string, names: string[]): string {
    selfSignedPair(path.join(dir, version), names, 7);
    symlinkSync(version, path.join(dir, ".current.new"));
    renameSync(path.join(dir, ".current.new"), path.join(dir, "current"));
    return new X509Certificate(readFileSync(path.join(dir, version, "fullchain.pem"))).fingerprint256;
}

function writeBootstrap(name: string, text: string): string {
    const file = path.join(work, name);
    writeFileSync(file, text);
    return file;
}

type Json = Record<string, any>;

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const runEnvoy = (args: string[]) => spawnSync(envoyBin, args, { encoding: "utf8", timeout: 20_000 });

/** Starts the stand-in in serve mode and waits for its admin /ready. */
async function serve(file: string, adminPort: number): Promise<void> {
    const child = spawn(envoyBin, ["-c", file, "--drain-time-s", "20"], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ENVOY_UID: "0" } });
    processes.push(child);
    let log = "";
    child.stderr?.on("data", (chunk) => (log += chunk));
    for (let i = 0; i < 100; i++) {
        if (child.exitCode !== null) throw new Error(`the stand-in exited ${child.exitCode}: ${log}`);
        const ready = await get({ port: adminPort, path: "/ready" }).catch(() => undefined);
        if (ready?.status === 200) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the stand-in did not become ready: ${log}`);
}

type Reply = { status: number; headers: http.IncomingHttpHeaders; body: string; certificate?: string };

/** One request on a new connection; with `servername`, over TLS with that SNI (empty: none). */
function get(o: { port: number; path: string; host?: string; servername?: string; cookie?: string }): Promise<Reply> {
    const headers: http.OutgoingHttpHeaders = { host: o.host ?? "localhost", ...(o.cookie ? { cookie: o.cookie } : {}) };
    const options = { host: "127.0.0.1", port: o.port, path: o.path, headers, agent: false as const };
    return new Promise((resolve, reject) => {
        const done = (res: http.IncomingMessage) => {
            let body = "";
            res.on("data", (chunk) => (body += chunk));
            res.on("end", () => {
                const peer = "getPeerCertificate" in res.socket ? (res.socket as TLSSocket).getPeerX509Certificate() : undefined;
                resolve({ status: res.statusCode ?? 0, headers: res.headers, body, certificate: peer?.fingerprint256 });
            });
        };
        const req = o.servername === undefined ? http.get(options, done) : https.get({ ...options, servername: o.servername, rejectUnauthorized: false }, done);
        req.on("error", reject);
    });
}

const httpsFor = (port: number, host: string, urlPath = "/", cookie?: string) => get({ port, path: urlPath, host, servername: host, cookie });

describe("the stand-in serves the rendered SDS bootstrap (two certificates by SNI, the ACME challenge route)", () => {
    const ports = { http: 0, https: 0, admin: 0 };
    const fingerprints: Record<string, string> = {};
    const acmeDir = path.join(work, "acme");

    beforeAll(async () => {
        const [nextjs, darc, backend, acme] = await Promise.all(["nextjs", "darc", "backend", "acme"].map(upstream));
        [ports.http, ports.https, ports.admin] = await Promise.all([freePort(), freePort(), freePort()]);
        const certificates = ["limen", "darc"].map((name) => ({
            name,
            serverNames: name === "limen" ? ["limen.test"] : ["darc.test", "*.darc.test"],
            sdsPath: path.join(work, "sds", `${name}.yaml`),
        }));
        mkdirSync(path.join(work, "sds"));
        for (const { name, serverNames } of certificates) {
            fingerprints[name] = publish(path.join(acmeDir, name), "v1", serverNames);
            const dir = path.join(acmeDir, name);
            const sds = renderSdsSecret({ name, certificateChainPath: `${dir}/current/fullchain.pem`, privateKeyPath: `${dir}/current/privkey.pem`, watchedDirectory: dir });
            writeFileSync(path.join(work, "sds", `${name}.yaml`), sds);
        }
        const spec: EnvoySpec = {
            httpPort: ports.http,
            httpsPort: ports.https,
            adminPort: ports.admin,
            limenDomains: ["limen.test"],
            darcDomains: ["darc.test", "www.darc.test"],
            nextjs: { host: "127.0.0.1", port: nextjs ?? 0 },
            darc: { host: "127.0.0.1", port: darc ?? 0 },
            backend: { address: "127.0.0.1", port: backend ?? 0 },
            backendRoutePrefixes: ["/api/agent"],
            tls: { mode: "sds", certificates },
            acmeChallenge: { address: "127.0.0.1", port: acme ?? 0 },
        };
        await serve(writeBootstrap("sds.yaml", renderEnvoy(spec)), ports.admin);
    }, 60_000);

    it("port 80 redirects to https with the port (301), keeping path and query", async () => {
        const reply = await get({ port: ports.http, path: "/a/b?c=1", host: "limen.test" });
        expect(reply.status).toBe(301);
        expect(reply.headers.location).toBe(`https://limen.test:${ports.https}/a/b?c=1`);
    });

    it("port 80 sends ACME challenges to the responder cluster instead", async () => {
        const reply = await get({ port: ports.http, path: "/.well-known/acme-challenge/token1", host: "limen.test" });
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body)).toMatchObject({ upstream: "acme", url: "/.well-known/acme-challenge/token1", host: "limen.test", proto: "http" });
    });

    it("https for limen reaches Next.js with Host, Cookie and Set-Cookie untouched", async () => {
        const reply = await httpsFor(ports.https, "limen.test", "/dashboard?x=1", "session=abc; theme=light");
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body)).toEqual({
            upstream: "nextjs",
            url: "/dashboard?x=1",
            host: "limen.test",
            cookie: "session=abc; theme=light",
            xff: "127.0.0.1",
            proto: "https",
        });
        expect(reply.headers["set-cookie"]).toEqual(["session=nextjs; Path=/; HttpOnly", "theme=dark"]);
        expect(reply.headers.server).toBe("envoy");
        expect(reply.headers["x-envoy-upstream-service-time"]).toMatch(/^\d+$/);
    });

    it.each([
        ["darc.test", "/", "darc"],
        ["www.darc.test", "/about", "darc"],
        ["limen.test", "/api/agent/jobs", "backend"],
        ["limen.test", "/api/other", "nextjs"],
    ])("https Host %s path %s goes to the %s cluster", async (host, urlPath, cluster) => {
        const reply = await httpsFor(ports.https, host, urlPath);
        expect(JSON.parse(reply.body)).toMatchObject({ upstream: cluster, url: urlPath });
    });

    it("a Host no virtual host lists is 404, as Envoy answers", async () => {
        expect((await httpsFor(ports.https, "other.test")).status).toBe(404);
    });

    it.each([
        ["limen.test", "limen"],
        ["darc.test", "darc"],
        ["deep.www.darc.test", "darc"],
        ["unknown.test", "limen"],
        ["", "limen"],
    ])("SNI %j is answered with the %s certificate", async (servername, name) => {
        const reply = await get({ port: ports.https, path: "/", host: "limen.test", servername });
        expect(reply.certificate).toBe(fingerprints[name]);
    });

    it("an SDS reload follows an atomic swap of `current`", async () => {
        const renewed = publish(path.join(acmeDir, "darc"), "v2", ["darc.test", "*.darc.test"]);
        expect(renewed).not.toBe(fingerprints.darc);
        let served = "";
        for (let i = 0; i < 50 && served !== renewed; i++) {
            await new Promise((resolve) => setTimeout(resolve, 200));
            served = (await httpsFor(ports.https, "darc.test")).certificate ?? "";
        }
        expect(served).toBe(renewed);
        expect((await httpsFor(ports.https, "limen.test")).certificate).toBe(fingerprints.limen);
    });

    it("HTTP/2 over TLS (ALPN h2) reaches the same route", async () => {
        const session = http2.connect(`https://127.0.0.1:${ports.https}`, { servername: "limen.test", rejectUnauthorized: false });
        try {
            const stream = session.request({ ":path": "/h2", ":authority": "limen.test" });
            let body = "";
            stream.on("data", (chunk) => (body += chunk));
            const status = await new Promise<number>((resolve, reject) => {
                let code = 0;
                stream.on("response", (headers) => (code = Number(headers[":status"])));
                stream.on("end", () => resolve(code));
                stream.on("error", reject);
            });
            expect(session.alpnProtocol).toBe("h2");
            expect([status, JSON.parse(body).upstream, JSON.parse(body).url]).toEqual([200, "nextjs", "/h2"]);
        } finally {
            session.close();
        }
    });

    it("a header with an underscore is refused (REJECT_REQUEST: 400) and never reaches the app", async () => {
        const reply = await new Promise<number>((resolve, reject) =>
            https
                .get(
                    {
                        host: "127.0.0.1",
                        port: ports.https,
                        path: "/",
                        servername: "limen.test",
                        rejectUnauthorized: false,
                        agent: false,
                        headers: { host: "limen.test", x_user: "1" },
                    },
                    (res) => {
                        res.resume();
                        resolve(res.statusCode ?? 0);
                    },
                )
                .on("error", reject),
        );
        expect(reply).toBe(400);
    });

    it("the admin endpoint answers /ready and nothing it does not implement", async () => {
        expect(await get({ port: ports.admin, path: "/ready" })).toMatchObject({ status: 200, body: "LIVE\n" });
        expect((await get({ port: ports.admin, path: "/clusters" })).status).toBe(404);
    });
});

describe("certificates named in the bootstrap, an upstream that is down, and what the stand-in refuses", () => {
    let spec: EnvoySpec;
    const bootstrap = (): Json => parse(renderEnvoy(spec));
    const httpsManager = (b: Json): Json => b.static_resources.listeners[1].filter_chains[0].filters[0].typed_config;
    const HTTPS_HCM = "static_resources.listeners[1].filter_chains[0].filters[0].typed_config";

    beforeAll(async () => {
        const pair = selfSignedPair(path.join(work, "files-pair"), ["limen.test"], 7);
        const [http, https, admin, down] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
        spec = {
            httpPort: http ?? 0,
            httpsPort: https ?? 0,
            adminPort: admin ?? 0,
            limenDomains: ["limen.test"],
            darcDomains: ["darc.test"],
            nextjs: { host: "127.0.0.1", port: down ?? 0 },
            darc: { host: "127.0.0.1", port: down ?? 0 },
            backend: { address: "127.0.0.1", port: down ?? 0 },
            backendRoutePrefixes: [],
            tls: { mode: "files", certificateChainPath: pair.chainPath, privateKeyPath: pair.keyPath },
        };
    });

    it("an upstream that refuses the connection is 503 with Envoy's reason", async () => {
        await serve(writeBootstrap("files.yaml", renderEnvoy(spec)), spec.adminPort);
        const reply = await httpsFor(spec.httpsPort, "limen.test");
        expect(reply.status).toBe(503);
        expect(reply.body).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection failure");
    });

    it("validate mode passes the rendered bootstrap, with its upstream options and retry policies", () => {
        const b = bootstrap();
        expect(b.static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options).toEqual({
            max_requests_per_connection: 1,
        });
        expect(httpsManager(b).route_config.virtual_hosts[0].routes.at(-1).route.retry_policy).toEqual({ retry_on: "reset-before-request", num_retries: 2 });
        const file = writeBootstrap("validate-ok.yaml", stringify(b));
        const run = runEnvoy(["--mode", "validate", "-c", file]);
        expect(run.stderr).toBe("");
        expect([run.status, run.stdout]).toEqual([0, `configuration '${file}' OK\n`]);
    });

    it.each<[string, (b: Json) => void, string]>([
        [
            "an extra http filter (CORS)",
            (b) =>
                httpsManager(b).http_filters.unshift({
                    name: "envoy.filters.http.cors",
                    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" },
                }),
            `${HTTPS_HCM}.http_filters[0].typed_config: message type envoy.extensions.filters.http.cors.v3.Cors: not implemented by the lab's stand-in Envoy`,
        ],
        [
            "a LOGICAL_DNS cluster",
            (b) => (b.static_resources.clusters[0].type = "LOGICAL_DNS"),
            "static_resources.clusters[0].type: cluster type LOGICAL_DNS (only STATIC): not implemented by the lab's stand-in Envoy",
        ],
        [
            "connection reuse to an upstream (max_requests_per_connection 100)",
            (b) =>
                (b.static_resources.clusters[0].typed_extension_protocol_options[
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
                ].common_http_protocol_options.max_requests_per_connection = 100),
            'static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options.max_requests_per_connection: max_requests_per_connection 100 (only 1): not implemented by the lab\'s stand-in Envoy',
        ],
        [
            "generate_request_id on the connection manager",
            (b) => (httpsManager(b).generate_request_id = false),
            `${HTTPS_HCM}.generate_request_id: field envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.generate_request_id: not implemented by the lab's stand-in Envoy`,
        ],
    ])("validate mode refuses %s, naming the field", (_name, mutate, problem) => {
        const b = bootstrap();
        mutate(b);
        const run = runEnvoy(["--mode", "validate", "-c", writeBootstrap("validate-refused.yaml", stringify(b))]);
        expect(run.status).toBe(1);
        expect(run.stderr.split("\n")).toContainEqual(expect.stringMatching(new RegExp(`^${escape(problem)}( \\(line \\d+\\))?$`)));
        expect(run.stdout).toBe("");
    });

    it("validate mode refuses what envoy-check refuses (a port out of range)", () => {
        const b = bootstrap();
        b.static_resources.listeners[1].address.socket_address.port_value = 70000;
        const run = runEnvoy(["--mode", "validate", "-c", writeBootstrap("validate-check.yaml", stringify(b))]);
        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(/static_resources\.listeners\[1\]\.address\.socket_address\.port_value: value must be less than or equal to 65535/);
    });

    it("validate mode loads the pair named in the bootstrap: a missing key file is refused", () => {
        const b = bootstrap();
        b.static_resources.listeners[1].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key.filename = path.join(work, "none.pem");
        const run = runEnvoy(["--mode", "validate", "-c", writeBootstrap("validate-pair.yaml", stringify(b))]);
        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(/tls_certificates\[0\]: failed to load the certificate pair/);
    });

    it("serve mode refuses an unimplemented field at start, before it binds", () => {
        const b = bootstrap();
        b.static_resources.clusters[1].type = "LOGICAL_DNS";
        const run = runEnvoy(["-c", writeBootstrap("serve-refused.yaml", stringify(b)), "--drain-time-s", "20"]);
        expect(run.status).toBe(1);
        expect(run.stderr).toContain("static_resources.clusters[1].type: cluster type LOGICAL_DNS (only STATIC): not implemented by the lab's stand-in Envoy");
    });

    it("an unreadable file or an unknown flag is exit 1, and --version says it is the stand-in", () => {
        expect(runEnvoy(["--mode", "validate", "-c", path.join(work, "missing.yaml")]).status).toBe(1);
        expect(runEnvoy(["--hot-restart-version"]).status).toBe(1);
        expect(runEnvoy(["--version"]).stdout).toMatch(/limen lab stand-in for Envoy .*go-control-plane\/envoy v1\.38\.0/);
    });
});
