#!/usr/bin/env node
// The reload storm's client: one loop of requests until a stop file appears, either a new connection
// per request ("fresh", as curl does) or a few kept-alive connections reused ("keepalive", as a browser
// and Envoy do). Requests alternate GET of the page and the design's session check (POST
// /api/auth/session, then GET with the cookie it set). Node's stdlib only, no retries: a request that
// fails is counted and said, one JSON line each ({at, loop, request, error}), and the last line is
// {loop, requests, failed}. With --progress-file, the counts so far are rewritten there every second.
"use strict";
const http = require("node:http");
const https = require("node:https");

const args = Object.fromEntries(
    process.argv
        .slice(2)
        .map((arg) => arg.match(/^--([^=]+)=(.*)$/))
        .filter(Boolean)
        .map((m) => [m[1], m[2]]),
);
const url = new URL(args.url);
const mode = args.mode || "keepalive";
const stopFile = args["stop-file"];
const connect = args.connect || url.hostname; // the address to reach (as curl --resolve)
const sockets = Number(args.sockets || 2);
const client = url.protocol === "https:" ? https : http;
const agent = new client.Agent({ keepAlive: mode === "keepalive", maxSockets: sockets, rejectUnauthorized: false });
const fs = require("node:fs");

function request(method, path, headers = {}) {
    return new Promise((resolve) => {
        const req = client.request(
            {
                method,
                host: connect,
                port: url.port || (url.protocol === "https:" ? 443 : 80),
                path,
                servername: url.hostname,
                headers: { host: url.host, ...headers },
                agent: mode === "keepalive" ? agent : false,
                rejectUnauthorized: false,
                timeout: 5000,
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (chunk) => (body += chunk.length < 300 ? chunk : ""));
                res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
                res.on("error", (error) => resolve({ error: `${error.code || ""} ${error.message}`.trim() }));
            },
        );
        req.on("timeout", () => req.destroy(new Error("no answer in 5 s")));
        req.on("error", (error) => resolve({ error: `${error.code || ""} ${error.message}`.trim() }));
        req.end();
    });
}

let requests = 0;
let failed = 0;
function fail(what, result) {
    failed++;
    const error = result.error || `HTTP ${result.status}: ${(result.body || "").slice(0, 160)}`;
    console.log(JSON.stringify({ at: Date.now() / 1000, loop: mode, request: what, error }));
}

async function main() {
    if (args["progress-file"]) {
        setInterval(() => fs.writeFileSync(args["progress-file"], JSON.stringify({ requests, failed })), 1000).unref();
    }
    while (!fs.existsSync(stopFile)) {
        requests++;
        const page = await request("GET", url.pathname);
        if (page.status !== 200) fail(`GET ${url.pathname}`, page);
        requests++;
        const login = await request("POST", "/api/auth/session", { "content-length": "0" });
        const cookie = (login.headers?.["set-cookie"] || [])[0]?.split(";")[0];
        if (login.status !== 200 || !cookie) {
            fail("POST /api/auth/session", login);
            continue;
        }
        requests++;
        const check = await request("GET", "/api/auth/session", { cookie });
        if (check.status !== 200 || !/"valid":\s*true/.test(check.body)) fail("GET /api/auth/session", check);
    }
    console.log(JSON.stringify({ loop: mode, requests, failed }));
    process.exit(0);
}
main();
