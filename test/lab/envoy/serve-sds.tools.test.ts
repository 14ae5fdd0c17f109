/** The lab's Envoy stand-in (lab/envoy) serving the rendered SDS bootstrap: two certificates by SNI, the ACME challenge route. */
import { mkdirSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EnvoySpec, renderEnvoy, renderSdsSecret } from "../../../render/envoy";
import { work, upstream, freePort, publish, writeBootstrap, serve, get, httpsFor, adminSocketOf } from "../../support/envoy-stand-in";

describe("the stand-in serves the rendered SDS bootstrap (two certificates by SNI, the ACME challenge route)", () => {
    const ports = { http: 0, https: 0 };
    let spec: EnvoySpec;
    let bootstrapFile = "";
    const fingerprints: Record<string, string> = {};
    const acmeDir = path.join(work, "acme");

    beforeAll(async () => {
        const [nextjs, darc, backend, acme] = await Promise.all(["nextjs", "darc", "backend", "acme"].map(upstream));
        [ports.http, ports.https] = await Promise.all([freePort(), freePort()]);
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
        spec = {
            httpPort: ports.http,
            httpsPort: ports.https,
            limenDomains: ["limen.test"],
            darcDomains: ["darc.test", "www.darc.test"],
            nextjs: { host: "127.0.0.1", port: nextjs ?? 0 },
            darc: { host: "127.0.0.1", port: darc ?? 0 },
            backend: { address: "127.0.0.1", port: backend ?? 0 },
            backendRoutePrefixes: ["/api/agent"],
            tls: { mode: "sds", certificates },
            acmeChallenge: { address: "127.0.0.1", port: acme ?? 0 },
        };
        bootstrapFile = writeBootstrap("sds.yaml", renderEnvoy(spec));
        await serve(bootstrapFile);
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
        expect(await get({ socketPath: adminSocketOf(bootstrapFile), path: "/ready" })).toMatchObject({ status: 200, body: "LIVE\n" });
        expect((await get({ socketPath: adminSocketOf(bootstrapFile), path: "/clusters" })).status).toBe(404);
    });

    // The release's handover (plan/envoy.ts), as the stand-in must serve it. These run last: the
    // drain leaves the first process without listeners.
    it("a candidate binds ports the kernel picks on 127.0.0.1, its admin's /listeners names them, and it serves the sites there", async () => {
        const candidate = writeBootstrap("candidate.yaml", renderEnvoy(spec, "candidate"));
        await serve(candidate);
        const listed = JSON.parse((await get({ socketPath: adminSocketOf(candidate), path: "/listeners?format=json" })).body);
        const bound = Object.fromEntries(listed.listener_statuses.map((l: any) => [l.name, l.local_address.socket_address]));
        // Named after the ports they serve on the door, bound where the kernel put them.
        const https = bound[`https_${ports.https}`];
        expect(Object.keys(bound).sort()).toEqual([`http_${ports.http}`, `https_${ports.https}`]);
        expect(https.address).toBe("127.0.0.1");
        expect(https.port_value).not.toBe(ports.https);
        expect(await httpsFor(https.port_value, "limen.test")).toMatchObject({ status: 200, body: expect.stringContaining("nextjs") });
    });

    it("a standby binds the public ports beside the serving process (SO_REUSEPORT), and a drained process leaves them to it", async () => {
        const standby = writeBootstrap("standby.yaml", renderEnvoy(spec));
        await serve(standby);
        const drained = await get({ socketPath: adminSocketOf(bootstrapFile), path: "/drain_listeners?inboundonly", method: "POST" });
        expect(drained).toMatchObject({ status: 200, body: "OK\n" });
        expect(JSON.parse((await get({ socketPath: adminSocketOf(bootstrapFile), path: "/listeners?format=json" })).body).listener_statuses).toEqual([]);
        expect(JSON.parse((await get({ socketPath: adminSocketOf(bootstrapFile), path: "/server_info" })).body).state).toBe("DRAINING");
        const statuses = [];
        for (let i = 0; i < 20; i++) statuses.push((await httpsFor(ports.https, "limen.test")).status);
        expect(statuses).toEqual(Array(20).fill(200));
        expect((await get({ socketPath: adminSocketOf(bootstrapFile), path: "/drain_listeners", method: "GET" })).status).toBe(405);
    });
});
