import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { ConfigError, configSchema, parseConfig } from "../config";
import { prodRawConfig, withOverride } from "./support/fixtures";
import { brokenLinks, longLines, missingPaths } from "./support/markdown";
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
const configurationDoc = readFileSync(path.join(root, "docs/configuration.md"), "utf8");

describe("docs/configuration.md documents the config", () => {
    it("has one table row per config key, no more, no less", () => {
        const documented = [...configurationDoc.matchAll(/^\| `(limen:[A-Za-z.]+)` \|/gm)].map((m) => m[1]);
        const keys = schemaKeys(configSchema, "").map((key) => `limen:${key}`);
        expect(documented.sort()).toEqual(keys.sort());
    });

    it("Pulumi.yaml declares every top-level key with a description", () => {
        const project = parse(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { config: Record<string, { description?: string }> };
        expect(Object.keys(project.config).sort()).toEqual(Object.keys(configSchema.shape).sort());
        for (const [key, declaration] of Object.entries(project.config)) expect(declaration.description, key).toMatch(/\w{3,}/);
    });
});

describe("docs/configuration.md's example refusal", () => {
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
        const section = configurationDoc.slice(configurationDoc.indexOf("## The keys and their rules"));
        const example = /```\n(limen: \d+ configuration problem[\s\S]*?)\n```/.exec(section)?.[1];
        expect(example).toBe(printed);
        expect(printed).not.toContain("b3BlbnNzaC1rZXkt");
    });
});

/** What a reader opens: the README, the documents it leads to, the changelog and the lab's own README. */
const documents = [
    "README.md",
    ...readdirSync(path.join(root, "docs"))
        .filter((name) => name.endsWith(".md"))
        .map((name) => `docs/${name}`),
    "CHANGELOG.md",
    "lab/README.md",
];
const read = (file: string) => readFileSync(path.join(root, file), "utf8");

describe("the documents lead somewhere", () => {
    it("reads every document the README links to", () => {
        expect(documents).toEqual(expect.arrayContaining(["docs/configuration.md", "docs/operations.md", "docs/architecture.md"]));
    });

    it.each(documents)("%s: every relative link reaches a file, and every #anchor a heading", (file) => {
        expect(brokenLinks(root, file, read(file))).toEqual([]);
    });

    it.each(documents)("%s: every repository path it names in code exists", (file) => {
        expect(missingPaths(root, file, read(file))).toEqual([]);
    });

    it("reports a link to a missing file, a missing heading and a missing path", () => {
        const synthetic = [
            "See [the keys](configuration.md#the-keys-and-their-rules) and [upgrading](configuration.md#upgrading).",
            "Then [the old section](../README.md#configuration), [a moved file](operations-old.md)",
            "and the probe in `hostio/observe-pm2.ts`, not `hostio/observe-pm3.ts`.",
        ].join("\n");
        expect(brokenLinks(root, "docs/synthetic.md", synthetic)).toEqual([
            { file: "docs/synthetic.md", line: 2, target: "../README.md#configuration", why: "README.md has no heading #configuration" },
            { file: "docs/synthetic.md", line: 2, target: "operations-old.md", why: "docs/operations-old.md does not exist" },
        ]);
        expect(missingPaths(root, "docs/synthetic.md", synthetic)).toEqual([
            { file: "docs/synthetic.md", line: 3, target: "hostio/observe-pm3.ts", why: "no such file or directory in the repository" },
        ]);
    });
});

describe("the documents read in a terminal", () => {
    // Fenced code stays as written (the README's commands, which CI runs, and the refusal parseConfig
    // prints), and so do the configuration table's rows: one key, its default and its whole rule a line.
    const configRow = (line: string) => line.startsWith("| `limen:");

    it.each(documents.filter((file) => file === "README.md" || file.startsWith("docs/")))("%s: no line is longer than 200 characters", (file) => {
        expect(longLines(read(file), 200, configRow)).toEqual([]);
    });

    it("finds a line that is too long", () => {
        expect(longLines(`short\n${"x".repeat(201)}\n\`\`\`\n${"y".repeat(300)}\n\`\`\``, 200)).toEqual([{ line: 2, length: 201 }]);
    });
});
