/** The runbook's judges (ops/runbook.ts): health, the session cookie, the app ports and the proxy log. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { pm2Command } from "../../hostio/observe-pm2";
import { backendOrigin } from "../../plan/backend-api";
import { curlCommand, healthUrl, judgeAppPorts, judgeHealth, judgeSessionCreate, judgeSessionValid, parseSetCookies, sessionUrl } from "../../ops/runbook";
import { hostClockCommand, judgeProxyLog, parseProxyLine, proxyLogCommand, proxySessionLines } from "../../ops/proxy-log";
import { otherRawConfig, withOverride } from "../support/fixtures";
import { ok, other, ss, postResponse } from "../support/probe-outputs";

describe("the runbook's checks", () => {
    it("health: 2xx passes; a timeout points at the backend firewall, a refusal at the listener", () => {
        expect(healthUrl(other)).toBe("http://192.0.2.100:18443/api/health");
        expect(judgeHealth(ok('{"status":"ok"}\nlimen-verify-http-status:200'), other)).toEqual({
            check: "backend-health",
            ok: true,
            detail: 'http://192.0.2.100:18443/api/health answered 200 from the frontend: {"status":"ok"}',
        });
        expect(judgeHealth(ok("\nlimen-verify-http-status:000", 28, "curl: (28) Connection timed out after 5001 milliseconds"), other).detail).toMatch(
            /timed out .*internal_clients_v4.*18443 in internal_ports \(see `backend firewall`\)/,
        );
        expect(judgeHealth(ok("\nlimen-verify-http-status:000", 7, "curl: (7) Failed to connect to 192.0.2.100 port 18443: Connection refused"), other).detail).toMatch(
            /ss -ltnp 'sport = :18443'/,
        );
        expect(judgeHealth(ok("bad gateway\nlimen-verify-http-status:502"), other)).toMatchObject({ ok: false, detail: expect.stringMatching(/answered 502/) });
        expect(judgeHealth({ status: undefined, stdout: "", stderr: "", failure: "ssh ops@192.0.2.10:2222: no answer" }, other).detail).toBe("ssh ops@192.0.2.10:2222: no answer");
    });

    it("curl commands bracket IPv6 and keep the status on its own line", () => {
        const v6 = parseConfig(withOverride(otherRawConfig(), "backend", { internalAddress: "2001:db8::100" }));
        expect(healthUrl(v6)).toBe("http://[2001:db8::100]:18443/api/health");
        expect(curlCommand(healthUrl(v6))).toBe("curl -sS -g -m 5 -w '\\nlimen-verify-http-status:%{http_code}' 'http://[2001:db8::100]:18443/api/health'");
    });

    it("session: Set-Cookie is read from the final response; the GET sends it and must say valid", () => {
        expect(parseSetCookies(postResponse)).toEqual([
            { pair: "limen_session=abc123secret", name: "limen_session", attributes: "Path=/; HttpOnly; SameSite=Lax" },
            { pair: "theme=dark", name: "theme", attributes: "" },
        ]);
        const created = judgeSessionCreate(ok(postResponse), other);
        if (!("cookies" in created)) throw new Error(`the POST was judged a failure: ${created.detail}`);
        const valid = judgeSessionValid(created, ok('{"valid":true}\nlimen-verify-http-status:200'), other);
        expect(valid).toEqual({
            check: "session-cookie",
            ok: true,
            detail: 'POST gave Set-Cookie limen_session (Path=/; HttpOnly; SameSite=Lax), theme; GET with it: {"valid":true}',
        });
        const invalid = judgeSessionValid(created, ok('{"valid":false}\nlimen-verify-http-status:200'), other);
        expect(invalid).toMatchObject({ ok: false, detail: expect.stringMatching(/does not pass the Cookie header/) });
        expect(invalid.detail).not.toContain("abc123secret");
    });

    it("session: no Set-Cookie, or a backend error, fails with the runbook's next step", () => {
        const noCookie = judgeSessionCreate(ok("HTTP/1.1 200 OK\r\n\r\n{}\nlimen-verify-http-status:200"), other);
        expect(noCookie).toMatchObject({ ok: false, detail: expect.stringMatching(/without Set-Cookie.*curl -si -X POST http:\/\/192\.0\.2\.100:18443\/api\/auth\/session/) });
        const badGateway = judgeSessionCreate(ok("HTTP/1.1 502 Bad Gateway\r\n\r\n\nlimen-verify-http-status:502"), other);
        expect(badGateway).toMatchObject({ ok: false, detail: expect.stringMatching(/answered 502.*BACKEND_HOST=192\.0\.2\.100 and BACKEND_PORT=18443/) });
        const down = judgeSessionCreate(ok("\nlimen-verify-http-status:000", 7, "curl: (7) Failed to connect to 127.0.0.1 port 9444: Connection refused"), other);
        expect(down).toMatchObject({ ok: false, detail: expect.stringMatching(/is limen-frontend up\? \(see `frontend pm2`\)$/) });
        expect(sessionUrl(other)).toBe("http://127.0.0.1:9444/api/auth/session");
    });

    it("app ports: the app's loopback address only passes; another address or no listener fails", () => {
        expect(judgeAppPorts(ok(ss), other)).toEqual({ check: "app-ports-loopback", ok: true, detail: "9444 and 9445 listen on 127.0.0.1 only" });
        const exposed = judgeAppPorts(ok(`${ss}\nLISTEN 0 511 *:9445 *:*`), other);
        expect(exposed).toMatchObject({ ok: false, detail: expect.stringMatching(/9445 \(darc-kr\) also listens on \* \(every address\)/) });
        const v6 = judgeAppPorts(ok(`${ss}\nLISTEN 0 511 [::]:9444 [::]:*`), other);
        expect(v6).toMatchObject({ ok: false, detail: expect.stringMatching(/9444 \(limen-frontend\) also listens on \[::\]/) });
        const down = judgeAppPorts(ok(ss.split("\n").slice(1).join("\n")), other);
        expect(down).toMatchObject({ ok: false, detail: expect.stringMatching(/^nothing listens on 9444 \(limen-frontend down\?/) });
    });
});

describe("the runbook's proxy-log: the middleware's lines for verify's own request", () => {
    const backend = "http://192.0.2.100:18443";
    const clock = ok("2026-01-01T10:00:05\n");
    const older = `0|limen-fr | 2026-01-01T09:59:00: Proxy POST /api/auth/session -> ${backend}/api/auth/session session`;
    const post = `0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> ${backend}/api/auth/session session`;
    const get = `\x1b[32m1|limen-fr | 2026-01-01T10:00:06: Proxy GET /api/auth/session -> ${backend}/api/auth/session session\x1b[39m`;
    const logs = (...lines: string[]) =>
        ok(["[TAILING] Tailing last 1000 lines for [limen-frontend] process", "/home/limen/.pm2/logs/limen-frontend-out-0.log last 1000 lines:", ...lines, ""].join("\n"));

    it("reads the logs of the apps' user without starting pm2, and the clock in pm2's own format", () => {
        expect(proxyLogCommand(other)).toBe(pm2Command("limen", "logs", "limen-frontend", "--nostream", "--lines", "1000"));
        expect(hostClockCommand).toBe("env -u TZ date +%Y-%m-%dT%H:%M:%S");
        expect(backendOrigin(other)).toBe(backend);
    });

    it("parses the middleware's line: method, path, target", () => {
        expect(parseProxyLine(post)).toEqual({ stamp: "2026-01-01T10:00:05", method: "POST", path: "/api/auth/session", target: `${backend}/api/auth/session` });
        expect(parseProxyLine("0|limen-fr | Proxy POST /api/auth/session -> no backend: BACKEND_HOST/BACKEND_PORT unset")).toMatchObject({
            stamp: undefined,
            target: "no backend: BACKEND_HOST/BACKEND_PORT unset",
        });
        expect(proxySessionLines([get, older, "0|limen-fr | 2026-01-01T10:00:05: Proxy GET /api/health -> x", post].join("\n"))).toEqual([
            older,
            post,
            get.replace(/\x1b\[[0-9;]*m/g, ""),
        ]);
    });

    it("passes when the POST verify made is logged since its clock reading, sent to the backend", () => {
        const result = judgeProxyLog(clock, logs(older, post, get), other);
        expect(result).toEqual({
            check: "proxy-log",
            ok: true,
            detail: `verify's POST passed the middleware to ${backend}: 2 Proxy … session line(s) since 2026-01-01T10:00:05 (below)`,
            lines: [post, get.replace(/\x1b\[[0-9;]*m/g, "")],
        });
    });

    it("fails when only older lines are there: verify's own request did not pass the middleware", () => {
        const result = judgeProxyLog(clock, logs(older), other);
        expect(result).toEqual({
            check: "proxy-log",
            ok: false,
            detail: "no `Proxy POST /api/auth/session` line since 2026-01-01T10:00:05 (the frontend's clock) in the last 1000 lines of pm2 logs limen-frontend: verify's own POST http://127.0.0.1:9444/api/auth/session did not pass the middleware (the latest older lines are below)",
            lines: [older],
        });
        expect(judgeProxyLog(clock, logs(), other)).toMatchObject({ ok: false, lines: [], detail: expect.stringMatching(/did not pass the middleware$/) });
        // A GET is not the POST verify made.
        expect(judgeProxyLog(clock, logs(get), other).ok).toBe(false);
    });

    it.each([
        ["another host", "http://203.0.113.5:18443/api/auth/session", "http://203.0.113.5:18443/api/auth/session"],
        ["another port", "http://192.0.2.100:8443/api/auth/session", "http://192.0.2.100:8443/api/auth/session"],
        ["https", "https://192.0.2.100:18443/api/auth/session", "https://192.0.2.100:18443/api/auth/session"],
    ])("fails when the target is %s", (_label, target, named) => {
        const result = judgeProxyLog(clock, logs(`0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> ${target} session`), other);
        expect(result.ok).toBe(false);
        expect(result.detail).toBe(
            `since 2026-01-01T10:00:05 the middleware sent session requests to ${named}, not ${backend}: \`.env.production\` must read BACKEND_HOST=192.0.2.100 and BACKEND_PORT=18443 (see \`frontend file /srv/limen-frontend/.env.production\`)`,
        );
    });

    it("fails when the middleware has no backend configured", () => {
        const result = judgeProxyLog(clock, logs("0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> no backend: BACKEND_HOST/BACKEND_PORT unset"), other);
        expect(result).toMatchObject({
            ok: false,
            detail: expect.stringMatching(/^since 2026-01-01T10:00:05 the middleware sent session requests to no backend: BACKEND_HOST\/BACKEND_PORT unset, not http/),
        });
    });

    it("an IPv6 backend is compared as an origin, brackets and all", () => {
        const v6 = parseConfig(withOverride(otherRawConfig(), "backend", { internalAddress: "2001:db8::100" }));
        const line = (target: string) => logs(`0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> ${target}/api/auth/session session`);
        expect(judgeProxyLog(clock, line("http://[2001:db8::100]:18443"), v6).ok).toBe(true);
        expect(judgeProxyLog(clock, line("http://[2001:db8::101]:18443"), v6).ok).toBe(false);
    });

    it("fails when it cannot tell verify's request from older ones, or cannot read the clock or the logs", () => {
        const unstamped = judgeProxyLog(clock, logs(`0|limen-fr | Proxy POST /api/auth/session -> ${backend}/api/auth/session session`), other);
        expect(unstamped).toMatchObject({ ok: false, detail: expect.stringMatching(/carry no timestamp.*time: true.*frontend file \/etc\/limen\/pm2\/ecosystem\.config\.js/) });
        expect(judgeProxyLog(ok("", 127, "sh: date: not found"), logs(post), other)).toMatchObject({ ok: false, detail: "date on the frontend: sh: date: not found" });
        expect(judgeProxyLog(ok("Thu Jan  1 10:00:05 UTC 2026\n"), logs(post), other)).toMatchObject({
            ok: false,
            detail: expect.stringMatching(/^cannot read the frontend's clock/),
        });
        expect(judgeProxyLog(clock, ok("", 3, "limen-probe: no pm2 daemon runs for limen"), other)).toMatchObject({
            ok: false,
            detail: expect.stringMatching(/no pm2 daemon runs for limen.*frontend pm2/),
        });
        const unreachable = { status: undefined, stdout: "", stderr: "", failure: "ssh ops@192.0.2.10:2222: no answer" };
        expect(judgeProxyLog(unreachable, unreachable, other)).toEqual({ check: "proxy-log", ok: false, detail: "ssh ops@192.0.2.10:2222: no answer", lines: [] });
    });
});
