import { readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { ConfigError, configSchema, parseConfig } from "../config";
import { prodRawConfig, withOverride } from "./support/fixtures";
import { parse } from "yaml";

/** Every leaf key of the schema, as an operator writes it (`limen:backend.apiPort`). */
function schemaKeys(schema: z.ZodType, prefix: string): string[] {
    const def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
    switch (def.type) {
        case "object":
            return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([key, child]) => schemaKeys(child, prefix ? `${prefix}.${key}` : key));
        case "optional":
        case "default":
        case "prefault":
        case "nullable":
            return schemaKeys(def.innerType, prefix);
        case "pipe":
            return schemaKeys(def.in, prefix);
        case "union":
            return [...new Set((def.options as z.ZodType[]).flatMap((option) => schemaKeys(option, prefix)))];
        default:
            return [prefix];
    }
}

const root = path.join(__dirname, "..");
const readme = readFileSync(path.join(root, "README.md"), "utf8");

describe("the README documents the config", () => {
    it("has one table row per config key, no more, no less", () => {
        const documented = [...readme.matchAll(/^\| `(limen:[A-Za-z.]+)` \|/gm)].map((m) => m[1]);
        const keys = schemaKeys(configSchema, "").map((key) => `limen:${key}`);
        expect(documented.sort()).toEqual(keys.sort());
    });

    it("Pulumi.yaml declares every top-level key with a description", () => {
        const project = parse(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { config: Record<string, { description?: string }> };
        expect(Object.keys(project.config).sort()).toEqual(Object.keys(configSchema.shape).sort());
        for (const [key, declaration] of Object.entries(project.config)) expect(declaration.description, key).toMatch(/\w{3,}/);
    });
});

describe("the README's example refusal", () => {
    it("is what parseConfig prints for that config, line for line", () => {
        // Pulumi.prod.yaml with five mistakes: a misspelled secret key set with --secret, SSH on the API
        // port, a loopback BACKEND_HOST, a switch written as text, a scheme-relative URL to the backend.
        let raw: Record<string, string> = {
            ...prodRawConfig(),
            "limen:sshPrivatekey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        };
        raw = withOverride(raw, "ssh", { port: 18443 });
        raw = withOverride(raw, "backend", { internalAddress: "127.1" });
        raw = withOverride(raw, "envoy", { enabled: "true" });
        raw = withOverride(raw, "apps", { extraEnv: { API_URL: "//10.0.0.100:18443/api" } });
        let printed = "";
        try {
            parseConfig(raw, (key) => key === "limen:sshPrivateKey" || key === "limen:sshPrivatekey");
        } catch (error) {
            if (!(error instanceof ConfigError)) throw error;
            printed = error.message;
        }
        const section = readme.slice(readme.indexOf("## Configuration"));
        const example = /```\n(limen: \d+ configuration problem[\s\S]*?)\n```/.exec(section)?.[1];
        expect(example).toBe(printed);
        expect(printed).not.toContain("b3BlbnNzaC1rZXkt");
    });
});
