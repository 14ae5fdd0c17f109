/**
 * `npm run lab`, the main job: the lab's blank machines converged by the plain `pulumi up` on index.ts,
 * as an operator runs it against prod (the engine starts Pulumi's Node.js language host, which starts
 * the program from package.json's main), then the site shown through the front door from the outsider's
 * namespace as a browser on the internet reaches it: the redirect on 80, the design's session flow on
 * 443 (a cookie set, sent back and judged by the backend through the Next.js middleware), and the darc.kr
 * site. Ends with how to look around and how to tear down. Exits non-zero, saying what it saw, when a
 * step fails. Run by lab/run.sh in the operator namespace, after the machines are up.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { shellWord } from "../core/shell";
import { configureLabStack, engineEnv, LabHosts, pulumiBinary, readLabHosts, repoRoot, stackName, stateDir } from "./stack";
import { inNamespace, Result } from "./test/probes";

const limenDomain = "limen.lab.test";
const darcDomain = "darc.lab.test";

/** One check of what the outsider sees: the command, what came back, and whether it is what the design wants. */
interface Seen {
    what: string;
    command: string[];
    saw: string;
    ok: boolean;
}

/** curl from the outsider's namespace to the frontend's public address; `-k`: the lab's pair is self-signed. */
function curlOutsider(hosts: LabHosts, ...args: string[]): Result & { command: string[] } {
    const namespace = hosts.hosts.outsider.namespace;
    const curlArgs = ["-sS", "-k", "--max-time", "10", ...args];
    return { ...inNamespace(namespace, "curl", ...curlArgs), command: ["ip", "netns", "exec", namespace, "curl", ...curlArgs] };
}

/** The outsider through the door: the redirect, the session flow and the darc.kr site. */
function showSite(hosts: LabHosts): Seen[] {
    const frontend = hosts.hosts.frontend.ipv4;
    const resolve = (domain: string) => ["--resolve", `${domain}:443:${frontend}`];
    const seen: Seen[] = [];

    const redirect = curlOutsider(hosts, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", `Host: ${limenDomain}`, `http://${frontend}/`);
    seen.push({
        what: "http:// on 80 redirects to https://",
        command: redirect.command,
        saw: redirect.stdout || redirect.stderr.trim(),
        ok: redirect.stdout === `301 https://${limenDomain}/`,
    });

    const login = curlOutsider(hosts, "-i", "-X", "POST", ...resolve(limenDomain), `https://${limenDomain}/api/auth/session`);
    const cookie = /^set-cookie: ([^;\r\n]+)/im.exec(login.stdout)?.[1] ?? "";
    seen.push({
        what: "POST /api/auth/session through 443: the backend sets the session cookie (through the middleware)",
        command: login.command,
        saw: cookie ? `Set-Cookie: ${cookie}` : login.stdout.split("\n")[0]?.trim() || login.stderr.trim(),
        ok: /^limen_session=\w+/.test(cookie),
    });

    const withCookie = curlOutsider(hosts, "-H", `Cookie: ${cookie}`, ...resolve(limenDomain), `https://${limenDomain}/api/auth/session`);
    seen.push({
        what: "GET /api/auth/session with that cookie: the backend judges it valid",
        command: withCookie.command,
        saw: withCookie.stdout.trim() || withCookie.stderr.trim(),
        ok: withCookie.stdout.trim() === JSON.stringify({ valid: true }),
    });

    const withoutCookie = curlOutsider(hosts, ...resolve(limenDomain), `https://${limenDomain}/api/auth/session`);
    seen.push({
        what: "GET /api/auth/session without a cookie: not valid",
        command: withoutCookie.command,
        saw: withoutCookie.stdout.trim() || withoutCookie.stderr.trim(),
        ok: withoutCookie.stdout.trim() === JSON.stringify({ valid: false }),
    });

    const darc = curlOutsider(hosts, ...resolve(darcDomain), `https://${darcDomain}/`);
    seen.push({
        what: "the darc.kr site (darc.lab.test here) through 443",
        command: darc.command,
        saw: darc.stdout.trim().slice(0, 80) || darc.stderr.trim(),
        ok: darc.stdout.trim() === "darc.kr",
    });
    return seen;
}

async function main(): Promise<number> {
    const hosts = readLabHosts();
    const sudo = process.getuid?.() === 0 && !process.env.SUDO_USER ? "" : "sudo ";

    console.log(`\n-- pulumi up on index.ts (stack ${stackName}), the plain CLI as an operator runs it against prod\n`);
    const pulumi = (args: string[], timeout: number) =>
        spawnSync(pulumiBinary(), [...args, "--non-interactive", "--color", "never"], { cwd: repoRoot, env: { ...process.env, ...engineEnv() }, stdio: "inherit", timeout });
    // The lab's own state: a local file backend and a passphrase, as an operator's `pulumi login file://…`.
    mkdirSync(path.join(stateDir, "pulumi"), { recursive: true });
    const select = pulumi(["stack", "select", "--create", "--secrets-provider", "passphrase", stackName], 60_000);
    if (select.status !== 0) {
        console.error(`pulumi stack select --create ${stackName} failed (exit ${select.status ?? select.signal})`);
        return 1;
    }
    await configureLabStack(hosts);
    const up = pulumi(["up", "--yes", "--stack", stackName], 900_000);
    if (up.status !== 0) {
        console.error(`\npulumi up failed (exit ${up.status ?? up.signal}): its output above says what it saw.`);
        return 1;
    }

    console.log(`\n-- the site through the front door, from the outsider (${hosts.hosts.outsider.ipv4}) to the frontend (${hosts.hosts.frontend.ipv4})\n`);
    const seen = showSite(hosts);
    for (const check of seen) {
        console.log(`${check.ok ? "ok  " : "FAIL"} ${check.what}`);
        console.log(`     ${sudo}${check.command.map(shellWord).join(" ")}`);
        console.log(`     → ${check.saw}`);
    }

    const lab = path.relative(process.cwd(), path.join(repoRoot, "lab")) || "lab";
    console.log(`
-- look around (the machines keep running)

  the site, as the outsider:   ${sudo}ip netns exec ${hosts.hosts.outsider.namespace} curl -k --resolve ${limenDomain}:443:${hosts.hosts.frontend.ipv4} https://${limenDomain}/
  a root shell on a machine:   ${sudo}bash ${lab}/hosts/exec.sh frontend bash     (or backend)
  the apps under pm2:          ${sudo}bash ${lab}/hosts/exec.sh frontend su - limen -c 'pm2 ls'
  Envoy's access log:          ${sudo}bash ${lab}/hosts/exec.sh frontend docker logs --tail 20 limen-envoy
  the stack, as an operator:   ${sudo}bash ${lab}/shell.sh pulumi stack          (also: pulumi preview, pulumi up)
  the runbook's checks:        ${sudo}bash ${lab}/shell.sh npm run verify -- --stack ${stackName}
  the end-to-end tests:        ${sudo}env PATH="$PATH:/usr/sbin:/sbin" npm run test:lab

-- tear down

  ${sudo}npm run lab:down      (destroys the stack, then removes the machines and their namespaces)
`);
    const failed = seen.filter((check) => !check.ok);
    if (failed.length > 0) {
        console.error(`${failed.length} of ${seen.length} checks through the front door failed: ${failed.map((check) => check.what).join("; ")}`);
        return 1;
    }
    return 0;
}

main().then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
        console.error(error instanceof Error ? error.message : error);
        process.exitCode = 1;
    },
);
