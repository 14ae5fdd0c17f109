/** The host tool's command lines and stdin as the providers build them (hostio/host-tool.ts). */
import { describe, expect, it } from "vitest";
import { pm2FileSets } from "../../hostio/host-tool";

describe("pm2-apply's stdin: the release's files, planned and previous", () => {
    it("one line per file, kind, path, mode, owner, check and the content in base64 (which no line break or space can split)", () => {
        const env = { path: "/srv/limen-frontend/.env.production", mode: "0600", owner: "limen:limen", check: "none", content: "A=1\nB='two words'\n" };
        const ecosystem = { path: "/etc/limen/pm2/ecosystem.config.js", mode: "0644", owner: "root:root", check: "ecosystem", content: "module.exports = {};\n" };
        const lines = pm2FileSets([ecosystem, env], [ecosystem, { ...env, content: "A=0\n" }]).split("\n");
        expect(lines).toEqual([
            `new /etc/limen/pm2/ecosystem.config.js 0644 root:root ecosystem ${Buffer.from(ecosystem.content).toString("base64")}`,
            `new /srv/limen-frontend/.env.production 0600 limen:limen none ${Buffer.from(env.content).toString("base64")}`,
            `previous /etc/limen/pm2/ecosystem.config.js 0644 root:root ecosystem ${Buffer.from(ecosystem.content).toString("base64")}`,
            `previous /srv/limen-frontend/.env.production 0600 limen:limen none ${Buffer.from("A=0\n").toString("base64")}`,
            "",
        ]);
        // A first deploy has no previous version: the host tool takes what the host has.
        expect(pm2FileSets([env], undefined).split("\n").filter(Boolean)).toHaveLength(1);
    });
});
