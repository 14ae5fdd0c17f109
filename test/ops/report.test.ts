/** verify's command line, exit code and output (ops/report.ts). */
import { describe, expect, it } from "vitest";
import { CheckResult } from "../../ops/checks";
import { exitCode, flagsTakenByNpm, formatJson, formatTable, npmFlagsMessage, parseArgs } from "../../ops/report";
import { advice } from "../support/probe-outputs";

describe("command line", () => {
    it.each([
        [["--stack", "lab"], { kind: "run", stack: "lab", json: false }],
        [["--stack=prod", "--json"], { kind: "run", stack: "prod", json: true }],
        [["--json", "-s", "acme/limen/prod"], { kind: "run", stack: "acme/limen/prod", json: true }],
        [["--help"], { kind: "help" }],
    ])("%j → %j", (argv, expected) => {
        expect(parseArgs(argv)).toEqual(expected);
    });

    it.each([
        [[], /--stack <name> is required/],
        [["--stack"], /--stack needs a stack name/],
        [["--stack="], /--stack needs a stack name/],
        [["--stack", "--json"], /needs a stack name/],
        [["--stack", "lab", "--verbose"], /unknown argument "--verbose"/],
        [["--stack", "lab", "--json=false"], /unknown argument "--json=false"/],
        [["prod"], /unknown argument "prod"/],
        [["--stack", "lab", "-s", "prod"], /--stack given twice \("lab", "prod"\)/],
        [["--stack", "lab; rm -rf /"], /is not a stack name/],
    ])("%j is refused", (argv, message) => {
        const parsed = parseArgs(argv);
        expect(parsed.kind).toBe("error");
        expect(parsed.kind === "error" && parsed.message).toMatch(message);
    });

    it("verify's own flags that npm kept (given before `--`) are named, only under `npm run verify`", () => {
        // What `npm run verify --stack prod --json` leaves: "prod" as an argument, the flags as npm config.
        expect(flagsTakenByNpm({ npm_lifecycle_event: "verify", npm_config_stack: "true", npm_config_json: "true" })).toEqual(["--stack", "--json"]);
        expect(flagsTakenByNpm({ npm_lifecycle_event: "verify", npm_config_json: "true", npm_config_loglevel: "silent" })).toEqual(["--json"]);
        expect(flagsTakenByNpm({ npm_lifecycle_event: "verify", npm_config_loglevel: "silent" })).toEqual([]);
        // Another script's npm config is not verify's business (e.g. `npm test --json` starting the lab).
        expect(flagsTakenByNpm({ npm_lifecycle_event: "test", npm_config_json: "true" })).toEqual([]);
        expect(npmFlagsMessage(["--stack", "--json"])).toMatch(/^npm read --stack and --json as its own options \(.*\) and did not pass them on: /);
        expect(npmFlagsMessage(["--json"])).toBe(
            "npm read --json as its own option (from before `--`, or an npmrc) and did not pass it on: put verify's flags after `--`, e.g. `npm run verify -- --stack prod --json`",
        );
    });
});

describe("exit code and output", () => {
    const passed: CheckResult = { check: "backend-health", ok: true, detail: "answered 200" };
    const failed: CheckResult = {
        check: "backend firewall",
        ok: false,
        detail: `live: chain input: rule "tcp dport @public_ports accept" is missing on the host, loaded as rendered planned; ${advice}`,
    };
    const log: CheckResult = {
        check: "proxy-log",
        ok: true,
        detail: "1 line",
        lines: ["0|limen-fr | 2026-01-01T10:00:05: Proxy POST /api/auth/session -> http://192.0.2.100:18443/api/auth/session session"],
    };

    it("exits 0 only when every check passed", () => {
        expect(exitCode([passed, log])).toBe(0);
        expect(exitCode([passed, failed, log])).toBe(1);
        expect(exitCode([])).toBe(1);
    });

    it("the table has one row per check, PASS/FAIL, the proxy lines and a summary", () => {
        const table = formatTable("lab", [passed, failed, log]).split("\n");
        expect(table[0]).toBe("limen verify, stack lab");
        expect(table).toContain("CHECK             RESULT  DETAIL");
        expect(table).toContain("backend-health    PASS    answered 200");
        expect(table).toContain(`backend firewall  FAIL    ${failed.detail}`);
        expect(table).toContain(`  ${log.lines![0]}`);
        expect(table.at(-1)).toBe("1 of 3 checks failed");
        expect(formatTable("lab", [passed]).split("\n").at(-1)).toBe("all 1 checks passed");
    });

    it("--json is an array of {check, ok, detail}, with the lines on the proxy check", () => {
        expect(JSON.parse(formatJson([passed, failed, log]))).toEqual([
            { check: "backend-health", ok: true, detail: "answered 200" },
            { check: "backend firewall", ok: false, detail: failed.detail },
            { check: "proxy-log", ok: true, detail: "1 line", lines: log.lines },
        ]);
    });
});
