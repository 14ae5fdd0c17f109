import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../components/config";
import { hostToolPath } from "../components/remote";
import type { LimenStack } from "../components/stack";
import { fakePrivateKey, otherRawConfig, prodRawConfig, withOverride } from "./support/fixtures";
import { installMocks, isSecretOnWire, plainOnWire, recordRegistrations, Registration, unwrap } from "./support/mocks";

let createLimenStack: (config: ReturnType<typeof parseConfig>) => LimenStack;

beforeAll(async () => {
    await installMocks();
    // Imported after the mocks are installed, as Pulumi's testing guide requires.
    ({ createLimenStack } = await import("../components/stack"));
});

const shortName = (urn: string) => urn.split("::").at(-1) ?? urn;

async function registrationsFor(raw: Record<string, string>): Promise<Registration[]> {
    return recordRegistrations(() => {
        createLimenStack(parseConfig(raw));
    });
}

function byName(registrations: Registration[]): Map<string, Registration> {
    return new Map(registrations.map((r) => [r.name, r]));
}

/**
 * What makes each command run again: its command text, its stdin (a change is an update) and its
 * triggers (a change is a replacement, which re-runs create).
 */
function rerunInputsOf(registrations: Registration[]): Record<string, string> {
    return Object.fromEntries(
        registrations
            .filter((r) => r.type === "command:remote:Command")
            .map((r) => [r.name, JSON.stringify([r.wire.create, r.wire.update, plainOnWire(r.wire.stdin), plainOnWire(r.wire.triggers)])]),
    );
}

function changedBetween(before: Record<string, string>, after: Record<string, string>): string[] {
    return Object.keys(before).filter((name) => before[name] !== after[name]).sort();
}

describe("resources per host", () => {
    it("prod: exactly these resources, each under its component", async () => {
        const registrations = await registrationsFor(prodRawConfig());
        expect(registrations.map((r) => [r.type, r.name, shortName(r.parent)]).sort()).toEqual(
            [
                ["limen:host:RemoteHost", "frontend", ""],
                ["limen:host:RemoteHost", "backend", ""],
                ["command:remote:Command", "frontend-ready", "frontend"],
                ["command:remote:Command", "backend-ready", "backend"],
                ["limen:firewall:HostFirewall", "backend-firewall", ""],
                ["command:remote:Command", "backend-firewall-ruleset", "backend-firewall"],
                ["command:remote:Command", "backend-firewall-confirm", "backend-firewall"],
                ["limen:firewall:HostFirewall", "frontend-firewall", ""],
                ["command:remote:Command", "frontend-firewall-ruleset", "frontend-firewall"],
                ["command:remote:Command", "frontend-firewall-confirm", "frontend-firewall"],
                ["limen:frontend:FrontendApps", "frontend-apps", ""],
                ["command:remote:Command", "frontend-apps-ecosystem", "frontend-apps"],
                ["command:remote:Command", "frontend-apps-env-production", "frontend-apps"],
                ["command:remote:Command", "frontend-apps-pm2-service", "frontend-apps"],
                ["command:remote:Command", "frontend-apps-pm2-reload", "frontend-apps"],
                ["limen:envoy:EnvoyProxy", "frontend-envoy", ""],
                ["pulumi:providers:docker", "frontend-envoy-docker", "frontend-envoy"],
                ["docker:index/remoteImage:RemoteImage", "frontend-envoy-image", "frontend-envoy"],
                ["command:remote:Command", "frontend-envoy-config", "frontend-envoy"],
                ["docker:index/container:Container", "frontend-envoy-container", "frontend-envoy"],
            ].sort(),
        );
    });

    it("every command on a host uses that host's pinned connection", async () => {
        const registrations = await registrationsFor(prodRawConfig());
        const config = parseConfig(prodRawConfig());
        for (const r of registrations.filter((r) => r.type === "command:remote:Command")) {
            const connection = plainOnWire(r.wire.connection) as Record<string, unknown>;
            const host = r.name.startsWith("backend") ? config.backend : config.frontend;
            // The firewall confirmation dials briefly, so it gives up before the host's revert fires.
            const dial = r.name.endsWith("-firewall-confirm") ? { dialErrorLimit: 2, perDialTimeout: 5 } : { dialErrorLimit: 10, perDialTimeout: 15 };
            expect(connection, r.name).toEqual({ host: host.address, hostKey: host.hostKey, user: "deploy", port: 22, privateKey: fakePrivateKey, ...dial });
        }
    });

    it("orders each host: readiness gate, firewall, files, pm2 reload, Envoy config, container", async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        const after = (name: string) => registrations.get(name)!.dependsOn.map(shortName).sort();
        expect(after("frontend-ready")).toEqual([]);
        expect(after("backend-firewall-ruleset")).toEqual(["backend-ready"]);
        expect(after("frontend-firewall-ruleset")).toEqual(["frontend-ready"]);
        expect(after("frontend-firewall-confirm")).toEqual(["frontend-firewall-ruleset"]);
        expect(after("frontend-apps-ecosystem")).toEqual(["frontend-firewall-confirm", "frontend-ready"]);
        expect(after("frontend-apps-env-production")).toEqual(["frontend-firewall-confirm", "frontend-ready"]);
        expect(after("frontend-apps-pm2-service")).toEqual(["frontend-firewall-confirm", "frontend-ready"]);
        expect(after("frontend-apps-pm2-reload")).toEqual(["frontend-apps-ecosystem", "frontend-apps-env-production", "frontend-apps-pm2-service"]);
        expect(after("frontend-envoy-config")).toEqual(["frontend-envoy-image", "frontend-firewall-confirm", "frontend-ready"]);
        expect(after("frontend-envoy-container")).toEqual(["frontend-envoy-config"]);
    });

    it("with Envoy switched off (the lab), no Docker resource at all", async () => {
        const registrations = await registrationsFor(withOverride(prodRawConfig(), "envoy", { enabled: false }));
        expect(registrations.filter((r) => r.type.startsWith("docker") || r.type.includes("providers:docker") || r.type === "limen:envoy:EnvoyProxy")).toEqual([]);
        expect(registrations).toHaveLength(15);
    });
});

describe("what each command does", () => {
    it("installs the host tool through the readiness gate and removes it on destroy", async () => {
        const ready = byName(await registrationsFor(prodRawConfig())).get("backend-ready")!;
        expect(ready.wire.create).toContain(`${hostToolPath}.new`);
        expect(ready.wire.create).toMatch(/check-ready$/);
        expect(ready.wire.stdin).toMatch(/^#!\/bin\/bash\n# limen-host/);
        expect(ready.wire.delete).toBe("sudo -n rm -rf /usr/local/libexec/limen");
    });

    it("installs .env.production 0600, owned by the app user, in the Next.js app's directory", async () => {
        const env = byName(await registrationsFor(prodRawConfig())).get("frontend-apps-env-production")!;
        expect(env.wire.create).toBe(`sudo -n ${hostToolPath} install-file --path /srv/limen-frontend/.env.production --mode 0600 --owner limen:limen --check none`);
        expect(env.wire.update).toBe(env.wire.create);
        expect(env.wire.delete).toBe(`sudo -n ${hostToolPath} remove-file --path /srv/limen-frontend/.env.production`);
        expect(plainOnWire(env.wire.stdin)).toMatch(/^BACKEND_HOST=10\.0\.0\.100\nBACKEND_PORT=18443\nAGENT_HOST=10\.0\.0\.100\nAGENT_PORT=9000\n$/m);
    });

    it("enables pm2's boot unit, reloads with --update-env, and removes only its own apps on destroy", async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        const service = registrations.get("frontend-apps-pm2-service")!;
        expect(service.wire.create).toBe(`sudo -n ${hostToolPath} pm2-enable --user limen`);
        expect(service.wire.delete).toBe(`sudo -n ${hostToolPath} pm2-remove --user limen --apps limen-frontend,darc-kr`);
        const reload = registrations.get("frontend-apps-pm2-reload")!;
        expect(reload.wire.create).toBe(`sudo -n ${hostToolPath} pm2-apply --user limen --ecosystem /etc/limen/pm2/ecosystem.config.js --apps limen-frontend,darc-kr`);
        expect(reload.wire.delete).toBeUndefined();
    });

    it("puts triggers only on commands without a delete (a trigger change replaces: create new, then delete old)", async () => {
        const registrations = await registrationsFor(otherRawConfig());
        const triggered = registrations.filter((r) => r.type === "command:remote:Command" && r.wire.triggers !== undefined);
        expect(triggered.map((r) => r.name).sort()).toEqual(["backend-firewall-confirm", "frontend-apps-pm2-reload", "frontend-firewall-confirm"]);
        for (const r of triggered) expect(r.wire.delete, r.name).toBeUndefined();
    });

    it("validates Envoy's config in the pinned image, with the certificate mounts, before the container", async () => {
        const registrations = byName(await registrationsFor(prodRawConfig()));
        const image = "envoyproxy/envoy:v1.38.0@sha256:8146b97ee61a42cd216514709e4e3198af75f014974e3d9f310aef9c901fcbdf";
        expect(registrations.get("frontend-envoy-config")!.wire.create).toBe(
            `sudo -n ${hostToolPath} install-file --path /etc/limen/envoy/envoy.yaml --mode 0644 --owner root:root --check envoy --envoy-image ${image} --mount /etc/letsencrypt`,
        );
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
});

describe("a change re-runs exactly what depends on it", () => {
    it("an unchanged config re-runs nothing", async () => {
        expect(rerunInputsOf(await registrationsFor(prodRawConfig()))).toEqual(rerunInputsOf(await registrationsFor(prodRawConfig())));
    });

    it("a new AGENT_PORT re-runs the env file, the pm2 reload and the backend firewall (apply and confirm), nothing else", async () => {
        const before = rerunInputsOf(await registrationsFor(prodRawConfig()));
        const after = rerunInputsOf(await registrationsFor(withOverride(prodRawConfig(), "backend", { agentPort: 9100 })));
        expect(changedBetween(before, after)).toEqual(["backend-firewall-confirm", "backend-firewall-ruleset", "frontend-apps-env-production", "frontend-apps-pm2-reload"]);
    });

    it("a new LIMEN domain re-runs only the Envoy config (and replaces the container through its label)", async () => {
        const first = await registrationsFor(prodRawConfig());
        const second = await registrationsFor(withOverride(prodRawConfig(), "domains", { limen: ["app.darc.kr"] }));
        expect(changedBetween(rerunInputsOf(first), rerunInputsOf(second))).toEqual(["frontend-envoy-config"]);
        const label = (rs: Registration[]) => JSON.stringify(byName(rs).get("frontend-envoy-container")!.wire.labels);
        expect(label(first)).not.toEqual(label(second));
    });

    it("a new restart policy re-runs the ecosystem file and the reload", async () => {
        const before = rerunInputsOf(await registrationsFor(prodRawConfig()));
        const after = rerunInputsOf(await registrationsFor(withOverride(prodRawConfig(), "apps", { restart: { maxRestarts: 3 } })));
        expect(changedBetween(before, after)).toEqual(["frontend-apps-ecosystem", "frontend-apps-pm2-reload"]);
    });
});

describe("secrets stay secret", () => {
    it("the SSH key travels only inside secret connections", async () => {
        const registrations = await registrationsFor(otherRawConfig());
        for (const r of registrations.filter((r) => r.type === "command:remote:Command")) {
            expect(isSecretOnWire(r.wire.connection), r.name).toBe(true);
        }
        const provider = byName(registrations).get("frontend-envoy-docker")!;
        expect(isSecretOnWire(provider.wire.sshOpts)).toBe(true);
    });

    it("secret env values and the TLS key go on stdin as secrets, with logging off and outputs marked secret", async () => {
        const registrations = byName(await registrationsFor(otherRawConfig()));
        // The env file's hash is derived from secrets, so it stays secret too.
        const reloadTriggers = plainOnWire(registrations.get("frontend-apps-pm2-reload")!.wire.triggers) as unknown[];
        expect(reloadTriggers.map(isSecretOnWire)).toEqual([false, true]);
        for (const name of ["frontend-apps-env-production", "frontend-envoy-tls-private-key"]) {
            const r = registrations.get(name)!;
            expect(isSecretOnWire(r.wire.stdin), name).toBe(true);
            expect(r.wire.logging, name).toBe("none");
            expect(r.additionalSecretOutputs, name).toEqual(expect.arrayContaining(["stdout", "stderr"]));
        }
        expect(plainOnWire(registrations.get("frontend-apps-env-production")!.wire.stdin)).toContain("SESSION_SECRET='s3cr3t-\\$ession-value'");
    });

    it("no secret value appears anywhere outside a secret envelope", async () => {
        const registrations = await registrationsFor(otherRawConfig());
        const raw = otherRawConfig();
        const secrets = ["OPENSSH PRIVATE KEY", "bGFiLW9ubHkgdGVzdCBrZXk=", "c2VjcmV0LXRscy1rZXk=", "s3cr3t-"];
        const withoutSecrets = JSON.stringify(registrations.map((r) => r.wire), (_key, value) => (isSecretOnWire(value) ? "[secret]" : value));
        for (const secret of secrets) expect(withoutSecrets).not.toContain(secret);
        expect(raw["limen:sshPrivateKey"]).toContain(secrets[0]);
    });

    it("the stack's outputs carry no secret in plain text", async () => {
        let stack: LimenStack | undefined;
        await recordRegistrations(() => {
            stack = createLimenStack(parseConfig(otherRawConfig()));
        });
        expect(await unwrap(stack!.frontend.connection.apply((c) => c.host))).toBe("192.0.2.10");
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
    it("a stack on other addresses renders no trace of 10.0.0.x", async () => {
        const registrations = await registrationsFor(otherRawConfig());
        const everything = JSON.stringify(registrations.map((r) => r.wire));
        expect(everything).not.toMatch(/10\.0\.0\./);
        expect(everything).toContain("192.0.2.100");
        expect(everything).toContain("2001:db8::10");
    });

    it("the prod stack does render them (the check above can fail)", async () => {
        expect(JSON.stringify((await registrationsFor(prodRawConfig())).map((r) => r.wire))).toMatch(/10\.0\.0\.100/);
    });
});
