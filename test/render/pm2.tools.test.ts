/** The pm2 ecosystem (render/pm2.ts), loaded by pm2 itself. */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { pm2Spec } from "../../plan/pm2";
import { renderEcosystem } from "../../render/pm2";
import { prodRawConfig } from "../support/fixtures";
import { scratchFile } from "../support/scratch-file";

const prod = parseConfig(prodRawConfig());

describe("pm2 ecosystem, loaded by pm2 itself", () => {
    function loadWithPm2(text: string) {
        const file = scratchFile("ecosystem.config.js", text);
        const script = `
            const Common = require("pm2/lib/Common");
            const conf = require(process.argv[1]);
            const verified = Common.verifyConfs(conf.apps);
            // pm2 returns (not throws) an Error for a config it refuses.
            if (verified instanceof Error) { console.error(verified.message); process.exit(1); }
            process.stdout.write(JSON.stringify(verified));`;
        return JSON.parse(execFileSync(process.execPath, ["-e", script, file], { encoding: "utf8", cwd: path.join(__dirname, "..", "..") }));
    }

    it("declares limen-frontend and the darc.kr app on 127.0.0.1:9444 and :9445", () => {
        const apps = loadWithPm2(renderEcosystem(pm2Spec(prod)));
        expect(apps.map((a: { name: string; args: string[]; cwd: string }) => [a.name, a.cwd, a.args])).toEqual([
            ["limen-frontend", "/srv/limen-frontend", ["start", "-H", "127.0.0.1", "-p", "9444"]],
            ["darc-kr", "/srv/darc-kr", ["start", "-H", "127.0.0.1", "-p", "9445"]],
        ]);
        expect(apps[0].env).toMatchObject({ HOSTNAME: "127.0.0.1", PORT: "9444" });
        expect(JSON.stringify(apps)).not.toMatch(/BACKEND|NEXT_PUBLIC/);
        expect(apps[0]).toMatchObject({ autorestart: true, max_restarts: 10, restart_delay: 2000, kill_timeout: 5000, instances: 2 });
        // pm2's own spelling once it has read the file: cluster mode is what makes a reload rolling.
        expect(apps.map((a: { exec_mode: string }) => a.exec_mode)).toEqual(["cluster_mode", "cluster_mode"]);
    });

    it("pm2 rejects a broken ecosystem (the check can fail)", () => {
        const broken = renderEcosystem(pm2Spec(prod)).replace('"name": "darc-kr"', '"name": 42');
        expect(() => loadWithPm2(broken)).toThrow(/Expect "name" to be a typeof/);
    });
});
