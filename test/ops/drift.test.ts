/** The drift judges (ops/drift.ts) on recorded probe outputs: files, the host tool and pm2. */
import { describe, expect, it } from "vitest";
import { hostToolSha256 } from "../../core/host-tool-release";
import { sha256 } from "../../core/sha256";
import { describeDifferences, hostToolFile, judgeFile, judgeHostTool, judgePm2, repairAdvice } from "../../ops/drift";
import { formatJson, formatTable } from "../../ops/report";
import {
    ok,
    advice,
    otherPlan,
    envFile,
    ecosystemFile,
    fileProbeOutput,
    otherProbeOutput,
    toolStatusOutput,
    pm2,
    loadedAt,
    ss,
    allOnline,
    pm2ProbeOutput,
} from "../support/probe-outputs";

describe("drift: files and the host tool", () => {
    it("differing facts read `fact: <host> on the host, <plan> planned`; records one line per entry", () => {
        expect(describeDifferences({ state: "present", mode: "0600", owner: "limen:limen" }, { state: "present", mode: "0644", owner: "root:root" })).toEqual([
            "mode: 0644 on the host, 0600 planned",
            "owner: root:root on the host, limen:limen planned",
        ]);
        expect(describeDifferences({ processes: { a: "2 online", b: "2 online" } }, { processes: { a: "2 online", b: "missing" } })).toEqual([
            "processes of b: missing on the host, 2 online planned",
        ]);
        expect(describeDifferences({ contentSha256: "a".repeat(64) }, { contentSha256: "b".repeat(64) })).toEqual([
            "contentSha256: bbbbbbbbbbbb… on the host, aaaaaaaaaaaa… planned",
        ]);
        expect(describeDifferences({ contentSha256: "a".repeat(64) }, { contentSha256: "b".repeat(64) }, { secretContent: true })).toEqual(["content differs"]);
        expect(describeDifferences({ mode: "0600" }, { mode: "0600" })).toEqual([]);
    });

    it("a file as planned passes; its check is named after the host and the path", () => {
        expect(judgeFile("frontend", ecosystemFile, ok(fileProbeOutput(ecosystemFile.path, "0644", "root:root", ecosystemFile.content)))).toEqual({
            check: "frontend file /etc/limen/pm2/ecosystem.config.js",
            ok: true,
            detail: "0644 root:root, content as planned",
        });
    });

    it("a changed mode, owner or content is listed fact by fact, with the repair", () => {
        expect(repairAdvice).toBe(advice);
        const result = judgeFile("frontend", ecosystemFile, ok(fileProbeOutput(ecosystemFile.path, "0664", "limen:limen", "module.exports = {}\n")));
        expect(result).toEqual({
            check: "frontend file /etc/limen/pm2/ecosystem.config.js",
            ok: false,
            detail: `mode: 0664 on the host, 0644 planned; owner: limen:limen on the host, root:root planned; contentSha256: ${sha256("module.exports = {}\n").slice(0, 12)}… on the host, ${sha256(ecosystemFile.content).slice(0, 12)}… planned; ${advice}`,
        });
    });

    it("a secret file's content is only `content differs`: no content, no hash of either side", () => {
        expect(envFile.secret).toBe(true);
        const onHost = "BACKEND_HOST=203.0.113.5\nSESSION_SECRET=leaked-by-hand\n";
        const result = judgeFile("frontend", envFile, ok(fileProbeOutput(envFile.path, "0644", "limen:limen", onHost)));
        expect(result).toEqual({
            check: "frontend file /srv/limen-frontend/.env.production",
            ok: false,
            detail: `mode: 0644 on the host, 0600 planned; content differs; ${advice}`,
        });
        const printed = formatJson([result]) + formatTable("lab", [result]);
        for (const secret of [sha256(onHost), sha256(envFile.content), sha256(onHost).slice(0, 12), sha256(envFile.content).slice(0, 12), "s3cr3t", "leaked-by-hand"]) {
            expect(printed).not.toContain(secret);
        }
    });

    it("a missing file says only that (no mode, owner or content to compare)", () => {
        expect(judgeFile("frontend", envFile, ok(otherProbeOutput(envFile.path, "missing")))).toMatchObject({
            ok: false,
            detail: `state: missing on the host, present planned; ${advice}`,
        });
    });

    it.each([
        ["symlink", "", "a symbolic link"],
        ["fifo", "", "a FIFO"],
        ["directory", "", "a directory"],
        ["hardlink", "2 names", "a hard link (2 names, so it may be any file)"],
        [
            "unsafe",
            "/srv/x is a symbolic link that another user could have placed (/srv can be changed by user limen): not followed",
            "not read: /srv/x is a symbolic link that another user could have placed (/srv can be changed by user limen): not followed",
        ],
    ])("%s at a file's path is named as what it is, not read", (kind, note, said) => {
        expect(judgeFile("frontend", envFile, ok(otherProbeOutput(envFile.path, kind, note)))).toMatchObject({
            ok: false,
            detail: `state: ${said} on the host, present planned; ${advice}`,
        });
    });

    it("a probe that could not run or printed nonsense is a failure that says why, not drift", () => {
        expect(judgeFile("frontend", envFile, ok("", 1, "sudo: a password is required"))).toEqual({
            check: "frontend file /srv/limen-frontend/.env.production",
            ok: false,
            detail: 'reading /srv/limen-frontend/.env.production on the frontend: sudo asks for a password; the deploy user needs passwordless sudo (docs/operations.md, "Prerequisites")',
        });
        expect(judgeFile("frontend", envFile, ok("garbage"))).toMatchObject({
            ok: false,
            detail: "cannot read the state of /srv/limen-frontend/.env.production: unexpected probe output",
        });
        const unreachable = { status: undefined, stdout: "", stderr: "", failure: "ssh ops@192.0.2.10:2222: no answer" };
        expect(judgeFile("frontend", envFile, unreachable).detail).toBe("ssh ops@192.0.2.10:2222: no answer");
    });

    it("the host tool is a root-owned 0755 file with the plan's sha256", () => {
        const tool = otherPlan.backend.hostTool;
        expect(tool).toEqual({ path: "/usr/local/libexec/limen/limen-host", sha256: hostToolSha256 });
        expect(hostToolFile).toEqual({ mode: "0755", owner: "root:root" });
        expect(judgeHostTool("backend", tool, ok(toolStatusOutput(tool.path, tool.sha256)))).toEqual({
            check: "backend host tool",
            ok: true,
            detail: "/usr/local/libexec/limen/limen-host 0755 root:root, content as planned",
        });
        const edited = judgeHostTool("backend", tool, ok(toolStatusOutput(tool.path, sha256("a tool edited by hand\n"))));
        expect(edited).toMatchObject({
            check: "backend host tool",
            ok: false,
            detail: expect.stringMatching(/^contentSha256: [0-9a-f]{12}… on the host, [0-9a-f]{12}… planned; run `pulumi up --refresh` to repair$/),
        });
        expect(judgeHostTool("backend", tool, ok(otherProbeOutput(tool.path, "missing")))).toMatchObject({
            ok: false,
            detail: `state: missing on the host, present planned; ${advice}`,
        });
    });
});

describe("drift: pm2", () => {
    it("every instance online, on its loopback port, resurrected at boot and started after its files changed, passes", () => {
        expect(judgePm2("frontend", pm2, ok(pm2ProbeOutput()))).toEqual({
            check: "frontend pm2",
            ok: true,
            detail: "limen-frontend 2 online on 127.0.0.1:9444, darc-kr 2 online on 127.0.0.1:9445; pm2-limen.service enabled; limen-pm2-logrotate.timer enabled, active",
        });
    });

    it.each([
        [
            "an errored instance",
            pm2ProbeOutput(["limen-frontend online", "limen-frontend errored", "darc-kr online", "darc-kr online"]),
            "processes of limen-frontend: 1 online, 1 errored on the host, 2 online planned",
        ],
        [
            "a deleted app",
            pm2ProbeOutput(["limen-frontend online", "limen-frontend online"], {
                sockets: ss
                    .split("\n")
                    .filter((l) => !l.includes("9445"))
                    .join("\n"),
            }),
            "processes of darc-kr: missing on the host, 2 online planned; listening of darc-kr: nothing on the host, 127.0.0.1:9445 planned",
        ],
        [
            "an app bound to every address",
            pm2ProbeOutput(allOnline, { sockets: ss.replace("127.0.0.1:9445", "*:9445") }),
            "listening of darc-kr: *:9445 on the host, 127.0.0.1:9445 planned",
        ],
        ["no boot unit", pm2ProbeOutput(allOnline, { unit: "" }), "bootService: not installed on the host, enabled planned"],
        [
            "the log rotation's timer disabled and stopped by hand",
            pm2ProbeOutput(allOnline, { rotation: "disabled\ninactive" }),
            "logRotation: disabled, inactive on the host, enabled, active planned",
        ],
        ["the log rotation's timer removed", pm2ProbeOutput(allOnline, { rotation: "" }), "logRotation: not installed on the host, enabled, active planned"],
        [
            "apps that did not reload after their files changed",
            pm2ProbeOutput(allOnline, { started: (loadedAt - 60) * 1000 }),
            "loadedFiles: limen-frontend, darc-kr run with files that changed since they were loaded on the host, current planned",
        ],
        [
            "apps whose recorded files differ from the files now (a hand edit, no reload)",
            pm2ProbeOutput(allOnline, { loaded: `${"a".repeat(64)}  /srv/limen-frontend/.env.production`, current: `${"b".repeat(64)}  /srv/limen-frontend/.env.production` }),
            "loadedFiles: limen-frontend, darc-kr run with files that changed since they were loaded on the host, current planned",
        ],
        [
            "a saved list deleted by hand (pm2 would bring nothing back at boot)",
            pm2ProbeOutput(allOnline, { saved: "missing" }),
            "savedList: nothing saved: ~/.pm2/dump.pm2 is missing on the host, limen-frontend ×2, darc-kr ×2 planned",
        ],
        [
            "a saved list without one app",
            pm2ProbeOutput(allOnline, { saved: JSON.stringify({ "limen-frontend": 2 }) }),
            "savedList: limen-frontend ×2, darc-kr ×0 on the host, limen-frontend ×2, darc-kr ×2 planned",
        ],
        [
            "a FIFO at the saved list",
            pm2ProbeOutput(allOnline, { saved: "not-a-file" }),
            "savedList: nothing saved: ~/.pm2/dump.pm2 is not a regular file on the host, limen-frontend ×2, darc-kr ×2 planned",
        ],
        [
            "a saved list of 8 TiB (a sparse file of the app user's), not read",
            pm2ProbeOutput(allOnline, { saved: "too-large 8796093022208" }),
            "savedList: not read: ~/.pm2/dump.pm2 is 8796093022208 bytes, above the limit of 8388608 bytes on the host, limen-frontend ×2, darc-kr ×2 planned",
        ],
    ])("%s is drift, with the repair", (_label, stdout, expected) => {
        expect(judgePm2("frontend", pm2, ok(stdout))).toEqual({ check: "frontend pm2", ok: false, detail: `${expected}; ${advice}` });
    });

    it("a file rewritten with the content the apps loaded is not drift, whatever its mtime (the record decides)", () => {
        const record = `${"a".repeat(64)}  /srv/limen-frontend/.env.production`;
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(allOnline, { started: (loadedAt - 60) * 1000, loaded: record, current: record })));
        expect(result.ok).toBe(true);
    });

    it("a loaded file that is missing now is the file's drift, not the apps'", () => {
        const ecosystem = `${"a".repeat(64)}  /etc/limen/pm2/ecosystem.config.js`;
        const env = `${"c".repeat(64)}  /srv/limen-frontend/.env.production`;
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(allOnline, { loaded: `${ecosystem}\n${env}`, current: ecosystem })));
        expect(result).toMatchObject({ ok: true });
    });

    it("no pm2 daemon is drift too (the refresh's update starts and reloads the apps)", () => {
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(["no-daemon"], { sockets: "" })));
        expect(result.detail).toBe(
            "processes of limen-frontend: no pm2 daemon on the host, 2 online planned; processes of darc-kr: no pm2 daemon on the host, 2 online planned; " +
                `listening of limen-frontend: nothing on the host, 127.0.0.1:9444 planned; listening of darc-kr: nothing on the host, 127.0.0.1:9445 planned; ` +
                `savedList: not read: no pm2 daemon on the host, limen-frontend ×2, darc-kr ×2 planned; ${advice}`,
        );
    });

    it("a process list that cannot be read fails the check with pm2's words, never reads as no daemon or no apps", () => {
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(["unreadable 4"]), 0, "limen-probe: pm2: connect EACCES /home/limen/.pm2/rpc.sock"));
        expect(result.ok).toBe(false);
        expect(result.detail).toBe(
            "cannot read pm2's state: listing the pm2 processes of limen failed (exit 4); the host said: limen-probe: pm2: connect EACCES /home/limen/.pm2/rpc.sock",
        );
    });

    it("a pm2 daemon that does not answer (stopped with kill -STOP) fails the check naming the deadline, never reads as no apps", () => {
        const result = judgePm2("frontend", pm2, ok(pm2ProbeOutput(["unreadable 6"]), 0, "limen-probe: pm2 did not answer list within 15 s"));
        expect(result.ok).toBe(false);
        expect(result.detail).toBe(
            "cannot read pm2's state: the pm2 daemon of limen did not answer within 15 s (stopped or wedged: `sudo -u limen pm2 ping`); the host said: limen-probe: pm2 did not answer list within 15 s",
        );
    });

    it("the probe is asked about the files the apps load, as the Pm2Apps resource asks", () => {
        expect(pm2.loadedPaths).toEqual(["/etc/limen/pm2/ecosystem.config.js", "/srv/limen-frontend/.env.production"]);
        expect(judgePm2("frontend", pm2, ok("", 1, "sudo: a password is required")).detail).toMatch(/^reading pm2's state for limen on the frontend: sudo asks for a password/);
    });
});
