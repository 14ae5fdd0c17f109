/** What each host resource asks of its host (components/host-resources.ts), what a change updates, and secrets kept secret. */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import type { LimenStack } from "../../components/stack";
import { hostToolPath } from "../../core/host-paths";
import { hostToolSha256 } from "../../core/host-tool-release";
import { planStack } from "../../plan/hosts";
import { sha256 } from "../../core/sha256";
import { otherRawConfig, prodRawConfig, withOverride } from "../support/fixtures";
import { isSecretOnWire, plainOnWire, recordRegistrations, Registration, unwrap } from "../support/mocks";
import { isHostResource, registrationsFor, byName, planned, changedBetween, useMockedStack, limenStack } from "../support/stack-registrations";

useMockedStack();

describe("what each resource asks of its host", () => {
    it("the host tool: the planned binary by its sha256 (its bytes are no input), 0755 root-owned at its fixed path", async () => {
        const tool = byName(await registrationsFor(prodRawConfig())).get("backend-host-tool")!;
        expect(tool.wire).toMatchObject({ path: hostToolPath, mode: "0755", owner: "root:root", kind: "host-tool", state: "present" });
        expect(tool.wire).toMatchObject({ contentSha256: hostToolSha256, plannedSha256: hostToolSha256 });
        expect(tool.wire).not.toHaveProperty("content");
    });

    it(".env.production: 0600, owned by the app user, in the Next.js app's directory, the seed's four keys", async () => {
        const env = byName(await registrationsFor(prodRawConfig())).get("frontend-apps-env-production")!;
        expect(env.wire).toMatchObject({ path: "/srv/limen-frontend/.env.production", mode: "0600", owner: "limen:limen", check: "none", toolPath: hostToolPath });
        expect(plainOnWire(env.wire.content)).toMatch(/^BACKEND_HOST=10\.0\.0\.100\nBACKEND_PORT=18443\nAGENT_HOST=10\.0\.0\.100\nAGENT_PORT=9000\n$/m);
    });

    it("the firewall: the rendered table with its boot file and unit, confirmed within the configured window", async () => {
        const table = byName(await registrationsFor(prodRawConfig())).get("backend-firewall-table")!;
        const plan = planStack(parseConfig(prodRawConfig())).backend.firewall;
        expect(table.wire).toMatchObject({
            ruleset: plan.ruleset,
            rulesetSha256: plan.rulesetSha256,
            confirmWithinSeconds: 60,
            table: "inet limen_firewall",
            live: "loaded as rendered",
            bootRulesetSha256: plan.rulesetSha256,
            bootUnit: "enabled",
            bootUnitSha256: sha256(plan.bootUnit.content),
            locations: {
                table: "inet limen_firewall",
                bootRuleset: "/etc/limen/firewall/limen.nft",
                unitName: "limen-firewall.service",
                unitPath: "/etc/systemd/system/limen-firewall.service",
                stateDir: "/var/lib/limen/firewall",
                marker: "/run/limen/firewall-pending.sha256",
                revertUnit: "limen-firewall-revert",
            },
        });
        expect(table.wire.bootUnitContent).toContain("ExecStart=/usr/sbin/nft -f /etc/limen/firewall/limen.nft");
    });

    it("pm2: both apps online on 127.0.0.1 at their ports, with the boot unit enabled", async () => {
        const pm2 = byName(await registrationsFor(prodRawConfig())).get("frontend-apps-pm2")!;
        expect(pm2.wire).toMatchObject({
            user: "limen",
            ecosystemPath: "/etc/limen/pm2/ecosystem.config.js",
            processes: { "limen-frontend": "2 online", "darc-kr": "2 online" },
            listening: { "limen-frontend": "127.0.0.1:9444", "darc-kr": "127.0.0.1:9445" },
            bootService: "enabled",
        });
    });

    it("validates Envoy's config in the pinned image, with the certificate mounts, and releases it through a candidate before the container", async () => {
        const registrations = byName(
            await registrationsFor(
                withOverride(
                    prodRawConfig(),
                    "tls",
                    JSON.stringify({
                        source: "host-files",
                        certificateChainPath: "/etc/letsencrypt/live/limen/fullchain.pem",
                        privateKeyPath: "/etc/letsencrypt/live/limen/privkey.pem",
                    }),
                ),
            ),
        );
        const image = "envoyproxy/envoy:v1.38.0@sha256:8146b97ee61a42cd216514709e4e3198af75f014974e3d9f310aef9c901fcbdf";
        // The release judges the whole config (validated in the image with the certificate mounts, run by
        // its candidate); the files it installed are written again as they were judged.
        for (const [name, path] of [
            ["frontend-envoy-config", "/etc/limen/envoy/envoy.yaml"],
            ["frontend-envoy-lds", "/etc/limen/envoy/dynamic/lds.yaml"],
            ["frontend-envoy-cds", "/etc/limen/envoy/dynamic/cds.yaml"],
        ] as const) {
            expect(registrations.get(name)!.wire).toMatchObject({ path, check: "none", checkArgs: [] });
        }
        const container = registrations.get("frontend-envoy-container")!.wire;
        expect(container).toMatchObject({
            networkMode: "host",
            restart: "unless-stopped",
            mounts: [
                { type: "bind", source: "/etc/limen/envoy/envoy.yaml", target: "/etc/envoy/envoy.yaml", readOnly: true },
                // The directory Envoy watches for its listeners and clusters.
                { type: "bind", source: "/etc/limen/envoy/dynamic", target: "/etc/envoy/dynamic", readOnly: true },
                { type: "bind", source: "/etc/letsencrypt", target: "/etc/letsencrypt", readOnly: true },
                // Its own admin socket's directory, root-only on the host: the only writable mount.
                { type: "bind", source: "/var/lib/limen/envoy/admin/limen-envoy", target: "/run/limen-envoy", readOnly: false },
            ],
        });
        const release = registrations.get("frontend-envoy-release")!;
        const files = (name: string) => registrations.get(name)!.wire.content;
        expect(release.wire).toMatchObject({
            configPath: "/etc/limen/envoy/envoy.yaml",
            bootstrap: files("frontend-envoy-config"),
            dynamicDir: "/etc/limen/envoy/dynamic",
            lds: { path: "/etc/limen/envoy/dynamic/lds.yaml", content: files("frontend-envoy-lds"), version: expect.stringMatching(/^[0-9a-f]{16}$/) },
            cds: { path: "/etc/limen/envoy/dynamic/cds.yaml", content: files("frontend-envoy-cds"), version: expect.stringMatching(/^[0-9a-f]{16}$/) },
            containerName: "limen-envoy",
            stateDir: "/var/lib/limen/envoy",
            image,
            mounts: ["/etc/letsencrypt"],
            httpsPort: 443,
            serverNames: ["limen.darc.kr", "darc.kr"],
            drainSeconds: 5,
            containerSha256: (container.labels as { value: string }[])[0]!.value,
        });
        // The release goes before its files are written again and the container replaced.
        for (const name of ["frontend-envoy-config", "frontend-envoy-lds", "frontend-envoy-cds"])
            expect(
                registrations.get(name)!.dependsOn.filter((urn) => urn.endsWith("::frontend-envoy-release")),
                name,
            ).toHaveLength(1);
        expect(registrations.get("frontend-envoy-image")!.wire.name).toBe(image);
        expect(registrations.get("frontend-envoy-docker")!.wire.host).toBe("ssh://deploy@10.0.0.10:22");
    });

    it("with ACME, Envoy sees the SDS files and the published pairs, never certbot's own directory", async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        expect(registrations.get("frontend-envoy-release")!.wire.mounts).toEqual(["/etc/limen/envoy/sds", "/etc/limen/tls"]);
        const mounts = registrations.get("frontend-envoy-container")!.wire.mounts as { source: string }[];
        expect(mounts.map((mount) => mount.source)).toEqual([
            "/etc/limen/envoy/envoy.yaml",
            "/etc/limen/envoy/dynamic",
            "/etc/limen/envoy/sds",
            "/etc/limen/tls",
            "/var/lib/limen/envoy/admin/limen-envoy",
        ]);
        expect(registrations.get("frontend-certificates-limen")!.wire).toMatchObject({
            stage: "issued",
            name: "limen",
            domains: ["limen.darc.kr"],
            email: "ops@darc.kr",
            directoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
            responderAddress: "127.0.0.1",
            responderPort: 402,
            lineageDir: "/etc/letsencrypt/live/limen",
            publishDir: "/etc/limen/tls/limen",
            renewalHook: "/etc/letsencrypt/renewal-hooks/deploy/limen-publish",
        });
        expect(registrations.get("frontend-certificates-darc")!.wire).toMatchObject({ domains: ["darc.kr", "www.darc.kr"], publishDir: "/etc/limen/tls/darc" });
        expect(registrations.get("frontend-certificates-acme-renewal-hook")!.wire).toMatchObject({
            path: "/etc/letsencrypt/renewal-hooks/deploy/limen-publish",
            mode: "0755",
            owner: "root:root",
        });
    });
});

describe("a change updates exactly what depends on it", () => {
    it("an unchanged config changes nothing", async () => {
        expect(planned(await registrationsFor(prodRawConfig()))).toEqual(planned(await registrationsFor(prodRawConfig())));
    });

    it("a new AGENT_PORT changes the env file, the apps that load it and the backend firewall, nothing else", async () => {
        const before = planned(await registrationsFor(prodRawConfig()));
        const after = planned(await registrationsFor(withOverride(prodRawConfig(), "backend", { agentPort: 9100 })));
        expect(changedBetween(before, after)).toEqual(["backend-firewall-table", "frontend-apps-env-production", "frontend-apps-pm2"]);
    });

    it("a new LIMEN domain changes only Envoy's listeners, released in place: the container stays", async () => {
        const first = await registrationsFor(prodRawConfig());
        const second = await registrationsFor(withOverride(prodRawConfig(), "domains", { limen: ["app.darc.kr"] }));
        // With ACME the limen certificate (both stages) and certbot's hook name the domain too.
        expect(changedBetween(planned(first), planned(second))).toEqual([
            "frontend-certificates-acme-renewal-hook",
            "frontend-certificates-limen",
            "frontend-certificates-limen-placeholder",
            // The settle step asks the new name.
            "frontend-envoy-gate",
            "frontend-envoy-lds",
            // The new listeners go through the candidate, then in place.
            "frontend-envoy-release",
        ]);
        const label = (rs: Registration[]) => JSON.stringify(byName(rs).get("frontend-envoy-container")!.wire.labels);
        expect(label(first)).toEqual(label(second));
    });

    it("a new restart policy changes the ecosystem file and the apps that load it", async () => {
        const before = planned(await registrationsFor(prodRawConfig()));
        const after = planned(await registrationsFor(withOverride(prodRawConfig(), "apps", { restart: { maxRestarts: 3 } })));
        expect(changedBetween(before, after)).toEqual(["frontend-apps-ecosystem", "frontend-apps-pm2"]);
    });
});

describe("secrets stay secret", () => {
    it("the SSH key travels only inside secret connections, which stay secret in outputs", async () => {
        const registrations = await registrationsFor(otherRawConfig());
        for (const r of registrations.filter(isHostResource)) {
            expect(isSecretOnWire(r.wire.connection), r.name).toBe(true);
            expect(r.additionalSecretOutputs, r.name).toContain("connection");
        }
    });

    it("secret env values and the TLS key are secret content, and so are their hashes", async () => {
        const registrations = byName(await registrationsFor(otherRawConfig()));
        for (const name of ["frontend-apps-env-production", "frontend-envoy-tls-private-key"]) {
            const r = registrations.get(name)!;
            expect([isSecretOnWire(r.wire.content), isSecretOnWire(r.wire.contentSha256)], name).toEqual([true, true]);
            expect(r.additionalSecretOutputs, name).toEqual(expect.arrayContaining(["content", "contentSha256"]));
        }
        // The apps' reload hash is derived from the secret env file, so it stays secret too; so do the
        // release's files the apps' apply installs (and puts back from the state when a version fails).
        const apps = registrations.get("frontend-apps-pm2")!;
        expect(isSecretOnWire(apps.wire.loadedSha256)).toBe(true);
        expect(isSecretOnWire(apps.wire.files)).toBe(true);
        expect(apps.additionalSecretOutputs).toEqual(expect.arrayContaining(["loadedSha256", "files"]));
        const releaseFiles = plainOnWire(apps.wire.files) as { path: string; content: string }[];
        expect(releaseFiles.map((file) => file.path)).toEqual(["/etc/limen/pm2/ecosystem.config.js", "/srv/limen-frontend/.env.production"]);
        expect(releaseFiles[1]!.content).toBe(plainOnWire(registrations.get("frontend-apps-env-production")!.wire.content));
        expect(isSecretOnWire(registrations.get("frontend-apps-ecosystem")!.wire.content)).toBe(false);
        expect(plainOnWire(registrations.get("frontend-apps-env-production")!.wire.content)).toContain("SESSION_SECRET='s3cr3t-\\$ession-value'");
    });

    it("no secret value appears anywhere outside a secret envelope", async () => {
        const registrations = await registrationsFor(otherRawConfig());
        const raw = otherRawConfig();
        const secrets = ["OPENSSH PRIVATE KEY", "bGFiLW9ubHkgdGVzdCBrZXk=", "c2VjcmV0LXRscy1rZXk=", "s3cr3t-"];
        const withoutSecrets = JSON.stringify(
            registrations.map((r) => r.wire),
            (_key, value) => (isSecretOnWire(value) ? "[secret]" : value),
        );
        for (const secret of secrets) expect(withoutSecrets).not.toContain(secret);
        expect(raw["limen:sshPrivateKey"]).toContain(secrets[0]);
    });

    it("the stack's connections are secret outputs", async () => {
        let stack: LimenStack | undefined;
        await recordRegistrations(() => {
            stack = limenStack(parseConfig(otherRawConfig()));
        });
        expect(await unwrap(stack!.frontend.connection.apply((c) => c.address))).toBe("192.0.2.10");
        expect(await pulumi.isSecret(stack!.frontend.connection)).toBe(true);
    });
});
