/** .env.production (render/env-file.ts), read back by Next.js's own loader. */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { envFileSpec } from "../../plan/files";
import { renderEnvFile } from "../../render/env-file";
import { otherRawConfig, prodRawConfig } from "../support/fixtures";
import { scratchFile } from "../support/scratch-file";

const prod = parseConfig(prodRawConfig());
const other = parseConfig(otherRawConfig());

describe(".env.production, read back by Next.js's own loader", () => {
    /**
     * A fresh Node process with NODE_ENV=production, as `next start` has: @next/env picks its files by
     * NODE_ENV (vitest sets "test") and keeps what it loaded in process.env, so it must not share ours.
     */
    function loadWithNext(text: string): Record<string, string> {
        const dir = path.dirname(scratchFile(".env.production", text));
        const script = `
            const { loadEnvConfig } = require("@next/env");
            const { parsedEnv, loadedEnvFiles } = loadEnvConfig(process.argv[1], false, { info() {}, error(e) { throw e; } });
            if (loadedEnvFiles.map((f) => f.path).join() !== ".env.production") throw new Error("loaded " + JSON.stringify(loadedEnvFiles));
            process.stdout.write(JSON.stringify(parsedEnv));`;
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: "production" };
        return JSON.parse(execFileSync(process.execPath, ["-e", script, dir], { encoding: "utf8", env, cwd: path.join(__dirname, "..", "..") }));
    }

    it("delivers exactly the seed's four keys to Next.js", () => {
        expect(loadWithNext(renderEnvFile(envFileSpec(prod)))).toEqual({
            BACKEND_HOST: "10.0.0.100",
            BACKEND_PORT: "18443",
            AGENT_HOST: "10.0.0.100",
            AGENT_PORT: "9000",
        });
    });

    it.each(['p$ss w#rd"x', "$HOME", "${HOME}", "back\\slash", "a\\$b", " spaced ", "#hash", "", "x=y", "üñí"])("extra value %j reaches Next.js unchanged", (value) => {
        const env = loadWithNext(renderEnvFile({ ...envFileSpec(prod), extra: { EXTRA: value } }));
        expect(env.EXTRA).toBe(value);
        expect(Object.keys(env)).toEqual(["BACKEND_HOST", "BACKEND_PORT", "AGENT_HOST", "AGENT_PORT", "EXTRA"]);
    });

    it("never contains NEXT_PUBLIC_BACKEND_URL, even when asked to", () => {
        expect(() => renderEnvFile({ ...envFileSpec(prod), extra: { NEXT_PUBLIC_BACKEND_URL: "/api" } })).toThrow(/never/);
        expect(renderEnvFile(envFileSpec(other))).not.toMatch(/^NEXT_PUBLIC/m);
    });
});
