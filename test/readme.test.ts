import { readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { configSchema } from "../components/config";
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
