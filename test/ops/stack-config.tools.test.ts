/** The stack's config (ops/stack-config.ts), read through a stand-in pulumi CLI and the program's own schema. */
import { existsSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../config";
import { pulumiCliFromEnv, rawConfigFromCliJson, readStackConfig, StackConfigError } from "../../ops/stack-config";
import { otherRawConfig, prodRawConfig, withOverride } from "../support/fixtures";
import { other } from "../support/probe-outputs";
import { scratchDir, fakePulumi } from "../support/stand-in-hosts";

describe("the stack's config, read through the pulumi CLI and the program's own schema", () => {
    it("LIMEN_PULUMI_BIN picks the CLI; the default is `pulumi` from PATH", () => {
        expect(pulumiCliFromEnv({}).bin).toBe("pulumi");
        expect(pulumiCliFromEnv({ LIMEN_PULUMI_BIN: "/opt/pulumi/bin/pulumi" }).bin).toBe("/opt/pulumi/bin/pulumi");
        expect(existsSync(path.join(pulumiCliFromEnv({}).cwd, "Pulumi.yaml"))).toBe(true);
    });

    it("parses the CLI's JSON into the config the program sees", () => {
        const bin = fakePulumi(otherRawConfig(), ["limen:sshPrivateKey", "limen:tlsPrivateKey", "limen:envProductionSecrets"]);
        expect(readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toEqual(other);
    });

    it("refuses what `pulumi up` refuses, with the same messages", () => {
        const bin = fakePulumi(withOverride(prodRawConfig(), "backend", { address: "127.1" }));
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(ConfigError);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(
            /limen:backend\.address = "127\.1": the backend address must not be a loopback address/,
        );
        // A secret stored in plain text is refused too (the CLI says which keys are secret).
        const plain = fakePulumi(prodRawConfig(), []);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: plain }))).toThrow(/limen:sshPrivateKey \(secret\): is stored in plain text/);
    });

    it("says exactly what `pulumi up` says: the same ConfigError, line for line", () => {
        const raw = withOverride(withOverride(prodRawConfig(), "backend", { apiPort: "18443", address: " 127.0.0.1" }), "ssh", { port: 443 });
        let expected = "";
        try {
            parseConfig(raw);
        } catch (error) {
            expected = (error as ConfigError).message;
        }
        expect(expected).toMatch(/^limen: 3 configuration problem\(s\)/);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(raw) }))).toThrow(ConfigError);
        try {
            readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(raw) }));
        } catch (error) {
            expect((error as ConfigError).message).toBe(expected);
        }
    });

    it("a key stored as one JSON text (set without --path) is refused with how to set it, where a program could not tell", () => {
        const raw = withOverride(prodRawConfig(), "ssh", { port: 2222 });
        const bin = fakePulumi(raw, ["limen:sshPrivateKey"], ["limen:ssh"]);
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: bin }))).toThrow(
            /limen:ssh = .*: must be a map with the fields .* \(it is one text holding JSON, not a map .*`pulumi config set --path 'limen:ssh\.user' deploy`/,
        );
        expect(rawConfigFromCliJson(JSON.stringify({ "limen:ssh": { value: '{"port":22}', secret: false } })).storedAsText).toEqual(new Set(["limen:ssh"]));
        expect(rawConfigFromCliJson(JSON.stringify({ "limen:ssh": { value: '{"port":22}', objectValue: { port: 22 }, secret: false } })).storedAsText).toEqual(new Set());
    });

    it.each([
        [
            "config:\n  limen:ssh:\n    user: deploy\n   port: 22\n",
            /^Pulumi\.prod\.yaml is not valid YAML \(line 4, column \d+: [^)]+\): fix that line, or take the file back from version control; `pulumi config set/,
        ],
        ["config:\n  limen:sshPrivateKey: -----BEGIN KEY: hunter2\n  - x\n", /^Pulumi\.prod\.yaml is not valid YAML \(line \d+, column \d+: [^)]+\)/],
        ["- config\n", /^Pulumi\.prod\.yaml must be a YAML map with a `config:` map/],
        ["config: [a, b]\n", /^Pulumi\.prod\.yaml: `config:` must be a map of `limen:<key>: <value>` entries/],
    ])("a stack file that is not a stack file (%j) is named, with the line, never its text", (text, message) => {
        const cwd = scratchDir("limen-stack-file-");
        writeFileSync(path.join(cwd, "Pulumi.prod.yaml"), text);
        const cli = { ...pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(undefined) }), cwd };
        let thrown: Error | undefined;
        try {
            readStackConfig("prod", cli);
        } catch (error) {
            thrown = error as Error;
        }
        expect(thrown).toBeInstanceOf(StackConfigError);
        expect(thrown!.message).toMatch(message);
        expect(thrown!.message).toMatch(/\(pulumi config --stack prod said: error: no stack named 'prod' found\)$/);
        expect(thrown!.message).not.toContain("hunter2");
    });

    it("a CLI that fails or is missing is reported, never a config value", () => {
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: fakePulumi(undefined) }))).toThrow(
            new StackConfigError("pulumi config --stack prod failed: error: no stack named 'prod' found"),
        );
        expect(() => readStackConfig("prod", pulumiCliFromEnv({ LIMEN_PULUMI_BIN: "/nonexistent/pulumi" }))).toThrow(
            /not found as "\/nonexistent\/pulumi": install it or set LIMEN_PULUMI_BIN/,
        );
        expect(() => rawConfigFromCliJson(JSON.stringify({ "limen:sshPrivateKey": { secret: true } }))).toThrow(/did not show the secret limen:sshPrivateKey/);
        expect(rawConfigFromCliJson(JSON.stringify({ "limen:apps": { objectValue: { user: "limen" }, secret: false } })).raw).toEqual({ "limen:apps": '{"user":"limen"}' });
    });
});
