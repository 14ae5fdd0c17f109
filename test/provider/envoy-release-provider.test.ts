/** The front door's release (provider/envoy-release-provider.ts): when it runs, and in which order it moves Envoy's files. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { planStack } from "../../plan/hosts";
import { EnvoyGateInputs, envoyGateProvider, EnvoyReleaseInputs, envoyReleaseProvider, moveOrder } from "../../provider/envoy-release-provider";
import { prodRawConfig, withOverride } from "../support/fixtures";

/** The release's inputs as components/envoy.ts registers them, from a config. */
function releaseInputs(raw: Record<string, string>): EnvoyReleaseInputs {
    const envoy = planStack(parseConfig(raw)).frontend.envoy!;
    return {
        connection: { role: "frontend" } as EnvoyReleaseInputs["connection"],
        toolPath: "/usr/local/libexec/limen/limen-host",
        stateDir: envoy.release.stateDir,
        containerName: envoy.container.name,
        httpsPort: envoy.release.httpsPort,
        serverNames: envoy.release.serverNames,
        timeoutSeconds: envoy.release.timeoutSeconds,
        drainSeconds: envoy.release.drainSeconds,
        configPath: "/etc/limen/envoy/envoy.yaml",
        configSha256: envoy.configSha256,
        containerSha256: envoy.containerSha256,
        bootstrap: envoy.bootstrap,
        validationBootstrap: envoy.validationBootstrap,
        candidateBootstrap: envoy.candidateBootstrap,
        dynamicDir: envoy.dynamic.dir,
        lds: envoy.dynamic.lds,
        cds: envoy.dynamic.cds,
        image: envoy.image,
        mounts: envoy.certificateMounts,
    };
}

const file = (names: string[]) => ({ path: "/x", content: "", version: "v", names });

describe("the front door's release", () => {
    it("new clusters go in before the listeners that use them; clusters that go away leave after the listeners that used them", () => {
        expect(moveOrder(file(["a", "b"]), file(["a", "b", "acme_responder"]))).toBe("cds-first");
        expect(moveOrder(file(["a", "b"]), file(["a", "b"]))).toBe("cds-first");
        expect(moveOrder(file(["a", "b", "acme_responder"]), file(["a", "b"]))).toBe("lds-first");
        // A 1.x state has no names: nothing is known to go away.
        expect(moveOrder({ path: "/x", content: "", version: "v" }, file(["a"]))).toBe("cds-first");
    });

    it("releases a new route, and nothing for the same config", async () => {
        const before = releaseInputs(prodRawConfig());
        const after = releaseInputs(withOverride(prodRawConfig(), "envoy", { backendRoutePrefixes: ["/api/agent"] }));
        expect((await envoyReleaseProvider.diff!("id", before, after)).changes).toBe(true);
        expect((await envoyReleaseProvider.diff!("id", before, releaseInputs(prodRawConfig()))).changes).toBe(false);
        // A route changes the listeners only: the container (and so the mode of the release) stays.
        expect(after.containerSha256).toBe(before.containerSha256);
        expect(after.lds.version).not.toBe(before.lds.version);
        expect(after.cds.version).toBe(before.cds.version);
    });

    it("a new image or log limit changes what the container is made of (a handover); a route does not", () => {
        const base = releaseInputs(prodRawConfig());
        expect(releaseInputs(withOverride(prodRawConfig(), "envoy", { logs: { maxSizeMb: 10 } })).containerSha256).not.toBe(base.containerSha256);
        expect(releaseInputs(withOverride(prodRawConfig(), "envoy", { image: `envoyproxy/envoy:v1.38.1@sha256:${"b".repeat(64)}` })).containerSha256).not.toBe(
            base.containerSha256,
        );
    });

    it("the settle step runs for a new container or a new door, not for a changed listener alone", async () => {
        const gate = (inputs: EnvoyReleaseInputs, containerId: string): EnvoyGateInputs => ({ ...inputs, containerId });
        const before = releaseInputs(prodRawConfig());
        const route = releaseInputs(withOverride(prodRawConfig(), "envoy", { backendRoutePrefixes: ["/api/agent"] }));
        expect((await envoyGateProvider.diff!("id", gate(before, "c1"), gate(route, "c1"))).changes).toBe(false);
        expect((await envoyGateProvider.diff!("id", gate(before, "c1"), gate(before, "c2"))).changes).toBe(true);
    });
});
