import { describe, expect, it } from "vitest";
import { envoyGateCommand } from "../../hostio/host-tool";
import { EnvoyGateInputs, envoyGateProvider } from "../../provider/envoy-gate-provider";

/** The front door's gate: what makes it judge the door again, and the command it runs. */
const inputs: EnvoyGateInputs = {
    connection: {
        role: "frontend",
        address: "192.0.2.10",
        port: 22,
        user: "deploy",
        hostKey: "ssh-ed25519 AAAA",
        privateKey: "k",
        connectAttempts: 1,
        connectTimeoutSeconds: 5,
    } as EnvoyGateInputs["connection"],
    toolPath: "/usr/local/libexec/limen/limen-host",
    markerDir: "/var/lib/limen/envoy",
    configPath: "/etc/limen/envoy/envoy.yaml",
    configSha256: "a".repeat(64),
    containerName: "limen-envoy",
    containerId: "c1",
    image: `envoyproxy/envoy:v1.38.0@sha256:${"b".repeat(64)}`,
    mounts: ["/etc/limen/envoy/sds", "/etc/limen/envoy/published"],
    httpsPort: 443,
    serverNames: ["limen.darc.kr", "darc.kr"],
    timeoutSeconds: 30,
};

describe("the front door's gate", () => {
    it.each<[string, Partial<EnvoyGateInputs>]>([
        ["a new config", { configSha256: "c".repeat(64) }],
        ["a new container (replaced, or recreated after drift)", { containerId: "c2" }],
        ["another https port", { httpsPort: 8443 }],
        ["another site name", { serverNames: ["app.darc.kr", "darc.kr"] }],
    ])("judges the door again for %s", async (_what, change) => {
        expect((await envoyGateProvider.diff!("id", inputs, { ...inputs, ...change })).changes).toBe(true);
    });

    it("has nothing to judge when the config and container are the ones it judged", async () => {
        expect((await envoyGateProvider.diff!("id", inputs, { ...inputs })).changes).toBe(false);
    });

    it("runs the host tool's envoy-gate with the container's image and mounts, for putting a config back", () => {
        expect(envoyGateCommand(inputs)).toBe(
            "sudo -n /usr/local/libexec/limen/limen-host --deadlines pm2-call=15,gate-request=5,certbot=240,envoy-validate=120 envoy-gate --config /etc/limen/envoy/envoy.yaml --container limen-envoy --https-port 443 " +
                `--names limen.darc.kr,darc.kr --seconds 30 --marker-dir /var/lib/limen/envoy --envoy-image envoyproxy/envoy:v1.38.0@sha256:${"b".repeat(64)} ` +
                "--mount /etc/limen/envoy/sds --mount /etc/limen/envoy/published",
        );
    });
});
