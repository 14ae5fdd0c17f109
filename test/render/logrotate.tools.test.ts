/**
 * The rotation of pm2's logs as rendered (render/logrotate.ts), run by Debian's logrotate for real on
 * a scratch pm2 home: what a file past the size limit becomes, run after run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { renderLogRotationConfig } from "../../render/logrotate";
import { scratchDir } from "../support/host-tool";

const megabyte = 1024 * 1024;

function rotationOn(spec: { maxSizeMb: number; keep: number }) {
    const home = scratchDir();
    const logs = path.join(home, ".pm2", "logs");
    mkdirSync(logs, { recursive: true });
    const configPath = path.join(home, "pm2.conf");
    writeFileSync(configPath, renderLogRotationConfig({ user: "limen", home, maxAgeDays: 14, configPath, ...spec }), { mode: 0o644 });
    const log = path.join(logs, "darc-kr-out.log");
    return {
        log,
        logs,
        /** The app's output: `mb` megabytes appended, as pm2 appends. */
        write(mb: number) {
            writeFileSync(log, Buffer.alloc(mb * megabyte, "x\n"), { flag: "a" });
        },
        rotate() {
            return spawnSync("logrotate", ["--state", path.join(home, ".pm2", "logrotate.state"), configPath], { encoding: "utf8" });
        },
        files: () => readdirSync(logs).sort(),
    };
}

describe("pm2's logs rotate by size, keeping `keep` of them", () => {
    it("a log past maxSizeMb is copied aside and truncated in place (pm2 keeps writing to the same file); the oldest beyond `keep` go", () => {
        const rotation = rotationOn({ maxSizeMb: 1, keep: 2 });
        rotation.write(3);
        const inode = statSync(rotation.log).ino;
        for (let run = 1; run <= 4; run++) {
            const result = rotation.rotate();
            expect(result.status, result.stderr).toBe(0);
            expect(result.stderr).toBe("");
            // copytruncate: the same file, now empty, and its content beside it.
            expect(statSync(rotation.log).ino).toBe(inode);
            expect(statSync(rotation.log).size).toBe(0);
            // Compressed at once (nothing writes to the copy): 3 MB of the same lines take a few kilobytes.
            expect(statSync(`${rotation.log}.1.gz`).size).toBeLessThan(megabyte / 10);
            rotation.write(3);
        }
        // keep 2: the two newest rotated files, none older.
        expect(rotation.files()).toEqual(["darc-kr-out.log", "darc-kr-out.log.1.gz", "darc-kr-out.log.2.gz"]);
    });

    it("a log under maxSizeMb is left as it is", () => {
        const rotation = rotationOn({ maxSizeMb: 5, keep: 2 });
        rotation.write(3);
        const result = rotation.rotate();
        expect(result.status, result.stderr).toBe(0);
        expect(statSync(rotation.log).size).toBe(3 * megabyte);
        expect(existsSync(`${rotation.log}.1.gz`)).toBe(false);
    });
});

describe("the rotation runs as the app user, on a timer", () => {
    it("the service is logrotate as the user with its state in the user's pm2 home, under a deadline; the timer every 15 minutes", async () => {
        const { renderLogRotationService, renderLogRotationTimer } = await import("../../render/logrotate");
        const spec = { user: "limen", home: "/home/limen", maxSizeMb: 50, keep: 7, maxAgeDays: 14, configPath: "/etc/limen/logrotate/pm2.conf" };
        const service = renderLogRotationService(spec);
        expect(service).toContain("\nUser=limen\nGroup=limen\n");
        expect(service).toContain("\nExecStart=/usr/sbin/logrotate --state /home/limen/.pm2/logrotate.state /etc/limen/logrotate/pm2.conf\n");
        expect(service).toMatch(/\nTimeoutStartSec=\d+\n/);
        expect(renderLogRotationTimer(spec)).toContain("\nOnCalendar=*:0/15\n");
        // systemd's own judgement of both units.
        const dir = scratchDir();
        writeFileSync(path.join(dir, "limen-pm2-logrotate.service"), service);
        writeFileSync(path.join(dir, "limen-pm2-logrotate.timer"), renderLogRotationTimer(spec));
        const verify = spawnSync("systemd-analyze", ["verify", "--man=no", path.join(dir, "limen-pm2-logrotate.timer"), path.join(dir, "limen-pm2-logrotate.service")], {
            encoding: "utf8",
        });
        expect(verify.stderr.split("\n").filter((line) => line.includes("limen-pm2-logrotate"))).toEqual([]);
    });
});
