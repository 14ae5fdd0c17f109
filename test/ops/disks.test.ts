/** verify watches the disks (ops/disks.ts): free space per filesystem against the threshold, and pm2's logs. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { diskCommand, judgeDisk } from "../../ops/disks";
import { prodRawConfig, withOverride } from "../support/fixtures";

const config = parseConfig(prodRawConfig());
const gib = 1024 ** 3;
const ok = (stdout: string, status = 0, stderr = "") => ({ status, stdout, stderr });
const df = (...rows: [size: number, available: number, mount: string][]) =>
    ["Filesystem 1-blocks Used Available Capacity Mounted on", ...rows.map(([size, available, mount]) => `/dev/x ${size} ${size - available} ${available} 0% ${mount}`)].join("\n");

describe("verify: the disks", () => {
    it("reads the frontend as the app user (its home may be closed to the deploy user), the backend as the deploy user", () => {
        expect(diskCommand(config, "frontend")).toMatch(/^sudo -n -u limen -H sh -c '/);
        expect(diskCommand(config, "frontend")).toContain("df -P -B1 / /home/limen/.pm2;");
        expect(diskCommand(config, "frontend")).toContain("du -sB1 /home/limen/.pm2/logs");
        expect(diskCommand(config, "backend")).toBe("df -P -B1 /");
        const elsewhere = parseConfig(withOverride(prodRawConfig(), "apps", { home: "/srv/home/limen" }));
        expect(diskCommand(elsewhere, "frontend")).toContain("df -P -B1 / /srv/home/limen/.pm2;");
    });

    it("enough free space passes, with each filesystem once and the logs' size", () => {
        const result = judgeDisk(
            config,
            "frontend",
            ok(`${df([20 * gib, 8 * gib, "/"], [20 * gib, 8 * gib, "/"])}\n--- limen-verify: logs ---\n${12 * 1024 ** 2}\t/home/limen/.pm2/logs\n`),
        );
        expect(result).toEqual({ check: "frontend disk", ok: true, detail: "/ 40% free (8.0 GiB of 20.0 GiB); pm2's logs (/home/limen/.pm2/logs) 12.0 MiB" });
    });

    it("below limen:verify.minFreeDiskPercent fails, naming the path, its filesystem and what the logs take", () => {
        const result = judgeDisk(
            config,
            "frontend",
            ok(`${df([20 * gib, 10 * gib, "/"], [100 * gib, 5 * gib, "/home"])}\n--- limen-verify: logs ---\n${3 * gib}\t/home/limen/.pm2/logs\n`),
        );
        expect(result.ok).toBe(false);
        expect(result.detail).toMatch(
            /^\/home\/limen\/\.pm2 \(on \/home\) has 5\.0% free \(5\.0 GiB of 100\.0 GiB\), below limen:verify\.minFreeDiskPercent 10%; pm2's logs \(\/home\/limen\/\.pm2\/logs\) take 3072\.0 MiB: free space there/,
        );
        // The threshold is the config's.
        const lenient = parseConfig(withOverride(prodRawConfig(), "verify", { minFreeDiskPercent: 4 }));
        expect(judgeDisk(lenient, "frontend", ok(`${df([20 * gib, 10 * gib, "/"], [100 * gib, 5 * gib, "/home"])}\n--- limen-verify: logs ---\n0\t/x\n`)).ok).toBe(true);
        expect(judgeDisk(config, "backend", ok(df([10 * gib, gib / 2, "/"]))).detail).toMatch(/^\/ has 5\.0% free/);
    });

    it("df that fails, or says less than asked, fails the check with its words", () => {
        expect(judgeDisk(config, "backend", ok("", 1, "df: /: Permission denied"))).toEqual({
            check: "backend disk",
            ok: false,
            detail: "df / on the backend exited 1: df: /: Permission denied",
        });
        expect(judgeDisk(config, "frontend", ok(df([20 * gib, 8 * gib, "/"]))).ok).toBe(false);
        expect(judgeDisk(config, "backend", { status: undefined, stdout: "", stderr: "", failure: "no SSH session" })).toMatchObject({ ok: false, detail: "no SSH session" });
    });
});
