// pm2-apply's apply, in one Node process on pm2's API. tools/limen-host/pm2_apply.go runs it with the
// trusted node, as the apps' user, with `node -e <this script> ARGS`: process.argv.slice(1) is
//   PM2_PACKAGE CALL_SECONDS REQUEST_SECONDS ECOSYSTEM APPS USER SECONDS CANDIDATE [SESSION_URL PAGE_URL]
// (APPS comma-separated; CANDIDATE "candidate" or "none"; the two URLs with a gate only).
//
// Start or gracefully reload every app of the ecosystem file with its current environment (`pm2
// startOrReload FILE --update-env`), look every 0.1 s until each named app has all its processes online,
// then, with a gate, check the apps the way users reach them (below), and only then save the list for
// boot (`pm2 save --force`). As CLI calls this was three pm2 starts plus two Node starts per look, each a
// few tenths of a second of the CPU the starting apps need. pm2's own messages go to stdout (discarded);
// failures are said on stderr: exit 3 when the candidate (below) failed and nothing else was touched; 2
// when pm2 refused the ecosystem, or the apps did not come online or failed the gate within SECONDS; 1
// when pm2 itself could not be reached.
//
// The gate (the design's chain, as the runbook checks it): POST SESSION_URL answers 200 with a
// Set-Cookie, and GET SESSION_URL with that cookie answers {"valid":true} (the middleware and the
// backend behind it); GET PAGE_URL answers 200 (the darc.kr site). Tried every 0.5 s until all pass;
// what the last try saw is what a failure says.
//
// The candidate (CANDIDATE "candidate", with a gate): before the serving apps are touched, one process
// of each app as the new ecosystem defines it (script, arguments, environment, and the .env.production
// it reads from its directory at start) runs under pm2 as NAME-candidate, in fork mode, on a spare
// loopback port, and must pass the same gate through that port within SECONDS. A candidate that fails
// or exits is deleted and the run ends with exit 3: the serving apps never saw the change. Candidates
// are deleted before the reload either way, so pm2's saved list never holds one; one left by a run
// stopped at its deadline is deleted by the next.
const [pm2Package, callSeconds, requestSeconds, ecosystem, appList, user, seconds, candidateMode, sessionUrl, pageUrl] = process.argv.slice(1);
const pm2 = require(pm2Package);
const http = require("http");
const net = require("net");
const apps = appList.split(",");
const message = (error) => (error && error.message ? error.message : Array.isArray(error) ? error.map(message).join("; ") : String(error));
const fail = (what, error, code = 1) => {
    console.error(`limen-host: pm2-apply: ${what}: ${message(error)}`);
    process.exit(code);
};
// within(WHAT, SECONDS, CODE, callback): the callback of one call into the pm2 daemon of the apps, which
// their user can stop (it then accepts the connection and never answers). Not called back in time,
// the run fails with CODE, saying which call it waited for and how long.
const within = (what, limit, code, callback) => {
    const timer = setTimeout(() => fail(what, `pm2 did not answer within ${limit} s: its daemon is stopped or wedged (sudo -u ${user} pm2 ping)`, code), Number(limit) * 1000);
    return (...args) => {
        clearTimeout(timer);
        callback(...args);
    };
};
// call(WHAT, pm2 function, args...): one call into the daemon, within the call deadline, as a promise.
const call = (what, fn, ...args) =>
    new Promise((resolve, reject) =>
        fn(
            ...args,
            within(what, callSeconds, 1, (error, result) => (error ? reject(error) : resolve(result))),
        ),
    );
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// One request of the gate, with a deadline on the whole exchange, not only on silence: an app that
// answers one byte a second never goes idle.
const request = (method, url, headers) =>
    new Promise((resolve) => {
        const req = http.request(url, { method, headers }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk) => (body += body.length < 2000 ? chunk : ""));
            res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
        });
        const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${requestSeconds} s`)), Number(requestSeconds) * 1000);
        req.on("close", () => clearTimeout(timer));
        req.on("error", (error) => resolve({ error: error.code || error.message }));
        req.end();
    });
const said = (r) => (r.error ? r.error : `${r.status} ${JSON.stringify(r.body.slice(0, 120))}`);
async function sessionCheck(url) {
    const post = await request("POST", url, { "content-length": "0" });
    const cookie = post.headers && (post.headers["set-cookie"] || [])[0];
    if (post.status !== 200 || !cookie) return `session check: POST ${url} answered ${said(post)}${post.status === 200 ? " without Set-Cookie" : ""}`;
    const get = await request("GET", url, { cookie: cookie.split(";")[0] });
    let valid;
    try {
        valid = JSON.parse(get.body).valid;
    } catch {
        valid = undefined;
    }
    return get.status === 200 && valid === true ? "" : `session check: GET ${url} with the cookie answered ${said(get)}`;
}
async function pageCheck(url) {
    const page = await request("GET", url, {});
    return page.status === 200 ? "" : `darc.kr page: GET ${url} answered ${said(page)}`;
}
// gate(SESSION, PAGE, STOPPED): undefined once both checks pass, else why not and what the last try
// saw: after SECONDS, or as soon as STOPPED, if given, names a process that will never answer.
async function gate(session, page, stopped) {
    const deadline = Date.now() + Number(seconds) * 1000;
    for (;;) {
        const problems = (await Promise.all([sessionCheck(session), pageCheck(page)])).filter(Boolean);
        if (problems.length === 0) return undefined;
        const gone = stopped ? await stopped() : "";
        if (gone) return { why: gone, problems: problems.join("; ") };
        if (Date.now() + 500 > deadline) return { why: `not passed within ${seconds} s`, problems: problems.join("; ") };
        await sleep(500);
    }
}
// The ecosystem as pm2 reads it (a module; root installed and checked it). The port of an app is the value
// after -p/--port in its args, as the rendered file has it.
const portArg = (args) => Math.max(args.indexOf("-p"), args.indexOf("--port"));
const sparePort = (host) =>
    new Promise((resolve, reject) => {
        const server = net.createServer();
        server.on("error", reject);
        server.listen(0, host, () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
const candidateName = (name) => `${name}-candidate`;
// Fixed names, so that every deploy writes the same two files (pm2 names a log after the process id
// otherwise, a new pair per deploy), which the rotation of the pm2 logs keeps bounded like the others.
const logFile = (name, stream) => `${process.env.PM2_HOME}/logs/${candidateName(name)}-${stream}.log`;
const logs = (name) => logFile(name, "{out,error}");
async function removeCandidates() {
    for (const name of apps) await call(`deleting ${candidateName(name)}`, pm2.delete.bind(pm2), candidateName(name)).catch(() => undefined);
}
async function candidate() {
    const defined = (require(ecosystem).apps || []).filter((app) => apps.includes(app.name));
    // Each app: its definition, its serving port, and a spare port on the same address for its candidate.
    const plans = [];
    for (const name of apps) {
        const app = defined.find((a) => a.name === name);
        const args = app && Array.isArray(app.args) ? app.args.map(String) : [];
        const at = portArg(args);
        if (!app || at < 0 || at + 1 >= args.length) fail("candidate", `${ecosystem} defines no app ${name} with -p PORT in its args, so no candidate of it can run`, 2);
        const h = args.indexOf("-H");
        const host = h >= 0 && h + 1 < args.length ? args[h + 1] : (app.env && app.env.HOSTNAME) || "127.0.0.1";
        const candidateArgs = [...args];
        candidateArgs[at + 1] = String(await sparePort(host));
        plans.push({ name, app, serving: args[at + 1], port: candidateArgs[at + 1], args: candidateArgs });
    }
    // The gate URLs name the serving ports; the candidate of the app on that port answers instead.
    const through = (url) => {
        const parsed = new URL(url);
        const plan = plans.find((p) => p.serving === parsed.port);
        if (!plan) fail("candidate", `the gate URL ${url} names no port of the apps ${apps.join(", ")}`, 2);
        parsed.port = plan.port;
        return parsed.toString();
    };
    const urls = [through(sessionUrl), through(pageUrl)];
    for (const { name, app, port, args } of plans)
        await call(`starting ${candidateName(name)}`, pm2.start.bind(pm2), {
            name: candidateName(name),
            cwd: app.cwd,
            script: app.script,
            args,
            exec_mode: "fork",
            instances: 1,
            autorestart: false,
            time: true,
            out_file: logFile(name, "out"),
            error_file: logFile(name, "error"),
            merge_logs: true,
            env: { ...(app.env || {}), PORT: port },
        });
    const stopped = async () => {
        const list = await call("listing the candidates", pm2.list.bind(pm2));
        const gone = plans.filter(({ name }) => {
            const proc = list.find((p) => p.name === candidateName(name));
            return !proc || ["stopped", "errored"].includes(proc.pm2_env.status);
        });
        return gone.map(({ name }) => `${candidateName(name)} exited (its output: ${logs(name)})`).join("; ");
    };
    const result = await gate(...urls, stopped);
    await removeCandidates();
    const where = plans.map(({ name, port }) => `${name} on port ${port}`).join(", ");
    if (result) fail(`the new release, run as a candidate (${where}) before the serving apps were touched, failed the health gate: ${result.why}`, result.problems, 3);
}
const look = async (deadline) => {
    for (;;) {
        const list = await call("listing the apps", pm2.list.bind(pm2));
        const waiting = apps.filter((name) => {
            const procs = list.filter((p) => p.name === name);
            return !(procs.length > 0 && procs.every((p) => p.pm2_env.status === "online"));
        });
        // A process that exits after the reload is waited for too: pm2 restarts it, and a rolling reload
        // that moves the address of the apps has the new processes fail to bind until the old ones are gone.
        if (waiting.length === 0) return;
        if (Date.now() > deadline) fail("waiting", `pm2 app(s) ${waiting.join(" ")} not online after ${seconds} s; see: sudo -u ${user} pm2 logs`, 2);
        await sleep(100);
    }
};
(async () => {
    await call("connecting to pm2", pm2.connect.bind(pm2));
    if (sessionUrl) await removeCandidates();
    if (sessionUrl && candidateMode === "candidate") await candidate();
    // Refused by pm2 (a script that is not there, say), or not done in the time the apps have to
    // come online: the change cannot run, as when it fails the gate.
    const deadline = Date.now() + Number(seconds) * 1000;
    await new Promise((resolve) =>
        pm2.reload(
            ecosystem,
            { updateEnv: true },
            within(`starting or reloading ${ecosystem}`, seconds, 2, (error) => (error ? fail(`starting or reloading ${ecosystem}`, error, 2) : resolve())),
        ),
    );
    await look(deadline);
    if (sessionUrl) {
        const result = await gate(sessionUrl, pageUrl);
        if (result) fail(`health gate, ${result.why}`, result.problems, 2);
    }
    await call("saving the process list", pm2.dump.bind(pm2), true);
    process.exit(0);
})().catch((error) => fail("pm2", error));
