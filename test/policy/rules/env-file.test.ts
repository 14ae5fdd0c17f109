/** env-file-not-world-readable (policy/rules/env-file.ts). */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { prodRawConfig } from "../../support/fixtures";
import { runResourcePolicy, violationsOf } from "../../support/policy-harness";
import { graphFor, changed, added, addedOnHost, envFile } from "../../support/policy-graphs";
import { useMockedStack } from "../../support/stack-registrations";

useMockedStack();

describe("env-file-not-world-readable", () => {
    const envPath = "/srv/limen-frontend/.env.production";
    const withMode = async (mode: unknown) => changed(await graphFor(prodRawConfig()), envFile, (wire) => Object.assign(wire, { mode }));

    it("reads the mode the plan gives the file", async () => {
        const graph = await graphFor(prodRawConfig());
        expect(graph.find((r) => r.name === envFile)!.wire).toMatchObject({ path: envPath, mode: "0600" });
    });

    it.each(["0600", "0640", "0400", "600"])("accepts mode %s", async (mode) => {
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", await withMode(mode)))).toEqual([]);
    });

    it.each(["0644", "0604", "0601", "0666", "4600", "rw-------"])("refuses mode %s", async (mode) => {
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", await withMode(mode)))).toEqual([
            expect.stringMatching(new RegExp(`^limen:host:HostFile "frontend-apps-env-production": installs ${envPath} with mode ${mode}; it must give others nothing`)),
        ]);
    });

    it("checks every file resource that installs the file, whatever its name or directory", async () => {
        const graph = added(await graphFor(prodRawConfig()), "frontend-apps-ecosystem", "renamed", (wire) => {
            wire.path = "/srv/darc-kr/.env.production";
        });
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", graph))).toEqual([
            expect.stringContaining(`"renamed": installs /srv/darc-kr/.env.production with mode 0644`),
        ]);
    });

    it("refuses a resource that writes the file some other way, whatever its name", async () => {
        const graph = addedOnHost(await graphFor(prodRawConfig()), "frontend-apps-pm2", "command:remote:Command", "hand-written", {
            create: `sudo -n sh -c 'cat > ${envPath}'`,
        });
        expect(violationsOf(await runResourcePolicy("env-file-not-world-readable", graph))).toEqual([
            expect.stringMatching(/"hand-written": create names \.env\.production; only a file resource \(HostFile\) declares the mode it leaves/),
        ]);
    });

    it("skips a mode or a path unknown during preview", async () => {
        expect((await runResourcePolicy("env-file-not-world-readable", await withMode(unknownValue))).get(envFile)).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("mode is unknown during preview"),
        });
        const graph = changed(await graphFor(prodRawConfig()), envFile, (wire) => Object.assign(wire, { path: unknownValue }));
        expect((await runResourcePolicy("env-file-not-world-readable", graph)).get(envFile)).toEqual({
            violations: [],
            notApplicable: expect.stringContaining("path is unknown during preview, so it is not known whether it installs .env.production"),
        });
    });
});
