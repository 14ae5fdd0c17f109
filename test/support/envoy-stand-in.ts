/**
 * The lab's stand-in for Envoy (lab/envoy: a Go program on tools/envoy-check's sources) run on
 * bootstraps renderEnvoy renders, on high ports, in front of node servers on 127.0.0.1: real requests
 * prove what it serves, and its validate and serve modes prove what it refuses. Its build, scratch
 * directory and processes belong to the test file that imports this (the tools project loads it
 * once per file).
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import type { TLSSocket } from "node:tls";
import * as path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { selfSignedPair } from "./certificates";
import { repoRoot } from "./fixtures";
import { envoyAdminSocket } from "../../render/envoy";

let envoyBin = "";
export const work = mkdtempSync(path.join(tmpdir(), "lab-envoy-test-"));
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
export async function upstream(name: string): Promise<number> {
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
export async function freePort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
}

/** Publishes a pair as the host tool's tls-publish does: a new directory, then `current` swapped by a rename. */
export function publish(dir: string, version: string, names: string[]): string {
    selfSignedPair(path.join(dir, version), names, 7);
    symlinkSync(version, path.join(dir, ".current.new"));
    renameSync(path.join(dir, ".current.new"), path.join(dir, "current"));
    return new X509Certificate(readFileSync(path.join(dir, version, "fullchain.pem"))).fingerprint256;
}

/** The admin socket a bootstrap written by writeBootstrap answers on (beside the file, not in /run). */
export const adminSocketOf = (file: string) => `${file}.admin.sock`;

/** Writes a rendered bootstrap for the stand-in, its admin socket moved next to it (adminSocketOf). */
export function writeBootstrap(name: string, text: string): string {
    const file = path.join(work, name);
    writeFileSync(file, text.replaceAll(envoyAdminSocket, adminSocketOf(file)));
    return file;
}

export type Json = Record<string, any>;

export const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export const runEnvoy = (args: string[]) => spawnSync(envoyBin, args, { encoding: "utf8", timeout: 20_000 });

/**
 * Starts the stand-in in serve mode and waits for its admin /ready (on adminSocketOf(file)); `stdout()`
 * is what it has written there so far (its access log).
 */
export async function serve(file: string): Promise<{ stdout: () => string }> {
    const child = spawn(envoyBin, ["-c", file, "--drain-time-s", "20"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ENVOY_UID: "0" } });
    processes.push(child);
    let log = "";
    let out = "";
    child.stderr?.on("data", (chunk) => (log += chunk));
    child.stdout?.on("data", (chunk) => (out += chunk));
    for (let i = 0; i < 100; i++) {
        if (child.exitCode !== null) throw new Error(`the stand-in exited ${child.exitCode}: ${log}`);
        const ready = await get({ socketPath: adminSocketOf(file), path: "/ready" }).catch(() => undefined);
        if (ready?.status === 200) return { stdout: () => out };
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the stand-in did not become ready: ${log}`);
}

type Reply = { status: number; headers: http.IncomingHttpHeaders; body: string; certificate?: string };

/** One request on a new connection; with `servername`, over TLS with that SNI (empty: none). */
export function get(o: { port?: number; socketPath?: string; path: string; host?: string; servername?: string; cookie?: string; method?: string }): Promise<Reply> {
    const headers: http.OutgoingHttpHeaders = { host: o.host ?? "localhost", ...(o.cookie ? { cookie: o.cookie } : {}) };
    const where = o.socketPath ? { socketPath: o.socketPath } : { host: "127.0.0.1", port: o.port };
    const options = { ...where, method: o.method ?? "GET", path: o.path, headers, agent: false as const };
    return new Promise((resolve, reject) => {
        const done = (res: http.IncomingMessage) => {
            let body = "";
            res.on("data", (chunk) => (body += chunk));
            res.on("end", () => {
                const peer = "getPeerCertificate" in res.socket ? (res.socket as TLSSocket).getPeerX509Certificate() : undefined;
                resolve({ status: res.statusCode ?? 0, headers: res.headers, body, certificate: peer?.fingerprint256 });
            });
        };
        const req = o.servername === undefined ? http.request(options, done) : https.request({ ...options, servername: o.servername, rejectUnauthorized: false }, done);
        req.end();
        req.on("error", reject);
    });
}

export const httpsFor = (port: number, host: string, urlPath = "/", cookie?: string) => get({ port, path: urlPath, host, servername: host, cookie });
