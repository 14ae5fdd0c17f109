/** The stack (components/stack.ts): the resources of each host, config read from the runtime, no prod address hard-coded. */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { planStack } from "../../plan/hosts";
import { sha256 } from "../../core/sha256";
import { fakePrivateKey, otherRawConfig, prodRawConfig, withOverride } from "../support/fixtures";
import { plainOnWire, Registration } from "../support/mocks";
import { shortName, hostType, isHostResource, registrationsFor, byName, useMockedStack } from "../support/stack-registrations";

useMockedStack();

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
                [hostType("HostFile"), "frontend-apps-pm2-logrotate-config", "frontend-apps"],
                [hostType("HostFile"), "frontend-apps-pm2-logrotate-service", "frontend-apps"],
                [hostType("HostFile"), "frontend-apps-pm2-logrotate-timer", "frontend-apps"],
                [hostType("Pm2Apps"), "frontend-apps-pm2", "frontend-apps"],
                ["limen:envoy:EnvoyProxy", "frontend-envoy", ""],
                ["pulumi:providers:docker", "frontend-envoy-docker", "frontend-envoy"],
                ["docker:index/remoteImage:RemoteImage", "frontend-envoy-image", "frontend-envoy"],
                [hostType("HostFile"), "frontend-envoy-config", "frontend-envoy"],
                [hostType("HostFile"), "frontend-envoy-lds", "frontend-envoy"],
                [hostType("HostFile"), "frontend-envoy-cds", "frontend-envoy"],
                [hostType("ContainerName"), "frontend-envoy-container-name", "frontend-envoy"],
                ["docker:index/container:Container", "frontend-envoy-container", "frontend-envoy"],
                [hostType("EnvoyRelease"), "frontend-envoy-release", "frontend-envoy"],
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

    it("orders each host: host tool; then the firewall, and the apps' files (after the backend's firewall, for the preflight) and pm2 (loopback only) beside it; Envoy's release, config, container after the firewall", async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        const after = (name: string) => registrations.get(name)!.dependsOn.map(shortName).sort();
        expect(after("frontend-host-tool")).toEqual([]);
        expect(after("backend-firewall-table")).toEqual(["backend-host-tool"]);
        expect(after("frontend-firewall-table")).toEqual(["frontend-host-tool"]);
        // The backend preflight checks the backend from the frontend before these change: through its firewall as planned.
        expect(after("frontend-apps-ecosystem")).toEqual(["backend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-apps-env-production")).toEqual(["backend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-apps-pm2")).toEqual([
            "backend-firewall-table",
            "frontend-apps-ecosystem",
            "frontend-apps-env-production",
            "frontend-apps-pm2-logrotate-config",
            "frontend-apps-pm2-logrotate-service",
            "frontend-apps-pm2-logrotate-timer",
            "frontend-host-tool",
        ]);
        // The rotation's files need only the host tool (and the backend's firewall, as the apps' files do).
        expect(after("frontend-apps-pm2-logrotate-timer")).toEqual(["backend-firewall-table", "frontend-host-tool"]);
        // Envoy starts with a pair for each SDS secret (the placeholders), and the issued certificates
        // come after its container, whose port-80 route carries the HTTP-01 challenge.
        const placeholders = ["frontend-certificates-darc-placeholder", "frontend-certificates-limen-placeholder"];
        expect(after("frontend-certificates-limen-placeholder")).toEqual(["frontend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-envoy-tls-sds-limen")).toEqual([...placeholders, "frontend-firewall-table", "frontend-host-tool"]);
        // The release (candidate, standby) runs the pulled image on the certificates, and its gate asks the apps.
        expect(after("frontend-envoy-release")).toEqual([
            "frontend-apps-pm2",
            ...placeholders,
            "frontend-envoy-image",
            "frontend-envoy-tls-sds-darc",
            "frontend-envoy-tls-sds-limen",
            "frontend-firewall-table",
            "frontend-host-tool",
        ]);
        // The release's files are written again after it, as it judged them.
        for (const file of ["frontend-envoy-config", "frontend-envoy-lds", "frontend-envoy-cds"])
            expect(after(file), file).toEqual([...placeholders, "frontend-envoy-release", "frontend-firewall-table", "frontend-host-tool"]);
        expect(after("frontend-envoy-gate")).toEqual(["frontend-apps-pm2", "frontend-envoy-container"]);
        // The container's name is claimed (a hand-made holder removed) just before the container.
        expect(after("frontend-envoy-container-name")).toEqual(["frontend-envoy-cds", "frontend-envoy-config", "frontend-envoy-lds"]);
        expect(after("frontend-envoy-container")).toEqual(["frontend-envoy-cds", "frontend-envoy-config", "frontend-envoy-container-name", "frontend-envoy-lds"]);
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
        // 15 for hosts, firewalls and apps (the rotation of pm2's logs among them); 6 for the certificates
        // certbot still issues (component, hook, 2 × 2 stages).
        expect(registrations).toHaveLength(21);
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

describe("config read from the Pulumi runtime", () => {
    it("refuses a secret key stored in plain text, and takes it when it is a secret", async () => {
        const { loadStackConfig } = await import("../../components/stack");
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
