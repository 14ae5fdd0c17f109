/** The host tool (tools/limen-host) run for real: acme-certificate, pm2-apply and confirm-firewall. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { selfSignedPair } from "../support/certificates";
import { rootPath } from "../support/root-path";
import { deadlineArgs, fakePm2Layout, pm2FileSets, scratchDir, tool } from "../support/host-tool";


describe("limen-host acme-certificate runs certbot only when the lineage is not as planned", () => {
    /** A host with stand-ins for certbot (records its arguments, then `exitCode`) and systemctl. */
    function acmeHost(certbotExit: number) {
        const root = scratchDir();
        const bin = path.join(root, "bin");
        spawnSync("mkdir", ["-p", bin]);
        const calls = path.join(root, "certbot-calls");
        writeFileSync(path.join(bin, "certbot"), `#!/bin/sh\necho "$*" >> ${calls}\nexit ${certbotExit}\n`, { mode: 0o755 });
        writeFileSync(path.join(bin, "systemctl"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
        writeFileSync(path.join(root, "hook"), "#!/bin/sh\n", { mode: 0o755 });
        const lineageDir = path.join(root, "letsencrypt", "live", "limen");
        const publishDir = path.join(root, "tls", "limen");
        const args = ["acme-certificate", "--name", "limen", "--domains", "limen.example.org", "--email", "ops@example.org", "--server", "https://acme.example.org/dir"];
        const run = () => {
            const result = spawnSync(
                "unshare",
                [
                    "--net",
                    "bash",
                    tool,
                    ...deadlineArgs,
                    ...args,
                    "--responder-address",
                    "127.0.0.1",
                    "--responder-port",
                    "402",
                    "--lineage-dir",
                    lineageDir,
                    "--publish-dir",
                    publishDir,
                    "--hook",
                    path.join(root, "hook"),
                ],
                {
                    encoding: "utf8",
                    env: { ...process.env, PATH: `${bin}:${rootPath}` },
                },
            );
            let certbot: string[] = [];
            try {
                certbot = readFileSync(calls, "utf8").trim().split("\n");
            } catch {
                certbot = [];
            }
            return { status: result.status, stderr: result.stderr, certbot };
        };
        /** certbot's files as an earlier issuance left them, renewing with `authenticator` on `port`. */
        const issued = (port: number) => {
            const pair = selfSignedPair(lineageDir, ["limen.example.org"], 60);
            writeFileSync(path.join(lineageDir, "cert.pem"), readFileSync(pair.chainPath));
            spawnSync("mkdir", ["-p", path.join(root, "letsencrypt", "renewal")]);
            writeFileSync(
                path.join(root, "letsencrypt", "renewal", "limen.conf"),
                `[renewalparams]\nauthenticator = standalone\nserver = https://acme.example.org/dir\nhttp01_port = ${port}\nhttp01_address = 127.0.0.1\n`,
            );
            spawnSync("mkdir", ["-p", publishDir]);
            writeFileSync(path.join(publishDir, ".acme-email"), "ops@example.org\n");
        };
        return { run, issued, publishDir, lineageDir };
    }

    it("no lineage: certbot certonly with the standalone responder on 127.0.0.1, and a failure leaves the served pair", () => {
        const host = acmeHost(1);
        const result = host.run();
        expect(result.status).toBe(1);
        expect(result.certbot).toEqual([
            "certonly --non-interactive --agree-tos --no-eff-email --email ops@example.org --server https://acme.example.org/dir --standalone --http-01-address 127.0.0.1 --http-01-port 402 --cert-name limen --domains limen.example.org --preferred-challenges http",
        ]);
        expect(result.stderr).toContain("certbot could not obtain the certificate limen for limen.example.org from https://acme.example.org/dir");
        expect(result.stderr).toContain("the pair served is unchanged");
    });

    it("a lineage as planned: certbot is not run, and its pair is published", () => {
        const host = acmeHost(1);
        host.issued(402);
        const result = host.run();
        expect(result.status, result.stderr).toBe(0);
        expect(result.certbot).toEqual([]);
        expect(readFileSync(path.join(host.publishDir, "current", "fullchain.pem"), "utf8")).toBe(readFileSync(path.join(host.lineageDir, "fullchain.pem"), "utf8"));
    });

    it("a lineage renewed another way (port 80): reissued with the planned responder, forced", () => {
        const host = acmeHost(0);
        host.issued(80);
        const result = host.run();
        expect(result.status, result.stderr).toBe(0);
        expect(result.certbot).toHaveLength(1);
        expect(result.certbot[0]).toMatch(/^certonly .* --http-01-port 402 .* --force-renewal$/);
    });
});

describe("limen-host pm2-apply: one Node process on pm2's API", () => {
    /**
     * A stand-in pm2 package laid out as npm installs it (`<package>/bin/pm2`, on PATH through a
     * symlink) whose API records each call; app `a` is still launching at the first look and online
     * from the second, `b` is online at once. `reloadError` makes the reload fail as pm2 reports it.
     */
    function fakePm2(options: { reloadError?: string } = {}) {
        const root = scratchDir();
        const { pkg, bin } = fakePm2Layout(root);
        const calls = path.join(root, "pm2-calls");
        writeFileSync(
            path.join(pkg, "index.js"),
            `const fs = require("fs");
const record = (call) => fs.appendFileSync(${JSON.stringify(calls)}, call + "\\n");
let looks = 0;
exports.connect = (cb) => { record("connect " + process.env.PM2_HOME); cb(null); };
exports.reload = (file, opts, cb) => { record("reload " + file + " " + JSON.stringify(opts)); console.log("[PM2] App [a] launched"); cb(${options.reloadError ? `new Error(${JSON.stringify(options.reloadError)})` : "null"}); };
exports.list = (cb) => { looks++; record("list"); const a = looks < 2 ? "launching" : "online"; cb(null, [{ name: "a", pm2_env: { status: a } }, { name: "a", pm2_env: { status: "online" } }, { name: "b", pm2_env: { status: "online" } }]); };
exports.dump = (force, cb) => { record("dump " + force); cb(null); };
`,
        );
        const loaded = path.join(root, "ecosystem.config.js");
        const ecosystem = `module.exports = ${JSON.stringify({ apps: [{ name: "a" }, { name: "b" }] })};\n`;
        const markers = path.join(root, "markers");
        const run = () =>
            spawnSync("bash", [tool, ...deadlineArgs, "pm2-apply", "--user", "root", "--ecosystem", loaded, "--apps", "a,b", "--marker-dir", markers, "--loaded", loaded], {
                encoding: "utf8",
                input: pm2FileSets([{ path: loaded, mode: "0644", owner: "root:root", check: "ecosystem", content: ecosystem }], undefined),
                env: { ...process.env, PATH: `${bin}:${rootPath}` },
            });
        const recorded = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []);
        return { run, recorded, loaded, markers };
    }

    it("installs the release's files, starts or reloads with the current environment, looks until every process of each app is online, saves, records what they loaded", () => {
        const pm2 = fakePm2();
        const result = pm2.run();
        expect(result.status, result.stderr).toBe(0);
        expect(readFileSync(pm2.loaded, "utf8")).toContain('"name":"b"');
        expect(pm2.recorded()).toEqual(["connect /root/.pm2", `reload ${pm2.loaded} {"updateEnv":true}`, "list", "list", "dump true"]);
        expect(readFileSync(path.join(pm2.markers, "loaded-root.sha256"), "utf8")).toContain(pm2.loaded);
        // pm2's own chatter stays out of the tool's output.
        expect(result.stdout).toBe("pm2 apps online: a,b\n");
    });

    it("a failed reload stops the apply with pm2's words: nothing saved, nothing recorded", () => {
        const pm2 = fakePm2({ reloadError: "File ecosystem.config.js malformated" });
        const result = pm2.run();
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(`limen-host: pm2-apply: starting or reloading ${pm2.loaded}: File ecosystem.config.js malformated`);
        expect(pm2.recorded()).not.toContain("dump true");
        expect(existsSync(path.join(pm2.markers, "loaded-root.sha256"))).toBe(false);
    });
});

describe("limen-host pm2-apply with a gate: a candidate of the new files passes it before the serving apps are touched", () => {
    /**
     * A stand-in pm2 package whose processes are real: `start` (a candidate) and `reload` (the serving
     * apps, from the ecosystem) run lab-like apps (below) detached, on the port after `-p`, as the
     * ecosystem's MODE says: "good" passes the gate, "broken" answers 500, "exits" exits at once. `list`
     * says online while a process lives. Every call is recorded.
     */
    function candidateHost() {
        const root = scratchDir();
        const { pkg, bin } = fakePm2Layout(root);
        const calls = path.join(root, "pm2-calls");
        const pids = path.join(root, "pids");
        const requests = path.join(root, "requests");
        const app = path.join(root, "app.js");
        writeFileSync(
            app,
            `const fs = require("fs");
const port = Number(process.argv[process.argv.indexOf("-p") + 1]);
if (process.env.MODE === "exits") process.exit(1);
require("http").createServer((req, res) => {
    fs.appendFileSync(${JSON.stringify(requests)}, req.method + " " + port + req.url + "\\n");
    if (process.env.MODE !== "good") { res.writeHead(500); return res.end("broken"); }
    if (req.url === "/api/auth/session" && req.method === "POST") { res.writeHead(200, { "set-cookie": "s=1; Path=/" }); return res.end("{}"); }
    if (req.url === "/api/auth/session") { res.writeHead(200); return res.end(JSON.stringify({ valid: req.headers.cookie === "s=1" })); }
    res.writeHead(200); res.end("page");
}).listen(port, "127.0.0.1");
`,
        );
        writeFileSync(
            path.join(pkg, "index.js"),
            `const fs = require("fs");
const { spawn } = require("child_process");
const record = (call) => fs.appendFileSync(${JSON.stringify(calls)}, call + "\\n");
const procs = new Map();
const run = (name, app) => {
    const child = spawn(process.execPath, [app.script, ...app.args], { env: { ...process.env, ...app.env }, detached: true, stdio: "ignore" });
    child.unref();
    procs.set(name, child.pid);
    fs.appendFileSync(${JSON.stringify(pids)}, child.pid + "\\n");
};
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
exports.connect = (cb) => { record("connect"); cb(null); };
exports.start = (app, cb) => { record("start " + app.name + " " + app.exec_mode + " " + app.args.join(" ") + " PORT=" + app.env.PORT + " logs=" + [app.out_file, app.error_file].map((f) => require("path").basename(f)).join(",") + (app.merge_logs ? " merged" : "")); run(app.name, app); setTimeout(() => cb(null), 200); };
exports.delete = (name, cb) => { record("delete " + name); const pid = procs.get(name); if (!pid) return cb(new Error("process or namespace not found")); process.kill(pid); procs.delete(name); cb(null); };
exports.reload = (file, opts, cb) => { record("reload"); for (const app of require(file).apps) run(app.name, app); setTimeout(() => cb(null), 300); };
exports.list = (cb) => cb(null, [...procs].map(([name, pid]) => ({ name, pm2_env: { status: alive(pid) ? "online" : "stopped" } })));
exports.dump = (force, cb) => { record("dump"); cb(null); };
`,
        );
        const free = spawnSync(process.execPath, [
            "-e",
            'const n=require("net");const a=n.createServer().listen(0,"127.0.0.1",()=>{const b=n.createServer().listen(0,"127.0.0.1",()=>{console.log(a.address().port,b.address().port);a.close();b.close()})})',
        ]);
        const [sessionPort = 0, pagePort = 0] = free.stdout.toString().trim().split(" ").map(Number);
        const ecosystem = path.join(root, "ecosystem.config.js");
        /** The release: the ecosystem with its apps' MODE. */
        const release = (mode: string) => [
            {
                path: ecosystem,
                mode: "0644",
                owner: "root:root",
                check: "ecosystem",
                content: `module.exports = ${JSON.stringify({
                    apps: [
                        { name: "a", cwd: root, script: app, args: ["-H", "127.0.0.1", "-p", String(sessionPort)], env: { MODE: mode, PORT: String(sessionPort) } },
                        { name: "b", cwd: root, script: app, args: ["-H", "127.0.0.1", "-p", String(pagePort)], env: { MODE: mode, PORT: String(pagePort) } },
                    ],
                })};\n`,
            },
        ];
        const markers = path.join(root, "markers");
        /** pm2-apply with the release of MODE, and the one deployed before (the state's), if any. */
        const run = (mode: string, previous?: string) => {
            rmSync(calls, { force: true });
            rmSync(requests, { force: true });
            const started = Date.now();
            const result = spawnSync(
                "bash",
                [
                    tool,
                    ...deadlineArgs,
                    "pm2-apply",
                    "--user",
                    "root",
                    "--ecosystem",
                    ecosystem,
                    "--apps",
                    "a,b",
                    "--marker-dir",
                    markers,
                    "--loaded",
                    ecosystem,
                    "--gate-seconds",
                    "3",
                    "--gate-session",
                    `http://127.0.0.1:${sessionPort}/api/auth/session`,
                    "--gate-page",
                    `http://127.0.0.1:${pagePort}/`,
                ],
                {
                    encoding: "utf8",
                    timeout: 60_000,
                    input: pm2FileSets(release(mode), previous === undefined ? undefined : release(previous)),
                    env: { ...process.env, PATH: `${bin}:${rootPath}` },
                },
            );
            return { ...result, seconds: (Date.now() - started) / 1000 };
        };
        const recorded = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []);
        const requested = () => (existsSync(requests) ? readFileSync(requests, "utf8").trim().split("\n") : []);
        const stop = () => {
            for (const pid of existsSync(pids) ? readFileSync(pids, "utf8").trim().split("\n").map(Number) : []) {
                try {
                    process.kill(pid);
                } catch {
                    // already gone
                }
            }
        };
        return { run, recorded, requested, release, stop, ecosystem, markers, sessionPort, pagePort };
    }

    it("a good release: the candidates pass the gate on spare ports and are deleted, then the rolling reload passes it too and the list is saved", () => {
        const host = candidateHost();
        try {
            const result = host.run("good");
            expect(result.status, result.stderr).toBe(0);
            const calls = host.recorded();
            const starts = calls.filter((call) => call.startsWith("start "));
            expect(starts).toHaveLength(2);
            const candidatePorts = starts.map((call) => /-p (\d+) PORT=(\d+) /.exec(call)!.slice(1));
            for (const [arg, env] of candidatePorts) {
                expect(arg).toBe(env);
                expect([host.sessionPort, host.pagePort]).not.toContain(Number(arg));
            }
            // Its logs under fixed names, the same two files every deploy (pm2 would otherwise name them after each new process id).
            expect(starts[0]).toMatch(/^start a-candidate fork -H 127\.0\.0\.1 -p \d+ PORT=\d+ logs=a-candidate-out\.log,a-candidate-error\.log merged$/);
            expect(starts[1]).toMatch(/^start b-candidate fork /);
            // Leftovers deleted first, the candidates deleted before the reload, the list saved last.
            expect(calls).toEqual(["connect", "delete a-candidate", "delete b-candidate", ...starts, "delete a-candidate", "delete b-candidate", "reload", "dump"]);
            // The gate asked the candidates (their ports), then the serving apps.
            const [candidateSession, candidatePage] = candidatePorts.map(([port]) => port);
            const asked = host.requested();
            // Every request to the candidates comes before the first to a serving app (a busy machine may
            // retry one of them, so the count is not fixed).
            const firstServing = asked.findIndex((line) => line.includes(` ${host.sessionPort}/`) || line.includes(` ${host.pagePort}/`));
            expect(firstServing).toBeGreaterThan(0);
            expect(new Set(asked.slice(0, firstServing))).toEqual(
                new Set([`GET ${candidatePage}/`, `GET ${candidateSession}/api/auth/session`, `POST ${candidateSession}/api/auth/session`]),
            );
            expect(asked).toContain(`GET ${host.sessionPort}/api/auth/session`);
        } finally {
            host.stop();
        }
    });

    it("a release that fails the gate as a candidate: the serving apps are never reloaded, the candidates are gone, the previous files (from the state) come back", () => {
        const host = candidateHost();
        try {
            expect(host.run("good").status).toBe(0);
            const good = readFileSync(host.ecosystem, "utf8");
            expect(good).toBe(host.release("good")[0]!.content);
            const result = host.run("broken", "good");
            expect(result.status).toBe(1);
            expect(result.stderr).toMatch(
                /limen-host: pm2-apply: the new release, run as a candidate \(a on port \d+, b on port \d+\) before the serving apps were touched, failed the health gate: not passed within 3 s: session check: POST http:\/\/127\.0\.0\.1:\d+\/api\/auth\/session answered 500 "broken"; darc\.kr page: GET http:\/\/127\.0\.0\.1:\d+\/ answered 500 "broken"\. Rolled back: the serving apps were not touched, and the previous ecosystem and \.env\.production are in place again; the change is not applied/,
            );
            expect(host.recorded()).not.toContain("reload");
            expect(host.recorded().slice(-2)).toEqual(["delete a-candidate", "delete b-candidate"]);
            expect(readFileSync(host.ecosystem, "utf8")).toBe(good);
            // Nothing about the deploy stays on the host: the marker directory holds the record of what the apps loaded, and no copy of any file.
            expect(readdirSync(host.markers)).toEqual(["loaded-root.sha256"]);
            // The serving apps were never asked by the gate: only the candidates' ports.
            expect(host.requested().filter((line) => line.includes(` ${host.sessionPort}/`) || line.includes(` ${host.pagePort}/`))).toEqual([]);
        } finally {
            host.stop();
        }
    });

    it("a candidate that exits is seen at once, not after the gate's time, and the run says where its output is", () => {
        const host = candidateHost();
        try {
            const result = host.run("exits");
            expect(result.status).toBe(1);
            expect(result.stderr).toMatch(/a-candidate exited \(its output: \/root\/\.pm2\/logs\/a-candidate-\{out,error\}\.log\)/);
            expect(result.stderr).toContain("The serving apps were not touched; there are no earlier files to put back (a first deploy)");
            expect(host.recorded()).not.toContain("reload");
            // Seen because it exited, not because the gate's time ran out.
            expect(result.stderr).not.toMatch(/not passed within/);
        } finally {
            host.stop();
        }
    });
});

describe("limen-host confirm-firewall reloads systemd's unit files at most once, and only when needed", () => {
    /**
     * An already confirmed ruleset (the repair of its boot unit) on a host whose systemctl stand-in
     * records each call and answers `is-enabled` and `show` (LoadState, NeedDaemonReload) as told.
     */
    function confirmOn(unit: { enabled: boolean; loadState: string; needsReload: boolean }) {
        const root = scratchDir();
        const bin = path.join(root, "bin");
        spawnSync("mkdir", ["-p", bin]);
        const calls = path.join(root, "systemctl-calls");
        writeFileSync(
            path.join(bin, "systemctl"),
            [
                "#!/bin/sh",
                `echo "$*" >> ${calls}`,
                `case "$1" in is-enabled) exit ${unit.enabled ? 0 : 1} ;; show) printf 'NeedDaemonReload=%s\\nLoadState=%s\\n' ${unit.needsReload ? "yes" : "no"} ${unit.loadState} ;; esac`,
                "exit 0",
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        const ruleset = path.join(root, "limen.nft");
        writeFileSync(ruleset, "table inet limen_firewall {}\n");
        const sha = spawnSync("sha256sum", [ruleset], { encoding: "utf8" }).stdout.split(" ")[0]!;
        const result = spawnSync(
            "bash",
            [
                tool,
                "confirm-firewall",
                ...["--table", "inet limen_firewall", "--boot-ruleset", ruleset, "--state-dir", path.join(root, "state"), "--marker", path.join(root, "pending.sha256")],
                ...["--unit", "limen-firewall.service", "--revert-unit", "limen-firewall-revert", "--sha256", sha],
            ],
            { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${rootPath}` } },
        );
        expect(result.status, result.stderr).toBe(0);
        expect(result.stdout).toBe(`already confirmed ${sha}\n`);
        return readFileSync(calls, "utf8")
            .trim()
            .split("\n")
            .filter((call) => !/^(stop|reset-failed) limen-firewall-revert/.test(call));
    }

    const show = "show --property=LoadState --property=NeedDaemonReload limen-firewall.service";
    it.each([
        // Disabled: `systemctl enable`, which reloads systemd's unit files by itself.
        [{ enabled: false, loadState: "not-found", needsReload: false }, ["is-enabled --quiet limen-firewall.service", "enable --quiet limen-firewall.service"]],
        [{ enabled: true, loadState: "loaded", needsReload: false }, ["is-enabled --quiet limen-firewall.service", show]],
        [{ enabled: true, loadState: "loaded", needsReload: true }, ["is-enabled --quiet limen-firewall.service", show, "daemon-reload"]],
        // systemd holding a broken copy (a unit file removed under it) reloads even without NeedDaemonReload.
        [{ enabled: true, loadState: "error", needsReload: false }, ["is-enabled --quiet limen-firewall.service", show, "daemon-reload"]],
    ])("boot unit %j: %j", (unit, expected) => {
        expect(confirmOn(unit)).toEqual(expected);
    });
});
