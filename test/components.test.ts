import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config";
import type { LimenStack } from "../components/stack";
import { hostToolPath } from "../plan/host-paths";
import { planStack } from "../plan/hosts";
import { sha256 } from "../plan/sha256";
import { hostResourceTypes } from "../provider/resource-types";
import { fakePrivateKey, otherRawConfig, prodRawConfig, withOverride } from "./support/fixtures";
import { installMocks, isSecretOnWire, plainOnWire, recordRegistrations, Registration, unwrap } from "./support/mocks";

let createLimenStack: (config: ReturnType<typeof parseConfig>) => LimenStack;

beforeAll(async () => {
    await installMocks();
    // Imported after the mocks are installed, as Pulumi's testing guide requires.
    ({ createLimenStack } = await import("../components/stack"));
});

const shortName = (urn: string) => urn.split("::").at(-1) ?? urn;
const hostType = (type: string) => `limen:host:${type}`;
const isHostResource = (r: Registration) => (Object.values(hostResourceTypes) as string[]).includes(r.type);

async function registrationsFor(raw: Record<string, string>): Promise<Registration[]> {
    return recordRegistrations(() => {
        createLimenStack(parseConfig(raw));
    });
}

function byName(registrations: Registration[]): Map<string, Registration> {
    return new Map(registrations.map((r) => [r.name, r]));
}

/** What a resource asks of its host: every input but the connection. */
function planned(registrations: Registration[]): Record<string, string> {
    return Object.fromEntries(
        registrations.filter(isHostResource).map((r) => {
            // How the resource reaches its host and what the frontend checks before a change are not what it puts there.
            const { connection, preflight, ...rest } = r.wire;
            return [r.name, JSON.stringify(rest, (_key, value) => plainOnWire(value))];
        }),
    );
}

function changedBetween(before: Record<string, string>, after: Record<string, string>): string[] {
    return Object.keys(before)
        .filter((name) => before[name] !== after[name])
        .sort();
}

describe("resources per host", () => {
    it("prod: exactly these resources, each under its component", async () => {
        const registrations = await registrationsFor(prodRawConfig());
        expect(registrations.map((r) => [r.type, r.name, shortName(r.parent)]).sort()).toEqual(
            [
                ["limen:host:RemoteHost", "frontend", ""],
                ["limen:host:RemoteHost", "backend", ""],
                [hostType("HostTool"), "frontend-host-tool", "frontend"],
                [hostType("HostTool"), "backend-host-tool", "backend"],
                ["limen:firewall:HostFirewall", "backend-firewall", ""],
                [hostType("FirewallTable"), "backend-firewall-table", "backend-firewall"],
                ["limen:firewall:HostFirewall", "frontend-firewall", ""],
                [hostType("FirewallTable"), "frontend-firewall-table", "frontend-firewall"],
                ["limen:frontend:FrontendApps", "frontend-apps", ""],
                [hostType("HostFile"), "frontend-apps-ecosystem", "frontend-apps"],
                [hostType("HostFile"), "frontend-apps-env-production", "frontend-apps"],
                [hostType("Pm2Apps"), "frontend-apps-pm2", "frontend-apps"],
                ["limen:envoy:EnvoyProxy", "frontend-envoy", ""],
                ["pulumi:providers:docker", "frontend-envoy-docker", "frontend-envoy"],
                ["docker:index/remoteImage:RemoteImage", "frontend-envoy-image", "frontend-envoy"],
                [hostType("HostFile"), "frontend-envoy-config", "frontend-envoy"],
                [hostType("ContainerName"), "frontend-envoy-container-name", "frontend-envoy"],
                ["docker:index/container:Container", "frontend-envoy-container", "frontend-envoy"],
                [hostType("EnvoyGate"), "frontend-envoy-gate", "frontend-envoy"],
                // Prod's certificates come from ACME: one per site, SDS files for Envoy, certbot's hook.
                [hostType("HostFile"), "frontend-envoy-tls-sds-limen", "frontend-envoy"],
                [hostType("HostFile"), "frontend-envoy-tls-sds-darc", "frontend-envoy"],
                ["limen:tls:FrontendCertificates", "frontend-certificates", ""],
                [hostType("HostFile"), "frontend-certificates-acme-renewal-hook", "frontend-certificates"],
                [hostType("AcmeCertificate"), "frontend-certificates-limen-placeholder", "frontend-certificates"],
                [hostType("AcmeCertificate"), "frontend-certificates-darc-placeholder", "frontend-certificates"],
                [hostType("AcmeCertificate"), "frontend-certificates-limen", "frontend-certificates"],
                [hostType("AcmeCertificate"), "frontend-certificates-darc", "frontend-certificates"],
            ].sort(),
        );
    });

    it("one resource per artifact in the host's plan: every planned file is registered with its path, mode, owner and check", async () => {
        const config = parseConfig(otherRawConfig());
        const plan = planStack(config);
        const registrations = await registrationsFor(otherRawConfig());
        const files = registrations.filter((r) => r.type === hostType("HostFile"));
        expect(files.map((r) => plainOnWire(r.wire.path)).sort()).toEqual(plan.frontend.files.map((f) => f.path).sort());
        for (const file of plan.frontend.files) {
            const r = files.find((candidate) => candidate.wire.path === file.path)!;
            expect({ mode: r.wire.mode, owner: r.wire.owner, check: r.wire.check, checkArgs: r.wire.checkArgs }, file.path).toEqual({
                mode: file.mode,
                owner: file.owner,
                check: file.check,
                checkArgs: file.checkArgs,
            });
            expect(plainOnWire(r.wire.content)).toBe(file.content);
            expect(plainOnWire(r.wire.contentSha256)).toBe(sha256(file.content));
        }
    });

    it("every resource on a host reaches that host with its pinned key, port and user", async () => {
        const registrations = await registrationsFor(prodRawConfig());
        const config = parseConfig(prodRawConfig());
        for (const r of registrations.filter(isHostResource)) {
            const connection = plainOnWire(r.wire.connection) as Record<string, unknown>;
            const role = r.name.startsWith("backend") ? "backend" : "frontend";
            const host = config[role];
            expect(connection, r.name).toEqual({
                role,
                address: host.address,
                hostKey: host.hostKey,
                user: "deploy",
                port: 22,
                privateKey: fakePrivateKey,
                connectAttempts: 10,
                connectTimeoutSeconds: 15,
            });
        }
    });

    it("orders each host: host tool; then the firewall, and the apps' files (after the backend's firewall, for the preflight) and pm2 (loopback only) beside it; Envoy config, container after the firewall", async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        const after = (name: string) => registrations.get(name)!.dependsOn.map(shortName).sort();
        expect(after("frontend-host-tool")).toEqual([]);
        expect(after("backend-firewall-table")).toEqual(["backend-host-tool"]);
        expect(after("frontend-firewall-table")).toEqual(["frontend-host-tool"]);
        // The backend preflight checks the backend from the frontend before these change: through its firewall as planned.
        expect(after("frontend-apps-ecosystem")).toEqual(["backend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-apps-env-production")).toEqual(["backend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-apps-pm2")).toEqual(["backend-firewall-table", "frontend-apps-ecosystem", "frontend-apps-env-production", "frontend-host-tool"]);
        // Envoy starts with a pair for each SDS secret (the placeholders), and the issued certificates
        // come after its container, whose port-80 route carries the HTTP-01 challenge.
        const placeholders = ["frontend-certificates-darc-placeholder", "frontend-certificates-limen-placeholder"];
        expect(after("frontend-certificates-limen-placeholder")).toEqual(["frontend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-envoy-tls-sds-limen")).toEqual([...placeholders, "frontend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-envoy-config")).toEqual([
            ...placeholders,
            "frontend-envoy-image",
            "frontend-envoy-tls-sds-darc",
            "frontend-envoy-tls-sds-limen",
            "frontend-firewall-table",
            "frontend-host-tool",
        ]);
        // The container's name is claimed (a hand-made holder removed) just before the container.
        expect(after("frontend-envoy-container-name")).toEqual(["frontend-envoy-config"]);
        expect(after("frontend-envoy-container")).toEqual(["frontend-envoy-config", "frontend-envoy-container-name"]);
        expect(after("frontend-certificates-limen")).toEqual([
            "frontend-certificates-acme-renewal-hook",
            ...placeholders,
            "frontend-envoy-container",
            "frontend-firewall-table",
            "frontend-host-tool",
        ]);
    });

    it("with Envoy switched off, no Docker resource at all", async () => {
        const registrations = await registrationsFor(withOverride(prodRawConfig(), "envoy", { enabled: false }));
        expect(
            registrations.filter(
                (r) => r.type.startsWith("docker") || r.type.includes("providers:docker") || r.type === "limen:envoy:EnvoyProxy" || r.type === hostType("ContainerName"),
            ),
        ).toEqual([]);
        // 12 for hosts, firewalls and apps; 6 for the certificates certbot still issues (component, hook, 2 × 2 stages).
        expect(registrations).toHaveLength(18);
        const issued = byName(registrations).get("frontend-certificates-limen")!;
        expect(issued.dependsOn.map(shortName).sort()).toEqual([
            "frontend-certificates-acme-renewal-hook",
            "frontend-certificates-darc-placeholder",
            "frontend-certificates-limen-placeholder",
            "frontend-firewall-table",
            "frontend-host-tool",
        ]);
    });
});

describe("deployed stacks keep their resources", () => {
    const aliasesByName = async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        return (name: string) => registrations.get(name)!.aliases.map((alias) => (alias.spec as Record<string, unknown> | undefined) ?? alias);
    };
    const commandAlias = (name?: string) => expect.objectContaining({ ...(name ? { name } : {}), type: "command:remote:Command" });
    const dynamicAlias = (type: string) => expect.objectContaining({ type: `pulumi-nodejs:dynamic/limen:${type}` });

    it("each resource that had a delete on the host aliases its old command resource, then its dynamic resource", async () => {
        const aliasOf = await aliasesByName();
        expect(aliasOf("frontend-host-tool")).toEqual([commandAlias("frontend-ready"), dynamicAlias("HostTool")]);
        expect(aliasOf("backend-firewall-table")).toEqual([commandAlias("backend-firewall-ruleset"), dynamicAlias("FirewallTable")]);
        expect(aliasOf("frontend-apps-pm2")).toEqual([commandAlias("frontend-apps-pm2-service"), dynamicAlias("Pm2Apps")]);
        expect(aliasOf("frontend-apps-env-production")).toEqual([commandAlias(), dynamicAlias("HostFile")]);
        expect(aliasOf("frontend-envoy-config")).toEqual([commandAlias(), dynamicAlias("HostFile")]);
    });

    it("resources that came after the command version alias their dynamic resource only", async () => {
        const aliasOf = await aliasesByName();
        expect(aliasOf("frontend-certificates-limen")).toEqual([dynamicAlias("AcmeCertificate")]);
        expect(aliasOf("frontend-certificates-acme-renewal-hook")).toEqual([dynamicAlias("HostFile")]);
    });
});

describe("what each resource asks of its host", () => {
    it("the host tool: the script from files/, 0755 root-owned at its fixed path", async () => {
        const tool = byName(await registrationsFor(prodRawConfig())).get("backend-host-tool")!;
        expect(tool.wire).toMatchObject({ path: hostToolPath, mode: "0755", owner: "root:root", kind: "host-tool", state: "present" });
        expect(tool.wire.content).toMatch(/^#!\/bin\/bash\n# limen-host/);
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

    it("validates Envoy's config in the pinned image, with the certificate mounts, before the container", async () => {
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
        expect(registrations.get("frontend-envoy-config")!.wire).toMatchObject({
            path: "/etc/limen/envoy/envoy.yaml",
            check: "envoy",
            checkArgs: ["--envoy-image", image, "--mount", "/etc/letsencrypt"],
        });
        const container = registrations.get("frontend-envoy-container")!.wire;
        expect(container).toMatchObject({
            networkMode: "host",
            restart: "unless-stopped",
            mounts: [
                { type: "bind", source: "/etc/limen/envoy/envoy.yaml", target: "/etc/envoy/envoy.yaml", readOnly: true },
                { type: "bind", source: "/etc/letsencrypt", target: "/etc/letsencrypt", readOnly: true },
            ],
        });
        expect(registrations.get("frontend-envoy-image")!.wire.name).toBe(image);
        expect(registrations.get("frontend-envoy-docker")!.wire.host).toBe("ssh://deploy@10.0.0.10:22");
    });

    it("with ACME, Envoy sees the SDS files and the published pairs, never certbot's own directory", async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        expect(registrations.get("frontend-envoy-config")!.wire.checkArgs).toEqual([
            "--envoy-image",
            expect.stringMatching(/^envoyproxy\/envoy:v1\.38\.0@sha256:/),
            "--mount",
            "/etc/limen/envoy/sds",
            "--mount",
            "/etc/limen/tls",
        ]);
        const mounts = registrations.get("frontend-envoy-container")!.wire.mounts as { source: string }[];
        expect(mounts.map((mount) => mount.source)).toEqual(["/etc/limen/envoy/envoy.yaml", "/etc/limen/envoy/sds", "/etc/limen/tls"]);
        expect(registrations.get("frontend-certificates-limen")!.wire).toMatchObject({
            stage: "issued",
            name: "limen",
            domains: ["limen.darc.kr"],
            email: "ops@darc.kr",
            directoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
            responderAddress: "127.0.0.1",
            responderPort: 8402,
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

    it("a new LIMEN domain changes only the Envoy config (and replaces the container through its label)", async () => {
        const first = await registrationsFor(prodRawConfig());
        const second = await registrationsFor(withOverride(prodRawConfig(), "domains", { limen: ["app.darc.kr"] }));
        // With ACME the limen certificate (both stages) and certbot's hook name the domain too.
        expect(changedBetween(planned(first), planned(second))).toEqual([
            "frontend-certificates-acme-renewal-hook",
            "frontend-certificates-limen",
            "frontend-certificates-limen-placeholder",
            "frontend-envoy-config",
            // The door's gate asks the new name, and judges the new config.
            "frontend-envoy-gate",
        ]);
        const label = (rs: Registration[]) => JSON.stringify(byName(rs).get("frontend-envoy-container")!.wire.labels);
        expect(label(first)).not.toEqual(label(second));
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
        // The apps' reload hash is derived from the secret env file, so it stays secret too.
        expect(isSecretOnWire(registrations.get("frontend-apps-pm2")!.wire.loadedSha256)).toBe(true);
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
            stack = createLimenStack(parseConfig(otherRawConfig()));
        });
        expect(await unwrap(stack!.frontend.connection.apply((c) => c.address))).toBe("192.0.2.10");
        expect(await pulumi.isSecret(stack!.frontend.connection)).toBe(true);
    });
});

describe("config read from the Pulumi runtime", () => {
    it("refuses a secret key stored in plain text, and takes it when it is a secret", async () => {
        const { loadStackConfig } = await import("../components/stack");
        const raw = otherRawConfig();
        pulumi.runtime.setAllConfig(raw, ["limen:sshPrivateKey", "limen:tlsPrivateKey"]);
        expect(() => loadStackConfig()).toThrow(/limen:envProductionSecrets \(secret\): is stored in plain text/);
        pulumi.runtime.setAllConfig(raw, ["limen:sshPrivateKey", "limen:tlsPrivateKey", "limen:envProductionSecrets"]);
        expect(loadStackConfig().envProductionSecrets).toEqual({ SESSION_SECRET: "s3cr3t-$ession-value" });
    });
});

describe("nothing hard-codes the prod addresses", () => {
    const inputs = (registrations: Registration[]) => JSON.stringify(registrations.map((r) => r.wire));

    it("a stack on other addresses renders no trace of 10.0.0.x", async () => {
        const registrations = await registrationsFor(otherRawConfig());
        expect(inputs(registrations)).not.toMatch(/10\.0\.0\./);
        expect(inputs(registrations)).toContain("192.0.2.100");
        expect(inputs(registrations)).toContain("2001:db8::10");
    });

    it("the prod stack does render them (the check above can fail)", async () => {
        expect(inputs(await registrationsFor(prodRawConfig()))).toMatch(/10\.0\.0\.100/);
    });
});

describe("certificates from ACME: per site or one for all", () => {
    const acme = (certificates: "per-site" | "single") => withOverride(prodRawConfig(), "tls", JSON.stringify({ source: "acme", email: "ops@darc.kr", certificates }));

    it("single: one certificate, `sites`, covering every domain, one SDS secret and no SNI choice to make", async () => {
        const plan = planStack(parseConfig(acme("single")));
        expect(plan.frontend.certificates.map((c) => [c.name, c.domains, c.chainPath])).toEqual([
            ["sites", ["limen.darc.kr", "darc.kr", "www.darc.kr"], "/etc/limen/tls/sites/current/fullchain.pem"],
        ]);
        expect(plan.frontend.envoy!.spec.tls).toEqual({
            mode: "sds",
            certificates: [{ name: "sites", serverNames: ["limen.darc.kr", "darc.kr", "www.darc.kr"], sdsPath: "/etc/limen/envoy/sds/sites.yaml" }],
        });
        const names = (await registrationsFor(acme("single"))).filter((r) => r.type === hostType("AcmeCertificate")).map((r) => r.name);
        expect(names.sort()).toEqual(["frontend-certificates-sites", "frontend-certificates-sites-placeholder"]);
    });

    it("per-site: the responder port is kept local by the frontend's firewall, and certbot's hook publishes each lineage", () => {
        const plan = planStack(parseConfig(acme("per-site")));
        expect(plan.frontend.firewall.ruleset).toMatch(/8402/);
        expect(
            planStack(
                parseConfig(
                    withOverride(prodRawConfig(), "tls", JSON.stringify({ source: "host-files", certificateChainPath: "/etc/ssl/a.pem", privateKeyPath: "/etc/ssl/a.key" })),
                ),
            ).frontend.firewall.ruleset,
        ).not.toMatch(/8402/);
        const hook = plan.frontend.files.find((file) => file.name === "acme-renewal-hook")!;
        expect(hook.content).toContain(
            "    /etc/letsencrypt/live/limen)\n        exec /usr/local/libexec/limen/limen-host tls-publish --lineage-dir /etc/letsencrypt/live/limen --publish-dir /etc/limen/tls/limen --domains limen.darc.kr ;;",
        );
        expect(hook.content).toContain("--publish-dir /etc/limen/tls/darc --domains darc.kr,www.darc.kr ;;");
        expect(hook.content).toContain("    *) exit 0 ;;");
    });
});
